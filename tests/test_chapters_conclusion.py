"""The conclusion's sentences and rows (lab3.book.chapters.conclusion), on hand-made results files."""
from lab3.book.chapters import conclusion
from lab3.measure import stats

NBSP = "\u00a0"


def accuracy(value, n=5000):
    return {"value": value, "kind": "accuracy", "n": n}


def exact(value):
    return {"value": value, "kind": "exact"}


def choice(value):
    return {"value": {"choice": value, "tied": [value]}, "kind": "choice"}


def docs(with_picks=True):
    """A build's results files with only what the conclusion reads."""
    return {
        "baseline": {"values": {"parameters": exact(1000), "test_accuracy": accuracy(0.98, 10000)}},
        "quantization": {"parameters": {"tolerance_pp": 0.5}, "values": {
            "full_precision/accuracy": accuracy(0.98), "weights/all/count": exact(1000),
            "grid/fewest_bits_within_tolerance": choice(4 if with_picks else None),
            "grid/best_q/4bit": choice("0.5"), "grid/q=0.5/4bit/accuracy": accuracy(0.976),
            "course/q=0.5/4bit/this_run": accuracy(0.97, 10000), "course/q=1/4bit/this_run": accuracy(0.96, 10000)}},
        "quantizers": {"values": {"methods/best/4bit": choice("gptq"), "methods/gptq/4bit/accuracy": accuracy(0.979)}},
        "pruning": {"values": {
            "full/accuracy": accuracy(0.98), "lab/recommended_ratio": choice(0.8 if with_picks else None),
            "lab/0.8/parameters": exact(200), "lab/0.8/float32_bytes": exact(800),
            "lab/0.8/accuracy": accuracy(0.975)}},
        "repair": {"values": {
            "improved/recommended/fields": {"value": {"ratio": 0.92, "method": "activation + repair"} if with_picks
                                            else None, "kind": "info"},
            "methods/activation + repair/0.92/accuracy": accuracy(0.974),
            "methods/activation + repair/0.92/parameters": exact(80)}},
        "deployment": {"values": {"recommended/by_size": choice(None)}},
    }


def test_course_sentence_lists_what_was_met_and_missed():
    met = dict.fromkeys(("full", "must_match_max", "quant_median", "pruning_median"), "met")
    assert conclusion.course_sentence(met) == "All four targets are met."
    assert conclusion.course_sentence({**met, "must_match_max": "missed", "pruning_median": "missed"}) == (
        "Met: accuracy vs 98.59%, median, 21 quantization points. Missed: worst of the course's ≥95% points; "
        "median, 10 pruning ratios.")
    assert conclusion.course_sentence({"full": "missed"}).startswith("Met: none. Missed: accuracy vs 98.59%")


def test_a_verdict_that_flips_between_numerics_is_stated_with_its_range_not_as_met_or_missed():
    from lab3.experiments import course

    # measured (2026-12-07): the reference 431badac and two other numerics' models of the same recipe
    dist = course.Distance(full=0.83, must_match_max=2.09, quant_median=6.58, pruning_median=0.84)
    others = [{"full": 0.62, "must_match_max": 2.83, "quant_median": 6.45, "pruning_median": 0.64},
              {"full": 0.79, "must_match_max": 3.29, "quant_median": 2.47, "pruning_median": 0.80}]
    verdicts = conclusion.course_verdicts(dist, others)
    assert verdicts == {"full": "missed", "must_match_max": "missed", "quant_median": "varies by CPU",
                        "pruning_median": "met"}
    assert conclusion.course_verdicts(dist)["quant_median"] == "missed"  # this build alone
    assert conclusion.value_range(dist, others, "quant_median") == "2.47–6.58"
    text = conclusion.course_sentence(verdicts, {"quant_median": "2.47–6.58"}, 3)
    assert text == ("Met: median, 10 pruning ratios. Missed: accuracy vs 98.59%; worst of the course's ≥95% points. "
                    "Met on some CPUs, missed on others, so stated as neither: median, 21 quantization points "
                    "(2.47–6.58 pp over 3 builds).")


def test_the_measured_spread_leaves_out_this_model_and_applies_only_to_the_default_recipe(monkeypatch):
    from lab3.book import results

    spread = [{"numerics": "native", "model": "431badac", "full": 0.8, "must_match_max": 2.0, "quant_median": 6.0,
               "pruning_median": 0.8},
              {"numerics": "avx2", "model": "1b73acdf", "full": 0.6, "must_match_max": 2.8, "quant_median": 6.4,
               "pruning_median": 0.6}]
    monkeypatch.setattr(results, "course_spread", lambda *a, **k: spread)
    trained = {"baseline": {"model_sha256": "431badac" + "0" * 56, "parameters": {"model_path": None}}}
    assert [m["numerics"] for m in conclusion.measured_spread(trained)] == ["avx2"]
    given = {"baseline": {"model_sha256": "ffff" * 16, "parameters": {"model_path": "course.pt"}}}
    assert conclusion.measured_spread(given) == []


def test_fewest_text_states_the_bits_or_that_no_width_stays_within_the_tolerance():
    full, four = stats.accuracy_record(4900, 5000), stats.accuracy_record(4880, 5000)
    assert conclusion.fewest_text(None, None, None, full, 0.5) == (
        "none of the grid's widths: no point stays within 0.5 pp of full precision")
    text = conclusion.fewest_text(4, "0.5", four, full, 0.5)
    assert text.startswith("**4 bits** at q = 0.5: the fewest that stay within 0.5 pp of full precision")
    assert text.endswith(f"97.60%{NBSP}[97.14,{NBSP}97.99] against 98.00%{NBSP}[97.57,{NBSP}98.35] in full precision")


def test_quantization_and_pruning_values_come_from_the_results_files():
    q = conclusion.quant_glue(docs())
    assert q["c-lab4"] == "0.5" and q["c-gptq4"] == "–" and q["c-mixed"] == "no budget was run"
    assert q["c-fewest"].startswith("**4 bits** at q = 0.5")
    assert conclusion.quant_rows(docs()) == [{"bits": 4, "q": "0.5", "lab": f"97.60%{NBSP}[97.14,{NBSP}97.99]",
                                              "best": "gptq: 97.90%"}]
    p = conclusion.pruning_glue(docs())
    assert p["c-lab-prune"].startswith(f"ratio **0.8**: 200 parameters (0.8{NBSP}KB as float32) at 97.50%")
    assert p["c-repair"] == f"ratio **0.92** (80 parameters) at 97.40%{NBSP}[96.92,{NBSP}97.81]"
    none = conclusion.pruning_glue(docs(with_picks=False))
    assert none == {"c-lab-prune": "none: no lab-pruned model stays within the tolerance",
                    "c-repair": "no higher ratio"}


def test_summary_lists_only_the_answers_this_build_has():
    rows = conclusion.summary_rows(docs())
    assert [(r["model"], r["bytes"]) for r in rows] == [
        ("full model, float32", 4000), ("lab quantizer, 4 bits (simulated; weights × bits / 8)", 500),
        ("lab pruning, ratio 0.8, float32", 800), ("activation + repair, ratio 0.92, float32", 320)]
    assert [r["model"] for r in conclusion.summary_rows(docs(with_picks=False))] == ["full model, float32"]


def test_deployment_sentences_without_a_recommendation_and_the_price_of_one():
    glue = conclusion.deployment_glue(docs())
    assert set(glue) == {"c-deploy", "c-price", "c-frontier"} and glue["c-price"] == ""
    assert glue["c-deploy"].startswith("is the full model itself: no model of the pipeline stays within")
    assert "tbl-d-runtimes-small" not in glue["c-deploy"]  # that table exists only with a recommended model
    assert glue["c-frontier"] == ("None of the deployment chapter's smallest recipes reaches Deep Compression's "
                                  "accuracy on this model.")
    assert conclusion.price_text(0, None) == "It needs no retraining."
    assert conclusion.price_text(10, None) == (
        "The price is a short distillation from the full model, which is retraining.")
    pick = conclusion.improved_pick(docs())
    assert conclusion.price_text(10, pick).endswith(
        f"; without any retraining the same rule stops at ratio 0.92 (activation + repair, 80 parameters, "
        f"97.40%{NBSP}[96.92,{NBSP}97.81]).")
    assert conclusion.frontier_text("ratio 0.9, 3-bit", 12_300, stats.accuracy_record(4900, 5000)) == (
        f"When every byte counts, the recipe ratio 0.9, 3-bit is smaller still: 12.3{NBSP}KB at "
        f"98.00%{NBSP}[97.57,{NBSP}98.35].")


def test_deployment_sentence_names_the_recommended_model_and_its_runtime_table():
    d = docs()
    d["baseline"]["values"]["parameters"] = exact(1_000_000)
    d["deployment"]["values"] = {
        "recommended/by_size": choice("ratio 0.9, 4-bit"), "recommended/accuracy": accuracy(0.975),
        "recommended/packed_bytes": exact(40_000), "recommended/parameters": exact(100),
        "recommended/distill_epochs": exact(0), "full/accuracy": accuracy(0.98),
        "pipeline/ratio 0.9, 4-bit/latency_s": {"value": 2e-5, "kind": "time"},
        "full/fastest_fp32_latency_s": {"value": 5e-3, "kind": "time"}}
    glue = conclusion.deployment_glue(d)
    assert glue["c-deploy"].startswith(f"is **ratio 0.9, 4-bit** (100 parameters, a 40.0{NBSP}KB file)")
    assert "100× smaller than the full model's float32 weights" in glue["c-deploy"]  # 4 × 10⁶ / 40,000
    assert "0.020 ms on this machine against 5.00 ms" in glue["c-deploy"]
    assert "{numref}`tbl-d-runtimes-small`" in glue["c-deploy"] and "ONNX Runtime" not in glue["c-deploy"]
    assert glue["c-price"] == "It needs no retraining."


def test_the_deployment_paragraph_is_one_markdown_text_without_empty_parts():
    text = conclusion.deployment_paragraph(docs())
    assert text.startswith("**The model to deploy on a low-resource server** is the full model itself")
    assert "  " not in text and text.endswith("accuracy on this model.")
