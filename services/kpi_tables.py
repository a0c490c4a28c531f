"""The incident figures' tables for a period (domain/kpi_daily.py): the stored tables of the
whole past days in it (store/kpi_incident_days.py) plus the tables of the records framed now
(the incidents created in the parts of the period that are not whole past days, and the stored
days' `live` ones: still open when their day was built). Figures from these tables equal the
figures from framing every record of the period (tests/test_kpi_tables.py checks it).
"""

from __future__ import annotations

import threading
from typing import Any

import pandas as pd
import redis

from domain import kpi_daily
from domain.incidents import DispatchRules
from domain.kpi_frames import day_bounds_ms, record_frame, select
from store import kpi_days
from store.kpi_incident_days import DayTables, combined, created_between, framed, rebuild_day
from store.kpi_incident_days import day_tables as stored_day_tables


def _whole_past_days(days: list[str], from_ms: int, to_ms: int, now_ms: int) -> list[str]:
    """The days lying wholly in [from_ms, to_ms) and over by now_ms (one run of days)."""
    return [
        d
        for d in days
        if day_bounds_ms(d)[0] >= from_ms and day_bounds_ms(d)[1] <= min(to_ms, now_ms)
    ]


def _settled_since(frame: pd.DataFrame, stored: list[DayTables]) -> set[str]:
    """Stored days some of whose live incidents are settled now: built again, they keep them."""
    final = frame[frame["final_ms"].notna()]
    settled = set(zip(final["id"], final["day"], strict=True))
    return {d.day for d in stored if any((i, d.day) in settled for i in d.live)}


_BASE: dict[str, Any] = {"records": [], "base": None}
_BASE_LOCK = threading.Lock()


def _record_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The records' `record_frame`, kept while the records are the very same objects (the
    incident cache hands out a new object for a record it read again)."""
    with _BASE_LOCK:
        kept, base = _BASE["records"], _BASE["base"]
    if len(kept) == len(records) and all(a is b for a, b in zip(kept, records, strict=True)):
        return base
    base = record_frame(records)
    with _BASE_LOCK:
        _BASE.update(records=records, base=base)
    return base


def incident_tables(
    r: redis.Redis,
    days: list[str],
    from_ms: int,
    to_ms: int,
    now_ms: int,
    rules: DispatchRules,
) -> dict[str, pd.DataFrame]:
    """Every table of the incidents reported in [from_ms, to_ms), as at now_ms (unfiltered:
    `kpi_daily.pick` filters them)."""
    whole = _whole_past_days(days, from_ms, to_ms, now_ms)
    stored = stored_day_tables(r, whole, now_ms, rules)
    if whole:
        first, last = day_bounds_ms(whole[0])[0], day_bounds_ms(whole[-1])[1]
        window = created_between(r, from_ms, first) + created_between(r, last, to_ms)
    else:
        window = created_between(r, from_ms, to_ms)
    live = [i for d in stored for i in d.live]
    ids = list(dict.fromkeys(window + live))
    records = kpi_days.incident_records_of(r, ids)
    frame = framed(records, now_ms, rules, base=_record_frame(records))
    if again := _settled_since(frame, stored):
        stored = [rebuild_day(r, d.day, now_ms, rules) if d.day in again else d for d in stored]
        still = set(window).union(*(d.live for d in stored))
        frame = frame[frame["id"].isin(still)]
    recent = kpi_daily.incident_tables(select(frame, from_ms, to_ms))
    return kpi_daily.concat([combined(stored), recent])
