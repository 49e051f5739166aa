"""Short fine-tuning of a compressed model with the full model as teacher (knowledge distillation).

The teacher's logits on the 60,000 training images are computed once (one forward pass of the big
model, about 17 s here) and reused, so fine-tuning a small pruned student costs only the student's own
steps. The number of steps is fixed by ``epochs`` (not by a wall-clock budget), so the result is the
same on every run and machine; the measured seconds are reported against the stated budget.

``weights`` (layer name -> a parametrization of its weight) changes what the forward pass sees during
fine-tuning; with ``quantize.RoundThrough`` it is quantization-aware (the weights as the packed file will
store them forward, the gradients passed through the rounding unchanged).
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn
from torch.nn.utils import parametrize


@dataclass(frozen=True)
class DistillConfig:
    """Fine-tuning settings: fixed epochs over the training set, AdamW with a cosine schedule."""

    epochs: int = 10
    batch_size: int = 256
    lr: float = 2e-3
    temperature: float = 4.0
    alpha: float = 0.9  # weight of the distillation loss; 1 - alpha on the labels
    seed: int = 0

    def validate(self) -> DistillConfig:
        """Raise ``ValueError`` naming the first out-of-range field."""
        ok = {"epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1,
              "lr": math.isfinite(self.lr) and self.lr > 0, "temperature": self.temperature > 0,
              "alpha": 0 <= self.alpha <= 1, "seed": self.seed >= 0}
        for name, good in ok.items():
            if not good:
                raise ValueError(f"distill config {name}={getattr(self, name)!r} is out of range")
        return self


@torch.inference_mode()
def teacher_logits(teacher: nn.Module, images: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """The teacher's logits for every image (float32, N x classes)."""
    teacher.eval()
    return torch.cat([teacher(images[i:i + batch_size]) for i in range(0, images.shape[0], batch_size)])


M = TypeVar("M", bound=nn.Module)


def distill(student: M, images: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor,
            config: DistillConfig = DistillConfig(),
            weights: Mapping[str, nn.Module] | None = None) -> tuple[M, float]:
    """Fine-tune a copy of ``student`` on (images, labels) towards teacher logits ``targets``; (model, seconds).

    ``weights``: layer name -> parametrization of that layer's weight during fine-tuning (e.g.
    ``quantize.RoundThrough``); it is removed afterwards and the plain float weights are returned."""
    config.validate()
    if not (images.shape[0] == labels.shape[0] == targets.shape[0]):
        raise ValueError("images, labels and teacher targets must have the same length")
    model = copy.deepcopy(student).train()
    for name, transform in (weights or {}).items():
        layer = getattr(model, name, None)
        if not isinstance(layer, nn.Linear):
            raise ValueError(f"weights names {name!r}, which is not a Linear layer of the student")
        parametrize.register_parametrization(layer, "weight", transform)
    gen = torch.Generator().manual_seed(config.seed)
    n = images.shape[0]
    steps = config.epochs * math.ceil(n / config.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    t = config.temperature
    soft_targets = torch.softmax(targets / t, dim=1)
    start = time.perf_counter()
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, config.batch_size):
            idx = order[i:i + config.batch_size]
            logits = model(images[idx])
            kd = nn.functional.kl_div(torch.log_softmax(logits / t, dim=1), soft_targets[idx],
                                      reduction="batchmean") * t * t
            ce = nn.functional.cross_entropy(logits, labels[idx])
            loss = config.alpha * kd + (1 - config.alpha) * ce
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    seconds = time.perf_counter() - start
    for name in weights or {}:
        parametrize.remove_parametrizations(getattr(model, name), "weight", leave_parametrized=False)
    return model.eval(), seconds
