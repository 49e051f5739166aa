"""The deployment chapter's machinery: its sweeps, tables, sentences, runtime measurements and results record.

``notebooks/deployment.ipynb`` combines the pruning and quantization chapters' best methods, picks a model by
stated rules, hands it over and measures what real int8 kernels do. Its prose stays in Markdown; the
functions here take the chapter's values as arguments and return rows, text or records, or display them
through ``lab3.book.report``.
"""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lab3.base import data, fileio, numerics, paths
from lab3.base.cache import ResultCache
from lab3.base.model import SimpleDNN, count_parameters, model_sha256, read_checkpoint
from lab3.book import plots, report, results
from lab3.compress import pack, prune, quantize
from lab3.experiments import deploy, pipeline, prune_sweep, sweep
from lab3.measure import evaluate, holdout, peak, stats, timing
from lab3.runtime import fp32_timing, runtimes

Row = dict[str, Any]
DC: dict[str, Any] = deploy.DEEP_COMPRESSION_LENET  # the external reference point: Deep Compression's LeNet-300-100


# --- the full model and the test halves ----------------------------------------------------------------


@dataclass(frozen=True)
class Full:
    """The full model with the test set it is scored on: the selection half chooses, the reporting half reports."""

    checkpoint: Path
    model: SimpleDNN
    x_test: torch.Tensor
    y_test: torch.Tensor
    halves: holdout.Halves
    record: Row  # the full model's hits, re-scored on the halves
    x_rep: torch.Tensor
    y_rep: torch.Tensor

    @property
    def accuracy(self) -> float:
        """Accuracy on the reporting half."""
        return float(self.record["accuracy"])

    @property
    def select(self) -> float:
        """Accuracy on the selection half (what the rules compare against)."""
        return float(self.record["select_accuracy"])


def load_full(model_path: str | None) -> Full:
    """Read the chapter's checkpoint and the test set, and score the full model on both halves."""
    checkpoint = report.checkpoint(model_path)
    model, _ = read_checkpoint(checkpoint)
    x_test, y_test = data.tensors("test")
    halves = holdout.test_halves(y_test)
    record = holdout.split(stats.hits_record(evaluate.hits(model, x_test, y_test)), halves)
    x_rep, y_rep = holdout.reporting(x_test, y_test, halves)
    return Full(checkpoint, model, x_test, y_test, halves, record, x_rep, y_rep)


def full_sentence(full: Full) -> str:
    """The sentence that introduces the full model: file, parameters, size and accuracy on the reporting half."""
    return (f"The full model (`{report.relpath(full.checkpoint)}`, {count_parameters(full.model):,} parameters, "
            f"{report.megabytes(full.checkpoint.stat().st_size)}) classifies {report.acc_ci(full.record)} of the "
            f"reporting half correctly.")


# --- the pipeline's grid and the recipes below Deep Compression's size ---------------------------------


def grid_recipes(ratios: Sequence[float], bits: Sequence[int], finetune_ratios: Sequence[float],
                 finetune_epochs: int, calibration_images: int, seed: int) -> list[pipeline.Recipe]:
    """Every pruning ratio (the fine-tuned ratios also with distillation) at every bit width, in the grid's order."""
    return [pipeline.Recipe(r, b, e, calibration_images=calibration_images, seed=seed) for r in ratios
            for e in ([0, finetune_epochs] if finetune_epochs and r in finetune_ratios else [0]) for b in bits]


def frontier_recipes(ratios: Sequence[float], bits: Sequence[Sequence[int]], pixel_threshold: float,
                     epochs: Sequence[int], calibration_images: int, seed: int) -> list[pipeline.Recipe]:
    """The recipes that drop empty pixels, distil, fine-tune on the quantization grid and store float16 sides."""
    return [pipeline.Recipe(ratio=r, bits=tuple(b), pixel_threshold=pixel_threshold, distill_epochs=epochs[0],
                            qat_epochs=epochs[1], side="float16", calibration_images=calibration_images, seed=seed)
            for r in ratios for b in bits]


def sweep_recipes(full: Full, recipes: Sequence[pipeline.Recipe], min_run_time: float) -> list[Row]:
    """Build, reload, score and time every recipe (cached under artifacts/deploy/candidates), split on the halves."""
    cache = ResultCache(modules=("experiments.pipeline",))
    rows = pipeline.sweep(full.model, recipes, full.x_test, full.y_test, deploy.default_dir() / "candidates",
                          cache, min_run_time)
    return holdout.split_rows(rows, full.halves)


def finetune_sentence(points: Sequence[Row], finetune_epochs: int) -> str | None:
    """How long the grid's distillations took (None when the grid has none)."""
    tuned = [p for p in points if p["distill_epochs"]]
    if not tuned:
        return None
    secs = sorted({round(p["distill_seconds"], 1) for p in tuned})
    return (f"Each distillation ({finetune_epochs} epochs over the 60,000 training images) took between "
            f"{secs[0]:.0f} and {secs[-1]:.0f} s on this machine ({points[0]['threads']} threads); each pruned "
            f"model is distilled once and then quantized at every bit width.")


# --- the references: the lab's pruning and quantizer on their own --------------------------------------


@dataclass(frozen=True)
class FullTiming:
    """Batch-1 latencies of the full and lab-pruned models, and of the full model at its fastest."""

    by_ratio: dict[float, Row]  # prune_sweep.timing_rows by ratio; 0.0 is the full model
    fastest: Row  # the full model in PyTorch float32 without MKL's reproducible mode (a separate process)

    @property
    def latency(self) -> float:
        """The full model's batch-1 latency in the report's reproducible mode."""
        return float(self.by_ratio[0.0]["latency_s"])

    @property
    def best(self) -> float:
        """The full model's best batch-1 latency: what every speed-up is against."""
        return min(self.latency, self.fastest["latency_s"])


def full_timing(full: Full, ratios: Sequence[float], min_run_time: float) -> FullTiming:
    """Time the full and lab-pruned models as the pruning chapter does, then the full model at its fastest."""
    rows = prune_sweep.timing_rows(full.model, ratios, full.x_test, data.load_mnist("test"), repeats=3,
                                   min_run_time=min_run_time, cache=ResultCache(modules=("experiments.prune_sweep",)))
    fastest = fp32_timing.time_pytorch_fp32(full.checkpoint, min_run_time=min_run_time)
    return FullTiming({t["ratio"]: t for t in rows}, fastest)


def references(full: Full, ratios: Sequence[float], bits: Sequence[int], times: FullTiming) -> list[Row]:
    """The lab's pruning stored as float32 and its quantizer (fixed q, 99.99th percentile of |w|) packed."""
    model, x_rep, y_rep = full.model, full.x_rep, full.y_rep
    q_ref = sweep.quantile(quantize.weights_vector(model).abs(), 0.9999)
    refs = []
    for r in ratios:
        m = prune.prune_model(model, r)
        refs.append({"group": "lab pruning (float32)", "ratio": r, "bits": 32, "bytes": 4 * count_parameters(m),
                     "latency_s": times.by_ratio[r]["latency_s"],
                     **stats.accuracy_record(evaluate.count_correct(m, x_rep, y_rep), y_rep.numel())})
    with tempfile.TemporaryDirectory() as tmp:
        for b in bits:
            scheme = quantize.Scheme(bits=b, method="fixed", granularity="tensor", levels="lab", q=q_ref)
            info = pack.save_packed(model, Path(tmp) / f"lab-{b}.safetensors", b, scheme)
            qm = quantize.quantize_model(model, q_ref, b)
            refs.append({"group": "lab quantizer, full model (packed)", "ratio": 0.0, "bits": b,
                         "bytes": info["bytes"], "latency_s": times.latency,
                         **stats.accuracy_record(evaluate.count_correct(qm, x_rep, y_rep), y_rep.numel())})
    return refs


# --- the recommendation --------------------------------------------------------------------------------


def recommend(points: Sequence[Row], full: Full, tolerance_pp: float) -> tuple[Row | None, Row | None]:
    """Rule 1 (smallest file) and rule 2 (lowest latency) among the models within the tolerance."""
    return (deploy.recommend(points, full.select, tolerance_pp, "bytes"),
            deploy.recommend(points, full.select, tolerance_pp, "latency_s"))


def rule_text(tolerance_pp: float, full_select: float) -> str:
    """Rule 1 in words, as the page states it and the model card records it."""
    return (f"among the pipeline's models whose accuracy on the selection half is within {tolerance_pp} pp of the "
            f"full model's ({report.pct(full_select)}), the smallest packed file")


def mcnemar_clause(p: float, only_full: int, only_small: int) -> str:
    """What McNemar's test says about the recommended model's loss: real (p < 0.05, a loss) or not detectable."""
    if p < 0.05 and only_full > only_small:
        return "; the loss is real, and it is the price of the size)."
    return "; no difference detectable)."


def rule1_sentence(smallest: Row, rule: str, checkpoint_bytes: int, full_accuracy: float,
                   test: tuple[int, int, float]) -> str:
    """Rule 1's choice: its size against the float32 checkpoint, its accuracy and McNemar's test against the full
    model (``test``: only the full model right, only this model right, p)."""
    only_full, only_small, p = test
    return (f"**Rule 1** ({rule}): **{smallest['label']}**: {smallest['parameters']:,} parameters in a "
            f"{report.human_bytes(smallest['bytes'])} file, {checkpoint_bytes / smallest['bytes']:,.0f}× smaller "
            f"than the {report.megabytes(checkpoint_bytes)} float32 checkpoint. On the reporting half, which the rule "
            f"did not see, it reaches {report.acc_ci(smallest)}, {report.pp(smallest['accuracy'] - full_accuracy)} "
            f"from the full model; the full model alone is right on {only_full} of those images and this model "
            f"alone on {only_small} (McNemar p = {p:.3f}" + mcnemar_clause(p, only_full, only_small)
            + " It is marked in {numref}`fig-d-size`.")


def tie_sentence(others: Sequence[str], images: int, spread: float) -> str | None:
    """The models the same rule could pick within the spread between machines (None when the choice is clear)."""
    if not others:
        return None
    shown = others[:TIES_SHOWN]  # the labels hold commas: they are separated by semicolons
    more = f" and {len(others) - len(shown)} larger ones" if len(others) > len(shown) else ""
    return (f"The choice is inside the noise: an accuracy on the {images:,}-image selection half moves by "
            f"up to {spread:.2f} pp between machines (measured), and within that margin the same rule could as "
            f"well pick {len(others)} other model{'s' if len(others) > 1 else ''}: "
            f"{'; '.join(f'**{t}**' for t in shown)}{more}.")


TIES_SHOWN = 4  # the smallest tied alternatives named; the rest are counted


def show_rule1(smallest: Row | None, points: Sequence[Row], full: Full, tolerance_pp: float) -> None:
    """Display rule 1's choice and, when it is inside the noise, the models it could as well have been."""
    rule = rule_text(tolerance_pp, full.select)
    if not smallest:
        report.markdown(f"**Rule 1** ({rule}): no model qualifies.")
        return
    test = holdout.mcnemar(full.record, smallest, full.halves)
    report.markdown(rule1_sentence(smallest, rule, full.checkpoint.stat().st_size, full.accuracy, test))
    images = full.halves.select.numel()
    spread = results.spread_pp(images)
    size = {p["label"]: p["bytes"] for p in points}
    others = sorted((t for t in results.tied_rule(points, full.select, tolerance_pp, spread, "bytes", "label")
                     if t != smallest["label"]), key=lambda t: size[t])  # smallest first
    text = tie_sentence(others, images, spread)
    if text:
        report.markdown(text)


def recipe_of(chosen: Row | None, recipes: Sequence[pipeline.Recipe]) -> pipeline.Recipe | None:
    """The recipe of a chosen row (None when nothing was chosen)."""
    return next(c for c in recipes if c.label == chosen["label"]) if chosen else None


def rule2_sentence(fastest: Row | None, smallest: Row | None, times: FullTiming) -> str | None:
    """Rule 2's choice against the full model at its fastest, and whether it is rule 1's model."""
    if not fastest:
        return None
    best, strict = times.best, times.latency
    return (f"**Rule 2** (same accuracy condition, lowest batch-1 latency): **{fastest['label']}** at "
            f"{1e3 * fastest['latency_s']:.3f} ms, {best / fastest['latency_s']:.0f}× faster than the "
            f"full model in PyTorch float32 at its fastest ({1e3 * best:.2f} ms"
            + (", in the report's reproducible mode, which was the faster here" if best == strict else
               f"; {1e3 * strict:.2f} ms in the report's reproducible mode") + "). "
            + ("It is the same model as rule 1." if smallest and fastest['label'] == smallest['label'] else
               "Latency differences between small models are a few microseconds ({numref}`fig-d-latency`), so "
               "rule 1's file is the one we ship."))


def show(text: str | None) -> None:
    """Display a sentence that may not apply to this run (None: nothing is shown)."""
    if text:
        report.markdown(text)


# --- the figures and the Pareto front ------------------------------------------------------------------


def grid_rows(points: Sequence[Row]) -> list[Row]:
    """The grid's models grouped for the figures: fine-tuned or not."""
    return [{**p, "group": "pipeline" + (", fine-tuned" if p["distill_epochs"] else "")} for p in points]


def front(points: Sequence[Row], cost: str) -> list[Row]:
    """The grid's Pareto front by ``cost``: no other model is both cheaper and more accurate."""
    return deploy.pareto_front(grid_rows(points), cost)


def _ms(rows: Sequence[Row]) -> list[Row]:
    return [{**p, "latency_ms": 1e3 * p["latency_s"]} for p in rows]


def pareto_figure(points: Sequence[Row], beyond: Sequence[Row], refs: Sequence[Row], cost: str,
                  full_accuracy: float, chosen: Row | None, tolerance_pp: float) -> Any:
    """Accuracy against file size (``cost`` "bytes") or batch-1 latency ("latency_s") for every model."""
    grid = grid_rows(points)
    beyond_points = [{**r, "group": "pixels dropped, quantization-aware"} for r in beyond]
    if cost == "bytes":
        return plots.pareto(grid + beyond_points + list(refs), "bytes", "file size (bytes, log scale)",
                            front(points, "bytes"), references=[DC], full_accuracy=full_accuracy,
                            title="Accuracy vs file size", chosen=chosen, tolerance_pp=tolerance_pp)
    return plots.pareto(_ms(grid + beyond_points + list(refs)), "latency_ms", "batch-1 latency (ms, log scale)",
                        _ms(front(points, "latency_s")), full_accuracy=full_accuracy,
                        title="Accuracy vs batch-1 latency", chosen=_ms([chosen])[0] if chosen else None,
                        tolerance_pp=tolerance_pp)


def show_front(front_size: Sequence[Row]) -> None:
    """The Pareto front by file size as a numbered table."""
    report.show_table([{**p, "acc": report.acc_ci(p)} for p in front_size],
                      [("label", "model", ""), ("bytes", "file", report.human_bytes),
                       ("acc", "accuracy [95% CI]", "")],
                      caption="The Pareto front by file size: no other pipeline model is both smaller and more "
                              "accurate (on the reporting half).", name="tbl-d-front")


# --- the hand-over -------------------------------------------------------------------------------------


def export(full: Full, recipe: pipeline.Recipe | None, rule: str) -> Row | None:
    """Write the recommended model's files and recommendation, and say what was handed over (None: nothing)."""
    if not recipe:
        return None
    card = deploy.export(full.model, recipe, rule="rule 1: " + rule, full_accuracy=full.accuracy)
    fileio.write_json(deploy.recommendation_path(), {"recipe": recipe.__dict__, "rule": "rule 1: " + rule,
                                                     "full_accuracy": full.accuracy})
    files = "; ".join(f"`{Path(v['path']).name}` ({report.human_bytes(v['bytes'])}, {v['note']})"
                      for v in card["files"].values())
    report.markdown(f"**Handed over** in `artifacts/deploy/`, beside its `card.json` (accuracy "
                    f"{report.pct(card['test_accuracy'])} on the reporting half): {files}.")
    return card


# --- below Deep Compression's size ---------------------------------------------------------------------


def show_frontier_table(beyond: Sequence[Row]) -> None:
    """The recipes below Deep Compression's size as a numbered table."""
    report.show_table([{**r, "acc": report.acc_ci(r)} for r in beyond],
                      [("label", "recipe", ""), ("inputs", "pixels", ",d"), ("parameters", "parameters", ",d"),
                       ("bytes", "file", report.human_bytes), ("bits_per_weight", "bits/weight", ".2f"),
                       ("acc", "accuracy [95% CI]", "")],
                      caption="The recipes: neurons removed (ratio), bit widths of fc1/fc2/fc3/fc4, pixels fc1 still "
                              "reads (of 784), parameters, the packed file with everything counted, and the accuracy "
                              "on the reporting half.", name="tbl-d-frontier")


def frontier_choice(beyond: Sequence[Row]) -> Row | None:
    """The smallest recipe reaching Deep Compression's accuracy on the selection half (None if none does)."""
    return pipeline.smallest_at(beyond, DC["accuracy"])


def onnx_check(chosen: Row | None, full: Full) -> Row | None:
    """Export the chosen recipe's packed file to ONNX and score it under ONNX Runtime: its size, its hits."""
    if not chosen:
        return None
    onnx_file = runtimes.export_onnx(pack.load_packed(chosen["path"]), Path(chosen["path"]).with_suffix(".onnx"))
    onnx_hits = runtimes.hits(runtimes.ort_runner(runtimes.ort_session(onnx_file)), full.x_test, full.y_test)
    return {"bytes": onnx_file.stat().st_size, "correct": int(onnx_hits[full.halves.report].sum()),
            "total": int(full.halves.report.numel())}


def frontier_verdict(chosen: Row, dc_bytes: int, dc_accuracy: float) -> str:
    """The chosen recipe against Deep Compression's file: the target met (level), or smaller/larger and as accurate
    or less."""
    if chosen["bytes"] <= dc_bytes and chosen["accuracy"] >= dc_accuracy:
        return ("the target is met: no larger and no less accurate on the reporting half. The two are level rather "
                "than one better: the accuracy difference lies far inside the interval, and the networks and test "
                "images differ.")
    size = "smaller" if chosen["bytes"] <= dc_bytes else "larger"
    accuracy = "at least as accurate" if chosen["accuracy"] >= dc_accuracy else "less accurate"
    return f"{size} and {accuracy} on the reporting half."


def frontier_sentence(chosen: Row, full_accuracy: float, checkpoint_bytes: int, test: tuple[int, int, float],
                      onnx: Row, pixel_threshold: float) -> str:
    """The chosen recipe: its size, its accuracy against the full model and Deep Compression, its ONNX check."""
    only_full, only_small, p = test
    return (f"**Chosen: {chosen['label']}.** {chosen['parameters']:,} parameters, fc1 reading {chosen['inputs']} of "
            f"784 pixels (those non-zero in more than {pixel_threshold:.0%} of the training images), in a "
            f"{report.human_bytes(chosen['bytes'])} file ({chosen['bits_per_weight']:.2f} bits per weight, "
            f"everything counted): {checkpoint_bytes / chosen['bytes']:,.0f}× smaller than the float32 checkpoint. "
            f"On the reporting half it reaches {report.acc_ci(chosen)}, "
            f"{report.pp(chosen['accuracy'] - full_accuracy)} from the full model (the full model alone is right on "
            f"{only_full} images, this model alone on {only_small}; McNemar p = {p:.3f}). Against Deep "
            f"Compression's {report.human_bytes(DC['bytes'])} at {report.pct(DC['accuracy'])}: "
            + frontier_verdict(chosen, DC["bytes"], DC["accuracy"]) + " The packed file "
            f"loads with `pack.load_packed`; its ONNX export ({report.human_bytes(onnx['bytes'])}, the pixel "
            f"selection is part of the graph) classifies {onnx['correct']:,} of the reporting half's "
            f"{onnx['total']:,} images correctly under ONNX Runtime, the packed model {chosen['correct']:,}.")


def show_frontier_choice(chosen: Row | None, onnx: Row | None, full: Full, pixel_threshold: float) -> None:
    """Display the chosen recipe, or that none reaches Deep Compression's accuracy."""
    if not chosen or not onnx:
        report.markdown(f"No recipe reaches {report.pct(DC['accuracy'])} on the selection half.")
        return
    test = holdout.mcnemar(full.record, chosen, full.halves)
    report.markdown(frontier_sentence(chosen, full.accuracy, full.checkpoint.stat().st_size, test, onnx,
                                      pixel_threshold))


def frontier_seconds_sentence(beyond: Sequence[Row], chosen: Row | None, epochs: Sequence[int]) -> str:
    """What the recipes' fine-tuning cost, and the chosen one's share."""
    secs = sorted(r["distill_seconds"] + r["qat_seconds"] for r in beyond)
    return (f"Fine-tuning is the whole cost of a recipe: {epochs[0]} distillation epochs, then "
            f"{epochs[1]} quantization-aware epochs, over the 60,000 training images. Counting the "
            f"distillation in full for every recipe (the recipes of one ratio share it), a recipe took between "
            f"{secs[0]:.0f} and {secs[-1]:.0f} s on this machine"
            + (f"; the chosen one {chosen['distill_seconds']:.0f} s of distillation and {chosen['qat_seconds']:.0f} s "
               f"of quantization-aware fine-tuning." if chosen else "."))


# --- real kernels: every runtime on the full and the recommended model --------------------------------


@dataclass(frozen=True)
class Runtimes:
    """The runtime rows of both targets and the machine's limits they are read against."""

    rows: list[Row]
    fp32_best: dict[str, dict[str, Row]]  # per target, per column: the fastest float32 row
    cpu: peak.Cpu
    threads: int
    peaks: dict[str, float]  # computed from the CPU: multiply-adds per second by data type
    ceilings: dict[str, float]  # measured: the best square matrix product by data type

    def of(self, target: str) -> list[Row]:
        """The rows of one target ("full" or "recommended")."""
        return [r for r in self.rows if r["target"] == target]


def measure_runtimes(full: Full, recipe: pipeline.Recipe | None, smallest: Row | None, times: FullTiming,
                     seed: int, min_run_time: float) -> Runtimes:
    """Run and time every runtime on the full model and on the handed-over file, then the machine's limits.

    PyTorch float32 is not timed again: its reproducible-mode row reuses the measurement of the references
    (the recommended model's is the pipeline's), its fastest row the separate process's."""
    rt_dir = paths.artifacts_dir() / "runtimes"
    targets: dict[str, tuple[torch.nn.Module, Path]] = {"full": (full.model, full.checkpoint)}
    if recipe:
        packed_file = paths.artifacts_dir() / "deploy" / "model.safetensors"
        targets["recommended"] = (pack.load_packed(packed_file), packed_file)
    rows: list[Row] = []
    for target, (m, file) in targets.items():
        macs = sum(layer.in_features * layer.out_features for _, layer in quantize.linear_layers(m)) \
            * full.y_test.numel()
        strict = times.by_ratio[0.0] if target == "full" else smallest
        assert strict is not None  # a recommended target exists only with a recommended model
        fast = times.fastest if target == "full" else fp32_timing.time_pytorch_fp32(file, min_run_time=min_run_time)
        calibration = data.calibration_images(1024, seed)
        for rt in runtimes.build_runtimes(m, rt_dir, target, calibration, fp32_file=file):
            rec = holdout.split(stats.hits_record(runtimes.hits(rt.run, full.x_test, full.y_test)), full.halves)
            if rt.name == "pytorch-fp32":
                measured = [("pytorch-fp32 (strict)", strict["latency_s"], strict["throughput_s"]),
                            ("pytorch-fp32", fast["latency_s"], fast["throughput_s"])]
            else:
                lat = timing.latency(rt.run, full.x_test, min_run_time=min_run_time)
                thr = timing.throughput(rt.run, full.x_test, min_run_time=2 * min_run_time)
                measured = [(rt.name, lat.median, thr.median)]
            for name, lat_s, thr_s in measured:
                rows.append({**rec, "target": target, "runtime": name, "compute": rt.compute, "how": rt.how,
                             "bytes": rt.bytes, "latency_s": lat_s, "throughput_s": thr_s,
                             "macs_per_s": macs / thr_s})
    fp32_best = fastest_fp32(rows, list(targets))
    for r in rows:
        best = fp32_best[r["target"]]
        r.update(lat_x=best["latency_s"]["latency_s"] / r["latency_s"],
                 thr_x=best["throughput_s"]["throughput_s"] / r["throughput_s"])
    cpu = peak.read_cpu()
    threads = numerics.threads()
    peaks = {d: peak.peak_macs(cpu, d, threads) for d in ("fp32", "int8")}
    ceilings = {d: peak.gemm_ceiling(d, min_time=min_run_time) for d in ("fp32", "int8")}
    for r in rows:
        r["peak_share"] = r["macs_per_s"] / peaks[r["compute"]] if peaks[r["compute"]] else None
        r["ceiling_share"] = r["macs_per_s"] / ceilings[r["compute"]]
    return Runtimes(rows, fp32_best, cpu, threads, peaks, ceilings)


def fastest_fp32(rows: Sequence[Row], targets: Sequence[str]) -> dict[str, dict[str, Row]]:
    """Per target, the float32 row with the lowest latency and the one with the lowest test-set time."""
    return {t: {c: min((r for r in rows if r["target"] == t and r["compute"] == "fp32"), key=lambda r: r[c])
                for c in ("latency_s", "throughput_s")} for t in targets}


def times_x(v: float) -> str:
    """A speed-up as the tables show it: one decimal from 1×, two below (0.96 must not read as 1.0)."""
    return f"{v:.1f}" if v >= 1 else f"{v:.2f}"


def _file(v: int | None) -> str:
    return report.human_bytes(v) if v else "–"


def runtime_table_rows(rows: Sequence[Row]) -> list[Row]:
    """The runtime rows as the tables show them: milliseconds, and eager runs named."""
    return [{**r, "lat": 1e3 * r["latency_s"], "thr": 1e3 * r["throughput_s"],
             "runtime": r["runtime"] + (" (eager)" if r["how"] == "eager" else "")} for r in rows]


def show_runtimes(rt: Runtimes) -> None:
    """Every runtime on the full model as a numbered table."""
    report.show_table(runtime_table_rows(rt.of("full")),
                      [("runtime", "runtime", ""), ("accuracy", "accuracy", lambda v: report.pct(v)),
                       ("bytes", "file", _file), ("lat", "batch 1 (ms)", ".3f"), ("lat_x", "×", times_x),
                       ("thr", "10,000 (ms)", ".1f"), ("thr_x", "×", times_x)],
                      caption=f"Runtimes on the full model ({rt.threads} threads): accuracy on the reporting half, "
                              f"size of the file each runtime loads (torchao quantizes the model in memory), batch-1 "
                              f"latency and time for the 10,000 test images; × is the speed-up over the fastest "
                              f"float32 runtime of the column.", name="tbl-d-runtimes")


def show_runtimes_small(rt: Runtimes) -> None:
    """Every runtime on the recommended model as a numbered table (nothing without a recommended model)."""
    small = rt.of("recommended")
    if small:
        report.show_table([{**r, "lat": 1e3 * r["latency_s"]} for r in small],
                          [("runtime", "runtime", ""), ("accuracy", "accuracy", lambda v: report.pct(v)),
                           ("bytes", "file", _file), ("lat", "batch 1 (ms)", ".3f"), ("lat_x", "×", times_x)],
                          caption="The same runtimes on the recommended model: accuracy on the reporting half, file, "
                                  "batch-1 latency and its speed-up over the fastest float32 runtime on that model.",
                          name="tbl-d-runtimes-small")


# --- the limits: what the runtimes reach against this machine's -----------------------------------------


@dataclass(frozen=True)
class Limits:
    """The runtimes read against the limits: the best of each data type, and the fastest accurate one at batch 1."""

    best8: Row  # the int8 runtime with the most multiply-adds per second on the full model
    best32: Row  # the float32 one
    fast1: Row  # the fastest at batch 1 within 0.1 pp of the full model on the selection half
    best_lat32: Row  # the fastest float32 runtime at batch 1
    bandwidth: float | None  # measured bytes per second on a buffer of fast1's file size (None: no file)

    @property
    def floor_s(self) -> float | None:
        """The batch-1 floor: fast1's weights read once at the measured bandwidth."""
        return self.fast1["bytes"] / self.bandwidth if self.bandwidth else None


def limits(rt: Runtimes, full_select: float, min_run_time: float) -> Limits:
    """Pick the rows the limits are read on, and measure the memory bandwidth for the batch-1 floor."""
    full_rt = rt.of("full")
    best8 = max((r for r in full_rt if r["compute"] == "int8"), key=lambda r: r["macs_per_s"])
    best32 = max((r for r in full_rt if r["compute"] == "fp32"), key=lambda r: r["macs_per_s"])
    ok = [r for r in full_rt if 100 * (full_select - r["select_accuracy"]) <= 0.1]
    fast1 = min(ok, key=lambda r: r["latency_s"])
    bandwidth = peak.read_bandwidth(fast1["bytes"], min_time=min_run_time) if fast1["bytes"] else None
    return Limits(best8, best32, fast1, rt.fp32_best["full"]["latency_s"], bandwidth)


def peaks_line(cpu: peak.Cpu, threads: int) -> str:
    """How the peaks are computed, from the CPU flags and clock."""
    return (f"- **How the peaks are computed**: cores used × multiply-adds per core per cycle of the widest vector "
            f"unit in the CPU flags × the clock in `/proc/cpuinfo` ({cpu.mhz / 1e3:.2f} GHz, the nominal rate; "
            f"turbo can exceed it). "
            + "; ".join(peak.describe(cpu, d, threads).replace(" G/s", " G multiply-adds/s") for d in ("fp32", "int8"))
            + ".")


def ceiling_line(cpu: peak.Cpu, peaks: dict[str, float], ceilings: dict[str, float]) -> str:
    """The physical int8/float32 ratio of the units, and what the best square products reach of the peaks."""
    slow_int8 = ceilings["int8"] < ceilings["fp32"]  # PyTorch's int8 product slower than float32 on this CPU
    return (f"- **The physical ceiling of int8 over float32** on these units is "
            f"{peaks['int8'] / peaks['fp32']:.0f}× per cycle ({peak.unit(cpu, 'int8')} against "
            f"{peak.unit(cpu, 'fp32')}); VNNI (AVX-512's int8 dot-product instructions) alone would give 4×. Measured "
            f"here, the best square products "
            f"reach {ceilings['fp32'] / 1e9:,.0f} G/s in float32 and {ceilings['int8'] / 1e9:,.0f} G/s in int8 "
            f"({ceilings['int8'] / ceilings['fp32']:.2f}×), "
            f"{100 * ceilings['fp32'] / peaks['fp32']:.0f}% and {100 * ceilings['int8'] / peaks['int8']:.0f}% "
            f"of the peaks"
            + ("; PyTorch has no fast int8 matrix product for this CPU's vector units" if slow_int8 else "")
            + ("; a share above 100% means the cores ran above the nominal clock." if
               max(ceilings['fp32'] / peaks['fp32'], ceilings['int8'] / peaks['int8']) > 1 else "."))


def throughput_line(best8: Row, best32: Row, slow_int8: bool) -> str:
    """Where the best int8 and float32 runtimes stand against the peaks, and the verdict on the int8 gap."""
    return (f"- **Throughput**: the best int8 runtime, {best8['runtime']}, reaches "
            f"{best8['macs_per_s'] / 1e9:,.0f} G/s: {100 * best8['peak_share']:.0f}% of the int8 peak"
            + (", and PyTorch's own int8 product, slower than its float32 one here, is no yardstick. " if slow_int8
               else f" and {100 * best8['ceiling_share']:.0f}% of the best int8 square product. ")
            + f"The fastest float32 runtime, "
            f"{best32['runtime']}, reaches {100 * best32['peak_share']:.0f}% of the float32 peak. "
            + ("" if slow_int8 else "The float32 units are saturated and the integer units are not: the best int8 "
               "runtime is as fast as PyTorch's best int8 product on an ideal square matrix, which gets no closer to "
               "the peak: the gap is not this model's shape." if best8['ceiling_share'] >= 0.9 and
               best32['peak_share'] >= 0.9 else
               f"The int8 runtimes stay below both the peak and the best square product; {best8['runtime']} is "
               f"the closest."))


def slow_line(full_rt: Sequence[Row]) -> str | None:
    """The int8 runtimes more than ten times slower than float32 over the test set (None when there are none)."""
    slow_rt = [r for r in full_rt if r["compute"] == "int8" and r["thr_x"] < 0.1]
    if not slow_rt:  # which runtimes lack a fast kernel depends on the CPU's vector units
        return None
    return ("- **Without a fast kernel on this CPU**: " + ", ".join(
        f"{r['runtime']} takes {1e3 * r['throughput_s']:,.0f} ms over the test set" for r in slow_rt)
        + ", more than ten times the fastest float32 runtime: its int8 path falls back to slow code here.")


def slower(ours: float, theirs: float) -> str:
    """'1.25× slower' or '1.25× faster': ``ours`` against ``theirs``."""
    return f"{ours / theirs:.2f}× slower" if ours >= theirs else f"{theirs / ours:.2f}× faster"


def mkl_line(full_rt: Sequence[Row]) -> str:
    """What MKL's reproducible mode costs PyTorch float32, at batch 1 and over the test set."""
    strict_row = next(r for r in full_rt if r["runtime"] == "pytorch-fp32 (strict)")
    fast_row = next(r for r in full_rt if r["runtime"] == "pytorch-fp32")
    return (f"- **MKL's reproducible mode**: PyTorch float32 under it is "
            f"{slower(strict_row['latency_s'], fast_row['latency_s'])} at batch 1 "
            f"({1e3 * strict_row['latency_s']:.2f} against {1e3 * fast_row['latency_s']:.2f} ms) and "
            f"{slower(strict_row['throughput_s'], fast_row['throughput_s'])} over the test set than without it.")


def batch1_line(lim: Limits, full_accuracy: float) -> str:
    """The fastest accurate runtime at batch 1 and, with the measured bandwidth, the memory floor it is bound by."""
    fast1, best_lat32 = lim.fast1, lim.best_lat32
    text = (f"- **Batch 1**: the fastest runtime within 0.1 pp of the full model on the selection half is "
            f"{fast1['runtime']}, {1e3 * fast1['latency_s']:.3f} ms, {fast1['lat_x']:.1f}× faster than the fastest "
            f"float32 runtime ({best_lat32['runtime']}, {1e3 * best_lat32['latency_s']:.3f} ms); on the reporting "
            f"half it is {report.pp(fast1['accuracy'] - full_accuracy)} from the full model. ")
    if lim.bandwidth and lim.floor_s:
        text += (f"One image reads every weight once: {report.human_bytes(fast1['bytes'])}, which this machine "
                 f"streams at {lim.bandwidth / 1e9:.0f} GB/s (measured on a buffer of that size), so no runtime can go "
                 f"below {1e3 * lim.floor_s:.3f} ms with these weights: at most "
                 f"{best_lat32['latency_s'] / lim.floor_s:.0f}× on this machine. Batch 1 is bound by memory, not by "
                 f"arithmetic.")
    return text


def small_line(small_rt: Sequence[Row]) -> str | None:
    """The runtimes on the recommended model: all fast, the fastest, the least accurate (None without one)."""
    if not small_rt:
        return None
    best_small = min(small_rt, key=lambda r: r["latency_s"])
    small_fp32 = next(r for r in small_rt if r["runtime"] == "pytorch-fp32")
    worst_small = min(small_rt, key=lambda r: r["accuracy"])
    return (f"- **The recommended model** ({{numref}}`tbl-d-runtimes-small`) is so small that every runtime answers "
            f"within {1e3 * max(r['latency_s'] for r in small_rt):.2f} ms, and the fastest is {best_small['runtime']} "
            f"({1e3 * best_small['latency_s']:.3f} ms)"
            + (": no int8 kernel beats float32 at this size. " if best_small["compute"] == "fp32" else ". ")
            + f"The least accurate is {worst_small['runtime']}, "
            f"{report.pp(worst_small['accuracy'] - small_fp32['accuracy'])} from the float32 file.")


def limits_text(rt: Runtimes, lim: Limits, full_accuracy: float) -> str:
    """The limits discussion: peaks, ceilings, throughput, slow kernels, MKL's mode, batch 1, the small model."""
    full_rt = rt.of("full")
    lines: list[str | None] = [peaks_line(rt.cpu, rt.threads)]
    if rt.peaks["fp32"] and rt.peaks["int8"]:
        lines.append(ceiling_line(rt.cpu, rt.peaks, rt.ceilings))
        lines.append(throughput_line(lim.best8, lim.best32, rt.ceilings["int8"] < rt.ceilings["fp32"]))
    lines += [slow_line(full_rt), mkl_line(full_rt), batch1_line(lim, full_accuracy), small_line(rt.of("recommended"))]
    return "\n".join(line for line in lines if line is not None)


# --- the results record --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    """The chapter's choices: rule 1 and rule 2, the handed-over card, the frontier's choice and its ONNX check."""

    smallest: Row | None
    fastest: Row | None
    card: Row | None
    chosen: Row | None
    onnx: Row | None


def record(params: dict[str, Any], full: Full, tolerance_pp: float, points: Sequence[Row], times: FullTiming,
           refs: Sequence[Row], beyond: Sequence[Row], rec: Recommendation, rt: Runtimes, lim: Limits) -> Path:
    """Write book/deployment.results.json's source: every result of the chapter under its stable name."""
    R = results.Results("deployment", model_sha256(full.model), params)
    spread = results.spread_pp(full.halves.select.numel())
    R.accuracy("full/accuracy", full.record)
    for p in points:
        R.accuracy(f"pipeline/{p['label']}/accuracy", p)
        R.add(f"pipeline/{p['label']}/parameters", p["parameters"], "exact")
        R.add(f"pipeline/{p['label']}/bytes", p["bytes"], "compressed_bytes" if p["compress"] == "lzma" else "exact")
        R.add(f"pipeline/{p['label']}/latency_s", p["latency_s"], "time")
        R.add(f"pipeline/{p['label']}/throughput_s", p["throughput_s"], "time")
        if p["distill_epochs"]:
            R.add(f"pipeline/{p['label']}/finetune_seconds", p["distill_seconds"], "time")
    R.add("full/latency_s", times.latency, "time")
    R.add("full/fastest_fp32_latency_s", times.best, "time")
    for r in refs:
        name = f"references/{r['group']}/ratio {r['ratio']:g}, {r['bits']}-bit"
        R.accuracy(f"{name}/accuracy", r)
        R.add(f"{name}/bytes", r["bytes"], "exact")
    R.add("pareto_front_by_size", [p["label"] for p in front(points, "bytes")], "info")
    for r in beyond:
        name = f"frontier/{r['label']}"
        R.accuracy(f"{name}/accuracy", r)
        R.add(f"{name}/parameters", r["parameters"], "exact")
        R.add(f"{name}/inputs", r["inputs"], "exact")
        R.add(f"{name}/bytes", r["bytes"], "compressed_bytes")
        R.add(f"{name}/finetune_seconds", r["distill_seconds"] + r["qat_seconds"], "time")
        R.add(f"{name}/latency_s", r["latency_s"], "time")
    chosen, smallest, card = rec.chosen, rec.smallest, rec.card
    R.add("frontier/chosen", chosen["label"] if chosen else None, "info")
    # recorded either way: a run where no recipe reaches the target still has this result ("none reached")
    R.add("frontier/chosen_onnx_correct", rec.onnx["correct"] if chosen and rec.onnx else None, "info")
    R.choice("recommended/by_size", smallest["label"] if smallest else None,
             results.tied_rule(points, full.select, tolerance_pp, spread, "bytes", "label"), key=True)
    R.add("recommended/by_latency", rec.fastest["label"] if rec.fastest else None, "info")
    if card and smallest:
        R.accuracy("recommended/accuracy", {"correct": card["test_correct"], "total": card["test_total"]}, key=True)
        R.add("recommended/packed_bytes", card["files"]["packed"]["bytes"], "info")
        R.add("recommended/parameters", smallest["parameters"], "info")
        R.add("recommended/distill_epochs", smallest["distill_epochs"], "info")
    for r in rt.rows:
        name = f"runtimes/{r['target']}/{r['runtime'].replace(' (strict)', '-strict')}"
        R.accuracy(f"{name}/accuracy", r)
        R.add(f"{name}/bytes", r["bytes"], "info")
        R.add(f"{name}/latency_s", r["latency_s"], "time")
        R.add(f"{name}/throughput_s", r["throughput_s"], "time")
        R.add(f"{name}/macs_per_s", r["macs_per_s"], "time")
        R.add(f"{name}/peak_share", r["peak_share"], "time")
    for d in ("fp32", "int8"):
        R.add(f"machine/peak_macs_per_s/{d}", rt.peaks[d], "info")
        R.add(f"machine/gemm_ceiling_macs_per_s/{d}", rt.ceilings[d], "time")
    best8, fast1 = lim.best8, lim.fast1
    R.add("targets/int8_peak_share", {"runtime": best8["runtime"], "value": best8["peak_share"], "target": 0.9},
          "time")
    R.add("targets/batch1_speedup", {"runtime": fast1["runtime"], "value": fast1["lat_x"], "target": 25,
                                     "loss_pp": 100 * (full.accuracy - fast1["accuracy"]), "floor_s": lim.floor_s,
                                     "fastest_fp32": lim.best_lat32["runtime"]}, "time")
    return R.save()
