"""The cross-machine comparison: results files, tolerance rules, tied choices, and the committed reference."""
import copy
import json

import pytest

from lab3.book import reproduce, results

TOL = results.load_tolerances()


def doc(values, params=None, sha="a" * 64):
    return {"chapter": "quantization", "model_sha256": sha, "parameters": params or {"bits": [2, 4]}, "values": values}


BASE = {
    "parameters": {"value": 25889258, "kind": "exact"},
    "acc_high": {"value": 0.9883, "kind": "accuracy", "n": 10000},
    "acc_mid": {"value": 0.9453, "kind": "accuracy", "n": 10000},
    "acc_cliff": {"value": 0.6950, "kind": "accuracy", "n": 10000},
    "max_w": {"value": 0.111, "kind": "model_stat"},
    "file": {"value": 60056, "kind": "compressed_bytes"},
    "seconds": {"value": 5.9, "kind": "time"},
    "best_q": {"value": {"choice": "0.25·max|w|", "tied": ["0.25·max|w|", "0.5·max|w|"]}, "kind": "choice"},
}


def run_with(**changes):
    values = copy.deepcopy(BASE)
    for name, value in changes.items():
        values[name]["value"] = value
    return {"baseline": BASELINE, "quantization": doc(values)}


FULL = 0.9890  # the reference model's full-precision accuracy, which the accuracy tiers are stated from
BASELINE = {"chapter": "baseline", "model_sha256": "a" * 64, "parameters": {},
            "values": {"test_accuracy": {"value": FULL, "kind": "accuracy", "n": 10000}}}


def statuses(run):
    reference = {"baseline": BASELINE, "quantization": doc(copy.deepcopy(BASE))}
    rows = reproduce.compare(reference, run, TOL)
    return {r.name: r.status for r in rows if r.chapter == "quantization"}


def test_identical_results_agree_and_timings_are_not_compared():
    s = statuses(run_with())
    assert s.pop("seconds") == "info"
    assert set(s.values()) == {"agree"}


ACC = TOL["kinds"]["accuracy"]["tiers"]
HIGH, EDGE = ACC[0]["abs_pp"] / 100, FULL - ACC[1]["below_full_pp"] / 100 + ACC[1]["margin_pp"] / 100
RATIO = TOL["kinds"]["model_stat"]["max_ratio"]
REL = TOL["kinds"]["compressed_bytes"]["rel"]


@pytest.mark.parametrize("name, inside, outside", [
    ("parameters", 25889258, 25889257),
    ("acc_high", 0.9883 - 0.98 * HIGH, 0.9883 - 1.02 * HIGH),   # within the spread of full precision
    ("acc_high", 0.9883 + 0.98 * HIGH, 0.9883 + 1.02 * HIGH),
    ("acc_mid", 0.30, EDGE + 0.001),                             # further below: anywhere, up to the edge's noise
    ("acc_cliff", 0.30, 0.995),                                  # a cliff may move anywhere below that edge
    ("max_w", 0.111 * 0.98 * RATIO, 0.111 * 1.02 * RATIO),       # within a factor
    ("max_w", 0.111 / (0.98 * RATIO), 0.111 / (1.02 * RATIO)),
    ("file", 60056 * (1 + 0.9 * REL), 60056 * (1 + 1.1 * REL)),  # relative
])
def test_each_tolerance_accepts_inside_and_rejects_outside(name, inside, outside):
    assert statuses(run_with(**{name: inside}))[name] == "agree"
    assert statuses(run_with(**{name: outside}))[name] == "differ"


def test_accuracy_tolerance_scales_with_the_number_of_images():
    rule = reproduce.rule_for("x", "accuracy", TOL)
    moved = 0.99 - 1.5 * HIGH
    assert reproduce.compare_value(0.99, moved, rule, 10000, full=0.99)[2] == "differ"
    diff, tol, status = reproduce.compare_value(0.99, moved, rule, 1000, full=0.99)  # one digit's ~1,000 images
    assert status == "agree" and tol == f"±{100 * HIGH * 10 ** 0.5:.2g} pp"             # x sqrt(10)


def test_the_top_tier_is_stated_from_full_precision_not_from_an_absolute_accuracy():
    rule = reproduce.rule_for("x", "accuracy", TOL)
    within = ACC[0]["within_pp_of_full"] / 100
    # measured (2026-12-07, reference 431badac at 97.76%): the lab quantizer at q = 0.25 max|w|, 8 bits, is set by
    # clipping, 0.68 pp under full precision: 97.08% on 5,000 images, 95.86% under ATEN_CPU_CAPABILITY=default
    assert reproduce.compare_value(0.9708, 0.9586, rule, 5000, full=0.9776)[2] == "agree"
    # the same values on a model at 97.40%: within the spread of full precision, so held to the top tier's noise
    assert reproduce.compare_value(0.9708, 0.9586, rule, 5000, full=0.9740)[2] == "differ"
    assert reproduce.compare_value(0.9776 - 0.99 * within, 0.9776, rule, 10000, full=0.9776)[1].startswith("±")
    assert "stays below" in reproduce.compare_value(0.9776 - 1.01 * within, 0.9776, rule, 10000, full=0.9776)[1]


def test_a_relative_tier_without_the_references_full_accuracy_is_one_clear_error():
    rule = reproduce.rule_for("x", "accuracy", TOL)
    with pytest.raises(ValueError, match="reference/baseline.json"):
        reproduce.compare_value(0.97, 0.97, rule, 10000)


def test_a_choice_among_the_tied_candidates_is_tied_and_elsewhere_differs():
    tied = {"choice": "0.5·max|w|", "tied": ["0.5·max|w|"]}
    assert statuses(run_with(best_q=tied))["best_q"] == "tied"
    moved = {"choice": "1·max|w|", "tied": ["1·max|w|"]}
    assert statuses(run_with(best_q=moved))["best_q"] == "differ"


def test_a_choice_whose_ties_hold_the_references_is_tied_and_says_so():
    # the reference had no tie, the run's choice ties with the reference's (e.g. both on the cliff)
    ref = {"choice": "lab fixed q", "tied": ["lab fixed q"]}
    run = {"choice": "GPTQ", "tied": ["GPTQ", "lab fixed q"]}
    diff, allowed, status = reproduce.compare_value(ref, run, {"rule": "choice"})
    assert (diff, status) == ("moved", "tied") and allowed == "the same, or a tied candidate (GPTQ)"
    assert reproduce.compare_value(ref, ref, {"rule": "choice"})[1] == "the same (no tied candidate)"


def test_a_vanished_result_is_missing_and_fails():
    run = run_with()
    del run["quantization"]["values"]["acc_high"]
    rows = reproduce.compare({"baseline": BASELINE, "quantization": doc(copy.deepcopy(BASE))}, run, TOL)
    assert [r.name for r in reproduce.failures(rows)] == ["acc_high"]


def test_other_parameters_are_reported_not_compared():
    run = {"baseline": BASELINE, "quantization": doc(copy.deepcopy(BASE), params={"bits": [8]})}
    rows = reproduce.compare({"baseline": BASELINE, "quantization": doc(copy.deepcopy(BASE))}, run, TOL)
    assert [(r.name, r.status) for r in rows if r.chapter == "quantization"] == [("(parameters)", "skipped")]
    assert "bits" in rows[-1].tolerance


def test_failure_lines_name_the_result_and_the_move():
    rows = reproduce.compare({"baseline": BASELINE, "quantization": doc(copy.deepcopy(BASE))}, run_with(acc_high=0.97),
                             TOL)
    lines = reproduce.report_lines(rows)
    assert len(lines) == 1 and "quantization.acc_high" in lines[0] and "-1.83 pp" in lines[0]
    assert f"±{100 * HIGH:.2g} pp" in lines[0] and "98.83%" in lines[0] and "97.00%" in lines[0]


def test_tied_rule_lists_what_noise_could_pick():
    rows = [{"label": "a", "bytes": 10, "accuracy": 0.9830}, {"label": "b", "bytes": 20, "accuracy": 0.9838},
            {"label": "c", "bytes": 40, "accuracy": 0.9870}, {"label": "d", "bytes": 5, "accuracy": 0.9700}]
    # full 0.9883, tolerance 0.5 pp, spread 0.3 pp: 'a' (loss 0.53) and 'b' (0.45) are possible, 'c' (0.13) is sure
    assert results.tied_rule(rows, 0.9883, 0.5, 0.3, "bytes", "label") == ["a", "b", "c"]
    assert results.tied_rule(rows, 0.9883, 0.5, 0.0, "bytes", "label") == ["b"]


def test_tied_best_keeps_candidates_within_the_spread():
    rows = [{"q": 1, "accuracy": 0.90}, {"q": 2, "accuracy": 0.9025}, {"q": 3, "accuracy": 0.91}]
    assert results.tied_best(rows, rows[2], 0.3, "q", cliff_accuracy=0.8) == [3]
    assert results.tied_best(rows, rows[2], 1.0, "q", cliff_accuracy=0.8) == [1, 2, 3]


def test_tied_best_on_the_cliff_ties_every_candidate_on_it():
    # measured: 2-bit accuracies between 30% and 90% move by up to 48 pp between machines, so any of them may win
    rows = [{"q": 1, "accuracy": 0.40}, {"q": 2, "accuracy": 0.85}, {"q": 3, "accuracy": 0.975}]
    assert results.tied_best(rows[:2], rows[1], 0.35, "q") == [1, 2]  # the default cliff is the tolerances' 97%
    assert results.tied_best(rows, rows[2], 0.35, "q") == [3]  # a best above the cliff ties only within the spread
    assert results.cliff() == 0.97


def test_a_cliff_value_may_fall_anywhere_but_rise_only_past_the_edge_by_the_top_tiers_noise():
    rule = {"rule": "tiers", "n_ref": 10000, "tiers": [{"from": 0.97, "abs_pp": 0.7},
                                                       {"from": 0.0, "below": 0.97, "margin_pp": 0.7}]}
    assert reproduce.compare_value(0.9008, 0.6414, rule, 5000)[2] == "agree"  # measured: AMD vs Xeon, 3-bit max-abs
    assert reproduce.compare_value(0.9672, 0.9738, rule, 5000)[2] == "agree"  # measured: 0.66 pp past the edge
    assert reproduce.compare_value(0.9672, 0.9810, rule, 5000)[2] == "differ"  # 97.99% is the limit on 5,000 images


def test_a_decibel_result_is_compared_by_its_difference():
    rule = {"rule": "absolute", "abs": 6.0, "unit": "dB"}
    assert reproduce.compare_value(2.04, 0.55, rule) == ("-1.49 dB", "±6 dB", "agree")
    assert reproduce.compare_value(8.0, 15.0, rule)[2] == "differ"


def test_results_refuse_unknown_kinds_and_duplicates(tmp_path, monkeypatch):
    monkeypatch.setenv(results.OUT_ENV, str(tmp_path))
    r = results.Results("baseline", "f" * 64, {"model_path": None})
    r.add("n", 3, "exact")
    with pytest.raises(ValueError, match="recorded twice"):
        r.add("n", 3, "exact")
    with pytest.raises(ValueError, match="kind must be one of"):
        r.add("m", 3, "approximately")
    r.choice("best", 2, [3, 2, 3])
    saved = json.loads(r.save().read_text())
    assert saved["values"]["best"]["value"] == {"choice": 2, "tied": [2, 3]}
    assert saved["parameters"] == {"model_path": None} and (tmp_path / "baseline.json").is_file()


def test_committed_book_results_agree_with_the_reference():
    """The results beside the executed notebooks are within tolerance of reference/ (equal on the reference machine)."""
    reference, book = reproduce.load_reference(), reproduce.load_set(None)
    assert set(reference) == set(book) == {"baseline", "quantization", "pruning", "quantizers", "repair",
                                                "deployment"}
    rows = reproduce.compare(reference, book, TOL)
    assert not reproduce.failures(rows), "\n".join(reproduce.report_lines(rows))
    assert sum(r.status == "agree" for r in rows) > 200


def test_labels_read_as_text_and_keep_names_with_slashes():
    row = reproduce.Row("quantization", "methods/GPTQ (MSE / channel)/2bit/accuracy", "accuracy", 0, 0, "", "", "")
    assert reproduce.label(row) == "quantization: methods › GPTQ (MSE / channel) › 2bit › accuracy"
    assert reproduce.show(0.98765, "accuracy") == "98.77%" and reproduce.show(25889258) == "25,889,258"


def test_the_spread_is_stated_for_ten_thousand_images_and_grows_on_fewer():
    rules = copy.deepcopy(results.load_tolerances())
    rules["kinds"]["accuracy"].update(spread_pp=0.5, n_ref=10000)
    assert results.spread_pp(tolerances=rules) == 0.5
    assert results.spread_pp(10000, rules) == 0.5
    assert results.spread_pp(2500, rules) == pytest.approx(1.0)  # sqrt(10000 / 2500) = 2
    with pytest.raises(ValueError, match="n must be"):
        results.spread_pp(0, rules)


def test_the_course_spread_is_read_and_checked_and_printed_from_a_results_folder(tmp_path):
    spread = results.course_spread()
    assert len(spread) >= 2 and all(set(results.CRITERIA) <= set(e) for e in spread)
    with pytest.raises(ValueError, match="course_spread entry lacks"):
        results.course_spread({"course_spread": [{"numerics": "x", "full": 1.0}]})
    line = reproduce.course_distance_line(results.REFERENCE, "native")
    reference = next(e for e in spread if line.split('model: "')[1][:8] == e["model"])  # the reference's own entry
    assert all(f"{k}: {reference[k]:.2f}" in line for k in results.CRITERIA)
    with pytest.raises(FileNotFoundError, match="no results for"):
        reproduce.course_distance_line(tmp_path)
