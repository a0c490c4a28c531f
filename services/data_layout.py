"""For the console's commands, which reach the store through services only: the data of an
older version is renamed into the current key layout before a command writes (store/layout.py)."""

from __future__ import annotations

from typing import Any

from store import layout


def ensure(r: Any) -> int:
    return layout.ensure(r)
