"""The live-changes stream (keys.LIVE_CHANGES): which entities each ingest batch changed, read
by the web processes' pictures (services/picture.py) so an update reads only those."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from store import keys


@dataclass(slots=True)
class Changes:
    last_id: str  # read from here next time
    entities: set[tuple[str, str]] = field(default_factory=set)  # (kind, id)
    gap: bool = False  # entries were trimmed before they were read: rebuild everything


def latest_id(r: redis.Redis) -> str:
    """Where a new reader starts: after everything in the stream now."""
    last = r.xrevrange(keys.LIVE_CHANGES, count=1)
    return last[0][0].decode() if last else "0-0"


def read(r: redis.Redis, last_id: str, block_ms: int, count: int = 1000) -> Changes:
    """The entities changed after `last_id`, waiting up to `block_ms` for the first."""
    found = r.xread({keys.LIVE_CHANGES: last_id}, count=count, block=block_ms or None)
    out = Changes(last_id)
    if not found:
        return out
    entries = found[0][1]
    out.gap = _trimmed_after(r, last_id)
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
