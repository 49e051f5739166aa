"""Chapter parameters: the defaults pass, a mistyped or out-of-range value is refused in one line."""
import json

import pytest

from lab3.book import params


@pytest.mark.parametrize("chapter", sorted(params.RULES))
def test_defaults_pass_and_every_parameter_has_a_rule(chapter):
    defaults = params.defaults(chapter)
    assert set(defaults) == set(params.RULES[chapter])
    assert params.check(chapter, defaults) is defaults


def test_the_parameters_cell_is_the_only_home_of_the_defaults():
    assert not (params.NOTEBOOKS / "params").exists()
    assert params.defaults("quantization")["bits_values"] == [2, 3, 4, 6, 8]  # parsed, not executed


def test_a_parameters_cell_with_code_is_refused(tmp_path, monkeypatch):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "x = 1\nimport os\n"}]}
    (tmp_path / "odd.ipynb").write_text(json.dumps(nb))
    monkeypatch.setattr(params, "NOTEBOOKS", tmp_path)
    with pytest.raises(ValueError, match="NAME = literal"):
        params.defaults("odd")


def defaults(chapter):
    return params.defaults(chapter)


@pytest.mark.parametrize("chapter, name, value, expected", [
    ("quantization", "bits_values", "[2, 4, 8]", 'papermill -y "bits_values: [2, 4, 8]" or -f my.yaml'),
    ("quantization", "bits_values", [2, 4.5], "list of whole numbers >= 1 and <= 16"),
    ("quantization", "q_unit", "relative", "one of 'max_abs', 'absolute'"),
    ("quantization", "q_values", [0.5, -1.0], "numbers > 0"),
    ("pruning", "ratios", [0.5, 1.0], "< 1"),
    ("pruning", "tolerance_pp", True, "a number >= 0"),
    ("deployment", "bits", [8, 1], ">= 2 and <= 8"),
    ("baseline", "model_path", "no/such/file.pt", "(no such file)"),
])
def test_a_bad_value_is_refused_with_one_line(chapter, name, value, expected):
    values = {**defaults(chapter), name: value}
    with pytest.raises(params.ParameterError) as err:
        params.check(chapter, values)
    message = str(err.value)
    assert "\n" not in message and f"parameter {name} got {value!r}" in message and expected in message
    assert err.value._render_traceback_() == [f"ParameterError: {message}"]


def test_unknown_and_missing_parameters():
    with pytest.raises(params.ParameterError, match=r"unknown parameters \['bitz'\]"):
        params.check("baseline", {**params.defaults("baseline"), "bitz": 3})
    with pytest.raises(params.ParameterError, match="parameter model_path is missing"):
        params.check("baseline", {})


def test_parameter_values_are_shown_as_a_reader_reads_them():
    from lab3.book.report import parameter_text
    assert [parameter_text(v) for v in (None, True, [2, 4, 8], 0.5, "max_abs", 4096)] == \
        ["–", "yes", "2, 4, 8", "0.5", "max_abs", "4096"]
    assert parameter_text([[4, 4, 2, 4], [3, 4, 2, 4]]) == "4/4/2/4; 3/4/2/4"  # a width per layer, per recipe


@pytest.mark.parametrize("chapter", sorted(params.RULES))
def test_papermill_reads_every_parameter_of_the_cell(chapter):
    """papermill parses the cell too (for -p type hints); a second '=' on a line makes it skip that parameter."""
    from papermill.translators import PythonTranslator

    nb = json.loads((params.NOTEBOOKS / f"{chapter}.ipynb").read_text())
    cell = {"source": params.parameters_cell(nb)}
    assert [p.name for p in PythonTranslator.inspect(cell)] == list(params.defaults(chapter))


def test_every_parameter_says_what_it_sets():
    """The appendix's parameter table reads these comments; every chapter's parameters have one."""
    for chapter, rules in params.RULES.items():
        said = params.descriptions(chapter) if rules else {}
        assert set(said) == set(rules), chapter
        assert all(said.values()), (chapter, [k for k, v in said.items() if not v])
