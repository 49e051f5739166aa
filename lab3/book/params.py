"""A chapter's parameters: their one home, and the check that runs before the chapter does.

The defaults live only in the chapter notebook's ``parameters`` cell (papermill's convention); ``defaults``
reads them from there, so the build, the tests and the appendix never keep a second copy. A run overrides
them with papermill (``-y``, ``-f``) or ``make report PARAMS=chapter=my.yaml``.

papermill's ``-p`` passes a list such as ``"[2, 4, 8]"`` as text; without a check the quantization sweep
would iterate over its characters. Each rule below gives a parameter's type and range, and ``check`` stops
a chapter with one line naming the parameter, what it got and what it expects.
"""
from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab3.base import paths

NOTEBOOKS = paths.PROJECT_ROOT / "notebooks"

HOW_TO_PASS_LISTS = ('from the command line pass lists with papermill -y "NAME: [2, 4, 8]" or -f my.yaml '
                     '(-p passes text)')


class ParameterError(ValueError):
    """A parameter of the wrong type or out of range."""

    def _render_traceback_(self) -> list[str]:
        """In a notebook, IPython shows this one line instead of a traceback."""
        return [f"ParameterError: {self}"]


def _number(value: Any, whole: bool) -> bool:
    if isinstance(value, bool):
        return False
    if whole:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def number(lo: float | None = None, hi: float | None = None, whole: bool = False, lo_open: bool = False,
           hi_open: bool = False) -> tuple[str, Callable[[Any], bool]]:
    """A rule: a (whole) number within [lo, hi] (open ends on request)."""
    kind = "a whole number" if whole else "a number"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi:g}")
    text = kind + (" " + " and ".join(parts) if parts else "")

    def ok(v: Any) -> bool:
        return _number(v, whole) and (lo is None or (v > lo if lo_open else v >= lo)) and \
            (hi is None or (v < hi if hi_open else v <= hi))
    return text, ok


def list_of(rule: tuple[str, Callable[[Any], bool]], nonempty: bool = True) -> tuple[str, Callable[[Any], bool]]:
    """A rule: a list whose items all satisfy ``rule``."""
    text, ok = rule
    items = text.removeprefix("a ").replace("number", "numbers", 1)
    return (f"a {'non-empty ' if nonempty else ''}list of {items}",
            lambda v: isinstance(v, list) and (len(v) > 0 or not nonempty) and all(ok(x) for x in v))


def one_of(*choices: str) -> tuple[str, Callable[[Any], bool]]:
    """A rule: one of these strings."""
    return f"one of {', '.join(repr(c) for c in choices)}", lambda v: v in choices


BOOL = ("true or false", lambda v: isinstance(v, bool))
MODEL_PATH = ("null (the trained model) or the path of a checkpoint file",
              lambda v: v is None or (isinstance(v, str) and Path(v).is_file()))
RATIO = number(0, 1, hi_open=True)
BITS = number(2, 8, whole=True)
SEED = number(0, whole=True)
TOLERANCE = number(0)
IMAGES = number(1, 60000, whole=True)
SECONDS = number(0, lo_open=True)
EPOCHS = number(0, 1000, whole=True)
LAYER_BITS = ("a list of 4 bit widths in 2..8 (fc1..fc4)",
              lambda v: isinstance(v, list) and len(v) == 4 and all(BITS[1](b) for b in v))
EPOCH_PAIR = ("a list of 2 whole numbers >= 1 (distillation epochs, quantization-aware epochs)",
              lambda v: isinstance(v, list) and len(v) == 2 and all(_number(e, True) and 1 <= e <= 1000 for e in v))

RULES: dict[str, dict[str, tuple[str, Callable[[Any], bool]]]] = {
    "baseline": {"model_path": MODEL_PATH, "course_accuracy": number(0, 1)},
    "quantization": {
        "model_path": MODEL_PATH, "lab_q_values": list_of(number(0, lo_open=True)),
        "bits_values": list_of(number(1, 16, whole=True)), "q_unit": one_of("max_abs", "absolute"),
        "q_values": list_of(number(0, lo_open=True)),
        "q_quantiles": list_of(number(0, 1, lo_open=True), nonempty=False),
        "quantize_bias": BOOL, "tolerance_pp": TOLERANCE, "histogram_bits": list_of(BITS),
    },
    "pruning": {
        "model_path": MODEL_PATH, "ratios": list_of(RATIO), "tolerance_pp": TOLERANCE,
        "lab_loop_repeats": number(1, whole=True), "min_run_time": SECONDS,
    },
    "quantizers": {
        "model_path": MODEL_PATH, "method_bits": list_of(BITS), "q_unit": one_of("max_abs", "absolute"),
        "q_values": list_of(number(0, lo_open=True)),
        "q_quantiles": list_of(number(0, 1, lo_open=True), nonempty=False),
        "quantize_bias": BOOL, "percentile": number(0, 100, lo_open=True), "calibration_images": IMAGES, "seed": SEED,
        "packed_bits": list_of(BITS), "mixed_budgets": list_of(number(2, 8, lo_open=True)),
    },
    "repair": {
        "model_path": MODEL_PATH, "compare_ratios": list_of(RATIO), "tolerance_pp": TOLERANCE,
        "calibration_images": IMAGES, "seed": SEED, "ridge": number(0), "finetune_epochs": EPOCHS,
        "finetune_ratios": list_of(RATIO, nonempty=False),
    },
    "deployment": {
        "model_path": MODEL_PATH, "ratios": list_of(RATIO), "bits": list_of(BITS),
        "finetune_ratios": list_of(RATIO, nonempty=False), "finetune_epochs": EPOCHS,
        "calibration_images": IMAGES, "seed": SEED, "tolerance_pp": TOLERANCE, "min_run_time": SECONDS,
        "frontier_ratios": list_of(RATIO, nonempty=False), "frontier_bits": list_of(LAYER_BITS),
        "frontier_pixel_threshold": RATIO, "frontier_epochs": EPOCH_PAIR,
    },
    "conclusion": {},
    "reproducibility": {"model_path": MODEL_PATH},
}


def check(chapter: str, values: dict[str, Any]) -> dict[str, Any]:
    """Return ``values`` if every parameter fits its rule; else raise ``ParameterError`` with one line."""
    rules = RULES[chapter]
    for name, (expected, ok) in rules.items():
        if name not in values:
            raise ParameterError(f"chapter {chapter}: parameter {name} is missing")
        value = values[name]
        if ok(value):
            continue
        got = f"{value!r} ({type(value).__name__})"
        hint = ""
        if isinstance(value, str) and value.strip().startswith("["):
            hint = "; " + HOW_TO_PASS_LISTS.replace("NAME", name)
        elif name == "model_path" and isinstance(value, str):
            expected += " (no such file)"
        raise ParameterError(f"chapter {chapter}: parameter {name} got {got}; expected {expected}{hint}")
    unknown = sorted(set(values) - set(rules))
    if unknown:
        raise ParameterError(f"chapter {chapter}: unknown parameters {unknown}; known: {sorted(rules)}")
    return values


def parameters_cell(notebook: dict[str, Any]) -> str:
    """Source of the cell tagged ``parameters`` in a notebook (as JSON-loaded)."""
    for cell in notebook.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell["source"]
            return source if isinstance(source, str) else "".join(source)
    raise ValueError("the notebook has no cell tagged 'parameters'")


def defaults(chapter: str) -> dict[str, Any]:
    """The chapter's default parameters, read from its notebook's ``parameters`` cell (their only home)."""
    path = NOTEBOOKS / f"{chapter}.ipynb"
    out: dict[str, Any] = {}
    for node in ast.parse(parameters_cell(json.loads(path.read_text()))).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"{path}: the parameters cell may only hold NAME = literal lines")
        out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def descriptions(chapter: str) -> dict[str, str]:
    """What each parameter sets: the comment beside it in the notebook's parameters cell ('' when it has none)."""
    path = NOTEBOOKS / f"{chapter}.ipynb"
    out: dict[str, str] = {}
    for line in parameters_cell(json.loads(path.read_text())).splitlines():
        name, sep, rest = line.partition("=")
        if not sep or not name.strip().isidentifier() or line.startswith((" ", "#")):
            continue
        out[name.strip()] = rest.partition("#")[2].strip()
    return out
