"""Post-training weight quantization, in two families of functions that do not share names.

The lab's family simulates quantization in float32 exactly as the lab writes it: ``delta = 2q / 2**bits``;
``wq = clip(delta * round(w / delta), -q, q - delta)``. ``quantize_tensor`` is that formula,
``quantize_model`` (the lab's own name) applies it to every layer, ``quantized_state`` returns the weights.

The integer-grid family follows pytorch/ao's choose-params -> quantize -> dequantize pattern:
``choose_qparams`` picks a scale per tensor or per output channel (from the max |w|, a percentile of |w|, or
the clipping that minimizes the squared error), ``quantize_codes`` maps weights to integer codes,
``dequantize_codes`` maps codes back to float32 as ``codes * scale``; ``fake_quantize`` is the round trip and
``fake_quantize_model`` applies a ``Scheme`` (keyword arguments only) to a whole model. Codes are what
``lab3.compress.pack`` stores, so a packed file reloads to the same float32 weights bit for bit.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from lab3.base.model import linear_layers  # noqa: F401  (also lab3.compress.quantize.linear_layers, for the chapters)

Method = Literal["fixed", "maxabs", "percentile", "mse"]
Granularity = Literal["tensor", "channel"]
Levels = Literal["lab", "symmetric"]
METHODS = ("fixed", "maxabs", "percentile", "mse")
GRANULARITIES = ("tensor", "channel")
LEVELS = ("lab", "symmetric")


def check_q(q: float) -> float:
    """Validate the lab's half-range ``q``: a finite number > 0."""
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q) or q <= 0:
        raise ValueError(f"q (the quantization half-range) must be a finite number > 0, got {q!r}")
    return float(q)


def check_bits(bits: int, low: int = 1, high: int = 32) -> int:
    """Validate a bit width: an integer in ``low..high``."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not low <= bits <= high:
        raise ValueError(f"bits must be an integer in {low}..{high}, got {bits!r}")
    return bits


def check_weights(w: torch.Tensor, name: str = "w") -> torch.Tensor:
    """Validate a weight tensor: floating point and finite."""
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(w).__name__}")
    if not w.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {w.dtype}")
    if not torch.isfinite(w).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return w


def quantize_tensor(w: torch.Tensor, q: float, bits: int) -> torch.Tensor:
    """The lab's quantizer: clip(delta * round(w / delta), -q, q - delta), delta = 2q/2**l."""
    check_weights(w)
    q, bits = check_q(q), check_bits(bits)
    n = 2**bits
    delta = 2 * q / n
    # the lab's expression: the same operations in the same order, done in place on one new
    # tensor (bit for bit equal to it, tested), so a sweep allocates less per point
    out = w / delta
    return out.round_().mul_(delta).clamp_(-q, q - delta)


def quantize_model(model: nn.Module, q: float, bits: int,
                   quantize_bias: bool = False) -> nn.Module:
    """A copy of ``model`` with every Linear weight quantized by the lab's quantizer."""
    q, bits = check_q(q), check_bits(bits)
    out = copy.deepcopy(model)
    with torch.no_grad():
        for _, layer in linear_layers(out):
            layer.weight.copy_(quantize_tensor(layer.weight, q, bits))
            if quantize_bias and layer.bias is not None:
                layer.bias.copy_(quantize_tensor(layer.bias, q, bits))
    return out


def quantized_state(model: nn.Module, q: float, bits: int, quantize_bias: bool = False) -> dict[str, torch.Tensor]:
    """The lab-quantized parameters as a state dict (no model copy): for fast sweeps with functional_call."""
    q, bits = check_q(q), check_bits(bits)
    state = {}
    for name, p in model.named_parameters():
        is_weight = name.endswith("weight")
        state[name] = quantize_tensor(p.detach(), q, bits) if (is_weight or quantize_bias) else p.detach()
    return state


def weights_vector(model: nn.Module) -> torch.Tensor:
    """All Linear weights flattened and concatenated (the lab's histogram input)."""
    return torch.cat([layer.weight.detach().flatten() for _, layer in linear_layers(model)])


# --- integer-grid quantizers: choose_qparams -> quantize_codes -> dequantize_codes ----------------


@dataclass(frozen=True)
class QParams:
    """A uniform grid ``scale * k`` for integer codes ``k`` in ``[qmin, qmax]``; scale is () or (rows, 1)."""

    scale: torch.Tensor
    qmin: int
    qmax: int
    bits: int

    @property
    def per_channel(self) -> bool:
        """True if there is one scale per output row."""
        return self.scale.dim() == 2


def code_range(bits: int, levels: Levels = "symmetric") -> tuple[int, int]:
    """Integer code range: the lab's ``[-2**(b-1), 2**(b-1) - 1]`` or symmetric ``[-(2**(b-1) - 1), 2**(b-1) - 1]``."""
    check_bits(bits, 1, 16)
    if levels not in LEVELS:
        raise ValueError(f"levels must be one of {LEVELS}, got {levels!r}")
    half = 2 ** (bits - 1)
    if levels == "symmetric":
        if bits < 2:
            raise ValueError("symmetric levels need bits >= 2 (1 bit leaves only the code 0)")
        return -(half - 1), half - 1
    return -half, half - 1


def _absmax(w: torch.Tensor, granularity: Granularity) -> torch.Tensor:
    if granularity == "tensor":
        return w.abs().max()
    return w.abs().amax(dim=1, keepdim=True)


def _percentile(w: torch.Tensor, granularity: Granularity, percentile: float) -> torch.Tensor:
    a = w.abs().to(torch.float64)
    if granularity == "tensor":
        flat = a.flatten()
        k = max(1, min(flat.numel(), math.ceil(percentile / 100 * flat.numel())))
        return flat.kthvalue(k).values.to(torch.float32)
    k = max(1, min(a.shape[1], math.ceil(percentile / 100 * a.shape[1])))
    return a.kthvalue(k, dim=1, keepdim=True).values.to(torch.float32)


def _scale_for(clip: torch.Tensor, qmax: int) -> torch.Tensor:
    return (clip / qmax).clamp_min(torch.finfo(torch.float32).tiny).to(torch.float32)


MSE_BLOCK = 1 << 17  # weights x candidates per batch (512 KB temporaries): one QAT step's four searches 2.7 ms vs 7.3
                     # one at a time (2**18 within noise, 2**20 slower on larger layers; benchmarks/bench_mse_clip.py)


def _mse_clip(w: torch.Tensor, granularity: Granularity, qmin: int, qmax: int, grid: int) -> torch.Tensor:
    """Clipping threshold minimizing ||w - Q(w)||² (per tensor or row): a coarse grid of fractions of
    max |w|, then a fine grid around the best coarse point, ``grid`` candidates each.

    The candidates are evaluated in batches (all of them at once for a small layer, which is what keeps
    quantization-aware training, which calls this at every step, cheap); the first candidate with the
    smallest error wins, as when they are tried one by one."""
    amax = _absmax(w, granularity)
    amax_b = amax.reshape(1, 1) if granularity == "tensor" else amax  # broadcasts against w
    best_err = torch.full_like(amax_b, float("inf"), dtype=torch.float64)
    best_frac = torch.ones_like(amax_b)
    per_batch = max(1, MSE_BLOCK // max(1, w.numel()))

    def consider(fracs: torch.Tensor) -> None:  # fracs: (k, *amax_b.shape), tried in order
        nonlocal best_err, best_frac
        for i in range(0, fracs.shape[0], per_batch):
            frac = fracs[i:i + per_batch]
            scale = _scale_for(amax_b * frac, qmax)
            err = torch.round(w / scale).clamp_(qmin, qmax).mul_(scale).sub_(w).square_()
            err = (err.reshape(err.shape[0], -1).sum(dim=1, dtype=torch.float64).reshape(-1, 1, 1)
                   if granularity == "tensor" else err.sum(dim=2, keepdim=True, dtype=torch.float64))
            if err.shape[0] > 1:  # the first smallest of this batch
                first = err.argmin(dim=0, keepdim=True)
                err, frac = err.gather(0, first), frac.gather(0, first)
            err, frac = err[0], frac[0]
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best_frac = torch.where(better, frac, best_frac)

    step = 1.0 / grid
    coarse = torch.tensor([i * step for i in range(1, grid + 1)], dtype=torch.float32)
    consider(coarse.reshape(-1, 1, 1).expand(-1, *amax_b.shape).contiguous())
    center = best_frac.clone()
    offsets = [i * step / (grid // 2 + 1) for i in range(-grid // 2, grid // 2 + 1) if i]
    consider(torch.stack([(center + o).clamp(step / grid, 1.0) for o in offsets]))
    return (amax_b * best_frac).reshape(amax.shape)


def choose_qparams(w: torch.Tensor, bits: int, method: Method = "maxabs", granularity: Granularity = "tensor",
                   levels: Levels = "symmetric", q: float | None = None, percentile: float = 99.99,
                   mse_grid: int = 10) -> QParams:
    """Pick the grid for ``w`` (2-D): its range from ``method``, one scale per tensor or per output channel."""
    check_weights(w)
    if w.dim() != 2:
        raise ValueError(f"w must be a 2-D weight matrix, got shape {tuple(w.shape)}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    qmin, qmax = code_range(bits, levels)
    w = w.detach().to(torch.float32)
    if method == "fixed":
        if q is None:
            raise ValueError("method='fixed' needs q, the lab's half-range")
        # the lab's grid: delta = 2q / 2**bits, codes -2**(b-1) .. 2**(b-1) - 1 when levels='lab'
        scale = torch.tensor(2 * check_q(q) / 2**bits, dtype=torch.float32)
        if granularity == "channel":
            scale = scale.expand(w.shape[0], 1).clone()
        return QParams(scale, qmin, qmax, bits)
    if method == "maxabs":
        clip = _absmax(w, granularity)
    elif method == "percentile":
        if not 0 < percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
        clip = _percentile(w, granularity, percentile)
    else:
        if mse_grid < 1:
            raise ValueError(f"mse_grid must be >= 1, got {mse_grid!r}")
        clip = _mse_clip(w, granularity, qmin, qmax, mse_grid)
    return QParams(_scale_for(clip, qmax), qmin, qmax, bits)


def quantize_codes(w: torch.Tensor, qp: QParams) -> torch.Tensor:
    """Integer codes of ``w`` on the grid ``qp`` (round to nearest, saturate), as int32."""
    check_weights(w)
    return torch.clamp(torch.round(w.to(torch.float32) / qp.scale), qp.qmin, qp.qmax).to(torch.int32)


def dequantize_codes(codes: torch.Tensor, qp: QParams) -> torch.Tensor:
    """Float32 weights ``codes * scale``."""
    return codes.to(torch.float32) * qp.scale


def fake_quantize(w: torch.Tensor, qp: QParams) -> torch.Tensor:
    """``dequantize_codes(quantize_codes(w))``: the float32 weights a quantized model computes with."""
    return dequantize_codes(quantize_codes(w, qp), qp)


class RoundThrough(nn.Module):
    """A weight parametrization for quantization-aware training: forward, the weights on the grid ``scheme``
    picks for them (``fake_quantize``); backward, the identity (the straight-through estimator)."""

    def __init__(self, scheme: Scheme) -> None:
        super().__init__()
        self.scheme = scheme

    def forward(self, w: torch.Tensor) -> torch.Tensor:  # noqa: D102
        wq = fake_quantize(w.detach(), self.scheme.qparams(w.detach()))
        return w + (wq - w).detach()


@dataclass(frozen=True, kw_only=True)
class Scheme:
    """How to quantize a model's weights: bit width, range method, granularity and levels."""

    bits: int
    method: Method = "maxabs"
    granularity: Granularity = "tensor"
    levels: Levels = "symmetric"
    q: float | None = None
    percentile: float = 99.99

    def qparams(self, w: torch.Tensor) -> QParams:
        """The grid this scheme chooses for weight matrix ``w``."""
        return choose_qparams(w, self.bits, self.method, self.granularity, self.levels, self.q, self.percentile)

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. 'mse/channel'."""
        if self.method == "fixed":
            return f"lab fixed q={self.q:.4g}"
        extra = f" p{self.percentile:g}" if self.method == "percentile" else ""
        return f"{self.method}{extra}/{self.granularity}"


def fake_quantize_model(model: nn.Module, scheme: Scheme) -> nn.Module:
    """A copy of ``model`` with every Linear weight fake-quantized by ``scheme``; biases stay float32."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for _, layer in linear_layers(out):
            layer.weight.copy_(fake_quantize(layer.weight, scheme.qparams(layer.weight)))
    return out


def weight_codes(model: nn.Module, scheme: Scheme | Mapping[str, Scheme]) -> dict[str, tuple[torch.Tensor, QParams]]:
    """Integer codes and grid of every Linear weight under ``scheme`` (one for all layers, or one per layer name):
    what a packed file stores."""
    out = {}
    for name, layer in linear_layers(model):
        w = layer.weight.detach()
        qp = (scheme[name] if isinstance(scheme, Mapping) else scheme).qparams(w)
        out[name] = (quantize_codes(w, qp), qp)
    return out


def sqnr_db(w: torch.Tensor, wq: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio in dB: 10 log10(||w||² / ||w - wq||²)."""
    noise = (w - wq).double().pow(2).sum().item()
    signal = w.double().pow(2).sum().item()
    return math.inf if noise == 0 else 10 * math.log10(signal / noise)


def distinct_values(tensors: Iterable[torch.Tensor]) -> int:
    """Number of distinct values across tensors (how many levels a quantizer really used)."""
    return int(torch.unique(torch.cat([t.detach().flatten() for t in tensors])).numel())
