"""The report's sweeps: each point is one forward pass of the test set, cached on disk.

Points are computed without copying the model: quantized weights are written into one scratch copy,
which costs a fraction of a forward pass. Every record carries the exact correct count, so accuracies,
confidence intervals and paired tests are all derived from it.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lab3.base import data
from lab3.base.cache import ResultCache, cached, point_key, tensor_key
from lab3.base.model import SimpleDNN, linear_layers, model_sha256
from lab3.base.progress import bar
from lab3.compress import gptq, pack
from lab3.compress.quantize import Scheme, check_bits, check_q, fake_quantize, quantize_tensor, weights_vector
from lab3.measure import evaluate
from lab3.measure.stats import hits_record, selected

Q_UNITS = ("max_abs", "absolute")


def resolve_q_values(model: nn.Module, values: Sequence[float], unit: str = "max_abs",
                     quantiles: Sequence[float] = ()) -> list[dict[str, Any]]:
    """The q grid: ``values`` times max |w| (unit 'max_abs') or as given ('absolute'), plus |w| quantiles."""
    if unit not in Q_UNITS:
        raise ValueError(f"q unit must be one of {Q_UNITS}, got {unit!r}")
    w = weights_vector(model).abs()
    max_abs = float(w.max())
    out: list[dict[str, Any]] = []
    for v in values:
        q = check_q(float(v) * max_abs if unit == "max_abs" else float(v))
        out.append({"label": f"{v:g}·max|w|" if unit == "max_abs" else f"{v:g}", "q": q})
    for p in quantiles:
        if not 0 < p < 1:
            raise ValueError(f"q quantiles must be in (0, 1), got {p!r}")
        out.append({"label": f"|w| {100 * p:g}th pct", "q": check_q(quantile(w, p))})
    out.sort(key=lambda d: d["q"])
    return out


def quantile(values: torch.Tensor, p: float) -> float:
    """Exact ``p``-quantile (lower) of a large 1-D tensor via kthvalue (torch.quantile caps input size)."""
    flat = values.flatten()
    k = max(1, min(flat.numel(), math.ceil(p * flat.numel())))
    return float(flat.kthvalue(k).values)


class Scratch:
    """One reusable copy of a model whose weights are overwritten per sweep point."""

    def __init__(self, model: nn.Module) -> None:
        self.base = model
        self.model = copy.deepcopy(model).eval()

    @torch.no_grad()
    def load(self, state: dict[str, torch.Tensor]) -> nn.Module:
        """Copy ``state`` (names as in the model's state_dict) into the scratch model and return it."""
        params = dict(self.model.named_parameters())
        for name, value in state.items():
            params[name].copy_(value)
        return self.model


def lab_quantization_grid(model: SimpleDNN, images: torch.Tensor, labels: torch.Tensor,
                          q_grid: Sequence[dict[str, Any]], bits_values: Iterable[int],
                          quantize_bias: bool = False, cache: ResultCache | None = None,
                          progress: bool | None = None) -> list[dict[str, Any]]:
    """Accuracy of the lab's quantizer at every (q, bits), with q's label and hit counts."""
    bits_values = [check_bits(b) for b in bits_values]
    scratch = Scratch(model)
    digest = model_sha256(model)
    points = [(entry, b) for entry in q_grid for b in bits_values]
    out = []
    for entry, bits in bar(points, desc="q × bits", progress=progress):
        def compute(entry=entry, bits=bits) -> dict[str, Any]:
            state = {}
            for name, p in model.named_parameters():
                if name.endswith("weight") or quantize_bias:
                    state[name] = quantize_tensor(p.detach(), entry["q"], bits)
            return hits_record(evaluate.hits(scratch.load(state), images, labels))

        parts = {"kind": "lab-quant", "model": digest, "q": entry["q"], "bits": bits,
                 "bias": quantize_bias, "data": tensor_key(images, labels)}
        rec = cached(cache, parts, compute)
        out.append({"q_label": entry["label"], "q": entry["q"], "bits": bits, **rec})
    return out


def scheme_accuracy(model: SimpleDNN, scheme: Scheme, images: torch.Tensor, labels: torch.Tensor,
                    cache: ResultCache | None = None, scratch: Scratch | None = None) -> dict[str, Any]:
    """Accuracy of ``model`` with its weights fake-quantized by ``scheme`` (cached)."""
    scratch = scratch or Scratch(model)

    def compute() -> dict[str, Any]:
        start = time.perf_counter()
        state = {f"{name}.weight": fake_quantize(layer.weight.detach(), scheme.qparams(layer.weight.detach()))
                 for name, layer in linear_layers(model)}
        seconds = time.perf_counter() - start
        return {**hits_record(evaluate.hits(scratch.load(state), images, labels)), "quantize_seconds": seconds}

    parts = {"kind": "scheme", "model": model_sha256(model), "scheme": scheme.__dict__,
             "data": tensor_key(images, labels)}
    return cached(cache, parts, compute)


# --- conclusions drawn from a sweep ---------------------------------------------------------------


def best_by(rows: Sequence[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    """For each value of ``key``, the row with the highest (selection) accuracy (ties: the first)."""
    best: dict[Any, dict[str, Any]] = {}
    for r in rows:
        if r[key] not in best or selected(r) > selected(best[r[key]]):
            best[r[key]] = r
    return dict(sorted(best.items()))


# --- the quantizer comparison ----------------------------------------------------------------------

COMPARISON = (
    ("max-abs / tensor", dict(method="maxabs", granularity="tensor", levels="lab")),
    ("percentile / tensor", dict(method="percentile", granularity="tensor", levels="lab")),
    ("MSE / tensor", dict(method="mse", granularity="tensor", levels="lab")),
    ("max-abs / channel", dict(method="maxabs", granularity="channel", levels="lab")),
    ("MSE / channel", dict(method="mse", granularity="channel", levels="lab")),
    ("MSE / channel, symmetric", dict(method="mse", granularity="channel", levels="symmetric")),
)


def gptq_packed(model: SimpleDNN, bits: int | Mapping[str, int], calibration_images: int, seed: int, folder: Any,
                levels: str = "lab", cache: ResultCache | None = None) -> tuple[SimpleDNN, dict[str, Any]]:
    """GPTQ ``model`` to ``bits`` (per-channel MSE grid), store it as a packed file, return (reloaded model, info).

    ``bits`` is one width or one per layer name (mixed precision); ``info["bytes"]`` is the file's size.

    With a ``cache``, the packed file doubles as its entry: an existing file for the same inputs is reloaded, not
    recomputed; without one, GPTQ always runs.
    A new file is checked on creation: its reloaded weights must equal the in-memory GPTQ weights exactly.
    """
    if isinstance(bits, Mapping):
        scheme: Scheme | dict[str, Scheme] = {name: Scheme(bits=b, method="mse", granularity="channel",
                                                         levels=levels) for name, b in bits.items()}  # type: ignore[arg-type]
        bits = dict(bits)
        tag = "mixed-" + "-".join(str(b) for b in bits.values())
    else:
        scheme = Scheme(bits=bits, method="mse", granularity="channel", levels=levels)  # type: ignore[arg-type]
        tag = f"{bits}bit"
    key = point_key(cache, {"kind": "gptq", "model": model_sha256(model), "bits": bits, "levels": levels,
                            "calibration": calibration_images, "seed": seed})
    path = Path(folder) / f"gptq-{tag}-{key[:12]}.safetensors"
    if cache is not None and cache.active and path.is_file():
        try:
            loaded, meta = pack.read_packed(path)
            return loaded, {"path": str(path), "bytes": meta["bytes"], "seconds": None, "bits": bits}
        except ValueError:
            pass
    start = time.perf_counter()
    calib = data.calibration_images(calibration_images, seed)
    quantized, codes = gptq.gptq_quantize(model, scheme, calib)
    seconds = time.perf_counter() - start
    info = pack.save_packed(quantized, path, bits, codes=codes)  # no timing inside: same codes, same bytes
    loaded = pack.load_packed(path)
    for name, value in quantized.state_dict().items():
        if not torch.equal(loaded.state_dict()[name], value):
            raise RuntimeError(f"{path}: packed round trip changed {name}; this is a bug in lab3.compress.pack")
    return loaded, {"path": str(path), "bytes": info["bytes"], "seconds": seconds, "bits": bits}


def quantizer_comparison(model: SimpleDNN, images: torch.Tensor, labels: torch.Tensor, bits_values: Sequence[int],
                         lab_q: dict[int, float], percentile: float, calibration_images: int, seed: int,
                         folder: Any, cache: ResultCache | None = None, gptq_max_bits: int = 4,
                         progress: bool | None = None) -> tuple[list[dict[str, Any]], dict[int, Any]]:
    """Accuracy of the lab's fixed-q quantizer (its best q per bit width) and of better quantizers.

    Returns (rows, gptq) where gptq maps a bit width to (reloaded GPTQ model, packed-file info); GPTQ runs
    only up to ``gptq_max_bits`` (at 8 bits plain rounding is already lossless within noise).
    """
    scratch = Scratch(model)
    rows, gptq_models = [], {}
    todo = [(b, name, spec) for b in bits_values for name, spec in
            [("lab fixed q", None), *COMPARISON, ("GPTQ (MSE / channel)", "gptq")]
            if spec != "gptq" or b <= gptq_max_bits]
    for bits, name, spec in bar(todo, desc="quantizers", progress=progress):
        if spec is None:
            scheme = Scheme(bits=bits, method="fixed", granularity="tensor", levels="lab", q=lab_q[bits])
            rec = scheme_accuracy(model, scheme, images, labels, cache, scratch)
        elif spec == "gptq":
            gptq_models[bits] = gptq_packed(model, bits, calibration_images, seed, folder, cache=cache)
            rec = {**hits_record(evaluate.hits(gptq_models[bits][0], images, labels)),
                   "quantize_seconds": gptq_models[bits][1]["seconds"]}
        else:
            scheme = Scheme(bits=bits, percentile=percentile, **spec)
            rec = scheme_accuracy(model, scheme, images, labels, cache, scratch)
        rows.append({"method": name, "bits": bits, **rec})
    return rows, gptq_models


def layer_sensitivity(model: SimpleDNN, scheme: Scheme, images: torch.Tensor, labels: torch.Tensor,
                      cache: ResultCache | None = None) -> list[dict[str, Any]]:
    """Accuracy when only one layer at a time is quantized with ``scheme``: which layer limits low bit widths."""
    scratch = Scratch(model)
    out = []
    for name, layer in linear_layers(model):
        def compute(name=name, layer=layer) -> dict[str, Any]:
            w = layer.weight.detach()
            state = {n: p.detach() for n, p in model.named_parameters()}
            state[f"{name}.weight"] = fake_quantize(w, scheme.qparams(w))
            return hits_record(evaluate.hits(scratch.load(state), images, labels))

        parts = {"kind": "sensitivity", "model": model_sha256(model), "scheme": scheme.__dict__, "layer": name,
                 "data": tensor_key(images, labels)}
        out.append({"layer": name, **cached(cache, parts, compute)})
    return out
