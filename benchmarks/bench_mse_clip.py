"""Benchmark the MSE clipping search (``quantize._mse_clip``) by batch size, on the layer shapes it meets.

Quantization-aware tuning chooses every layer's per-channel MSE grid at every step, so for the deployment
chapter's small students this search costs more than the student's own forward and backward pass. The
candidates are evaluated ``MSE_BLOCK`` weights x candidates at a time; ``MSE_BLOCK = 1`` is the one-at-a-time
search. Every setting gives the same thresholds bit for bit (tests/test_quantize.py); this prints the time.
Usage: python benchmarks/bench_mse_clip.py [--repeats N]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from lab3.base import numerics
from lab3.compress import quantize

SHAPES = [(64, 398), (127, 64), (252, 127), (10, 252),  # a ratio-0.96 student with pixels dropped (fc1..fc4)
          (158, 784), (315, 158), (629, 315), (10, 629),  # a ratio-0.9 student
          (1568, 784)]  # the full model's fc1
BLOCKS = [1, 1 << 15, 1 << 16, 1 << 17, 1 << 18, 1 << 20]


def time_ms(w: torch.Tensor, repeats: int) -> float:
    """Median milliseconds of one 4-bit per-channel search on the lab's levels."""
    qmin, qmax = quantize.code_range(4, "lab")
    quantize._mse_clip(w, "channel", qmin, qmax, 10)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        quantize._mse_clip(w, "channel", qmin, qmax, 10)
        runs.append(time.perf_counter() - start)
    return 1e3 * statistics.median(runs)


def main() -> None:
    numerics.pin()
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=41)
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(0)
    weights = [0.05 * torch.randn(*s, generator=gen) for s in SHAPES]
    default = quantize.MSE_BLOCK
    print(f"threads {torch.get_num_threads()}; median ms of one search; default MSE_BLOCK = {default}")
    print("MSE_BLOCK  " + "  ".join(f"{r}x{c}".rjust(9) for r, c in SHAPES) + "  first 4 (one QAT step)")
    try:
        for block in BLOCKS:
            quantize.MSE_BLOCK = block
            ms = [time_ms(w, args.repeats) for w in weights]
            print(f"{block:>9}  " + "  ".join(f"{m:9.2f}" for m in ms) + f"  {sum(ms[:4]):9.2f}")
    finally:
        quantize.MSE_BLOCK = default


if __name__ == "__main__":
    main()
