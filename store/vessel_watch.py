"""The vessel watch's Redis side: the zsets the ingest path marks and the worker scans
(keys.VESSELS_*), and the reads a scan needs. The rules are in domain/vessel_rules.py, the glue
in ingest/vessel_watch.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis

from store import keys
from store.codec import text

# Vessels silent since before ARGV[1] leave the watched set for the dark one, at most ARGV[2]
# of them, in one step: a report the ingest path adds meanwhile (ZADD GT) either comes before
# (the vessel is not silent) or after (it is back in the watched set, and the scan of the dark
# set sees it reappear).
# KEYS: watched, dark. Returns {mmsi, last heard, ...}.
GO_DARK = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0,
  ARGV[2])
for i = 1, #due, 2 do
  redis.call('ZREM', KEYS[1], due[i])
  redis.call('ZADD', KEYS[2], due[i + 1], due[i])
end
return due
"""


def mark(
    pipe: redis.client.Pipeline,
    heard: Mapping[str, int],
    unwatched: Sequence[str],
    loiter: Mapping[str, int],
    trawling: Mapping[str, int],
) -> None:
    """A batch's vessel reports, at most one command per set, queued on `pipe` (the worker's
    count of the batch, one round trip): those under way near the district heard now (GT: a
    slower worker never sets a time back), those heard elsewhere or at rest no longer watched,
    those slow in a zone and those at trawling speed in the moratorium kept as candidates since
    their first such report (NX)."""
    if heard:
        pipe.zadd(keys.VESSELS_WATCHED, dict(heard), gt=True)
    if unwatched:
        pipe.zrem(keys.VESSELS_WATCHED, *unwatched)
    if loiter:
        pipe.zadd(keys.VESSELS_LOITER, dict(loiter), nx=True)
    if trawling:
        pipe.zadd(keys.VESSELS_TRAWLING, dict(trawling), nx=True)


def go_dark(r: redis.Redis, silent_before_ms: int, limit: int = 500) -> list[tuple[str, int]]:
    """Move the vessels not heard since `silent_before_ms` to the dark set; returns them."""
    flat = r.register_script(GO_DARK)(
        keys=[keys.VESSELS_WATCHED, keys.VESSELS_DARK], args=[silent_before_ms, limit]
    )
    return [(text(flat[i]), int(float(flat[i + 1]))) for i in range(0, len(flat), 2)]


def dark(r: redis.Redis, limit: int = 5000) -> list[tuple[str, int]]:
    """The vessels that went dark, with the time each was last heard before."""
    return [
        (text(m), int(s)) for m, s in r.zrange(keys.VESSELS_DARK, 0, limit - 1, withscores=True)
    ]


def forget_dark(r: redis.Redis, mmsis: Sequence[str]) -> None:
    if mmsis:
        r.zrem(keys.VESSELS_DARK, *mmsis)


def vessel_fields(
    r: redis.Redis, mmsis: Sequence[str], fields: Sequence[str]
) -> list[dict[str, str]]:
    """The named fields of each vessel's live state (absent ones left out)."""
    pipe = r.pipeline(transaction=False)
    for m in mmsis:
        pipe.hmget(keys.state("vessel", m), list(fields))
    return [
        {f: text(v) for f, v in zip(fields, vals, strict=True) if v is not None}
        for vals in pipe.execute()
    ]


def alert_fields(
    r: redis.Redis, alert_ids: Sequence[str], fields: Sequence[str]
) -> list[dict[str, str] | None]:
    """The named fields of each alert; None for an alert never raised."""
    pipe = r.pipeline(transaction=False)
    for a in alert_ids:
        pipe.hmget(keys.alert(a), ["id", *fields])
    out: list[dict[str, str] | None] = []
    for vals in pipe.execute():
        if vals[0] is None:
            out.append(None)
            continue
        out.append({f: text(v) for f, v in zip(fields, vals[1:], strict=True) if v is not None})
    return out


def track_tail(
    r: redis.Redis, mmsi: str, count: int, since_ms: int | None = None
) -> list[dict[str, Any]]:
    """The vessel's latest `count` track entries (written since `since_ms`, server time, if
    given), newest first."""
    low = "-" if since_ms is None else str(max(0, since_ms))
    return [
        {text(k): text(v) for k, v in fields.items()}
        for _id, fields in r.xrevrange(keys.track("vessel", mmsi), "+", low, count=count)
    ]


def loiter_due(r: redis.Redis, since_before_ms: int, limit: int = 200) -> list[tuple[str, int]]:
    """Slow-in-a-zone candidates ("mmsi|zone") first seen so before `since_before_ms`."""
    found = r.zrangebyscore(
        keys.VESSELS_LOITER, "-inf", since_before_ms, start=0, num=limit, withscores=True
    )
    return [(text(m), int(s)) for m, s in found]


def loiter_since(r: redis.Redis, member: str, since_ms: int) -> None:
    """A candidate's run began later than thought: it is looked at again from then."""
    r.zadd(keys.VESSELS_LOITER, {member: since_ms}, xx=True)


def loiter_drop(r: redis.Redis, members: Sequence[str]) -> None:
    if members:
        r.zrem(keys.VESSELS_LOITER, *members)


def take_trawling(r: redis.Redis, limit: int = 500) -> list[str]:
    """The trawling-speed candidates, removed as read (the next such report marks one again)."""
    pipe = r.pipeline(transaction=True)
    pipe.zrange(keys.VESSELS_TRAWLING, 0, limit - 1)
    pipe.zremrangebyrank(keys.VESSELS_TRAWLING, 0, limit - 1)
    members, _ = pipe.execute()
    return [text(m) for m in members]
