import numpy as np
import pytest
import torch
from PIL import Image

from lab3.base import data, paths
from lab3.base.model import load_model
from lab3.compress import pack
from lab3.experiments import deploy
from lab3.experiments.pipeline import Recipe
from lab3.runtime import predict
from lab3.runtime.runtimes import ort_runner, ort_session

pytestmark = [pytest.mark.needs_model,
              pytest.mark.skipif(not paths.full_model_path().is_file(),
                                 reason="needs the trained model (make test trains it first)")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy")
    model = load_model(paths.full_model_path())
    card = deploy.export(model, Recipe(0.9, 8, calibration_images=1024), out, rule="test")
    return out, card


def test_export_writes_files_and_card(exported):
    out, card = exported
    for kind in ("packed", "onnx"):
        f = out / card["files"][kind]["path"]
        assert f.is_file() and f.stat().st_size == card["files"][kind]["bytes"]
    assert card["test_accuracy"] > 0.97 and card["architecture"]["layers"][0] == 784
    assert (out / "card.json").is_file()


def test_onnx_matches_packed_pytorch(exported):
    out, _ = exported
    m = pack.load_packed(out / "model.safetensors")
    x, _ = data.tensors("test")
    onnx_out = ort_runner(ort_session(out / "model.onnx"))(x[:500])
    assert torch.allclose(onnx_out, m(x[:500]).detach(), atol=1e-4)


def test_predict_png_and_npy(exported, tmp_path):
    out, _ = exported
    images, labels = data.raw_tensors("test")
    files = []
    for i in range(12):
        Image.fromarray(images[i].numpy(), mode="L").save(tmp_path / f"d{i}.png")
        files.append(tmp_path / f"d{i}.png")
    np.save(tmp_path / "batch.npy", images[12:20].numpy())
    direct = pack.load_packed(out / "model.safetensors")(data.normalize(images[:20])).argmax(1).tolist()
    assert sum(d == l for d, l in zip(direct, labels[:20].tolist())) >= 18  # a 0.9-pruned 8-bit model, no fine-tune
    for model_file in ("model.safetensors", "model.onnx"):
        results = predict.predict(out / model_file, files + [tmp_path / "batch.npy"], preprocess=False)
        assert [r["digit"] for r in results] == direct
        assert all(0.1 < r["probability"] <= 1.0 for r in results)


def test_predict_cli(exported, tmp_path, capsys):
    out, _ = exported
    images, labels = data.raw_tensors("test")
    Image.fromarray(images[0].numpy()).save(tmp_path / "a.png")
    assert predict.main(["--model", str(out / "model.onnx"), str(tmp_path / "a.png")]) == 0
    assert f"a.png: {int(labels[0])}  ({int(labels[0])}: " in capsys.readouterr().out


def test_bad_images(exported, tmp_path):
    out, _ = exported
    model = out / "model.safetensors"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="big.png: image is 32x32"):
        predict.predict(model, [tmp_path / "big.png"], preprocess=False)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ValueError, match="broken.png: not a readable image"):
        predict.predict(model, [tmp_path / "broken.png"])
    with pytest.raises(FileNotFoundError, match="missing.png"):
        predict.predict(model, [tmp_path / "missing.png"])
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="obj.npy: not a readable .npy array without pickle"):
        predict.predict(model, [tmp_path / "obj.npy"])
    np.save(tmp_path / "f.npy", np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="f.npy: expected uint8"):
        predict.predict(model, [tmp_path / "f.npy"])
    np.save(tmp_path / "s.npy", np.zeros((2, 27, 28), np.uint8))
    with pytest.raises(ValueError, match=r"s.npy: expected uint8 of shape \(28, 28\)"):
        predict.predict(model, [tmp_path / "s.npy"])


def test_bad_model_files(tmp_path, capsys):
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "m.onnx").write_bytes(b"garbage")
    (tmp_path / "m.safetensors").write_bytes(b"garbage")
    (tmp_path / "m.pt").write_bytes(b"garbage")
    for name, pattern in [("m.onnx", "m.onnx: not a loadable ONNX"), ("m.safetensors", "m.safetensors: not a valid"),
                          ("m.pt", "unknown model file type")]:
        with pytest.raises(ValueError, match=pattern):
            predict.predict(tmp_path / name, [tmp_path / "a.png"])
    assert predict.main(["--model", str(tmp_path / "m.onnx"), str(tmp_path / "a.png")]) == 2
    assert "error: " in capsys.readouterr().err


def test_pareto_and_rules():
    pts = [{"bytes": b, "latency_s": l, "accuracy": a, "correct": int(a * 1e4)} for b, l, a in
           [(100, 3, 0.95), (200, 2, 0.985), (300, 1, 0.986), (400, 4, 0.99), (50, 5, 0.5)]]
    assert [p["bytes"] for p in deploy.pareto_front(pts, "bytes")] == [50, 100, 200, 300, 400]
    assert deploy.recommend(pts, 0.99, 0.5, "bytes")["bytes"] == 200
    assert deploy.recommend(pts, 0.99, 0.5, "latency_s")["bytes"] == 300
    assert deploy.recommend(pts, 0.999, 0.0, "bytes") is None
