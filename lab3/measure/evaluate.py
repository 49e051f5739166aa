"""Test-set accuracy in one bare forward pass over tensors (the lab's device choice); models as inference callables."""
from __future__ import annotations

from collections.abc import Callable, Sized
from typing import cast

import torch
from torch import nn
from torch.utils.data import Dataset


def _as_tensors(data: Dataset | tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
    elif isinstance(data, Dataset):
        items = [data[i] for i in range(len(cast(Sized, data)))]  # torch's Dataset stub has no __len__
        x = torch.stack([it[0] for it in items])
        y = torch.as_tensor([int(it[1]) for it in items])
    else:
        raise TypeError("data must be (images, labels) tensors or a torch Dataset of (image, label) items")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"images and labels disagree in length: {x.shape[0]} vs {y.shape[0]}")
    return x, y


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Predicted class of every image (argmax of the logits); batches of 2000 keep activations cache-friendlier."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = torch.cat([model(images[i:i + batch_size].to(dev)).argmax(dim=1).cpu()
                     for i in range(0, images.shape[0], batch_size)])
    model.train(was_training)
    return out


def hits(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per image: was it classified correctly (a boolean vector; sweeps store it to score any subset)."""
    return predict(model, images) == labels


def count_correct(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> int:
    """Number of images whose predicted class equals the label."""
    return int((predict(model, images) == labels).sum())


def accuracy(model: nn.Module, data: Dataset | tuple[torch.Tensor, torch.Tensor]) -> float:
    """Fraction of ``data`` classified correctly; ``data`` is (images, labels) tensors or a Dataset."""
    x, y = _as_tensors(data)
    if y.numel() == 0:
        raise ValueError("data is empty")
    return count_correct(model, x, y) / y.numel()


def torch_runner(model: nn.Module | Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Wrap a PyTorch model (or a compiled one) as a callable images -> logits under inference mode."""
    if isinstance(model, nn.Module):
        model.eval()

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(x)

    return run
