"""Patrol logs (巡查日志) checked against the units' own tracks (留痕): a unit or a supervisor
submits which places were patrolled in a time window; every claim the track does not support is
flagged, and the log is kept with its flags for the supervisor to correct.

The track is the unit's position stream (`unit:{id}:track`, kept for HISTORY_HOURS): a log
about a window older than that is answered `no_track` for every claim, and says so.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
import redis

from domain.clock import system_ms
from domain.coverage import ClaimCheck, PatrolClaim, reconcile
from domain.coverage_places import CoverageGeography
from store import audit, keys
from store.codec import text as as_text

KEEP_MS = 90 * 86_400_000  # checked logs are kept 90 days (the stream is trimmed by age)


def unit_track(
    r: redis.Redis, unit_id: str, from_ms: int, to_ms: int
) -> list[tuple[int, float, float, float | None]]:
    """The unit's recorded positions in [from, to]: (ts, lon, lat, speed m/s or None), in time
    order (the stream is in arrival order: a device that reconnects may send a new position
    before its queued older ones)."""
    out = []
    for _id, f in r.xrange(keys.track("unit", unit_id)):
        d = {as_text(k): as_text(v) for k, v in f.items()}
        try:
            ts = int(d["ts"])
            if from_ms <= ts <= to_ms:
                kmh = d.get("speed_kmh")
                out.append(
                    (
                        ts,
                        float(d["lon"]),
                        float(d["lat"]),
                        float(kmh) / 3.6 if kmh not in (None, "", "None") else None,
                    )
                )
        except (KeyError, ValueError):
            continue  # a damaged entry proves nothing
    return sorted(out, key=lambda p: p[0])


def check(r: redis.Redis, geo: CoverageGeography, claim: PatrolClaim) -> list[ClaimCheck]:
    track = unit_track(r, claim.unit_id, claim.from_ms, claim.to_ms)
    return reconcile(claim, track, geo, geo.rules)


def save(
    r: redis.Redis,
    claim: PatrolClaim,
    checks: list[ClaimCheck],
    *,
    by: str,
    source: str,
    note: str = "",
) -> str:
    """Keep a checked log and its audit entry (the log as stored, with its id); returns its id
    (the stream entry id). `by`: a user (the API) or the unit itself (`source` mqtt)."""
    now = system_ms()
    fields: dict[str, Any] = {
        "unit_id": claim.unit_id,
        "from_ms": claim.from_ms,
        "to_ms": claim.to_ms,
        "submitted_ms": now,
        "by": by,
        "source": source,
        "note": note[:500],
        "flagged": sum(1 for c in checks if c.flag != "ok"),
        "checks": orjson.dumps([asdict(c) for c in checks]).decode(),
    }
    log_id = as_text(r.xadd(keys.PATROL_LOGS, fields, minid=now - KEEP_MS, approximate=True))
    actor = f"device:{by}" if source == "mqtt" else f"user:{by}"
    obj = f"unit:{claim.unit_id}"
    audit.append(r, actor, "patrol_log.submitted", obj, {"id": log_id, **fields}, now)
    return log_id


def recent(r: redis.Redis, limit: int = 200, flagged_only: bool = False) -> list[dict[str, Any]]:
    """The latest checked logs, newest first."""
    out = []
    for entry, f in r.xrevrange(keys.PATROL_LOGS, count=limit):
        d = {as_text(k): as_text(v) for k, v in f.items()}
        log = {
            "id": as_text(entry),
            "unit_id": d.get("unit_id", ""),
            "by": d.get("by", ""),
            "source": d.get("source", ""),
            "note": d.get("note", ""),
            "from_ms": int(d.get("from_ms") or 0),
            "to_ms": int(d.get("to_ms") or 0),
            "submitted_ms": int(d.get("submitted_ms") or 0),
            "flagged": int(d.get("flagged") or 0),
            "checks": orjson.loads(d.get("checks") or "[]"),
        }
        if log["flagged"] or not flagged_only:
            out.append(log)
    return out
