"""Redis replies as text: bytes decoded (a damaged byte shows as U+FFFD rather than failing
the whole reply), None as the empty string."""

from __future__ import annotations

from typing import Any


def text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return "" if v is None else str(v)
