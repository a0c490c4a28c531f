"""Messages between the duty chiefs and a unit, kept per unit in one stream (both directions,
in order) with the times the unit's phone showed them."""

from __future__ import annotations

from typing import Any

import redis

from store import keys
from store.codec import text

KEEP = 1000  # per unit: a shift's exchanges many times over; the audit log keeps every one


def post(r: redis.Redis, unit_id: str, direction: str, by: str, body: str, at_ms: int) -> str:
    fields = {"dir": direction, "by": by, "text": body, "at_ms": at_ms}
    pipe = r.pipeline(transaction=True)
    pipe.xadd(keys.unit_messages(unit_id), fields, maxlen=KEEP, approximate=True)
    if direction == "to_unit":  # the phone's stream looks now, not at its next wake
        pipe.xadd(keys.FIELD_WAKE, {"unit": unit_id}, maxlen=1000, approximate=True)
    return text(pipe.execute()[0])


def thread(r: redis.Redis, unit_id: str, count: int) -> list[dict[str, Any]]:
    """The last `count` messages, oldest first, each with `read_ms` (None: not shown yet)."""
    pipe = r.pipeline(transaction=False)
    pipe.xrevrange(keys.unit_messages(unit_id), count=count)
    pipe.hgetall(keys.unit_messages_read(unit_id))
    entries, marks = pipe.execute()
    read = {text(k): int(v) for k, v in marks.items()}
    out = []
    for entry_id, fields in reversed(entries):
        m = {text(k): text(v) for k, v in fields.items()}
        m["id"], m["at_ms"] = text(entry_id), int(m.get("at_ms") or 0)
        m["read_ms"] = read.get(m["id"])
        out.append(m)
    return out


def mark_read(r: redis.Redis, unit_id: str, ids: list[str], at_ms: int) -> list[str]:
    """Marks the unit's own incoming messages among `ids` as shown, the first time only; returns
    those marked now."""
    found = []
    for entry_id in ids:
        got = r.xrange(keys.unit_messages(unit_id), entry_id, entry_id)
        if got and got[0][1].get(b"dir") == b"to_unit":
            found.append(entry_id)
    if not found:
        return []
    pipe = r.pipeline(transaction=True)
    for entry_id in found:
        pipe.hsetnx(keys.unit_messages_read(unit_id), entry_id, at_ms)
    return [i for i, fresh in zip(found, pipe.execute(), strict=True) if fresh]


def last_id(r: redis.Redis, unit_id: str) -> str:
    got = r.xrevrange(keys.unit_messages(unit_id), count=1)
    return text(got[0][0]) if got else "0"
