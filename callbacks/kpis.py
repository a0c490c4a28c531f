"""KPI page callbacks. One refresh answers the page's query (period, department, sub-district)
through `services.kpis.report`, the answer GET /api/v1/kpis gives, and fills the tiles and every
chart the page has (a wall screen has none); it sends nothing new while that answer is unchanged
(every 60 s it asks again). A chart's CSV button exports that chart's table for the same query.
All of it is for `roles.KPI_VIEWERS` (leaders, admins, duty chiefs)."""

from __future__ import annotations

import hashlib
from typing import Any

import dash
import orjson
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard import roles, viewer
from dashboard.context import app_context
from dashboard.i18n import t
from domain.vocab import Department, Subdistrict
from layouts.kpis import CSV_TYPE, GRAPH_TYPE, HEAD_TYPE, Ids
from services import kpis as service
from views.kpi import iso_day, period_bounds, period_dates, simulated_note, stamp, tiles_view
from views.kpi_charts import CHARTS, chart_figure, chart_n, chart_table, table_csv

# the report's volatile parts: left out of the "has anything changed" signature
VOLATILE = ("from_ms", "to_ms", "generated_ms")


def query(
    period: Any, start: Any, end: Any, department: Any, subdistrict: Any, now: int
) -> tuple[int, int, str | None, str | None]:
    """The page's choices as a report query, with anything forged or stale dropped."""
    from_ms, to_ms = period_bounds(period, start, end, now)
    dept = department if department in {d.value for d in Department} else None
    sub = subdistrict if subdistrict in {s.value for s in Subdistrict} else None
    return from_ms, to_ms, dept, sub


def report(period: Any, start: Any, end: Any, department: Any, subdistrict: Any) -> dict[str, Any]:
    now = app_context().now_ms()
    from_ms, to_ms, dept, sub = query(period, start, end, department, subdistrict, now)
    return service.report(app_context(), from_ms, to_ms, dept, sub, now)


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


def shown_charts(outputs: Any) -> list[str]:
    """The charts a pattern output reaches on the page, in its order (`dash.ctx.outputs_list`
    of the output; a wall screen has none)."""
    if not isinstance(outputs, list):
        return []
    return [str(o.get("id", {}).get("chart")) for o in outputs if isinstance(o, dict)]


def charts_view(rep: dict[str, Any], lang: str) -> tuple[list[Any], list[Any]]:
    """The heads and figures of the charts on the page (a name that is not a chart: nothing)."""
    heads_out, figures_out = ctx.outputs_list[-2:]
    heads = [head_view(c, rep, lang) if c in CHARTS else [] for c in shown_charts(heads_out)]
    figures = [chart_figure(c, rep, lang) if c in CHARTS else {} for c in shown_charts(figures_out)]
    return heads, figures


@roles.page_callback(
    Output(Ids.UPDATED, "children"),
    Output(Ids.META, "children"),
    Output(Ids.SIMULATED, "children"),
    Output(Ids.TILES, "children"),
    Output(Ids.SIGNATURE, "data"),
    Output({"type": HEAD_TYPE, "chart": ALL}, "children"),
    Output({"type": GRAPH_TYPE, "chart": ALL}, "figure"),
    Input(Ids.TICK, "n_intervals"),
    Input(Ids.PERIOD, "value"),
    Input(Ids.DATES, "start_date"),
    Input(Ids.DATES, "end_date"),
    Input(Ids.DEPARTMENT, "value"),
    Input(Ids.SUBDISTRICT, "value"),
    State(Ids.SIGNATURE, "data"),
    roles=roles.KPI_VIEWERS,
)
def refresh(
    _n: Any, period: Any, start: Any, end: Any, department: Any, subdistrict: Any, seen: Any
) -> tuple[Any, ...]:
    """The report of the page's query: its time every time, the rest when it changed."""
    lang = viewer.lang()
    rep = report(period, start, end, department, subdistrict)
    stamp_line = t("kpis.updated", lang).format(time=stamp(rep["generated_ms"], True)[11:])
    sig = signature(lang, {k: v for k, v in rep.items() if k not in VOLATILE})
    fixed = (stamp_line, meta_text(rep, lang))
    if sig == seen:
        return (*fixed, *[no_update] * 5)
    heads, figures = charts_view(rep, lang)
    return (*fixed, simulated_note(rep, lang), tiles_view(rep, lang), sig, heads, figures)


@roles.page_callback(
    Output(Ids.DOWNLOAD, "data"),
    Input({"type": CSV_TYPE, "chart": ALL}, "n_clicks"),
    State(Ids.PERIOD, "value"),
    State(Ids.DATES, "start_date"),
    State(Ids.DATES, "end_date"),
    State(Ids.DEPARTMENT, "value"),
    State(Ids.SUBDISTRICT, "value"),
    prevent_initial_call=True,
    roles=roles.KPI_VIEWERS,
)
def download(
    _clicks: Any, period: Any, start: Any, end: Any, department: Any, subdistrict: Any
) -> dict[str, Any]:
    """The table of the chart whose CSV button was clicked, for the page's query."""
    # the id comes from the request: a hand-made one may hold a list or an object
    chart = ctx.triggered_id.get("chart") if isinstance(ctx.triggered_id, dict) else None
    clicked = any(isinstance(x, dict) and x.get("value") for x in ctx.triggered)
    if not isinstance(chart, str) or chart not in CHARTS or not clicked:
        raise PreventUpdate
    lang = viewer.lang()
    rep = report(period, start, end, department, subdistrict)
    days = rep["days"]
    name = f"kpi-{chart}-{iso_day(days[0])}-{iso_day(days[-1])}.csv"
    return dcc.send_string(table_csv(chart_table(chart, rep, lang), lang), name, type="text/csv")


@roles.page_callback(
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


def register(app: dash.Dash) -> None:
    roles.wire(app, refresh, download, pick_dates)
