"""The pruning chapter's sentences, verdicts and results record (lab3.book.chapters.pruning), on hand-made rows."""
import torch

from lab3.book import results
from lab3.book.chapters import pruning
from lab3.measure import holdout, stats

NBSP = "\u00a0"


def timing(ratio, loop, loading, latency=0.002, throughput=0.5):
    return {"ratio": ratio, "latency_s": latency, "throughput_s": throughput, "lab_loop_s": loop,
            "loading_s": loading, "model_s": loop - loading, "threads": 2}


def test_the_time_column_reads_as_loading_only_when_loading_is_most_of_every_pass():
    assert "mostly measures data loading" in pruning.loop_verdict([0.6, 0.9])
    assert pruning.loop_verdict([0.5, 0.9]) == ("So the lab's time column measures the network as much as the data "
                                                "loading.")


def test_timing_glue_reads_the_full_model_the_last_ratio_and_the_faster_full_latency():
    times = [timing(0.0, 2.0, 1.0, latency=0.004, throughput=0.25), timing(0.9, 1.0, 0.8, latency=0.0005,
                                                                         throughput=0.0123)]
    glue = pruning.timing_glue(times, fastest_full=0.003, ratios=[0.5, 0.9])
    assert glue["p-loop-min"] == "1.00" and glue["p-loading"] == "0.80 to 1.00"
    assert glue["p-share"] == "50% to 80%" and glue["p-share-last"] == "80%"
    assert glue["p-verdict"].endswith("as much as the data loading.")
    assert glue["p-thr"] == "0.25 s for the test set (full model) to 12.3 ms at ratio 0.9"
    assert glue["p-lat"] == "3.00 ms to 0.500 ms"
    assert glue["p-strict"] == "4.00 ms in the report's reproducible mode and 3.00 ms without it"
    assert pruning.timing_base(times, 0.01) == 0.004
    assert pruning.speedup_text(6.04) == "6.0×" and pruning.speedup_text(0.871) == "0.87×"


def test_plot_rows_pair_each_pruned_model_with_its_timing():
    lab = [{"ratio": 0.5, "accuracy": 0.9}, {"ratio": 0.9, "accuracy": 0.8}]
    times = [timing(0.0, 2.0, 1.0), timing(0.5, 1.5, 1.0), timing(0.9, 1.2, 1.0)]
    rows = pruning.plot_rows(lab, times)
    assert [(r["ratio"], r["accuracy"], r["lab_loop_s"]) for r in rows] == [(0.5, 0.9, 1.5), (0.9, 0.8, 1.2)]
    assert pruning.widths_text((1568, 392, 10)) == "1568-392-10"


def test_course_glue_counts_only_the_ratios_this_run_has_and_checks_every_parameter_count():
    course_p = [{"ratio": 0.2, "ours": 98.0, "diff": -0.5, "parameters": 10, "seed_parameters": 10},
                {"ratio": 0.3, "ours": 97.0, "diff": 1.5, "parameters": 8, "seed_parameters": 8},
                {"ratio": 0.5, "ours": 96.0, "diff": -0.2, "parameters": 6, "seed_parameters": 6},
                {"ratio": 0.9, "ours": None, "diff": None, "parameters": None, "seed_parameters": 2}]
    glue = pruning.course_glue(course_p)
    assert glue == {"p-course-median": "0.5", "p-course-max": "1.5", "p-course-n": "3",
                    "p-course-params": "equals the course's"}
    course_p[0]["parameters"] = 11
    assert pruning.course_glue(course_p)["p-course-params"] == "does **not** equal the course's"
    none_ran = pruning.course_glue([course_p[-1]])
    assert none_ran["p-course-median"] == none_ran["p-course-max"] == "–" and none_ran["p-course-n"] == "0"


def test_choice_text_names_the_model_or_says_none_meets_the_rule():
    assert pruning.choice_text(None, 0.98, 100, (0, 0, 1.0), 0.0) == "no lab-pruned model meets the rule"
    choice = {"ratio": 0.8, "parameters": 25, "float32_bytes": 100, **stats.accuracy_record(4900, 5000)}
    text = pruning.choice_text(choice, 0.985, 100, (30, 10, 0.002), 0.000456)
    assert text.startswith(f"ratio **0.8**: 25 parameters (0.1{NBSP}KB as float32, 4.0× fewer than the full model)")
    assert f"−0.50{NBSP}pp from the full model (McNemar p = 0.00: a real loss)" in text
    assert text.endswith("answering one image in 0.46 ms")


def test_record_writes_the_chapters_result_names_kinds_and_key_flags(tmp_path, monkeypatch):
    monkeypatch.setenv(results.OUT_ENV, str(tmp_path))
    labels = torch.arange(20) % 10
    halves = holdout.test_halves(labels)
    full = holdout.split(stats.hits_record(torch.ones(20, dtype=torch.bool)), halves)
    hits = torch.ones(20, dtype=torch.bool)
    hits[:3] = False
    lab = [holdout.split({**stats.hits_record(hits), "ratio": r, "parameters": p, "sizes": (4, 2),
                          "float32_bytes": 4 * p}, halves) for r, p in ((0.5, 40), (0.9, 10))]
    course_p = [{"ratio": 0.5, "seed": 98.0, "ours": 85.0, "seed_parameters": 40},
                {"ratio": 0.95, "seed": 70.0, "ours": None, "seed_parameters": 5}]
    times = [timing(0.0, 2.0, 1.0), timing(0.5, 1.5, 1.0), timing(0.9, 1.2, 1.0)]
    path = pruning.record("abc", {"tolerance_pp": 0.5}, full, lab, course_p, [], times, 0.001, lab[0], halves, 0.5)
    doc = results.load(path)
    values = doc["values"]
    assert doc["model_sha256"] == "abc" and doc["parameters"] == {"tolerance_pp": 0.5}
    assert values["full/accuracy"] == {"value": 1.0, "kind": "accuracy", "n": 10, "key": True}
    assert values["lab/0.5/parameters"]["key"] and "key" not in values["lab/0.5/accuracy"]
    assert values["lab/0.9/accuracy"]["key"] and values["lab/0.9/layer_widths"]["value"] == [4, 2]
    assert values["course/0.5/this_run"] == {"value": 0.85, "kind": "accuracy", "n": 20}
    assert "course/0.95/this_run" not in values and values["course/0.95/seed"]["value"] == 0.7
    assert values["timing/0.9/model_s"]["kind"] == "time" and "timing/full_fastest_fp32_latency_s" in values
    assert values["lab/recommended_ratio"]["value"]["choice"] == 0.5 and values["lab/recommended_ratio"]["key"]
