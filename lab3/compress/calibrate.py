"""The activations a model produces on calibration images (``lab3.base.data.calibration_images``).

Data-aware pruning, least-squares repair and GPTQ look at how each layer responds to real inputs: its input
and its pre-activation output, layer by layer. The images are passed in; nothing here reads from disk.
"""
from __future__ import annotations

import torch
from torch import nn

from lab3.base.model import linear_layers


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
