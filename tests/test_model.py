import os
import sys
import textwrap

import pytest
import torch

from lab3.base import model as M
from tests.helpers import tiny_model


def test_lab_architecture():
    m = M.SimpleDNN()
    assert M.count_parameters(m) == 25_889_258
    assert m.sizes == [784, 1568, 3136, 6272, 10]
    assert M.float32_bytes(m) == 4 * 25_889_258


def test_forward_accepts_images_and_vectors():
    m = tiny_model()
    x = torch.randn(5, 1, 28, 28)
    assert m(x).shape == (5, 10)
    assert torch.equal(m(x), m(x.reshape(5, 784)))


@pytest.mark.parametrize("hidden", [(1, 2), (0, 4, 4), (4, -1, 4), (4, 4, 2.5)])
def test_bad_sizes(hidden):
    with pytest.raises(ValueError):
        M.SimpleDNN(hidden=hidden)


def test_save_load_round_trip(tmp_path):
    m = tiny_model()
    digest = M.save_model(m, tmp_path / "m.pt", {"accuracy": 0.5, "recipe": {"seed": 1}})
    loaded, meta = M.read_checkpoint(tmp_path / "m.pt")
    assert meta["sha256"] == digest == M.model_sha256(m)
    assert meta["accuracy"] == 0.5 and meta["recipe"] == {"seed": 1} and meta["sizes"] == m.sizes
    for a, b in zip(m.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_failed_save_keeps_the_good_file(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    M.save_model(tiny_model(0), path)
    good = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(M.torch, "save", broken)
    with pytest.raises(OSError):
        M.save_model(tiny_model(1), path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        M.save_model(tiny_model(), tmp_path / "m.pt", {"bad": object()})


COURSE_MODULE = textwrap.dedent("""
    import torch.nn as nn
    import torch.nn.functional as F
    class SimpleDNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(28 * 28, 40)
            self.fc2 = nn.Linear(40, 30)
            self.fc3 = nn.Linear(30, 20)
            self.fc4 = nn.Linear(20, 10)
        def forward(self, x):
            x = x.view(-1, 28 * 28)
            x = F.relu(self.fc1(x)); x = F.relu(self.fc2(x)); x = F.relu(self.fc3(x))
            return self.fc4(x)
""")


def course_checkpoint(tmp_path):
    """A course-style full_size_model.pt: torch.save(model) of mymodel.SimpleDNN (module then made unimportable)."""
    (tmp_path / "mymodel.py").write_text(COURSE_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        import mymodel

        torch.manual_seed(0)
        original = mymodel.SimpleDNN().eval()
        torch.save(original, tmp_path / "full_size_model.pt")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mymodel", None)
    (tmp_path / "mymodel.py").unlink()
    return original, tmp_path / "full_size_model.pt"


def test_course_style_checkpoint_loads_without_its_module(tmp_path):
    original, path = course_checkpoint(tmp_path)
    loaded = M.load_model(path)
    assert "mymodel" not in sys.modules
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(loaded(x), original(x))
    assert M.read_metadata(path)["source"].startswith("course checkpoint")


def test_malicious_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"fc1.weight": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="evil.pt.*not on the allow-list"):
        M.load_model(tmp_path / "evil.pt")
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", os.urandom(4096)])
def test_garbage_files(tmp_path, content):
    path = tmp_path / "junk.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="junk.pt"):
        M.load_model(path)


def test_truncated_checkpoint(tmp_path):
    M.save_model(tiny_model(), tmp_path / "m.pt")
    blob = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="cut.pt.*corrupt, truncated"):
        M.load_model(tmp_path / "cut.pt")


def test_tampered_weights_fail_the_hash(tmp_path):
    m = tiny_model()
    M.save_model(m, tmp_path / "m.pt")
    obj = torch.load(tmp_path / "m.pt", weights_only=True)
    obj["state_dict"]["fc1.weight"][0, 0] += 1
    torch.save(obj, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="sha256"):
        M.load_model(tmp_path / "m.pt")


def test_wrong_architecture(tmp_path):
    torch.save(torch.nn.Sequential(torch.nn.Linear(784, 10)).state_dict(), tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: not a SimpleDNN state"):
        M.load_model(tmp_path / "other.pt")
    bad = tiny_model().state_dict()
    bad["fc2.weight"] = torch.zeros(24, 31)
    torch.save(bad, tmp_path / "chain.pt")
    with pytest.raises(ValueError, match="fc2 takes 31 inputs"):
        M.load_model(tmp_path / "chain.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="not a SimpleDNN checkpoint"):
        M.load_model(tmp_path / "list.pt")


def test_plain_state_dict_loads(tmp_path):
    m = tiny_model()
    torch.save(m.state_dict(), tmp_path / "sd.pt")
    assert M.model_sha256(M.load_model(tmp_path / "sd.pt")) == M.model_sha256(m)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="lab3.train"):
        M.load_model("/nonexistent/model.pt")


def test_save_rejects_other_models(tmp_path):
    with pytest.raises(TypeError):
        M.save_model(torch.nn.Linear(2, 2), tmp_path / "x.pt")
