"""Where data and artifacts live: the project folder by default, overridable by environment."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Folder holding MNIST (``LAB3_DATA``, default ``<project>/data``)."""
    return Path(os.environ.get("LAB3_DATA", PROJECT_ROOT / "data"))


def artifacts_dir() -> Path:
    """Folder holding models, results and caches (``LAB3_ARTIFACTS``, default ``<project>/artifacts``)."""
    return Path(os.environ.get("LAB3_ARTIFACTS", PROJECT_ROOT / "artifacts"))


def full_model_path() -> Path:
    """The full-size trained checkpoint."""
    return artifacts_dir() / "full_size_model.pt"
