"""The live-changes stream (keys.LIVE_CHANGES): what each ingest batch changed, read by the web
processes' pictures (services/picture.py), so an update reads nothing else.

An entry's one field `v` is JSON: per entity ("unit:U-1") the field groups the batch wrote to
its hash, each group one applied write in the order written, its first field the write's clock
(`ts` with `seq` for an observation, `status_ts`, `profile_ts`, ... for the rest: what the
ingest scripts order writes by); or null: the entity changed, read it back from its hash."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis

from store import keys, snapshots

# Entries are trimmed to about writer.LIVE_CHANGES_KEEP (1,000): losing unread ones takes that
# many batches between two reads (a minute or more at full rate), so the (costly) check runs
# only when a read came back full or the last one is older than this.
GAP_CHECK_AFTER_S = 5.0


@dataclass(slots=True)
class Changes:
    last_id: str  # read from here next time
    # (kind, id) -> the typed field groups written, in order; None: read the entity back
    entities: dict[tuple[str, str], list[dict[str, Any]] | None] = field(default_factory=dict)
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


def read(r: redis.Redis, since: Changes, block_ms: int, count: int = 200) -> Changes:
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
        try:
            _add(out.entities, orjson.loads(fields.get(b"v", b"{}")))
        except (orjson.JSONDecodeError, AttributeError, TypeError, KeyError):
            out.gap = True  # not what the worker writes: what changed is unknown, read it all
    return out


def _add(into: dict[tuple[str, str], list[dict[str, Any]] | None], written: dict[str, Any]) -> None:
    for name, groups in written.items():
        kind, _, ident = name.partition(":")
        if not (kind and ident):
            continue
        key = (kind, ident)
        held = into.get(key, [])
        into[key] = None if held is None or groups is None else held + groups


def apply(
    row: dict[str, Any], groups: list[dict[str, Any]], kept: Mapping[str, Any] | None
) -> set[str]:
    """Bring a held, typed copy of an entity's hash (`kept`: only these fields, each to its
    type, snapshots.field_types; None: all, as snapshots.typed types them) up to date with the
    groups written to it, each only when it is not older than what the copy has, as the
    ingest scripts order them (with several workers, announcements may come in another order
    than the writes). Gives the names of the fields whose value changed (with `kept` None:
    every field written)."""
    changed: set[str] = set()
    for g in groups:
        clock = next(iter(g), None)
        if clock is None:
            continue
        if clock == "ts":
            held = (row.get("ts") or -1, row.get("seq") or -1)
            newer = (g["ts"] or 0, g.get("seq") or 0) >= held
        else:
            newer = row.get(clock) is None or (g[clock] or 0) >= row[clock]
        if not newer:
            continue
        if kept is None:
            typed = snapshots.typed(g)
            _merge(row, typed)
            changed.update(typed)
            continue
        for name, value in g.items():
            convert = kept.get(name)
            if convert is None:
                continue
            try:
                value = convert(value)
            except (TypeError, ValueError):
                value = None  # as a read of a corrupt field gives
            if row.get(name) != value:
                row[name] = value
                changed.add(name)
    return changed


def _merge(row: dict[str, Any], typed: dict[str, Any]) -> None:
    before = row.get("values")  # a sensor's readings: a write adds to them
    row.update(typed)
    if before and "values" in typed:
        row["values"] = {**before, **typed["values"]}


def _trimmed_after(r: redis.Redis, last_id: str) -> bool:
    """Entries after `last_id` were trimmed before being read (Redis 7 / Valkey keep the
    newest deleted id): what changed then is unknown."""
    deleted = r.xinfo_stream(keys.LIVE_CHANGES).get("max-deleted-entry-id", b"0-0")
    deleted = deleted.decode() if isinstance(deleted, bytes) else str(deleted)
    return _key(deleted) > _key(last_id)


def _key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms or 0), int(seq or 0)
