"""Real kernels: the CPU runtimes people deploy, each at its best on this machine.

Simulated quantization computes in float32 and cannot be faster. Here the weights are stored as int8
(or int4) and the matrix products run in integer arithmetic:

- PyTorch: float32; ``torch.ao`` dynamic int8 (deprecated, kept while it exists); torchao's int8
  (dynamic activations, int8 weights), its replacement, compiled with ``torch.compile`` when a compiler works.
- ONNX Runtime: float32; dynamic int8; static int8 (QDQ, activation ranges calibrated on training images);
  4-bit weight-only ``MatMulNBits`` (needs ``MatMul`` nodes, so the model is exported as MatMul + Add).
- OpenVINO: float32 (precision hint f32: on CPUs with AMX it would otherwise compute in bfloat16) and int8
  from the same QDQ file as ONNX Runtime's static int8.

Each runtime is wrapped as a callable from a float32 image batch to logits, so accuracy and timing use
exactly the same code path. Library chatter (deprecation warnings, advice messages) is silenced here so
it never reaches the report. ``lab3.runtime.fp32_timing`` times PyTorch float32 at its best, in a child process.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab3.base import fileio, numerics
from lab3.base.model import saved_bytes
from lab3.measure.evaluate import torch_runner

RUNTIMES = ("pytorch-fp32", "pytorch-int8", "torchao-int8", "ort-fp32", "ort-int8", "ort-int8-static", "ort-int4",
            "openvino-fp32", "openvino-int8")
COMPUTE = {"pytorch-fp32": "fp32", "pytorch-int8": "int8", "torchao-int8": "int8", "ort-fp32": "fp32",
           "ort-int8": "int8", "ort-int8-static": "int8", "ort-int4": "int8", "openvino-fp32": "fp32",
           "openvino-int8": "int8"}  # the data type the matrix products run in (int4 weights are expanded to int8)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence warnings, library loggers and stray prints from export/quantization tools."""
    loggers = [logging.getLogger(name) for name in ("root", "onnxruntime", "onnx", "torch.onnx", "onnxscript",
                                                    "onnxruntime.quantization.matmul_nbits_quantizer", "torchao",
                                                    "torch.utils._pytree")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def torch_int8(model: nn.Module) -> nn.Module:
    """PyTorch dynamic int8 quantization of every Linear layer (a new model; the input is unchanged)."""
    import copy

    with quiet():
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)


class _MatMulAdd(nn.Module):
    """A Linear layer written as ``x @ Wᵀ + b`` so that ONNX export emits MatMul + Add instead of Gemm."""

    def __init__(self, layer: nn.Linear) -> None:
        super().__init__()
        self.weight_t = nn.Parameter(layer.weight.detach().t().contiguous(), requires_grad=False)
        self.bias = nn.Parameter(layer.bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x @ self.weight_t + self.bias


def as_matmul(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose Linear layers compute ``x @ Wᵀ + b`` (same function, MatMul in ONNX)."""
    import copy

    out = copy.deepcopy(model).eval()
    for _, module in list(out.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                setattr(module, child_name, _MatMulAdd(child))
    return out


def export_onnx(model: nn.Module, path: str | os.PathLike, opset: int = 17, matmul: bool = False) -> Path:
    """Export ``model`` to ONNX (TorchScript exporter, dynamic batch), written atomically.

    ``matmul=True`` exports Linear layers as MatMul + Add (the exporter turns ``nn.Linear`` into Gemm,
    which ONNX Runtime's 4-bit quantizer does not rewrite)."""
    path = Path(path)
    example = torch.zeros(1, 1, 28, 28)
    if matmul:
        model = as_matmul(model)
    with fileio.atomic_path(path) as tmp, quiet():
        torch.onnx.export(model.eval(), (example,), str(tmp), dynamo=False, input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=opset)
    return path


def ort_int8(fp32_path: str | os.PathLike, int8_path: str | os.PathLike) -> Path:
    """ONNX Runtime dynamic int8 quantization (int8 weights, activations quantized per batch)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8_path = Path(int8_path)
    with fileio.atomic_path(int8_path) as tmp, quiet():
        quantize_dynamic(str(fp32_path), str(tmp), weight_type=QuantType.QInt8)
    return int8_path


def ort_int8_static(fp32_path: str | os.PathLike, int8_path: str | os.PathLike, calibration: torch.Tensor,
                    batch_size: int = 256) -> Path:
    """ONNX Runtime static int8 (QDQ): int8 weights per channel, uint8 activations with ranges from ``calibration``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    images = np.ascontiguousarray(calibration.numpy(), dtype=np.float32)
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28) or len(images) == 0:
        raise ValueError(f"calibration must be a non-empty N x 1 x 28 x 28 batch, got shape {tuple(images.shape)}")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"image": images[i:i + batch_size]} for i in range(0, len(images), batch_size)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    int8_path = Path(int8_path)
    with fileio.atomic_path(int8_path) as tmp, quiet():
        quantize_static(str(fp32_path), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    return int8_path


def ort_int4(matmul_path: str | os.PathLike, int4_path: str | os.PathLike, block_size: int = 128) -> Path:
    """ONNX Runtime 4-bit weight-only quantization (``MatMulNBits``, symmetric blocks along the input)."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    int4_path = Path(int4_path)
    with quiet():
        quantizer = MatMulNBitsQuantizer(onnx.load(str(matmul_path)), block_size=block_size, is_symmetric=True,
                                         accuracy_level=4)  # 4: the products run in int8
        quantizer.process()
    ops = {node.op_type for node in quantizer.model.model.graph.node}
    if "MatMulNBits" not in ops:
        raise ValueError(f"{matmul_path}: no MatMul node was quantized to 4 bits (ops: {sorted(ops)}); "
                         f"export with matmul=True")
    with fileio.atomic_path(int4_path) as tmp, quiet():
        quantizer.model.save_model_to_file(str(tmp))
    return int4_path


def openvino_runner(path: str | os.PathLike, threads: int | None = None,
                    precision: str = "f32") -> Callable[[torch.Tensor], torch.Tensor]:
    """An OpenVINO CPU model from an ONNX file as a callable images -> logits (``precision``: the hint for
    layers not already quantized; "f32" keeps float32 where AMX would otherwise pick bfloat16)."""
    import openvino as ov

    with quiet():
        compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads or numerics.threads(),
                                                              "INFERENCE_PRECISION_HINT": precision})
    request = compiled.create_infer_request()

    def run(x: torch.Tensor) -> torch.Tensor:
        out = request.infer({0: np.ascontiguousarray(x.numpy(), dtype=np.float32)})[0]
        return torch.from_numpy(np.array(out))

    return run


def torchao_int8(model: nn.Module, compile: bool = True) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """torchao int8 (dynamic int8 activations, int8 weights per channel); compiled when ``torch.compile`` works.

    Returns the callable and how it runs ("compiled" or "eager": without a C++ compiler only eager works)."""
    import copy

    with quiet():
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

        qmodel = copy.deepcopy(model).eval()
        quantize_(qmodel, Int8DynamicActivationInt8WeightConfig())
    eager = torch_runner(qmodel)
    if not compile:
        return eager, "eager"
    try:
        with quiet():
            compiled = torch.compile(qmodel)
            fn = torch_runner(compiled)
            fn(torch.zeros(1, 1, 28, 28))
    except Exception:  # no compiler, or inductor cannot lower it here: eager still measures torchao's kernels
        return eager, "eager"

    def run(x: torch.Tensor) -> torch.Tensor:
        with quiet():
            return fn(x)

    return run, "compiled"


def ort_session(path: str | os.PathLike, threads: int | None = None):
    """An ONNX Runtime CPU session with a fixed intra-op thread count; ``ValueError`` for a bad file."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or numerics.threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for malformed models
        raise ValueError(f"{path}: not a loadable ONNX model ({str(exc).splitlines()[0][:200]})") from None


def ort_runner(session) -> Callable[[torch.Tensor], torch.Tensor]:
    """Wrap an ORT session as a callable images -> logits (float32 tensors)."""
    name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        out = session.run(None, {name: np.ascontiguousarray(x.numpy(), dtype=np.float32)})[0]
        return torch.from_numpy(out)

    return run


@dataclass
class Runtime:
    """A named way to run a model: the callable, the file that carries it and the data type it computes in."""

    name: str
    run: Callable[[torch.Tensor], torch.Tensor]
    file: Path | None
    bytes: int | None
    compute: str = "fp32"
    how: str = ""


def build_runtimes(model: nn.Module, folder: str | os.PathLike, stem: str, calibration: torch.Tensor,
                   fp32_file: Path | None = None, threads: int | None = None,
                   compile: bool = True) -> list[Runtime]:
    """Every runtime of ``RUNTIMES`` for ``model``; their files are written under ``folder``.

    ``calibration``: training images for the static int8 activation ranges (never test images)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fp32_onnx = export_onnx(model, folder / f"{stem}.fp32.onnx")
    int8_onnx = ort_int8(fp32_onnx, folder / f"{stem}.int8.onnx")
    qdq_onnx = ort_int8_static(fp32_onnx, folder / f"{stem}.int8-static.onnx", calibration)
    matmul_onnx = export_onnx(model, folder / f"{stem}.fp32-matmul.onnx", matmul=True)
    int4_onnx = ort_int4(matmul_onnx, folder / f"{stem}.int4.onnx")
    qmodel = torch_int8(model)
    int8_pt = folder / f"{stem}.int8.pt"
    with fileio.atomic_path(int8_pt) as tmp, quiet():
        torch.save(qmodel.state_dict(), tmp)
    ao_run, ao_how = torchao_int8(model, compile=compile)
    fp32_bytes = fp32_file.stat().st_size if fp32_file is not None else saved_bytes(model)

    def rt(name: str, run: Callable[[torch.Tensor], torch.Tensor], file: Path | None, how: str = "") -> Runtime:
        size = fp32_bytes if name == "pytorch-fp32" else (file.stat().st_size if file is not None else None)
        return Runtime(name, run, file, size, COMPUTE[name], how)

    return [
        rt("pytorch-fp32", torch_runner(model), fp32_file),
        rt("pytorch-int8", torch_runner(qmodel), int8_pt),
        rt("torchao-int8", ao_run, None, ao_how),
        rt("ort-fp32", ort_runner(ort_session(fp32_onnx, threads)), fp32_onnx),
        rt("ort-int8", ort_runner(ort_session(int8_onnx, threads)), int8_onnx),
        rt("ort-int8-static", ort_runner(ort_session(qdq_onnx, threads)), qdq_onnx),
        rt("ort-int4", ort_runner(ort_session(int4_onnx, threads)), int4_onnx),
        rt("openvino-fp32", openvino_runner(fp32_onnx, threads), fp32_onnx),
        rt("openvino-int8", openvino_runner(qdq_onnx, threads), qdq_onnx),
    ]


def hits(run: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, labels: torch.Tensor,
         batch_size: int = 1000) -> torch.Tensor:
    """Per image: did the runtime classify it correctly (a boolean vector, as ``evaluate.hits``)."""
    preds = [run(images[i:i + batch_size]).argmax(dim=1) for i in range(0, images.shape[0], batch_size)]
    return torch.cat(preds) == labels


def count_correct(run: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, labels: torch.Tensor,
                  batch_size: int = 1000) -> int:
    """Correct predictions of a runtime callable over a labelled set."""
    correct = 0
    for i in range(0, images.shape[0], batch_size):
        correct += int((run(images[i:i + batch_size]).argmax(dim=1) == labels[i:i + batch_size]).sum())
    return correct

