"""Check a build against the reference: ``python -m lab3.reproduce`` (what ``make test`` runs after set-up).

Two levels, chosen from the model's bits:

- *same bits* (the model's sha256 equals the one the executed notebooks in ``book/`` were made with): exact
  regression, ``pytest tests book --nbval`` compares every output, figures included;
- *different bits* (another CPU, thread count or checkpoint): ``pytest tests book --nbval-lax`` re-executes the
  chapters and compares only the cells tagged ``nbval-check-output`` (outputs that are machine-stable); each
  chapter writes its results to ``artifacts/reproduction/``, which are then compared with ``reference/``
  within ``reference/tolerances.yaml``. The comparison is printed and saved as
  ``artifacts/reproduction/comparison.json``; the book's reproducibility appendix shows it too.

``--set-reference`` copies the results beside the executed notebooks (``book/*.results.json``) into ``reference/``.
"""
from __future__ import annotations

import argparse
import fnmatch
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lab3.base import fileio, numerics, paths
from lab3.base.model import model_sha256, read_checkpoint
from lab3.book import results
from lab3.book.build import CHAPTERS
from lab3.book.results import load_tolerances

RESULT_CHAPTERS = CHAPTERS[:6]  # the conclusion and the appendix state no results of their own
NBVAL_FLAGS = ("--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
               "--ignore=book/_build")  # the built HTML keeps copies of the notebooks: check each chapter once


@dataclass(frozen=True)
class Row:
    """One result compared: ``status`` is agree, tied (a choice among the other's candidates), differ, missing, info."""

    chapter: str
    name: str
    kind: str
    reference: Any
    run: Any
    difference: str
    tolerance: str
    status: str


def rule_for(name: str, kind: str, tolerances: dict[str, Any]) -> dict[str, Any]:
    """The rule of a result: the first override whose pattern matches its name, else its kind's rule."""
    for pattern, rule in (tolerances.get("overrides") or {}).items():
        if fnmatch.fnmatchcase(name, pattern):
            return rule
    return tolerances["kinds"][kind]


def compare_value(ref: Any, run: Any, rule: dict[str, Any], n: int | None = None,
                  full: float | None = None) -> tuple[str, str, str]:
    """Compare one value under ``rule``; return (difference, tolerance, status).

    An accuracy over ``n`` images gets its tier's tolerance scaled by sqrt(n_ref / n): the tiers are stated for
    ``n_ref`` (the 10,000 test images), and the spread of an accuracy difference shrinks as 1/sqrt(n). A tier
    stated relative to full precision (``within_pp_of_full``, ``below_full_pp``) needs ``full``, the reference
    model's full-precision test accuracy.
    """
    kind = rule["rule"]
    if kind == "ignore":
        return "", "not compared", "info"
    if kind == "equal":
        return ("0" if ref == run else "≠"), "equal", "agree" if ref == run else "differ"
    if kind == "choice":
        same = ref["choice"] == run["choice"]
        tied = run["choice"] in ref.get("tied", []) or ref["choice"] in run.get("tied", [])
        # tied either way: the run's choice is among the reference's ties, or the reference's among the run's
        ties = [c for c in ref.get("tied", []) if c != ref["choice"]]
        if ref["choice"] in run.get("tied", []) and run["choice"] not in ties and not same:
            ties.append(run["choice"])
        candidates = ", ".join(str(c) for c in ties)
        allowed = f"the same, or a tied candidate ({candidates})" if candidates else "the same (no tied candidate)"
        return ("same" if same else "moved"), allowed, "agree" if same else ("tied" if tied else "differ")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (ref, run)):
        return "≠", kind, "differ"
    if kind == "tiers":
        diff_pp = 100 * (run - ref)
        scale = math.sqrt(rule.get("n_ref", 10000) / n) if n else 1.0
        for tier in rule["tiers"]:
            if ref >= _tier_start(tier, full):
                if "abs_pp" in tier:
                    allowed = tier["abs_pp"] * scale
                    ok = abs(diff_pp) <= allowed + 1e-9
                    return f"{diff_pp:+.2f} pp", f"±{allowed:.2g} pp", "agree" if ok else "differ"
                edge = _tier_edge(tier, full)
                limit = edge + tier.get("margin_pp", 0.0) * scale / 100  # the edge, and its noise
                ok = run < limit
                return f"{diff_pp:+.2f} pp", f"stays below {100 * limit:.3g}%", "agree" if ok else "differ"
        return f"{diff_pp:+.2f} pp", "no tier", "differ"
    if kind == "absolute":  # a quantity already on a log scale (dB): ratios of it mean nothing near 0
        diff = run - ref
        unit = rule.get("unit", "")
        return f"{diff:+.2f} {unit}".rstrip(), f"±{rule['abs']:g} {unit}".rstrip(), \
            "agree" if abs(diff) <= rule["abs"] + 1e-9 else "differ"
    if kind == "relative":
        rel = (run - ref) / ref if ref else math.inf * (run != ref)
        return f"{100 * rel:+.1f}%", f"±{100 * rule['rel']:.0f}%", "agree" if abs(rel) <= rule["rel"] else "differ"
    if kind == "ratio":
        if ref == 0 or run == 0 or (ref > 0) != (run > 0):
            return "≠", f"×/÷{rule['max_ratio']}", "agree" if ref == run else "differ"
        ratio = max(run / ref, ref / run)
        return f"×{run / ref:.2f}", f"×/÷{rule['max_ratio']}", "agree" if ratio <= rule["max_ratio"] else "differ"
    raise ValueError(f"unknown tolerance rule {kind!r}")


def _full_accuracy(tier: dict[str, Any], full: float | None) -> float:
    """The reference's full-precision accuracy a relative tier is stated from (a clear error without it)."""
    if full is None:
        raise ValueError(f"tolerance tier {tier} is relative to full precision, but the reference has no "
                         "baseline test accuracy (reference/baseline.json: test_accuracy); run the baseline chapter")
    return full


def _tier_start(tier: dict[str, Any], full: float | None) -> float:
    """The lowest reference value a tier applies to: an absolute ``from``, or ``within_pp_of_full`` of full."""
    if "within_pp_of_full" in tier:
        return _full_accuracy(tier, full) - tier["within_pp_of_full"] / 100
    return float(tier["from"])


def _tier_edge(tier: dict[str, Any], full: float | None) -> float:
    """The line a cliff value must stay below (before noise): an absolute ``below``, or ``below_full_pp`` under full."""
    if "below_full_pp" in tier:
        return _full_accuracy(tier, full) - tier["below_full_pp"] / 100
    return float(tier["below"])


def reference_full_accuracy(reference: dict[str, dict[str, Any]]) -> float | None:
    """The reference model's full-precision test accuracy (the baseline chapter's), which relative tiers start from."""
    entry = ((reference.get("baseline") or {}).get("values") or {}).get("test_accuracy")
    return None if entry is None else float(entry["value"])


def compare(reference: dict[str, dict[str, Any]], run: dict[str, dict[str, Any]],
            tolerances: dict[str, Any]) -> list[Row]:
    """Compare two sets of chapter results (chapter -> results document) result by result."""
    rows = []
    full = reference_full_accuracy(reference)
    for chapter in sorted(set(reference) | set(run), key=lambda c: CHAPTERS.index(c) if c in CHAPTERS else 99):
        ref_values = (reference.get(chapter) or {}).get("values", {})
        run_values = (run.get(chapter) or {}).get("values", {})
        ref_params, run_params = (_comparable_parameters(d.get(chapter)) for d in (reference, run))
        if ref_values and run_values and ref_params != run_params:
            changed = sorted(k for k in set(ref_params) | set(run_params) if ref_params.get(k) != run_params.get(k))
            rows.append(Row(chapter, "(parameters)", "info", None, None, "",
                            f"run with other parameters ({', '.join(changed)}): not compared", "skipped"))
            continue
        for name in list(ref_values) + [n for n in run_values if n not in ref_values]:
            r, n = ref_values.get(name), run_values.get(name)
            kind = (r or n)["kind"]
            if r is None or n is None:
                status = "info" if kind == "time" else "missing"
                rows.append(Row(chapter, name, kind, r and r["value"], n and n["value"], "",
                                "absent in " + ("reference" if r is None else "this run"), status))
                continue
            diff, tol, status = compare_value(r["value"], n["value"], rule_for(f"{chapter}.{name}", kind, tolerances),
                                              r.get("n"), full)
            rows.append(Row(chapter, name, kind, r["value"], n["value"], diff, tol, status))
    return rows


def _comparable_parameters(doc: dict[str, Any] | None) -> dict[str, Any]:
    """A chapter's parameters without ``model_path`` (which names a file, not a setting)."""
    return {k: v for k, v in ((doc or {}).get("parameters") or {}).items() if k != "model_path"}


def failures(rows: list[Row]) -> list[Row]:
    """Rows that break the reference: a value out of tolerance, a choice that moved, a result that vanished."""
    return [r for r in rows if r.status in ("differ", "missing")]


def show(value: Any, kind: str = "") -> str:
    """A result's value as short text (an accuracy as a percentage; no value: a dash)."""
    if value is None:
        return "–"
    if isinstance(value, dict) and "choice" in value:
        return str(value["choice"])
    if kind == "accuracy" and isinstance(value, float):
        return f"{100 * value:.2f}%"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(show(v) if not isinstance(v, list) else "(" + show(v) + ")" for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def label(row: Row) -> str:
    """A result's name for readers: 'quantization: lab grid › best q › 2bit'."""
    return f"{row.chapter}: " + re.sub(r"(?<! )/(?! )", " › ", row.name.replace("_", " "))


def summary(rows: list[Row]) -> str:
    """One line: how many results agree, are tied, differ."""
    count = {s: sum(r.status == s for r in rows) for s in ("agree", "tied", "differ", "missing", "info", "skipped")}
    tied = f"{count['tied']} choice{'s' if count['tied'] != 1 else ''} among tied candidates"
    text = (f"{len(rows)} results: {count['agree']} agree, {tied}, {count['differ']} differ, "
            f"{count['missing']} missing, {count['info']} not compared (timings and the like)")
    skipped = f", {count['skipped']} in chapters run with other parameters (not compared)" if count["skipped"] else ""
    return text + skipped


def report_lines(rows: list[Row]) -> list[str]:
    """The failures (and tied choices) as readable lines naming what moved and by how much."""
    out = []
    for r in rows:
        if r.status in ("differ", "missing", "tied", "skipped"):
            out.append(f"  {r.status.upper():<7} {r.chapter}.{r.name} [{r.kind}]: "
                       f"reference {show(r.reference, r.kind)}, this run {show(r.run, r.kind)} "
                       f"({r.difference or '–'}; allowed: {r.tolerance})")
    return out


def load_set(folder: Path | None, chapters: tuple[str, ...] = CHAPTERS) -> dict[str, dict[str, Any]]:
    """Results of the chapters found in ``folder`` (``<chapter>.json``), or in ``book/`` when folder is None."""
    out = {}
    for chapter in chapters:
        path = results.book_path(chapter) if folder is None else folder / f"{chapter}.json"
        if path.is_file():
            out[chapter] = results.load(path)
    return out


def load_reference() -> dict[str, dict[str, Any]]:
    """The committed reference results."""
    return load_set(results.REFERENCE)


def book_model_shas() -> set[str]:
    """The model sha256 each executed notebook in ``book/`` was made with (from its results file)."""
    return {doc.get("model_sha256", "") for doc in load_set(None).values()}


def current_model_sha() -> str:
    """sha256 of the model the chapters will use (the trained checkpoint's weights)."""
    model, _ = read_checkpoint(paths.model_path())
    return model_sha256(model)


def set_reference() -> str:
    """Copy ``book/*.results.json`` into ``reference/`` (after a build on the reference machine)."""
    docs = load_set(None)
    missing = [c for c in RESULT_CHAPTERS if c not in docs]
    if missing:
        raise FileNotFoundError(f"book/: no results for {missing}; run `make report` first")
    for chapter, doc in docs.items():
        fileio.write_json(results.reference_path(chapter), doc)
    return f"reference/ now holds the results of model {next(iter(docs.values()))['model_sha256'][:16]}"


def run_pytest(args: list[str], out_dir: Path) -> int:
    """Run pytest with the chapters writing their results to ``out_dir``."""
    env = {**os.environ, results.OUT_ENV: str(out_dir)}
    print("$ pytest " + " ".join(args), flush=True)
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=paths.PROJECT_ROOT, env=env).returncode


def check_against_reference(out_dir: Path, chapters: tuple[str, ...] = CHAPTERS) -> bool:
    """Compare the results in ``out_dir`` with the reference; print and save the comparison; True when it agrees."""
    reference = {c: d for c, d in load_reference().items() if c in chapters}
    rows = compare(reference, load_set(out_dir, chapters), load_tolerances())
    fileio.write_json(out_dir / "comparison.json", [asdict(r) for r in rows])
    bad = failures(rows)
    print("\nreproduction against reference/: " + summary(rows))
    print("\n".join(report_lines(rows)) or "  every compared result is within its tolerance")
    return not bad


def course_distance_line(folder: Path, label: str = "?") -> str:
    """The conclusion's four course criteria (pp) for the results in ``folder``, as a ``course_spread`` entry."""
    from lab3.book.chapters.conclusion import course_distance

    docs = load_set(folder)
    missing = [c for c in ("baseline", "quantization", "pruning") if c not in docs]
    if missing:
        raise FileNotFoundError(f"{folder}: no results for {missing} (<chapter>.json); give a folder a run wrote, "
                                "such as artifacts/reproduction")
    dist = course_distance(docs)
    values = ", ".join(f"{k}: {getattr(dist, k):.2f}" for k in ("full", "must_match_max", "quant_median",
                                                                  "pruning_median"))
    return f'  - {{numerics: "{label}", model: "{docs["baseline"].get("model_sha256", "?")[:8]}", {values}}}'


def main(argv: list[str] | None = None) -> int:
    """Command line: choose the level of checking and run it."""
    parser = argparse.ArgumentParser(prog="python -m lab3.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--set-reference", action="store_true", help="copy book/*.results.json into reference/")
    parser.add_argument("--mode", choices=("auto", "exact", "tolerance"), default="auto",
                        help="auto: exact when the model's bits equal the book's, else tolerance")
    parser.add_argument("--model", type=Path, default=None, help="check the chapters on this checkpoint")
    parser.add_argument("--chapters", nargs="+", choices=CHAPTERS, default=list(CHAPTERS),
                        help="check only these chapters (default: all)")
    parser.add_argument("--compare-only", type=Path, metavar="DIR",
                        help="only compare the results in DIR with the reference (no pytest)")
    parser.add_argument("--course-distance", type=Path, metavar="DIR",
                        help="print the course distance of the results in DIR as a line for reference/tolerances.yaml")
    parser.add_argument("--label", default="?", help="with --course-distance: the numerics setting DIR was run under")
    args = parser.parse_args(argv)
    numerics.pin()
    try:
        if args.course_distance:
            print(course_distance_line(args.course_distance, args.label))
            return 0
        if args.set_reference:
            print(set_reference())
            return 0
        if args.compare_only:
            return 0 if check_against_reference(args.compare_only, tuple(args.chapters)) else 1
        paths.use_model(args.model)
        model_sha = current_model_sha()
        book_shas = book_model_shas()
        mode = args.mode
        if mode == "auto":
            mode = "exact" if book_shas == {model_sha} else "tolerance"
        print(f"model sha256 {model_sha[:16]}; book made with {', '.join(s[:16] for s in sorted(book_shas)) or '?'}"
              f" -> {mode} checks", flush=True)
        out_dir = paths.artifacts_dir() / "reproduction"
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
        nbval = "--nbval" if mode == "exact" else "--nbval-lax"
        notebooks = ["book"] if set(args.chapters) == set(CHAPTERS) else [f"book/{c}.ipynb" for c in args.chapters]
        code = run_pytest(["tests", *notebooks, nbval, *NBVAL_FLAGS], out_dir)
        agrees = check_against_reference(out_dir, tuple(args.chapters))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if code != 0:
        print(f"pytest failed (exit {code})")
        return code
    return 0 if agrees else 1


if __name__ == "__main__":
    sys.exit(main())
