"""Read side of the store: ready-made snapshots for the worker, the web app and the tests."""

from __future__ import annotations

import heapq
from typing import Any

import redis

from store import keys
from store.codec import text
from store.keys import EntityKind

MESSAGE_COUNTERS = ("received", "applied", "duplicate", "stale", "deadletter", "ignored")
WRITE_COUNTERS = ("applied", "duplicate", "stale", "alerts")
PROFILE_FIELDS = ("name", "kind", "water_class", "lon", "lat", "subdistrict")


def _text(d: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode("utf-8", "replace") for k, v in d.items()}


def entity(r: redis.Redis, kind: EntityKind, entity_id: str) -> dict[str, str] | None:
    d = r.hgetall(keys.state(kind, entity_id))
    return _text(d) if d else None


def sensor_profile(r: redis.Redis, sensor_id: str) -> dict[str, Any] | None:
    vals = r.hmget(keys.state("sensor", sensor_id), PROFILE_FIELDS)
    if vals[1] is None:  # no kind: no profile received yet
        return None
    out: dict[str, Any] = {
        f: v.decode() for f, v in zip(PROFILE_FIELDS, vals, strict=True) if v is not None
    }
    for f in ("lon", "lat"):
        if f in out:
            out[f] = float(out[f])
    return out


def track(
    r: redis.Redis, kind: EntityKind, entity_id: str, count: int = 1000
) -> list[dict[str, str]]:
    return [_text(fields) for _id, fields in r.xrange(keys.track(kind, entity_id), count=count)]


def counts(r: redis.Redis) -> dict[str, int]:
    pipe = r.pipeline(transaction=False)
    for kind in ("unit", "vessel", "sensor"):
        pipe.scard(keys.index(kind))
    pipe.zcard(keys.ALERTS_OPEN)
    units, vessels, sensors, alerts = pipe.execute()
    return {"units": units, "vessels": vessels, "sensors": sensors, "open_alerts": alerts}


def ingest_stats(r: redis.Redis) -> dict[str, Any]:
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(keys.MESSAGE_OUTCOMES)
    pipe.hgetall(keys.DEADLETTER_COUNTS)
    pipe.hgetall(keys.IGNORED_COUNTS)
    pipe.hgetall(keys.HEARTBEAT)
    for tag in keys.TAGS:
        pipe.hgetall(keys.ingest_stats(tag))
    messages, dead, ignored, beat, *groups = pipe.execute()
    messages = {k: int(v) for k, v in _text(messages).items()}
    writes: dict[str, int] = {}
    for group in groups:  # each group's script calls count into its own hash
        for k, v in _text(group).items():
            writes[k] = writes.get(k, 0) + int(v)
    return {
        # messages: each counted once, by what it came to (received = the five outcomes);
        # writes: per store operation (a position with a status is two)
        "messages": {k: messages.get(k, 0) for k in MESSAGE_COUNTERS},
        "writes": {k: writes.get(k, 0) for k in WRITE_COUNTERS},
        "deadletter_by_reason": {k: int(v) for k, v in _text(dead).items()},
        "ignored_by_reason": {k: int(v) for k, v in _text(ignored).items()},
        "heartbeat": _text(beat),
    }


def heartbeat(r: redis.Redis) -> dict[str, str]:
    """The ingest worker's last heartbeat (its time, its newest message's time)."""
    return _text(r.hgetall(keys.HEARTBEAT))


def events(r: redis.Redis, **xrange: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The events streams of every group, merged in id (arrival) order; `xrange` as redis-py's
    (min, max). Each group's ingest calls log the changes they make in their own stream."""
    pipe = r.pipeline(transaction=False)
    for tag in keys.TAGS:
        pipe.xrange(keys.events(tag), **xrange)
    return list(heapq.merge(*pipe.execute(), key=lambda e: _stream_id(e[0])))


def _stream_id(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq)


def deadletters(r: redis.Redis, count: int = 100) -> list[dict[str, Any]]:
    out = []
    for entry_id, fields in r.xrevrange(keys.DEADLETTER, count=count):
        d: dict[str, Any] = {k.decode(): v for k, v in fields.items()}
        d["id"] = entry_id.decode()
        for k in ("reason", "topic", "detail", "size"):
            if k in d:
                d[k] = d[k].decode("utf-8", "replace")
        out.append(d)
    return out


def broker_refusals(r: redis.Redis) -> dict[str, dict[str, int]]:
    """identity -> reason -> count of what the embedded broker refused."""
    out: dict[str, dict[str, int]] = {}
    for field, n in r.hgetall(keys.MQTT_REFUSED).items():
        identity, _, reason = text(field).rpartition("|")
        out.setdefault(identity, {})[reason] = int(n)
    return out


def inbox_length(r: redis.Redis) -> int:
    """Messages the embedded broker accepted that no worker has applied yet."""
    return int(r.xlen(keys.INGEST_INBOX))
