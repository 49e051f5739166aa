"""The report reads as a document: captions on every figure and table, no Python reprs, no project labels.

The first tests read the committed executed chapters (always present); the last reads the built PDF's text
(``pdftotext``) and runs when ``make report`` has built it.
"""
import re
import shutil
import subprocess

import nbformat
import pytest

from lab3 import build, report

BOOK = build.BOOK
CHAPTERS = build.CHAPTERS
REPR = re.compile(r"at 0x[0-9a-f]+|<lab3\.|SimpleDNN\(|tensor\(\[")
BARE = {"None", "True", "False", "nan"}
PROJECT = re.compile(r"budget \d+(\.\d+)? s\b|: (within|OVER)\b|\bTODO\b|met / not met")  # project-tracking labels
PDF_REPR = re.compile(r"at 0x[0-9a-f]+|<lab3\.|SimpleDNN\(\s*$|Linear\(in_features|\bdtype=torch")  # code may name tensors


def shown_outputs():
    """(chapter, cell, output) for every output the book shows (cells not removed)."""
    for chapter in CHAPTERS:
        nb = nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4)
        for cell in nb.cells:
            tags = cell.metadata.get("tags", [])
            if cell.cell_type != "code" or "remove-cell" in tags or "remove-output" in tags:
                continue
            for out in cell.get("outputs", []):
                yield chapter, cell, out


def output_text(out) -> str:
    if out.get("output_type") == "stream":
        return out.get("text", "")
    data = out.get("data", {})
    return data.get("text/markdown", "") or ("" if "image/png" in data else data.get("text/plain", ""))


def test_no_python_reprs_or_project_labels_in_the_book():
    for chapter, cell, out in shown_outputs():
        text = output_text(out)
        assert not REPR.search(text), (chapter, text[:200])
        assert "Goal:" not in text and not PROJECT.search(text), (chapter, text[:200])
        for line in text.splitlines():
            if line.startswith("|"):
                cells = [c.strip() for c in line.strip("|").split("|")]
                assert not BARE & set(cells), (chapter, line)


def test_no_warnings_or_errors_are_shown_in_the_book():
    for chapter, cell, out in shown_outputs():
        assert not (out.get("output_type") == "stream" and out.get("name") == "stderr"), (chapter, out.get("text", "")[:200])
        assert out.get("output_type") != "error", (chapter, out.get("ename"))


def test_every_figure_has_a_caption_and_a_name():
    names = []
    for chapter, cell, out in shown_outputs():
        if "image/png" in out.get("data", {}):
            figure = cell.metadata.get("mystnb", {}).get("figure", {})
            assert figure.get("caption") and figure.get("name"), (chapter, cell.source[:80])
            names.append(figure["name"])
    assert len(names) == len(set(names)) and len(names) >= 14, names


def test_every_table_is_numbered_with_a_caption():
    for chapter, cell, out in shown_outputs():
        text = out.get("data", {}).get("text/markdown", "")
        tables = len(re.findall(r"^\|[-:|]+\|$", text, re.M))
        assert tables == text.count(":::{table} "), (chapter, text[:200])


def test_captioned_table_is_a_myst_table_directive():
    text = report.captioned("| a |\n|---|\n| 1 |", "A caption.", "tbl-x")
    assert text.splitlines()[:2] == [":::{table} A caption.", ":name: tbl-x"] and text.endswith(":::")
    with pytest.raises(ValueError):
        report.captioned("| a |", "two\nlines")


@pytest.mark.skipif(not build.PDF.is_file() or shutil.which("pdftotext") is None,
                    reason="the PDF is built by make report")
def test_built_pdf_reads_as_a_report():
    text = subprocess.run(["pdftotext", "-layout", str(build.PDF), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert not PDF_REPR.search(text), PDF_REPR.search(text)
    assert "Goal:" not in text
    for line in text.splitlines():
        assert line.strip() not in BARE, line
    figures = sum(1 for _, _, out in shown_outputs() if "image/png" in out.get("data", {}))
    captions = re.findall(r"^\s*Fig\. \d+\.\d+: \S", text, re.M)
    assert len(captions) == figures, (len(captions), figures)
    assert "Conclusion" in text and "References" in text
    assert "continued on next page" not in text or re.search(r"Table \d+\.\d+ – continued", text)


def test_every_figure_is_referenced_from_the_text():
    text = []  # what the book shows: Markdown cells and Markdown outputs
    for chapter in CHAPTERS:
        nb = nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4)
        text += [c.source for c in nb.cells if c.cell_type == "markdown"]
    text += [out.get("data", {}).get("text/markdown", "") for _, _, out in shown_outputs()]
    text += [c.metadata.get("mystnb", {}).get("figure", {}).get("caption", "") for _, c, _ in shown_outputs()]
    joined = "\n".join(text)
    for chapter, cell, out in shown_outputs():
        name = cell.metadata.get("mystnb", {}).get("figure", {}).get("name")
        if name:
            assert "{numref}`" + name + "`" in joined, (chapter, name)
