import json
import os
import subprocess
import sys

import nbformat
import pytest

from lab3.base.cache import ResultCache, code_version
from lab3.book import build


def test_cache_computes_once_and_keys_by_parts(tmp_path):
    cache = ResultCache(tmp_path, active=True)
    calls = []
    def compute():
        calls.append(1)
        return {"v": len(calls)}
    assert cache.get_or_compute({"a": 1}, compute) == {"v": 1}
    assert cache.get_or_compute({"a": 1}, compute) == {"v": 1} and len(calls) == 1
    assert cache.get_or_compute({"a": 2}, compute) == {"v": 2}
    assert cache.key({"a": 1}) != cache.key({"a": 2})
    path = tmp_path / f"{cache.key({'a': 1})}.json"
    path.write_text("{damaged")
    assert cache.get_or_compute({"a": 1}, compute) == {"v": 3}


def test_inactive_cache_always_computes(tmp_path):
    cache = ResultCache(tmp_path, active=False)
    calls = []
    for _ in range(2):
        cache.get_or_compute({"a": 1}, lambda: calls.append(1) or {})
    assert len(calls) == 2 and not list(tmp_path.iterdir())
    assert len(code_version()) == 64


def test_chapter_parameters_override(tmp_path):
    params = build.chapter_parameters("quantization", None)
    assert params["bits_values"]
    mine = tmp_path / "my.yaml"
    mine.write_text("bits_values: [4]\n")
    assert build.chapter_parameters("quantization", mine)["bits_values"] == [4]
    mine.write_text("no_such_parameter: 1\n")
    with pytest.raises(ValueError, match="unknown parameters.*no_such_parameter"):
        build.chapter_parameters("quantization", mine)
    with pytest.raises(FileNotFoundError):
        build.chapter_parameters("quantization", tmp_path / "missing.yaml")


def test_a_malformed_parameter_file_is_one_line_naming_file_and_line(tmp_path):
    mine = tmp_path / "my.yaml"
    mine.write_text("q_unit: absolute\nbits_values: [2, 4\n")
    with pytest.raises(ValueError) as info:
        build.chapter_parameters("quantization", mine)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{mine}, line 3, column 1: not valid YAML")
    mine.write_bytes(b"bits_values: [\xff]\n")
    with pytest.raises(ValueError, match="not UTF-8"):
        build.chapter_parameters("quantization", mine)


def test_a_malformed_parameter_file_stops_the_build_with_one_line(tmp_path):
    mine = tmp_path / "bad.yaml"
    mine.write_text("bits_values: [2, 4\n")
    run = subprocess.run([sys.executable, "-m", "lab3.build", "--params", f"quantization={mine}", "--no-pdf"],
                         cwd=build.ROOT, capture_output=True, text=True,
                         env={**os.environ, "LAB3_ARTIFACTS": str(tmp_path)})
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and str(mine) in run.stderr, run.stderr


def test_parse_params():
    assert build.parse_params(["pruning=x.yaml"]) == {"pruning": build.Path("x.yaml")}
    with pytest.raises(ValueError, match="CHAPTER=FILE"):
        build.parse_params(["nochapter.yaml"])
    with pytest.raises(ValueError):
        build.parse_params(["other=x.yaml"])


def test_finish_notebook_hides_parameters_and_strips_ansi(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["injected-parameters"]})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="\x1b[31mred\x1b[0m")]
    nb.cells = [cell]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    build.finish_notebook(path, "abc", {"x": 1})
    out = json.loads(path.read_text())
    assert "remove-cell" in out["cells"][0]["metadata"]["tags"]
    assert "".join(out["cells"][0]["outputs"][0]["text"]) == "red"
    assert build.executed_inputs(path) == "abc"


def test_code_version_follows_the_import_graph(tmp_path, monkeypatch):
    """A plotting edit leaves the quantization sweep's key alone; a quantizer edit changes it (in a temporary copy)."""
    import shutil

    from lab3.base import cache

    copy = tmp_path / "lab3"
    shutil.copytree(cache.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "PACKAGE_DIR", copy)
    closure = cache.module_closure(["sweep"])
    assert "compress.quantize" in closure and "book.plots" not in closure
    assert {"__init__", "experiments.__init__", "compress.__init__"} <= cache.module_closure(["sweep"])
    assert "compress.quantize" not in cache.module_closure(["prune_sweep"])
    before = {m: cache.code_version([m]) for m in ("sweep", "experiments.deploy", "prune_sweep", "plots")}
    plots, quantize = copy / "book" / "plots.py", copy / "compress" / "quantize.py"
    plots.write_text(plots.read_text() + "\n# a colour changed\n")
    after_plot = {m: cache.code_version([m]) for m in before}
    assert after_plot["plots"] != before["plots"]
    assert all(after_plot[m] == before[m] for m in ("sweep", "experiments.deploy", "prune_sweep"))
    quantize.write_text(quantize.read_text() + "\n# the quantizer changed\n")
    after_q = {m: cache.code_version([m]) for m in before}
    assert after_q["sweep"] != before["sweep"] and after_q["experiments.deploy"] != before["experiments.deploy"]
    assert after_q["plots"] == after_plot["plots"]
    assert after_q["prune_sweep"] == before["prune_sweep"]  # pruning results do not depend on the quantizer


def test_a_module_is_named_by_its_path_or_its_unique_file_name():
    from lab3.base import cache

    sweep = cache.PACKAGE_DIR / "experiments" / "sweep.py"
    assert cache.module_path("sweep") == cache.module_path("experiments.sweep") == sweep
    assert cache.module_path("deploy") == cache.PACKAGE_DIR / "deploy.py"  # the command; the code is experiments.deploy
    with pytest.raises(ValueError, match="lab3 module 'nosuch': no such module"):
        cache.module_path("nosuch")


def test_lab3_imports_reads_every_import_form():
    from lab3.base import cache

    src = ("from lab3.base import data\nfrom lab3.book import plots\nimport lab3.experiments.sweep\n"
           "from lab3.base.model import SimpleDNN\nfrom lab3 import build\nimport os\n")
    assert cache.lab3_imports(src) == {"base.data", "book.plots", "experiments.sweep", "base.model", "build"}


def _notebook(markdown: str, code: str, outputs: bool = False, injected: bool = False):
    import nbformat

    params = nbformat.v4.new_code_cell("x = 1", id="p0", metadata={"tags": ["parameters"]})
    cells = [nbformat.v4.new_markdown_cell(markdown, id="m0"), params]
    if injected:
        cells.append(nbformat.v4.new_code_cell("x = 2", id="inj", metadata={"tags": ["injected-parameters"]}))
    body = nbformat.v4.new_code_cell(code, id="c0")
    if outputs:
        body.outputs = [nbformat.v4.new_output("stream", text="computed")]
    cells += [body, nbformat.v4.new_markdown_cell("The end.", id="m1")]
    return nbformat.v4.new_notebook(cells=cells)


def test_a_prose_edit_updates_the_executed_chapter_without_running_it(tmp_path, monkeypatch):
    """Only Markdown changed: the executed copy gets the new prose and keeps its outputs; nothing executes."""
    import nbformat

    monkeypatch.setattr(build, "NOTEBOOKS", tmp_path / "notebooks")
    monkeypatch.setattr(build, "BOOK", tmp_path / "book")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "book").mkdir()
    executed = _notebook("Old wording.", "print('computed')", outputs=True, injected=True)
    executed.metadata["lab3"] = {"inputs": "same"}
    nbformat.write(executed, tmp_path / "book" / "ch.ipynb")
    nbformat.write(_notebook("New wording.", "print('computed')"), tmp_path / "notebooks" / "ch.ipynb")
    monkeypatch.setattr(build, "chapter_inputs", lambda *a: "same")
    assert build.run_chapter("ch", {}, "sha", force=False) == "prose updated"
    out = nbformat.read(tmp_path / "book" / "ch.ipynb", as_version=4)
    assert [c.get("id") for c in out.cells] == ["m0", "p0", "inj", "c0", "m1"]
    assert out.cells[0].source == "New wording." and out.cells[3].outputs[0]["text"] == "computed"
    assert out.metadata["lab3"]["inputs"] == "same"
    assert build.run_chapter("ch", {}, "sha", force=False) == "up to date"


def test_the_code_hash_ignores_prose_and_follows_code():
    a = _notebook("Some prose.", "y = x + 1").cells
    assert build.code_cells_hash(a) == build.code_cells_hash(_notebook("Other prose.", "y = x + 1").cells)
    assert build.code_cells_hash(a) != build.code_cells_hash(_notebook("Some prose.", "y = x + 2").cells)


def test_prose_is_not_copied_when_a_code_cell_is_new(tmp_path):
    import nbformat

    executed, source = tmp_path / "e.ipynb", tmp_path / "s.ipynb"
    nbformat.write(_notebook("a", "y = 1", outputs=True), executed)
    nb = _notebook("b", "y = 1")
    nb.cells.append(nbformat.v4.new_code_cell("z = 3", id="new"))
    nbformat.write(nb, source)
    before = executed.read_bytes()
    assert build.update_prose(source, executed) is False and executed.read_bytes() == before


def test_a_chapter_re_runs_when_the_spread_its_choices_use_changes_and_not_for_other_rules(monkeypatch):
    from lab3.book import results

    doc = results.load_tolerances()

    def with_rule(**accuracy):
        changed = json.loads(json.dumps(doc))
        changed["kinds"]["accuracy"].update(accuracy)
        return changed

    def key(tolerances):
        monkeypatch.setattr(results, "load_tolerances", lambda *a, **k: tolerances)
        return build.chapter_inputs("pruning", {}, "model")

    base = key(doc)
    assert key(with_rule(spread_pp=doc["kinds"]["accuracy"]["spread_pp"] + 0.1)) != base
    assert key(with_rule(tiers=[{"from": 0.97, "abs_pp": 9.0}, {"from": 0.0, "below": 0.97, "margin_pp": 0.7}])) == base
    assert key(with_rule(choice_cliff=doc["kinds"]["accuracy"]["choice_cliff"] - 0.01)) != base
