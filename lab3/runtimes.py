"""Real kernels: PyTorch fp32, PyTorch dynamic int8, ONNX Runtime fp32 and ONNX Runtime dynamic int8.

Simulated quantization computes in float32 and cannot be faster. Dynamic int8 quantization stores
Linear weights as int8 and quantizes activations on the fly per batch, so the matrix products run in
integer arithmetic. Each runtime is wrapped as a callable from a float32 image batch to logits, so
accuracy and timing use exactly the same code path. Library chatter (torch.ao's deprecation warnings,
ONNX Runtime's advice messages) is silenced here so it never reaches the report.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from lab3 import fileio, numerics
from lab3.model import saved_bytes

RUNTIMES = ("pytorch-fp32", "pytorch-int8", "ort-fp32", "ort-int8")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence warnings, library loggers and stray prints from export/quantization tools."""
    loggers = [logging.getLogger(name) for name in ("root", "onnxruntime", "onnx", "torch.onnx", "onnxscript")]
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


def export_onnx(model: nn.Module, path: str | os.PathLike, opset: int = 17) -> Path:
    """Export ``model`` to ONNX (TorchScript exporter, dynamic batch), written atomically."""
    path = Path(path)
    example = torch.zeros(1, 1, 28, 28)
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


def torch_runner(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Wrap a PyTorch model as a callable images -> logits under inference mode."""
    model.eval()

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(x)

    return run


@dataclass
class Runtime:
    """A named way to run a model: the callable and the file that carries it."""

    name: str
    run: Callable[[torch.Tensor], torch.Tensor]
    file: Path | None
    bytes: int


def build_runtimes(model: nn.Module, folder: str | os.PathLike, stem: str, fp32_file: Path | None = None,
                   threads: int | None = None) -> list[Runtime]:
    """The four runtimes for ``model``; ONNX files (and the int8 torch state) are written under ``folder``."""

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fp32_onnx = export_onnx(model, folder / f"{stem}.fp32.onnx")
    int8_onnx = ort_int8(fp32_onnx, folder / f"{stem}.int8.onnx")
    qmodel = torch_int8(model)
    int8_pt = folder / f"{stem}.int8.pt"
    with fileio.atomic_path(int8_pt) as tmp, quiet():
        torch.save(qmodel.state_dict(), tmp)
    fp32_bytes = fp32_file.stat().st_size if fp32_file is not None else saved_bytes(model)
    return [
        Runtime("pytorch-fp32", torch_runner(model), fp32_file, fp32_bytes),
        Runtime("pytorch-int8", torch_runner(qmodel), int8_pt, int8_pt.stat().st_size),
        Runtime("ort-fp32", ort_runner(ort_session(fp32_onnx, threads)), fp32_onnx, fp32_onnx.stat().st_size),
        Runtime("ort-int8", ort_runner(ort_session(int8_onnx, threads)), int8_onnx, int8_onnx.stat().st_size),
    ]


def count_correct(run: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, labels: torch.Tensor,
                  batch_size: int = 1000) -> int:
    """Correct predictions of a runtime callable over a labelled set."""
    correct = 0
    for i in range(0, images.shape[0], batch_size):
        correct += int((run(images[i:i + batch_size]).argmax(dim=1) == labels[i:i + batch_size]).sum())
    return correct
