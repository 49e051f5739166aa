"""Error-compensating post-training quantization (GPTQ / Optimal Brain Quantization), no retraining.

For a layer with weight W (rows x cols) and calibration inputs X (n x cols), GPTQ quantizes W one column
at a time and, after each column, spreads the rounding error over the columns not yet quantized, using
the inverse Hessian of the layer's squared output error, H = 2 X^T X / n (Frantar et al., 2022, after
Hassibi & Stork's Optimal Brain Surgeon). Columns go in blocks so most work is matrix products, and in
order of decreasing Hessian diagonal ("act order"). The grid (one scale per output row) is fixed up
front from the original weights, so the result is plain integer codes that ``lab3.compress.pack`` stores.
Layers are done in order, each one fed by the already-quantized layers before it.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn

from lab3.base.model import linear_layers
from lab3.compress.quantize import QParams, Scheme, dequantize_codes


def hessian(inputs: torch.Tensor) -> torch.Tensor:
    """H = 2 X^T X / n for a layer's inputs X (n x cols): product in float32, returned as float64."""
    x = inputs.reshape(inputs.shape[0], -1).float()
    return (x.T @ x).double().mul_(2.0 / x.shape[0])


def gptq_layer(w: torch.Tensor, h: torch.Tensor, qp: QParams, block: int = 128, damp: float = 0.01,
               act_order: bool = True) -> torch.Tensor:
    """Integer codes for ``w`` on grid ``qp`` (per-row scales), compensating errors with Hessian ``h``."""
    if w.dim() != 2 or h.shape != (w.shape[1], w.shape[1]):
        raise ValueError(f"w {tuple(w.shape)} and h {tuple(h.shape)} do not match (h must be cols x cols)")
    if not 0 <= damp < 1:
        raise ValueError(f"damp must be in [0, 1), got {damp!r}")
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block!r}")
    rows, cols = w.shape
    scale = (qp.scale.reshape(-1, 1).expand(rows, 1) if qp.per_channel else qp.scale.expand(rows, 1)).float()
    W = w.detach().float().clone()
    H = h.double().clone()
    dead = H.diagonal() == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    perm = torch.argsort(H.diagonal(), descending=True) if act_order else torch.arange(cols)
    W, H = W[:, perm], H[perm][:, perm]
    H.diagonal().add_(damp * H.diagonal().mean())
    # factorizations in float64 for stability; the column updates in float32 like the reference implementation
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True).float()
    codes = torch.zeros(rows, cols, dtype=torch.float32)
    s = scale[:, 0]
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        W1 = W[:, i1:i2].clone()
        E1 = torch.zeros_like(W1)
        H1 = hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = W1[:, i]
            c = torch.clamp(torch.round(col / s), qp.qmin, qp.qmax)
            codes[:, i1 + i] = c
            err = (col - c * s) / H1[i, i]
            W1[:, i:] -= err.unsqueeze(1) * H1[i, i:].unsqueeze(0)
            E1[:, i] = err
        W[:, i2:] -= E1 @ hinv[i1:i2, i2:]
    out = torch.empty_like(codes)
    out[:, perm] = codes
    return out.to(torch.int32)


@torch.no_grad()
def gptq_quantize(model: nn.Module, scheme: Scheme | Mapping[str, Scheme], calibration: torch.Tensor,
                  block: int = 128, damp: float = 0.01,
                  act_order: bool = True) -> tuple[nn.Module, dict[str, tuple[torch.Tensor, QParams]]]:
    """GPTQ every Linear layer of a copy of ``model`` in order; return (quantized model, codes per layer).

    ``scheme`` is one scheme for all layers or one per layer name (mixed precision)."""
    out = copy.deepcopy(model).eval()
    layers = linear_layers(out)
    schemes = dict(scheme) if isinstance(scheme, Mapping) else {name: scheme for name, _ in layers}
    missing = [name for name, _ in layers if name not in schemes]
    if missing:
        raise ValueError(f"no scheme for layers {missing}")
    if any(s.granularity != "channel" and s.method == "fixed" for s in schemes.values()):
        raise ValueError("GPTQ here uses a grid chosen from the weights; use a non-fixed scheme")
    codes: dict[str, tuple[torch.Tensor, QParams]] = {}
    features = getattr(out, "features", None)  # a model that reads only some pixels says which
    inputs = features(calibration) if features else calibration.reshape(calibration.shape[0], -1)
    for index, (name, layer) in enumerate(layers):
        qp = schemes[name].qparams(layer.weight)
        c = gptq_layer(layer.weight, hessian(inputs), qp, block, damp, act_order)
        layer.weight.copy_(dequantize_codes(c, qp))
        codes[name] = (c, qp)
        if index + 1 < len(layers):  # the next layer sees this layer's quantized output
            inputs = torch.relu(layer(inputs))
    return out, codes
