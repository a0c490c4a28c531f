"""The one CSV writer of the pages' downloads: UTF-8 with a byte order mark (so spreadsheets read
the Chinese), CRLF lines, and every cell guarded against formula injection (a field may hold a
formula: a unit name, an owner, an AIS call sign)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these


def cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def write(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """A header line and the rows, every cell guarded."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([cell(h) for h in header])
    for row in rows:
        w.writerow([cell(v) for v in row])
    return "\ufeff" + out.getvalue()
