"""The live map page at `/`: a header with live counts and data freshness, a stale-data banner,
and a dash-leaflet map over a local basemap drawn from `config/geo` (works with no tile server).

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
from flask_wtf.csrf import generate_csrf

from dashboard import map_data
from dashboard.i18n import DEFAULT_LANG, LANGS, t

JS = Namespace("ecocommand", "map")


class Ids(StrEnum):
    TITLE = "map-title"
    LANG = "map-lang"
    COUNTS = "map-counts"
    FRESHNESS = "map-freshness"
    BANNER = "map-stale-banner"
    TILES_NOTE = "map-tiles-note"
    MAP = "map-map"
    UNITS = "map-units"
    VESSELS = "map-vessels"
    SENSORS = "map-sensors"
    TICK = "map-tick"
    VERSION = "map-version"
    LOGOUT = "map-logout"


HEADER_BG = "#14202e"
BASEMAP_STYLES: dict[str, dict[str, Any]] = {
    "land": {"color": "#b9ad8f", "weight": 0.5, "fillColor": "#ece4cf", "fillOpacity": 1},
    "district": {"color": "#7a1f5c", "weight": 3, "fill": False, "dashArray": "8 4"},
    "subdistricts": {"color": "#7a1f5c", "weight": 1.5, "fillOpacity": 0, "dashArray": "3 3"},
    "grid": {"color": "#5f6f7f", "weight": 0.6, "fillOpacity": 0, "opacity": 0.6},
    "zones": {"color": "#1b7f3b", "weight": 1.5, "fillColor": "#1b7f3b", "fillOpacity": 0.15},
}
MARKER_RADIUS = {"unit": 7, "vessel": 6, "sensor": 6}
BASEMAP_ON = ("land", "district", "subdistricts", "zones")  # grid cells start hidden


def both(key: str) -> str:
    """A label in both languages, for the few places a callback cannot restyle (layer names)."""
    return " · ".join(dict.fromkeys(t(key, lang) for lang in LANGS))


def tiles_url() -> str:
    if not has_request_context():
        return ""
    return current_app.config["SETTINGS"].map_tiles_url


def logout_form() -> html.Form:
    # A plain form POST (not a callback) so the browser follows the redirect to /login;
    # the layout is built per request, so the token is this session's (Dash also builds it once
    # at start to validate it, outside any request).
    token = generate_csrf() if has_request_context() else ""
    return html.Form(
        [dcc.Input(type="hidden", name="csrf_token", value=token),
         html.Button(both("logout"), id=Ids.LOGOUT, type="submit", className="ec-button")],
        action="/logout", method="post")


def _empty() -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": []}


def _live_layer(key: str, ident: Ids, kind: str) -> dl.Overlay:
    return dl.Overlay(dl.GeoJSON(
        id=ident, data=_empty(), pointToLayer=JS("pointToLayer"),
        hideout={"radius": MARKER_RADIUS[kind]}), name=both(key), checked=True)


def map_view() -> dl.Map:
    base = map_data.basemap()
    layers: list[Any] = []
    url = tiles_url()
    if url:
        layers.append(dl.BaseLayer(dl.TileLayer(
            url=url, maxZoom=18, eventHandlers={"tileerror": JS("tileError")}),
            name=both("layer.tiles"), checked=True))
    for key, fc in base.items():
        layers.append(dl.Overlay(dl.GeoJSON(
            data=fc, style=BASEMAP_STYLES[key], interactive=key in ("subdistricts", "zones", "grid")
        ), name=both(f"layer.{key}"), checked=key in BASEMAP_ON))
    layers += [_live_layer("count.units", Ids.UNITS, "unit"),
               _live_layer("count.vessels", Ids.VESSELS, "vessel"),
               _live_layer("count.sensors", Ids.SENSORS, "sensor")]
    return dl.Map(
        [dl.LayersControl(layers, collapsed=False), dl.ScaleControl(imperial=False)],
        id=Ids.MAP, center=list(map_data.CENTER), zoom=map_data.ZOOM, preferCanvas=True,
        className="ec-map")


def header() -> html.Header:
    return html.Header([
        html.H1(t("app.title"), id=Ids.TITLE, className="ec-title"),
        html.Div(id=Ids.COUNTS, className="ec-counts"),
        html.Div([
            html.Div(id=Ids.FRESHNESS, className="ec-freshness"),
            dcc.RadioItems(id=Ids.LANG, options=[{"label": "中文", "value": "zh"},
                                                 {"label": "English", "value": "en"}],
                           value=DEFAULT_LANG, inline=True, persistence=True,
                           persistence_type="local", className="ec-lang"),
            logout_form(),
        ], className="ec-side"),
    ], className="ec-header")


def layout() -> html.Div:
    return html.Div([
        header(),
        html.Div(id=Ids.BANNER, className="ec-banner", hidden=True),
        html.Div(t("map.tiles_unavailable"), id=Ids.TILES_NOTE, className="ec-note",
                 hidden=bool(tiles_url())),
        map_view(),
        dcc.Interval(id=Ids.TICK, interval=2000),
        dcc.Store(id=Ids.VERSION),
    ], className="ec-page")
