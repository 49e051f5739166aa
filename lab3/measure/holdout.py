"""Two disjoint halves of the test set: every choice is made on the selection half, every accuracy the
report states is measured on the reporting half.

Choosing the best q, bit width, pruning ratio or deployed model by test accuracy and then reporting that
same accuracy flatters the choice (the winner of many noisy comparisons is lucky on average). The model is
trained on all 60,000 training images, so the 10,000 test images are split once, stratified by label and
seeded, into 5,000 for selection and 5,000 for reporting. Sweep points store which test images they got
right (``stats.hits_record``), so both halves come from one evaluation.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lab3.measure import stats

SEED = 20261126  # fixed: the halves are part of the protocol, not a parameter to tune


@dataclass(frozen=True)
class Halves:
    """Index tensors (sorted) of the selection and reporting halves of a labelled set."""

    select: torch.Tensor
    report: torch.Tensor

    @property
    def total(self) -> int:
        """Size of the whole set."""
        return int(self.select.numel() + self.report.numel())


def test_halves(labels: torch.Tensor, seed: int = SEED) -> Halves:
    """Split ``labels``' positions into two halves with the same count of every class (a class of odd count
    gives its extra image to the halves in turn, so the halves differ in size by at most one); numpy's PCG64
    with a fixed seed gives the same split on every machine."""
    y = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    select, report = [], []
    odd = 0
    for cls in np.unique(y):
        where = np.flatnonzero(y == cls)
        where = where[rng.permutation(where.size)]
        take = where.size // 2
        if where.size % 2:
            take += odd % 2 == 0
            odd += 1
        select.append(where[:take])
        report.append(where[take:])
    return Halves(torch.from_numpy(np.sort(np.concatenate(select))), torch.from_numpy(np.sort(np.concatenate(report))))


def split(record: dict[str, Any], halves: Halves) -> dict[str, Any]:
    """A sweep record re-scored on the halves: ``correct``/``total``/``accuracy``/CI become the reporting
    half's; ``select_correct``/``select_total``/``select_accuracy`` are the selection half's."""
    hits = stats.decode_hits(record["hits"], record["total"])
    if hits.numel() != halves.total:
        raise ValueError(f"record covers {hits.numel()} images but the halves cover {halves.total}")
    chosen = int(hits[halves.select].sum())
    out = dict(record)  # keeps the hits, so two split records can still be compared image by image
    out.update(stats.accuracy_record(int(hits[halves.report].sum()), int(halves.report.numel())))
    out.update(select_correct=chosen, select_total=int(halves.select.numel()),
               select_accuracy=chosen / halves.select.numel(), whole_correct=int(hits.sum()))
    return out


def split_rows(rows: Sequence[dict[str, Any]], halves: Halves) -> list[dict[str, Any]]:
    """``split`` applied to every row."""
    return [split(r, halves) for r in rows]


def mcnemar(a: dict[str, Any], b: dict[str, Any], halves: Halves) -> tuple[int, int, float]:
    """McNemar's exact test between two records on the reporting half: (only a right, only b right, p)."""
    hits_a = stats.decode_hits(a["hits"], halves.total)[halves.report]
    hits_b = stats.decode_hits(b["hits"], halves.total)[halves.report]
    return stats.mcnemar_exact(hits_a, hits_b)


def reporting(images: torch.Tensor, labels: torch.Tensor, halves: Halves) -> tuple[torch.Tensor, torch.Tensor]:
    """The reporting half's images and labels (for results that are reported and never chosen among)."""
    return images[halves.report], labels[halves.report]
