"""The pruning chapter's machinery: its tables, the sentences that read its timings and choice, its results record.

``notebooks/pruning.ipynb`` keeps the lab's code on the page (the sweep, the timing loop, the rule) and calls
these functions for what it shows around that code and for ``book/pruning.results.json``.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab3.book import report, results
from lab3.experiments import course
from lab3.measure import holdout

Row = dict[str, Any]


def widths_text(sizes: Sequence[int]) -> str:
    """Layer widths as the lab writes them: 1568-1568-1568-10."""
    return "-".join(map(str, sizes))


def show_lab_table(lab: Sequence[Row], full: Row, full_parameters: int) -> None:
    """The lab's sweep as a numbered table: widths, parameters, float32 size and accuracy on the reporting half."""
    report.show_table([{**r, "acc": report.acc_ci(r)} for r in lab],
                      [("ratio", "ratio", ".2f"), ("sizes", "layer widths", widths_text),
                       ("parameters", "parameters", ","), ("float32_bytes", "float32 size", report.human_bytes),
                       ("acc", "accuracy [95% CI]", "")],
                      caption=f"The lab's pruning at each ratio: layer widths, parameters, float32 size and accuracy "
                              f"on the reporting half (the full model: {full_parameters:,} parameters, "
                              f"{report.acc_ci(full)}).", name="tbl-p-lab")


def speedup_text(ratio: float) -> str:
    """A speed-up: one decimal from 1× on (3.4×), two below (0.87×)."""
    return f"{ratio:.1f}×" if ratio >= 1 else f"{ratio:.2f}×"


def timing_base(times: Sequence[Row], fastest_full: float) -> float:
    """The full model's fastest float32 batch-1 latency (reproducible mode or not): what speed-ups are against."""
    return min(times[0]["latency_s"], fastest_full)


def loop_verdict(shares: Sequence[float]) -> str:
    """How to read the lab's time column, from the share of each pass spent waiting for the DataLoader."""
    if min(shares) > 0.5:
        return ("So the lab's time column mostly measures data loading, and its plots against time "
                "flatten once the network is small.")
    return "So the lab's time column measures the network as much as the data loading."


def timing_glue(times: Sequence[Row], fastest_full: float, ratios: Sequence[float]) -> dict[str, str]:
    """The timing paragraph's values by glue name (``times[0]`` is the full model, the last the most pruned)."""
    full_t, last, base = times[0], times[-1], timing_base(times, fastest_full)
    share = [r["loading_s"] / r["lab_loop_s"] for r in times]
    loading = [r["loading_s"] for r in times]
    return {
        "p-loop-min": f"{min(r['lab_loop_s'] for r in times):.2f}",
        "p-loading": f"{min(loading):.2f} to {max(loading):.2f}",
        "p-share": f"{100 * min(share):.0f}% to {100 * max(share):.0f}%",
        "p-share-last": f"{100 * share[-1]:.0f}%",
        "p-verdict": loop_verdict(share),
        "p-thr": f"{full_t['throughput_s']:.2f} s for the test set (full model) to "
                 f"{1e3 * last['throughput_s']:.1f} ms at ratio {ratios[-1]:g}",
        "p-lat": f"{1e3 * base:.2f} ms to {1e3 * last['latency_s']:.3f} ms",
        "p-strict": f"{1e3 * full_t['latency_s']:.2f} ms in the report's reproducible mode and "
                    f"{1e3 * fastest_full:.2f} ms without it",
    }


def show_timing(times: Sequence[Row], fastest_full: float, ratios: Sequence[float]) -> None:
    """The timing table (speed-ups against the full model at its fastest) and the timing paragraph's values."""
    base = timing_base(times, fastest_full)
    report.show_table(times, [("ratio", "ratio", ".2f"),
                              ("latency_s", "batch 1 (ms)", lambda v: f"{1e3 * v:.3f}"),
                              ("latency_s", "speed-up", lambda v: speedup_text(base / v)),
                              ("throughput_s", "test set, tensor (s)", lambda v: f"{v:.3f}"),
                              ("lab_loop_s", "lab loop (s)", lambda v: f"{v:.2f}"),
                              ("loading_s", "of which loading (s)", lambda v: f"{v:.2f}"),
                              ("model_s", "of which model (s)", lambda v: f"{v:.3f}")],
                      caption=f"Inference time of the full model (ratio 0) and the lab-pruned models, "
                              f"{times[0]['threads']} threads; speed-ups are against the full model's fastest float32 "
                              f"batch-1 latency in this run ({1e3 * base:.2f} ms).", name="tbl-p-timing")
    for name, text in timing_glue(times, fastest_full, ratios).items():
        report.glue(name, text)


def plot_rows(lab: Sequence[Row], times: Sequence[Row]) -> list[Row]:
    """Each pruned model's accuracy and timings in one row (``times[0]``, the full model, is left out)."""
    return [{**a, **t} for a, t in zip(lab, times[1:])]


def show_course_table(lab: Sequence[Row], times: Sequence[Row]) -> list[Row]:
    """The course's pruning table beside this run's (times as ratios to ratio 0.2); returns its rows."""
    lab_loop = {t["ratio"]: t["lab_loop_s"] for t in times}
    course_p = course.pruning_table(list(lab), lab_loop)
    report.show_table(course_p, [("ratio", "ratio", ".2f"), ("seed_parameters", "parameters, course", ","),
                                 ("parameters", "parameters, ours", ","), ("seed", "course (%)", ".2f"),
                                 ("ours", "ours (%)", ".2f"), ("diff", "difference", lambda v: report.pp(v / 100)),
                                 ("seed_time_ratio", "time ratio, course", ".2f"),
                                 ("time_ratio", "time ratio, ours", ".2f")],
                      caption="The lab's pruning table: the course's numbers and this run's (whole test set; times "
                              "as ratios to ratio 0.2).", name="tbl-p-course")
    return course_p


def course_glue(course_p: Sequence[Row]) -> dict[str, str]:
    """The comparison paragraph's values: over the course's ratios this run has, the differences and counts."""
    ran = [r for r in course_p if r["ours"] is not None]  # the course's ratios this run's `ratios` include
    diffs = sorted(abs(r["diff"]) for r in ran)
    return {"p-course-median": f"{statistics.median(diffs):.1f}" if diffs else "–",
            "p-course-max": f"{max(diffs):.1f}" if diffs else "–",
            "p-course-n": f"{len(ran)}",
            "p-course-params": "equals the course's" if all(r["parameters"] == r["seed_parameters"] for r in ran)
            else "does **not** equal the course's"}


def glue_course(full: Row, images: int, course_p: Sequence[Row]) -> list[course.Statement]:
    """Glue the comparison with the course and the lab's pruning statements checked; returns those statements."""
    said = [s for s in course.statements(100 * full["whole_correct"] / images, 1.0, [], list(course_p))
            if s.name.startswith("pruning")]
    for name, text in course_glue(course_p).items():
        report.glue(name, text)
    report.glue("p-statements", course.statement_list(said))
    return said


def choice_text(choice: Row | None, full_accuracy: float, full_parameters: int, mcnemar: tuple[int, int, float],
                latency_s: float) -> str:
    """The sentence naming the rule's model: size, accuracy, the test against the full model, its latency."""
    if not choice:
        return "no lab-pruned model meets the rule"
    only_full, only_pruned, p = mcnemar
    return (f"ratio **{choice['ratio']:g}**: {choice['parameters']:,} parameters "
            f"({report.human_bytes(choice['float32_bytes'])} as float32, "
            f"{full_parameters / choice['parameters']:.1f}× fewer than the full model) at {report.acc_ci(choice)} "
            f"on the reporting half, {report.pp(choice['accuracy'] - full_accuracy)} from the full model "
            f"(McNemar p = {p:.2f}: {report.mcnemar_verdict(p, only_full, only_pruned)}), answering one image in "
            f"{1e3 * latency_s:.2f} ms")


def glue_choice(choice: Row | None, full: Row, halves: holdout.Halves, times: Sequence[Row], full_parameters: int,
                tolerance_pp: float) -> None:
    """Glue the rule's tolerance and the sentence on the model it picks (McNemar on the reporting half)."""
    report.glue("p-tol", f"{tolerance_pp:g}")
    test, latency = (0, 0, 1.0), 0.0  # read only when a model meets the rule
    if choice:
        test = holdout.mcnemar(full, choice, halves)
        latency = next(t for t in times if t["ratio"] == choice["ratio"])["latency_s"]
    report.glue("p-choice", choice_text(choice, full["accuracy"], full_parameters, test, latency))


def record(model_sha256: str, parameters: dict[str, Any], full: Row, lab: Sequence[Row], course_p: Sequence[Row],
           said: Sequence[course.Statement], times: Sequence[Row], fastest_full: float, choice: Row | None,
           halves: holdout.Halves, tolerance_pp: float) -> Path:
    """Write book/pruning.results.json: the sweep, the course's table, the timings and the rule's choice."""
    R = results.Results("pruning", model_sha256, parameters)
    spread = results.spread_pp(halves.select.numel())  # the choices read the selection half
    R.accuracy("full/accuracy", full, key=True)
    for r in lab:
        R.add(f"lab/{r['ratio']:g}/parameters", r["parameters"], "exact", key=r["ratio"] in (0.5, 0.9))
        R.add(f"lab/{r['ratio']:g}/layer_widths", list(r["sizes"]), "exact")
        R.add(f"lab/{r['ratio']:g}/float32_bytes", r["float32_bytes"], "exact")
        R.accuracy(f"lab/{r['ratio']:g}/accuracy", r, key=r["ratio"] == 0.9)
    for c in course_p:  # the course's published value beside this run's, whole test set
        R.add(f"course/{c['ratio']:g}/seed", c["seed"] / 100, "exact")
        if c["ours"] is not None:
            R.add(f"course/{c['ratio']:g}/this_run", c["ours"] / 100, "accuracy", n=halves.total)
        R.add(f"course/{c['ratio']:g}/seed_parameters", c["seed_parameters"], "exact")
    for s in said:
        R.add(f"course/statement/{s.name}", s.holds, "info")
    for t in times:
        for k in ("latency_s", "throughput_s", "lab_loop_s", "loading_s", "model_s"):
            R.add(f"timing/{t['ratio']:g}/{k}", t[k], "time")
    R.add("timing/full_fastest_fp32_latency_s", fastest_full, "time")
    R.choice("lab/recommended_ratio", choice["ratio"] if choice else None,
             results.tied_rule(lab, full["select_accuracy"], tolerance_pp, spread, "parameters", "ratio"), key=True)
    return R.save()
