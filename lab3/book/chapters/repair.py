"""The repair chapter's machinery: the methods' runs and table, the sentences that read them, its results record.

``notebooks/repair.ipynb`` keeps its prose in Markdown and calls these functions for the comparison of pruning
methods at the lab's sizes (with and without a short distillation) and for ``book/repair.results.json``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from lab3.base import data
from lab3.base.cache import ResultCache
from lab3.base.model import SimpleDNN, read_checkpoint
from lab3.book import report, results
from lab3.compress import distill
from lab3.experiments import prune_sweep
from lab3.measure import evaluate, holdout, stats

Row = dict[str, Any]
LAB = "lab: L2 norm"
ACTIVATION = "activation × outgoing norm"
BEST_FAST = "activation + repair"  # the best method without retraining
FINETUNED = "activation + repair + fine-tune"


def full_model(checkpoint: Path) -> tuple[SimpleDNN, torch.Tensor, torch.Tensor, holdout.Halves, Row]:
    """The trained model, the test images and labels, their halves and the model's accuracy record on them."""
    model, _ = read_checkpoint(checkpoint)
    x_test, y_test = data.tensors("test")
    halves = holdout.test_halves(y_test)
    full = holdout.split(stats.hits_record(evaluate.hits(model, x_test, y_test)), halves)
    return model, x_test, y_test, halves, full


def method_rows(model: SimpleDNN, x_test: torch.Tensor, y_test: torch.Tensor, halves: holdout.Halves,
                compare_ratios: Sequence[float], calibration_images: int, seed: int, ridge: float,
                finetune_epochs: int, finetune_ratios: Sequence[float]) -> tuple[list[Row], list[Row]]:
    """Every method at every compared ratio, and the distilled models (none without epochs or ratios)."""
    calib = data.calibration_images(calibration_images, seed)
    cache = ResultCache(modules=("experiments.prune_sweep",))  # finished points on disk, keyed by their code
    methods = holdout.split_rows(prune_sweep.method_rows(model, list(compare_ratios), x_test, y_test, calib, ridge,
                                                         cache),
                                 halves)
    tuned: list[Row] = []
    if finetune_epochs and finetune_ratios:
        train_x, train_y = data.tensors("train")
        teacher = distill.teacher_logits(model, train_x)
        tuned = holdout.split_rows(prune_sweep.finetune_rows(
            model, list(finetune_ratios), x_test, y_test, calib, ridge, (train_x, train_y), teacher,
            distill.DistillConfig(epochs=finetune_epochs, seed=seed), cache), halves)
    return methods, tuned


def methods_table_rows(rows: Sequence[Row]) -> list[Row]:
    """One row per method, in order of first appearance, with its accuracy under each ratio."""
    names = list(dict.fromkeys(r["method"] for r in rows))
    return [{"method": n, **{r["ratio"]: r["accuracy"] for r in rows if r["method"] == n}} for n in names]


def show_methods(rows: Sequence[Row], compare_ratios: Sequence[float]) -> None:
    """The methods (rows) against the ratios (columns): accuracy on the reporting half, '–' where not run."""
    columns: list[tuple[Any, str, Any]] = [("method", "method \\ ratio", "")]
    columns += [(ratio, f"{ratio:g}", lambda v: report.pct(v) if v != "" else "–") for ratio in compare_ratios]
    report.show_table(methods_table_rows(rows), columns,
                      caption="Pruning methods at the same sizes (columns: pruning ratio): accuracy on the reporting "
                              "half.", name="tbl-p-methods")


def gap_lines(rows: Sequence[Row], full_accuracy: float, ratios: Sequence[float], finetune_epochs: int,
              spread_pp: float) -> list[str]:
    """The gap list: the lab's rule against the repair (and the distillation) at ``ratios``, and whether activation
    importance alone keeps worse neurons than the L2 rule by more than the spread (not noise)."""
    by = {(r["method"], r["ratio"]): r for r in rows}
    lines = []
    for ratio in ratios:
        lab_r, rep = by[(LAB, ratio)], by[(BEST_FAST, ratio)]
        line = (f"- ratio {ratio}: lab {report.pct(lab_r['accuracy'])} → {BEST_FAST} {report.acc_ci(rep)} "
                f"({report.pp(rep['accuracy'] - full_accuracy)} vs the full model)")
        if (FINETUNED, ratio) in by:
            ft = by[(FINETUNED, ratio)]
            line += (f"; after a {finetune_epochs}-epoch distillation: {report.acc_ci(ft)} "
                     f"({report.pp(ft['accuracy'] - full_accuracy)})")
        lines.append(line + ".")
    worse = [r["ratio"] for r in rows if r["method"] == ACTIVATION
             and 100 * (by[(LAB, r["ratio"])]["accuracy"] - r["accuracy"]) > spread_pp]
    if worse:
        lines.append(f"- Activation importance alone is no fix: at ratio {', '.join(f'{x:g}' for x in worse)} it keeps "
                     f"worse neurons than the lab's L2 rule. The repair is what recovers the accuracy.")
    return lines


def show_gap(methods: Sequence[Row], tuned: Sequence[Row], full: Row, halves: holdout.Halves,
             compare_ratios: Sequence[float], finetune_ratios: Sequence[float], finetune_epochs: int) -> None:
    """The 'closing the gap' list at the distilled ratios (the 'worse' check reads the reporting half's spread)."""
    ratios = [r for r in finetune_ratios if r in compare_ratios]
    spread = results.spread_pp(halves.report.numel())  # beyond the spread, not noise
    lines = gap_lines([*methods, *tuned], full["accuracy"], ratios, finetune_epochs, spread)
    report.markdown("**Closing the gap** at the high ratios, first without retraining, then with a short "
                    "distillation (accuracies on the reporting half):\n\n" + "\n".join(lines))


def better_text(better: Row | None, better_ft: Row | None, full_parameters: int) -> str:
    """What the rule picks with the improved methods, without and then with the distillation."""
    lines = []
    if better:
        lines.append(f"Without retraining, the same rule with the improved methods picks ratio **{better['ratio']}** "
                     f"({better['method']}): {better['parameters']:,} parameters, "
                     f"{full_parameters / better['parameters']:.0f}× fewer than the full model, at "
                     f"{report.acc_ci(better)} on the reporting half.")
    if better_ft and (not better or better_ft["parameters"] < better["parameters"]):
        lines.append(f"With the short distillation it moves to ratio **{better_ft['ratio']}**: "
                     f"{better_ft['parameters']:,} parameters at {report.acc_ci(better_ft)}.")
    return " ".join(lines) + " The deployment chapter combines pruning with quantization."


def without_retraining(methods: Sequence[Row]) -> list[Row]:
    """The improved methods' rows (the lab's rule left out), none of them retrained."""
    return [r for r in methods if r["method"] != LAB]


def show_better(methods: Sequence[Row], tuned: Sequence[Row], full: Row, tolerance_pp: float,
                full_parameters: int) -> tuple[Row | None, Row | None]:
    """Apply the pruning chapter's rule (selection half) to the improved methods and to the distilled models; show
    the sentence and return both picks."""
    better = prune_sweep.smallest_within(without_retraining(methods), full["select_accuracy"], tolerance_pp)
    better_ft = prune_sweep.smallest_within(tuned, full["select_accuracy"], tolerance_pp)
    report.markdown(better_text(better, better_ft, full_parameters))
    return better, better_ft


def record(model_sha256: str, parameters: dict[str, Any], full: Row, methods: Sequence[Row], tuned: Sequence[Row],
           better: Row | None, better_ft: Row | None, halves: holdout.Halves, tolerance_pp: float) -> Path:
    """Write book/repair.results.json: every method's accuracy and size, the distillation times, the two picks."""
    R = results.Results("repair", model_sha256, parameters)
    spread = results.spread_pp(halves.select.numel())  # the choices read the selection half
    full_sel = full["select_accuracy"]
    R.accuracy("full/accuracy", full)
    for r in [*methods, *tuned]:
        R.accuracy(f"methods/{r['method']}/{r['ratio']:g}/accuracy", r,
                   key=r["ratio"] == 0.9 and r["method"] == BEST_FAST)
        R.add(f"methods/{r['method']}/{r['ratio']:g}/parameters", r["parameters"], "exact")
    for r in tuned:
        R.add(f"finetune/{r['ratio']:g}/seconds", r["finetune_seconds"], "time")
    improved = [{**r, "label": f"{r['ratio']:g}, {r['method']}"} for r in without_retraining(methods)]
    R.choice("improved/recommended", f"{better['ratio']:g}, {better['method']}" if better else None,
             results.tied_rule(improved, full_sel, tolerance_pp, spread, "parameters", "label"), key=True)
    R.add("improved/recommended/fields", {k: better[k] for k in ("ratio", "method")} if better else None, "info")
    R.choice("finetuned/recommended", better_ft["ratio"] if better_ft else None,
             results.tied_rule(tuned, full_sel, tolerance_pp, spread, "parameters", "ratio"))
    return R.save()
