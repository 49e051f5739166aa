"""A Sphinx extension for the HTML book: offline MathJax 3, search excerpts, each script once per page.

**MathJax.** ``jupyter-book build book/`` alone must give pages whose formulas render without a network.
The extension copies MathJax 3 (``tex-chtml.js``, the TeX extensions it may autoload, and its woff-v2
fonts) from the PyPI package ``django-static-mathjax`` (data only, installed with ``--no-deps``) into the
HTML output's ``_static/mathjax/``; ``_config.yml`` points ``mathjax_path`` there. MathJax 3 also lets the
theme scroll a wide display formula on a phone instead of clipping it.

**Search.** ``static/lab3-search.js`` makes the search page's excerpts show the page's text where the
stemmed word is absent from it (it looks for the words as typed and as prefixes).

**Scripts.** With jupyter-book 1's extension set, the inline configuration scripts of sphinx-thebe and
sphinx-togglebutton reach a page twice; the second ``const THEBE_JS_URL`` is a SyntaxError in every
browser console. This drops exact repeats (same file, same attributes, same inline body; an inline script's
filename is None or '' depending on the extension) before rendering.
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

STATIC = Path(__file__).with_name("static")  # lab3-search.js, lab3.css (captions of wide tables on phones)
MATHJAX_PACKAGE = "django-static-mathjax==3.2.2.1"
MATHJAX_PATH = "mathjax/tex-chtml.js"  # relative to _static; the value of mathjax_path in _config.yml
# what tex-chtml.js loads: itself, the TeX extensions it may autoload, the CHTML fonts
MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2")


def mathjax_source() -> Path:
    """The folder holding MathJax 3's ``es5`` build; ``RuntimeError`` with the install command if missing."""
    spec = importlib.util.find_spec("mathjax")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        es5 = Path(folder) / "static" / "mathjax" / "es5"
        if (es5 / "tex-chtml.js").is_file():
            return es5
    raise RuntimeError(f"MathJax 3 for the offline HTML book is missing: `pip install --no-deps {MATHJAX_PACKAGE}` "
                       "(make installs it)")


def copy_mathjax(static_dir: Path) -> Path:
    """Copy the parts of MathJax 3 the pages use into ``static_dir/mathjax``; return that folder."""
    source = mathjax_source()
    target = Path(static_dir) / "mathjax"
    for part in MATHJAX_PARTS:
        src, dst = source / part, target / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
    return target


def unique_scripts(scripts: list[Any]) -> list[Any]:
    """``scripts`` without repeats of an earlier entry (same filename and attributes), order kept."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for js in scripts:
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            out.append(js)
    return out


def _dedupe(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    if "script_files" in context:
        context["script_files"] = unique_scripts(list(context["script_files"]))


def _add_search_script(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    if pagename == "search" and "script_files" in context:
        from sphinx.builders.html._assets import _JavaScript

        # deferred: it runs after searchtools.js has defined Search, and before the search starts
        context["script_files"] = [*context["script_files"], _JavaScript("_static/lab3-search.js", defer="defer")]


def _wants_mathjax(app: Any) -> bool:
    return getattr(app.builder, "format", "") == "html" and app.config.mathjax_path == MATHJAX_PATH


def _check_mathjax(app: Any) -> None:
    if _wants_mathjax(app):
        mathjax_source()  # fail before reading any page, not after writing them all


def _copy_assets(app: Any, exception: Exception | None) -> None:
    if exception is None and _wants_mathjax(app):
        copy_mathjax(Path(app.outdir) / "_static")


def setup(app: Any) -> dict[str, Any]:
    """Register the page hook (last, after every extension has added its scripts) and the MathJax copy."""
    app.connect("html-page-context", _add_search_script, priority=100)
    app.connect("html-page-context", _dedupe, priority=900)
    app.connect("builder-inited", lambda a: a.config.html_static_path.append(str(STATIC)))
    app.add_css_file("lab3.css")
    app.connect("builder-inited", _check_mathjax)
    app.connect("build-finished", _copy_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
