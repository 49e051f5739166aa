"""Build the report: ``python -m lab3.build`` (what ``make report`` runs). Only stale stages run.

Stages, in order: MNIST, the full-size model, the TeX toolchain (for the PDF), each chapter notebook
executed by papermill with its YAML parameters (the executed copy lands in ``book/``), the HTML book, the
PDF. A chapter is stale when its source notebook, its parameters, lab3's code, the model or the data
changed (their hashes are stored in the executed notebook). A failed chapter never replaces the last good
executed notebook. The stage timings are printed at the end and written to ``artifacts/build_timings.json``,
which the reproducibility appendix shows.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from lab3.base import fileio, numerics, paths
from lab3.book import params as params_mod

ROOT = paths.PROJECT_ROOT
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
CHAPTERS = ("baseline", "quantization", "pruning", "quantizers", "repair", "deployment", "conclusion",
            "reproducibility")
COURSE = ("Cloud Computing and Data Center design lab: Digital hardware architectures and efficient AI computing "
          "schemes, Laboratory 3")
LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
HTML_INDEX = BOOK / "_build" / "html" / "index.html"
PDF = BOOK / "_build" / "latex" / "lab3-report.pdf"
BUILD_ENV = {"TQDM_DISABLE": "1", "SOURCE_DATE_EPOCH": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


TIMINGS = "build_timings.json"


class Stages:
    """Runs named stages, timing each, and records them in artifacts/build_timings.json as it goes.

    The file keeps the stages of the running build (``stages``) and of the last finished one (``previous``),
    so the reproducibility appendix, executed mid-build, can show both.
    """

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.path = paths.artifacts_dir() / TIMINGS
        self.previous: list[dict[str, Any]] = []
        try:
            old = fileio.read_json(self.path)
            self.previous = old["stages"] if old.get("finished_at") else old.get("previous", [])
        except (OSError, ValueError, KeyError):
            pass

    def save(self, finished_at: str | None = None, total: float | None = None) -> None:
        """Write the timings so far (atomically)."""
        fileio.write_json(self.path, {"stages": self.records, "previous": self.previous,
                                      "finished_at": finished_at, "total_seconds": total})

    def run(self, name: str, fn: Callable[[], str]) -> None:
        """Run ``fn`` (which returns a short status) as stage ``name``."""
        print(f"==> {name}", flush=True)
        start = time.perf_counter()
        status = fn()
        seconds = time.perf_counter() - start
        self.records.append({"stage": name, "seconds": round(seconds, 1), "status": status})
        self.save()
        print(f"    {status} ({seconds:.1f} s)", flush=True)

    def add(self, name: str, seconds: float, status: str) -> None:
        """Record a stage timed elsewhere (the environment install, timed by make)."""
        self.records.append({"stage": name, "seconds": round(seconds, 1), "status": status})


def read_yaml(path: Path) -> Any:
    """A YAML file's contents; ``ValueError`` in one line (file, line, column, what is wrong) when it is not YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ValueError(f"{path}{where}: not valid YAML ({problem}); write one `name: value` per line, "
                         f"lists as [2, 4, 8]") from None


def chapter_parameters(chapter: str, override: Path | None) -> dict[str, Any]:
    """The chapter's defaults (its notebook's parameters cell), updated with a user's YAML file if given."""
    params = params_mod.defaults(chapter)
    if override is not None:
        if not override.is_file():
            raise FileNotFoundError(f"{override}: parameter file for chapter {chapter!r} does not exist")
        extra = read_yaml(override)
        if not isinstance(extra, dict):
            raise ValueError(f"{override}: expected a YAML mapping of parameter names to values")
        unknown = sorted(set(extra) - set(params))
        if unknown:
            raise ValueError(f"{override}: unknown parameters for chapter {chapter!r}: {unknown}; "
                             f"known: {sorted(params)}")
        params.update(extra)
    return params


def chapter_inputs(chapter: str, params: dict[str, Any], model_sha: str) -> str:
    """Hash of everything an executed chapter depends on: its source, parameters, the lab3 modules it imports
    (transitively), the model, the tolerances' spread and cliff its choices use; the appendix also its inputs, the
    results files (its timings are excluded on purpose)."""
    import nbformat

    from lab3.base.cache import code_version, lab3_imports
    from lab3.book import results

    cells = nbformat.read(NOTEBOOKS / f"{chapter}.ipynb", as_version=4).cells
    imported = set().union(*(lab3_imports(c.source) for c in cells if c.cell_type == "code"))
    parts: dict[str, Any] = {"source": code_cells_hash(cells), "params": params,
                             "code": code_version(imported), "model": model_sha,
                             # what the chapters' choices read from reference/tolerances.yaml (not its other rules)
                             "choice_rules": {"spread_pp": results.spread_pp(), "cliff": results.cliff()}}
    if chapter == "conclusion":  # its verdicts on the course distance also read what other numerics measured
        parts["course_spread"] = results.course_spread()
    if chapter in ("conclusion", "reproducibility"):  # they read the results the chapters before them wrote
        files = [results.book_path(c) for c in CHAPTERS[:CHAPTERS.index(chapter)]]
        if chapter == "reproducibility":  # it also prints the version of all of lab3 and compares with the reference
            parts["all_code"] = code_version(None)
            files += sorted(results.REFERENCE.glob("*"))
        parts["results"] = {str(f.relative_to(ROOT)): fileio.sha256_file(f) for f in files if f.is_file()}
    blob = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def code_cells_hash(cells: list[Any]) -> str:
    """Hash of a notebook's code cells in order (id, tags, source): what execution depends on; prose is not."""
    code = [(c.get("id"), c.metadata.get("tags", []), c.source) for c in cells if c.cell_type == "code"]
    return hashlib.sha256(json.dumps(code).encode()).hexdigest()


def update_prose(source_path: Path, executed_path: Path) -> bool:
    """Copy the source notebook's Markdown cells into its executed copy, keeping every executed code cell.

    Used when only prose changed (the code-cell hash matches), so a wording fix re-renders the book in
    seconds instead of re-running the chapter. Returns False (nothing written) if the executed copy does
    not have every code cell of the source, or if the prose is already the same.
    """
    import nbformat

    source = nbformat.read(source_path, as_version=4)
    executed = nbformat.read(executed_path, as_version=4)
    by_id = {c.get("id"): c for c in executed.cells if c.cell_type == "code"}
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    cells = []
    for cell in source.cells:
        if cell.cell_type == "code":
            if cell.get("id") not in by_id:
                return False
            cells.append(by_id[cell.get("id")])
            if "parameters" in cell.metadata.get("tags", []):
                cells.extend(injected)
        else:
            cell.metadata.setdefault("tags", [])  # as finish_notebook leaves every cell
            cells.append(cell)
    if [(c.cell_type, c.source) for c in cells] == [(c.cell_type, c.source) for c in executed.cells]:
        return False
    executed.cells = cells
    text = nbformat.writes(executed)
    fileio.write_bytes(executed_path, (text if text.endswith("\n") else text + "\n").encode())
    return True


def executed_inputs(path: Path) -> str | None:
    """The inputs hash stored in an executed notebook, or None."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("metadata", {}).get("lab3", {}).get("inputs")
    except (json.JSONDecodeError, OSError):
        return None


def finish_notebook(path: Path, inputs: str, params: dict[str, Any]) -> list[float]:
    """Tag parameter cells to be hidden, strip ANSI colour codes and run metadata, record the inputs hash.

    Returns each cell's execution seconds (papermill's record, dropped from the notebook to keep it stable).
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    durations = [float(c.metadata.get("papermill", {}).get("duration") or 0.0) for c in nb.cells]
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "remove-cell" not in tags:
            tags.append("remove-cell")
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = ANSI.sub("", out["text"])
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("papermill", None)
    nb.metadata["lab3"] = {"inputs": inputs, "parameters": params}
    nbformat.write(nb, path)
    return durations


def run_chapter(chapter: str, params: dict[str, Any], model_sha: str, force: bool) -> str:
    """Execute one chapter notebook with papermill into book/ unless its executed copy is current."""
    import papermill

    target = BOOK / f"{chapter}.ipynb"
    inputs = chapter_inputs(chapter, params, model_sha)
    if not force and executed_inputs(target) == inputs:
        return "prose updated" if update_prose(NOTEBOOKS / f"{chapter}.ipynb", target) else "up to date"
    from lab3.book import results

    scratch = paths.artifacts_dir() / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    tmp_nb = scratch / f"{chapter}.ipynb"
    tmp_results = scratch / "results" / f"{chapter}.json"
    tmp_results.unlink(missing_ok=True)
    os.environ[results.OUT_ENV] = str(tmp_results.parent)  # the kernel inherits it
    try:  # executed outside book/ and moved in only when complete: a failure keeps the last good copy
        papermill.execute_notebook(str(NOTEBOOKS / f"{chapter}.ipynb"), str(tmp_nb), parameters=params,
                                   cwd=str(ROOT), kernel_name="python3", progress_bar=False, log_output=False)
        durations = finish_notebook(tmp_nb, inputs, params)
        fileio.write_json(paths.artifacts_dir() / "cell_seconds" / f"{chapter}.json", durations)
        if tmp_results.is_file():  # the results file lands beside the notebook, just before it
            fileio.write_bytes(results.book_path(chapter), tmp_results.read_bytes())
        fileio.write_bytes(target, tmp_nb.read_bytes())
    finally:
        os.environ.pop(results.OUT_ENV, None)
        for leftover in (tmp_nb, tmp_results):
            leftover.unlink(missing_ok=True)
    return "executed"


def latex_escape(text: str) -> str:
    """``text`` safe inside LaTeX (a student's name may contain & or _)."""
    return "".join(LATEX_SPECIAL.get(c, c) for c in text)


def title_page(author: str, student_id: str, course: str, date: str) -> dict[str, Any]:
    """The title-page fields (what the reader passes as AUTHOR=, STUDENT_ID=, COURSE=, DATE=)."""
    for name, value in (("AUTHOR", author), ("STUDENT_ID", student_id), ("COURSE", course), ("DATE", date)):
        if "\n" in value or len(value) > 200:
            raise ValueError(f"{name} must be one line of at most 200 characters, got {value[:40]!r}...")
    return {"author": author.strip() or "lab3", "student_id": student_id.strip(), "course": course.strip(),
            "date": date.strip() or time.strftime("%d %B %Y")}


def book_config(title: dict[str, Any]) -> Path:
    """_config.yml with the title page filled in, written to artifacts/tmp (the committed file stays generic)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    e = {k: latex_escape(v) for k, v in title.items()}
    lines = [r"\begin{titlepage}\centering\vspace*{5cm}",
             rf"{{\Huge\bfseries {latex_escape(config['title'])}\par}}\vspace{{1.2cm}}",
             rf"{{\large {e['course']}\par}}\vspace{{2cm}}" if e["course"] else "",
             rf"{{\Large {e['author']}\par}}\vspace{{0.3cm}}",
             rf"{{\large Student ID: {e['student_id']}\par}}\vspace{{0.3cm}}" if e["student_id"] else "",
             rf"{{\large {e['date']}\par}}\vfill",
             r"\end{titlepage}"]
    config["author"] = title["author"] + (f" (student ID {title['student_id']})" if title["student_id"] else "")
    sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx.setdefault("latex_elements", {})["maketitle"] = "\n".join(line for line in lines if line)
    sphinx["today"] = title["date"]
    path = paths.artifacts_dir() / "tmp" / "_config.yml"
    fileio.write_bytes(path, yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode())
    return path


def book_sources_hash(config: Path | None = None) -> str:
    """Hash of what the book is built from: book/ (without _build), the configuration, _toc.yml."""
    h = hashlib.sha256()
    if config is not None:
        h.update(config.read_bytes())
    files = [ROOT / "_config.yml", ROOT / "_toc.yml"] + sorted(
        p for p in BOOK.rglob("*") if p.is_file() and not {"_build", "_extra"} & set(p.relative_to(BOOK).parts))
    for p in files:
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def jupyter_book(builder: str, config: Path | None = None) -> None:
    """``jupyter-book build book/`` with warnings as errors (a missing chapter fails the build)."""
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe), "build", str(BOOK), "--path-output", str(BOOK), "-W", "-n", "--keep-going", "--builder", builder]
    if config is not None:
        cmd += ["--config", str(config)]
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}  # else the title page says 1970
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-6000:])
        sys.stderr.write(proc.stderr[-6000:])
        raise RuntimeError(f"jupyter-book {builder} build failed (exit {proc.returncode}); see the log above")


def build_book(builder: str, stamp: Path, product: Path, force: bool, config: Path | None = None) -> str:
    """Build HTML or PDF unless the stamp says the sources are unchanged and the product exists."""
    key = book_sources_hash(config)
    if not force and product.is_file() and stamp.is_file() and stamp.read_text() == key:
        return "up to date"
    jupyter_book(builder, config)
    if not product.is_file():
        raise RuntimeError(f"jupyter-book reported success but {product} was not written")
    fileio.write_bytes(stamp, key.encode())
    return "built"


def tex_missing() -> list[str]:
    """What of the TeX toolchain is missing (xelatex, latexmk, the FreeSerif font)."""
    missing = [tool for tool in ("xelatex", "latexmk", "pdftoppm") if shutil.which(tool) is None]
    fonts = subprocess.run(["fc-list"], capture_output=True, text=True).stdout if shutil.which("fc-list") else ""
    if "FreeSerif" not in fonts:
        missing.append("FreeSerif font")
    return missing


def check_tex() -> str:
    """Fail with one line naming what the PDF still needs and the command that installs it (``make tex``)."""
    missing = tex_missing()
    if missing:
        raise RuntimeError(f"the PDF needs {', '.join(missing)}: run `make tex` (installs Debian's TeX packages: "
                           f"needs root and apt), or build without the PDF: `make report PDF=0`")
    return "present"


def install_seconds() -> float | None:
    """Seconds the environment install took in this make run (make writes the file; we consume it)."""
    marker = ROOT / ".venv" / ".lab3-install-seconds"
    if not marker.is_file():
        return None
    try:
        return float(marker.read_text().strip())
    finally:
        marker.unlink()


def _rel(path: Path) -> str:
    """A path relative to the project when it is inside it (shorter in logs and the appendix)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def prepare(stages: Stages) -> str:
    """The data and model stages; returns the model's sha256 (a given model, ``LAB3_MODEL``, is not trained)."""
    from lab3.base import data
    from lab3.base.model import model_sha256, read_checkpoint
    from lab3.experiments import train

    stages.run("MNIST", lambda: f"raw IDX files in {_rel(data.ensure_raw())}")
    record: dict[str, Any] = {}
    if os.environ.get("LAB3_MODEL"):
        def given_stage() -> str:
            model, meta = read_checkpoint(paths.model_path())
            record["sha256"] = model_sha256(model)
            source = meta.get("source", "checkpoint")
            return f"given: {_rel(paths.model_path())} ({source}, sha256 {record['sha256'][:16]})"

        stages.run("full-size model", given_stage)
        return record["sha256"]

    def model_stage() -> str:
        record.update(train.train_full(log=lambda m: print("    " + m, flush=True)))
        return f"{_rel(paths.full_model_path())} ({100 * record['test_accuracy']:.2f}% test accuracy)"

    stages.run("full-size model", model_stage)
    return record["sha256"]


def parse_params(items: list[str]) -> dict[str, Path]:
    """``chapter=path`` pairs from the command line."""
    out = {}
    for item in items:
        chapter, sep, path = item.partition("=")
        if not sep or chapter not in CHAPTERS:
            raise ValueError(f"--params takes CHAPTER=FILE with CHAPTER in {CHAPTERS}, got {item!r}")
        out[chapter] = Path(path)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line of the build."""
    parser = argparse.ArgumentParser(prog="python -m lab3.build", description=__doc__.splitlines()[0])
    parser.add_argument("--params", action="append", default=[], metavar="CHAPTER=FILE",
                        help="run CHAPTER with parameters from FILE (YAML), e.g. quantization=my.yaml")
    parser.add_argument("--prepare", action="store_true", help="only MNIST and the full-size model (for the tests)")
    parser.add_argument("--data-only", action="store_true", help="only MNIST (for the unit tests of `make check`)")
    parser.add_argument("--model", type=Path, default=None,
                        help="report on this checkpoint (e.g. the course's full_size_model.pt) instead of training one")
    parser.add_argument("--no-pdf", action="store_true", help="skip the TeX toolchain and the PDF")
    parser.add_argument("--force", action="store_true", help="re-execute every chapter and rebuild the book")
    parser.add_argument("--author", default="", help="title page: author (default lab3)")
    parser.add_argument("--student-id", default="", help="title page: student ID (default: none shown)")
    parser.add_argument("--course", default=COURSE, help="title page: course")
    parser.add_argument("--date", default="", help="title page: date (default: the day of the build)")
    args = parser.parse_args(argv)
    os.environ.update(BUILD_ENV)
    if args.data_only:  # copies files: no numerics pins needed
        from lab3.base import data

        print(f"MNIST: raw IDX files in {_rel(data.ensure_raw())}")
        return 0
    numerics.pin()  # the environment the chapters' kernels inherit (their report.setup() pins threads again)
    stages = Stages()
    start = time.perf_counter()
    try:
        paths.use_model(args.model)
        overrides = parse_params(args.params)
        title = title_page(args.author, args.student_id, args.course, args.date)  # checked before hours of work
        chosen = {c: params_mod.check(c, chapter_parameters(c, overrides.get(c))) for c in CHAPTERS}  # likewise
        env_seconds = install_seconds()
        if env_seconds is not None:
            stages.add("environment", env_seconds, "installed into .venv")
        model_sha = prepare(stages)
        if args.prepare:
            stages.save(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), round(time.perf_counter() - start, 1))
            return 0
        if not args.no_pdf:
            stages.run("TeX toolchain", check_tex)
        for chapter in CHAPTERS:
            params = chosen[chapter]
            stages.run(f"chapter: {chapter}", functools.partial(run_chapter, chapter, params, model_sha, args.force))
        config = book_config(title)
        stages.run("HTML book", lambda: build_book("html", BOOK / "_build" / ".lab3-html", HTML_INDEX, args.force,
                                                   config))
        if not args.no_pdf:
            stages.run("PDF", lambda: build_book("pdflatex", BOOK / "_build" / ".lab3-pdf", PDF, args.force, config))
    except (ValueError, FileNotFoundError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # papermill's execution error names the failing cell
        if getattr(exc, "ename", None) == "ParameterError":  # a chapter refused a parameter: its one line is enough
            print(f"error: {getattr(exc, 'evalue', exc)}", file=sys.stderr)
            return 2
        print(f"error: {type(exc).__name__}: {str(exc)[-3000:]}", file=sys.stderr)
        return 1
    total = time.perf_counter() - start
    stages.save(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), round(total, 1))
    print("\nStage timings:")
    for r in stages.records:
        print(f"  {r['stage']:<28} {r['seconds']:>8.1f} s  {r['status']}")
    print(f"  {'total':<28} {total:>8.1f} s")
    print(f"\nHTML: {HTML_INDEX}")
    if not args.no_pdf:
        print(f"PDF:  {PDF}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
