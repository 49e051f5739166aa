"""A chapter's results: the numbers it states, under stable names, in a JSON file beside the executed notebook.

Each entry has a *kind* that says how it may move on another machine (``reference/tolerances.yaml``):
``exact`` (parameter counts, layer widths, the lab formula's levels, uncompressed file sizes), ``accuracy``
(a fraction of ``n`` test images), ``model_stat`` (a statistic of the trained weights), ``compressed_bytes``
(lzma-coded sizes), ``time`` (measured seconds: shown, never compared), ``info`` (machine-dependent with no
useful bound, such as a weight mean near zero or a p-value: shown, never compared) and ``choice`` (a
conclusion, with the candidates that are indistinguishable from it within the measured spread). ``lab3.book.reproduce``
compares a run's results with the committed reference by these kinds.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from lab3.base import fileio, paths
from lab3.measure.stats import selected

KINDS = ("exact", "accuracy", "model_stat", "compressed_bytes", "time", "info", "choice")
OUT_ENV = "LAB3_RESULTS_OUT"
BOOK = paths.PROJECT_ROOT / "book"
REFERENCE = paths.PROJECT_ROOT / "reference"


def output_dir() -> Path:
    """Where a running chapter writes its results (``LAB3_RESULTS_OUT``, default ``artifacts/results``)."""
    return Path(os.environ.get(OUT_ENV, paths.artifacts_dir() / "results"))


def book_path(chapter: str) -> Path:
    """The committed results file beside the executed notebook: ``book/<chapter>.results.json``."""
    return BOOK / f"{chapter}.results.json"


def reference_path(chapter: str) -> Path:
    """The reference results of a chapter: ``reference/<chapter>.json``."""
    return REFERENCE / f"{chapter}.json"


class Results:
    """Collects one chapter's results; ``save`` writes them atomically to ``output_dir()/<chapter>.json``."""

    def __init__(self, chapter: str, model_sha256: str, parameters: dict[str, Any]) -> None:
        self.chapter = chapter
        self.model_sha256 = model_sha256
        self.parameters = _plain(dict(parameters))
        self.values: dict[str, dict[str, Any]] = {}

    def add(self, name: str, value: Any, kind: str, n: int | None = None, key: bool = False) -> Any:
        """Record ``value`` under ``name``; ``n`` is the sample size of an accuracy; ``key`` puts it in the appendix."""
        if kind not in KINDS:
            raise ValueError(f"result {name!r}: kind must be one of {KINDS}, got {kind!r}")
        if name in self.values:
            raise ValueError(f"result {name!r} recorded twice in chapter {self.chapter!r}")
        entry: dict[str, Any] = {"value": _plain(value), "kind": kind}
        if n is not None:
            entry["n"] = int(n)
        if key:
            entry["key"] = True
        self.values[name] = entry
        return value

    def accuracy(self, name: str, record: dict[str, Any], key: bool = False) -> None:
        """Record an accuracy from a record with ``correct`` and ``total`` (or ``accuracy`` and ``n``)."""
        total = record.get("total") or record.get("n")
        value = record["correct"] / total if "correct" in record and total else record["accuracy"]
        self.add(name, value, "accuracy", n=total, key=key)

    def choice(self, name: str, chosen: Any, tied: Iterable[Any] = (), key: bool = False) -> None:
        """Record a conclusion and the candidates indistinguishable from it (it is always among them)."""
        options = [_plain(chosen)]
        for t in map(_plain, tied):
            if t not in options:
                options.append(t)
        self.add(name, {"choice": _plain(chosen), "tied": options}, "choice", key=key)

    def save(self) -> Path:
        """Write the results (atomically) and return the path."""
        path = output_dir() / f"{self.chapter}.json"
        fileio.write_json(path, {"chapter": self.chapter, "model_sha256": self.model_sha256,
                                    "parameters": self.parameters, "values": self.values})
        return path


def load(path: Path) -> dict[str, Any]:
    """Read a results file, with a clear error naming it when it is not one."""
    try:
        doc = fileio.read_json(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable results file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("values"), dict):
        raise ValueError(f"{path}: not a lab3 results file (no 'values' mapping)")
    return doc


def current(chapter: str) -> dict[str, Any] | None:
    """This run's results of a chapter: ``output_dir()`` when a test run wrote them there, else ``book/``."""
    for path in (output_dir() / f"{chapter}.json", book_path(chapter)):
        if path.is_file():
            return load(path)
    return None


TOLERANCES = REFERENCE / "tolerances.yaml"


def load_tolerances(path: Path = TOLERANCES) -> dict[str, Any]:
    """The tolerance rules by kind (and optional ``overrides`` by name pattern): the one reader of that file."""
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("kinds"), dict):
        raise ValueError(f"{path}: expected a mapping with a 'kinds' section")
    missing = sorted(set(KINDS) - set(doc["kinds"]))
    if missing:
        raise ValueError(f"{path}: no rule for kinds {missing}")
    return doc


CRITERIA = ("full", "must_match_max", "quant_median", "pruning_median")  # the course distance's (course.TARGETS)


def course_spread(tolerances: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The course distance's criteria measured for the default recipe under other numerics (``course_spread``).

    One entry per run: its numerics, model and the four criteria in pp; empty when the tolerances record none."""
    tolerances = tolerances or load_tolerances()
    entries = tolerances.get("course_spread") or []
    for entry in entries:
        missing = [k for k in ("numerics", *CRITERIA) if k not in entry]
        if missing:
            raise ValueError(f"{TOLERANCES}: a course_spread entry lacks {missing}: {entry}; "
                             "`python -m lab3.reproduce --course-distance DIR` prints a complete one")
    return [dict(e) for e in entries]


def spread_pp(n: int | None = None, tolerances: dict[str, Any] | None = None) -> float:
    """The accuracy spread (pp) measured between machines, within which two candidates are the same choice.

    Stated for ``n_ref`` images (the 10,000 test images); for an accuracy over ``n`` images (a choice made on
    the 5,000-image selection half) it grows as sqrt(n_ref / n), as the tolerances do."""
    tolerances = tolerances or load_tolerances()
    rule = tolerances["kinds"]["accuracy"]
    if n is not None and n < 1:
        raise ValueError(f"n must be a positive number of images, got {n!r}")
    return float(rule["spread_pp"]) * (math.sqrt(rule.get("n_ref", 10000) / n) if n else 1.0)


def cliff(tolerances: dict[str, Any] | None = None) -> float:
    """The accuracy below which a chapter's best candidate sits on the cliff and ties every candidate there.

    ``choice_cliff`` when the tolerances state it (their comparison tiers are then relative to full precision),
    else the absolute edge of the cliff tier."""
    tolerances = tolerances or load_tolerances()
    rule = tolerances["kinds"]["accuracy"]
    if "choice_cliff" in rule:
        return float(rule["choice_cliff"])
    return float(next(t["below"] for t in rule["tiers"] if "below" in t))


def tied_best(rows: Sequence[dict[str, Any]], best: dict[str, Any], spread_pp: float, label: str,
              cliff_accuracy: float | None = None) -> list[Any]:
    """Labels of the rows that another machine's numbers could make the best: the same choice under noise.

    Those within ``spread_pp`` of the best row; and when the best row itself is on the cliff (below
    ``cliff_accuracy``, default the tolerances'), every row on the cliff, since each may take any value there.
    """
    limit = cliff() if cliff_accuracy is None else cliff_accuracy
    on_cliff = selected(best) < limit
    return [r[label] for r in rows if 100 * (selected(best) - selected(r)) <= spread_pp + 1e-12
            or (on_cliff and selected(r) < limit)]


def tied_rule(rows: Sequence[dict[str, Any]], full_accuracy: float, tolerance_pp: float, spread_pp: float,
              cost: str, label: str) -> list[Any]:
    """Labels of the rows that "lowest ``cost`` within ``tolerance_pp`` of the full model" could pick under noise.

    A row is surely eligible when its loss is at most ``tolerance_pp - spread_pp``, possibly eligible up to
    ``tolerance_pp + spread_pp``; the rule could pick any possibly eligible row that costs no more than the
    cheapest surely eligible one.
    """
    def loss(r: dict[str, Any]) -> float:
        return 100 * (full_accuracy - selected(r))

    possible = [r for r in rows if loss(r) <= tolerance_pp + spread_pp + 1e-12]
    sure = [r for r in possible if loss(r) <= tolerance_pp - spread_pp + 1e-12]
    limit = min((r[cost] for r in sure), default=float("inf"))
    return [r[label] for r in sorted(possible, key=lambda r: r[cost]) if r[cost] <= limit]


def _plain(value: Any) -> Any:
    """JSON-friendly copy: tuples become lists, numpy/torch scalars become Python numbers."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
