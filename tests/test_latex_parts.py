"""The PDF's parts: each part of _toc.yml becomes a LaTeX part before its first chapter."""
from lab3.base import paths
from lab3.book import latex_parts


def test_parts_of_the_books_toc():
    got = latex_parts.parts(paths.PROJECT_ROOT / "_toc.yml")
    assert got == [("baseline", "The lab", True), ("quantizers", "Beyond the lab", True),
                   ("reproducibility", "Appendix", False)]


def test_a_toc_without_parts_has_none(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: intro\nchapters:\n  - file: a\n")
    assert latex_parts.parts(toc) == []
    toc.write_text("format: jb-book\nroot: intro\nparts:\n  - caption: Part II. More\n    chapters:\n      - file: b\n")
    assert latex_parts.parts(toc) == [("b", "More", True)]


def test_part_commands():
    assert latex_parts.part_command("The lab", True) == "\\part{The lab}\n"
    assert latex_parts.part_command("Appendix", False) == "\\part*{Appendix}\n"
