"""The quantization chapter's machinery: its tables, the sentences that read the sweep, its results record."""
from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lab3.base.model import count_parameters, model_sha256
from lab3.book import report, results
from lab3.compress import quantize
from lab3.experiments import course, sweep
from lab3.measure import holdout, stats

WEIGHT_COLUMNS = [("layer", "layer", ""), ("n", "weights", ","), ("std", "std", ".4f"),
                  ("max", "max abs(w)", ".4f"), ("p999", "99.9th pct of abs(w)", ".4f"),
                  ("p9999", "99.99th pct of abs(w)", ".4f")]


def layer_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Each linear layer's weight matrix by name (fc1..fc4), detached."""
    return {name: layer.weight.detach() for name, layer in quantize.linear_layers(model)}


def weight_rows(layers: Mapping[str, torch.Tensor], weights: torch.Tensor) -> list[dict[str, Any]]:
    """Per layer and for all weights together: count, std, largest |w| and its 99.9th/99.99th percentiles."""
    rows = []
    for name, w in [*layers.items(), ("all", weights)]:
        a = w.abs().flatten()
        rows.append({"layer": name, "n": a.numel(), "std": float(w.std()), "max": float(a.max()),
                     "p999": sweep.quantile(a, 0.999), "p9999": sweep.quantile(a, 0.9999)})
    return rows


def show_weights(model: nn.Module, weights: torch.Tensor,
                 full: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor], float, float]:
    """Show the weights table, glue the paragraph's numbers; return (rows, layer weights, max |w|, share in ±1)."""
    layers = layer_weights(model)
    max_abs = float(weights.abs().max())
    rows = weight_rows(layers, weights)
    inside_one = float((weights.abs() < 1).double().mean())
    report.glue("q-full", report.acc_ci(full))
    report.glue("q-max", f"{max_abs:.3f}")
    report.glue("q-p999", f"{rows[-1]['p999']:.3f}")
    report.glue("q-inside", report.pct(inside_one, 3))
    report.glue("q-course-inside", report.pct(course.INSIDE_ONE, 3))  # the seed's number
    report.glue("q-n", f"{weights.numel():,}")
    report.show_table(rows, WEIGHT_COLUMNS, caption="The weights of each layer: count, spread and the largest "
                      "magnitudes.", name="tbl-q-weights")
    return rows, layers, max_abs, inside_one


def course_rows(course_q: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The course's table pivoted to one row per q: 'course / this run' per bit width ('–' where not run)."""
    by_q: dict[float, dict[Any, Any]] = {}
    for r in course_q:
        ours = "–" if r["ours"] is None else f"{r['ours']:.2f}"
        by_q.setdefault(r["q"], {"q": r["q"]})[r["bits"]] = f"{r['seed']:.2f} / {ours}"
    return list(by_q.values())


def show_course_table(lab_grid: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Show the course's q × l table beside this run's; return its rows (``course.quantization_table``)."""
    course_q = course.quantization_table([r for r in lab_grid if r["bits"] in course.BITS])
    columns: list[tuple[Any, str, str]] = [("q", "q", "g")] + [(b, f"{b} bits", "") for b in course.BITS]
    report.show_table(course_rows(course_q), columns,
                      caption="The lab's q × l grid: the course's accuracy / this run's (%, whole test set).",
                      name="tbl-q-course")
    return course_q


def course_distance_texts(course_q: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Median and largest |difference| to the course at its 2, 4 and 8 bits, and how many points ('–': none)."""
    diffs = sorted(abs(r["diff"]) for r in course_q if r["diff"] is not None and r["bits"] in course.DISTANCE_BITS)
    return {"q-course-median": f"{statistics.median(diffs):.1f}" if diffs else "–",
            "q-course-max": f"{max(diffs):.1f}" if diffs else "–",
            "q-course-points": f"{len(diffs)}"}


def glue_course(full: dict[str, Any], halves: holdout.Halves, inside_one: float,
                course_q: list[dict[str, Any]]) -> list[course.Statement]:
    """Glue the distance to the course and the lab's statements checked on this model; return the statements."""
    said = course.statements(100 * full["whole_correct"] / halves.total, inside_one, course_q, [])
    for name, text in course_distance_texts(course_q).items():
        report.glue(name, text)
    report.glue("q-statements", course.statement_list(said))
    return said


def best_rows(best: Mapping[int, dict[str, Any]], full_acc: float) -> list[dict[str, Any]]:
    """The best-q table's rows: per bit width its q, both halves' accuracy and the loss to full precision."""
    return [{"bits": b, **r, "sel": report.pct(r["select_accuracy"]), "acc": report.acc_ci(r),
             "loss": r["accuracy"] - full_acc} for b, r in best.items()]


def show_best(best: Mapping[int, dict[str, Any]], full_acc: float) -> None:
    """Show the best q for each bit width (chosen on the selection half, reported on the other)."""
    report.show_table(best_rows(best, full_acc),
                      [("bits", "bits", ""), ("q", "best q", ".4f"), ("q_label", "q is", ""),
                       ("sel", "selection half", ""), ("acc", "reporting half [95% CI]", ""),
                       ("loss", "vs full precision", report.pp)],
                      caption="The best q for each bit width, chosen on the selection half and reported on the "
                              "reporting half.",
                      name="tbl-q-best")


def fewest_bits(grid: Sequence[dict[str, Any]], full_sel: float, tolerance_pp: float) -> dict[str, Any] | None:
    """The grid point with the fewest bits within ``tolerance_pp`` of full precision on the selection half (ties:
    the more accurate); None when none qualifies."""
    ok = stats.within(grid, full_sel, tolerance_pp)
    return min(ok, key=lambda r: (r["bits"], -r["select_accuracy"])) if ok else None


def fewest_sentence(fewest: dict[str, Any] | None, full_acc: float, test: tuple[int, int, float] | None,
                    tolerance_pp: float) -> str:
    """The fewest bits within tolerance, its reporting-half accuracy and McNemar's ``test`` against full
    precision (only full right, only quantized right, p); or that no grid point qualifies."""
    if fewest is None or test is None:
        return f"none: no grid point comes within {tolerance_pp} pp of full precision"
    only_full, only_q, p = test
    return (f"**{fewest['bits']} bits** at q = {fewest['q']:.4f} ({fewest['q_label']}): on the "
            f"reporting half {report.acc_ci(fewest)}, {report.pp(fewest['accuracy'] - full_acc)} from "
            f"full precision; the full model alone is right on {only_full} images, the quantized one "
            f"alone on {only_q}, McNemar p = {p:.2f} ({report.mcnemar_verdict(p, only_full, only_q)})")


def low_bits_sentence(best: Mapping[int, dict[str, Any]]) -> str:
    """The best q at the fewest bits of the grid, with its accuracy."""
    low = min(best)
    return f"at {low} bits the best q is {best[low]['q']:.4f} ({best[low]['q_label']}), at {report.acc_ci(best[low])}"


def high_bits_sentence(grid: Sequence[dict[str, Any]], q_grid: Sequence[dict[str, Any]],
                       bits_values: Sequence[int]) -> str:
    """At the most bits: the accuracy of the smallest q against the largest (clipping costs what rounding no
    longer does)."""
    at = {(r["q"], r["bits"]): r for r in grid}
    small_q, big_q, hi = min(e["q"] for e in q_grid), max(e["q"] for e in q_grid), max(bits_values)
    return (f"at {hi} bits, q = {small_q:.4f} gives {report.pct(at[(small_q, hi)]['accuracy'])} and "
            f"q = {big_q:.4f} gives {report.pct(at[(big_q, hi)]['accuracy'])}")


def glue_grid_summary(grid: Sequence[dict[str, Any]], best: Mapping[int, dict[str, Any]],
                      q_grid: Sequence[dict[str, Any]], bits_values: Sequence[int], full: dict[str, Any],
                      halves: holdout.Halves, tolerance_pp: float) -> dict[str, Any] | None:
    """Glue what the sweep says (fewest bits within tolerance, the lowest and highest widths); return the fewest."""
    fewest = fewest_bits(grid, full["select_accuracy"], tolerance_pp)
    test = holdout.mcnemar(full, fewest, halves) if fewest else None
    report.glue("q-fewest", fewest_sentence(fewest, full["accuracy"], test, tolerance_pp))
    report.glue("q-tol", f"{tolerance_pp:g}")
    report.glue("q-low", low_bits_sentence(best))
    report.glue("q-hi", high_bits_sentence(grid, q_grid, bits_values))
    return fewest


def layer_weights_by_bits(quantized: Mapping[int, nn.Module]) -> dict[int, dict[str, torch.Tensor]]:
    """Each quantized model's layer weights, by bit width."""
    return {b: layer_weights(m) for b, m in quantized.items()}


def sqnr_rows(layers: Mapping[str, torch.Tensor],
              quantized_layers: Mapping[int, Mapping[str, torch.Tensor]]) -> list[dict[str, Any]]:
    """Per bit width and layer: the distinct values used, the share rounded to 0 and the SQNR (dB)."""
    return [{"bits": b, "layer": n, "levels": quantize.distinct_values([quantized_layers[b][n]]),
             "zero": float((quantized_layers[b][n] == 0).double().mean()),
             "sqnr": quantize.sqnr_db(layers[n], quantized_layers[b][n])}
            for b in sorted(quantized_layers) for n in layers]


def gain_range(sq: Sequence[dict[str, Any]]) -> str:
    """The range of SQNR gained per extra bit, over every layer and every pair of widths: 'lo to hi'."""
    gain = [(r2["sqnr"] - r1["sqnr"]) / (r2["bits"] - r1["bits"]) for r1 in sq for r2 in sq
            if r1["layer"] == r2["layer"] and r2["bits"] > r1["bits"]]
    return f"{min(gain):.1f} to {max(gain):.1f}"


def unchanged_text(sha_now: str, sha_loaded: str) -> str:
    """Whether quantizing left the input model's weights as loaded."""
    return "never changed" if sha_now == sha_loaded else "**changed** (a bug)"


def show_sqnr(model: nn.Module, meta: dict[str, Any], quantized: Mapping[int, nn.Module],
              layers: Mapping[str, torch.Tensor],
              quantized_layers: Mapping[int, Mapping[str, torch.Tensor]]) -> list[dict[str, Any]]:
    """Show what the quantizer leaves of each layer, glue the SQNR gain, zeros and the unchanged check."""
    sq = sqnr_rows(layers, quantized_layers)
    report.show_table(sq, [("bits", "bits", ""), ("layer", "layer", ""), ("levels", "distinct values used", ""),
                           ("zero", "share rounded to 0", lambda v: report.pct(v, 1)), ("sqnr", "SQNR (dB)", ".1f")],
                      caption="What the lab's quantizer leaves of each layer: values used, weights rounded to zero, "
                              "and the signal-to-quantization-noise ratio.", name="tbl-q-sqnr")
    report.glue("q-gain", gain_range(sq))
    low_b = min(quantized)
    zero = float((quantize.weights_vector(quantized[low_b]) == 0).double().mean())
    report.glue("q-zero", f"{report.pct(zero, 1)} of the weights fall on the level 0 at {low_b} bits")
    report.glue("q-unchanged", unchanged_text(model_sha256(model), meta["sha256"]))
    return sq


def record(model: nn.Module, parameters: dict[str, Any], halves: holdout.Halves, full: dict[str, Any],
           weights: torch.Tensor, weight_rows: Sequence[dict[str, Any]], inside_one: float,
           q_grid: Sequence[dict[str, Any]], q_unit: str, grid: Sequence[dict[str, Any]],
           lab_grid: Sequence[dict[str, Any]], course_q: Sequence[dict[str, Any]], said: Sequence[course.Statement],
           best: Mapping[int, dict[str, Any]], fewest: dict[str, Any] | None, tolerance_pp: float,
           hist_q: Mapping[int, float], sq: Sequence[dict[str, Any]]) -> Path:
    """Write the chapter's results (book/quantization.results.json) under their stable names; return the path."""
    R = results.Results("quantization", model_sha256(model), parameters)
    spread = results.spread_pp(halves.select.numel())  # the choices read the selection half
    R.accuracy("full_precision/accuracy", full, key=True)
    R.add("parameters", count_parameters(model), "exact")
    for r in weight_rows:
        R.add(f"weights/{r['layer']}/count", r["n"], "exact")
        for k in ("std", "max", "p999", "p9999"):
            R.add(f"weights/{r['layer']}/{k}", r[k], "model_stat")
    probe = torch.linspace(-2.5, 2.5, 20001)  # the lab formula's levels on a fixed input: exact by construction
    for q_probe in (0.5, 1.0, 2.0):
        for b in (2, 3):
            R.add(f"lab_formula/q={q_probe:g}/{b}bit/levels",
                  quantize.quantize_tensor(probe, q_probe, b).unique().tolist(), "exact")
    R.add("lab_formula/q=0.5/2bit/share_of_weights_at_zero",
          float((quantize.quantize_tensor(weights, 0.5, 2) == 0).double().mean()), "model_stat")
    for e in q_grid:
        R.add(f"grid/q={e['label']}/q", e["q"],
              "exact" if q_unit == "absolute" and "pct" not in e["label"] else "model_stat")
    for r in grid:
        R.accuracy(f"grid/q={r['q_label']}/{r['bits']}bit/accuracy", r)
    for r in lab_grid:
        R.accuracy(f"lab_grid/q={r['q_label']}/{r['bits']}bit/accuracy", r)
    for r in course_q:  # the course's published value beside this run's, whole test set
        R.add(f"course/q={r['q']:g}/{r['bits']}bit/seed", r["seed"] / 100, "exact")
        if r["ours"] is not None:
            R.add(f"course/q={r['q']:g}/{r['bits']}bit/this_run", r["ours"] / 100, "accuracy", n=halves.total)
    for s in said:
        R.add(f"course/statement/{s.name}", s.holds, "info")
    for b, r in best.items():
        R.choice(f"grid/best_q/{b}bit", r["q_label"],
                 results.tied_best([g for g in grid if g["bits"] == b], r, spread, "q_label"), key=b == min(best))
    R.choice("grid/fewest_bits_within_tolerance", fewest["bits"] if fewest else None,
             results.tied_rule(grid, full["select_accuracy"], tolerance_pp, spread, "bits", "bits"), key=True)
    R.add("weights/inside_one", inside_one, "model_stat")
    for b, q in hist_q.items():
        R.add(f"histogram/{b}bit/q", q, "exact" if q_unit == "absolute" else "model_stat")
    for r in sq:
        R.add(f"histogram/{r['bits']}bit/{r['layer']}/levels_used", r["levels"], "model_stat")
        R.add(f"histogram/{r['bits']}bit/{r['layer']}/share_at_zero", r["zero"], "model_stat")
        R.add(f"histogram/{r['bits']}bit/{r['layer']}/sqnr_db", r["sqnr"], "model_stat")
    return R.save()
