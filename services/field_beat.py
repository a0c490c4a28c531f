"""The officer's beat on the phone (/field): the places this officer answers for, when each was
last visited and when it is due again, and the unit's latest patrol logs as the centre checked
them against its track. The log itself is the units' MQTT message (`patrol-log`), sent by the
phone through services/field.send like its other messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from domain.clock import system_ms
from domain.coverage_places import CoverageGeography
from services.accounts import Account
from services.context import AppContext
from services.field import unit_of
from store import audit as audit_log
from store import coverage, patrol_logs

LOGS = 5  # the unit's latest checked patrol logs shown
HOUR_MS = 3_600_000


def _place(geo: CoverageGeography, pid: str, last: int | None, now: int) -> dict[str, Any]:
    place = geo.places[pid]
    due = None if last is None else last + int(place.requirement_h * HOUR_MS)
    return {
        "place_id": pid,
        "label": place.label,
        "kind": place.kind,
        "last_visit_ms": last,
        "due_ms": due,
        "overdue": due is None or due <= now,  # never visited: due now
    }


def beat(ctx: AppContext, account: Account | None) -> dict[str, Any]:
    """The places whose responsible person is this account (the coverage files' owner, or the
    one an admin named on /coverage), most urgent first; the unit's latest logs."""
    unit = unit_of(ctx, account)
    name = account.name  # type: ignore[union-attr]  # unit_of refused anyone else
    owned = [pid for pid, who in coverage.owners(ctx.redis, ctx.coverage).items() if who == name]
    last = coverage.last_visit_of(ctx.redis, owned)
    now = ctx.now_ms()
    places = [_place(ctx.coverage, pid, last[pid], now) for pid in owned]
    places.sort(key=lambda p: (not p["overdue"], p["due_ms"] or 0))
    logs = [log for log in patrol_logs.recent(ctx.redis, limit=500) if log["unit_id"] == unit]
    return {"unit": unit, "places": places, "logs": logs[:LOGS]}


def seed_demo_beat(
    r: redis.Redis, geo: CoverageGeography, owner: str, points: Iterable[tuple[float, float]]
) -> int:
    """Makes `owner` responsible for the places at these points (land cells, coast segments),
    unless an admin already named someone for them; how many it took on."""
    found = [geo.locate(lon, lat) for lon, lat in points]
    taken = 0
    for pid in dict.fromkeys(p for here in found for p in (here.land, *here.coast)):
        if pid and not coverage.owner_overridden(r, pid):
            now = system_ms()
            coverage.set_owner(r, geo.places[pid], owner, "system:demo", now)
            change = {"owner": owner}
            audit_log.append(
                r, "system:demo", "place.owner_reassigned", f"place:{pid}", change, now
            )
            taken += 1
    return taken
