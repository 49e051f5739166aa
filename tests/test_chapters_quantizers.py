"""The quantizers chapter's sentences and table rows, on hand-made values (no model, no MNIST)."""
from lab3.book.chapters import quantizers
from lab3.measure import stats

NB = "\u00a0"
FULL = {**stats.accuracy_record(4940, 5000), "select_accuracy": 0.988}


def rec(method, bits, select_correct, correct):
    """A split comparison row on 5,000 + 5,000 images."""
    return {"method": method, "bits": bits, "select_accuracy": select_correct / 5000,
            **stats.accuracy_record(correct, 5000)}


COMPARISON = [rec("lab fixed q", 2, 3000, 3010), rec("MSE / channel", 2, 4000, 4020),
              rec("GPTQ (MSE / channel)", 2, 4500, 4480),
              rec("lab fixed q", 4, 4920, 4925), rec("MSE / channel", 4, 4925, 4926),
              rec("GPTQ (MSE / channel)", 4, 4935, 4931)]
BEST = {2: COMPARISON[2], 4: COMPARISON[5]}


def test_method_rows_keep_the_order_of_first_appearance():
    rows = quantizers.method_rows(COMPARISON)
    assert [r["method"] for r in rows] == ["lab fixed q", "MSE / channel", "GPTQ (MSE / channel)"]
    assert rows[1][2] is COMPARISON[1] and rows[1][4] is COMPARISON[4]


def test_methods_summary_reads_best_noise_lead_and_mcnemar():
    lines = quantizers.methods_summary(COMPARISON, BEST, FULL, [2, 4], (14, 5, 0.0636)).split("\n")
    assert len(lines) == 5
    assert lines[0].startswith("- **2 bits**: the best on the selection half is GPTQ (MSE / channel), at 89.60%")
    assert lines[0].endswith(f"(−9.20{NB}pp vs full precision); the lab's quantizer with its best q: 60.20%.")
    assert lines[2].startswith("- At 4 bits the lab's quantizer and the best other method are within the noise of "
                               "5,000 images (±0.3")  # 4925 vs 4931 of 5,000: 0.12 pp apart
    assert lines[3] == ("- At 2 bits GPTQ (MSE / channel) leads MSE / channel by 9.20 pp, and is still 9.2 pp below "
                        "full precision.")
    assert lines[4] == ("- 4-bit GPTQ against full precision, image by image on the reporting half: the full model "
                        "alone is right on 14 images, the 4-bit model alone on 5; McNemar p = 0.064 "
                        "(no difference detectable on 5,000 images).")


def test_a_lead_within_the_noise_is_said_and_no_close_widths_no_sentence():
    close_2bit = [rec("lab fixed q", 2, 3000, 3010), rec("MSE / channel", 2, 4000, 4478),
                  rec("GPTQ (MSE / channel)", 2, 4500, 4480)]
    text = quantizers.methods_summary(close_2bit, {2: close_2bit[2]}, FULL, [2], None)
    assert "- At 2 bits GPTQ (MSE / channel) leads MSE / channel by 0.04 pp (within the noise), and is still" in text
    assert "within the noise of 5,000 images" not in text and "McNemar" not in text  # 2 bits never counts as close


def test_weakest_layer_and_where_this_lands():
    assert quantizers.weakest_text({"layer": "fc4"}, {"fc1": 600, "fc2": 300, "fc3": 90, "fc4": 10}) == \
        "fc4, which holds 1.0% of the weights"
    sensitivity = [{"layer": "fc1", "accuracy": 0.985}, {"layer": "fc2", "accuracy": 0.980},
                   {"layer": "fc4", "accuracy": 0.60}]
    text = quantizers.lands_text(BEST, sensitivity, 0.988)
    assert text.startswith("**Where this lands**\n\n- 4 bits: the best quantizer, GPTQ (MSE / channel), is "
                           f"−0.18{NB}pp from full precision on the reporting half.\n- 2 bits:")
    assert "fc4 alone at 2 bits brings the model to 60.00%, while each other layer alone costs at most 0.80 pp." in text
    assert "({numref}`tbl-q-sensitivity`)" in text
    assert quantizers.lands_text({}, sensitivity, 0.988) == "**Where this lands**\n\n"


def test_mixed_summary_lists_each_budget_then_uniform_two_bits():
    mixed_rows = [{**stats.accuracy_record(4900, 5000), "budget": 2.3, "tag": "2/3/3/4", "bpw": 2.31,
                   "bytes": 6_500_000, "p": 0.0004}]
    uniform = [{**stats.accuracy_record(4800, 5000), "bits": 2, "bpw": 2.05}]
    text = quantizers.mixed_summary(mixed_rows, uniform, 0.988)
    assert text.startswith("**Mixed precision** (no retraining, GPTQ on training images):\n\n- budget 2.3: fc1..fc4 at "
                           f"2/3/3/4 bits, 2.31 bits per weight in the file (6.50{NB}MB), 98.00%")
    assert f"−0.80{NB}pp from full precision (McNemar p = 0.000)." in text
    assert text.endswith(f"- uniform 2 bits for comparison: 2.05 bits per weight, 96.00%{NB}[95.42,{NB}96.51], "
                         f"−2.80{NB}pp.")
    assert "uniform" not in quantizers.mixed_summary(mixed_rows, [], 0.988)
