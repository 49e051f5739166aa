"""A Sphinx extension for the HTML book: each script once per page.

With jupyter-book 1's extension set, the inline configuration scripts of sphinx-thebe and
sphinx-togglebutton reach a page twice; the second ``const THEBE_JS_URL`` is a SyntaxError in every
browser console. This drops exact repeats (same file, same attributes, same inline body; an inline script's
filename is None or '' depending on the extension) before rendering.
"""
from __future__ import annotations

from typing import Any


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


def setup(app: Any) -> dict[str, Any]:
    """Register the page hook (last, after every extension has added its scripts)."""
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
