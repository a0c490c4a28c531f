"""The live map page at `/`: live counts and data freshness in the header, a stale-data banner,
a dash-leaflet map over a local basemap drawn from `config/geo` (works with no tile server), and
a side panel with browser-side filters, the legend and the alert feed. `/?wall=1` is the same
page as a wall screen: dark, large type, no controls.

Markers are canvas circles drawn by `window.ecocommand.map.pointToLayer` in `assets/map.js`,
referenced by name through `Namespace` (no `assign()`, no eval: the script is a 'self' asset).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import dash_leaflet as dl
from dash import dcc, html
from dash_extensions.javascript import Namespace
from flask import current_app, has_request_context

from dashboard import map_data
from dashboard.i18n import t
from layouts.shell import both

JS = Namespace("ecocommand", "map")


class Ids(StrEnum):
    COUNTS = "map-counts"
    FRESHNESS = "map-freshness"
    BANNER = "map-stale-banner"
    TILES_NOTE = "map-tiles-note"
    MAP = "map-map"
    UNITS = "map-units"
    VESSELS = "map-vessels"
    SENSORS = "map-sensors"
    ALERTS = "map-alerts"
    INCIDENTS = "map-incidents"
    TICK = "map-tick"
    VERSION = "map-version"
    MODE = "map-mode"
    FILTER_DEPARTMENT = "map-filter-department"
    FILTER_SUBDISTRICT = "map-filter-subdistrict"
    FILTER_STATUS = "map-filter-status"
    LABEL_DEPARTMENT = "map-label-department"
    LABEL_SUBDISTRICT = "map-label-subdistrict"
    LABEL_STATUS = "map-label-status"
    LEGEND = "map-legend"
    FEED_TITLE = "map-feed-title"
    FEED = "map-feed"
    ACK_NOTE = "map-ack-note"
    CLOSE_NOTE = "map-close-note"


# Pattern ids of the alert feed's buttons: {"type": ACK, "id": <alert id>}; a dismissal also
# names its reason: {"type": CLOSE, "id": <alert id>, "reason": <one of DISMISS_REASONS>}.
ACK, CLOSE, CONFIRM = "alert-ack", "alert-close", "alert-confirm"
DISMISS_REASONS = ("false_alarm", "duplicate", "handled_elsewhere")


HEADER_BG = "#14202e"
BASEMAP_STYLES: dict[str, dict[str, Any]] = {
    "land": {"color": "#b9ad8f", "weight": 0.5, "fillColor": "#ece4cf", "fillOpacity": 1},
    "district": {"color": "#7a1f5c", "weight": 3, "fill": False, "dashArray": "8 4"},
    "subdistricts": {"color": "#7a1f5c", "weight": 1.5, "fillOpacity": 0, "dashArray": "3 3"},
    "grid": {"color": "#5f6f7f", "weight": 0.6, "fillOpacity": 0, "opacity": 0.6},
    "zones": {"color": "#1b7f3b", "weight": 1.5, "fillColor": "#1b7f3b", "fillOpacity": 0.15},
}
# Dark variants for the wall screen (a dark room, read from across it).
DARK_BASEMAP_STYLES: dict[str, dict[str, Any]] = {
    "land": {"color": "#3a4a5c", "weight": 0.5, "fillColor": "#1f2b38", "fillOpacity": 1},
    "district": {"color": "#e08ad0", "weight": 3, "fill": False, "dashArray": "8 4"},
    "subdistricts": {"color": "#c27bb6", "weight": 1.5, "fillOpacity": 0, "dashArray": "3 3"},
    "grid": {"color": "#56687a", "weight": 0.6, "fillOpacity": 0, "opacity": 0.6},
    "zones": {"color": "#38c172", "weight": 1.5, "fillColor": "#38c172", "fillOpacity": 0.15},
}
MARKER_RADIUS = {"unit": 7, "vessel": 6, "sensor": 6, "alert": 14, "incident": 9}
BASEMAP_ON = ("land", "district", "subdistricts", "zones")  # grid cells start hidden


def tiles_url() -> str:
    if not has_request_context():
        return ""
    return current_app.config["SETTINGS"].map_tiles_url


def _empty() -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": []}


def hideout(kind: str, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """What the browser needs to draw and filter a live layer without the data being resent."""
    return {"radius": MARKER_RADIUS[kind], "filters": filters or {}}


def _live_layer(key: str, ident: Ids, kind: str) -> dl.Overlay:
    return dl.Overlay(
        dl.GeoJSON(
            id=ident,
            data=_empty(),
            pointToLayer=JS("pointToLayer"),
            filter=JS("filter"),
            hideout=hideout(kind),
        ),
        name=both(key),
        checked=True,
    )


def map_view(styles: dict[str, dict[str, Any]]) -> dl.Map:
    base = map_data.basemap()
    layers: list[Any] = []
    url = tiles_url()
    if url:
        layers.append(
            dl.BaseLayer(
                dl.TileLayer(url=url, maxZoom=18, eventHandlers={"tileerror": JS("tileError")}),
                name=both("layer.tiles"),
                checked=True,
            )
        )
    for key, fc in base.items():
        layers.append(
            dl.Overlay(
                dl.GeoJSON(
                    data=fc, style=styles[key], interactive=key in ("subdistricts", "zones", "grid")
                ),
                name=both(f"layer.{key}"),
                checked=key in BASEMAP_ON,
            )
        )
    layers += [
        _live_layer("layer.alerts", Ids.ALERTS, "alert"),
        _live_layer("layer.incidents", Ids.INCIDENTS, "incident"),
        _live_layer("count.units", Ids.UNITS, "unit"),
        _live_layer("count.vessels", Ids.VESSELS, "vessel"),
        _live_layer("count.sensors", Ids.SENSORS, "sensor"),
    ]
    return dl.Map(
        [dl.LayersControl(layers, collapsed=False), dl.ScaleControl(imperial=False)],
        id=Ids.MAP,
        center=list(map_data.CENTER),
        zoom=map_data.ZOOM,
        preferCanvas=True,
        className="ec-map",
    )


def header_slot(_params: dict[str, str]) -> list[html.Div]:
    """The map's live figures, shown in the shared header: counts and the data's freshness."""
    return [
        html.Div(id=Ids.COUNTS, className="ec-counts"),
        html.Div(id=Ids.FRESHNESS, className="ec-freshness"),
    ]


def _filter(label: Ids, ident: Ids) -> html.Div:
    # Options and labels come from the language callback; the chosen values stay in this browser.
    return html.Div(
        [
            html.Label(id=label, htmlFor=ident, className="ec-filter-label"),
            dcc.Dropdown(
                id=ident,
                multi=True,
                persistence=True,
                persistence_type="local",
                className="ec-filter",
            ),
        ],
        className="ec-filter-row",
    )


def side_panel() -> html.Aside:
    return html.Aside(
        [
            html.Div(
                [
                    _filter(Ids.LABEL_DEPARTMENT, Ids.FILTER_DEPARTMENT),
                    _filter(Ids.LABEL_SUBDISTRICT, Ids.FILTER_SUBDISTRICT),
                    _filter(Ids.LABEL_STATUS, Ids.FILTER_STATUS),
                ],
                className="ec-filters",
            ),
            html.Details(id=Ids.LEGEND, className="ec-legend", open=True),
            html.H2(id=Ids.FEED_TITLE, className="ec-feed-title"),
            html.Div(id=Ids.ACK_NOTE, className="ec-action-note", role="status"),
            html.Div(id=Ids.CLOSE_NOTE, className="ec-action-note", role="status"),
            html.Div(id=Ids.FEED, className="ec-feed"),
        ],
        className="ec-side-panel",
    )


def is_wall(params: dict[str, str]) -> bool:
    return params.get("wall") == "1"


def content(params: dict[str, str]) -> html.Div:
    wall = is_wall(params)
    return html.Div(
        [
            html.Div(id=Ids.BANNER, className="ec-banner", hidden=True),
            html.Div(
                t("map.tiles_unavailable"),
                id=Ids.TILES_NOTE,
                className="ec-note",
                hidden=bool(tiles_url()),
            ),
            html.Div(
                [map_view(DARK_BASEMAP_STYLES if wall else BASEMAP_STYLES), side_panel()],
                className="ec-main",
            ),
            # the wall screen: one update a second, nobody there to wait for a click's answer
            dcc.Interval(id=Ids.TICK, interval=1000 if wall else 2000),
            dcc.Store(id=Ids.VERSION),
            dcc.Store(id=Ids.MODE, data={"wall": wall}),
        ],
        className="ec-map-page",
    )
