"""The lab's timing loop, measured in its two parts so that they add up to the whole.

The lab timed one pass of its test loop (DataLoader with per-image transforms, then the model) with
``time.time()``. Timing the DataLoader alone in a separate run and subtracting can give a "loading" share
above 100%, because the two runs see a different machine (caches, clock, other work). Here each pass is
timed once, and inside it every wait for the next batch and every forward pass is timed separately, so
loading + model = the pass, up to the loop's own bookkeeping, which is reported too.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


@dataclass(frozen=True)
class LoopParts:
    """The median pass of the lab's loop (the lower one of an even count) and its two parts."""

    total_s: float
    loading_s: float
    model_s: float
    passes: int
    threads: int
    images: int

    @property
    def other_s(self) -> float:
        """What the pass spent outside both parts (the loop's bookkeeping); small by construction."""
        return self.total_s - self.loading_s - self.model_s

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for tables and JSON."""
        return asdict(self)


def lab_loop_parts(model: nn.Module, dataset: Dataset, batch_size: int = 128,
                   repeats: int = 3) -> LoopParts:
    """Time passes of the lab's test loop, each split into batch loading and the model."""
    if repeats < 1 or batch_size < 1:
        raise ValueError(f"repeats and batch_size must be >= 1, got {repeats}, {batch_size}")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    model.eval()
    totals, loads, models = [], [], []
    with torch.no_grad():
        for _ in range(repeats):
            loading = compute = 0.0
            start = time.perf_counter()
            batches = iter(loader)
            while True:
                t0 = time.perf_counter()
                batch = next(batches, None)  # the DataLoader: read, transform, collate
                t1 = time.perf_counter()
                loading += t1 - t0
                if batch is None:
                    break
                model(batch[0])  # the network
                compute += time.perf_counter() - t1
            totals.append(time.perf_counter() - start)
            loads.append(loading)
            models.append(compute)
    mid = sorted(range(repeats), key=totals.__getitem__)[(repeats - 1) // 2]  # the median pass
    return LoopParts(totals[mid], loads[mid], models[mid], repeats, torch.get_num_threads(),
                     len(dataset))  # type: ignore[arg-type]
