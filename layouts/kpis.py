"""The leadership KPI page at `/kpis` (leaders, admins; duty chiefs may view): the bureau's own
figures over a period (today, 7 days, 30 days, a date range) for one department and/or
sub-district or all: headline tiles, then charts, each with its definition, its n and a CSV
export of exactly its data. "Report" prints the page as a dated report (assets/kpis.js; the
print stylesheet is in assets/kpis.css). `/kpis?wall=1` is the wall screen: the tiles only,
large, dark; `?period=30d` (or today, 7d) picks the period of either, and on the wall
`&department=` / `&subdistrict=` its filters (a kiosk is set up by its URL).

Built for the viewer when opened: labels and options in their language. The figures come from
one refresh callback (callbacks/kpis.py) answering the page's query through
`services.kpis.report`, the same answer as GET /api/v1/kpis.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from dashboard.context import app_context
from dashboard.i18n import options, t
from dashboard.viewer import Viewer
from domain.vocab import Department, Subdistrict
from layouts.shell import is_wall
from views.kpi import DEFAULT_PERIOD, PERIODS, local_today, period_dates
from views.kpi_charts import CHARTS

REFRESH_MS = 60_000
# pattern-matching id types of each chart's parts: {"type": ..., "chart": <one of CHARTS>}
CSV_TYPE, HEAD_TYPE, GRAPH_TYPE = "kpi-csv", "kpi-head", "kpi-graph"


class Ids(StrEnum):
    UPDATED = "kpi-updated"
    TICK = "kpi-tick"
    SIGNATURE = "kpi-signature"
    PERIOD = "kpi-period"
    PERIOD_LABEL = "kpi-period-label"
    DATES = "kpi-dates"
    DEPARTMENT = "kpi-department"
    DEPARTMENT_LABEL = "kpi-department-label"
    SUBDISTRICT = "kpi-subdistrict"
    SUBDISTRICT_LABEL = "kpi-subdistrict-label"
    REPORT = "kpi-report"
    TITLE = "kpi-title"
    META = "kpi-meta"
    SIMULATED = "kpi-simulated"
    TILES = "kpi-tiles"
    DOWNLOAD = "kpi-download"


def head_id(chart: str) -> dict[str, str]:
    return {"type": HEAD_TYPE, "chart": chart}


def graph_id(chart: str) -> dict[str, str]:
    return {"type": GRAPH_TYPE, "chart": chart}


def csv_id(chart: str) -> dict[str, str]:
    return {"type": CSV_TYPE, "chart": chart}


DEPARTMENTS = frozenset(d.value for d in Department)
SUBDISTRICTS = frozenset(d.value for d in Subdistrict)


def _control(label: str, ident: Ids, control: object) -> html.Div:
    return html.Div(
        [html.Label(label, id=ident, className="ec-filter-label"), control],
        className="ec-kpi-control",
    )


def controls(
    lang: str,
    period: str,
    wall: bool = False,
    department: str | None = None,
    subdistrict: str | None = None,
) -> html.Div:
    """The filters. A desk browser keeps the last ones chosen; a wall screen takes them from
    its URL only (`?wall=1&period=today&department=forestry&subdistrict=nanao`), so what a
    kiosk shows never depends on what someone chose there before."""
    now = app_context().now_ms()
    today = local_today(now)
    first, last = period_dates(period, now)
    keep = {"persistence": not wall, "persistence_type": "local"}
    return html.Div(
        [
            _control(
                t("kpis.period", lang),
                Ids.PERIOD_LABEL,
                html.Div(
                    [
                        dcc.RadioItems(
                            id=Ids.PERIOD,
                            options=options("kpis.period", PERIODS, lang),
                            value=period,
                            inline=True,
                            **keep,
                            className="ec-kpi-period",
                        ),
                        dcc.DatePickerRange(
                            id=Ids.DATES,
                            start_date=first,
                            end_date=last,
                            max_date_allowed=str(today),
                            display_format="YYYY-MM-DD",
                            first_day_of_week=1,
                            minimum_nights=0,
                            className="ec-kpi-dates",
                        ),
                    ],
                    className="ec-kpi-period-row",
                ),
            ),
            # options from the start: a dropdown whose value is not among its options drops it,
            # and a wall's filter would be lost
            _control(
                t("kpis.department", lang),
                Ids.DEPARTMENT_LABEL,
                dcc.Dropdown(
                    id=Ids.DEPARTMENT,
                    value=department,
                    options=options("dept", Department, lang),
                    placeholder=t("kpis.all", lang),
                    **keep,
                    className="ec-filter",
                ),
            ),
            _control(
                t("kpis.subdistrict", lang),
                Ids.SUBDISTRICT_LABEL,
                dcc.Dropdown(
                    id=Ids.SUBDISTRICT,
                    value=subdistrict,
                    options=options("subdistrict", Subdistrict, lang),
                    placeholder=t("kpis.all", lang),
                    **keep,
                    className="ec-filter",
                ),
            ),
            # prints the page: assets/kpis.js (no callback: nothing to ask the server)
            html.Button(
                t("kpis.report", lang), id=Ids.REPORT, className="ec-button ec-kpi-report-button"
            ),
        ],
        className="ec-kpi-controls",
    )


def chart_card(chart: str) -> html.Section:
    return html.Section(
        [
            html.Div(
                [
                    html.Div(id=head_id(chart), className="ec-kpi-head"),
                    html.Button("⤓ CSV", id=csv_id(chart), className="ec-button ec-kpi-csv"),
                ],
                className="ec-kpi-head-row",
            ),
            dcc.Graph(
                id=graph_id(chart), config={"displayModeBar": False}, className="ec-kpi-graph"
            ),
        ],
        className=f"ec-kpi-card ec-kpi-chart-{chart}",
    )


def slot(_viewer: Viewer, _params: dict[str, str]) -> list[html.Div]:
    return [html.Div(id=Ids.UPDATED, className="ec-freshness")]


def _choice(value: str | None, known: frozenset[str]) -> str | None:
    return value if value in known else None


def body(viewer: Viewer, params: dict[str, str]) -> html.Div:
    """The report; on a wall screen its tiles only (no charts, nothing to export)."""
    wall = is_wall(params)
    period = params.get("period", "")
    period = period if period in PERIODS and period != "custom" else DEFAULT_PERIOD
    department = _choice(params.get("department"), DEPARTMENTS) if wall else None
    subdistrict = _choice(params.get("subdistrict"), SUBDISTRICTS) if wall else None
    charts = (
        []
        if wall
        else [
            html.Div([chart_card(c) for c in CHARTS], className="ec-kpi-charts"),
            dcc.Download(id=Ids.DOWNLOAD),
        ]
    )
    return html.Div(
        [
            controls(viewer.lang, period, wall, department, subdistrict),
            html.Div(
                [
                    html.H2(t("kpis.title", viewer.lang), id=Ids.TITLE, className="ec-kpi-title"),
                    html.Div(id=Ids.META, className="ec-kpi-meta"),
                    html.Div(id=Ids.SIMULATED, className="ec-kpi-simulated", role="note"),
                ],
                className="ec-kpi-report-head",
            ),
            html.Div(id=Ids.TILES, className="ec-kpi-tiles"),
            *charts,
            dcc.Store(id=Ids.SIGNATURE),
            dcc.Interval(id=Ids.TICK, interval=REFRESH_MS),
        ],
        className="ec-kpi-page ec-kpi-wall-page" if wall else "ec-kpi-page",
    )
