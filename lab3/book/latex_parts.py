"""A Sphinx extension for the PDF: the book's parts (``parts:`` in ``_toc.yml``) as LaTeX parts.

Jupyter Book 1 turns ``parts:`` into toctree captions. Sphinx's LaTeX builder shows those only as the name
of the table of contents (the first caption replaces "Contents"), so the PDF had no parts. This puts a
``\\part`` before the first chapter of each part in the assembled LaTeX document ("Part I: The lab" becomes
LaTeX's numbered "Part I" with the title "The lab"; a caption without "Part N:", such as "Appendix", an
unnumbered ``\\part*``) and keeps the table of contents called "Contents" (Sphinx would name it after the
first caption). ``_config.yml``'s preamble sets a part as a heading above its first chapter, on a new page
only when little of the page is left. The HTML book is unchanged: its sidebar shows the captions.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

PART_PREFIX = re.compile(r"^Part [IVX]+\s*[:.]\s*")


def parts(toc_file: Path) -> list[tuple[str, str, bool]]:
    """(first file, LaTeX part title, numbered) for each part of a ``_toc.yml``; [] when it has no parts.

    A caption that starts with "Part N:" is a numbered part; any other ("Appendix") is unnumbered.
    """
    toc = yaml.safe_load(toc_file.read_text()) or {}
    out = []
    for part in toc.get("parts", []):
        chapters = part.get("chapters") or []
        caption = str(part.get("caption") or "")
        if chapters and caption:
            out.append((str(chapters[0]["file"]), PART_PREFIX.sub("", caption), bool(PART_PREFIX.match(caption))))
    return out


def part_command(title: str, numbered: bool) -> str:
    """The LaTeX that opens a part: ``\\part{title}``, or ``\\part*{title}`` for an unnumbered one."""
    return f"\\part{'' if numbered else '*'}{{{title}}}\n"


def _insert_parts(app: Any, doctree: Any, docname: str) -> None:
    """In the PDF's assembled document, a raw ``\\part`` node before each part's first chapter."""
    if app.builder.name != "latex" or docname != app.config.root_doc:
        return
    from docutils import nodes
    from sphinx import addnodes

    first = {file: (title, numbered) for file, title, numbered in parts(Path(app.srcdir) / "_toc.yml")}
    for node in list(doctree.findall(addnodes.start_of_file)):
        part = first.get(node.get("docname", ""))
        if part:
            node.parent.insert(node.parent.index(node), nodes.raw("", part_command(*part), format="latex"))


def _keep_contents_name(app: Any) -> None:
    """The LaTeX builder names the contents after the first toctree caption; with parts that is Part I's."""
    if app.builder.name == "latex":
        app.builder.get_contentsname = lambda indexfile: ""  # "": LaTeX's own "Contents"


def setup(app: Any) -> dict[str, Any]:
    """Register the LaTeX hooks."""
    app.connect("builder-inited", _keep_contents_name)
    app.connect("doctree-resolved", _insert_parts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
