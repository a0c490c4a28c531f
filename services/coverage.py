"""Coverage: coverage % by place kind for the district and each sub-district over a window, the
daily trend, blind spots with who is responsible, the presence heatmap; patrol logs checked
against the units' tracks; an admin's reassignment of a place's responsible person. The coverage
page and the coverage API both call these, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import redis

from domain.coverage import PatrolClaim, blind_spots, coverage_figures
from domain.coverage_places import PLACE_KINDS, CoverageGeography
from domain.payloads import PatrolLog
from domain.vocab import LOCAL_TZ, Department, UnitKind
from services import audit
from services.context import AppContext
from services.errors import BadQuery, Refused
from store import coverage, patrol_logs, reader

WINDOWS = ("hour", "today", "7d")
TREND_DAYS = 7
HOUR_MS, DAY_MS = 3_600_000, 86_400_000


def window_start(window: str, now: int) -> int:
    if window == "hour":
        return now - HOUR_MS
    if window == "today":
        return coverage.day_start_ms(now)
    if window == "7d":  # 近7天: today and the six days before it, whole local days
        return coverage.day_start_ms(now) - 6 * DAY_MS
    raise BadQuery(f"window must be one of {', '.join(WINDOWS)}, not {window[:20]!r}")


def parse_filters(kinds: list[str], departments: list[str]) -> tuple[list[str], list[str]]:
    known_k, known_d = {k.value for k in UnitKind}, {d.value for d in Department}
    bad = [k for k in kinds if k not in known_k] + [d for d in departments if d not in known_d]
    if bad:
        raise BadQuery(f"unknown unit kind or department: {', '.join(x[:30] for x in bad[:5])}")
    return kinds, departments


def _figures(
    geo: CoverageGeography, last: dict[str, int], now: int, since: int | None
) -> dict[str, dict[str, dict[str, Any]]]:
    raw = coverage_figures(geo.places.values(), last, now, since_ms=since)
    return {
        scope: {
            k: {
                "covered": f.covered,
                "total": f.total,
                "percent": None if f.percent is None else round(f.percent, 1),
            }
            for k, f in kinds.items()
        }
        for scope, kinds in raw.items()
    }


def trend(
    r: redis.Redis,
    geo: CoverageGeography,
    now: int,
    days: int,
    kinds: list[str],
    departments: list[str],
) -> list[dict[str, Any]]:
    """Per local day, oldest first: coverage % per place kind, district and sub-districts."""
    today = dt.datetime.fromtimestamp(now / 1000, LOCAL_TZ).date()
    names = [(today - dt.timedelta(days=i)).strftime("%Y%m%d") for i in range(days - 1, -1, -1)]
    visited = coverage.daily_visited(r, names, kinds, departments)
    out = []
    for day in names:
        seen = dict.fromkeys(visited[day], 1)  # "visited since 0" = visited that day
        out.append(
            {"day": f"{day[:4]}-{day[4:6]}-{day[6:]}", "figures": _figures(geo, seen, now, since=0)}
        )
    return out


def report(
    r: redis.Redis,
    geo: CoverageGeography,
    window: str,
    kinds: list[str],
    departments: list[str],
    now: int,
    trend_days: int = TREND_DAYS,
) -> dict[str, Any]:
    start = window_start(window, now)
    kinds, departments = parse_filters(kinds, departments)
    last = coverage.last_visits(r, kinds, departments)
    owners = coverage.owners(r, geo)
    by = coverage.last_visitors(r) if not kinds and not departments else {}
    spots = []
    for b in blind_spots(geo.places.values(), last, now):
        p = b.place
        spots.append(
            {
                "id": p.id,
                "kind": p.kind,
                "label": p.label,
                "subdistrict": p.subdistrict,
                "community": p.community,
                "owner": owners.get(p.id, p.owner),
                "requirement_h": p.requirement_h,
                "last_visit_ms": b.last_visit_ms,
                "last_unit": by.get(p.id),
                "hours_since": None if b.hours_since is None else round(b.hours_since, 1),
            }
        )
    return {
        "window": window,
        "from_ms": start,
        "to_ms": now,
        "generated_ms": now,
        "filters": {"kinds": kinds, "departments": departments},
        "figures": _figures(geo, last, now, since=start),
        "requirement_met": _figures(geo, last, now, since=None),
        "blind_spots": spots,
        "trend": trend(r, geo, now, trend_days, kinds, departments),
        "presence_s": {
            cell: round(s)
            for cell, s in coverage.presence(r, start, now, kinds, departments).items()
        },
        "place_kinds": list(PLACE_KINDS),
    }


def submit_log(
    r: redis.Redis, geo: CoverageGeography, log: PatrolLog, by: str, source: str
) -> dict[str, Any]:
    """Check a patrol log against the unit's track, keep it, answer with its flags."""
    unit = reader.entity(r, "unit", log.unit_id)
    if not unit or not unit.get("kind"):
        raise BadQuery(f"unit_id: no unit {log.unit_id!r} is known here")
    claim = PatrolClaim(log.unit_id, log.from_ms, log.to_ms, log.places, unit["kind"])
    checks = patrol_logs.check(r, geo, claim)
    log_id = patrol_logs.save(r, claim, checks, by=by, source=source, note=log.note)
    return {
        "id": log_id,
        "unit_id": log.unit_id,
        "from_ms": log.from_ms,
        "to_ms": log.to_ms,
        "flagged": sum(1 for c in checks if c.flag != "ok"),
        "checks": [
            {
                "place_id": c.place_id,
                "flag": c.flag,
                "seconds_inside": round(c.seconds_inside, 1),
                "longest_stay_s": round(c.longest_stay_s, 1),
                "first_ms": c.first_ms,
                "last_ms": c.last_ms,
            }
            for c in checks
        ],
    }


def recent_logs(
    ctx: AppContext, flagged_only: bool = False, limit: int = 200
) -> list[dict[str, Any]]:
    """The latest checked patrol logs, newest first."""
    return patrol_logs.recent(ctx.redis, limit=limit, flagged_only=flagged_only)


def owners(ctx: AppContext) -> dict[str, str]:
    """Place -> responsible person (the file's, unless an admin reassigned it)."""
    return coverage.owners(ctx.redis, ctx.coverage)


OWNER_MAX = 40


def reassign_owner(ctx: AppContext, place_id: str, owner: str, by: str) -> dict[str, str]:
    """An admin names another responsible person for a place (recorded with who and when)."""
    place = ctx.coverage.places.get(place_id) if isinstance(place_id, str) else None
    if place is None:
        raise Refused(404, f"no place {str(place_id)[:64]!r}")
    name = owner.strip() if isinstance(owner, str) else ""
    if not 0 < len(name) <= OWNER_MAX or not name.isprintable():
        raise Refused(422, f"owner: 1 to {OWNER_MAX} printable characters")
    coverage.set_owner(ctx.redis, place, name, by, ctx.now_ms())
    change = {"owner": name}
    audit.record(ctx, audit.user(by), "place.owner_reassigned", f"place:{place.id}", change)
    return {"place_id": place.id, "label": place.label, "owner": name}


def window_report(
    ctx: AppContext, window: str, kinds: list[str], departments: list[str]
) -> dict[str, Any]:
    """`report` over the window up to now (what the page and GET /api/v1/coverage show)."""
    return report(ctx.redis, ctx.coverage, window, kinds, departments, ctx.now_ms())


def submit_patrol_log(ctx: AppContext, log: PatrolLog, by: str, source: str) -> dict[str, Any]:
    """A patrol log from a duty chief (the API) or a unit (MQTT), checked and kept."""
    return submit_log(ctx.redis, ctx.coverage, log, by, source)  # the store audits it


def last_visits(ctx: AppContext, kinds: list[str], departments: list[str]) -> dict[str, int]:
    """Place -> last visit ms by the filtered units (every place the map colours)."""
    kinds, departments = parse_filters(kinds, departments)
    return coverage.last_visits(ctx.redis, kinds, departments)
