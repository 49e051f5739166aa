"""Benchmark the quantization sweep: our sweep vs bare forward passes, and vs the lab's way of running it.

Prints: the sweep's wall time, (bare forward-pass time) x (points), their ratio (goal <= 1.15), and the same
grid run the lab's way in the same run (reload the checkpoint from disk per point, DataLoader with
per-image transforms, batch 128), with our speed-up over it (goal >= 1.5).
Usage: python benchmarks/bench_quantization.py [--q Q ...] [--bits B ...]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader

from lab3.base import data, numerics, paths
from lab3.base.cache import ResultCache
from lab3.base.model import load_model
from lab3.compress.quantize import quantize_model
from lab3.experiments import sweep
from lab3.measure import evaluate


def main() -> None:
    numerics.pin()
    parser = argparse.ArgumentParser()
    parser.add_argument("--q", type=float, nargs="+", default=[0.5, 0.75, 1.0], help="q as multiples of max|w|")
    parser.add_argument("--bits", type=int, nargs="+", default=[2, 4, 8])
    args = parser.parse_args()
    path = paths.full_model_path()
    model = load_model(path)
    x, y = data.tensors("test")
    grid = sweep.resolve_q_values(model, args.q, "max_abs")
    points = len(grid) * len(args.bits)
    print(f"grid: {len(grid)} q x {len(args.bits)} bits = {points} points; threads {torch.get_num_threads()}")

    evaluate.count_correct(model, x, y)  # burn-in
    bare = []
    for _ in range(3):
        start = time.perf_counter()
        evaluate.count_correct(model, x, y)
        bare.append(time.perf_counter() - start)
    bare_s = statistics.median(bare)

    start = time.perf_counter()
    ours = sweep.lab_quantization_grid(model, x, y, grid, args.bits, cache=ResultCache(active=False), progress=False)
    ours_s = time.perf_counter() - start

    dataset = data.load_mnist("test")
    start = time.perf_counter()
    labs = []
    for entry in grid:
        for bits in args.bits:
            fresh = load_model(path)  # the lab reloads full_size_model.pt for every point
            qm = quantize_model(fresh, entry["q"], bits)
            correct = total = 0
            with torch.no_grad():
                for images, targets in DataLoader(dataset, batch_size=128, shuffle=False):
                    correct += int((qm(images).argmax(1) == targets).sum())
                    total += targets.numel()
            labs.append(correct)
    lab_s = time.perf_counter() - start
    assert labs == [r["correct"] for r in ours], "the two ways disagree"

    print(f"bare forward pass of the test set (median of 3): {bare_s:.3f} s")
    print(f"our sweep: {ours_s:.2f} s for {points} points; bare x points = {bare_s * points:.2f} s; "
          f"ratio {ours_s / (bare_s * points):.3f} (goal <= 1.15)")
    print(f"the lab's way: {lab_s:.2f} s; ours is {lab_s / ours_s:.2f}x faster (goal >= 1.5); same accuracies: True")


if __name__ == "__main__":
    main()
