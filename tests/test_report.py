"""The notebooks' shared helpers: which checkpoint a chapter reports on, and the number formats."""
from pathlib import Path

from lab3 import report, train


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
