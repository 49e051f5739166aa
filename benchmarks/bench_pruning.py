"""Benchmark pruning: batch-1 latency and test-set throughput of the full and lab-pruned models, and the sweep's
wall time.

Goal: the 0.9-pruned model has at least 30x lower batch-1 latency than the full model.
Usage: python benchmarks/bench_pruning.py
"""
from __future__ import annotations

import time

import torch

from lab3.base import data, numerics, paths
from lab3.base.model import count_parameters, load_model
from lab3.compress import prune
from lab3.measure import evaluate, timing

RATIOS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.92, 0.95]


def main() -> None:
    numerics.pin()
    model = load_model(paths.full_model_path())
    x, y = data.tensors("test")
    start = time.perf_counter()
    pruned = {r: prune.prune_model(model, r) for r in RATIOS}
    accuracy = {r: evaluate.count_correct(m, x, y) / y.numel() for r, m in pruned.items()}
    sweep_s = time.perf_counter() - start
    print(f"threads {torch.get_num_threads()}; pruning sweep (10 ratios, prune + evaluate): {sweep_s:.2f} s")
    print(f"{'ratio':>6} {'params':>11} {'acc':>7} {'batch-1 ms':>11} {'IQR':>7} {'test set ms':>12} {'IQR':>7}")
    results = {}
    for r, m in [(0.0, model), *pruned.items()]:
        lat = timing.latency(m, x, min_run_time=1.0)
        thr = timing.throughput(m, x, min_run_time=1.0)
        results[r] = lat
        acc = accuracy.get(r, evaluate.count_correct(model, x, y) / y.numel() if r == 0 else float("nan"))
        print(f"{r:>6.2f} {count_parameters(m):>11,} {100 * acc:>6.2f}% {1e3 * lat.median:>11.4f} "
              f"{1e3 * lat.iqr:>7.4f} {1e3 * thr.median:>12.2f} {1e3 * thr.iqr:>7.2f}")
    speedup = results[0.0].median / results[0.9].median
    print(f"batch-1 latency, full / 0.9-pruned: {speedup:.1f}x (goal >= 30x)")


if __name__ == "__main__":
    main()
