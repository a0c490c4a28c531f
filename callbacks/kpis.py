"""KPI page callbacks. One refresh answers the page's query (period, department, sub-district)
through `dashboard.kpi_api.kpi_report`, the answer GET /api/v1/kpis gives, and fills the tiles
and every chart; it sends nothing new while that answer is unchanged (every 60 s it asks again).
A chart's CSV button exports that chart's table for the same query. All of it is for
`roles.KPI_VIEWERS` (leaders, admins, duty chiefs)."""

from __future__ import annotations

import hashlib
from typing import Any

import dash
import orjson
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.kpi_charts import CHARTS, chart_figure, chart_n, chart_table
from callbacks.kpi_views import (
    PERIODS,
    iso_day,
    period_bounds,
    period_dates,
    simulated_note,
    stamp,
    tiles_view,
    to_csv,
)
from dashboard import roles
from dashboard.context import app_context
from dashboard.i18n import lang_of, options, t
from dashboard.kpi_api import kpi_report
from domain.vocab import Department, Subdistrict
from layouts.kpis import CSV_TYPE, Ids, graph_id, head_id
from layouts.shell import Ids as Shell

# the report's volatile parts: left out of the "has anything changed" signature
VOLATILE = ("from_ms", "to_ms", "generated_ms")


def _now() -> int:
    return app_context().now_ms()


def query(
    period: Any, start: Any, end: Any, department: Any, subdistrict: Any, now: int
) -> tuple[int, int, str | None, str | None]:
    """The page's choices as a report query, with anything forged or stale dropped."""
    from_ms, to_ms = period_bounds(period, start, end, now)
    dept = department if department in {d.value for d in Department} else None
    sub = subdistrict if subdistrict in {s.value for s in Subdistrict} else None
    return from_ms, to_ms, dept, sub


def report(period: Any, start: Any, end: Any, department: Any, subdistrict: Any) -> dict[str, Any]:
    now = _now()
    from_ms, to_ms, dept, sub = query(period, start, end, department, subdistrict, now)
    return kpi_report(app_context().redis, app_context().coverage, from_ms, to_ms, dept, sub, now)


def signature(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def meta_text(rep: dict[str, Any], lang: str) -> str:
    f = rep["filters"]
    return t("kpis.meta", lang).format(
        start=stamp(rep["from_ms"]),
        end=stamp(rep["to_ms"]),
        department=t(f"dept.{f['department']}", lang) if f["department"] else t("kpis.all", lang),
        subdistrict=(
            t(f"subdistrict.{f['subdistrict']}", lang) if f["subdistrict"] else t("kpis.all", lang)
        ),
        generated=stamp(rep["generated_ms"], seconds=True),
    )


def head_view(chart: str, rep: dict[str, Any], lang: str) -> list[Any]:
    n_key, n = chart_n(chart, rep)
    return [
        html.H3(
            [
                t(f"kpis.chart.{chart}", lang),
                html.Span(t(n_key, lang).format(n=n), className="ec-kpi-n"),
            ],
            className="ec-kpi-chart-title",
        ),
        html.P(t(f"kpis.def.{chart}", lang), className="ec-kpi-def"),
    ]


CHART_OUTPUTS = [
    o for c in CHARTS for o in (Output(head_id(c), "children"), Output(graph_id(c), "figure"))
]


def register(app: dash.Dash) -> None:
    @roles.callback(
        app,
        Output(Ids.UPDATED, "children"),
        Output(Ids.META, "children"),
        Output(Ids.TITLE, "children"),
        Output(Ids.SIMULATED, "children"),
        Output(Ids.TILES, "children"),
        Output(Ids.SIGNATURE, "data"),
        *CHART_OUTPUTS,
        Input(Ids.TICK, "n_intervals"),
        Input(Ids.PERIOD, "value"),
        Input(Ids.DATES, "start_date"),
        Input(Ids.DATES, "end_date"),
        Input(Ids.DEPARTMENT, "value"),
        Input(Ids.SUBDISTRICT, "value"),
        Input(Shell.LANG, "value"),
        State(Ids.MODE, "data"),
        State(Ids.SIGNATURE, "data"),
        roles=roles.KPI_VIEWERS,
    )
    def refresh(
        _n: Any,
        period: Any,
        start: Any,
        end: Any,
        department: Any,
        subdistrict: Any,
        lang_value: Any,
        mode: Any,
        seen: Any,
    ) -> tuple[Any, ...]:
        lang = lang_of(lang_value)
        wall = isinstance(mode, dict) and mode.get("wall") is True
        rep = report(period, start, end, department, subdistrict)
        stamp_line = t("kpis.updated", lang).format(time=stamp(rep["generated_ms"], True)[11:])
        sig = signature(lang, wall, {k: v for k, v in rep.items() if k not in VOLATILE})
        fixed = (stamp_line, meta_text(rep, lang))
        if sig == seen:
            return (*fixed, *[no_update] * (4 + len(CHART_OUTPUTS)))
        charts: list[Any] = (
            [no_update] * len(CHART_OUTPUTS)
            if wall
            else [x for c in CHARTS for x in (head_view(c, rep, lang), chart_figure(c, rep, lang))]
        )
        return (
            *fixed,
            t("kpis.title", lang),
            simulated_note(rep, lang),
            tiles_view(rep, lang),
            sig,
            *charts,
        )

    @roles.callback(
        app,
        Output(Ids.DOWNLOAD, "data"),
        Input({"type": CSV_TYPE, "chart": ALL}, "n_clicks"),
        State(Ids.PERIOD, "value"),
        State(Ids.DATES, "start_date"),
        State(Ids.DATES, "end_date"),
        State(Ids.DEPARTMENT, "value"),
        State(Ids.SUBDISTRICT, "value"),
        State(Shell.LANG, "value"),
        prevent_initial_call=True,
        roles=roles.KPI_VIEWERS,
    )
    def download(
        _clicks: Any,
        period: Any,
        start: Any,
        end: Any,
        department: Any,
        subdistrict: Any,
        lang_value: Any,
    ) -> dict[str, Any]:
        chart = ctx.triggered_id.get("chart") if isinstance(ctx.triggered_id, dict) else None
        if chart not in CHARTS or not any(x.get("value") for x in ctx.triggered):
            raise PreventUpdate
        lang = lang_of(lang_value)
        rep = report(period, start, end, department, subdistrict)
        table = chart_table(chart, rep, lang)
        days = rep["days"]
        name = f"kpi-{chart}-{iso_day(days[0])}-{iso_day(days[-1])}.csv"
        return dcc.send_string(to_csv(table.columns, table.rows, lang), name, type="text/csv")

    @roles.callback(
        app,
        Output(Ids.PERIOD, "value"),
        Input(Ids.DATES, "start_date"),
        Input(Ids.DATES, "end_date"),
        State(Ids.PERIOD, "value"),
        prevent_initial_call=True,
        roles=roles.KPI_VIEWERS,
    )
    def pick_dates(start: Any, end: Any, period: Any) -> str:
        """Choosing dates means the custom period; the picker announcing the dates it was
        given (it loads late and reports them) is not a choice."""
        if not (start and end) or (
            period != "custom"
            and (str(start)[:10], str(end)[:10]) == period_dates(period, app_context().now_ms())
        ):
            raise PreventUpdate
        return "custom"

    @roles.callback(
        app,
        Output(Ids.PERIOD_LABEL, "children"),
        Output(Ids.PERIOD, "options"),
        Output(Ids.DEPARTMENT_LABEL, "children"),
        Output(Ids.DEPARTMENT, "options"),
        Output(Ids.DEPARTMENT, "placeholder"),
        Output(Ids.SUBDISTRICT_LABEL, "children"),
        Output(Ids.SUBDISTRICT, "options"),
        Output(Ids.SUBDISTRICT, "placeholder"),
        Output(Ids.REPORT, "children"),
        Input(Shell.LANG, "value"),
        roles=roles.KPI_VIEWERS,
    )
    def labels(lang_value: Any) -> tuple[Any, ...]:
        lang = lang_of(lang_value)
        return (
            t("kpis.period", lang),
            options("kpis.period", PERIODS, lang),
            t("kpis.department", lang),
            options("dept", Department, lang),
            t("kpis.all", lang),
            t("kpis.subdistrict", lang),
            options("subdistrict", Subdistrict, lang),
            t("kpis.all", lang),
            t("kpis.report", lang),
        )
