"""The HTML book's script de-duplication keeps order and drops only exact repeats."""
from sphinx.builders.html._assets import _JavaScript

from lab3.sphinx_assets import _dedupe, unique_scripts


def test_exact_repeats_of_inline_scripts_are_dropped():
    thebe = _JavaScript(None, body='const THEBE_JS_URL = "x"')
    toggle = _JavaScript(None, body="var togglebuttonSelector = '.toggle';")
    other = _JavaScript(None, body="var other = 1;")
    files = [_JavaScript("_static/a.js"), thebe, toggle, _JavaScript("_static/a.js", **{"async": "async"}),
             _JavaScript("", body='const THEBE_JS_URL = "x"'), other, _JavaScript(None, body="var togglebuttonSelector = '.toggle';")]
    out = unique_scripts(files)
    assert out == [files[0], thebe, toggle, files[3], other]


def test_the_page_hook_replaces_the_context_list():
    js = _JavaScript(None, body="x")
    context = {"script_files": [js, _JavaScript(None, body="x")]}
    _dedupe(None, "page", "page.html", context, None)
    assert context["script_files"] == [js]
