"""The report reads as a document: captions on every figure and table, no Python reprs, no project labels.

The first tests read the committed executed chapters (always present); the last reads the built PDF's text
(``pdftotext``) and runs when ``make report`` has built it.
"""
import re
import shutil
import subprocess

import nbformat
import pytest

from lab3.book import build, report

BOOK = build.BOOK
CHAPTERS = build.CHAPTERS
REPR = re.compile(r"at 0x[0-9a-f]+|<lab3\.|SimpleDNN\(|tensor\(\[")
BARE = {"None", "True", "False", "nan"}
PROJECT = re.compile(r"budget \d+(\.\d+)? s\b|: (within|OVER)\b|\bTODO\b|met / not met")  # project-tracking labels
# code may name tensors and dtypes
PDF_REPR = re.compile(r"at 0x[0-9a-f]+|<lab3\.|SimpleDNN\(\s*$|Linear\(in_features|\], dtype=torch")


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
    for chapter, _, out in shown_outputs():
        text = output_text(out)
        assert not REPR.search(text), (chapter, text[:200])
        assert "Goal:" not in text and not PROJECT.search(text), (chapter, text[:200])
        for line in text.splitlines():
            if line.startswith("|"):
                cells = [c.strip() for c in line.strip("|").split("|")]
                assert not BARE & set(cells), (chapter, line)


def test_no_warnings_or_errors_are_shown_in_the_book():
    for chapter, _, out in shown_outputs():
        stderr = out.get("output_type") == "stream" and out.get("name") == "stderr"
        assert not stderr, (chapter, out.get("text", "")[:200])
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
    for chapter, _, out in shown_outputs():
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
    for chapter, cell, _ in shown_outputs():
        name = cell.metadata.get("mystnb", {}).get("figure", {}).get("name")
        if name:
            assert "{numref}`" + name + "`" in joined, (chapter, name)


# --- a report that teaches (issue 21): parts, code on the page, prose in Markdown -------------------------

PART_ONE = ("baseline", "quantization", "pruning")           # Part I: the lab
PART_TWO = ("quantizers", "repair", "deployment", "conclusion")  # Part II: beyond the lab
CODE_WIDTH = 96  # \footnotesize FreeMono on the PDF's 17 cm text width (_config.yml): a 95-character line stays whole
# Part I's code, each lab task beside its code: (chapter, cell id, what the visible cell must contain)
LAB_CODE = [
    ("quantization", "model", "weights_vector(model)"),            # flatten and concatenate the weights
    ("quantization", "c-d354c76e", "weight_histogram"),           # their histogram
    ("quantization", "lab-formula", "quantize_tensor"),           # the lab's formula on a few values
    ("quantization", "lab-sweep", "lab_quantization_grid"),       # the sweep over q and l
    ("quantization", "grid", "best_by"),                          # the best q per bit width
    ("quantization", "quantize-model", "quantize_model"),         # the quantized models of the histograms
    ("quantization", "c-32a75b0e", "accuracy_vs_bits_and_q"),     # the lab's plots: accuracy vs l and vs q
    ("quantization", "c-fec65501", "histograms_by_bits"),         # the quantized weights' distribution
    ("pruning", "model", "prune_model"),                          # prune_layer on fc1..fc3
    ("pruning", "model", "count_parameters"),                     # the parameters that remain
    ("pruning", "lab-rows", "lab_pruning_rows"),                  # the sweep: parameters and accuracy
    ("pruning", "c-2d76f235", "lab_pruning_plots"),               # the lab's plots of the sweep
    ("pruning", "timing", "lab_loop_parts"),                      # inference time
    ("pruning", "rule", "smallest_within"),                       # the deployment choice
]
# where the function is the lab's algorithm, its source is on the page: (chapter, cell id, functions)
LAB_SOURCES = [
    ("quantization", "q-source", ("def quantize_tensor", "def quantize_model")),
    ("quantization", "sweep-source", ("def lab_quantization_grid",)),
    ("pruning", "prune-source", ("def prune_layer", "def keep_mask")),
    ("pruning", "loop-source", ("def lab_loop_parts",)),
]
HIDDEN_LINES_BUDGET = 400  # issue 21's target (1,245 before the machinery moved to lab3.book.chapters; 220 after)


def _cells(chapter):
    return {c.get("id"): c for c in nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4).cells}


def _visible(cell) -> bool:
    return cell.cell_type == "code" and not {"remove-input", "remove-cell"} & set(cell.metadata.get("tags", []))


def test_the_book_has_three_parts_in_its_table_of_contents():
    import yaml
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    parts = {p["caption"]: [c["file"] for c in p["chapters"]] for p in toc["parts"]}
    assert list(parts.values()) == [list(PART_ONE), list(PART_TWO), ["reproducibility", "references"]]


def test_every_lab_task_has_its_code_visible_beside_it():
    for chapter, cid, needle in LAB_CODE:
        cell = _cells(chapter)[cid]
        assert _visible(cell) and needle in cell.source, (chapter, cid)
        assert len(cell.source.splitlines()) <= 15, (chapter, cid)
    for chapter, cid, defs in LAB_SOURCES:
        cell = _cells(chapter)[cid]
        shown = "".join(o.get("data", {}).get("text/markdown", "") for o in cell.outputs)
        assert all(d in shown for d in defs) and "```python" in shown, (chapter, cid)


def test_code_on_the_page_fits_the_pdf_line():
    for chapter in PART_ONE + PART_TWO:
        for cid, cell in _cells(chapter).items():
            lines = cell.source.splitlines() if _visible(cell) else []
            for o in cell.outputs if cell.cell_type == "code" else []:
                shown = o.get("data", {}).get("text/markdown", "")
                if "```python" in shown:
                    lines += shown.splitlines()
            too_long = [l for l in lines if len(l) > CODE_WIDTH]
            assert not too_long, (chapter, cid, too_long[:2])


def test_parts_one_and_two_hold_no_build_machinery():
    """Settings tables, hashes, make commands and build timings belong to the appendix."""
    for chapter in PART_ONE + PART_TWO:
        for cell in nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4).cells:
            tags = cell.metadata.get("tags", [])
            if "remove-cell" in tags:
                continue
            texts = [cell.source] if cell.cell_type == "markdown" else [
                o.get("data", {}).get("text/markdown", "") + o.get("text", "") for o in cell.outputs]
            for text in (re.sub(r"```.*?```", "", t, flags=re.S) for t in texts):  # code on the page may say sha256
                assert not re.search(r"\b[0-9a-f]{16,}\b", text), (chapter, text[:120])  # no hash
                for word in ("sha256", "make report", "make test"):
                    assert word not in text, (chapter, text[:120])
                assert "Parameters of this chapter" not in text and "Build stages" not in text, (chapter, text[:120])


def test_hidden_code_stays_within_its_budget():
    hidden = 0
    for chapter in CHAPTERS:
        nb = nbformat.read(build.NOTEBOOKS / f"{chapter}.ipynb", as_version=4)
        hidden += sum(len(c.source.splitlines()) for c in nb.cells
                      if c.cell_type == "code" and not _visible(c))
    assert hidden <= HIDDEN_LINES_BUDGET, hidden


def test_the_lab_loop_parts_add_up_in_the_timing_results():
    values = build_results("pruning")
    ratios = {k.split("/")[1] for k in values if k.startswith("timing/") and k.endswith("/lab_loop_s")}
    assert ratios
    for r in ratios:
        total, loading, model = (values[f"timing/{r}/{k}"]["value"] for k in ("lab_loop_s", "loading_s", "model_s"))
        assert loading + model <= total * 1.001 and loading + model >= 0.9 * total, r


def build_results(chapter):
    from lab3.book import results
    return results.load(results.book_path(chapter))["values"]


@pytest.mark.skipif(not build.PDF.is_file() or shutil.which("pdftotext") is None,
                    reason="the PDF is built by make report")
def test_pdf_page_budget_and_no_unresolved_references():
    pages = subprocess.run(["pdftotext", "-layout", str(build.PDF), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) <= 32, len(pages)
    assert not any("??" in p for p in pages)
    def part_page(title: str) -> int:
        return next(i for i, p in enumerate(pages) if title in p and "Contents" not in p[:300])

    first, second = part_page("Part I: The lab"), part_page("Part II: Beyond the lab")
    assert 0 < first < second and second - first <= 16, (first, second)  # Part I: 16 pages at most
    part_one = "\n".join(pages[first:second])  # no share above 100% (the timing shares among them)
    shares = [float(m) for m in re.findall(r"(\d+(?:\.\d+)?)%", part_one)]
    assert all(s <= 100 for s in shares), [s for s in shares if s > 100]
