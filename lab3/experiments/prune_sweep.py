"""The pruning chapter's sweeps: the lab's ratios with honest timing, and the pruning methods compared.

Accuracy records and timing records are kept apart: accuracies are exact and reproducible, timings vary
from run to run (the report shows both, but only the former are regression-checked).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from lab3.base.cache import ResultCache, cached, tensor_key
from lab3.base.model import SimpleDNN, count_parameters, float32_bytes, model_sha256, saved_bytes
from lab3.base.progress import bar
from lab3.compress.distill import DistillConfig, distill
from lab3.compress.prune import prune_model
from lab3.measure import evaluate, timing
from lab3.measure.stats import hits_record, selected, within

METHODS: dict[str, dict[str, Any]] = {
    "lab: L2 norm": dict(importance="l2", repair=False),
    "activation × outgoing norm": dict(importance="activation", repair=False),
    "L2 norm + repair": dict(importance="l2", repair=True),
    "activation + repair": dict(importance="activation", repair=True),
}


def lab_pruning_rows(model: SimpleDNN, ratios: Sequence[float], images: torch.Tensor, labels: torch.Tensor,
                     cache: ResultCache | None = None, progress: bool | None = None) -> list[dict[str, Any]]:
    """For each ratio, the lab's pruning: layer sizes, parameters, float32 and saved size, accuracy with CI."""
    rows = []
    for ratio in bar(ratios, desc="prune (lab)", progress=progress):
        def compute(ratio=ratio) -> dict[str, Any]:
            pruned = prune_model(model, ratio)
            return {"sizes": pruned.sizes, "parameters": count_parameters(pruned),
                    "float32_bytes": float32_bytes(pruned), "saved_bytes": saved_bytes(pruned),
                    **hits_record(evaluate.hits(pruned, images, labels))}

        parts = {"kind": "prune-lab", "model": model_sha256(model), "ratio": ratio, "data": tensor_key(images, labels)}
        rows.append({"ratio": ratio, **cached(cache, parts, compute)})
    return rows


def timing_rows(model: SimpleDNN, ratios: Sequence[float], images: torch.Tensor, dataset: Dataset,
                repeats: int = 3, min_run_time: float = 1.0, cache: ResultCache | None = None,
                progress: bool | None = None) -> list[dict[str, Any]]:
    """For the full model (ratio 0) and each lab-pruned model: batch-1 latency, test-set throughput, lab loop."""
    rows = []
    for ratio in bar([0.0, *ratios], desc="timing", progress=progress):
        def compute(ratio=ratio) -> dict[str, Any]:
            m = prune_model(model, ratio) if ratio else model
            lat = timing.latency(m, images, min_run_time=min_run_time)
            thr = timing.throughput(m, images, min_run_time=min_run_time)
            loop = timing.lab_loop(m, dataset, repeats=repeats)
            return {"latency_s": lat.median, "latency_iqr_s": lat.iqr, "throughput_s": thr.median,
                    "throughput_iqr_s": thr.iqr, "lab_loop_s": loop.median, "lab_loop_iqr_s": loop.iqr,
                    "threads": lat.threads}

        parts = {"kind": "prune-timing", "model": model_sha256(model), "ratio": ratio, "repeats": repeats,
                 "min_run_time": min_run_time}
        rows.append({"ratio": ratio, **cached(cache, parts, compute)})
    return rows


def method_rows(model: SimpleDNN, ratios: Sequence[float], images: torch.Tensor, labels: torch.Tensor,
                calibration: torch.Tensor, ridge: float, cache: ResultCache | None = None,
                progress: bool | None = None) -> list[dict[str, Any]]:
    """Accuracy of every pruning method at every ratio (same exact lab rule for the neuron counts)."""
    rows = []
    calib_key = tensor_key(calibration)
    todo = [(name, ratio) for name in METHODS for ratio in ratios]
    for name, ratio in bar(todo, desc="prune methods", progress=progress):
        def compute(name=name, ratio=ratio) -> dict[str, Any]:
            pruned = prune_model(model, ratio, calibration=calibration, ridge=ridge, **METHODS[name])
            return {"parameters": count_parameters(pruned),
                    **hits_record(evaluate.hits(pruned, images, labels))}

        parts = {"kind": "prune-method", "model": model_sha256(model), "ratio": ratio, "method": METHODS[name],
                 "ridge": ridge, "calibration": calib_key, "data": tensor_key(images, labels)}
        rows.append({"method": name, "ratio": ratio, **cached(cache, parts, compute)})
    return rows


def finetune_rows(model: SimpleDNN, ratios: Sequence[float], images: torch.Tensor, labels: torch.Tensor,
                  calibration: torch.Tensor, ridge: float, train: tuple[torch.Tensor, torch.Tensor],
                  teacher: torch.Tensor, config: DistillConfig, cache: ResultCache | None = None,
                  progress: bool | None = None) -> list[dict[str, Any]]:
    """Activation + repair, then a short distillation from the full model: accuracy and fine-tune seconds."""
    rows = []
    for ratio in bar(ratios, desc="fine-tune", progress=progress):
        def compute(ratio=ratio) -> dict[str, Any]:
            pruned = prune_model(model, ratio, importance="activation", repair=True, calibration=calibration,
                                 ridge=ridge)
            tuned, seconds = distill(pruned, train[0], train[1], teacher, config)
            return {"parameters": count_parameters(tuned), "finetune_seconds": seconds,
                    **hits_record(evaluate.hits(tuned, images, labels))}

        parts = {"kind": "prune-finetune", "model": model_sha256(model), "ratio": ratio, "ridge": ridge,
                 "config": config.__dict__, "calibration": tensor_key(calibration),
                 "data": tensor_key(images, labels)}
        rows.append({"method": "activation + repair + fine-tune", "ratio": ratio,
                     **cached(cache, parts, compute)})
    return rows


def smallest_within(rows: Sequence[dict[str, Any]], full_accuracy: float, tolerance_pp: float) -> dict[str, Any] | None:
    """The row with the fewest parameters whose accuracy is within ``tolerance_pp`` of the full model."""
    ok = within(rows, full_accuracy, tolerance_pp)
    return min(ok, key=lambda r: (r["parameters"], -selected(r))) if ok else None
