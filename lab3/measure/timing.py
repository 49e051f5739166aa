"""Inference timing done properly: warm-up, repeated measurement, median and interquartile range.

The lab timed its whole test loop once with ``time.time()``, DataLoader and per-image transforms
included. We measure three things separately, all with the same recorded thread count:
(a) batch-1 latency, (b) throughput on the whole normalized test set held as a tensor, and
(c) the lab's end-to-end loop, so the report can say how much of the lab's "inference time" was
data loading rather than the network.
"""
from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sized
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any, cast

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from lab3.base import numerics
from lab3.measure.evaluate import torch_runner


def _benchmark() -> ModuleType:
    """torch.utils.benchmark, imported on first use: it imports torch.utils.cpp_extension, whose CUDA_HOME notice
    is noise on a CPU machine, so that logger is quieted first."""
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils import benchmark

    return benchmark


@dataclass(frozen=True)
class Timing:
    """A measured duration in seconds per call: median and interquartile range over ``runs`` measurements."""

    what: str
    median: float
    iqr: float
    runs: int
    threads: int
    items: int = 1

    @property
    def per_item(self) -> float:
        """Median seconds per item (image)."""
        return self.median / self.items

    @property
    def items_per_second(self) -> float:
        """Throughput in items per second at the median."""
        return self.items / self.median

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for tables and JSON."""
        return asdict(self)


def _threads(threads: int | None) -> int:
    n = numerics.threads() if threads is None else threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    return n


def time_callable(fn: Callable[[], Any], what: str, items: int = 1, warmup: int = 3,
                  min_run_time: float = 1.0, threads: int | None = None) -> Timing:
    """Time ``fn()`` with torch.utils.benchmark after ``warmup`` calls; median and IQR of the blocks."""
    n = _threads(threads)
    if warmup < 0 or min_run_time <= 0:
        raise ValueError(f"warmup must be >= 0 and min_run_time > 0, got {warmup}, {min_run_time}")
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(n)
        for _ in range(warmup):
            fn()
        timer = _benchmark().Timer(stmt="fn()", globals={"fn": fn}, num_threads=n, label=what)
        m = timer.blocked_autorange(min_run_time=min_run_time)
    finally:
        torch.set_num_threads(previous)
    return Timing(what, float(m.median), float(m.iqr), len(m.times), n, items)


def latency(model: nn.Module | Callable[[torch.Tensor], Any], example: torch.Tensor, min_run_time: float = 1.0,
            threads: int | None = None) -> Timing:
    """Batch-1 latency: one image through the model (or any images -> logits callable), repeated."""
    x = example[:1].contiguous()
    forward = torch_runner(model) if isinstance(model, nn.Module) else model
    return time_callable(lambda: forward(x), "batch-1 latency", 1, warmup=10, min_run_time=min_run_time,
                         threads=threads)


def throughput(model: nn.Module | Callable[[torch.Tensor], Any], images: torch.Tensor, batch_size: int = 1000,
               min_run_time: float = 2.0, threads: int | None = None) -> Timing:
    """Time to push all ``images`` (a tensor already in memory) through the model, ``batch_size`` at a time."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    forward = torch_runner(model) if isinstance(model, nn.Module) else model

    def run() -> None:
        for i in range(0, images.shape[0], batch_size):
            forward(images[i:i + batch_size])

    return time_callable(run, f"test set in batches of {batch_size}", int(images.shape[0]), warmup=1,
                         min_run_time=min_run_time, threads=threads)


def lab_loop(model: nn.Module, dataset: Dataset, batch_size: int = 128, repeats: int = 3,
             threads: int | None = None) -> Timing:
    """The lab's measurement: wall time of a full DataLoader pass with per-image transforms, repeated."""
    n = _threads(threads)
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    previous = torch.get_num_threads()
    times = []
    try:
        torch.set_num_threads(n)
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
        model.eval()
        for _ in range(repeats):
            start = time.perf_counter()
            with torch.no_grad():
                for data, _targets in loader:
                    model(data)
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return Timing("lab loop (DataLoader + transforms)", statistics.median(times), _iqr(times), repeats, n,
                  len(cast(Sized, dataset)))  # torch's Dataset stub has no __len__


def data_loading(dataset: Dataset, batch_size: int = 128, repeats: int = 3, threads: int | None = None) -> Timing:
    """The lab loop without the model: what DataLoader and per-image transforms alone cost."""
    return lab_loop(_Nothing(), dataset, batch_size, repeats, threads)


class _Nothing(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x


def _iqr(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[2] - q[0]


