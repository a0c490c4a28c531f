"""The leadership KPIs (docs/openapi.yaml, GET /api/v1/kpis): handling rate, response times,
deadline shares, workload, units on duty, patrol coverage and water quality over a period,
for one department and/or sub-district or all. The KPI page and GET /api/v1/kpis both call
`report`.

Figures are computed from the records (domain/kpis.py): incidents from the stored tables of
whole past days plus the records of the rest of the period framed now (services/kpi_tables.py;
the same figures as framing every record); coverage from the per-day visit counters; units
on duty and water quality from the stored rows of closed days (store/kpi_days.py) plus the raw
data Redis still holds for the days not closed yet.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import redis

from domain import kpi_daily, kpis
from domain.coverage_places import CoverageGeography
from domain.incidents import DispatchRules
from domain.kpi_frames import day_bounds_ms
from domain.vocab import LOCAL_TZ, Department, Subdistrict, local_day
from services.context import AppContext
from services.errors import BadQuery
from services.kpi_tables import incident_tables
from store import coverage, kpi_days

DAY_MS = 86_400_000
MAX_DAYS = 400


def local_days(from_ms: int, to_ms: int) -> list[str]:
    """The local days (YYYYMMDD) that [from_ms, to_ms) touches."""
    first = dt.datetime.fromtimestamp(from_ms / 1000, LOCAL_TZ).date()
    last = dt.datetime.fromtimestamp((to_ms - 1) / 1000, LOCAL_TZ).date()
    return [
        (first + dt.timedelta(days=i)).strftime("%Y%m%d") for i in range((last - first).days + 1)
    ]


def period(from_arg: str | None, to_arg: str | None, now: int) -> tuple[int, int]:
    """[from, to) in ms from ISO dates or times (local, UTC+8) or epoch ms; default: the last
    7 days up to now."""

    def parse(text: str, name: str) -> int:
        if text.isdigit():
            return int(text)
        try:
            d = dt.datetime.fromisoformat(text)
        except ValueError:
            raise BadQuery(f"{name}: not a date, a time or epoch ms: {text[:30]!r}") from None
        return int((d if d.tzinfo else d.replace(tzinfo=LOCAL_TZ)).timestamp() * 1000)

    to_ms = parse(to_arg, "to") if to_arg else now
    from_ms = parse(from_arg, "from") if from_arg else to_ms - 7 * DAY_MS
    if from_ms >= to_ms:
        raise BadQuery("from must be before to")
    if to_ms - from_ms > MAX_DAYS * DAY_MS:
        raise BadQuery(f"a period of at most {MAX_DAYS} days")
    return from_ms, to_ms


def _check(value: str | None, allowed: type, name: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in {x.value for x in allowed}:  # type: ignore[attr-defined]
        raise BadQuery(f"{name}: unknown {value[:30]!r}")
    return value


def _on_duty(
    r: redis.Redis, days: list[str], stored: dict[str, dict[str, Any]], from_ms: int, to_ms: int
) -> pd.DataFrame:
    rows = [row for d in days if d in stored for row in stored[d]["on_duty"]]
    open_days = [d for d in days if d not in stored]
    if open_days:
        start = max(from_ms, day_bounds_ms(open_days[0])[0])
        live = kpis.units_on_duty_by_hour(kpi_days.status_events(r, start, to_ms), start, to_ms)
        rows += kpi_days.frame_rows(live)
    frame = pd.DataFrame(rows, columns=["hour_ms", "local_hour", "units", "unit_hours"])
    return frame[
        (frame["hour_ms"] >= from_ms - from_ms % 3_600_000) & (frame["hour_ms"] < to_ms)
    ].sort_values("hour_ms")


def _water(
    r: redis.Redis, days: list[str], stored: dict[str, dict[str, Any]], subdistrict: str | None
) -> dict[str, pd.DataFrame]:
    rows = [row for d in days if d in stored for row in stored[d]["water"]]
    open_days = [d for d in days if d not in stored]
    since = day_bounds_ms(open_days[0])[0] if open_days else 2**62
    readings, profiles = kpi_days.sensor_readings(r, since)
    live = kpis.water_quality(readings, profiles)["breaches_by_day"]
    live = live[live["day"].isin([d for d in days if d not in stored])]
    by_day = pd.concat([pd.DataFrame(rows, columns=live.columns), live], ignore_index=True)
    if subdistrict:
        by_day = by_day[by_day["subdistrict"] == subdistrict]
    by_day = by_day.astype({"n": "int64", "breaches": "int64"})
    return {"points": kpis.water_points(by_day), "breaches_by_day": by_day}


def _named(r: redis.Redis, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-unit rows with each unit's name (its id when it has none): people read names."""
    names = kpi_days.unit_names(r, [str(row["unit"]) for row in rows])
    return [{**row, "name": names.get(str(row["unit"]), str(row["unit"]))} for row in rows]


def kpi_report(
    r: redis.Redis,
    cov: CoverageGeography,
    from_ms: int,
    to_ms: int,
    department: str | None,
    subdistrict: str | None,
    now: int,
    rules: DispatchRules,
) -> dict[str, Any]:
    department = _check(department, Department, "department")
    subdistrict = _check(subdistrict, Subdistrict, "subdistrict")
    days = local_days(from_ms, to_ms)
    figures = kpi_daily.figures(
        kpi_daily.pick(
            incident_tables(r, days, from_ms, to_ms, now, rules), department, subdistrict
        )
    )
    rate, times, work = (figures[k] for k in ("handling_rate", "response_times", "workload"))
    cov_rows = kpis.coverage_by_day(
        coverage.daily_visited(r, days, departments=[department] if department else []),
        cov.places.values(),
    )
    # a day the system did not run has no figures ("no data"), never 0 %
    ran = kpi_days.ran_days(r, days)
    scope = cov_rows["scope"] == (subdistrict or "district")
    cov_rows = cov_rows[scope & cov_rows["day"].isin(ran)].copy()
    # a day not over yet is a partial figure: a multi-day average leaves it out
    ended = {d for d in days if day_bounds_ms(d)[1] <= now}
    cov_rows["complete"] = cov_rows["day"].isin(ended)
    stored = kpi_days.stored_days(r, days)
    on_duty = _on_duty(r, days, stored, from_ms, to_ms)
    on_duty = on_duty[on_duty["hour_ms"].map(local_day).isin(ran)]
    water = _water(r, days, stored, subdistrict)
    return {
        "from_ms": from_ms,
        "to_ms": to_ms,
        "generated_ms": now,
        "days": days,
        "days_without_data": [d for d in days if d not in ran],
        "filters": {"department": department, "subdistrict": subdistrict},
        "incidents": {"n": figures["n"], "simulated": figures["simulated"]},
        "handling_rate": {
            "overall": rate["overall"],
            **{
                k: kpi_days.frame_rows(rate[k])
                for k in ("by_source", "by_department", "by_subdistrict")
            },
        },
        "response_times": {
            "intervals": times["intervals"],
            "deadlines": times["deadlines"],
            "trend": kpi_days.frame_rows(times["trend"]),
            "deadline_trend": kpi_days.frame_rows(times["deadline_trend"]),
            # field-report times taken from a track-supported claim; claims refused
            "times_by_track": times["times_by_track"],
            "times_flagged": times["times_flagged"],
        },
        "workload": {
            "n": work["n"],
            "n_without_units": work["n_without_units"],
            "per_unit": _named(r, kpi_days.frame_rows(work["per_unit"])),
            "per_department": kpi_days.frame_rows(work["per_department"]),
        },
        "on_duty": kpi_days.frame_rows(on_duty),
        "coverage": kpi_days.frame_rows(cov_rows),
        "water": {k: kpi_days.frame_rows(v) for k, v in water.items()},
        "closed_days": {d: v["source"] for d, v in stored.items()},
    }


def report(
    ctx: AppContext,
    from_ms: int,
    to_ms: int,
    department: str | None,
    subdistrict: str | None,
    now: int,
) -> dict[str, Any]:
    """`kpi_report` for [from_ms, to_ms) as of `now` (the page's chosen period)."""
    return kpi_report(
        ctx.redis, ctx.coverage, from_ms, to_ms, department, subdistrict, now, ctx.rules
    )


def query_report(
    ctx: AppContext,
    from_arg: str | None,
    to_arg: str | None,
    department: str | None,
    subdistrict: str | None,
) -> dict[str, Any]:
    """The report for a period given as dates, times or epoch ms (GET /api/v1/kpis)."""
    now = ctx.now_ms()
    from_ms, to_ms = period(from_arg, to_arg, now)
    return report(ctx, from_ms, to_ms, department, subdistrict, now)
