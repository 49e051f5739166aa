"""The notebooks' shared helpers: which checkpoint a chapter reports on, and the number formats."""
from pathlib import Path

from lab3.book import report
from lab3.experiments import train


def test_checkpoint_prefers_the_parameter_then_lab3_model_then_trains_the_default(tmp_path, monkeypatch):
    calls, present = [], set()
    monkeypatch.setattr(train, "train_full", lambda path: (calls.append(path), present.add(path)))
    monkeypatch.setattr(train, "matching_checkpoint", lambda path, recipe: {"sha256": "x"} if path in present else None)
    monkeypatch.setenv("LAB3_ARTIFACTS", str(tmp_path))
    monkeypatch.delenv("LAB3_MODEL", raising=False)
    assert report.checkpoint("given.pt") == Path("given.pt") and calls == []
    default = report.checkpoint(None)
    assert default == tmp_path / "full_size_model.pt" and calls == [default]  # trained on first use
    assert report.checkpoint(None) == default and calls == [default]  # then reused, silently
    monkeypatch.setenv("LAB3_MODEL", str(tmp_path / "course.pt"))
    assert report.checkpoint(None) == tmp_path / "course.pt" and len(calls) == 1  # a given model is never trained


def test_number_formats():
    assert report.pct(0.98586) == "98.59%"
    assert report.pp(-0.0041) == "−0.41\u00a0pp" and report.pp(0.012) == "+1.20\u00a0pp"


def test_mcnemar_verdict_is_one_rule():
    assert report.mcnemar_verdict(0.01, 30, 10) == "a real loss"
    assert report.mcnemar_verdict(0.01, 10, 30) == "a real gain"
    assert report.mcnemar_verdict(0.05, 30, 10) == "no difference detectable on 5,000 images"
    assert report.mcnemar_verdict(0.5, 1, 2, images=10_000).endswith("10,000 images")


def test_source_is_the_code_that_runs_as_a_python_block():
    from lab3.compress import quantize

    text = report.source(quantize.quantize_tensor)
    assert text.startswith("```python\ndef quantize_tensor(") and text.endswith("\n```")
    assert "clamp_(-q, q - delta)" in text


def test_glue_stores_text_as_markdown_and_numbers_as_they_are(monkeypatch):
    import myst_nb

    stored = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: stored.append((name, value, display)))
    report.glue("t", "**97.45%**")
    report.glue("n", 0.5)
    (n1, v1, d1), (n2, v2, d2) = stored
    assert (n1, v1.data, d1) == ("t", "**97.45%**", False) and (n2, v2, d2) == ("n", 0.5, False)


class _Events:
    def __init__(self) -> None:
        self.callbacks: dict[str, list] = {}

    def register(self, event: str, fn) -> None:
        self.callbacks.setdefault(event, []).append(fn)


class _Shell:
    def __init__(self) -> None:
        self.events = _Events()


def test_a_slow_cell_prints_the_stacks_and_a_finished_one_does_not(tmp_path):
    import time

    shell = _Shell()
    with open(tmp_path / "log.txt", "w") as log:
        report.dump_stacks_of_slow_cells(shell, seconds=0.3, log=log)
        (pre,), (post,) = shell.events.callbacks["pre_run_cell"], shell.events.callbacks["post_run_cell"]
        pre(None)
        post(None)  # a cell that finished in time: nothing is printed
        time.sleep(0.5)
        assert (tmp_path / "log.txt").read_text() == ""
        pre(None)
        time.sleep(0.6)  # a cell still running after 0.3 s
        post(None)
    text = (tmp_path / "log.txt").read_text()
    assert "Timeout" in text and "test_a_slow_cell_prints_the_stacks" in text


def test_the_stacks_go_to_the_end_of_the_parents_log_and_keep_what_it_holds(tmp_path):
    """The default log is the parent's stderr; a build that redirects it to a file keeps its earlier lines."""
    import subprocess
    import sys

    child = ("import time\n"
             "from lab3.book import report\n"
             "class E:\n"
             "    def __init__(self): self.c = {}\n"
             "    def register(self, event, fn): self.c[event] = fn\n"
             "class S:\n"
             "    events = E()\n"
             "s = S()\n"
             "report.dump_stacks_of_slow_cells(s, seconds=0.2)\n"
             "s.events.c['pre_run_cell'](None); time.sleep(0.5); s.events.c['post_run_cell'](None)\n")
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    log = tmp_path / "build.log"
    log.write_text("earlier lines of the build\n")
    with open(log, "a") as err:
        subprocess.run([sys.executable, "-c", parent], stderr=err, check=True, timeout=60)
    text = log.read_text()
    assert text.startswith("earlier lines of the build\n") and "Timeout" in text
