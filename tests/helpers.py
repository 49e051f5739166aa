"""Shared test helpers: tiny models and the lab's reference code, written out literally."""
from __future__ import annotations

import os

import torch

from lab3.base import numerics
from lab3.base.model import SimpleDNN


def tiny_model(seed: int = 0, hidden: tuple[int, int, int] = (32, 24, 16)) -> SimpleDNN:
    """A small SimpleDNN with seeded random weights."""
    torch.manual_seed(seed)
    return SimpleDNN(hidden=hidden).eval()


def lab_quantize(w: torch.Tensor, q: float, l: int) -> torch.Tensor:
    """The lab's quantization snippet, verbatim."""
    N = 2**l
    delta = 2 * q / N
    return torch.clip(delta * torch.round(w / delta), -q, q - delta)


def lab_prune_layer(weights_layer_A, bias_layer_A, weights_layer_B, pruning_ratio):
    """The lab's prune_layer, verbatim."""
    scores = torch.norm(weights_layer_A, 2, dim=1)
    num_elements = scores.numel()
    num_to_keep = int(num_elements * pruning_ratio)
    threshold, _ = torch.kthvalue(scores, num_to_keep)
    condition = scores >= threshold
    return weights_layer_A[condition], bias_layer_A[condition], weights_layer_B[:, condition]


def unpinned_environment() -> dict[str, str]:
    """This process's environment without any numerics variable a profile sets or the report names, nor the profile
    and thread count chosen (a test run under ``LAB3_NUMERICS=avx2`` gives its children the default profile)."""
    drop = set().union(*numerics.PROFILES.values(), numerics.REPORTED,
                       {"LAB3_NUMERICS", "LAB3_THREADS", "TORCHINDUCTOR_CACHE_DIR"})
    return {k: v for k, v in os.environ.items() if k not in drop}
