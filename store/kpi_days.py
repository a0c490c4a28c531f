"""The raw material of the leadership KPIs, read from Redis, and the figures of closed days that
Redis does not keep raw for long (unit status changes and sensor readings live HISTORY_HOURS):
when a local day closes the worker stores its units on duty per hour and its water-quality day
rows (`kpi:day:{day}`), recomputable from the raw records while those are still kept.
Incident records are kept whole, so incident figures are always computed from them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

import orjson
import pandas as pd
import redis

from store import incidents, keys, reader
from store.codec import text as as_text
from store.snapshots import read_hashes

SOURCES = ("live", "simulated")


class IncidentCache:
    """Every incident record, re-reading only the ones that changed. Every change of an
    incident's record is a transition, which moves `state_ms` on (notes live apart), so a
    process keeps the records it has read and, per request, reads only each incident's
    (state, state_ms, created_ms) stamp, then the whole record of the few whose stamp moved:
    a 30-day page over 20,000 incidents reads 60,000 short values, not 500,000."""

    STAMP = ("state", "state_ms", "created_ms")

    def __init__(self) -> None:
        self._known: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._last: tuple[str, ...] = ()
        self.version = 0  # moves whenever the records returned differ from the last ones

    def records(self, r: redis.Redis) -> tuple[list[dict[str, Any]], int]:
        """The records, and a version that differs whenever they differ from last time."""
        ids = [as_text(x) for x in r.zrange(keys.INCIDENTS, 0, -1)]
        if not ids:
            return [], self._moved(())
        out, kept, reread = self._read(r, ids)
        return out, self._moved(tuple(kept), reread)

    def of(self, r: redis.Redis, ids: list[str]) -> list[dict[str, Any]]:
        """The records of these incidents (those that exist), in their order."""
        return self._read(r, ids)[0] if ids else []

    def _read(self, r: redis.Redis, ids: list[str]) -> tuple[list[dict[str, Any]], list[str], bool]:
        stamps = [tuple(row) for row in read_hashes(r, [keys.incident(i) for i in ids], self.STAMP)]
        with self._lock:
            known = dict(self._known)
        stale = [
            i
            for i, st in zip(ids, stamps, strict=True)
            if st[0] is not None and (i not in known or known[i][0] != st)
        ]
        fresh: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        if stale:
            rows = read_hashes(r, [keys.incident(i) for i in stale])
            for i, row in zip(stale, rows, strict=True):
                if row:
                    raw = dict(zip(row[::2], row[1::2], strict=True))
                    fresh[i] = (
                        tuple(raw.get(f.encode()) for f in self.STAMP),
                        incidents._typed(raw),
                    )
        with self._lock:
            self._known.update(fresh)
        out, kept = [], []
        for i in ids:
            hit = fresh.get(i) or known.get(i)
            if hit is not None:
                out.append(hit[1])
                kept.append(i)
        return out, kept, bool(fresh)

    def _moved(self, ids: tuple[str, ...], reread: bool = False) -> int:
        with self._lock:
            if reread or ids != self._last:
                self._last = ids
                self.version += 1
            return self.version

    def forget(self) -> None:
        with self._lock:
            self._known.clear()
            self._last = ()
            self.version += 1


_CACHE = IncidentCache()


def forget_cached_incidents() -> None:
    """Drop this process's cached incidents (a benchmark's cold start)."""
    _CACHE.forget()


def incident_records(r: redis.Redis) -> list[dict[str, Any]]:
    """Every incident record (unchanged ones from this process's cache)."""
    return _CACHE.records(r)[0]


def read_incident_records(r: redis.Redis, ids: list[str]) -> list[dict[str, Any]]:
    """The records of these incidents read now, in one round trip, not kept (a day's build)."""
    rows = read_hashes(r, [keys.incident(i) for i in ids])
    return [incidents._typed(dict(zip(row[::2], row[1::2], strict=True))) for row in rows if row]


def incident_records_of(r: redis.Redis, ids: list[str]) -> list[dict[str, Any]]:
    """The records of these incidents (unchanged ones from this process's cache)."""
    return _CACHE.of(r, ids)


def versioned_incident_records(r: redis.Redis) -> tuple[list[dict[str, Any]], int]:
    """`incident_records` and a version that moves whenever they differ from the last call's
    (in this process), for callers that keep something built from them."""
    return _CACHE.records(r)


def status_events(r: redis.Redis, from_ms: int, to_ms: int) -> list[tuple[str, int, str]]:
    """Unit status changes (unit, ts, status) in the events stream up to to_ms: what it still
    holds (HISTORY_HOURS), including the last change of each unit before from_ms."""
    out = []
    for _id, f in reader.events(r):
        if f.get(b"type") != b"unit_status":
            continue
        try:
            ts = int(f[b"ts"])
        except (KeyError, ValueError):
            continue
        if ts < to_ms:
            out.append((as_text(f.get(b"id")), ts, as_text(f.get(b"status"))))
    return out


def sensor_readings(
    r: redis.Redis, since_ms: int = 0
) -> tuple[dict[str, list[dict[str, str]]], dict[str, dict[str, str]]]:
    """Each sensor's kept readings (ts, v.<parameter>) that arrived from since_ms on (entry
    ids are arrival times; an hour earlier to catch readings that came late), and profile."""
    ids = sorted(as_text(x) for x in r.smembers(keys.index("sensor")))
    first = f"{max(0, since_ms - 3_600_000)}-0"
    pipe = r.pipeline(transaction=False)
    for sid in ids:
        pipe.xrange(keys.track("sensor", sid), min=first)
        pipe.hgetall(keys.state("sensor", sid))
    raw = pipe.execute()
    readings = {
        sid: [{as_text(k): as_text(v) for k, v in f.items()} for _i, f in track]
        for sid, track in zip(ids, raw[::2], strict=True)
    }
    profiles = {
        sid: {as_text(k): as_text(v) for k, v in p.items()}
        for sid, p in zip(ids, raw[1::2], strict=True)
    }
    return readings, profiles


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-ready rows (NaN -> null, numpy numbers -> plain)."""
    return json.loads(frame.to_json(orient="records")) if len(frame) else []


def store_day(
    r: redis.Redis,
    day: str,
    on_duty: list[dict[str, Any]],
    water: list[dict[str, Any]],
    closed_ms: int,
    source: str = "live",
) -> None:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    r.hset(
        keys.kpi_day(day),
        mapping={
            "on_duty": orjson.dumps(on_duty),
            "water": orjson.dumps(water),
            "closed_ms": closed_ms,
            "source": source,
        },
    )


def stored_days(r: redis.Redis, days: Iterable[str]) -> dict[str, dict[str, Any]]:
    """day -> {on_duty, water, closed_ms, source} for the days that were closed."""
    days = list(days)
    pipe = r.pipeline(transaction=False)
    for day in days:
        pipe.hgetall(keys.kpi_day(day))
    out = {}
    for day, raw in zip(days, pipe.execute(), strict=True):
        if raw:
            out[day] = {
                "on_duty": orjson.loads(raw.get(b"on_duty", b"[]")),
                "water": orjson.loads(raw.get(b"water", b"[]")),
                "closed_ms": int(raw.get(b"closed_ms", b"0")),
                "source": as_text(raw.get(b"source")),
            }
    return out


def is_closed(r: redis.Redis, day: str) -> bool:
    return bool(r.hexists(keys.kpi_day(day), "closed_ms"))


CLOSING_S = 600  # a worker that died while closing a day leaves it to another after this


def claim_close(r: redis.Redis, day: str, worker: str) -> bool:
    """True for the one worker that may close `day` now (the others see it claimed)."""
    return bool(r.set(keys.kpi_day_closing(day), worker, nx=True, ex=CLOSING_S))


def unit_names(r: redis.Redis, unit_ids: Iterable[str]) -> dict[str, str]:
    """The names of these units as their profiles say (units without one are left out)."""
    ids = list(unit_ids)
    rows = read_hashes(r, [keys.state("unit", u) for u in ids], ("name",))  # one round trip
    return {u: as_text(row[0]) for u, row in zip(ids, rows, strict=True) if row and row[0]}


def ran_days(r: redis.Redis, days: Iterable[str]) -> set[str]:
    """Of `days`, those the system ran on: a worker's heartbeat that day (keys.RAN_DAYS) or a
    closed-day row (simulated history, or closed before the heartbeat marked days)."""
    days = list(days)
    if not days:
        return set()
    pipe = r.pipeline(transaction=False)
    pipe.hmget(keys.RAN_DAYS, days)
    for day in days:
        pipe.exists(keys.kpi_day(day))
    marks, *rows = pipe.execute()
    return {d for d, m, row in zip(days, marks, rows, strict=True) if m is not None or row}
