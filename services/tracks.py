"""Tracks of units and vessels over a window (issue 18, the track record): what Redis still
holds (HISTORY_HOURS) and what the archive keeps (ARCHIVE_DAYS), merged into one answer in time
order, each stored entry once (the same stream id in both places is one entry). A unit's track
is an officer's personal data: `services.personal.unit_track` answers it and records reads
before today; a vessel's track is public AIS (`vessel_track`)."""

from __future__ import annotations

import re
from typing import Any

from services.context import AppContext
from services.errors import Refused
from store import tracks
from store.keys import EntityKind

MAX_POINTS = 50_000
DAY_MS = 86_400_000
MMSI = re.compile(r"[0-9]{1,9}")
# the numeric fields of a point of each kind, beside ts, lat, lon (as the ingest handlers
# write them: ingest/units.py, ingest/vessels.py)
FIELDS: dict[str, tuple[str, ...]] = {"unit": ("speed_kmh", "course"), "vessel": ("sog_kn", "cog")}


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if x == x and abs(x) != float("inf") else None  # no NaN, no infinity


def point(kind: str, row: dict[str, Any]) -> dict[str, Any] | None:
    """A stored entry as an API point, or None when it has no usable time and position."""
    ts, lat, lon = _number(row.get("ts")), _number(row.get("lat")), _number(row.get("lon"))
    if ts is None or lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    out: dict[str, Any] = {"ts": int(ts), "lat": lat, "lon": lon}
    for name in FIELDS[kind]:
        value = _number(row.get(name))
        if value is not None and value >= 0:
            out[name] = value
    return out


def _held_from(rows: list[dict[str, Any]]) -> int | None:
    return int(rows[0]["stream_id"].split("-", 1)[0]) if rows else None


def points(
    ctx: AppContext, kind: EntityKind, entity_id: str, from_ms: int, to_ms: int
) -> tuple[list[dict[str, Any]], bool, int]:
    """(points with from_ms <= ts < to_ms in time order, at most MAX_POINTS: the earliest;
    whether more were left out; how many came from the archive)."""
    recent = tracks.recent(ctx.redis, kind, entity_id)
    older = tracks.archived(
        ctx.redis, ctx.settings.data_dir, kind, entity_id, from_ms, to_ms, _held_from(recent)
    )
    seen: set[str] = set()
    merged: list[tuple[int, str, dict[str, Any]]] = []
    for source, rows in (("redis", recent), ("archive", older)):
        for row in rows:
            sid = str(row.get("stream_id", ""))
            p = point(kind, row)
            if sid in seen or p is None or not from_ms <= p["ts"] < to_ms:
                continue
            seen.add(sid)
            merged.append((p["ts"], source, p))
    merged.sort(key=lambda m: m[0])  # stable: a device's order among equal times is kept
    kept = merged[:MAX_POINTS]
    return (
        [p for _ts, _s, p in kept],
        len(merged) > MAX_POINTS,
        sum(s == "archive" for _, s, _ in kept),
    )


def kept_from_ms(ctx: AppContext) -> int:
    """Before this, nothing is kept (the archive's retention, whole UTC days)."""
    now = ctx.now_ms()
    return now - now % DAY_MS - ctx.settings.archive_days * DAY_MS


def vessel_track(ctx: AppContext, mmsi: str, from_ms: int, to_ms: int) -> dict[str, Any]:
    """A vessel's positions in [from_ms, to_ms), oldest first (public AIS: nothing recorded)."""
    if MMSI.fullmatch(mmsi or "") is None:
        raise Refused(404, f"no vessel {mmsi[:64]!r}")
    if from_ms >= to_ms:
        raise Refused(422, "from must be before to")
    found, truncated, archived = points(ctx, "vessel", mmsi, from_ms, to_ms)
    if not found and not tracks.exists(ctx.redis, "vessel", mmsi):
        raise Refused(404, f"no vessel {mmsi!r}")
    return {
        "mmsi": mmsi,
        "from_ms": from_ms,
        "to_ms": to_ms,
        "points": found,
        "count": len(found),
        "truncated": truncated,
        "archived": archived,
        "kept_from_ms": kept_from_ms(ctx),
        "generated_ms": ctx.now_ms(),
    }
