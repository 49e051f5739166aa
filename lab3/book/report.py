"""Small helpers the chapter notebooks share: setup, parameter echo, Markdown tables and sentences.

Tables are emitted as Markdown so that the book renders them as real tables in both HTML and PDF.
"""
from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lab3.base import numerics, paths
from lab3.book import plots

NBSP = "\u00a0"  # keeps a number with its unit, and an interval in one piece, when a table cell wraps



def checkpoint(model_path: str | os.PathLike | None = None) -> Path:
    """The checkpoint a chapter reports on: ``model_path``, else ``LAB3_MODEL``, else the trained model.

    A notebook opened on its own (Jupyter, Colab) trains the default model on first use, as ``make`` does
    (about 10 minutes on 2 cores); a later run, or ``make``'s, reuses it."""
    if model_path is not None:
        return Path(model_path)
    path = paths.model_path()
    if path == paths.full_model_path():
        from lab3.experiments import train

        if train.matching_checkpoint(path, train.RECIPE) is None:  # silent when it exists: nothing in the book
            train.train_full(path)
    return path


def setup() -> None:
    """Notebook setup: the numerics pins, figure style, PNG + PDF figure outputs (vector figures for LaTeX), quiet
    libraries."""
    numerics.pin()  # before the chapter computes anything: the same bits as every other run on this machine
    plots.use_style()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        shell = get_ipython()
        if shell is not None:
            set_matplotlib_formats("png", "pdf")
            dump_stacks_of_slow_cells(shell)
    except ImportError:  # outside Jupyter: nothing to configure
        pass


SLOW_CELL_SECONDS = 1500.0  # nbval gives up on a cell after 2,000 s (its default); the stacks come before that
_stack_log: list[Any] = []  # the open log file, kept alive for faulthandler


def dump_stacks_of_slow_cells(shell: Any, seconds: float = SLOW_CELL_SECONDS, log: Any = None) -> None:
    """Print every thread's Python stack to ``log`` (default: the parent process's stderr, the build or test log;
    nbval discards a kernel's own) when a cell runs longer than ``seconds``, so that a hang in a clean-clone run
    shows where it is."""
    import faulthandler

    if log is None:
        if not _stack_log:
            try:
                # append: "w" reopens a redirected log with O_TRUNC and erased the build's log up to that moment
                _stack_log.append(open(f"/proc/{os.getppid()}/fd/2", "a"))  # noqa: SIM115 (open while the kernel is)
            except OSError:  # not Linux, or no parent's stderr to write to: nothing to arm
                return
        log = _stack_log[0]
    shell.events.register("pre_run_cell", lambda *_: faulthandler.dump_traceback_later(seconds, file=log))
    shell.events.register("post_run_cell", lambda *_: faulthandler.cancel_dump_traceback_later())


def markdown(text: str) -> None:
    """Display Markdown in a notebook."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, Callable[[Any], str] | str]]) -> str:
    """A Markdown table: ``columns`` are (key, header, format) where format is a format spec or a function."""
    head = "| " + " | ".join(_cell(h) for _, h, _ in columns) + " |"
    rule = "|" + "|".join("---:" if not isinstance(fmt, str) or fmt else "---" for _, _, fmt in columns) + "|"
    lines = [head, rule]
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key, "")
            text = fmt(value) if callable(fmt) else (format(value, fmt) if fmt and value != "" else str(value))
            if isinstance(value, (int, float)) and not isinstance(value, bool) and text.startswith("-"):
                text = "−" + text[1:]  # a minus sign, not a hyphen
            cells.append(_cell(text))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """A table cell's text with its pipes escaped, so 'max|w|' stays in one cell."""
    return str(text).replace("|", "\\|")


def show_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, Any]], caption: str = "",
               name: str = "") -> None:
    """Display ``table(rows, columns)``; with a caption it is a numbered table (``name`` is its {numref} target)."""
    markdown(captioned(table(rows, columns), caption, name) if caption else table(rows, columns))


def captioned(markdown_table: str, caption: str, name: str = "") -> str:
    """A Markdown table wrapped in MyST's table directive: numbered, captioned, referable as {numref}`name`."""
    if "\n" in caption:
        raise ValueError("a table caption is one line")
    label = f":name: {name}\n" if name else ""
    return f":::{{table}} {caption}\n{label}:align: center\n\n{markdown_table}\n:::"


def parameter_text(value: Any) -> str:
    """A parameter value as a reader reads it: 2, 3, 4 / yes / no / – (unset) / max_abs / 4/4/2/4; 3/4/2/4."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) for v in value):
        return "; ".join("/".join(parameter_text(x) for x in v) for v in value)  # e.g. bit widths per layer
    if isinstance(value, (list, tuple)):
        return ", ".join(parameter_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def show_parameters(params: dict[str, Any], defaults: dict[str, Any] | None = None, name: str = "") -> None:
    """Echo the parameters this chapter ran with, marking those that differ from the notebook's defaults."""
    defaults = params if defaults is None else defaults
    rows = [{"name": k, "value": parameter_text(v) + ("" if defaults.get(k) == v else
                                                      f" (default {parameter_text(defaults.get(k))})")}
            for k, v in params.items()]
    changed = sum(defaults.get(k) != v for k, v in params.items())
    note = f", {changed} changed from the defaults" if changed else ", all at their defaults"
    show_table(rows, [("name", "parameter", ""), ("value", "value", "")],
               caption=f"Parameters of this chapter's run{note}.",
               name=name)


def pct(x: float, digits: int = 2) -> str:
    """0.9883 -> '98.83%'."""
    return f"{100 * x:.{digits}f}%"


def pp(x: float, digits: int = 2) -> str:
    """A difference of fractions in signed percentage points: -0.0041 -> '−0.41 pp'."""
    return f"{100 * x:+.{digits}f}{NBSP}pp".replace("-", "−")


def acc_ci(row: dict[str, Any]) -> str:
    """'98.83% [98.61, 99.02]': accuracy with its 95% interval, from a record with correct/total."""
    return f"{100 * row['accuracy']:.2f}%{NBSP}[{100 * row['ci_low']:.2f},{NBSP}{100 * row['ci_high']:.2f}]"


def megabytes(n: int) -> str:
    """Bytes as 'x.xx MB' (10^6)."""
    return f"{n / 1e6:,.2f}{NBSP}MB"


def human_bytes(n: int) -> str:
    """Bytes as KB or MB (10^3 / 10^6), whichever reads better."""
    return f"{n / 1e3:,.1f}{NBSP}KB" if n < 1e6 else f"{n / 1e6:,.2f}{NBSP}MB"


def relpath(path: str | os.PathLike) -> str:
    """A path shown relative to the project folder (stable across machines)."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(paths.PROJECT_ROOT))
    except ValueError:
        return str(p)


def glue(name: str, value: Any) -> None:
    """Store ``value`` for the chapter's Markdown: text as ``{glue:md}`name```, a number as ``{glue:text}`name:.2f```.

    MyST-NB's glue keeps the prose in Markdown cells, so rewording a sentence re-renders the book without
    re-running the chapter; the values come from the cells that computed them. Outside MyST-NB (a bare
    Jupyter without the book's extras) nothing is stored and nothing is shown."""
    try:
        from myst_nb import glue as nb_glue
    except ImportError:
        return
    from IPython.display import Markdown

    nb_glue(name, Markdown(value) if isinstance(value, str) else value, display=False)


def source(obj: Any) -> str:
    """The source of a function as a Markdown code block: the code that ran, so the page cannot drift from it."""
    import inspect

    text = inspect.getsource(obj).rstrip()
    return f"```python\n{text}\n```"


def show_source(*objs: Any) -> None:
    """Display the source of each function (see :func:`source`)."""
    markdown("\n\n".join(source(o) for o in objs))


def mcnemar_verdict(p: float, only_first: int, only_second: int, images: int = 5000) -> str:
    """The one reading of McNemar's test the report uses: a real loss (or gain) of the second model below p = 0.05."""
    if p < 0.05:
        return "a real loss" if only_first > only_second else "a real gain"
    return f"no difference detectable on {images:,} images"
