"""The reproducibility appendix's rows and sentences (lab3.book.chapters.reproducibility), on hand-made values."""
from lab3.book import reproduce
from lab3.book.chapters import reproducibility as appendix


def row(chapter, name, kind, status, reference=None, run=None):
    return reproduce.Row(chapter, name, kind, reference, run, "", "", status)


def test_parameter_rows_name_the_chapter_once_and_the_default_of_a_changed_value():
    rows = appendix.parameter_rows({"pruning": {"ratios": [0.5, 0.9], "tolerance_pp": 1.0}},
                                   {"pruning": {"ratios": [0.5, 0.9], "tolerance_pp": 0.5}},
                                   {"pruning": {"ratios": "the lab's ratios"}})
    assert rows == [{"chapter": "pruning", "name": "`ratios`", "value": "0.5, 0.9", "what": "the lab's ratios"},
                    {"chapter": "", "name": "`tolerance_pp`", "value": "1 (default 0.5)", "what": ""}]


def test_small_print_wraps_a_table_in_raw_latex():
    text = appendix.small_print("| a |")
    assert text == "```{raw} latex\n\\begingroup\\footnotesize\n```\n\n| a |\n\n```{raw} latex\n\\endgroup\n```"


def test_numerics_and_seed_rows():
    assert appendix.numerics_rows({"profile": "native", "MKL_CBWR": "", "threads": 2}) == [
        {"name": "profile", "value": "`native`"}, {"name": "MKL_CBWR", "value": "(not set)"},
        {"name": "threads", "value": "`2`"}]
    seeds = appendix.seed_rows({"recipe": {"seed": 7}}, {"quantizers": {"seed": 1}, "repair": {},
                                                         "deployment": {"seed": 3}}, 99)
    assert [s["seed"] for s in seeds] == [7, 1, "–", 3, 99]
    assert seeds[2]["what"] == "repair: calibration images (and fine-tuning)"
    assert appendix.seed_rows({}, {c: {} for c in appendix.SEEDED_CHAPTERS}, 1)[0]["seed"] == "–"


def test_hashes_are_printed_one_name_and_digest_each():
    assert appendix.hashes_lines([("MNIST test files", "ab12")]) == [
        "sha256 of what this report was computed from:", "  MNIST test files:\n    ab12"]


def test_bits_sentence_says_whether_the_model_has_the_references_bits():
    same = appendix.bits_sentence({"a" * 64}, {"a" * 64})
    assert same.startswith(f"This build's model has the reference's bits (weights sha256 `{'a' * 16}…`)")
    other = appendix.bits_sentence({"b" * 64}, {"a" * 64, "c" * 64})
    assert other == (f"This build's model (weights sha256 `{'b' * 16}…`) differs from the reference's "
                     f"(`{'a' * 16}, {'c' * 16}…`).")


def test_the_table_shows_key_and_moved_results_unless_the_bits_are_the_same_and_nothing_moved():
    reference = {"pruning": {"values": {"full/accuracy": {"key": True}, "lab/0.5/parameters": {}}}}
    key, plain = row("pruning", "full/accuracy", "accuracy", "agree"), row("pruning", "lab/0.5/parameters",
                                                                            "exact", "agree")
    assert appendix.shown_rows([key, plain], reference, same_bits=True) == []
    assert appendix.shown_rows([key, plain], reference, same_bits=False) == [key]
    moved = row("pruning", "lab/0.5/parameters", "exact", "differ")
    assert appendix.shown_rows([key, moved], reference, same_bits=True) == [key, moved]


def test_conclusions_sentence_says_which_choices_moved_and_whether_among_the_tied():
    agree = row("pruning", "lab/recommended_ratio", "choice", "agree", {"choice": 0.8}, {"choice": 0.8})
    assert appendix.conclusions_sentence([agree]).endswith("**Conclusions:** all the same as the reference's.")
    tied = row("repair", "improved/recommended", "choice", "tied", {"choice": "0.9"}, {"choice": "0.92"})
    out = row("pruning", "lab/recommended_ratio", "choice", "differ", {"choice": 0.8}, {"choice": 0.5})
    text = appendix.conclusions_sentence([tied, out])
    assert text.startswith("**All results:** 2 results: 0 agree, 1 choice among tied candidates, 1 differ")
    assert text.endswith("**Conclusions:** repair.improved/recommended moved from 0.9 to 0.92 (among the tied "
                         "candidates); pruning.lab/recommended_ratio moved from 0.8 to 0.5 (outside them).")


def test_timing_rows_add_only_the_later_stages_of_the_previous_build():
    timings = {"stages": [{"stage": "data", "seconds": 1.0, "status": "ran"},
                          {"stage": "PDF", "seconds": 2.0, "status": "ran"}],
               "previous": [{"stage": "HTML book", "seconds": 30.0, "status": "ran"},
                            {"stage": "PDF", "seconds": 20.0, "status": "ran"},
                            {"stage": "data", "seconds": 5.0, "status": "ran"}]}
    rows = appendix.timing_rows(timings)
    assert [(r["stage"], r["status"]) for r in rows] == [("data", "ran"), ("PDF", "ran"),
                                                          ("HTML book", "ran (previous build)")]


def test_side_by_side_puts_two_pairs_in_a_row_and_leaves_the_last_cell_empty_when_odd():
    rows = appendix.side_by_side([("torch", "2.14.1"), ("numpy", "2.4.6"), ("python", "3.11.7")])
    assert rows == [{"p1": "torch", "v1": "2.14.1", "p2": "python", "v2": "3.11.7"},
                    {"p1": "numpy", "v1": "2.4.6", "p2": "", "v2": ""}]


def test_a_parameter_every_chapter_shares_is_one_row_and_one_that_differs_stays_per_chapter():
    ran = {"baseline": {"model_path": None, "seed": 0}, "pruning": {"ratios": [0.5], "model_path": None, "seed": 1}}
    defaults = {c: dict(values) for c, values in ran.items()}
    said = {"baseline": {"model_path": "the model"}, "pruning": {"model_path": "the model", "ratios": "ratios"}}
    rows = appendix.parameter_rows(ran, defaults, said)
    assert [(r["chapter"], r["name"]) for r in rows] == [
        ("every chapter", "`model_path`"), ("baseline", "`seed`"), ("pruning", "`ratios`"), ("", "`seed`")]
    assert rows[0]["what"] == "the model" and rows[0]["value"] == "–"
