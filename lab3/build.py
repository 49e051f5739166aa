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
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from lab3 import fileio, paths

ROOT = paths.PROJECT_ROOT
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
CHAPTERS = ("baseline", "quantization", "pruning", "deployment", "reproducibility")
HTML_INDEX = BOOK / "_build" / "html" / "index.html"
PDF = BOOK / "_build" / "latex" / "lab3-report.pdf"
TEX_PACKAGES = ("texlive-xetex", "texlive-latex-recommended", "texlive-latex-extra", "texlive-fonts-recommended",
                "tex-gyre", "fonts-freefont-otf", "latexmk", "poppler-utils")
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


def chapter_parameters(chapter: str, override: Path | None) -> dict[str, Any]:
    """The chapter's defaults from notebooks/params, updated with a user's YAML file if given."""
    params = yaml.safe_load((NOTEBOOKS / "params" / f"{chapter}.yaml").read_text()) or {}
    if override is not None:
        if not override.is_file():
            raise FileNotFoundError(f"{override}: parameter file for chapter {chapter!r} does not exist")
        extra = yaml.safe_load(override.read_text()) or {}
        if not isinstance(extra, dict):
            raise ValueError(f"{override}: expected a YAML mapping of parameter names to values")
        unknown = sorted(set(extra) - set(params))
        if unknown:
            raise ValueError(f"{override}: unknown parameters for chapter {chapter!r}: {unknown}; "
                             f"known: {sorted(params)}")
        params.update(extra)
    return params


def chapter_inputs(chapter: str, params: dict[str, Any], model_sha: str) -> str:
    """Hash of everything an executed chapter depends on (reproducibility's timings excluded on purpose)."""
    from lab3.cache import code_version

    source = (NOTEBOOKS / f"{chapter}.ipynb").read_bytes()
    blob = json.dumps({"source": hashlib.sha256(source).hexdigest(), "params": params, "code": code_version(),
                       "model": model_sha}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


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
        return "up to date"
    scratch = paths.artifacts_dir() / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    tmp_nb = scratch / f"{chapter}.ipynb"
    try:  # executed outside book/ and moved in only when complete: a failure keeps the last good copy
        papermill.execute_notebook(str(NOTEBOOKS / f"{chapter}.ipynb"), str(tmp_nb), parameters=params,
                                   cwd=str(ROOT), kernel_name="python3", progress_bar=False, log_output=False)
        durations = finish_notebook(tmp_nb, inputs, params)
        fileio.write_json(paths.artifacts_dir() / "cell_seconds" / f"{chapter}.json", durations)
        fileio.write_bytes(target, tmp_nb.read_bytes())
    finally:
        if tmp_nb.exists():
            tmp_nb.unlink()
    return "executed"


def book_sources_hash() -> str:
    """Hash of what the book is built from: book/ (without _build), _config.yml, _toc.yml."""
    h = hashlib.sha256()
    files = [ROOT / "_config.yml", ROOT / "_toc.yml"] + sorted(
        p for p in BOOK.rglob("*") if p.is_file() and not {"_build", "_extra"} & set(p.relative_to(BOOK).parts))
    for p in files:
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def jupyter_book(builder: str) -> None:
    """``jupyter-book build book/`` with warnings as errors (a missing chapter fails the build)."""
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe), "build", str(BOOK), "--path-output", str(BOOK), "-W", "-n", "--keep-going", "--builder", builder]
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}  # else the title page says 1970
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-6000:])
        sys.stderr.write(proc.stderr[-6000:])
        raise RuntimeError(f"jupyter-book {builder} build failed (exit {proc.returncode}); see the log above")


def build_book(builder: str, stamp: Path, product: Path, force: bool) -> str:
    """Build HTML or PDF unless the stamp says the sources are unchanged and the product exists."""
    key = book_sources_hash()
    if not force and product.is_file() and stamp.is_file() and stamp.read_text() == key:
        return "up to date"
    jupyter_book(builder)
    if not product.is_file():
        raise RuntimeError(f"jupyter-book reported success but {product} was not written")
    fileio.write_bytes(stamp, key.encode())
    return "built"


def ensure_mathjax() -> str:
    """Copy MathJax (from the PyPI package jupyter-server-mathjax) into book/_extra: math renders offline."""
    import importlib.util

    target = BOOK / "_extra" / "mathjax"
    if (target / "MathJax.js").is_file():
        return "present"
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax for the offline HTML book is missing: "
                           "`pip install --no-deps jupyter-server-mathjax==0.2.6` (make installs it)")
    source = Path(list(spec.submodule_search_locations)[0]) / "static"
    tmp = target.with_name(".mathjax.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    tmp.rename(target)
    return f"copied to {target.relative_to(ROOT)}"


def tex_missing() -> list[str]:
    """What of the TeX toolchain is missing (xelatex, latexmk, the FreeSerif font)."""
    missing = [tool for tool in ("xelatex", "latexmk", "pdftoppm") if shutil.which(tool) is None]
    fonts = subprocess.run(["fc-list"], capture_output=True, text=True).stdout if shutil.which("fc-list") else ""
    if "FreeSerif" not in fonts:
        missing.append("FreeSerif font")
    return missing


def ensure_tex() -> str:
    """Install Debian's TeX packages when the PDF toolchain is missing (needs root and apt)."""
    missing = tex_missing()
    if not missing:
        return "present"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(f"the PDF needs {', '.join(missing)}: install them with `sudo apt-get install -y "
                           f"{' '.join(TEX_PACKAGES)}`, or build without the PDF: `make report PDF=0`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *TEX_PACKAGES], check=True,
                   env=env, stdout=subprocess.DEVNULL)
    still = tex_missing()
    if still:
        raise RuntimeError(f"installed {' '.join(TEX_PACKAGES)} but still missing: {', '.join(still)}")
    return "installed " + " ".join(TEX_PACKAGES)


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
    """The data and model stages; returns the model's sha256."""
    from lab3 import data, train

    stages.run("MNIST", lambda: f"raw IDX files in {_rel(data.ensure_raw())}")
    record: dict[str, Any] = {}

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
    parser.add_argument("--no-pdf", action="store_true", help="skip the TeX toolchain and the PDF")
    parser.add_argument("--force", action="store_true", help="re-execute every chapter and rebuild the book")
    args = parser.parse_args(argv)
    os.environ.update(BUILD_ENV)
    stages = Stages()
    start = time.perf_counter()
    try:
        overrides = parse_params(args.params)
        env_seconds = install_seconds()
        if env_seconds is not None:
            stages.add("environment", env_seconds, "installed into .venv")
        model_sha = prepare(stages)
        if args.prepare:
            stages.save(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), round(time.perf_counter() - start, 1))
            return 0
        if not args.no_pdf:
            stages.run("TeX toolchain", ensure_tex)
        for chapter in CHAPTERS:
            params = chapter_parameters(chapter, overrides.get(chapter))
            stages.run(f"chapter: {chapter}", lambda c=chapter, p=params: run_chapter(c, p, model_sha, args.force))
        stages.run("MathJax (offline)", ensure_mathjax)
        stages.run("HTML book", lambda: build_book("html", BOOK / "_build" / ".lab3-html", HTML_INDEX, args.force))
        if not args.no_pdf:
            stages.run("PDF", lambda: build_book("pdflatex", BOOK / "_build" / ".lab3-pdf", PDF, args.force))
    except (ValueError, FileNotFoundError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # papermill's execution error names the failing cell
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
