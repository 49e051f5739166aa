"""Structured pruning of whole neurons: the lab's ``prune_layer``, and pruning that keeps accuracy.

``prune_layer`` is the lab's function verbatim in behaviour. Its quirks are kept and tested: it scores
neurons by the L2 norm of their incoming weights, takes the ``k = int(n * ratio)``-th smallest score as
threshold and keeps ``score >= threshold``, so with distinct scores it removes ``k - 1`` neurons and keeps
``n - k + 1``; ties at the threshold keep more; ``k == 0`` makes ``torch.kthvalue`` fail, which we turn
into a clear error.

``prune_model`` returns a new, physically smaller SimpleDNN. Beyond the lab it offers an exact-ratio
rule, data-aware importance (activation RMS on calibration images times the outgoing weight norm) and a
least-squares repair of the next layer so that it reproduces the original network's pre-activations.
"""
from __future__ import annotations

import math
from typing import Literal

import torch

from lab3.base.model import SimpleDNN
from lab3.compress.calibrate import layer_io

Rule = Literal["lab", "exact"]
Importance = Literal["l2", "activation"]
RULES = ("lab", "exact")
IMPORTANCES = ("l2", "activation")


def check_ratio(ratio: float) -> float:
    """Validate a pruning ratio: a finite number in [0, 1)."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio) \
            or not 0 <= ratio < 1:
        raise ValueError(f"ratio (fraction of neurons to remove) must be in [0, 1), got {ratio!r}")
    return float(ratio)


def prune_layer(weights_a: torch.Tensor, bias_a: torch.Tensor, weights_b: torch.Tensor,
                ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The lab's prune_layer: drop A's low-L2 neurons (rows) and B's matching columns."""
    ratio = check_ratio(ratio)
    if weights_a.dim() != 2 or weights_b.dim() != 2 or bias_a.shape != weights_a.shape[:1] \
            or weights_b.shape[1] != weights_a.shape[0]:
        raise ValueError(f"shapes do not chain: weights_a {tuple(weights_a.shape)}, "
                         f"bias_a {tuple(bias_a.shape)}, weights_b {tuple(weights_b.shape)}")
    scores = torch.norm(weights_a, 2, dim=1)
    n = scores.numel()
    k = int(n * ratio)
    if k == 0:
        raise ValueError(f"the lab's prune_layer needs int(n * ratio) >= 1, but n={n} and "
                         f"ratio={ratio} give 0 (torch.kthvalue has no 0th value); "
                         f"use ratio >= {1 / n:.4g} or rule='exact'")
    condition = keep_mask(scores, ratio, "lab")  # the lab's threshold rule, in one place
    return weights_a[condition], bias_a[condition], weights_b[:, condition]


def lab_kept(n: int, ratio: float) -> int:
    """Neurons the lab's rule keeps out of ``n`` when scores are distinct: ``n - int(n * ratio) + 1``."""
    return n - int(n * check_ratio(ratio)) + 1


def keep_mask(scores: torch.Tensor, ratio: float, rule: Rule = "lab") -> torch.Tensor:
    """Neurons to keep: the lab's threshold rule, or exactly the n - round(n * ratio) best."""
    ratio = check_ratio(ratio)
    n = scores.numel()
    if rule == "lab":
        k = int(n * ratio)
        if k == 0:
            return torch.ones(n, dtype=torch.bool)
        threshold, _ = torch.kthvalue(scores, k)
        return scores >= threshold
    if rule != "exact":
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    return keep_best(scores, kept_count(n, ratio, rule))


def kept_count(n: int, ratio: float, rule: Rule = "lab") -> int:
    """Neurons a rule keeps out of ``n`` when the scores are distinct (the lab's: ``n - int(n * ratio) + 1``)."""
    ratio = check_ratio(ratio)
    if rule == "lab":
        return min(n, lab_kept(n, ratio))  # int(n * ratio) == 0 removes nothing
    if rule != "exact":
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    keep = n - round(n * ratio)
    if keep < 1:
        raise ValueError(f"ratio={ratio} would remove all {n} neurons of a layer; use a smaller ratio")
    return keep


def keep_best(scores: torch.Tensor, keep: int) -> torch.Tensor:
    """Mask of the ``keep`` highest scores; among equal scores the lower index wins, so ties never change the count."""
    order = torch.argsort(scores, descending=True, stable=True)
    mask = torch.zeros(scores.numel(), dtype=torch.bool)
    mask[order[:keep]] = True
    return mask


def least_squares_layer(inputs: torch.Tensor, targets: torch.Tensor,
                        ridge: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias minimizing ||inputs W^T + b - targets||² + ridge·mean(diag(XᵀX))·||W||² (float64 solve)."""
    if inputs.shape[0] != targets.shape[0]:
        raise ValueError(f"inputs and targets disagree in rows: {inputs.shape[0]} vs {targets.shape[0]}")
    a = torch.cat([inputs.double(), torch.ones(inputs.shape[0], 1, dtype=torch.float64)], dim=1)
    gram = a.T @ a
    scale = gram.diagonal()[:-1].mean().clamp_min(1e-12)
    gram.diagonal()[:-1].add_((ridge + 1e-9) * scale)  # the 1e-9 keeps dead (always-zero) inputs solvable
    solution = torch.linalg.solve(gram, a.T @ targets.double())
    return solution[:-1].T.float().contiguous(), solution[-1].float().contiguous()


def prune_model(model: SimpleDNN, ratio: float, rule: Rule = "lab", importance: Importance = "l2",
                repair: bool = False, calibration: torch.Tensor | None = None,
                ridge: float = 1e-3) -> SimpleDNN:
    """A new SimpleDNN with ``ratio`` of the neurons of fc1..fc3 removed; the input model is unchanged.

    rule='lab' and importance='l2' reproduce the lab's prune_model exactly. importance='activation' and
    repair=True need ``calibration`` images (see ``lab3.base.data.calibration_images``).
    """
    ratio = check_ratio(ratio)
    if not isinstance(model, SimpleDNN):
        raise TypeError(f"model must be a SimpleDNN, got {type(model).__name__}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if importance not in IMPORTANCES:
        raise ValueError(f"importance must be one of {IMPORTANCES}, got {importance!r}")
    needs_data = importance == "activation" or repair
    if needs_data and calibration is None:
        raise ValueError("importance='activation' and repair=True need calibration images")
    if not (isinstance(ridge, (int, float)) and math.isfinite(ridge) and ridge >= 0):
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge!r}")
    weights = [model.fc1.weight, model.fc2.weight, model.fc3.weight, model.fc4.weight]
    biases = [model.fc1.bias, model.fc2.bias, model.fc3.bias, model.fc4.bias]
    w = [t.detach().clone() for t in weights]
    b = [t.detach().clone() for t in biases]
    calib = calibration if needs_data else None
    original_io = layer_io(model, calib) if calib is not None else None
    for i in range(3):
        # before the first cut the network is the original one: reuse its activations
        io = (original_io if i == 0 else layer_io(_assemble(w, b), calib)) if calib is not None else None
        if importance == "l2":
            scores = torch.norm(w[i], 2, dim=1)
        else:
            assert io is not None  # activation importance has calibration data (checked above)
            rms = io[i + 1][0].double().pow(2).mean(dim=0).sqrt()
            scores = (rms * torch.norm(w[i + 1].double(), 2, dim=0)).float()
        # Data-aware scores are exactly 0 for every neuron that never fires on the calibration images (a dead
        # ReLU), and a trained model can have hundreds: 1,442 or more of fc1's 1,568 in the reference model.
        # The lab's rule keeps every score tied with its threshold, so it kept all of fc1 at ratios up to 0.92.
        # Data-aware pruning keeps the count the rule keeps for distinct scores, ties broken by index.
        if importance == "l2":
            mask = keep_mask(scores, ratio, rule)
        else:
            mask = keep_best(scores, kept_count(scores.numel(), ratio, rule))
        w[i], b[i], w[i + 1] = w[i][mask], b[i][mask], w[i + 1][:, mask]
        if repair:
            assert io is not None and original_io is not None  # repair has calibration data (checked above)
            kept_inputs = io[i + 1][0][:, mask]
            w[i + 1], b[i + 1] = least_squares_layer(kept_inputs, original_io[i + 1][1], ridge)
    return _assemble(w, b)


def _assemble(w: list[torch.Tensor], b: list[torch.Tensor]) -> SimpleDNN:
    model = SimpleDNN(hidden=[w[0].shape[0], w[1].shape[0], w[2].shape[0]], in_features=w[0].shape[1],
                      num_classes=w[3].shape[0])
    with torch.no_grad():
        for layer, wi, bi in zip((model.fc1, model.fc2, model.fc3, model.fc4), w, b):
            layer.weight.copy_(wi)
            layer.bias.copy_(bi)
    return model.eval()


def pixel_frequency(images: torch.Tensor) -> torch.Tensor:
    """Per pixel: the share of ``images`` (raw uint8, N×28×28) in which it is not 0."""
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be raw uint8 pixels, got {images.dtype}")
    return (images.reshape(images.shape[0], -1) > 0).double().mean(0)


def drop_inputs(model: SimpleDNN, keep: torch.Tensor, background: torch.Tensor) -> SimpleDNN:
    """A new model whose fc1 reads only pixels ``keep`` (a boolean mask over the 784 pixels).

    Each dropped pixel is taken to sit at its ``background`` value (the normalized value of an empty pixel),
    whose contribution is folded into fc1's bias: exact whenever a dropped pixel is empty."""
    if model.inputs is not None:
        raise ValueError("the model already reads a subset of pixels")
    keep = torch.as_tensor(keep, dtype=torch.bool).reshape(-1)
    if keep.numel() != model.fc1.in_features or not bool(keep.any()):
        raise ValueError(f"keep must be a mask over {model.fc1.in_features} pixels with at least one kept")
    w1 = model.fc1.weight.detach()
    out = SimpleDNN(hidden=model.sizes[1:4], num_classes=model.sizes[4], inputs=torch.nonzero(keep).reshape(-1))
    with torch.no_grad():
        out.fc1.weight.copy_(w1[:, keep])
        out.fc1.bias.copy_(model.fc1.bias.detach() + w1[:, ~keep] @ background.reshape(-1)[~keep].to(w1.dtype))
        for name in ("fc2", "fc3", "fc4"):
            getattr(out, name).weight.copy_(getattr(model, name).weight.detach())
            getattr(out, name).bias.copy_(getattr(model, name).bias.detach())
    return out.eval()
