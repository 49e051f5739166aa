"""The code's own checks, in `make check` and `make test` alike: ruff (lint) and mypy (types) are clean.

Both are pinned in requirements.lock; where they are not installed (a student's own environment) the tests
are skipped and say how to install them."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOW = "not installed: pip install -r requirements.lock (or ruff and mypy)"


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason=f"ruff {HOW}")
def test_ruff_is_clean():
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "lab3", "tests", "benchmarks", "conftest.py"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-1000:]


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason=f"mypy {HOW}")
def test_mypy_is_clean():
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-1000:]
