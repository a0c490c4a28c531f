"""The incident figures' tables of past days, kept in Redis (`keys.kpi_incidents(day)`), so that
a KPI request frames only the incidents of the open day and those still open, not every record.

A day's hash holds the additive tables (domain/kpi_daily.py) of the incidents created that
local day that are settled (in a final state: their figures no longer change) and the ids of the
others (`live`: still open, or reported on another day than created), which a request reads raw.
It is valid while the day still has as many incidents as when it was built (`members`: an
import of past incidents adds some, `simulate --history` for one) and was built with the same
deadlines (`rules`) and table format; otherwise it is built again from the records. It is
written when the worker closes a day (ingest/day_close.py), by the first request that finds it
missing or invalid (a restore brings its own copy, consistent with the records it restores),
and again when incidents of its `live` list have settled. Every build has a new `stamp`, so a
process keeps the decoded tables while the stamp stays the same.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pandas as pd
import redis

from domain import kpi_daily
from domain.incidents import DispatchRules
from domain.kpi_frames import day_bounds_ms, incidents_frame
from store import keys, kpi_days
from store.codec import text as as_text

FORMAT = "1"  # the tables' layout: a change of domain/kpi_daily.TABLES moves it
_META = ("members", "rules", "format", "stamp", "live")


@dataclass(frozen=True, slots=True)
class DayTables:
    day: str
    stamp: str
    live: tuple[str, ...]  # ids read raw at every request
    doc: dict[str, Any]  # the tables as lists per column (kpi_daily.to_doc)


def rules_fingerprint(rules: DispatchRules) -> str:
    """The deadlines the settled statuses were judged by (another deadline: another figure)."""
    deadlines = {str(int(p)): d.model_dump() for p, d in sorted(rules.deadlines.items())}
    return hashlib.sha256(orjson.dumps(deadlines)).hexdigest()[:16]


def created_between(r: redis.Redis, from_ms: int, to_ms: int) -> list[str]:
    """Ids of the incidents created in [from_ms, to_ms)."""
    return [as_text(x) for x in r.zrangebyscore(keys.INCIDENTS, from_ms, f"({to_ms}")]


def framed(
    records: list[dict[str, Any]],
    now_ms: int,
    rules: DispatchRules,
    base: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`incidents_frame` (on `base`, the records' `record_frame`, if given) with a `simulated`
    column (the record says it is simulated history)."""
    df = incidents_frame(records, now_ms, rules, base=base)
    df["simulated"] = [rec.get("simulated") == "1" for rec in records]
    return df


def build_day(r: redis.Redis, day: str, now_ms: int, rules: DispatchRules) -> DayTables:
    """Frame the day's incidents, keep the settled ones' tables and the others' ids."""
    ids = created_between(r, *day_bounds_ms(day))
    df = framed(kpi_days.read_incident_records(r, ids), now_ms, rules)
    keep = kpi_daily.settled(df, day)
    doc = kpi_daily.to_doc(kpi_daily.incident_tables(df[keep]))
    out = DayTables(day, uuid.uuid4().hex, tuple(df.loc[~keep, "id"].tolist()), doc)
    r.hset(
        keys.kpi_incidents(day),
        mapping={
            "tables": orjson.dumps(doc),
            "live": orjson.dumps(list(out.live)),
            "members": len(ids),
            "rules": rules_fingerprint(rules),
            "format": FORMAT,
            "stamp": out.stamp,
            "built_ms": now_ms,
        },
    )
    return out


def rebuild_day(r: redis.Redis, day: str, now_ms: int, rules: DispatchRules) -> DayTables:
    """`build_day`, kept decoded in this process (a web process; the worker keeps nothing)."""
    out = build_day(r, day, now_ms, rules)
    _remember(out)
    return out


_DAYS: dict[str, DayTables] = {}
_COMBINED: dict[str, Any] = {"key": None, "tables": None}
_LOCK = threading.Lock()


def _remember(d: DayTables) -> None:
    with _LOCK:
        _DAYS[d.day] = d


def forget() -> None:
    """Drop this process's decoded days and cached incident records (a cold start)."""
    with _LOCK:
        _DAYS.clear()
        _COMBINED.update(key=None, tables=None)
    kpi_days.forget_cached_incidents()


def _valid(meta: Sequence[Any], members: int, fingerprint: str) -> bool:
    have, rules, fmt, stamp, _live = (as_text(x) if x is not None else None for x in meta)
    return stamp is not None and have == str(members) and rules == fingerprint and fmt == FORMAT


def day_tables(
    r: redis.Redis, days: Iterable[str], now_ms: int, rules: DispatchRules
) -> list[DayTables]:
    """The tables of these past days: this process's decoded copy while Redis holds the same
    stamp, else decoded from Redis, else built (and stored) when missing or no longer valid."""
    days = list(days)
    if not days:
        return []
    pipe = r.pipeline(transaction=False)
    for day in days:
        start, end = day_bounds_ms(day)
        pipe.zcount(keys.INCIDENTS, start, f"({end}")
        pipe.hmget(keys.kpi_incidents(day), _META)
    raw = pipe.execute()
    fingerprint = rules_fingerprint(rules)
    with _LOCK:
        known = dict(_DAYS)
    out: dict[str, DayTables] = {}
    to_decode: list[tuple[str, str, tuple[str, ...]]] = []
    to_build: list[str] = []
    for day, members, meta in zip(days, raw[::2], raw[1::2], strict=True):
        if not _valid(meta, members, fingerprint):
            to_build.append(day)
            continue
        stamp = as_text(meta[3])
        if day in known and known[day].stamp == stamp:
            out[day] = known[day]
        else:
            to_decode.append((day, stamp, tuple(orjson.loads(meta[4] or b"[]"))))
    if to_decode:
        pipe = r.pipeline(transaction=False)
        for day, _s, _l in to_decode:
            pipe.hget(keys.kpi_incidents(day), "tables")
        for (day, stamp, live), blob in zip(to_decode, pipe.execute(), strict=True):
            if blob is None:  # deleted since: build it
                to_build.append(day)
                continue
            out[day] = DayTables(day, stamp, live, orjson.loads(blob))
            _remember(out[day])
    for day in to_build:
        out[day] = rebuild_day(r, day, now_ms, rules)
    return [out[d] for d in days]


def combined(parts: Sequence[DayTables]) -> dict[str, pd.DataFrame]:
    """The days' tables as one set (kept while the same days and stamps are asked for)."""
    key = tuple((d.day, d.stamp) for d in parts)
    with _LOCK:
        if _COMBINED["key"] == key:
            return _COMBINED["tables"]
    tables = kpi_daily.from_docs(d.doc for d in parts)
    with _LOCK:
        _COMBINED.update(key=key, tables=tables)
    return tables
