"""What the replay page (复盘, /replay) plays: the tracks of a unit, a vessel, or an incident's
units over a window, and for an incident its timeline events. The tracks are the track API's
answers (services/tracks.py; an officer's through services/personal.py, so a replay reaching
before today is recorded like any such read). Who may replay an officer's track is the route's
and the callback's business: the same roles as GET /api/v1/units/{id}/track."""

from __future__ import annotations

import re
from typing import Any

from services import incidents as incident_service
from services import live, personal, tracks
from services.context import AppContext
from services.errors import Refused
from store import incidents

KINDS = ("unit", "vessel", "incident")
INCIDENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MARGIN_MS = 10 * 60_000  # an incident's replay starts before it was reported, ends after closing
MAX_UNITS = 20
CHOICES_MAX = 5_000  # a district's units and vessels, with room
CHOICES_INCIDENTS = 200


def _compact(track: dict[str, Any], kind: str, entity_id: str) -> dict[str, Any]:
    """[ts, lat, lon] per point: what the browser animates, a third of the JSON's size."""
    pts = [[p["ts"], p["lat"], p["lon"]] for p in track["points"]]
    return {"kind": kind, "id": entity_id, "points": pts, "truncated": track["truncated"]}


def _incident_window(timeline: list[dict[str, Any]], now_ms: int) -> tuple[int, int]:
    times = [e["at_ms"] for e in timeline if isinstance(e.get("at_ms"), int)]
    if not times:
        raise Refused(404, "the incident has no timeline")
    to_ms = min(now_ms, max(times) + MARGIN_MS)
    return min(times) - MARGIN_MS, max(to_ms, min(times) + MARGIN_MS)


def _incident_units(record: dict[str, Any]) -> list[str]:
    """The units on the incident and those it released (store.incidents.read gives lists)."""
    named = [*(record.get("units") or []), *(record.get("released_units") or [])]
    return list(dict.fromkeys(str(u) for u in named if u))[:MAX_UNITS]


def replay(
    ctx: AppContext, kind: str, ident: str, window: tuple[int, int] | None, by: str
) -> dict[str, Any]:
    """The tracks (and an incident's events) to play over `window` (from_ms, to_ms); no window:
    the last hour, or for an incident the span of its timeline."""
    now = ctx.now_ms()
    ident = (ident or "").strip()
    if kind not in KINDS:
        raise Refused(422, f"kind: one of {', '.join(KINDS)}")
    out: dict[str, Any] = {"kind": kind, "id": ident, "events": [], "tracks": [], "place": None}
    if kind == "incident":
        record = incidents.read(ctx.redis, ident) if INCIDENT_ID.fullmatch(ident) else None
        if record is None:
            raise Refused(404, f"no incident {ident[:64]!r}")
        timeline = incidents.timeline(ctx.redis, ident)
        from_ms, to_ms = window or _incident_window(timeline, now)
        for unit_id in _incident_units(record):
            track = personal.unit_track(ctx, unit_id, from_ms, to_ms, by)
            out["tracks"].append(_compact(track, "unit", unit_id))
        out["events"] = [
            {
                "ts": e["at_ms"],
                "state": e.get("to", ""),
                "by": e.get("by", ""),
                "reason": e.get("reason", ""),
                "taken": e.get("taken", ""),
                "for": e.get("for", ""),
            }
            for e in timeline
            if isinstance(e.get("at_ms"), int) and from_ms <= e["at_ms"] < to_ms
        ]
        if record.get("lat") is not None and record.get("lon") is not None:
            out["place"] = [float(record["lat"]), float(record["lon"])]
    else:
        from_ms, to_ms = window or (now - personal.HOUR_MS, now)
        if kind == "unit":
            track = personal.unit_track(ctx, ident, from_ms, to_ms, by)
        else:
            track = tracks.vessel_track(ctx, ident, from_ms, to_ms)
        out["tracks"].append(_compact(track, kind, ident))
    out.update(from_ms=from_ms, to_ms=to_ms, generated_ms=now)
    return out


def choices(ctx: AppContext, kind: str) -> list[tuple[str, str]]:
    """What the page offers to pick for a kind, as (id, label): every unit or vessel known (by
    name), or the latest incidents (by type and state)."""
    if kind == "incident":
        recent = incident_service.listing(ctx, limit=CHOICES_INCIDENTS)
        return [(i["id"], f"{i.get('type', '')} · {i.get('state', '')}") for i in recent]
    if kind not in ("unit", "vessel"):
        return []
    id_field = "unit_id" if kind == "unit" else "mmsi"
    found = live.entities(ctx, kind, ("name",))
    return sorted((str(e[id_field]), str(e.get("name") or "")) for e in found)[:CHOICES_MAX]
