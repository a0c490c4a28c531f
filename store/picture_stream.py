"""The deployment's one live picture in Redis (services/picture_relay.py): one web process
builds it, holding a lease (keys.PICTURE_BUILDER), and adds each update it makes to a stream
(keys.PICTURE) as the bytes every page's stream sends; every web process relays them. So the
picture's CPU is spent once per deployment, not once per gunicorn worker, and a browser that
reconnects to another process or host resumes where it was.

An entry is an update (`k` = "u": `since`, `seq`, its `body`, and `m`, what the benchmark and an
operator read of it: when ingest announced its first change, the builder's CPU, how many
records) or the mark of a new builder's first picture (`k` = "p"). The whole picture is kept
beside the stream now and then (keys.PICTURE_WHOLE, with the entry that made it), so a process
that starts, or finds a hole in what it read, takes the whole picture and the updates after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from redis.lock import Lock

from store import keys

# Updates are kept this long: a relay that starts reads the whole picture (kept every
# services/picture_relay.WHOLE_EVERY_S) and every update after it, so this is longer than that.
KEEP_MS = 180_000


@dataclass(frozen=True, slots=True)
class Entry:
    id: str  # the stream's id: when the update was published, on Redis' clock
    token: str  # the builder's numbering
    since: int  # the picture it starts from (-1 for a first picture's mark)
    seq: int  # the picture it makes
    body: bytes | None  # the update as streams send it; None: a new builder's first picture
    meta: dict[str, Any]

    @property
    def published_ms(self) -> int:
        return int(self.id.partition("-")[0])


@dataclass(frozen=True, slots=True)
class Whole:
    token: str
    seq: int
    entry: str  # the stream entry that made this picture: the updates after it follow on
    body: bytes


def builder_lease(r: redis.Redis, ttl_s: float) -> Lock:
    """The lease of the process that builds the picture: held while renewed within `ttl_s`,
    under the builder's token (acquire(token=...))."""
    return Lock(r, keys.PICTURE_BUILDER, timeout=ttl_s, blocking=False, thread_local=False)


def _add(r: redis.Redis, fields: dict[str, Any]) -> str:
    cutoff = f"{max(int(time.time() * 1000) - KEEP_MS, 0)}-0"
    return r.xadd(keys.PICTURE, fields, minid=cutoff, approximate=True).decode()


def publish(
    r: redis.Redis, token: str, since: int, seq: int, body: bytes, meta: dict[str, Any]
) -> str:
    """Adds an update; gives its entry id."""
    fields = {"k": "u", "t": token, "a": since, "s": seq, "b": body, "m": orjson.dumps(meta)}
    return _add(r, fields)


def mark_first(r: redis.Redis, token: str, seq: int, body: bytes) -> str:
    """A new builder's first picture: marked in the stream (relays take the whole picture
    again) and kept whole beside it."""
    entry = _add(r, {"k": "p", "t": token, "a": -1, "s": seq, "m": b"{}"})
    keep_whole(r, Whole(token, seq, entry, body))
    return entry


def keep_whole(r: redis.Redis, whole: Whole) -> None:
    r.hset(
        keys.PICTURE_WHOLE,
        mapping={"t": whole.token, "s": whole.seq, "e": whole.entry, "b": whole.body},
    )


def whole_head(r: redis.Redis) -> tuple[str, int, str] | None:
    """The kept whole picture's token, number and entry, without it (a relay reads the
    picture only when it is not the one it tried already); None unless it is the picture of
    the builder holding the lease (whose token is the lease's)."""
    pipe = r.pipeline(transaction=False)
    pipe.hmget(keys.PICTURE_WHOLE, ["t", "s", "e"])
    pipe.get(keys.PICTURE_BUILDER)
    (token, seq, entry), holder = pipe.execute()
    if token is None or token != holder:
        return None  # no builder yet, or the picture of one gone (a previous run's)
    try:
        return token.decode(), int(seq), entry.decode()
    except (AttributeError, ValueError):
        return None  # a hash not of the builder's making


def whole(r: redis.Redis) -> Whole | None:
    found = r.hgetall(keys.PICTURE_WHOLE)
    try:
        return Whole(found[b"t"].decode(), int(found[b"s"]), found[b"e"].decode(), found[b"b"])
    except (KeyError, ValueError):
        return None  # no builder yet (or a hash not of its making)


def want_whole(r: redis.Redis) -> None:
    """A relay missed updates: it asks the builder to keep the whole picture now."""
    r.set(keys.PICTURE_WANTED, 1, ex=60)


def whole_wanted(r: redis.Redis) -> bool:
    return bool(r.getdel(keys.PICTURE_WANTED))


def _entry(entry_id: bytes, fields: dict[bytes, bytes]) -> Entry | None:
    try:
        return Entry(
            entry_id.decode(),
            fields[b"t"].decode(),
            int(fields[b"a"]),
            int(fields[b"s"]),
            fields[b"b"] if fields.get(b"k") == b"u" else None,
            orjson.loads(fields.get(b"m", b"{}")),
        )
    except (KeyError, ValueError, orjson.JSONDecodeError):
        return None  # not the builder's: skipped (the numbering shows if anything is missing)


def read(r: redis.Redis, after: str, block_ms: int, count: int = 100) -> tuple[str, list[Entry]]:
    """The entries after `after`, waiting up to `block_ms` for the first; and the id to read
    from next."""
    found = r.xread({keys.PICTURE: after}, count=count, block=block_ms or None)
    return _entries(after, found[0][1] if found else [])


def after(r: redis.Redis, entry: str) -> tuple[str, list[Entry]]:
    """Every entry after `entry` (a relay catching up from a whole picture)."""
    return _entries(entry, r.xrange(keys.PICTURE, min=f"({entry}"))


def _entries(last: str, raw: list[Any]) -> tuple[str, list[Entry]]:
    out = []
    for entry_id, fields in raw:
        last = entry_id.decode()
        e = _entry(entry_id, fields)
        if e is not None:
            out.append(e)
    return last, out
