"""The coverage API (docs/openapi.yaml): coverage % by place kind for the district and each
sub-district over a window, the daily trend, blind spots with who is responsible, the presence
heatmap, and patrol logs checked against the units' tracks. `report` is what the coverage page
shows too, so page and API cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import redis
from flask import Blueprint, jsonify, request
from flask_login import current_user
from pydantic import ValidationError

from dashboard.context import app_context
from dashboard.roles import DISPATCHERS, VIEWERS
from domain.coverage import PatrolClaim, blind_spots, coverage_figures
from domain.coverage_places import PLACE_KINDS, CoverageGeography
from domain.payloads import PatrolLog
from domain.vocab import LOCAL_TZ, Department, UnitKind
from store import coverage, keys, patrol_logs

bp = Blueprint("coverage_api", __name__, url_prefix="/api/v1")

WINDOWS = ("hour", "today", "7d")
TREND_DAYS = 7
HOUR_MS, DAY_MS = 3_600_000, 86_400_000


class BadQuery(ValueError):
    """A query parameter that is not understood, with the reason."""


def now_ms() -> int:
    """The legal clock of this app (a test may fix it)."""
    return app_context().now_ms()


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


def coverage_view() -> Any:
    args = request.args
    try:
        body = report(
            app_context().redis,
            app_context().coverage,
            args.get("window", "today"),
            args.getlist("kind"),
            args.getlist("department"),
            now_ms(),
        )
    except BadQuery as e:
        return jsonify({"error": str(e)}), 422
    return jsonify(body)


def submit_log(
    r: redis.Redis, geo: CoverageGeography, log: PatrolLog, by: str, source: str
) -> dict[str, Any]:
    """Check a patrol log against the unit's track, keep it, answer with its flags."""
    kind = r.hget(keys.state("unit", log.unit_id), "kind")
    if kind is None:
        raise BadQuery(f"unit_id: no unit {log.unit_id!r} is known here")
    claim = PatrolClaim(log.unit_id, log.from_ms, log.to_ms, log.places, kind.decode())
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


def patrol_log_view() -> Any:
    raw = request.get_data()
    try:  # strict JSON types, unknown fields refused, as for the MQTT payload
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise BadQuery("the body must be a JSON object")
        log = PatrolLog.model_validate_json(raw, strict=True)
        out = submit_log(app_context().redis, app_context().coverage, log, current_user.name, "api")
    except ValidationError as e:
        errs = e.errors(include_url=False, include_input=False)
        return jsonify(
            {
                "error": "; ".join(
                    f"{'.'.join(map(str, x['loc'])) or 'body'}: {x['msg']}" for x in errs[:5]
                )
            }
        ), 422
    except BadQuery as e:
        return jsonify({"error": str(e)}), 422 if "JSON object" not in str(e) else 400
    return jsonify(out), 201


def patrol_logs_view() -> Any:
    flagged = request.args.get("flagged", "0") == "1"
    items = patrol_logs.recent(app_context().redis, flagged_only=flagged)
    return jsonify({"items": items, "count": len(items)})


coverage_view.roles = VIEWERS  # type: ignore[attr-defined]  # checked by dashboard.security
patrol_log_view.roles = DISPATCHERS  # type: ignore[attr-defined]
patrol_logs_view.roles = VIEWERS  # type: ignore[attr-defined]
bp.add_url_rule("/coverage", view_func=coverage_view, methods=["GET"])
bp.add_url_rule("/patrol-logs", view_func=patrol_log_view, methods=["POST"])
bp.add_url_rule(
    "/patrol-logs", endpoint="patrol_logs_list", view_func=patrol_logs_view, methods=["GET"]
)
