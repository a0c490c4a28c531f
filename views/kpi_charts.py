"""The KPI page's charts. Each chart is a table (the exact rows its CSV exports) and a plotly
figure drawn from that table, so the picture and the export cannot disagree. Pure: no callbacks,
no Redis; built from `services.kpis.report`.

Colours are fixed per meaning across the page: one per response interval (and its deadline),
one per place kind (as the coverage page), one per water kind; the bureau's 100% target is a
dashed green line wherever a share is drawn.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.i18n import t
from domain.coverage_places import PLACE_KINDS
from views import csv_export
from views.coverage import KIND_COLOURS
from views.kpi import INTERVAL_KEYS, iso_day

FONT = '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif'
INK, GRID, BAR, PALE = "#14202e", "#e3e8ee", "#1f5fa8", "#9ecae1"
TARGET_COLOUR = "#1a9641"
INTERVAL_COLOURS = dict(zip(INTERVAL_KEYS, ("#1f5fa8", "#d95f02", "#7570b3"), strict=True))
DEADLINE_COLOURS = {"assign": "#1f5fa8", "arrive": "#d95f02", "handle": "#7570b3"}
WATER_COLOURS = {"seawater": "#1f78b4", "surface_water": "#33a02c"}
TOP_UNITS = 15


@dataclass(frozen=True)
class Table:
    columns: list[tuple[str, str]]  # (row key, translation key of its header)
    rows: list[dict[str, Any]]


def _label(group: str, value: str, lang: str) -> str:
    if value in ("", "unknown"):
        return t("kpis.unknown", lang)
    prefix = {"source": "incident.source", "department": "dept", "subdistrict": "subdistrict"}[
        group
    ]
    key = f"{prefix}.{value}"
    label = t(key, lang)
    return value if label == key else label  # a value the table does not know: as it is


def _pct(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 1)


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


# -- tables --------------------------------------------------------------------------------------

RATE_COLUMNS = [
    ("label", "kpis.col.group"),
    ("n", "kpis.col.received"),
    ("handled_in_time", "kpis.col.in_time"),
    ("handled_late", "kpis.col.late"),
    ("overdue", "kpis.col.overdue"),
    ("pending", "kpis.col.pending"),
    ("rejected", "kpis.col.rejected"),
    ("transferred", "kpis.col.transferred"),
    ("rate_pct", "kpis.col.rate_pct"),
]


def _rate_table(group: str) -> Callable[[Mapping[str, Any], str], Table]:
    def table(rep: Mapping[str, Any], lang: str) -> Table:
        rows = [
            {
                **{k: r[k] for k, _h in RATE_COLUMNS if k in r},
                "label": _label(group, r[group], lang),
                "rate_pct": _pct(r["rate"]),
            }
            for r in rep["handling_rate"][f"by_{group}"]
        ]
        return Table(RATE_COLUMNS, rows)

    return table


def times_table(rep: Mapping[str, Any], lang: str) -> Table:
    rows = [
        {
            "day": iso_day(r["day"]),
            "interval": t(f"kpis.interval.{r['interval']}", lang),
            "key": r["interval"],
            "n": r["n"],
            "median_min": _minutes(r["median_s"]),
            "p90_min": _minutes(r["p90_s"]),
        }
        for r in rep["response_times"]["trend"]
    ]
    return Table(
        [
            ("day", "kpis.col.day"),
            ("interval", "kpis.col.interval"),
            ("n", "kpis.col.n"),
            ("median_min", "kpis.col.median_min"),
            ("p90_min", "kpis.col.p90_min"),
        ],
        rows,
    )


def deadlines_table(rep: Mapping[str, Any], lang: str) -> Table:
    rows = [
        {
            "day": iso_day(r["day"]),
            "deadline": t(f"kpis.deadline.{r['deadline']}", lang),
            "key": r["deadline"],
            "n": r["n"],
            "missed": r["missed"],
            "share_pct": _pct(r["share_missed"]),
        }
        for r in rep["response_times"]["deadline_trend"]
    ]
    return Table(
        [
            ("day", "kpis.col.day"),
            ("deadline", "kpis.col.deadline"),
            ("n", "kpis.col.n"),
            ("missed", "kpis.col.missed"),
            ("share_pct", "kpis.col.missed_pct"),
        ],
        rows,
    )


def coverage_table(rep: Mapping[str, Any], lang: str) -> Table:
    rows = [
        {
            "day": iso_day(r["day"]),
            "kind": t(f"coverage.place.{r['kind']}", lang),
            "key": r["kind"],
            "covered": r["covered"],
            "total": r["total"],
            "percent": None if r.get("percent") is None else round(r["percent"], 1),
        }
        for r in rep["coverage"]
    ]
    return Table(
        [
            ("day", "kpis.col.day"),
            ("kind", "kpis.col.kind"),
            ("covered", "kpis.col.covered"),
            ("total", "kpis.col.total"),
            ("percent", "kpis.col.coverage_pct"),
        ],
        rows,
    )


def departments_table(rep: Mapping[str, Any], lang: str) -> Table:
    rows = [
        {
            "department": _label("department", r["department"], lang),
            "lead": r["lead"],
            "involved": r["involved"],
        }
        for r in rep["workload"]["per_department"]
    ]
    return Table(
        [
            ("department", "kpis.col.department"),
            ("lead", "kpis.col.lead"),
            ("involved", "kpis.col.involved"),
        ],
        rows,
    )


def units_table(rep: Mapping[str, Any], _lang: str) -> Table:
    rows = [dict(r) for r in rep["workload"]["per_unit"][:TOP_UNITS]]
    for r in rows:  # the name people know the unit by; a report from before names: its id
        r.setdefault("name", r["unit"])
    columns = [("name", "kpis.col.unit_name"), ("unit", "kpis.col.unit")]
    return Table([*columns, ("incidents", "kpis.col.incidents")], rows)


def on_duty_table(rep: Mapping[str, Any], _lang: str) -> Table:
    rows = [
        {
            "hour": f"{iso_day(r['local_hour'][:8])}{r['local_hour'][8:]}",
            "units": r["units"],
            "unit_hours": round(float(r["unit_hours"]), 2),
        }
        for r in rep["on_duty"]
    ]
    return Table(
        [
            ("hour", "kpis.col.hour"),
            ("units", "kpis.col.units_on_duty"),
            ("unit_hours", "kpis.col.unit_hours"),
        ],
        rows,
    )


def water_points_table(rep: Mapping[str, Any], lang: str) -> Table:
    pts = sorted(rep["water"]["points"], key=lambda p: (p["kind"] != "seawater", p["name"]))
    rows = [
        {
            "name": p["name"],
            "sensor_id": p["sensor_id"],
            "kind": t(f"kpis.water.{p['kind']}", lang),
            "key": p["kind"],
            "water_class": p["water_class"],
            "subdistrict": _label("subdistrict", p["subdistrict"], lang),
            "n": p["n"],
            "within": p["within"],
            "share_pct": _pct(p["share"]),
            "days": p["days"],
            "days_within": p["days_within"],
            "day_share_pct": _pct(p["day_share"]),
        }
        for p in pts
    ]
    return Table(
        [
            ("name", "kpis.col.point"),
            ("sensor_id", "kpis.col.sensor"),
            ("kind", "kpis.col.kind"),
            ("water_class", "kpis.col.class"),
            ("subdistrict", "kpis.col.subdistrict"),
            ("n", "kpis.col.readings"),
            ("within", "kpis.col.within"),
            ("share_pct", "kpis.col.within_pct"),
            ("days", "kpis.col.days"),
            ("days_within", "kpis.col.days_within"),
            ("day_share_pct", "kpis.col.days_within_pct"),
        ],
        rows,
    )


def water_breaches_table(rep: Mapping[str, Any], _lang: str) -> Table:
    days: dict[str, dict[str, Any]] = {}
    for r in rep["water"]["breaches_by_day"]:
        kind = r["kind"] if r["kind"] in WATER_COLOURS else "surface_water"
        row = days.setdefault(
            r["day"],
            {
                "day": iso_day(r["day"]),
                "seawater_n": 0,
                "seawater_breaches": 0,
                "surface_water_n": 0,
                "surface_water_breaches": 0,
            },
        )
        row[f"{kind}_n"] += int(r["n"])
        row[f"{kind}_breaches"] += int(r["breaches"])
    return Table(
        [
            ("day", "kpis.col.day"),
            ("seawater_n", "kpis.col.sea_readings"),
            ("seawater_breaches", "kpis.col.sea_breaches"),
            ("surface_water_n", "kpis.col.inland_readings"),
            ("surface_water_breaches", "kpis.col.inland_breaches"),
        ],
        [days[d] for d in sorted(days)],
    )


# -- figures -------------------------------------------------------------------------------------


def _style(fig: go.Figure, height: int, **layout: Any) -> go.Figure:
    fig.update_layout(
        {
            "height": height,
            "margin": {"l": 60, "r": 16, "t": 16, "b": 40},
            "paper_bgcolor": "#ffffff",
            "plot_bgcolor": "#ffffff",
            "font": {"family": FONT, "size": 15, "color": INK},
            "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
            "hoverlabel": {"font": {"size": 15}},
            **layout,
        }
    )
    fig.update_xaxes(gridcolor=GRID, automargin=True)
    fig.update_yaxes(gridcolor=GRID, automargin=True, rangemode="tozero")
    return fig


def _target(fig: go.Figure, lang: str, horizontal: bool = True, **where: Any) -> None:
    line = {"color": TARGET_COLOUR, "dash": "dash", "width": 2}
    font = {"size": 14, "color": "#14461f"}
    if horizontal:
        fig.add_hline(
            y=100,
            line=line,
            annotation_text=t("kpis.target", lang),
            annotation_position="top left",
            annotation_font=font,
            **where,
        )
    else:
        fig.add_vline(
            x=100,
            line=line,
            annotation_text=t("kpis.target", lang),
            annotation_position="top",
            annotation_font=font,
            **where,
        )


def rate_figure(table: Table, lang: str) -> go.Figure:
    rows = table.rows
    fig = go.Figure(
        go.Bar(
            x=[r["label"] for r in rows],
            y=[r["rate_pct"] for r in rows],
            marker_color=BAR,
            text=[
                f"{'—' if r['rate_pct'] is None else r['rate_pct']}%<br>n={r['n']}" for r in rows
            ],
            textposition="inside",
            insidetextanchor="end",
            textfont={"size": 15, "color": "#ffffff"},
            customdata=[[r["n"], r["handled_in_time"], r["overdue"], r["pending"]] for r in rows],
            hovertemplate=t("kpis.hover.rate", lang) + "<extra></extra>",
        )
    )
    _target(fig, lang)
    return _style(fig, 300, yaxis={"range": [0, 112], "ticksuffix": "%"}, showlegend=False)


def times_figure(table: Table, lang: str) -> go.Figure:
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.09,
        subplot_titles=[t(f"kpis.interval.{k}", lang) for k in INTERVAL_KEYS],
    )
    for row, key in enumerate(INTERVAL_KEYS, start=1):
        part = [r for r in table.rows if r["key"] == key]
        for stat, dash, name in (
            ("median_min", "solid", "kpis.median"),
            ("p90_min", "dot", "kpis.p90"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=[r["day"] for r in part],
                    y=[r[stat] for r in part],
                    name=t(name, lang),
                    legendgroup=stat,
                    showlegend=row == 1,
                    mode="lines+markers",
                    marker={"size": 6},
                    line={"color": INTERVAL_COLOURS[key], "dash": dash, "width": 3},
                    customdata=[r["n"] for r in part],
                    hovertemplate="%{x}: %{y:.1f} "
                    + t("kpis.minutes", lang)
                    + " (n=%{customdata})<extra>"
                    + t(name, lang)
                    + "</extra>",
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(title_text=t("kpis.minutes", lang), row=row, col=1)
    fig.update_annotations(font={"size": 16})
    return _style(fig, 560, legend={"orientation": "h", "y": 1.06, "x": 1, "xanchor": "right"})


def _lines(
    table: Table,
    keys: tuple[str, ...],
    value: str,
    colours: Mapping[str, str],
    name_of: Callable[[str], str],
    n_col: str,
    lang: str,
) -> go.Figure:
    fig = go.Figure()
    for key in keys:
        part = [r for r in table.rows if r["key"] == key]
        fig.add_trace(
            go.Scatter(
                x=[r["day"] for r in part],
                y=[r[value] for r in part],
                name=name_of(key),
                mode="lines+markers",
                line={"color": colours[key], "width": 3},
                marker={"size": 7},
                customdata=[r[n_col] for r in part],
                hovertemplate="%{x}: %{y:.1f}% (n=%{customdata})<extra>%{fullData.name}</extra>",
            )
        )
    return fig


def deadlines_figure(table: Table, lang: str) -> go.Figure:
    fig = _lines(
        table,
        tuple(DEADLINE_COLOURS),
        "share_pct",
        DEADLINE_COLOURS,
        lambda k: t(f"kpis.deadline.{k}", lang),
        "n",
        lang,
    )
    return _style(fig, 300, yaxis={"ticksuffix": "%"})


def coverage_figure(table: Table, lang: str) -> go.Figure:
    fig = _lines(
        table,
        PLACE_KINDS,
        "percent",
        KIND_COLOURS,
        lambda k: t(f"coverage.figure.{k}", lang),
        "total",
        lang,
    )
    _target(fig, lang)
    return _style(fig, 300, yaxis={"range": [0, 112], "ticksuffix": "%"})


def departments_figure(table: Table, lang: str) -> go.Figure:
    fig = go.Figure()
    for key, colour in (("lead", BAR), ("involved", PALE)):
        fig.add_trace(
            go.Bar(
                x=[r["department"] for r in table.rows],
                y=[r[key] for r in table.rows],
                name=t(f"kpis.col.{key}", lang),
                marker_color=colour,
                text=[r[key] for r in table.rows],
                textposition="outside",
                cliponaxis=False,
            )
        )
    return _style(fig, 300, barmode="group")


def units_figure(table: Table, lang: str) -> go.Figure:
    rows = table.rows[::-1]  # the busiest at the top
    fig = go.Figure(
        go.Bar(
            y=[r["name"] for r in rows],
            x=[r["incidents"] for r in rows],
            orientation="h",
            marker_color=BAR,
            text=[r["incidents"] for r in rows],
            textposition="outside",
            cliponaxis=False,
            name=t("kpis.col.incidents", lang),
        )
    )
    return _style(fig, max(260, 60 + 24 * len(rows)), showlegend=False, yaxis={"type": "category"})


def on_duty_figure(table: Table, lang: str) -> go.Figure:
    fig = go.Figure()
    for key, colour in (("units", BAR), ("unit_hours", "#d95f02")):
        fig.add_trace(
            go.Scatter(
                x=[r["hour"] for r in table.rows],
                y=[r[key] for r in table.rows],
                mode="lines",
                line={"color": colour, "width": 2, "shape": "hv"},
                name=t(
                    f"kpis.col.{key}" if key == "unit_hours" else "kpis.col.units_on_duty", lang
                ),
            )
        )
    return _style(fig, 300)


def water_points_figure(table: Table, lang: str) -> go.Figure:
    rows = table.rows[::-1]  # near-shore points at the top
    names = [f"{r['name']} ({r['water_class']})" for r in rows]
    fig = go.Figure()
    for key, n_key, colour, name in (
        ("share_pct", "n", BAR, "kpis.water.readings_within"),
        ("day_share_pct", "days", PALE, "kpis.water.days_within"),
    ):
        fig.add_trace(
            go.Bar(
                y=names,
                x=[r[key] for r in rows],
                orientation="h",
                marker_color=colour,
                name=t(name, lang),
                customdata=[r[n_key] for r in rows],
                text=[f"{'—' if r[key] is None else r[key]}%" for r in rows],
                textposition="outside",
                cliponaxis=False,
                textfont={"size": 14},
                hovertemplate="%{y}: %{x:.1f}% (n=%{customdata})<extra>%{fullData.name}</extra>",
            )
        )
    _target(fig, lang, horizontal=False)
    return _style(
        fig,
        max(300, 90 + 52 * len(rows)),
        barmode="group",
        bargap=0.25,
        xaxis={"range": [0, 112], "ticksuffix": "%"},
        yaxis={"type": "category"},
    )


def water_breaches_figure(table: Table, lang: str) -> go.Figure:
    fig = go.Figure()
    for kind, colour in WATER_COLOURS.items():
        fig.add_trace(
            go.Bar(
                x=[r["day"] for r in table.rows],
                y=[r[f"{kind}_breaches"] for r in table.rows],
                customdata=[r[f"{kind}_n"] for r in table.rows],
                name=t(f"kpis.water.{kind}", lang),
                marker_color=colour,
                hovertemplate="%{x}: %{y} / %{customdata}<extra>%{fullData.name}</extra>",
            )
        )
    return _style(fig, 300, barmode="group")


CHARTS: dict[
    str, tuple[Callable[[Mapping[str, Any], str], Table], Callable[[Table, str], go.Figure]]
] = {  # in the page's order
    "rate_source": (_rate_table("source"), rate_figure),
    "rate_department": (_rate_table("department"), rate_figure),
    "rate_subdistrict": (_rate_table("subdistrict"), rate_figure),
    "deadlines": (deadlines_table, deadlines_figure),
    "times": (times_table, times_figure),
    "coverage": (coverage_table, coverage_figure),
    "departments": (departments_table, departments_figure),
    "units": (units_table, units_figure),
    "water_breaches": (water_breaches_table, water_breaches_figure),
    "on_duty": (on_duty_table, on_duty_figure),
    "water_points": (water_points_table, water_points_figure),
}


def chart_table(name: str, rep: Mapping[str, Any], lang: str) -> Table:
    return CHARTS[name][0](rep, lang)


def chart_figure(name: str, rep: Mapping[str, Any], lang: str) -> go.Figure:
    """A chart, or "no data" when it has nothing to show (not bare axes); a trend by day ticks
    once a day, so a one-day period reads as its date, not as milliseconds."""
    table_of, figure_of = CHARTS[name]
    table = table_of(rep, lang)
    if not table.rows:
        return _no_data(lang)
    fig = figure_of(table, lang)
    days = sorted({x for tr in fig.data for x in (getattr(tr, "x", None) or ()) if _is_day(x)})
    if days:
        first, last = dt.date.fromisoformat(days[0]), dt.date.fromisoformat(days[-1])
        half = dt.timedelta(hours=12)
        fig.update_xaxes(
            type="date",
            tickformat="%m-%d",
            dtick=DAY_MS if len(days) <= 14 else None,
            range=[
                str(dt.datetime.combine(first, dt.time()) - half),
                str(dt.datetime.combine(last, dt.time()) + half),
            ],
        )
    return fig


DAY_MS = 86_400_000


def _is_day(x: Any) -> bool:
    return isinstance(x, str) and len(x) == 10 and x[4] == "-" and x[7] == "-"


def _no_data(lang: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=t("kpis.no_data", lang),
        showarrow=False,
        font={"size": 18, "color": "#5b6b7b"},
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, 160)


def chart_n(name: str, rep: Mapping[str, Any]) -> tuple[str, int]:
    """Over how many cases a chart is computed, and the translation key that says of what:
    received incidents, reported incidents, places (per day), hours, readings."""
    if name.startswith("rate_"):
        return "kpis.n.received", int(rep["handling_rate"]["overall"]["n"])
    if name in ("times", "deadlines", "departments", "units"):
        return "kpis.n.incidents", int(rep["incidents"]["n"])
    if name == "coverage":
        last = rep["coverage"][-1]["day"] if rep["coverage"] else ""
        return "kpis.n.places", sum(int(r["total"]) for r in rep["coverage"] if r["day"] == last)
    if name == "on_duty":
        return "kpis.n.hours", len(rep["on_duty"])
    return "kpis.n.readings", sum(int(p["n"]) for p in rep["water"]["points"])


def table_csv(table: Table, lang: str) -> str:
    """A chart's table as CSV (views/csv_export.py), headers in the page's language."""
    return csv_export.write(
        [t(header, lang) for _key, header in table.columns],
        ([row.get(key) for key, _header in table.columns] for row in table.rows),
    )
