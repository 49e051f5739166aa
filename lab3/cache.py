"""A disk cache of finished sweep points, keyed by everything that determines them.

A key is the sha256 of the point's parameters, the model's weight hash and the hash of lab3's own source
code, so a changed quantizer or model never reuses a stale number, an unchanged rebuild recomputes
nothing, and an interrupted sweep resumes where it stopped. ``LAB3_CACHE=0`` turns it off (the
regression checks do that, so nbval always recomputes).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

from lab3 import fileio, paths

PACKAGE_DIR = Path(__file__).resolve().parent


def code_version() -> str:
    """sha256 over lab3's Python sources (names and bytes), in sorted order."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def enabled() -> bool:
    """False when ``LAB3_CACHE`` is 0/false/no/off."""
    return os.environ.get("LAB3_CACHE", "1").strip().lower() not in {"0", "false", "no", "off"}


class ResultCache:
    """JSON results stored one file per key under ``folder`` (default ``artifacts/cache``)."""

    def __init__(self, folder: str | os.PathLike | None = None, active: bool | None = None) -> None:
        self.folder = Path(folder) if folder is not None else paths.artifacts_dir() / "cache"
        self.active = enabled() if active is None else active
        self._code = code_version()
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
