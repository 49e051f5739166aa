"""The repair chapter's table rows and sentences (lab3.book.chapters.repair), on hand-made rows."""
from lab3.book.chapters import repair
from lab3.measure import stats

NBSP = "\u00a0"


def row(method, ratio, correct, parameters=100):
    return {"method": method, "ratio": ratio, "parameters": parameters, **stats.accuracy_record(correct, 5000)}


def test_methods_table_has_one_row_per_method_in_order_with_each_ratio_as_a_column():
    rows = [row(repair.LAB, 0.5, 4900), row(repair.BEST_FAST, 0.5, 4950), row(repair.LAB, 0.9, 4000),
            row(repair.FINETUNED, 0.9, 4940)]
    table = repair.methods_table_rows(rows)
    assert [t["method"] for t in table] == [repair.LAB, repair.BEST_FAST, repair.FINETUNED]
    assert table[0] == {"method": repair.LAB, 0.5: 0.98, 0.9: 0.8}
    assert 0.5 not in table[2] and table[2][0.9] == 0.988


def test_gap_lines_add_the_distillation_and_flag_activation_importance_only_beyond_the_spread():
    rows = [row(repair.LAB, 0.9, 4500), row(repair.BEST_FAST, 0.9, 4900), row(repair.ACTIVATION, 0.9, 4400),
            row(repair.LAB, 0.95, 3500), row(repair.BEST_FAST, 0.95, 4800), row(repair.ACTIVATION, 0.95, 3490),
            row(repair.FINETUNED, 0.95, 4925)]
    lines = repair.gap_lines(rows, 0.99, [0.9, 0.95], 10, spread_pp=1.0)
    assert lines[0] == (f"- ratio 0.9: lab 90.00% → activation + repair 98.00%{NBSP}[97.57,{NBSP}98.35] "
                        f"(−1.00{NBSP}pp vs the full model).")
    assert lines[1].endswith(f"; after a 10-epoch distillation: 98.50%{NBSP}[98.12,{NBSP}98.80] (−0.50{NBSP}pp).")
    # 2 pp worse at 0.9 is beyond a 1 pp spread; 0.2 pp worse at 0.95 is not
    assert lines[2] == ("- Activation importance alone is no fix: at ratio 0.9 it keeps worse neurons than the lab's "
                        "L2 rule. The repair is what recovers the accuracy.")
    assert len(repair.gap_lines(rows, 0.99, [0.9, 0.95], 10, spread_pp=3.0)) == 2


def test_better_text_names_the_picks_and_the_distilled_one_only_when_it_is_smaller():
    better = row(repair.BEST_FAST, 0.92, 4900, parameters=250)
    smaller = row(repair.FINETUNED, 0.95, 4910, parameters=100)
    tail = " The deployment chapter combines pruning with quantization."
    text = repair.better_text(better, smaller, 2500)
    assert text.startswith("Without retraining, the same rule with the improved methods picks ratio **0.92** "
                           "(activation + repair): 250 parameters, 10× fewer than the full model, at 98.00%")
    assert f"With the short distillation it moves to ratio **0.95**: 100 parameters at 98.20%{NBSP}" in text
    assert text.endswith(tail)
    assert "distillation" not in repair.better_text(better, {**smaller, "parameters": 300}, 2500)
    assert repair.better_text(None, None, 2500) == tail  # as the chapter always wrote it
    assert repair.better_text(None, smaller, 2500).startswith("With the short distillation it moves to ratio **0.95**")


def test_without_retraining_leaves_out_the_labs_rule():
    rows = [row(repair.LAB, 0.9, 1), row(repair.ACTIVATION, 0.9, 2), row(repair.BEST_FAST, 0.9, 3)]
    assert [r["method"] for r in repair.without_retraining(rows)] == [repair.ACTIVATION, repair.BEST_FAST]
