"""The HTML book's assets: scripts once per page, the offline MathJax, search excerpts that read as text."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sphinx.builders.html._assets import _JavaScript

from lab3.book import sphinx_assets
from lab3.book.sphinx_assets import _dedupe, copy_mathjax, unique_scripts


def test_exact_repeats_of_inline_scripts_are_dropped():
    thebe = _JavaScript(None, body='const THEBE_JS_URL = "x"')
    toggle = _JavaScript(None, body="var togglebuttonSelector = '.toggle';")
    other = _JavaScript(None, body="var other = 1;")
    files = [_JavaScript("_static/a.js"), thebe, toggle, _JavaScript("_static/a.js", **{"async": "async"}),
             _JavaScript("", body='const THEBE_JS_URL = "x"'), other,
             _JavaScript(None, body="var togglebuttonSelector = '.toggle';")]
    out = unique_scripts(files)
    assert out == [files[0], thebe, toggle, files[3], other]


def test_the_page_hook_replaces_the_context_list():
    js = _JavaScript(None, body="x")
    context = {"script_files": [js, _JavaScript(None, body="x")]}
    _dedupe(None, "page", "page.html", context, None)
    assert context["script_files"] == [js]


def test_mathjax_3_is_copied_with_its_fonts_and_extensions(tmp_path):
    target = copy_mathjax(tmp_path)
    assert (target / "tex-chtml.js").stat().st_size > 500_000
    assert (target / "input/tex/extensions/boldsymbol.js").is_file()
    assert any((target / "output/chtml/fonts/woff-v2").glob("MathJax_Main-Regular.woff"))


def test_a_plain_jupyter_book_build_references_a_mathjax_that_exists(tmp_path):
    """`jupyter-book build` with the project's _config.yml (as a user runs it): every page's MathJax script is there."""
    import re
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(root / "_config.yml", book / "_config.yml")
    shutil.copy(root / "book" / "references.bib", book / "references.bib")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: page\n")
    (book / "intro.md").write_text("# Intro\n\nInline $\\Delta = 2q/2^l$ and display:\n\n$$w_q = \\mathrm{clip}(x)$$\n")
    (book / "page.md").write_text("# Page\n\n$$\\boldsymbol{w}$$\n")
    exe = Path(sys.executable).with_name("jupyter-book")
    run = subprocess.run([str(exe), "build", str(book)], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    html = book / "_build" / "html"
    for page in ("intro.html", "page.html"):
        text = (html / page).read_text()
        src = re.search(r'<script[^>]*src="([^"]*tex-chtml\.js)"', text)
        assert src, f"{page} loads no MathJax 3"
        assert (html / src.group(1)).resolve().is_file(), f"{page} loads {src.group(1)}, which is missing"
        css = re.search(r'<link[^>]*href="([^"]*lab3\.css)[^"]*"', text)  # the caption rule for phones
        assert css and (html / css.group(1)).is_file(), f"{page} does not load an existing lab3.css"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the search script's TeX reader")
def test_search_excerpts_read_math_as_text():
    js = (Path(sphinx_assets.STATIC) / "lab3-search.js").read_text()
    start = js.index("  const SYMBOLS")
    end = js.index("\n", js.index(".trim();", start))
    cases = {r"\(q-\Delta\)": "q-Δ", r"\(2^l\)": "2^l",
             r"\[\Delta = \frac{2q}{2^l}, \quad w_q = \mathrm{clip}(\Delta \cdot \mathrm{round}(w/\Delta))\]":
             "Δ = 2q/2^l, w_q = clip(Δ · round(w/Δ))"}
    script = (js[start:end] + "\nconst cases = " + json.dumps(list(cases)) + ";\n"
              "console.log(JSON.stringify(cases.map(plain)));")
    run = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == list(cases.values())
