"""The deployment chapter's sentences, verdicts, table rows and results record, on hand-made rows."""
from pathlib import Path

import pytest
import torch

from lab3.base.model import SimpleDNN
from lab3.book import results
from lab3.book.chapters import deployment as ch
from lab3.measure import holdout, peak

NBSP = "\u00a0"


def row(label="r0.9 4-bit", **kw):
    base = {"label": label, "parameters": 12345, "bytes": 20_000, "accuracy": 0.98, "select_accuracy": 0.98,
            "ci_low": 0.975, "ci_high": 0.985, "correct": 4900, "total": 5000, "latency_s": 2e-5,
            "throughput_s": 1e-2, "distill_epochs": 0, "distill_seconds": 0.0, "qat_seconds": 0.0,
            "compress": "lzma", "threads": 2}
    return {**base, **kw}


def runtime(runtime, compute, target="full", **kw):
    base = {"target": target, "runtime": runtime, "compute": compute, "how": "", "bytes": 1_000_000,
            "latency_s": 1e-4, "throughput_s": 1e-2, "macs_per_s": 1e10, "accuracy": 0.98,
            "select_accuracy": 0.98, "lat_x": 1.0, "thr_x": 1.0, "peak_share": 0.5, "ceiling_share": 0.5,
            "correct": 4900, "total": 5000}
    return {**base, **kw}


def test_grid_recipes_add_the_distilled_ratios_in_the_grids_order():
    recipes = ch.grid_recipes([0.5, 0.95], [8, 4], [0.95], 10, 1024, 3)
    assert [(r.ratio, r.distill_epochs, r.bits) for r in recipes] == [
        (0.5, 0, 8), (0.5, 0, 4), (0.95, 0, 8), (0.95, 0, 4), (0.95, 10, 8), (0.95, 10, 4)]
    assert all(r.calibration_images == 1024 and r.seed == 3 for r in recipes)
    assert [r.distill_epochs for r in ch.grid_recipes([0.95], [8], [0.95], 0, 1024, 0)] == [0]


def test_frontier_recipes_take_the_per_layer_widths_and_float16_sides():
    recipes = ch.frontier_recipes([0.955, 0.96], [[4, 4, 2, 4]], 0.05, [40, 20], 4096, 0)
    assert [(r.ratio, r.bits, r.distill_epochs, r.qat_epochs, r.side) for r in recipes] == [
        (0.955, (4, 4, 2, 4), 40, 20, "float16"), (0.96, (4, 4, 2, 4), 40, 20, "float16")]
    assert ch.recipe_of(None, recipes) is None
    assert ch.recipe_of({"label": recipes[1].label}, recipes) is recipes[1]


def test_mcnemar_clause_calls_a_loss_real_only_when_significant_and_a_loss():
    assert ch.mcnemar_clause(0.01, 30, 10) == "; the loss is real, and it is the price of the size)."
    assert ch.mcnemar_clause(0.01, 10, 30) == "; no difference detectable)."
    assert ch.mcnemar_clause(0.2, 30, 10) == "; no difference detectable)."


def test_rule1_sentence_states_size_ratio_accuracy_and_the_test():
    text = ch.rule1_sentence(row(), "the rule", 2_000_000, 0.985, (12, 7, 0.359))
    assert text.startswith("**Rule 1** (the rule): **r0.9 4-bit**: 12,345 parameters in a 20.0" + NBSP + "KB file, "
                           "100× smaller than the 2.00" + NBSP + "MB float32 checkpoint.")
    assert "−0.50" + NBSP + "pp from the full model" in text
    assert "alone is right on 12 of those images and this model alone on 7 (McNemar p = 0.359; no difference" in text
    assert text.endswith(" It is marked in {numref}`fig-d-size`.")
    assert ch.rule_text(0.5, 0.9812) == ("among the pipeline's models whose accuracy on the selection half is within "
                                         "0.5 pp of the full model's (98.12%), the smallest packed file")


def test_tie_sentence_names_the_other_candidates_or_nothing():
    assert ch.tie_sentence([], 5000, 0.78) is None
    text = ch.tie_sentence(["a", "b"], 5000, 0.7778)
    assert "5,000-image selection half moves by up to 0.78 pp" in text and text.endswith(
        "pick 2 other models: **a**; **b**.")
    many = ch.tie_sentence(["ratio 0.9, 3-bit", "b", "c", "d", "e", "f"], 5000, 0.78)
    assert many.endswith("pick 6 other models: **ratio 0.9, 3-bit**; **b**; **c**; **d** and 2 larger ones.")
    assert ch.tie_sentence(["a"], 5000, 0.78).endswith("pick 1 other model: **a**.")


def test_rule2_sentence_compares_with_the_fastest_full_model():
    fast = ch.FullTiming({0.0: {"latency_s": 1e-3}}, {"latency_s": 8e-4})
    text = ch.rule2_sentence(row(latency_s=2e-5), row(), fast)
    assert "at 0.020 ms, 40× faster than the full model in PyTorch float32 at its fastest (0.80 ms; 1.00 ms in " \
           "the report's reproducible mode). It is the same model as rule 1." in text
    strict = ch.FullTiming({0.0: {"latency_s": 1e-3}}, {"latency_s": 2e-3})
    text = ch.rule2_sentence(row("other", latency_s=2e-5), row(), strict)
    assert "(1.00 ms, in the report's reproducible mode, which was the faster here)." in text
    assert text.endswith("so rule 1's file is the one we ship.")
    assert ch.rule2_sentence(None, row(), strict) is None


def test_finetune_and_frontier_seconds_sentences():
    assert ch.finetune_sentence([row()], 10) is None
    text = ch.finetune_sentence([row(), row(distill_epochs=10, distill_seconds=31.26),
                                 row(distill_epochs=10, distill_seconds=44.9)], 10)
    assert "Each distillation (10 epochs over the 60,000 training images) took between 31 and 45 s" in text
    assert "(2 threads)" in text
    beyond = [row(distill_seconds=100.0, qat_seconds=50.0), row(distill_seconds=90.0, qat_seconds=40.0)]
    assert ch.frontier_seconds_sentence(beyond, None, [40, 20]).endswith("between 130 and 150 s on this machine.")
    assert ch.frontier_seconds_sentence(beyond, beyond[0], [40, 20]).endswith(
        "; the chosen one 100 s of distillation and 50 s of quantization-aware fine-tuning.")


def test_frontier_verdict_is_level_only_when_both_no_larger_and_no_less_accurate():
    assert ch.frontier_verdict(row(bytes=27_000, accuracy=0.9842), 27_000, 0.9842).startswith("the target is met")
    assert ch.frontier_verdict(row(bytes=26_000, accuracy=0.98), 27_000, 0.9842) == \
        "smaller and less accurate on the reporting half."
    assert ch.frontier_verdict(row(bytes=28_000, accuracy=0.99), 27_000, 0.9842) == \
        "larger and at least as accurate on the reporting half."


def test_frontier_sentence_states_the_file_the_test_and_the_onnx_check():
    chosen = row(inputs=512, bits_per_weight=3.21, bytes=25_000, accuracy=0.985)
    text = ch.frontier_sentence(chosen, 0.985, 2_500_000, (5, 6, 1.0),
                                {"bytes": 60_000, "correct": 4901, "total": 5000}, 0.05)
    assert text.startswith("**Chosen: r0.9 4-bit.** 12,345 parameters, fc1 reading 512 of 784 pixels (those "
                           "non-zero in more than 5% of the training images), in a 25.0" + NBSP + "KB file (3.21 bits")
    assert "100× smaller than the float32 checkpoint" in text and "the target is met" in text
    assert text.endswith("classifies 4,901 of the reporting half's 5,000 images correctly under ONNX Runtime, "
                         "the packed model 4,900.")
    assert ch.frontier_choice([row(select_accuracy=0.98), row("b", bytes=1, select_accuracy=0.99)])["label"] == "b"
    assert ch.frontier_choice([row(select_accuracy=0.98)]) is None


def test_figure_rows_and_the_front():
    points = [row("a", bytes=10, accuracy=0.97), row("b", bytes=20, accuracy=0.98, distill_epochs=10),
              row("c", bytes=30, accuracy=0.975)]
    assert [p["group"] for p in ch.grid_rows(points)] == ["pipeline", "pipeline, fine-tuned", "pipeline"]
    assert [p["label"] for p in ch.front(points, "bytes")] == ["a", "b"]


def test_speed_ups_and_the_fastest_float32_rows():
    assert ch.times_x(0.957) == "0.96" and ch.times_x(12.34) == "12.3"
    assert ch.slower(2.0, 1.0) == "2.00× slower" and ch.slower(1.0, 4.0) == "4.00× faster"
    rows = [runtime("a", "fp32", latency_s=2e-4, throughput_s=1e-2), runtime("b", "fp32", latency_s=1e-4,
                                                                              throughput_s=3e-2),
            runtime("c", "int8", latency_s=1e-5, throughput_s=1e-3), runtime("a", "fp32", "recommended")]
    best = ch.fastest_fp32(rows, ["full", "recommended"])
    assert best["full"]["latency_s"]["runtime"] == "b" and best["full"]["throughput_s"]["runtime"] == "a"
    assert best["recommended"]["latency_s"] is rows[3]
    shown = ch.runtime_table_rows([runtime("torchao-int8", "int8", how="eager", latency_s=2e-4, throughput_s=0.5)])
    assert shown[0]["runtime"] == "torchao-int8 (eager)" and shown[0]["lat"] == pytest.approx(0.2)
    assert shown[0]["thr"] == pytest.approx(500)


CPU = peak.Cpu("GenuineIntel", "test", frozenset({"avx512f", "avx512_vnni", "fma", "avx2"}), 2, 2000.0)


def runtimes_of(rows, ceilings=(6e10, 1e11)):
    peaks = {d: peak.peak_macs(CPU, d, 2) for d in ("fp32", "int8")}
    return ch.Runtimes(rows, ch.fastest_fp32(rows, sorted({r["target"] for r in rows})), CPU, 2, peaks,
                       dict(zip(("fp32", "int8"), ceilings)))


def full_runtimes(**int8):
    return [runtime("pytorch-fp32 (strict)", "fp32", latency_s=2e-4, throughput_s=2e-2, bytes=1_000_000),
            runtime("pytorch-fp32", "fp32", latency_s=1e-4, throughput_s=1e-2, macs_per_s=2e10, peak_share=0.95),
            runtime("ort-int8", "int8", **{"latency_s": 5e-5, "lat_x": 2.0, "macs_per_s": 4e10, "peak_share": 0.3,
                                           "ceiling_share": 0.95, "bytes": 250_000, **int8})]


def test_throughput_line_verdicts():
    best8, best32 = full_runtimes()[2], full_runtimes()[1]
    assert ch.throughput_line(best8, best32, False).endswith("the gap is not this model's shape.")
    assert "95% of the best int8 square product" in ch.throughput_line(best8, best32, False)
    low = {**best8, "ceiling_share": 0.5}
    assert ch.throughput_line(low, best32, False).endswith("ort-int8 is the closest.")
    slow = ch.throughput_line(best8, best32, True)
    assert "is no yardstick. The fastest float32 runtime, pytorch-fp32, reaches 95% of the float32 peak. " == \
        slow[slow.index("is no yardstick"):]


def test_ceiling_line_names_slow_int8_products_and_turbo():
    peaks = {"fp32": 1e11, "int8": 4e11}
    text = ch.ceiling_line(CPU, peaks, {"fp32": 1.2e11, "int8": 1e11})
    assert "is 4× per cycle (avx512_vnni against avx512f)" in text
    assert "reach 120 G/s in float32 and 100 G/s in int8 (0.83×), 120% and 25% of the peaks" in text
    assert "; PyTorch has no fast int8 matrix product" in text and text.endswith("above the nominal clock.")
    assert ch.ceiling_line(CPU, peaks, {"fp32": 5e10, "int8": 2e11}).endswith("of the peaks.")


def test_slow_mkl_and_small_lines():
    rows = full_runtimes()
    assert ch.slow_line(rows) is None
    slow = ch.slow_line(rows + [runtime("pytorch-int8", "int8", thr_x=0.05, throughput_s=2.5)])
    assert slow == ("- **Without a fast kernel on this CPU**: pytorch-int8 takes 2,500 ms over the test set, more "
                    "than ten times the fastest float32 runtime: its int8 path falls back to slow code here.")
    assert ch.mkl_line(rows) == ("- **MKL's reproducible mode**: PyTorch float32 under it is 2.00× slower at batch 1 "
                                 "(0.20 against 0.10 ms) and 2.00× slower over the test set than without it.")
    assert ch.small_line([]) is None
    small = [runtime("pytorch-fp32", "fp32", "recommended", latency_s=2e-5, accuracy=0.98),
             runtime("ort-int8", "int8", "recommended", latency_s=3e-5, accuracy=0.9790)]
    text = ch.small_line(small)
    assert "every runtime answers within 0.03 ms, and the fastest is pytorch-fp32 (0.020 ms): no int8 kernel beats "\
           "float32 at this size. The least accurate is ort-int8, −0.10" + NBSP + "pp from the float32 file." in text
    small[1]["latency_s"] = 1e-5  # an int8 kernel fastest: a full stop, not a colon, before the next sentence
    assert "the fastest is ort-int8 (0.010 ms). The least accurate is ort-int8" in ch.small_line(small)


def test_limits_pick_the_rows_and_the_text_follows_the_machine(monkeypatch):
    monkeypatch.setattr(peak, "read_bandwidth", lambda nbytes, min_time=0.5: 1e10)
    rows = full_runtimes() + [runtime("ort-int4", "int8", latency_s=1e-6, select_accuracy=0.97)]  # too inaccurate
    rt = runtimes_of(rows)
    lim = ch.limits(rt, 0.98, 0.1)
    assert lim.best8["runtime"] == "ort-int8" and lim.best32["runtime"] == "pytorch-fp32"
    assert lim.fast1["runtime"] == "ort-int8" and lim.best_lat32["runtime"] == "pytorch-fp32"
    assert lim.floor_s == pytest.approx(2.5e-5)
    text = ch.limits_text(rt, lim, 0.985)
    lines = text.split("\n")
    assert [line.split("**")[1] for line in lines] == [
        "How the peaks are computed", "The physical ceiling of int8 over float32", "Throughput",
        "MKL's reproducible mode", "Batch 1"]
    assert "streams at 10 GB/s (measured on a buffer of that size), so no runtime can go below 0.025 ms" in lines[-1]
    assert "at most 4× on this machine" in lines[-1]
    no_file = ch.Limits(lim.best8, lim.best32, {**lim.fast1, "bytes": None}, lim.best_lat32, None)
    assert no_file.floor_s is None and "streams" not in ch.batch1_line(no_file, 0.985)
    unknown = ch.Runtimes(rows, rt.fp32_best, peak.Cpu("?", "?", frozenset(), 0, 0.0), 2, {"fp32": 0.0, "int8": 0.0},
                          rt.ceilings)
    assert "**The physical ceiling" not in ch.limits_text(unknown, lim, 0.985)


def test_record_writes_the_chapters_names_and_kinds(tmp_path, monkeypatch):
    monkeypatch.setenv(results.OUT_ENV, str(tmp_path))
    halves = holdout.Halves(torch.arange(0, 4), torch.arange(4, 8))
    full = ch.Full(Path("m.pt"), SimpleDNN([4, 4, 4], in_features=4, num_classes=2), torch.zeros(8, 4),
                   torch.zeros(8), halves, row(), torch.zeros(4, 4), torch.zeros(4))
    points = [row("p", select_accuracy=0.979, distill_epochs=10, distill_seconds=3.0)]
    beyond = [row("f", inputs=300, path="f.safetensors")]
    refs = [{**row(), "group": "lab pruning (float32)", "ratio": 0.5, "bits": 32}]
    rows = full_runtimes()
    rt = runtimes_of(rows)
    lim = ch.Limits(rows[2], rows[1], rows[2], rows[1], 1e10)
    card = {"test_correct": 4910, "test_total": 5000, "files": {"packed": {"bytes": 19_999}}}
    rec = ch.Recommendation(points[0], points[0], card, beyond[0], {"correct": 4901})
    times = ch.FullTiming({0.0: {"latency_s": 1e-3}}, {"latency_s": 8e-4})
    path = ch.record({"seed": 0}, full, 0.5, points, times, refs, beyond, rec, rt, lim)
    values = results.load(path)["values"]
    assert values["pipeline/p/bytes"]["kind"] == "compressed_bytes"
    assert values["pipeline/p/finetune_seconds"] == {"value": 3.0, "kind": "time"}
    assert values["references/lab pruning (float32)/ratio 0.5, 32-bit/bytes"] == {"value": 20_000, "kind": "exact"}
    assert values["full/fastest_fp32_latency_s"]["value"] == 8e-4
    assert values["frontier/f/inputs"] == {"value": 300, "kind": "exact"}
    assert values["frontier/chosen_onnx_correct"]["value"] == 4901
    assert values["recommended/by_size"] == {"value": {"choice": "p", "tied": ["p"]}, "kind": "choice", "key": True}
    assert values["recommended/accuracy"] == {"value": 0.982, "kind": "accuracy", "n": 5000, "key": True}
    assert values["runtimes/full/pytorch-fp32-strict/bytes"] == {"value": 1_000_000, "kind": "info"}
    assert values["targets/batch1_speedup"]["value"]["floor_s"] == pytest.approx(2.5e-5)
    assert values["targets/batch1_speedup"]["value"]["loss_pp"] == pytest.approx(0.0)
