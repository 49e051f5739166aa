"""Chapter parameters: the defaults pass, a mistyped or out-of-range value is refused in one line."""
import pytest
import yaml

from lab3 import params
from lab3.report import PARAMS_DIR


@pytest.mark.parametrize("chapter", sorted(params.RULES))
def test_defaults_pass_and_every_parameter_has_a_rule(chapter):
    defaults = yaml.safe_load((PARAMS_DIR / f"{chapter}.yaml").read_text())
    assert set(defaults) == set(params.RULES[chapter])
    assert params.check(chapter, defaults) is defaults


def defaults(chapter):
    return yaml.safe_load((PARAMS_DIR / f"{chapter}.yaml").read_text())


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
        params.check("baseline", {"model_path": None, "bitz": 3})
    with pytest.raises(params.ParameterError, match="parameter model_path is missing"):
        params.check("baseline", {})
