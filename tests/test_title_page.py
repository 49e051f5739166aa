"""The PDF's title page: author, student ID, course and date from the command line, safe in LaTeX."""
import pytest
import yaml

from lab3.book import build


def test_latex_escape_keeps_a_name_with_special_characters_printable():
    assert build.latex_escape("Ana & Bo_b 100% #1") == r"Ana \& Bo\_b 100\% \#1"


def test_title_page_defaults_and_checks():
    t = build.title_page("", "", build.COURSE, "")
    assert t["author"] == "lab3" and t["student_id"] == "" and t["date"]
    with pytest.raises(ValueError, match="AUTHOR"):
        build.title_page("a\nb", "", "", "")


def test_book_config_puts_the_title_page_in_the_latex_and_keeps_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(build.paths, "artifacts_dir", lambda: tmp_path)
    path = build.book_config(build.title_page("Ana Lima", "s123_4", "Course X", "1 December 2026"))
    config = yaml.safe_load(path.read_text())
    title = config["sphinx"]["config"]["latex_elements"]["maketitle"]
    for part in ("Ana Lima", r"Student ID: s123\_4", "Course X", "1 December 2026"):
        assert part in title
    assert config["author"] == "Ana Lima (student ID s123_4)"
    original = yaml.safe_load((build.ROOT / "_config.yml").read_text())
    assert config["bibtex_bibfiles"] == original["bibtex_bibfiles"] and config["title"] == original["title"]
