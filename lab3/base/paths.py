"""Where data and artifacts live: the project folder by default, overridable by environment."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # lab3/base/paths.py -> the project


def data_dir() -> Path:
    """Folder holding MNIST (``LAB3_DATA``, default ``<project>/data``)."""
    return Path(os.environ.get("LAB3_DATA", PROJECT_ROOT / "data"))


def artifacts_dir() -> Path:
    """Folder holding models, results and caches (``LAB3_ARTIFACTS``, default ``<project>/artifacts``)."""
    return Path(os.environ.get("LAB3_ARTIFACTS", PROJECT_ROOT / "artifacts"))


def full_model_path() -> Path:
    """The full-size trained checkpoint."""
    return artifacts_dir() / "full_size_model.pt"


def model_path() -> Path:
    """The full-size model the chapters report on: ``LAB3_MODEL`` (e.g. the course's checkpoint) or the trained one."""
    given = os.environ.get("LAB3_MODEL", "").strip()
    return Path(given) if given else full_model_path()


def use_model(path: str | os.PathLike | None) -> None:
    """Make everything use the checkpoint ``path`` (through ``LAB3_MODEL``, which notebook kernels inherit)."""
    if path is None:
        return
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: MODEL must name a checkpoint file (a lab3 checkpoint or the course's "
                                f"torch.save(model) pickle)")
    os.environ["LAB3_MODEL"] = str(Path(path).resolve())
