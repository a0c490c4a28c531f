"""The KPI page's period, headline figures and tiles, built from
`services.kpis.report`. Pure: no callbacks, no Redis.

A period is whole local days (UTC+8) up to now: today, the last 7 or 30 days counting today, or
a custom range of dates (capped at now: a day still to come has nothing to count and would
lower every per-day average).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from dash import html

from dashboard.i18n import t
from domain.coverage_places import PLACE_KINDS
from domain.vocab import LOCAL_TZ

PERIODS = ("today", "7d", "30d", "custom")
PERIOD_DAYS = {"today": 1, "7d": 7, "30d": 30}
DEFAULT_PERIOD = "7d"
MAX_DAYS = 400  # as the API
DAY_MS = 86_400_000
NEAR_TARGET = 0.9  # from here a rate reads as close to its 100% target (amber), as coverage
INTERVAL_KEYS = ("report_to_assigned_s", "assigned_to_on_scene_s", "on_scene_to_handled_s")


def _midnight(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), LOCAL_TZ).timestamp() * 1000)


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def local_today(now_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(now_ms / 1000, LOCAL_TZ).date()


def period_bounds(period: Any, start: Any, end: Any, now_ms: int) -> tuple[int, int]:
    """[from, to) in ms of a period choice; anything odd (forged, missing dates) gives the
    default period. A custom range runs from its first date's midnight to the end of its last
    date or now, whichever is first."""
    today = local_today(now_ms)
    if period == "custom":
        first, last = _date(start), _date(end)
        if first is not None and last is not None:
            first, last = min(first, last, today), min(max(first, last), today)
            first = max(first, last - dt.timedelta(days=MAX_DAYS - 1))
            return _midnight(first), min(_midnight(last + dt.timedelta(days=1)), now_ms)
        period = DEFAULT_PERIOD
    days = PERIOD_DAYS.get(period, PERIOD_DAYS[DEFAULT_PERIOD])
    return _midnight(today - dt.timedelta(days=days - 1)), now_ms


def period_dates(period: Any, now_ms: int) -> tuple[str, str]:
    """The first and last local dates of a preset period (what the date picker shows)."""
    today = local_today(now_ms)
    days = PERIOD_DAYS.get(period, PERIOD_DAYS[DEFAULT_PERIOD])
    return str(today - dt.timedelta(days=days - 1)), str(today)


def stamp(ms: int, seconds: bool = False) -> str:
    d = dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ)
    return d.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def iso_day(day: str) -> str:
    """YYYYMMDD (the store's day key) as YYYY-MM-DD (what spreadsheets and plotly read)."""
    return f"{day[:4]}-{day[4:6]}-{day[6:8]}" if len(day) == 8 else day


# -- formatting ----------------------------------------------------------------------------------


def percent(share: float | None, digits: int = 0) -> str:
    return "—" if share is None else f"{100 * share:.{digits}f}%"


def duration(seconds: float | None, lang: str) -> str:
    """A response time as people say it: seconds, minutes or hours, one decimal."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return t("kpis.unit.s", lang).format(v=f"{seconds:.0f}")
    if seconds < 3600:
        return t("kpis.unit.min", lang).format(v=f"{seconds / 60:.1f}")
    return t("kpis.unit.h", lang).format(v=f"{seconds / 3600:.1f}")


def level_class(share: float | None) -> str:
    """How a share reads against its 100% target: met, near, low (or none: nothing to judge)."""
    if share is None:
        return "ec-kpi-none"
    if share >= 1:
        return "ec-kpi-met"
    return "ec-kpi-near" if share >= NEAR_TARGET else "ec-kpi-low"


# -- the headline numbers ------------------------------------------------------------------------


def coverage_average(rows: Sequence[Mapping[str, Any]], kind: str) -> dict[str, Any]:
    """Average daily coverage of one place kind over the period's days (share 0..1), with the
    number of days and the average places covered of the total. Days that are over count;
    today alone only when the period has no other day (it is still being patrolled)."""
    days = [r for r in rows if r.get("kind") == kind and r.get("total")]
    ended = [r for r in days if r.get("complete", True)]
    days = ended or days
    if not days:
        return {"share": None, "days": 0, "covered": None, "total": 0}
    return {
        "share": sum(r["covered"] / r["total"] for r in days) / len(days),
        "days": len(days),
        "covered": sum(r["covered"] for r in days) / len(days),
        "total": days[-1]["total"],
    }


def water_summary(points: Sequence[Mapping[str, Any]], kind: str = "seawater") -> dict[str, Any]:
    """Readings and days within class over the points of a kind (near shore: seawater)."""
    pts = [p for p in points if p.get("kind") == kind]
    n, within = sum(int(p["n"]) for p in pts), sum(int(p["within"]) for p in pts)
    days, days_within = (sum(int(p["days"]) for p in pts), sum(int(p["days_within"]) for p in pts))
    return {
        "points": len(pts),
        "n": n,
        "within": within,
        "share": within / n if n else None,
        "days": days,
        "days_within": days_within,
        "day_share": days_within / days if days else None,
    }


def headline(rep: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers of the tiles, from a report."""
    times = {i["interval"]: i for i in rep["response_times"]["intervals"]}
    return {
        "rate": rep["handling_rate"]["overall"],
        "intervals": [
            times.get(k) or {"interval": k, "n": 0, "median_s": None, "p90_s": None}
            for k in INTERVAL_KEYS
        ],
        "deadlines": rep["response_times"]["deadlines"],
        "claims": {k: rep["response_times"].get(k, 0) for k in ("times_by_track", "times_flagged")},
        "coverage": {k: coverage_average(rep["coverage"], k) for k in PLACE_KINDS},
        "water": water_summary(rep["water"]["points"]),
        "incidents": rep["incidents"],
    }


def _value(text: str) -> list[Any]:
    """A tile's number large, its unit ("分钟", "h") smaller beside it."""
    number, _sep, unit = text.partition(" ")
    return [number, html.Span(unit, className="ec-kpi-unit")] if unit else [number]


def _tile(key: str, label: str, value: str, lines: list[Any], level: str, tip: str) -> html.Div:
    return html.Div(
        [
            html.Div(label, className="ec-kpi-tile-label"),
            html.Div(_value(value), className="ec-kpi-tile-value"),
            *[html.Div(line, className="ec-kpi-tile-line") for line in lines],
        ],
        className=f"ec-kpi-tile ec-kpi-tile-{key} {level}",
        title=tip,
    )


def _days_line(days: int, without: int, lang: str) -> str:
    """Over how many days an average is, and how many of the period's days have no data (the
    system did not run: not counted, never 0 %)."""
    if days == 0:
        line = t("kpis.no_data", lang)
    elif days == 1:
        line = t("kpis.one_day", lang)
    else:
        line = t("kpis.days_avg", lang).format(days=days)
    if without:
        line += " · " + t("kpis.days_without_data", lang).format(n=without)
    return line


def tiles_view(rep: Mapping[str, Any], lang: str) -> list[html.Div]:
    """Large tiles: handling rate, the three response times, deadlines, coverage, water."""
    h = headline(rep)
    rate = h["rate"]
    target = t("kpis.target", lang)
    out = [
        _tile(
            "rate",
            t("kpis.tile.rate", lang),
            percent(rate["rate"], 1),
            [
                html.Span(
                    [
                        html.B(target, className="ec-kpi-target"),
                        " · ",
                        t("kpis.n_received", lang).format(n=rate["n"]),
                    ]
                ),
                t("kpis.open", lang).format(pending=rate["pending"], overdue=rate["overdue"]),
            ],
            level_class(rate["rate"]),
            t("kpis.def.rate", lang),
        )
    ]
    for i in h["intervals"]:
        out.append(
            _tile(
                i["interval"],
                t(f"kpis.interval.{i['interval']}", lang),
                duration(i["median_s"], lang),
                [
                    t("kpis.median_p90", lang).format(p90=duration(i["p90_s"], lang)),
                    t("kpis.n_cases", lang).format(n=i["n"]),
                ],
                "ec-kpi-plain",
                t("kpis.def.interval", lang),
            )
        )
    out.append(
        _tile(
            "deadlines",
            t("kpis.tile.deadlines", lang),
            "",
            [
                html.Span(
                    [
                        html.Span(
                            t(f"kpis.deadline.{d['deadline']}", lang), className="ec-kpi-dl-name"
                        ),
                        html.B(percent(d["share_missed"], 1), className="ec-kpi-dl-value"),
                        html.Span(f"n = {d['n']}", className="ec-kpi-dl-n"),
                    ],
                    className="ec-kpi-dl",
                )
                for d in h["deadlines"]
            ]
            + [t("kpis.claims", lang).format(**h["claims"])],
            "ec-kpi-plain",
            t("kpis.def.deadlines", lang),
        )
    )
    for kind, c in h["coverage"].items():
        out.append(
            _tile(
                f"coverage-{kind}",
                t(f"coverage.figure.{kind}", lang),
                percent(c["share"]),
                [
                    html.Span(
                        [
                            html.B(target, className="ec-kpi-target"),
                            " · ",
                            _days_line(c["days"], len(rep.get("days_without_data", [])), lang),
                        ]
                    ),
                    t("kpis.places_avg", lang).format(
                        covered="—" if c["covered"] is None else f"{c['covered']:.0f}",
                        total=c["total"],
                    ),
                ],
                level_class(c["share"]),
                t("kpis.def.coverage", lang),
            )
        )
    w = h["water"]
    out.append(
        _tile(
            "water",
            t("kpis.tile.water", lang),
            percent(w["share"], 1),
            [
                t("kpis.water_n", lang).format(n=w["n"], points=w["points"]),
                t("kpis.water_days", lang).format(within=w["days_within"], days=w["days"]),
            ],
            level_class(w["share"]),
            t("kpis.def.water", lang),
        )
    )
    return out


def simulated_note(rep: Mapping[str, Any], lang: str) -> str:
    n = int(rep["incidents"].get("simulated") or 0)
    return t("kpis.simulated", lang).format(n=n) if n else ""
