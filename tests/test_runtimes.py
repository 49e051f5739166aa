import torch

from lab3 import runtimes
from tests.helpers import tiny_model


def test_four_runtimes_run_and_agree(tmp_path):
    m = tiny_model()
    x = torch.randn(64, 1, 28, 28)
    rts = {rt.name: rt for rt in runtimes.build_runtimes(m, tmp_path, "tiny")}
    assert list(rts) == list(runtimes.RUNTIMES)
    ref = m(x).detach()
    assert torch.allclose(rts["ort-fp32"].run(x), ref, atol=1e-5)
    for name in ("pytorch-int8", "ort-int8"):
        out = rts[name].run(x)
        assert out.shape == ref.shape and (out - ref).abs().max() < 0.1 * ref.abs().max()
    assert rts["ort-int8"].bytes < rts["ort-fp32"].bytes
    labels = ref.argmax(1)
    assert runtimes.count_correct(rts["ort-fp32"].run, x, labels, batch_size=10) == 64


def test_bad_onnx_file(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"not an onnx model")
    import pytest

    with pytest.raises(ValueError, match="bad.onnx: not a loadable ONNX model"):
        runtimes.ort_session(tmp_path / "bad.onnx")
