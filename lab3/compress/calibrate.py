"""Calibration data: a seeded subset of training images and the activations a model produces on it.

Data-aware pruning, least-squares repair and GPTQ look at how the network responds to real inputs.
They use a few thousand training images (never test images), chosen by a seeded permutation.
"""
from __future__ import annotations

import torch
from torch import nn

from lab3.base import data
from lab3.base.model import linear_layers


def calibration_images(n: int = 4096, seed: int = 0, root: str | None = None) -> torch.Tensor:
    """``n`` normalized training images (n, 1, 28, 28), picked by a permutation seeded with ``seed``."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 60000:
        raise ValueError(f"n (calibration images) must be an integer in 1..60000, got {n!r}")
    images, _ = data.raw_tensors("train", root)
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
    return data.normalize(images[order[:n]])


@torch.inference_mode()
def layer_io(model: nn.Module, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For each Linear layer in order: (its input, its pre-activation output) on images ``x``.

    The input of fc1 is the flattened image; the input of each later layer is ReLU of the previous output.
    """
    features = getattr(model, "features", None)  # a model that reads only some pixels says which
    h = features(x) if features else x.reshape(x.shape[0], -1)
    out = []
    layers = linear_layers(model)
    for i, (_, layer) in enumerate(layers):
        z = layer(h)
        out.append((h, z))
        h = torch.relu(z) if i + 1 < len(layers) else z
    return out
