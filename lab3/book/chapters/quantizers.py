"""The quantizers chapter's machinery: the comparison, packed-file, sensitivity and mixed-precision tables, the
sentences that read them, and its results record."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from lab3.base import data, paths
from lab3.base.cache import ResultCache
from lab3.base.model import SimpleDNN, linear_layers, model_sha256, read_checkpoint
from lab3.book import report, results
from lab3.compress import mixed, pack
from lab3.compress.quantize import Scheme
from lab3.experiments import sweep
from lab3.measure import evaluate, holdout, stats

LAB = "lab fixed q"  # the comparison's name for the lab's quantizer at its best q
MIXED_WIDTHS = [2, 3, 4]  # the widths mixed precision chooses from
Row = dict[str, Any]  # a sweep record or a table row


def load(model_path: str | None) -> tuple[Path, SimpleDNN, torch.Tensor, torch.Tensor, holdout.Halves,
                                          dict[str, Any]]:
    """The checkpoint, its model, the test set, its halves and the full model's record on them."""
    checkpoint = report.checkpoint(model_path)
    model, _ = read_checkpoint(checkpoint)
    x_test, y_test = data.tensors("test")
    halves = holdout.test_halves(y_test)
    full = holdout.split(stats.hits_record(evaluate.hits(model, x_test, y_test)), halves)
    return checkpoint, model, x_test, y_test, halves, full


def packed_folder() -> Path:
    """Where the chapter's packed low-bit files go (artifacts/packed)."""
    return paths.artifacts_dir() / "packed"


def sweep_cache() -> ResultCache:
    """The disk cache of this chapter's sweep points, keyed by the code that computes them (lab3.experiments.sweep)."""
    return ResultCache(modules=("experiments.sweep",))


def mse_channel(bits: int) -> Scheme:
    """Per-channel MSE clipping on the lab's levels: the scheme of the packed files and the sensitivity."""
    return Scheme(bits=bits, method="mse", granularity="channel", levels="lab")


def lab_best_q(model: SimpleDNN, x_test: torch.Tensor, y_test: torch.Tensor, halves: holdout.Halves,
               q_values: Sequence[float], q_unit: str, q_quantiles: Sequence[float], bits_values: Sequence[int],
               quantize_bias: bool) -> dict[int, float]:
    """The lab quantizer's best q at each width on the grid read from the weights, chosen on the selection half."""
    q_grid = sweep.resolve_q_values(model, q_values, q_unit, q_quantiles)
    lab_q, cache = {}, sweep_cache()
    for b in bits_values:
        rows_b = holdout.split_rows(sweep.lab_quantization_grid(model, x_test, y_test, q_grid, [b], quantize_bias,
                                                                cache=cache),
                                    halves)
        lab_q[b] = sweep.best_by(rows_b, "bits")[b]["q"]
    return lab_q


def method_rows(comparison: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per quantizer (in order of first appearance), its records by bit width."""
    rows = []
    for m in dict.fromkeys(r["method"] for r in comparison):
        row: dict[Any, Any] = {"method": m}
        for r in comparison:
            if r["method"] == m:
                row[r["bits"]] = r
        rows.append(row)
    return rows


def show_methods(model: SimpleDNN, x_test: torch.Tensor, y_test: torch.Tensor, halves: holdout.Halves,
                 bits_values: Sequence[int], lab_q: dict[int, float], percentile: float, calibration_images: int,
                 seed: int, folder: Path) -> tuple[list[dict[str, Any]], dict[int, Any]]:
    """Run the quantizer comparison and show it; return its split rows and the GPTQ models by width."""
    comparison, gptq_models = sweep.quantizer_comparison(model, x_test, y_test, list(bits_values), lab_q,
                                                         percentile, calibration_images, seed, folder,
                                                         cache=sweep_cache())
    comparison = holdout.split_rows(comparison, halves)
    columns: list[tuple[Any, str, Any]] = [("method", "method", "")]
    columns += [(b, f"{b} bits", lambda r: report.pct(r["accuracy"]) if r else "–") for b in bits_values]
    report.show_table(method_rows(comparison), columns,
                      caption="Quantizers compared: accuracy on the reporting half (GPTQ is not run at 8 bits, where "
                              "plain rounding is already as accurate as full precision).", name="tbl-q-methods")
    return comparison, gptq_models


def gptq4_test(comparison: Sequence[dict[str, Any]], full: dict[str, Any], halves: holdout.Halves,
               bits_values: Sequence[int]) -> tuple[int, int, float] | None:
    """McNemar on the reporting half, full precision against 4-bit GPTQ: (only full right, only 4-bit right, p);
    None when 4 bits are not compared."""
    if 4 not in bits_values:
        return None
    gptq4 = next(c for c in comparison if c["bits"] == 4 and c["method"].startswith("GPTQ"))
    return holdout.mcnemar(full, gptq4, halves)


def methods_summary(comparison: Sequence[dict[str, Any]], best_method: Mapping[int, dict[str, Any]],
                    full: dict[str, Any], bits_values: Sequence[int], test4: tuple[int, int, float] | None) -> str:
    """The comparison read as a Markdown list: the best quantizer per width against the lab's, where they are
    within the noise, how far the best 2-bit method leads, and whether 4-bit GPTQ differs from full precision."""
    full_acc = full["accuracy"]
    lines = []
    for b, r in best_method.items():
        lab_r = next(c for c in comparison if c["bits"] == b and c["method"] == LAB)
        lines.append(f"- **{b} bits**: the best on the selection half is {r['method']}, at {report.acc_ci(r)} on the "
                     f"reporting half ({report.pp(r['accuracy'] - full_acc)} vs full precision); the lab's quantizer "
                     f"with its best q: {report.pct(lab_r['accuracy'])}.")
    noise = stats.half_width_pp(full["correct"], full["total"])
    close = []
    for b in bits_values:
        lab_b = next(c for c in comparison if c["bits"] == b and c["method"] == LAB)
        if b > 2 and abs(100 * (lab_b["accuracy"] - best_method[b]["accuracy"])) <= noise:
            close.append(b)
    if close:
        lines.append(f"- At {', '.join(map(str, close))} bits the lab's quantizer and the best other method are within "
                     f"the noise of 5,000 images (±{noise:.2f} pp): with q chosen on held-out images the lab's simple "
                     f"grid is as good as the methods that choose the grid from the weights alone. Those methods need "
                     f"no labelled images.")
    if 2 in best_method:  # how far ahead the best 2-bit method is decides the sentence
        runner = max((c for c in comparison if c["bits"] == 2 and c["method"] != best_method[2]["method"]),
                     key=lambda c: c["accuracy"])
        lead = 100 * (best_method[2]["accuracy"] - runner["accuracy"])
        lines.append(f"- At 2 bits {best_method[2]['method']} leads {runner['method']} by {lead:.2f} pp"
                     + (" (within the noise)" if abs(lead) <= noise else "") + ", and is still "
                     f"{100 * (full_acc - best_method[2]['accuracy']):.1f} pp below full precision.")
    if test4 is not None:
        only_full, only_q, p = test4
        lines.append(f"- 4-bit GPTQ against full precision, image by image on the reporting half: the full model alone "
                     f"is right on {only_full} images, the 4-bit model alone on {only_q}; McNemar p = {p:.3f}"
                     + f" ({report.mcnemar_verdict(p, only_full, only_q)}).")
    return "\n".join(lines)


def show_methods_summary(comparison: Sequence[dict[str, Any]], full: dict[str, Any], halves: holdout.Halves,
                         bits_values: Sequence[int]) -> tuple[dict[int, dict[str, Any]], tuple[int, int, float] | None]:
    """Show the comparison's reading; return the best quantizer per width and the 4-bit GPTQ McNemar test."""
    best_method = sweep.best_by(comparison, "bits")
    test4 = gptq4_test(comparison, full, halves, bits_values)
    report.markdown(methods_summary(comparison, best_method, full, bits_values, test4))
    return best_method, test4


def weight_count(model: SimpleDNN) -> int:
    """How many weights fc1..fc4 hold (biases not counted)."""
    return sum(layer.weight.numel() for _, layer in linear_layers(model))


def show_packed(model: SimpleDNN, checkpoint: Path, gptq_models: Mapping[int, Any], folder: Path,
                bits_values: Sequence[int], x_test: torch.Tensor, y_test: torch.Tensor,
                halves: holdout.Halves) -> list[dict[str, Any]]:
    """Write and reload real low-bit files (GPTQ where it ran, else MSE per channel), show their size and
    reporting-half accuracy; return their rows."""
    x_rep, y_rep = holdout.reporting(x_test, y_test, halves)
    fp32_bytes = checkpoint.stat().st_size
    n_weights = weight_count(model)
    files = []
    for b in bits_values:
        if b in gptq_models:
            packed_model, info = gptq_models[b]
            how = "GPTQ"
        else:
            path = folder / f"mse-channel-{b}bit.safetensors"
            info = pack.save_packed(model, path, b, mse_channel(b))
            packed_model, how = pack.load_packed(path), "MSE / channel"
        correct = evaluate.count_correct(packed_model, x_rep, y_rep)
        files.append({"bits": b, "how": how, "bytes": info["bytes"], "ideal": n_weights * b / 8,
                      "ratio": fp32_bytes / info["bytes"], **stats.accuracy_record(correct, y_rep.numel())})
    report.show_table(files, [("bits", "bits", ""), ("how", "quantizer", ""),
                              ("bytes", "file size", report.human_bytes),
                              ("ideal", "weights × bits / 8", report.human_bytes),
                              ("ratio", "smaller than float32", lambda v: f"{v:.1f}×"),
                              ("accuracy", "accuracy (reporting half)", lambda v: report.pct(v))],
                      caption=f"Packed low-bit files (GPTQ up to 4 bits, MSE per channel above), reloaded and "
                              f"evaluated; the float32 checkpoint is {report.megabytes(fp32_bytes)}.",
                      name="tbl-q-packed")
    return files


def weakest_text(weakest: dict[str, Any], layer_n: Mapping[str, int]) -> str:
    """The layer that limits 2 bits, with its share of the weights."""
    return f"{weakest['layer']}, which holds {report.pct(layer_n[weakest['layer']] / sum(layer_n.values()), 1)} " \
           "of the weights"


def show_sensitivity(model: SimpleDNN, x_test: torch.Tensor, y_test: torch.Tensor,
                     halves: holdout.Halves) -> list[dict[str, Any]]:
    """Quantize one layer at a time to 2 bits, show the accuracies, glue the weakest layer; return the rows."""
    sensitivity = holdout.split_rows(sweep.layer_sensitivity(model, mse_channel(2), x_test, y_test, sweep_cache()),
                                     halves)
    report.show_table(sensitivity, [("layer", "only this layer at 2 bits (MSE / channel)", ""),
                                    ("accuracy", "accuracy (reporting half)", lambda v: report.pct(v))],
                      caption="Which layer limits 2 bits: one layer at a time quantized, the others in full precision.",
                      name="tbl-q-sensitivity")
    weakest = min(sensitivity, key=lambda r: r["accuracy"])
    report.glue("qz-weakest", weakest_text(weakest, layer_sizes(model)))
    return sensitivity


def layer_sizes(model: SimpleDNN) -> dict[str, int]:
    """Each layer's weight count by name, in layer order."""
    return {name: layer.weight.numel() for name, layer in linear_layers(model)}


def show_mixed(model: SimpleDNN, x_test: torch.Tensor, y_test: torch.Tensor, halves: holdout.Halves,
               full: dict[str, Any], comparison: Sequence[dict[str, Any]], gptq_models: Mapping[int, Any],
               budgets: Sequence[float], calibration_images: int, seed: int,
               folder: Path) -> tuple[dict[tuple[str, int], Row], list[Row], list[Row]]:
    """Allocate widths per layer from measured sensitivity within each budget, GPTQ and pack them, show the
    files; return (sensitivity by (layer, bits), mixed rows, uniform GPTQ rows)."""
    layer_n = layer_sizes(model)
    n_weights = weight_count(model)
    sens, cache = {}, sweep_cache()
    for b in MIXED_WIDTHS:
        rows = sweep.layer_sensitivity(model, mse_channel(b), x_test, y_test, cache)
        for r in holdout.split_rows(rows, halves):
            sens[(r["layer"], b)] = r
    two_bit = gptq_models[2] if 2 in gptq_models else sweep.gptq_packed(model, 2, calibration_images, seed, folder,
                                                                                  cache=cache)
    side_bits = 8 * two_bit[1]["bytes"] - 2 * n_weights  # measured: everything in the 2-bit file but the codes
    mixed_rows = []
    for budget in budgets:
        alloc = mixed.allocate({k: r["select_accuracy"] for k, r in sens.items()}, layer_n, MIXED_WIDTHS, budget,
                               side_bits)
        mixed_model, info = sweep.gptq_packed(model, alloc, calibration_images, seed, folder, cache=cache)
        rec = holdout.split(stats.hits_record(evaluate.hits(mixed_model, x_test, y_test)), halves)
        _, _, p_mixed = holdout.mcnemar(full, rec, halves)
        mixed_rows.append({**rec, "budget": budget, "alloc": alloc, "bytes": info["bytes"], "p": p_mixed,
                           "bpw": 8 * info["bytes"] / n_weights, "tag": "/".join(str(alloc[n]) for n in layer_n)})
    uniform_rows = [{**c, "bpw": 8 * gptq_models[c["bits"]][1]["bytes"] / n_weights, "tag": f"{c['bits']} bits"}
                    for c in comparison if c["method"].startswith("GPTQ") and c["bits"] in gptq_models]
    report.show_table([{**r, "a": report.acc_ci(r)} for r in mixed_rows],
                      [("budget", "budget", "g"), ("tag", "/".join(layer_n), ""), ("bpw", "bits/weight", ".3f"),
                       ("bytes", "file", report.human_bytes), ("a", "accuracy [95% CI]", "")],
                      caption="Mixed precision chosen from measured sensitivity: budget and the bits of each layer, "
                              "the real file's bits per weight and size, accuracy on the reporting half.",
                      name="tbl-q-mixed")
    return sens, mixed_rows, uniform_rows


def mixed_summary(mixed_rows: Sequence[dict[str, Any]], uniform_rows: Sequence[dict[str, Any]],
                  full_acc: float) -> str:
    """Each budget's allocation, file and accuracy against full precision, and uniform 2 bits for comparison."""
    lines = []
    for r in mixed_rows:
        lines.append(f"- budget {r['budget']:g}: fc1..fc4 at {r['tag']} bits, {r['bpw']:.2f} bits per weight in the "
                     f"file ({report.human_bytes(r['bytes'])}), {report.acc_ci(r)}, "
                     f"{report.pp(r['accuracy'] - full_acc)} from full precision (McNemar p = {r['p']:.3f}).")
    u2 = next((u for u in uniform_rows if u["bits"] == 2), None)
    if u2:
        lines.append(f"- uniform 2 bits for comparison: {u2['bpw']:.2f} bits per weight, {report.acc_ci(u2)}, "
                     f"{report.pp(u2['accuracy'] - full_acc)}.")
    return "**Mixed precision** (no retraining, GPTQ on training images):\n\n" + "\n".join(lines)


def lands_text(best_method: Mapping[int, dict[str, Any]], sensitivity: Sequence[dict[str, Any]],
               full_acc: float) -> str:
    """Where 4 and 2 bits land against full precision, and which layer breaks 2 bits."""
    best4, best2 = best_method.get(4), best_method.get(2)
    weakest = min(sensitivity, key=lambda r: r["accuracy"])
    lines = []
    if best4:
        lines.append(f"- 4 bits: the best quantizer, {best4['method']}, is {report.pp(best4['accuracy'] - full_acc)} "
                     f"from full precision on the reporting half.")
    if best2:
        lines.append(f"- 2 bits: the best quantizer, {best2['method']}, is {report.pp(best2['accuracy'] - full_acc)} "
                     f"from full precision. Two bits leave four levels per output channel. Quantizing one layer at a "
                     f"time ({{numref}}`tbl-q-sensitivity`) shows where it breaks: {weakest['layer']} alone at 2 bits "
                     f"brings the model to {report.pct(weakest['accuracy'])}, while each other layer alone costs at "
                     f"most {100 * (full_acc - min(r['accuracy'] for r in sensitivity if r is not weakest)):.2f} pp. "
                     f"The deployment chapter combines pruning with quantization instead of pushing the full model "
                     f"to 2 bits.")
    return "**Where this lands**\n\n" + "\n".join(lines)


def record(model: SimpleDNN, parameters: dict[str, Any], halves: holdout.Halves, full: dict[str, Any],
           comparison: Sequence[dict[str, Any]], best_method: Mapping[int, dict[str, Any]],
           test4: tuple[int, int, float] | None, files: Sequence[dict[str, Any]],
           sensitivity: Sequence[dict[str, Any]], sens: Mapping[tuple[str, int], dict[str, Any]],
           mixed_rows: Sequence[dict[str, Any]]) -> Path:
    """Write the chapter's results (book/quantizers.results.json) under their stable names; return the path."""
    R = results.Results("quantizers", model_sha256(model), parameters)
    spread = results.spread_pp(halves.select.numel())  # the choices read the selection half
    R.accuracy("full_precision/accuracy", full)
    for r in comparison:
        R.accuracy(f"methods/{r['method']}/{r['bits']}bit/accuracy", r,
                   key=r["method"].startswith("GPTQ") and r["bits"] in (2, 4))
    for b, r in best_method.items():
        R.choice(f"methods/best/{b}bit", r["method"],
                 results.tied_best([c for c in comparison if c["bits"] == b], r, spread, "method"))
    if test4 is not None:
        only_full, only_q, p = test4
        R.add("mcnemar_4bit_gptq/only_full_right", only_full, "info")
        R.add("mcnemar_4bit_gptq/only_quantized_right", only_q, "info")
        R.add("mcnemar_4bit_gptq/p", p, "info")
    for f in files:
        R.add(f"packed/{f['bits']}bit/bytes", f["bytes"], "exact")
        R.accuracy(f"packed/{f['bits']}bit/accuracy", f)
    for r in sensitivity:
        R.accuracy(f"sensitivity_2bit/{r['layer']}/accuracy", r)
    for (layer, b), r in sens.items():
        R.accuracy(f"sensitivity/{layer}/{b}bit/accuracy", r)
    for r in mixed_rows:
        # info, not compared: a width can flip between machines where two upgrades gain about the same
        R.add(f"mixed/{r['budget']:g}/allocation", r["tag"], "info")
        R.add(f"mixed/{r['budget']:g}/bytes", r["bytes"], "info")
        R.add(f"mixed/{r['budget']:g}/bits_per_weight", r["bpw"], "info")
        R.add(f"mixed/{r['budget']:g}/accuracy", r["accuracy"], "info", n=r["total"])
    return R.save()
