"""The baseline chapter's machinery: its sentences, the recipe-search and halves tables, its results record."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab3.base import fileio, paths
from lab3.base.model import SimpleDNN, count_parameters, model_sha256
from lab3.book import report, results
from lab3.measure import holdout, stats

RECIPE_SEARCH = paths.PROJECT_ROOT / "reference" / "recipe_search.json"


def record_check(meta: dict[str, Any], correct: int) -> str:
    """The clause comparing the count with the training record (none for a course checkpoint, which has none)."""
    if "test_correct" not in meta:
        return ""
    if meta["test_correct"] == correct:
        return ", the same count as recorded at training time"
    return f", **not** the {meta['test_correct']:,} recorded at training time"


def accuracy_texts(parameters: int, widths: list[int], correct: int, n: int, course_accuracy: float,
                   meta: dict[str, Any]) -> dict[str, str]:
    """The glued values of the accuracy paragraph: the model, its count and interval, the course's number."""
    return {
        "b-params": f"{parameters:,}",
        "b-widths": "-".join(map(str, widths)),
        "b-correct": f"{correct:,} of the {n:,}",
        "b-acc": stats.format_accuracy(correct, n) + " pp",
        "b-course": report.pct(course_accuracy),
        "b-diff": report.pp(correct / n - course_accuracy),
        "b-hw": f"±{stats.half_width_pp(correct, n):.2f} pp",
        "b-record": record_check(meta, correct),
    }


def glue_accuracy(model: SimpleDNN, meta: dict[str, Any], correct: int, n: int, course_accuracy: float) -> None:
    """Glue the accuracy paragraph's values (``accuracy_texts``) for the Markdown."""
    for name, text in accuracy_texts(count_parameters(model), list(model.sizes), correct, n, course_accuracy,
                                     meta).items():
        report.glue(name, text)


def recipe_sentence(meta: dict[str, Any]) -> str:
    """How the checkpoint was trained, from lab3's training record; a course checkpoint carries none."""
    r = meta.get("recipe")
    if not r:
        return f"This checkpoint ({meta['source']}) carries no training record: it was not trained by lab3."
    losses = ", ".join(f"{e['train_loss']:.3f}" for e in meta["epochs"])
    shifts = f"random shifts up to {r['max_shift']} pixels" if r["max_shift"] else "no shifted images"
    return (f"{r['optimizer'].capitalize()} with learning rate {r['lr']:g} {schedule_text(r)}, batch "
            f"{r['batch_size']}, {r['epochs']} epochs over the {r['train_size']:,} training images, weight decay "
            f"{r['weight_decay']:g}, {shifts}, "
            f"seed {r['seed']}; the mean training loss fell over the epochs as {losses}.")


def schedule_text(recipe: dict[str, Any]) -> str:
    """The learning-rate schedule in words; a step schedule says when and by how much the rate drops."""
    if recipe["schedule"] != "step":
        return f"on a {recipe['schedule']} schedule"
    last = recipe.get("decay_epochs", 1)
    return (f"for {recipe['epochs'] - last} epochs, then {recipe.get('gamma', 0.1):g} times that for the last "
            + ("epoch" if last == 1 else f"{last} epochs") + " (a step schedule)")


SEARCH_COLUMNS = [("label", "recipe", ""), ("full_accuracy", "accuracy (%)", ".2f"), ("max_abs", "max abs(w)", ".2f"),
                  ("must_match_max", "worst seed point (pp)", ".2f"), ("quant_median", "q×l median (pp)", ".2f"),
                  ("pruning_median", "pruning median (pp)", ".2f"), ("score", "score", ".2f")]


def search_rows(search: dict[str, Any]) -> list[dict[str, Any]]:
    """The recipe search's candidates, best first: lowest score, then lowest total."""
    return sorted(search["candidates"], key=lambda r: (r["score"], r["total"]))


def search_caption(search: dict[str, Any]) -> str:
    """The recipe-search table's caption: when and where the search ran."""
    dates: dict[str, set[str]] = {}  # the runs' dates by CPU
    for r in search["candidates"]:
        dates.setdefault(r.get("cpu") or search["cpu"], set()).add(r.get("date") or search["date"])
    threads = search["threads"]
    where = "; ".join(f"{' and '.join(sorted(d))} ({cpu}, {threads} threads)" for cpu, d in sorted(dates.items()))
    return (f"The recipe search as recorded on {where}, "
            "best first: the candidates of the family run so far; differences to the course's "
            "numbers on the whole test set (worst seed point: the largest at the seed's "
            "points at or above 95%).")


def show_search(path: Path = RECIPE_SEARCH) -> None:
    """Show the recorded recipe search (nothing when the project holds no record of it)."""
    if path.is_file():
        search = fileio.read_json(path)
        report.show_table(search_rows(search), SEARCH_COLUMNS, caption=search_caption(search), name="tbl-b-search")


def halves_rows(full: dict[str, Any], correct: int, n: int) -> list[dict[str, Any]]:
    """The halves table's rows: each half's size and this model's accuracy on it, then the whole test set."""
    return [{"half": "selection (choices)", "n": full["select_total"],
             "acc": stats.format_accuracy(full["select_correct"], full["select_total"]) + " pp"},
            {"half": "reporting (stated accuracies)", "n": full["total"],
             "acc": stats.format_accuracy(full["correct"], full["total"]) + " pp"},
            {"half": "whole test set", "n": n, "acc": stats.format_accuracy(correct, n) + " pp"}]


def show_halves(predicted: torch.Tensor, y_test: torch.Tensor,
                correct: int) -> tuple[holdout.Halves, dict[str, Any]]:
    """Split the test set, show the model's accuracy on each half, glue the selection half's interval."""
    halves = holdout.test_halves(y_test)
    full = holdout.split(stats.hits_record(predicted == y_test), halves)
    report.show_table(halves_rows(full, correct, y_test.numel()),
                      [("half", "images", ""), ("n", "count", ","), ("acc", "accuracy of this model", "")],
                      caption="The test set's two halves and this model's accuracy on each.", name="tbl-b-halves")
    report.glue("b-half-hw", f"±{stats.half_width_pp(full['select_correct'], full['select_total']):.2f} pp")
    return halves, full


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The 10 × 10 count of (true digit, predicted digit)."""
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    return confusion


def per_class(confusion: np.ndarray) -> list[dict[str, Any]]:
    """Per digit: its test images, its accuracy and the digit it is most often mistaken for."""
    return [{"digit": d, "n": int(confusion[d].sum()), "acc": confusion[d, d] / confusion[d].sum(),
             "confused": int(np.argsort(confusion[d])[-2])} for d in range(10)]


def record(model: SimpleDNN, meta: dict[str, Any], parameters: dict[str, Any], predicted: torch.Tensor,
           y_test: torch.Tensor, halves: holdout.Halves, full: dict[str, Any]) -> Path:
    """Write the chapter's results (book/baseline.results.json) under their stable names; return the path."""
    correct = int((predicted == y_test).sum())
    confusion = confusion_matrix(y_test.numpy(), predicted.numpy())
    R = results.Results("baseline", model_sha256(model), parameters)
    R.add("parameters", count_parameters(model), "exact", key=True)
    R.add("layer_widths", list(model.sizes), "exact")
    R.accuracy("test_accuracy", {"correct": correct, "total": y_test.numel()}, key=True)
    R.accuracy("selection_half/accuracy", {"correct": full["select_correct"], "total": full["select_total"]})
    R.accuracy("reporting_half/accuracy", full)
    R.add("halves/sizes", [full["select_total"], full["total"]], "exact")
    R.add("halves/digit_counts", [[int((y_test[h] == d).sum()) for d in range(10)]
                                  for h in (halves.select, halves.report)], "exact")
    for r in per_class(confusion):
        R.add(f"digit_{r['digit']}/test_images", r["n"], "exact")
        R.accuracy(f"digit_{r['digit']}/accuracy", {"correct": int(confusion[r["digit"], r["digit"]]), "total": r["n"]})
        R.add(f"digit_{r['digit']}/most_confused_with", r["confused"], "info")
    if meta.get("recipe"):
        R.add("training/seconds", meta["train_seconds"], "time")
        for e in meta["epochs"]:
            R.add(f"training/epoch_{e['epoch']}/train_loss", e["train_loss"], "model_stat")
    return R.save()
