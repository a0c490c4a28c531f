"""Reads of the audit log for the trail view (services/trail.py): each entry of one ref's trail
where it is stored (its day and index in that day's list), with the entries stored just before
and just after it in its chain, so that its own hash and both its links can be checked one by
one without reading the whole chain. Keys and layout: store/audit.py."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from store import keys
from store.codec import text


@dataclass(frozen=True, slots=True)
class Located:
    """A trail entry as stored: `entry` None when nothing is at that position any more;
    `before` the entry stored just before it in the chain (None: there is none kept, or
    nothing is there); `first_kept` when it opens the oldest kept day (the entry before it
    was pruned or it is the chain's first); `after` the entry stored just after it (None: it
    is the newest)."""

    day: str
    idx: int
    entry: dict[str, Any] | None
    before: dict[str, Any] | None
    first_kept: bool
    after: dict[str, Any] | None = None


def _parse(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"unreadable": text(raw)[:200]}
    return doc if isinstance(doc, dict) else {"unreadable": text(raw)[:200]}


def _pointers(raw: list[Any]) -> list[tuple[str, int]]:
    out = []
    for p in raw:
        day, _, idx = text(p).partition(":")
        if idx.isdigit():
            out.append((day, int(idx)))
    return out


def trail_located(
    r: redis.Redis, chain: str, ref: str, limit: int = 1000
) -> tuple[list[Located], int, list[str]]:
    """The newest `limit` entries whose actor or object is `ref`, oldest first, each with the
    entries before and after it; how many the ref's list holds in all; and the days before the
    first kept day it still points into."""
    ref_key = keys.audit_ref(chain, ref)
    pipe = r.pipeline(transaction=False)
    pipe.llen(ref_key)
    pipe.lrange(ref_key, -limit, -1)
    pipe.zrange(keys.audit_days(chain), 0, -1)
    total, raw, kept = pipe.execute()
    days = sorted(text(d) for d in kept)
    # a pointer into a day no longer kept (left from before pruning trimmed the lists) is not
    # read: the caller judges its day against the retention
    listed = _pointers(raw)
    pointers = [p for p in listed if days and p[0] >= days[0]]
    gone = sorted({p[0] for p in listed if not days or p[0] < days[0]})
    reads: list[tuple[str, int] | None] = []
    firsts: list[bool] = []
    for day, idx in pointers:
        reads.append((day, idx))
        if idx > 0:
            reads.append((day, idx - 1))
            firsts.append(False)
            continue
        i = bisect.bisect_left(days, day)
        reads.append((days[i - 1], -1) if i > 0 else None)
        firsts.append(i == 0)
    pipe = r.pipeline(transaction=False)
    for where in reads:
        if where is not None:
            pipe.lindex(keys.audit_day(chain, where[0]), where[1])
    answers = iter(pipe.execute())
    found = [_parse(next(answers)) if where is not None else None for where in reads]
    afters = _afters(r, chain, pointers, days)
    located = [
        Located(day, idx, found[2 * n], found[2 * n + 1], firsts[n], afters[n])
        for n, (day, idx) in enumerate(pointers)
    ]
    return located, int(total), gone


def _afters(
    r: redis.Redis, chain: str, pointers: list[tuple[str, int]], days: list[str]
) -> list[dict[str, Any] | None]:
    """The entry stored after each pointer's: the next in its day's list, or (at the end of
    that list) the first of the next kept day."""
    pipe = r.pipeline(transaction=False)
    for day, idx in pointers:
        pipe.lindex(keys.audit_day(chain, day), idx + 1)
    out = [_parse(raw) for raw in pipe.execute()]
    ends = [n for n, e in enumerate(out) if e is None]
    nexts = {
        n: days[i] for n in ends if (i := bisect.bisect_right(days, pointers[n][0])) < len(days)
    }
    pipe = r.pipeline(transaction=False)
    for n in nexts:
        pipe.lindex(keys.audit_day(chain, nexts[n]), 0)
    for n, raw in zip(nexts, pipe.execute(), strict=True):
        out[n] = _parse(raw)
    return out
