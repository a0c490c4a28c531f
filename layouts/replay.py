"""The replay page (复盘) at `/replay`, for every console role: pick a unit, a vessel or an
incident (its units' tracks and its timeline) and a window, load it, and play it on the map with
a time slider, play/pause and speeds x1/x10/x60; tracks are drawn with time ticks, an incident's
timeline events appear as the replay reaches them. `/replay?unit=ID`, `?vessel=MMSI`,
`?incident=ID` open with it chosen and loaded (detail panels link here); `from` and `to` (local
date/time or epoch ms) choose the window.

Officers' tracks are personal data: only duty chiefs, leaders and admins get the unit and
incident choices (operators replay vessels). One callback loads (callbacks/replay.py); the
animation runs in the browser (assets/replay.js) on what that load put in the page.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import dash_leaflet as dl
from dash import dcc, html
from dash_extensions.javascript import Namespace
from flask import has_request_context

from dashboard import map_data, roles
from dashboard.context import app_context
from dashboard.i18n import t
from dashboard.viewer import Viewer
from domain.vocab import LOCAL_TZ
from layouts.map import BASEMAP_STYLES
from views.replay import SPEEDS, anchor

JS = Namespace("ecocommand", "replay")
INPUT_FORMAT = "%Y-%m-%d %H:%M"  # local time (UTC+8), as services.personal.window reads it


class Ids(StrEnum):
    KIND = "replay-kind"
    IDENT = "replay-ident"
    CHOICES = "replay-choices"  # a datalist: what the id field offers for the kind
    FROM = "replay-from"
    TO = "replay-to"
    LOAD = "replay-load"
    MESSAGE = "replay-message"
    DATA = "replay-data"  # the loaded replay as JSON text, read by assets/replay.js
    MAP = "replay-map"
    PLAY = "replay-play"
    SLIDER = "replay-slider"
    TIME = "replay-time"
    EVENTS = "replay-events"


def kinds_for(role: str | None) -> tuple[str, ...]:
    return ("unit", "vessel", "incident") if role in roles.PERSONAL_READERS else ("vessel",)


def chosen(viewer: Viewer, params: dict[str, str]) -> tuple[str, str]:
    """The kind and id the URL preselects (one the viewer may replay), else the first kind."""
    kinds = kinds_for(viewer.role)
    for kind in kinds:
        if params.get(kind):
            return kind, params[kind]
    return kinds[0], ""


def _local(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).strftime(INPUT_FORMAT)


def default_window(kind: str, params: dict[str, str]) -> tuple[str, str]:
    """The window's inputs: the URL's, else the last hour (an incident: its own span, blank)."""
    if params.get("from") or params.get("to"):
        return params.get("from", ""), params.get("to", "")
    if kind == "incident" or not has_request_context():
        return "", ""
    now = app_context().now_ms()
    return _local(now - 3_600_000), _local(now - now % 60_000 + 60_000)


def _field(label: str, control: object) -> html.Label:
    return html.Label(
        [html.Span(label, className="ec-filter-label"), control], className="ec-field"
    )


def query_form(lang: str, role: str | None, params: dict[str, str]) -> html.Div:
    kind, ident = chosen(Viewer(role, lang), params)
    start, end = default_window(kind, params)
    kinds = [{"label": t(f"replay.kind.{k}", lang), "value": k} for k in kinds_for(role)]
    return html.Div(
        [
            _field(
                t("replay.kind", lang),
                dcc.Dropdown(
                    id=Ids.KIND, options=kinds, value=kind, clearable=False, className="ec-filter"
                ),
            ),
            _field(
                t("replay.ident", lang),
                dcc.Input(
                    id=Ids.IDENT,
                    type="text",
                    value=ident,
                    maxLength=64,
                    list=Ids.CHOICES,
                    autoComplete="off",
                    placeholder=t("replay.ident_placeholder", lang),
                    className="ec-input ec-replay-ident",
                ),
            ),
            _field(
                t("replay.from", lang),
                dcc.Input(
                    id=Ids.FROM, type="text", value=start, className="ec-input ec-replay-when"
                ),
            ),
            _field(
                t("replay.to", lang),
                dcc.Input(id=Ids.TO, type="text", value=end, className="ec-input ec-replay-when"),
            ),
            html.Button(t("replay.show", lang), id=Ids.LOAD, className="ec-button ec-primary"),
            html.Datalist(id=Ids.CHOICES),
        ],
        className="ec-replay-query",
    )


def player(lang: str) -> html.Div:
    """Play/pause, the speeds, the slider and the time shown: driven by assets/replay.js."""
    speeds = [
        html.Button(
            f"x{n}",
            id=f"replay-speed-{n}",
            className="ec-button ec-replay-speed" + (" ec-active" if n == 60 else ""),
            **{"data-speed": str(n)},
        )
        for n in SPEEDS
    ]
    return html.Div(
        [
            html.Button(
                t("replay.play", lang),
                id=Ids.PLAY,
                className="ec-button ec-primary ec-replay-play",
                disabled=True,
                **{"data-play": t("replay.play", lang), "data-pause": t("replay.pause", lang)},
            ),
            html.Span(t("replay.speed", lang), className="ec-filter-label"),
            *speeds,
            html.Div(id=Ids.SLIDER, className="ec-replay-slider-box"),
            html.Span("—", id=Ids.TIME, className="ec-replay-time", title=t("replay.time", lang)),
        ],
        className="ec-replay-player",
    )


def map_view() -> dl.Map:
    base = map_data.basemap()
    return dl.Map(
        [
            dl.GeoJSON(data=base["land"], style=BASEMAP_STYLES["land"], interactive=False),
            dl.GeoJSON(data=base["district"], style=BASEMAP_STYLES["district"], interactive=False),
            dl.GeoJSON(data=base["zones"], style=BASEMAP_STYLES["zones"], interactive=False),
            # where assets/replay.js draws the tracks, ticks and moving markers
            dl.GeoJSON(data=anchor(), pointToLayer=JS("pointToLayer")),
            dl.ScaleControl(imperial=False),
        ],
        id=Ids.MAP,
        center=list(map_data.CENTER),
        zoom=map_data.ZOOM,
        preferCanvas=True,
        className="ec-map ec-replay-map",
    )


def slot(_viewer: Viewer, _params: dict[str, str]) -> list[html.Div]:
    return []


def body(viewer: Viewer, params: dict[str, str]) -> html.Div:
    lang = viewer.lang
    return html.Div(
        [
            html.H2(t("replay.title", lang), className="ec-feed-title"),
            query_form(lang, viewer.role, params),
            html.Div(t("replay.hint", lang), id=Ids.MESSAGE, className="ec-replay-message"),
            html.Div(
                [
                    html.Div([map_view(), player(lang)], className="ec-replay-main"),
                    html.Div(
                        [
                            html.H3(t("replay.events", lang), className="ec-replay-events-title"),
                            html.P(
                                t("replay.no_events", lang),
                                id="replay-no-events",
                                className="ec-replay-events-none",
                                hidden=True,
                            ),
                            html.Ol(id=Ids.EVENTS, className="ec-replay-events"),
                        ],
                        className="ec-replay-side",
                        hidden=True,
                    ),
                ],
                className="ec-replay-body",
            ),
            html.Pre(id=Ids.DATA, hidden=True),
        ],
        className="ec-replay-page",
    )
