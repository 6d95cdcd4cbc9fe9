"""Progress bars for long loops: shown on a terminal, quiet in logs unless asked for."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

__all__ = ["progress"]


def progress(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Wrap ``items`` in a tqdm bar on stderr.

    Shown when stderr is a terminal; ``SOUNDSAFE_PROGRESS=1`` forces it on (e.g. in CI logs), ``=0`` off.
    """
    forced = os.environ.get("SOUNDSAFE_PROGRESS")
    disable = (forced == "0") if forced is not None else not sys.stderr.isatty()
    yield from tqdm(items, desc=desc, total=total, unit=unit, disable=disable, dynamic_ncols=True, file=sys.stderr)
