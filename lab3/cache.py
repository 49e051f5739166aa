"""A disk cache of finished sweep points, keyed by everything that determines them.

A key is the sha256 of the point's parameters, the model's weight hash and the hash of the lab3 code that
computes it (the module named by the caller and everything it imports, found from the import graph), so a
changed quantizer or model never reuses a stale number, a changed plot or sentence reuses every one, an
unchanged rebuild recomputes nothing, and an interrupted sweep resumes where it stopped. ``LAB3_CACHE=0`` turns it
off (the regression checks do that, so nbval always recomputes).
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from lab3 import fileio, paths
from lab3.model import state_sha256

PACKAGE_DIR = Path(__file__).resolve().parent


def lab3_imports(source: str) -> set[str]:
    """The lab3 modules a piece of Python source imports (``from lab3 import x``, ``import lab3.x``, ...)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lab3":
                found.update(a.name for a in node.names)
            elif node.module.startswith("lab3."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("lab3."))
    return {m for m in found if (PACKAGE_DIR / f"{m}.py").is_file()}


def module_closure(modules: Iterable[str]) -> set[str]:
    """``modules`` and every lab3 module they import, transitively (the package's __init__ included)."""
    todo, seen = list(modules) + ["__init__"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(lab3_imports((PACKAGE_DIR / f"{name}.py").read_text()) - seen)
    return seen


def code_version(modules: Iterable[str] | None = None) -> str:
    """sha256 over the sources (names and bytes) of ``modules`` and what they import; None: all of lab3."""
    names = sorted(p.stem for p in PACKAGE_DIR.glob("*.py")) if modules is None else sorted(module_closure(modules))
    h = hashlib.sha256()
    for name in names:
        path = PACKAGE_DIR / f"{name}.py"
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def tensor_key(*tensors: torch.Tensor) -> str:
    """Content hash of some tensors, for cache keys (which data a point was computed on)."""
    return state_sha256({str(i): t for i, t in enumerate(tensors)})


def enabled() -> bool:
    """False when ``LAB3_CACHE`` is 0/false/no/off."""
    return os.environ.get("LAB3_CACHE", "1").strip().lower() not in {"0", "false", "no", "off"}


class ResultCache:
    """JSON results stored one file per key under ``folder`` (default ``artifacts/cache``)."""

    def __init__(self, folder: str | os.PathLike | None = None, active: bool | None = None,
                 modules: Iterable[str] | None = None) -> None:
        """``modules``: the lab3 modules whose code computes the points (with their imports); None: all of lab3."""
        self.folder = Path(folder) if folder is not None else paths.artifacts_dir() / "cache"
        self.active = enabled() if active is None else active
        self._code = code_version(modules)
        self.hits = 0
        self.misses = 0

    def key(self, parts: dict[str, Any]) -> str:
        """The cache key of a point described by ``parts`` (JSON-serializable)."""
        blob = json.dumps({"parts": parts, "code": self._code}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def get_or_compute(self, parts: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Return the stored result for ``parts``, or compute, store (atomically) and return it."""
        path = self.folder / f"{self.key(parts)}.json"
        if self.active and path.is_file():
            try:
                value = fileio.read_json(path)
                self.hits += 1
                return value
            except ValueError:
                pass  # a damaged entry is recomputed and overwritten
        self.misses += 1
        value = compute()
        if self.active:
            fileio.write_json(path, value)
        return value
