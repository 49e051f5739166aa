"""Honest statistics for accuracies measured on a finite test set.

An accuracy on 10,000 test images is an estimate: near 98.5% its 95% Wilson interval is about
±0.24 percentage points. Two models scored on the same images are compared with McNemar's exact test
on the images where they disagree, which is far more sensitive than overlapping intervals.
"""
from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

Z95 = 1.959963984540054


def wilson_interval(correct: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``correct / total`` (95% by default)."""
    if total <= 0 or not 0 <= correct <= total:
        raise ValueError(f"need 0 <= correct <= total and total > 0, got {correct}/{total}")
    p = correct / total
    denom = 1 + z * z / total
    center = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    lo = 0.0 if correct == 0 else max(0.0, center - half)
    hi = 1.0 if correct == total else min(1.0, center + half)  # exact at the edges, not 1 - 1e-16
    return lo, hi


def half_width_pp(correct: int, total: int) -> float:
    """Half the width of the 95% Wilson interval, in percentage points."""
    lo, hi = wilson_interval(correct, total)
    return 50 * (hi - lo)


def accuracy_record(correct: int, total: int) -> dict[str, float | int]:
    """Correct count, accuracy and its 95% Wilson interval as a plain dict (what every sweep point stores)."""
    lo, hi = wilson_interval(correct, total)
    return {"correct": int(correct), "total": int(total), "accuracy": correct / total, "ci_low": lo, "ci_high": hi}


def encode_hits(hits: torch.Tensor) -> str:
    """Which images were classified correctly, as base64 of the packed bits (1,250 bytes for 10,000 images)."""
    return base64.b64encode(np.packbits(hits.bool().numpy()).tobytes()).decode("ascii")


def decode_hits(text: str, total: int) -> torch.Tensor:
    """The boolean vector ``encode_hits`` stored."""
    bits = np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:total]
    if bits.size != total:
        raise ValueError(f"stored hits cover {bits.size} images, expected {total}")
    return torch.from_numpy(bits.astype(bool))


def hits_record(hits: torch.Tensor) -> dict[str, Any]:
    """``accuracy_record`` of a per-image correctness vector, keeping the vector (so any subset can be scored)."""
    return {**accuracy_record(int(hits.sum()), int(hits.numel())), "hits": encode_hits(hits)}


def selected(row: dict[str, Any]) -> float:
    """The accuracy choices are made on: the selection half's once a row is split (``holdout.split``)."""
    return row["select_accuracy"] if "select_accuracy" in row else row["accuracy"]


def within(rows: Sequence[dict[str, Any]], full_accuracy: float, tolerance_pp: float) -> list[dict[str, Any]]:
    """Rows whose (selection) accuracy is at most ``tolerance_pp`` percentage points below ``full_accuracy``."""
    if not (isinstance(tolerance_pp, (int, float)) and math.isfinite(tolerance_pp) and tolerance_pp >= 0):
        raise ValueError(f"tolerance_pp must be a finite number >= 0, got {tolerance_pp!r}")
    return [r for r in rows if 100 * (full_accuracy - selected(r)) <= tolerance_pp + 1e-12]


def mcnemar_exact(a_correct: torch.Tensor, b_correct: torch.Tensor) -> tuple[int, int, float]:
    """McNemar's exact two-sided test: (only A right, only B right, p-value) over paired per-image results."""
    if a_correct.shape != b_correct.shape:
        raise ValueError(f"paired results must have the same shape, got {tuple(a_correct.shape)} and "
                         f"{tuple(b_correct.shape)}")
    a, b = a_correct.bool(), b_correct.bool()
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return only_a, only_b, 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return only_a, only_b, min(1.0, 2 * tail)


def format_accuracy(correct: int, total: int) -> str:
    """'98.62% ± 0.23' style string: accuracy and the 95% half-width in percentage points."""
    return f"{100 * correct / total:.2f}% ± {half_width_pp(correct, total):.2f}"
