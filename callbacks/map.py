"""Live map callbacks: markers and counts when the live version moves, the header every tick."""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import Input, Output, State, html, no_update
from flask import current_app

from dashboard import map_data, roles
from dashboard.i18n import DEFAULT_LANG, LANGS, t
from layouts.map import Ids
from store import reader, snapshots


def _lang(value: Any) -> str:
    return value if value in LANGS else DEFAULT_LANG


def _count(label: str, value: int, colour: str | None = None, cls: str = "") -> html.Div:
    swatch = [html.Span(className="ec-dot", style={"background": colour})] if colour else []
    return html.Div([html.Div([*swatch, str(value)], className="ec-count-value"),
                     html.Div(label, className="ec-count-label")],
                    className=f"ec-count {cls}".strip())


def counts_view(c: dict[str, Any], lang: str) -> list[html.Div]:
    out = [_count(t("count.units", lang), c["units"], cls="ec-count-units")]
    out += [_count(t(f"status.{s}", lang), n, map_data.STATUS_COLOURS[s], cls=f"ec-status-{s}")
            for s, n in c["by_status"].items()]
    out += [_count(t("count.vessels", lang), c["vessels"], map_data.VESSEL_COLOUR,
                   cls="ec-count-vessels"),
            _count(t("count.sensors", lang), c["sensors"], map_data.SENSOR_COLOURS["ok"],
                   cls="ec-count-sensors"),
            _count(t("count.open_alerts", lang), c["open_alerts"],
                   cls="ec-count-alerts ec-alert" if c["open_alerts"] else "ec-count-alerts")]
    return out


def register(app: dash.Dash) -> None:
    @roles.callback(
        app,
        Output(Ids.UNITS, "data"), Output(Ids.VESSELS, "data"), Output(Ids.SENSORS, "data"),
        Output(Ids.COUNTS, "children"), Output(Ids.VERSION, "data"),
        Input(Ids.TICK, "n_intervals"), Input(Ids.LANG, "value"), State(Ids.VERSION, "data"),
        roles=roles.VIEWERS)
    def refresh(_n: int | None, lang_value: str | None, last: Any) -> tuple[Any, ...]:
        r = current_app.extensions["redis"]
        lang = _lang(lang_value)
        seen = {"version": snapshots.version(r), "lang": lang}
        if seen == last:
            return (no_update,) * 5  # nothing changed: nothing goes over the wire
        units = snapshots.entities(r, "unit")
        vessels = snapshots.entities(r, "vessel")
        sensors = snapshots.entities(r, "sensor")
        alerts = snapshots.open_alerts(r)
        return (map_data.unit_features(units, lang), map_data.vessel_features(vessels, lang),
                map_data.sensor_features(sensors, alerts, lang),
                counts_view(map_data.counts(units, vessels, sensors, alerts), lang), seen)

    @roles.callback(
        app,
        Output(Ids.TITLE, "children"), Output(Ids.FRESHNESS, "children"),
        Output(Ids.BANNER, "children"), Output(Ids.BANNER, "hidden"),
        Output(Ids.TILES_NOTE, "children"),
        Input(Ids.TICK, "n_intervals"), Input(Ids.LANG, "value"),
        roles=roles.VIEWERS)
    def header(_n: int | None, lang_value: str | None) -> tuple[Any, ...]:
        r = current_app.extensions["redis"]
        lang = _lang(lang_value)
        beat = reader.ingest_stats(r)["heartbeat"]
        age = map_data.heartbeat_age_s(beat, time.time_ns() // 1_000_000)
        fresh = (t("map.no_heartbeat", lang) if age is None
                 else t("map.freshness", lang).format(age=map_data.fmt_age(age, lang)))
        stale = map_data.is_stale(age)
        return (t("app.title", lang), fresh, t("map.stale", lang), not stale,
                t("map.tiles_unavailable", lang))
