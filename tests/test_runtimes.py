import onnx
import pytest
import torch

from lab3.runtime import runtimes
from tests.helpers import tiny_model


def test_every_runtime_runs_and_agrees_with_pytorch(tmp_path):
    m = tiny_model()
    x = torch.randn(64, 1, 28, 28)
    calib = torch.cat([x, torch.randn(448, 1, 28, 28)])  # ranges from the same distribution as x
    rts = {rt.name: rt for rt in runtimes.build_runtimes(m, tmp_path, "tiny", calib, compile=False)}
    assert list(rts) == list(runtimes.RUNTIMES)
    ref = m(x).detach()
    for name in ("ort-fp32", "openvino-fp32"):
        assert torch.allclose(rts[name].run(x), ref, atol=1e-4), name
    for name in ("pytorch-int8", "torchao-int8", "ort-int8", "ort-int8-static", "ort-int4", "openvino-int8"):
        out = rts[name].run(x)
        assert out.shape == ref.shape and (out - ref).abs().max() < 0.15 * ref.abs().max(), name
    assert rts["torchao-int8"].how == "eager" and rts["torchao-int8"].bytes is None
    assert {rt.compute for rt in rts.values()} == {"fp32", "int8"}
    assert rts["ort-int4"].bytes < rts["ort-int8"].bytes < rts["ort-fp32"].bytes
    labels = ref.argmax(1)
    assert runtimes.count_correct(rts["ort-fp32"].run, x, labels, batch_size=10) == 64
    assert bool(runtimes.hits(rts["ort-fp32"].run, x, labels, batch_size=10).all())


def test_matmul_export_is_the_same_function_with_matmul_nodes(tmp_path):
    m = tiny_model()
    x = torch.randn(8, 1, 28, 28)
    assert torch.allclose(runtimes.as_matmul(m)(x), m(x), atol=1e-5)
    gemm = {n.op_type for n in onnx.load(str(runtimes.export_onnx(m, tmp_path / "g.onnx"))).graph.node}
    mm = {n.op_type for n in onnx.load(str(runtimes.export_onnx(m, tmp_path / "m.onnx", matmul=True))).graph.node}
    assert "Gemm" in gemm and "MatMul" not in gemm
    assert "MatMul" in mm and "Gemm" not in mm


def test_int4_refuses_a_model_without_matmul(tmp_path):
    path = runtimes.export_onnx(tiny_model(), tmp_path / "g.onnx")
    with pytest.raises(ValueError, match="no MatMul node was quantized"):
        runtimes.ort_int4(path, tmp_path / "q.onnx")
    assert not (tmp_path / "q.onnx").exists()


def test_static_int8_refuses_bad_calibration(tmp_path):
    path = runtimes.export_onnx(tiny_model(), tmp_path / "g.onnx")
    with pytest.raises(ValueError, match="calibration must be"):
        runtimes.ort_int8_static(path, tmp_path / "q.onnx", torch.randn(4, 784))


def test_bad_onnx_file(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ValueError, match="bad.onnx: not a loadable ONNX model"):
        runtimes.ort_session(tmp_path / "bad.onnx")


def test_pytorch_fp32_is_timed_in_a_child_process_without_strict(tmp_path):
    from lab3.base.model import save_model
    from lab3.runtime import fp32_timing

    path = tmp_path / "tiny.pt"
    save_model(tiny_model(), path)
    out = fp32_timing.time_pytorch_fp32(path, min_run_time=0.05)
    assert out["mkl_cbwr"] == "AUTO" and out["latency_s"] > 0 and out["throughput_s"] > out["latency_s"]
    with pytest.raises(RuntimeError, match="timing PyTorch float32 on .*missing.pt failed"):
        fp32_timing.time_pytorch_fp32(tmp_path / "missing.pt", min_run_time=0.05)
