"""Choose the default training recipe by how closely its model reproduces the course's lab tables.

    python benchmarks/search_course_recipe.py            # every candidate of FAMILY, cached
    python benchmarks/search_course_recipe.py --only 3 5 # some of them

Each candidate is trained on the 60,000 training images, then run through the seed's lab grid (7 q × 5 bit
widths of the lab quantizer, 10 pruning ratios of the lab's prune_model) on the whole test set, as the
seed did. ``lab3.experiments.course.distance`` compares the tables with the course's; the candidate with the smallest
``score`` (the worst criterion over its target) wins, ties broken by the sum of the ratios. The seed's
test-set numbers are used to imitate a model, not to raise an accuracy: no candidate is judged by its own
accuracy except through its distance to the course's 98.59%.

Writes ``artifacts/recipe_search/table.md`` and ``table.json`` (atomically), one row per candidate; with
``--record`` also ``reference/recipe_search.json``, the recorded search the baseline chapter shows.
Not part of ``make report``: it trains every candidate (minutes each on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from lab3.base import data, fileio, numerics, paths
from lab3.base.model import SimpleDNN, read_checkpoint
from lab3.compress.quantize import weights_vector
from lab3.experiments import course, prune_sweep, sweep
from lab3.experiments.train import Recipe, train_full
from lab3.measure import evaluate

PLAIN = Recipe(optimizer="adam", schedule="cosine", lr=2e-3, batch_size=64, epochs=3, weight_decay=0.0,
               max_shift=0)
# The family: plain recipes a course would use (the lab's transform; Adam or SGD; learning rate, epochs,
# batch size, schedule; with and without weight decay and augmentation), within the 10-minute training budget
# on 2 cores (an epoch of batch 64 takes about 2 minutes alone). Numbered in the order they were added; a
# session runs what its time allows, and the table says which were run (where and when).
FAMILY: list[Recipe] = [
    PLAIN,
    replace(PLAIN, lr=4e-3),
    replace(PLAIN, lr=1e-3),
    replace(PLAIN, lr=4e-3, batch_size=128),
    replace(PLAIN, lr=4e-3, weight_decay=1e-5),
    replace(PLAIN, lr=4e-3, max_shift=2),
    replace(PLAIN, optimizer="sgd", lr=0.05),
    replace(PLAIN, schedule="constant", lr=1e-3),
    Recipe(),  # the previous default ('strong': AdamW 0.05, one-cycle, shifts, 6 epochs of batch 256)
    # Added after the first runs: a constant rate grows the weights toward the course's range (its 4-bit column
    # follows the course's from epoch 3 on), and a last epoch at a tenth of it (a StepLR) recovers the accuracy
    # that the constant rate's noise costs. Four epochs of batch 64 fit the 10-minute budget.
    replace(PLAIN, schedule="step", lr=1e-3, epochs=4),
    replace(PLAIN, schedule="step", lr=3e-3, epochs=4),
    replace(PLAIN, schedule="step", lr=2e-3, epochs=4),
    replace(PLAIN, schedule="step", lr=1e-3, epochs=5, decay_epochs=2),
]


def lab_tables(model: SimpleDNN, x: torch.Tensor, y: torch.Tensor) -> dict[str, object]:
    """The seed's measurements of ``model`` with the chapters' own sweeps (and their cache): accuracy, weight
    range, the q × l grid at 2, 4 and 8 bits (12 and 16 repeat 8) and the pruning table, in %."""
    w = weights_vector(model)
    q_grid = sweep.resolve_q_values(model, course.Q_VALUES, "absolute")
    quant = course.quantization_table(sweep.lab_quantization_grid(model, x, y, q_grid, course.DISTANCE_BITS))
    pruning = course.pruning_table(prune_sweep.lab_pruning_rows(model, course.PRUNING_RATIOS, x, y))
    return {"full": 100 * evaluate.count_correct(model, x, y) / y.numel(), "max_abs": float(w.abs().max()),
            "inside_one": float((w.abs() < 1).double().mean()),
            "quantization": {f"{r['q']}/{r['bits']}": r["ours"] for r in quant if r["ours"] is not None},
            "pruning": {str(r["ratio"]): r["ours"] for r in pruning},
            "pruning_parameters": {str(r["ratio"]): r["parameters"] for r in pruning}}


def distance_of(tables: dict) -> course.Distance:
    """``course.distance`` of a ``lab_tables`` record."""
    quant = {(float(k.split("/")[0]), int(k.split("/")[1])): v for k, v in tables["quantization"].items()}
    return course.distance(tables["full"], quant, {float(k): v for k, v in tables["pruning"].items()})


def run(index: int, recipe: Recipe, folder: Path) -> dict:
    """Train candidate ``index`` (or reuse its checkpoint and record) and measure its lab tables.

    The checkpoint is a normal lab3 checkpoint (``lab3.experiments.train.train_full``): copied to
    ``artifacts/full_size_model.pt`` it is reused by ``make`` when its recipe is the default."""
    cached = folder / f"candidate-{index}.tables.json"  # candidate-N.json is train_full's record
    checkpoint = folder / f"candidate-{index}.pt"
    key = {"recipe": asdict(recipe), "numerics": numerics.profile(), "threads": numerics.threads()}
    if cached.is_file():
        record = json.loads(cached.read_text())
        if record.get("key") == key and checkpoint.is_file():
            return record
    meta = train_full(checkpoint, recipe, log=lambda line: print(f"  {index}: {line}", flush=True))
    model, _ = read_checkpoint(checkpoint)
    x, y = data.tensors("test")
    tables = lab_tables(model, x, y)
    record = {"index": index, "key": key, "train_seconds": meta["train_seconds"], "sha256": meta["sha256"],
              "tables": tables}
    fileio.write_json(cached, record)
    return record


def describe(recipe: Recipe) -> str:
    """The fields that vary in the family, as one short label."""
    schedule = recipe.schedule
    if schedule == "step":
        schedule = f"step (last {recipe.decay_epochs} ep × {recipe.gamma:g})"
    extra = f", wd {recipe.weight_decay:g}" if recipe.weight_decay else ""
    extra += f", shifts ±{recipe.max_shift}" if recipe.max_shift else ""
    return f"{recipe.optimizer} lr {recipe.lr:g} bs {recipe.batch_size} {recipe.epochs} ep {schedule}{extra}"


def table(records: list[dict]) -> str:
    """The search table in Markdown, best candidate first."""
    rows = ["| # | recipe | train s | full % | max abs w | inside ±1 | must-match max | quant median | "
            "pruning median | score |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(records, key=lambda r: (r["distance"]["score"], r["distance"]["total"])):
        d = r["distance"]
        rows.append(f"| {r['index']} | {r['label']} | {r['train_seconds']:.0f} | {r['tables']['full']:.2f} | "
                    f"{r['tables']['max_abs']:.2f} | {100 * r['tables']['inside_one']:.3f}% | "
                    f"{d['must_match_max']:.2f} | {d['quant_median']:.2f} | {d['pruning_median']:.2f} | "
                    f"{d['score']:.2f} |")
    return "\n".join(rows) + "\n"


def record_search(records: list[dict]) -> None:
    """Add this run's candidates to ``reference/recipe_search.json``, keeping the earlier runs' other candidates.

    Each row says on which CPU and date it was measured, since a session may run only part of the family."""
    from lab3.measure.peak import read_cpu

    path = paths.PROJECT_ROOT / "reference" / "recipe_search.json"
    old = fileio.read_json(path) if path.is_file() else {"candidates": []}
    cpu, date = f"{read_cpu().vendor} {read_cpu().model}", time.strftime("%Y-%m-%d")
    rows = [{"index": r["index"], "label": r["label"], "recipe": r["key"]["recipe"], "cpu": cpu, "date": date,
             "train_seconds": r["train_seconds"], "full_accuracy": r["tables"]["full"],
             "max_abs": r["tables"]["max_abs"], "inside_one": r["tables"]["inside_one"], **r["distance"]}
            for r in records]
    new = {json.dumps(r["recipe"], sort_keys=True) for r in rows}
    kept = [{"cpu": old.get("cpu"), "date": old.get("date"), **r} for r in old["candidates"]
            if json.dumps(r["recipe"], sort_keys=True) not in new]
    for r in kept:  # an earlier record's recipe lacks fields added since; their defaults reproduce it
        r["recipe"] = {**asdict(Recipe()), **r["recipe"]}
        r["label"] = describe(Recipe(**r["recipe"]))
    fileio.write_json(path, {"cpu": cpu, "date": date, "threads": numerics.threads(), "targets": course.TARGETS,
                             "candidates": sorted(kept + rows, key=lambda r: r["index"])})


def main(argv: list[str] | None = None) -> int:
    """Command line: run the candidates, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=int, nargs="*", help="candidate numbers to run (default: all)")
    parser.add_argument("--record", action="store_true",
                        help="also write reference/recipe_search.json (the table the baseline chapter shows)")
    args = parser.parse_args(argv)
    numerics.pin()
    folder = paths.artifacts_dir() / "recipe_search"
    records = []
    for i, recipe in enumerate(FAMILY):
        if args.only and i not in args.only:
            continue
        record = run(i, recipe, folder)
        d = distance_of(record["tables"])
        record.update(label=describe(recipe), distance={**asdict(d), "score": d.score, "total": d.total})
        records.append(record)
        tables = record["tables"]
        print(f"{i}: {record['label']}: full {tables['full']:.2f}%, max|w| {tables['max_abs']:.2f}, "
              f"score {d.score:.2f} ({', '.join(f'{k} {v:.2f}' for k, v in d.ratios().items())}), "
              f"{record['train_seconds']:.0f} s", flush=True)
    text = table(records)
    fileio.write_bytes(folder / "table.md", text.encode())
    fileio.write_json(folder / "table.json", records)
    if args.record:
        record_search(records)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
