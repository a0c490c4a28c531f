"""A unit's or vessel's track as stored: the recent part in Redis (`keys.track`, kept
HISTORY_HOURS by the ingest scripts' MINID trim) and the rest in the Parquet archive
(store/archive.py). Rows keep their stream id, the identity an entry has in both places."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis

from store import archive, keys
from store.codec import text
from store.keys import EntityKind


def exists(r: redis.Redis, kind: EntityKind, entity_id: str) -> bool:
    pipe = r.pipeline(transaction=False)
    pipe.sismember(keys.index(kind), entity_id)
    pipe.exists(keys.state(kind, entity_id), keys.track(kind, entity_id))
    member, found = pipe.execute()
    return bool(member) or int(found) > 0


def recent(r: redis.Redis, kind: EntityKind, entity_id: str) -> list[dict[str, Any]]:
    """Every entry Redis holds, in arrival order, as text fields with `stream_id`."""
    rows = []
    for stream_id, fields in r.xrange(keys.track(kind, entity_id)):
        row: dict[str, Any] = {text(k): text(v) for k, v in fields.items()}
        row["stream_id"] = text(stream_id)
        rows.append(row)
    return rows


def archived(
    r: redis.Redis,
    data_dir: Path,
    kind: EntityKind,
    entity_id: str,
    from_ms: int,
    to_ms: int,
    held_from_ms: int | None,
) -> list[dict[str, Any]]:
    """The archived entries with `from_ms <= ts < to_ms`, from hours Redis no longer holds
    whole: an hour that began after `held_from_ms` (the arrival of the oldest entry Redis still
    has) is all in Redis, so its file is not opened."""
    records = archive.written_hours(r, kind).values()
    if held_from_ms is not None:
        records = [rec for rec in records if rec.hour_ms < held_from_ms]
    return list(
        archive.read_track(archive.root(data_dir), records, kind, entity_id, from_ms, to_ms)
    )
