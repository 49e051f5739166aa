"""The quantization chapter's sentences and table rows, on hand-made values (no model, no MNIST)."""
import torch

from lab3.book.chapters import quantization
from lab3.measure import stats

NB = "\u00a0"


def row(q, label, bits, select_correct, correct):
    """A split grid point on 5,000 + 5,000 images."""
    return {"q": q, "q_label": label, "bits": bits, "select_accuracy": select_correct / 5000,
            **stats.accuracy_record(correct, 5000)}


GRID = [row(0.1, "0.25 max_abs", 2, 4000, 4010), row(0.4, "1 max_abs", 2, 1000, 1020),
        row(0.1, "0.25 max_abs", 4, 4900, 4905), row(0.4, "1 max_abs", 4, 4925, 4930),
        row(0.1, "0.25 max_abs", 8, 4920, 4921), row(0.4, "1 max_abs", 8, 4940, 4938)]
Q_GRID = [{"q": 0.1, "label": "0.25 max_abs"}, {"q": 0.4, "label": "1 max_abs"}]


def test_fewest_bits_within_tolerance_and_its_sentence():
    fewest = quantization.fewest_bits(GRID, 4940 / 5000, 0.5)
    assert fewest is GRID[3]  # 4 bits at q = 0.4 is 0.3 pp from full precision; 2 bits is far off
    text = quantization.fewest_sentence(fewest, 4940 / 5000, (20, 10, 0.0987), 0.5)
    assert text.startswith("**4 bits** at q = 0.4000 (1 max_abs): on the reporting half 98.60%")
    assert f"{NB}[98.24,{NB}98.89], −0.20{NB}pp from full precision;" in text
    assert text.endswith("the full model alone is right on 20 images, the quantized one alone on 10, McNemar "
                         "p = 0.10 (no difference detectable on 5,000 images)")


def test_when_no_grid_point_qualifies_the_sentence_says_none():
    assert quantization.fewest_bits(GRID, 0.999, 0.5) is None
    assert quantization.fewest_sentence(None, 0.999, None, 0.5) == \
        "none: no grid point comes within 0.5 pp of full precision"


def test_low_and_high_bit_sentences():
    best = {2: GRID[0], 4: GRID[3], 8: GRID[5]}
    assert quantization.low_bits_sentence(best) == \
        f"at 2 bits the best q is 0.1000 (0.25 max_abs), at 80.20%{NB}[79.07,{NB}81.28]"
    assert quantization.high_bits_sentence(GRID, Q_GRID, [2, 4, 8]) == \
        "at 8 bits, q = 0.1000 gives 98.42% and q = 0.4000 gives 98.76%"


def test_best_rows_state_both_halves_and_the_loss():
    rows = quantization.best_rows({4: GRID[3]}, 0.99)
    assert rows[0]["bits"] == 4 and rows[0]["sel"] == "98.50%" and rows[0]["acc"].startswith("98.60%")
    assert abs(rows[0]["loss"] - (-0.004)) < 1e-12


def test_course_rows_pivot_one_row_per_q():
    course_q = [{"q": 0.5, "bits": 2, "seed": 11.87, "ours": 12.5, "diff": 0.63},
                {"q": 0.5, "bits": 4, "seed": 61.97, "ours": None, "diff": None},
                {"q": 1.0, "bits": 2, "seed": 40.91, "ours": 35.0, "diff": -5.91}]
    assert quantization.course_rows(course_q) == [{"q": 0.5, 2: "11.87 / 12.50", 4: "61.97 / –"},
                                                  {"q": 1.0, 2: "40.91 / 35.00"}]
    assert quantization.course_distance_texts(course_q) == {"q-course-median": "3.3", "q-course-max": "5.9",
                                                            "q-course-points": "2"}
    assert quantization.course_distance_texts([]) == {"q-course-median": "–", "q-course-max": "–",
                                                      "q-course-points": "0"}


def test_weight_rows_and_sqnr_rows():
    layers = {"fc1": torch.tensor([[0.5, -1.0], [0.25, 0.0]]), "fc2": torch.tensor([[2.0, -0.5]])}
    everything = torch.cat([w.flatten() for w in layers.values()])
    rows = quantization.weight_rows(layers, everything)
    assert [(r["layer"], r["n"], r["max"]) for r in rows] == [("fc1", 4, 1.0), ("fc2", 2, 2.0), ("all", 6, 2.0)]
    quantized = {2: {"fc1": torch.tensor([[0.5, -1.0], [0.0, 0.0]]), "fc2": torch.tensor([[2.0, -0.5]])}}
    sq = quantization.sqnr_rows(layers, quantized)
    assert [(r["bits"], r["layer"], r["levels"], r["zero"]) for r in sq] == [(2, "fc1", 3, 0.5), (2, "fc2", 2, 0.0)]
    assert abs(sq[0]["sqnr"] - 10 * torch.log10(torch.tensor(1.3125 / 0.0625)).item()) < 1e-4


def test_gain_range_per_extra_bit_and_the_unchanged_check():
    sq = [{"bits": 2, "layer": "fc1", "sqnr": 5.0}, {"bits": 4, "layer": "fc1", "sqnr": 15.0},
          {"bits": 2, "layer": "fc2", "sqnr": 4.0}, {"bits": 4, "layer": "fc2", "sqnr": 12.0}]
    assert quantization.gain_range(sq) == "4.0 to 5.0"
    assert quantization.unchanged_text("ab", "ab") == "never changed"
    assert quantization.unchanged_text("ab", "cd") == "**changed** (a bug)"
