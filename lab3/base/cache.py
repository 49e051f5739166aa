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

from lab3.base import fileio, paths
from lab3.base.model import state_sha256

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # lab3/


def all_modules() -> list[str]:
    """Every lab3 module by its dotted name under lab3: ``"__init__"``, ``"build"``, ``"compress.__init__"``, ..."""
    return sorted(".".join(p.relative_to(PACKAGE_DIR).with_suffix("").parts) for p in PACKAGE_DIR.rglob("*.py")
                  if "__pycache__" not in p.parts)


def module_path(name: str) -> Path:
    """The file of a lab3 module, named by its dotted name under lab3 (``"experiments.sweep"``) or, where one
    module alone has that file name, by the file name (``"sweep"``)."""
    exact = PACKAGE_DIR.joinpath(*name.split(".")).with_suffix(".py")
    if exact.is_file():
        return exact
    matches = [m for m in all_modules() if m.rsplit(".", 1)[-1] == name]
    if len(matches) != 1:
        raise ValueError(f"lab3 module {name!r}: {'found ' + ', '.join(matches) if matches else 'no such module'}; "
                         "name it by its dotted path under lab3, e.g. 'experiments.sweep'")
    return module_path(matches[0])


def module_name(path: Path) -> str:
    """The dotted name under lab3 of a module file."""
    return ".".join(Path(path).resolve().relative_to(PACKAGE_DIR).with_suffix("").parts)


def _existing(dotted: str) -> str | None:
    """``dotted`` (a name under lab3, e.g. ``compress.quantize``) as a module, a package's ``__init__``, or None."""
    base = PACKAGE_DIR.joinpath(*dotted.split(".")) if dotted else PACKAGE_DIR
    if base.with_suffix(".py").is_file() and dotted:
        return dotted
    if (base / "__init__.py").is_file():
        return f"{dotted}.__init__" if dotted else "__init__"
    return None


def lab3_imports(source: str) -> set[str]:
    """The lab3 modules a piece of Python source imports, by dotted name under lab3 (``from lab3.compress import
    quantize`` gives ``compress.quantize``; ``import lab3.base.data``, ``from lab3.book.plots import x`` alike)."""
    found: set[str | None] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lab3" or node.module.startswith("lab3."):
                package = node.module[len("lab3."):] if node.module != "lab3" else ""
                for alias in node.names:
                    sub = _existing(f"{package}.{alias.name}" if package else alias.name)
                    found.add(sub if sub is not None else _existing(package))
        elif isinstance(node, ast.Import):
            found.update(_existing(a.name[len("lab3."):]) for a in node.names if a.name.startswith("lab3."))
    return {m for m in found if m is not None}


def module_closure(modules: Iterable[str]) -> set[str]:
    """``modules`` and every lab3 module they import, transitively, with the packages' ``__init__`` files."""
    todo, seen = [module_name(module_path(m)) for m in modules] + ["__init__"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(f"{'.'.join(parts[:i])}.__init__" for i in range(1, len(parts)) if parts[i] != "__init__")
        todo.extend(lab3_imports(module_path(name).read_text()) - seen)
    return seen


def code_version(modules: Iterable[str] | None = None) -> str:
    """sha256 over the sources (paths under lab3 and bytes) of ``modules`` and what they import; None: all of lab3."""
    names = all_modules() if modules is None else sorted(module_closure(modules))
    h = hashlib.sha256()
    for name in names:
        path = module_path(name)
        h.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
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


def cached(cache: ResultCache | None, parts: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``compute()`` through the ``cache`` its driver passes in, or computed directly when it passes none."""
    return compute() if cache is None else cache.get_or_compute(parts, compute)


def point_key(cache: ResultCache | None, parts: dict[str, Any]) -> str:
    """A point's key: the cache's (with its code version), or the hash of ``parts`` alone without a cache."""
    if cache is not None:
        return cache.key(parts)
    return hashlib.sha256(json.dumps({"parts": parts}, sort_keys=True, default=str).encode()).hexdigest()
