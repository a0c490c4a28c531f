"""The live-changes stream (keys.LIVE_CHANGES): which entities each ingest batch changed, read
by the web processes' pictures (services/picture.py) so an update reads only those."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis

from store import keys

# Entries are trimmed to about writer.LIVE_CHANGES_KEEP (10,000): losing unread ones takes that
# many batches between two reads (minutes at full rate), so the (costly) check runs only when a
# read came back full or the last one is older than this.
GAP_CHECK_AFTER_S = 5.0


@dataclass(slots=True)
class Changes:
    last_id: str  # read from here next time
    entities: set[tuple[str, str]] = field(default_factory=set)  # (kind, id)
    gap: bool = False  # entries were trimmed before they were read: rebuild everything
    overlays: int = 0  # live:version:overlays, read after the entries
    first_ms: int | None = None  # when the first entry read was added (Redis' clock, its id)
    read_at: float = field(default_factory=time.monotonic)


def start(r: redis.Redis) -> Changes:
    """Where a new reader starts: after everything in the stream now (and the alerts' and
    incidents' version now)."""
    pipe = r.pipeline(transaction=False)
    pipe.xrevrange(keys.LIVE_CHANGES, count=1)
    pipe.get(keys.OVERLAYS_VERSION)
    last, overlays = pipe.execute()
    return Changes(last[0][0].decode() if last else "0-0", overlays=int(overlays or 0))


def read(r: redis.Redis, since: Changes, block_ms: int, count: int = 1000) -> Changes:
    """The entities changed after the `since` read, waiting up to `block_ms` for the first,
    and the alerts' and incidents' version after them: one round trip (Redis answers a
    client's commands in order, so the GET waits for the XREAD)."""
    pipe = r.pipeline(transaction=False)
    pipe.xread({keys.LIVE_CHANGES: since.last_id}, count=count, block=block_ms or None)
    pipe.get(keys.OVERLAYS_VERSION)
    found, overlays = pipe.execute()
    out = Changes(since.last_id, overlays=int(overlays or 0))
    if not found:
        return out
    entries = found[0][1]
    out.first_ms = int(entries[0][0].split(b"-")[0])
    if len(entries) >= count or out.read_at - since.read_at > GAP_CHECK_AFTER_S:
        out.gap = _trimmed_after(r, since.last_id)
    for entry_id, fields in entries:
        out.last_id = entry_id.decode()
        for item in fields.get(b"e", b"").decode().split():
            kind, _, ident = item.partition(":")
            if kind and ident:
                out.entities.add((kind, ident))
    return out


def _trimmed_after(r: redis.Redis, last_id: str) -> bool:
    """Entries after `last_id` were trimmed before being read (Redis 7 / Valkey keep the
    newest deleted id): what changed then is unknown."""
    deleted = r.xinfo_stream(keys.LIVE_CHANGES).get("max-deleted-entry-id", b"0-0")
    deleted = deleted.decode() if isinstance(deleted, bytes) else str(deleted)
    return _key(deleted) > _key(last_id)


def _key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms or 0), int(seq or 0)
