"""Progress bars: one switch for every long loop of the package."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def bar(items: Iterable[Any] | None = None, *, desc: str, progress: bool | None = None, **kwargs: Any) -> tqdm:
    """A tqdm bar over ``items``; ``progress`` None shows it on a terminal only, True always, False never."""
    return tqdm(items, desc=desc, disable=None if progress is None else not progress, leave=False, **kwargs)
