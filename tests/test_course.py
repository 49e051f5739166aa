"""The course's published tables, the distance to them, and the lab's statements checked on them."""
import pytest
import torch

from lab3.base.model import SimpleDNN, count_parameters
from lab3.compress.prune import prune_model
from lab3.experiments import course


def seed_rows():
    quant = [{"q": q, "bits": b, "correct": round(100 * a), "total": 10000}
             for (q, b), a in course.QUANTIZATION.items()]
    prune = [{"ratio": r, "parameters": course.PRUNING_PARAMETERS[r], "correct": round(100 * a), "total": 10000}
             for r, a in course.PRUNING_ACCURACY.items()]
    return quant, prune


def test_the_seed_tables_are_complete():
    assert len(course.QUANTIZATION) == 7 * 5 and len(course.PRUNING_ACCURACY) == 10
    assert course.QUANTIZATION[(0.8, 4)] == 85.40 and course.PRUNING_ACCURACY[0.95] == 70.02
    assert len(course.must_match_points()) == 6 + 9  # 8 bits for q >= 0.8; ratios 0.2 .. 0.92


def test_the_seed_parameter_counts_are_the_labs_pruning_of_the_architecture():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = SimpleDNN()
    for ratio in (0.2, 0.9, 0.95):
        assert count_parameters(prune_model(model, ratio)) == course.PRUNING_PARAMETERS[ratio]


def test_distance_is_zero_on_the_seed_and_counts_points_in_pp():
    quant = {k: v for k, v in course.QUANTIZATION.items()}
    d = course.distance(course.FULL_ACCURACY, quant, course.PRUNING_ACCURACY)
    assert (d.full, d.must_match_max, d.quant_median, d.pruning_median) == (0, 0, 0, 0) and d.score == 0
    shifted = {k: v - 2.0 for k, v in quant.items()}
    shifted[(0.5, 2)] = 90.0  # one far point moves the median by nothing
    pruned = {r: a - 0.5 for r, a in course.PRUNING_ACCURACY.items()}
    d = course.distance(98.29, shifted, pruned)
    assert d.full == pytest.approx(0.3) and d.quant_median == pytest.approx(2.0)
    assert d.pruning_median == pytest.approx(0.5) and d.must_match_max == pytest.approx(2.0)
    assert d.ratios()["must_match_max"] == pytest.approx(2.0) and d.score == pytest.approx(2.0)
    assert d.total == pytest.approx(1.0 + 2.0 + 2.0 / 3 + 0.5)
    with pytest.raises(ValueError, match="missing"):
        course.distance(98.0, {}, pruned)


def test_tables_pair_each_seed_point_with_this_runs_whole_test_set_accuracy():
    quant, prune = seed_rows()
    split = [{**r, "whole_correct": r["correct"], "correct": 1, "total": 5000, "select_total": 5000} for r in quant]
    table = course.quantization_table(split[:-1])
    assert len(table) == 35 and table[-1]["ours"] is None
    assert all(abs(r["diff"]) < 1e-9 for r in table[:-1])
    ptable = course.pruning_table(prune, seconds={0.2: 2.0, 0.95: 0.5})
    assert ptable[0]["seed_time_ratio"] == 1.0 and ptable[-1]["time_ratio"] == 0.25
    assert ptable[-1]["seed_time_ratio"] == pytest.approx(2.6991 / 11.2865)
    assert all(r["parameters"] == r["seed_parameters"] for r in ptable)


def test_the_labs_statements_hold_for_the_course_model_and_not_for_a_flat_one():
    quant, prune = seed_rows()
    said = course.statements(course.FULL_ACCURACY, course.INSIDE_ONE, course.quantization_table(quant),
                             course.pruning_table(prune))
    assert [s.name for s in said] == ["inside_one", "best_q_low_bits", "eight_bits_enough", "pruning_cliff",
                                      "pruning_flat"]
    assert all(s.holds for s in said), [s for s in said if not s.holds]
    # a model whose pruning falls from ratio 0.7 on: flat up to 0.7, but no cliff at 0.9
    falling = [{**r, "correct": round(100 * (98.6 - 20 * max(0.0, r["ratio"] - 0.7)))} for r in prune]
    said = {s.name: s for s in course.statements(98.6, 1.0, course.quantization_table(quant),
                                                 course.pruning_table(falling))}
    assert not said["pruning_cliff"].holds and said["pruning_flat"].holds is True
    assert "ratio ≤ 0.9" in said["pruning_cliff"].evidence


def test_the_course_plots_draw_both_runs():
    import matplotlib
    matplotlib.use("Agg")
    from lab3.book import plots

    quant, prune = seed_rows()
    table = course.quantization_table(quant)
    fig = plots.course_quantization(table)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 * 7 and [l.get_linestyle() for l in lines[:2]] == ["-", "--"]
    fig = plots.course_pruning(course.pruning_table(prune))
    assert len(fig.axes[0].get_lines()) == 2 and fig.axes[1].get_xscale() == "log"


def test_statement_list_gives_each_statement_its_verdict_and_evidence():
    said = [course.Statement("a", "One claim.", True, "98.00% here"), course.Statement("b", "Another.", False, "x")]
    assert course.statement_list(said) == "- *One claim.* Holds: 98.00% here.\n- *Another.* Does not hold: x."
    assert course.statement_list([]) == ""
