"""Coverage page callbacks. One refresh answers the page's query (window, unit kinds,
departments) through `dashboard.coverage_api.report`, the same answer as the API, and fills the
figures, map, blind-spot table and trend; it sends nothing new while that answer is unchanged.
Reading is for every signed-in role; reassigning a place's responsible person is for admins."""

from __future__ import annotations

import hashlib
from typing import Any

import dash
import orjson
from dash import Input, Output, State, dcc, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from callbacks.coverage_map import legend_view, local_stamp, place_layers, presence_layers
from callbacks.coverage_views import (
    blind_spots_csv,
    figures_view,
    subdistricts_view,
    table_columns,
    table_rows,
    trend_figure,
)
from callbacks.coverage_views import logs_view as logs_list
from dashboard import roles
from dashboard.context import app_context
from dashboard.coverage_api import WINDOWS, report
from dashboard.i18n import lang_of, options, t
from domain.vocab import Department, UnitKind
from layouts.coverage import PRESENCE_COLOURS, Ids
from layouts.shell import Ids as Shell
from store import coverage, patrol_logs

LOGS_SHOWN = 20
OWNER_MAX = 40
SIGNATURE_BUCKET_MS = 360_000  # "x.x hours ago" moves every 6 minutes: redraw at least that often


def _r() -> Any:
    return app_context().redis


def _now() -> int:
    return app_context().now_ms()


def _pick(values: Any, known: set[str]) -> list[str]:
    if not isinstance(values, list):
        return []
    return sorted({v for v in values if isinstance(v, str) and v in known})


def query(window: Any, kinds: Any, departments: Any) -> tuple[str, list[str], list[str]]:
    """The page's choices, with anything forged or stale dropped (none chosen: all)."""
    return (
        window if window in WINDOWS else "today",
        _pick(kinds, {k.value for k in UnitKind}),
        _pick(departments, {d.value for d in Department}),
    )


def signature(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


PRESENCE_OUTPUTS = [Output(f"{Ids.PRESENCE}-{i}", "data") for i in range(len(PRESENCE_COLOURS))]


def register(app: dash.Dash) -> None:
    @roles.callback(
        app,
        Output(Ids.UPDATED, "children"),
        Output(Ids.RANGE, "children"),
        Output(Ids.SIGNATURE, "data"),
        Output(Ids.FIGURES, "children"),
        Output(Ids.SUBDISTRICTS, "children"),
        *PRESENCE_OUTPUTS,
        Output(Ids.GRID, "data"),
        Output(Ids.BLIND, "data"),
        Output(Ids.COAST_OK, "data"),
        Output(Ids.COAST_BLIND, "data"),
        Output(Ids.LEGEND, "children"),
        Output(Ids.TABLE_TITLE, "children"),
        Output(Ids.TABLE, "data"),
        Output(Ids.TABLE, "columns"),
        Output(Ids.TREND, "figure"),
        Input(Ids.TICK, "n_intervals"),
        Input(Ids.WINDOW, "value"),
        Input(Ids.KINDS, "value"),
        Input(Ids.DEPARTMENTS, "value"),
        Input(Shell.LANG, "value"),
        Input(Ids.REASSIGN_NOTE, "children"),
        State(Ids.SIGNATURE, "data"),
        roles=roles.VIEWERS,
    )
    def refresh(
        _n: Any,
        window_value: Any,
        kinds_value: Any,
        departments_value: Any,
        lang_value: Any,
        _note: Any,
        seen: Any,
    ) -> tuple[Any, ...]:
        lang, now, r = lang_of(lang_value), _now(), _r()
        window, kinds, departments = query(window_value, kinds_value, departments_value)
        geo = app_context().coverage
        rep = report(r, geo, window, kinds, departments, now)
        last = coverage.last_visits(r, kinds, departments)
        owners = coverage.owners(r, geo)
        stamp = (
            t("coverage.updated", lang).format(time=local_stamp(now, seconds=True)[11:19]),
            t("coverage.range", lang).format(
                start=local_stamp(rep["from_ms"]), end=local_stamp(rep["to_ms"])
            ),
        )
        sig = signature(
            window,
            kinds,
            departments,
            lang,
            now // SIGNATURE_BUCKET_MS,
            rep["figures"],
            rep["requirement_met"],
            rep["blind_spots"],
            rep["trend"],
            rep["presence_s"],
            last,
            owners,
        )
        if sig == seen:
            return (*stamp, *[no_update] * (len(PRESENCE_COLOURS) + 12))
        spots = rep["blind_spots"]
        places = place_layers(
            geo, owners, last, [s["id"] for s in spots], rep["presence_s"], now, lang
        )
        return (
            *stamp,
            sig,
            figures_view(rep["figures"], rep["requirement_met"], lang),
            subdistricts_view(rep["figures"], lang),
            *presence_layers(rep["presence_s"], window),
            places["grid"],
            places["blind"],
            places["coast_ok"],
            places["coast_blind"],
            legend_view(window, lang),
            t("coverage.blind_spots", lang).format(n=len(spots)),
            table_rows(spots, lang),
            table_columns(lang),
            trend_figure(rep["trend"], lang),
        )

    @roles.callback(
        app,
        Output(Ids.LOGS, "children"),
        Input(Ids.TICK, "n_intervals"),
        Input(Shell.LANG, "value"),
        roles=roles.VIEWERS,
    )
    def logs(_n: Any, lang_value: Any) -> list[Any]:
        found = patrol_logs.recent(_r(), limit=200, flagged_only=True)[:LOGS_SHOWN]
        return logs_list(found, app_context().coverage.places, lang_of(lang_value))

    @roles.callback(
        app,
        Output(Ids.DOWNLOAD, "data"),
        Input(Ids.CSV, "n_clicks"),
        State(Ids.WINDOW, "value"),
        State(Ids.KINDS, "value"),
        State(Ids.DEPARTMENTS, "value"),
        State(Shell.LANG, "value"),
        prevent_initial_call=True,
        roles=roles.VIEWERS,
    )
    def download(
        clicks: Any, window_value: Any, kinds_value: Any, departments_value: Any, lang_value: Any
    ) -> dict[str, Any]:
        if not clicks:
            raise PreventUpdate
        window, kinds, departments = query(window_value, kinds_value, departments_value)
        now = _now()
        rep = report(_r(), app_context().coverage, window, kinds, departments, now)
        name = f"blind-spots-{local_stamp(now, seconds=True)[:16].replace(':', '')}.csv"
        return dcc.send_string(
            blind_spots_csv(rep["blind_spots"], lang_of(lang_value)), name, type="text/csv"
        )

    @roles.callback(
        app,
        Output(Ids.REASSIGN_NOTE, "children"),
        Output(Ids.REASSIGN_OWNER, "value"),
        Input(Ids.REASSIGN_SAVE, "n_clicks"),
        State(Ids.REASSIGN_PLACE, "value"),
        State(Ids.REASSIGN_OWNER, "value"),
        State(Shell.LANG, "value"),
        prevent_initial_call=True,
        roles=roles.ADMINS,
    )
    def reassign(clicks: Any, place_id: Any, owner: Any, lang_value: Any) -> tuple[Any, ...]:
        if not clicks:
            raise PreventUpdate
        lang, places = lang_of(lang_value), app_context().coverage.places
        name = owner.strip() if isinstance(owner, str) else ""
        if (
            not isinstance(place_id, str)
            or place_id not in places
            or not 0 < len(name) <= OWNER_MAX
            or not name.isprintable()
        ):
            return t("coverage.reassign.invalid", lang), no_update
        place = places[place_id]
        coverage.set_owner(_r(), place, name, current_user.name, _now())
        return t("coverage.reassign.done", lang).format(place=place.label, owner=name), ""

    @roles.callback(
        app,
        Output(Ids.WINDOW_LABEL, "children"),
        Output(Ids.WINDOW, "options"),
        Output(Ids.KINDS_LABEL, "children"),
        Output(Ids.KINDS, "options"),
        Output(Ids.KINDS, "placeholder"),
        Output(Ids.DEPARTMENTS_LABEL, "children"),
        Output(Ids.DEPARTMENTS, "options"),
        Output(Ids.DEPARTMENTS, "placeholder"),
        Output(Ids.MAP_TITLE, "children"),
        Output(Ids.TREND_TITLE, "children"),
        Output(Ids.LOGS_TITLE, "children"),
        Output(Ids.CSV, "children"),
        Output(Ids.REASSIGN, "hidden"),
        Output(Ids.REASSIGN_TITLE, "children"),
        Output(Ids.REASSIGN_PLACE, "options"),
        Output(Ids.REASSIGN_PLACE, "placeholder"),
        Output(Ids.REASSIGN_OWNER, "placeholder"),
        Output(Ids.REASSIGN_SAVE, "children"),
        Input(Shell.LANG, "value"),
        Input(Ids.REASSIGN_NOTE, "children"),  # owners changed
        roles=roles.VIEWERS,
    )
    def labels(lang_value: Any, _note: Any) -> tuple[Any, ...]:
        lang = lang_of(lang_value)
        admin = current_user.role in roles.ADMINS  # others see the owners, they do not edit
        geo = app_context().coverage
        owners = coverage.owners(_r(), geo) if admin else {}
        places = (
            [
                {
                    "label": f"{p.label} · {t('coverage.place.' + p.kind, lang)} · {owners[p.id]}",
                    "value": p.id,
                }
                for p in geo.places.values()
            ]
            if admin
            else []
        )
        return (
            t("coverage.window", lang),
            options("coverage.window", WINDOWS, lang),
            t("coverage.unit_kinds", lang),
            options("kind", UnitKind, lang),
            t("coverage.all", lang),
            t("coverage.departments", lang),
            options("dept", Department, lang),
            t("coverage.all", lang),
            t("coverage.map", lang),
            t("coverage.trend", lang),
            t("coverage.logs", lang),
            t("coverage.csv", lang),
            not admin,
            t("coverage.reassign", lang),
            places,
            t("coverage.reassign.place", lang),
            t("coverage.reassign.owner", lang),
            t("coverage.reassign.save", lang),
        )
