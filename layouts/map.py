"""The live map page at `/`: live counts and data freshness in the header, a stale-data banner,
a dash-leaflet map over a local basemap drawn from `config/geo` (works with no tile server), and
a side panel with browser-side filters, the legend and the alert feed. `/?wall=1` is the same
page as a wall screen: dark, large type, no controls.

Built for the viewer when opened (layouts/shell.py): labels in their language; the notes of the
alert actions only for the roles that may act (views/map.py gives their buttons).

Markers are canvas circles drawn by `window.ecocommand.map.pointToLayer` in `assets/map.js`,
referenced by name through `Namespace` (no `assign()`, no eval: the script is a 'self' asset).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import dash_leaflet as dl
from dash import dcc, html
from dash_extensions.javascript import Namespace
from flask import current_app, has_request_context

from dashboard import map_data, roles
from dashboard.context import app_context
from dashboard.i18n import options, t
from dashboard.viewer import Viewer
from domain.incidents import IncidentType
from domain.vocab import Department, Subdistrict, UnitStatus
from layouts.shell import is_wall
from services.entity_detail import unit_handles
from services.errors import STORE_DOWN
from views.map import legend_view

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
    LEGEND = "map-legend"
    FEED_TITLE = "map-feed-title"
    FEED = "map-feed"
    ACK_NOTE = "map-ack-note"
    CLOSE_NOTE = "map-close-note"
    SEARCH = "map-search"  # units, vessels, incidents by name or id (assets/search.js)
    SEARCH_HITS = "map-search-hits"
    WALL_INCIDENTS = "map-wall-incidents"  # the wall screen's open incidents, above the alerts
    CLOCK = "map-clock"  # the wall screen's clock (Shenzhen time, assets/map.js)
    ENTITIES = "map-entities"  # the list of units and vessels beside the map (entity_list.js)
    LIST = "map-entity-list"  # its search, status filter and rows (drawn by the browser)
    DETAIL_BOX = "map-detail-box"  # a unit's or vessel's panel, opened from list, search or map
    DETAIL = "map-detail"  # the panel's live part: last report, open alerts, replay link
    DETAIL_PICK = "map-detail-pick"  # store: {layer, id} the panel shows (set by the browser)
    DETAIL_STATIC = "map-detail-static"  # its particulars, from the server (callbacks/map.py)


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
    # land a lit slate against a deep-blue sea: told apart from across a dark room
    "land": {"color": "#8fa1b5", "weight": 0.8, "fillColor": "#5a6877", "fillOpacity": 1},
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


def _live_layer(name: str, ident: Ids, kind: str, data: dict[str, Any] | None = None) -> dl.Overlay:
    return dl.Overlay(
        dl.GeoJSON(
            id=ident,
            data=data or _empty(),
            pointToLayer=JS("pointToLayer"),
            filter=JS("filter"),
            hideout=hideout(kind),
        ),
        name=name,
        checked=True,
    )


def json_bounds() -> str:
    return json.dumps(map_data.district_bounds())


def _view(wall: bool) -> dict[str, Any]:
    """Where the map opens: the wall screen fits the district (the peninsula fills the map, in
    quarter zoom steps); a desk opens on the district and its bay."""
    view = {"center": list(map_data.CENTER), "zoom": map_data.ZOOM}
    if wall:  # dash-leaflet still wants a center and zoom (it compares them as the map moves)
        (s, w), (n, e) = map_data.district_bounds()
        view = {"center": [(s + n) / 2, (w + e) / 2], "zoom": map_data.ZOOM + 1}
        view |= {
            "bounds": [[s, w], [n, e]],
            "zoomSnap": 0.25,
            "boundsOptions": {"padding": [12, 12]},
        }
    return view


def map_view(styles: dict[str, dict[str, Any]], lang: str, wall: bool = False) -> dl.Map:
    base = map_data.basemap()
    layers: list[Any] = []
    url = tiles_url()
    if url:
        layers.append(
            dl.BaseLayer(
                dl.TileLayer(url=url, maxZoom=18, eventHandlers={"tileerror": JS("tileError")}),
                name=t("layer.tiles", lang),
                checked=True,
            )
        )
    for key, fc in base.items():
        layers.append(
            dl.Overlay(
                dl.GeoJSON(
                    data=fc, style=styles[key], interactive=key in ("subdistricts", "zones", "grid")
                ),
                name=t(f"layer.{key}", lang),
                checked=key in BASEMAP_ON,
            )
        )
    layers += [
        _live_layer(t("layer.alerts", lang), Ids.ALERTS, "alert"),
        _live_layer(t("layer.incidents", lang), Ids.INCIDENTS, "incident"),
        # pushed: one anchor each, the markers come from /_stream/live (assets/live.js)
        _live_layer(t("count.units", lang), Ids.UNITS, "unit", map_data.live_anchor("units", lang)),
        _live_layer(
            t("count.vessels", lang), Ids.VESSELS, "vessel", map_data.live_anchor("vessels", lang)
        ),
        _live_layer(
            t("count.sensors", lang), Ids.SENSORS, "sensor", map_data.live_anchor("sensors", lang)
        ),
    ]
    return dl.Map(
        [dl.LayersControl(layers, collapsed=False), dl.ScaleControl(imperial=False)],
        id=Ids.MAP,
        **_view(wall),
        preferCanvas=True,
        className="ec-map",
    )


def slot(_viewer: Viewer, _params: dict[str, str]) -> list[html.Div]:
    """The map's live figures, shown in the shared header: counts and the data's freshness."""
    return [
        html.Div(id=Ids.COUNTS, className="ec-counts"),
        html.Div(id=Ids.FRESHNESS, className="ec-freshness"),
        html.Div(id=Ids.CLOCK, className="ec-clock", **{"data-tz": "Asia/Shanghai"}),
    ]


def _filter(label: str, ident: Ids, choices: list[dict[str, object]], lang: str) -> html.Div:
    # The chosen values stay in this browser (persistence) and filter the markers it has.
    return html.Div(
        [
            html.Label(label, htmlFor=ident, className="ec-filter-label"),
            dcc.Dropdown(
                id=ident,
                options=choices,
                placeholder=t("filter.all", lang),
                multi=True,
                persistence=True,
                persistence_type="local",
                className="ec-filter",
            ),
        ],
        className="ec-filter-row",
    )


def filters(lang: str) -> html.Div:
    subdistricts = [s.value for s in Subdistrict] + [map_data.NO_SUBDISTRICT]
    return html.Div(
        [
            _filter(
                t("filter.department", lang),
                Ids.FILTER_DEPARTMENT,
                options("dept", list(Department), lang),
                lang,
            ),
            _filter(
                t("filter.subdistrict", lang),
                Ids.FILTER_SUBDISTRICT,
                options("subdistrict", subdistricts, lang),
                lang,
            ),
            _filter(
                t("filter.status", lang),
                Ids.FILTER_STATUS,
                options("status", list(UnitStatus), lang),
                lang,
            ),
        ],
        className="ec-filters",
    )


def action_notes(role: str | None, wall: bool) -> list[html.Div]:
    """Where the answer to an alert action shows: for the roles that have the buttons (nobody
    acts on a wall screen)."""
    notes = []
    if not wall and role in roles.ACKNOWLEDGERS:
        notes.append(html.Div(id=Ids.ACK_NOTE, className="ec-action-note", role="status"))
    if not wall and role in roles.DISPATCHERS:
        notes.append(html.Div(id=Ids.CLOSE_NOTE, className="ec-action-note", role="status"))
    return notes


PLACE_KINDS = ("subdistrict", "community", "land", "coast", "sea", "zone", "place")


def search_box(lang: str) -> html.Div:
    """Search the live picture and the district's places: the matching is in the browser
    (assets/search.js), over the records the page holds and the places index (~15 KB, names
    in the page's language); the labels it needs come as the box's data attributes."""
    kinds = {"units": t("count.units", lang), "vessels": t("count.vessels", lang)}
    kinds["incidents"] = t("layer.incidents", lang)
    types = {k.value: t(f"incident.type.{k.value}", lang) for k in IncidentType}
    return html.Div(
        [
            dcc.Input(
                id=Ids.SEARCH,
                type="search",
                placeholder=t("search.placeholder", lang),
                autoComplete="off",
                className="ec-input ec-search-input",
            ),
            html.Ul(id=Ids.SEARCH_HITS, className="ec-search-hits", role="listbox", hidden=True),
        ],
        className="ec-search",
        **{
            "data-kinds": json.dumps(kinds, ensure_ascii=False),
            "data-types": json.dumps(types, ensure_ascii=False),
            "data-follow": t("search.follow", lang),
            "data-places": json.dumps(map_data.places_index(lang), ensure_ascii=False),
            "data-place-kinds": json.dumps(
                {k: t(f"search.kind.{k}", lang) for k in PLACE_KINDS}, ensure_ascii=False
            ),
        },
    )


def side_panel(viewer: Viewer, wall: bool) -> html.Aside:
    return html.Aside(
        [
            search_box(viewer.lang),
            filters(viewer.lang),
            html.Details(legend_view(viewer.lang), id=Ids.LEGEND, className="ec-legend", open=True),
            # filled on the wall screen only (callbacks/map.refresh): what is being handled
            html.Div(id=Ids.WALL_INCIDENTS, className="ec-wall-incidents", hidden=not wall),
            html.H2(t("alerts.title", viewer.lang), id=Ids.FEED_TITLE, className="ec-feed-title"),
            *action_notes(viewer.role, wall),
            html.Div(id=Ids.FEED, className="ec-feed"),
        ],
        className="ec-side-panel",
    )


VESSEL_STATES = ("under_way", "stopped", "in_zone", "unknown")
ALERT_KINDS = tuple(f"alert.{k}" for k in ("geofence", "water_quality", "coverage_due"))
ENTITY_LABELS = (
    "entities.title",
    "entities.toggle",
    "entities.any_status",
    "entities.more",
    "entities.none",
    "entities.shown",
    "entities.unfollow",
    "search.follow",
    "count.units",
    "count.vessels",
    "detail.close",
    "detail.last_report",
    "detail.alerts",
    "detail.no_alerts",
    "detail.replay",
    "detail.time",
    "detail.position",
)


def _handles() -> dict[str, str]:
    try:
        return unit_handles(app_context())
    except STORE_DOWN:  # the page still opens (its banner says why); the list finds by name
        return {}


def entity_list(lang: str) -> html.Aside:
    """The units and vessels beside the map, with a unit's or vessel's panel: built in the
    browser from the pushed records (assets/entity_list.js); here its labels, the statuses to
    filter by, and the units' call signs and plates (not in the pushed records)."""
    statuses = {
        "units": {s.value: t(f"status.{s.value}", lang) for s in UnitStatus},
        "vessels": {s: t(f"vessel.state.{s}", lang) for s in VESSEL_STATES},
    }
    return html.Aside(
        [
            html.Div(id=Ids.LIST, className="ec-entity-list"),
            # the panel: its live part drawn by the browser, its particulars by the server
            html.Div(
                [
                    html.Div(id=Ids.DETAIL, className="ec-detail"),
                    html.Div(id=Ids.DETAIL_STATIC, className="ec-detail-static"),
                ],
                id=Ids.DETAIL_BOX,
                className="ec-detail-box",
                hidden=True,
            ),
            dcc.Store(id=Ids.DETAIL_PICK),
        ],
        id=Ids.ENTITIES,
        className="ec-entities",
        **{
            "aria-label": t("entities.title", lang),
            "data-labels": json.dumps(
                {k: t(k, lang) for k in (*ENTITY_LABELS, *ALERT_KINDS)}, ensure_ascii=False
            ),
            "data-filter": t("entities.filter", lang),
            "data-statuses": json.dumps(statuses, ensure_ascii=False),
            "data-handles": json.dumps(_handles(), ensure_ascii=False),
        },
    )


def body(viewer: Viewer, params: dict[str, str]) -> html.Div:
    wall = is_wall(params)
    return html.Div(
        [
            html.Div(
                t("map.stale", viewer.lang), id=Ids.BANNER, className="ec-banner", hidden=True
            ),
            # the wall's map keeps the district in view (assets/live.js fitWall)
            *(
                [html.Div(id="map-fit", hidden=True, **{"data-bounds": json_bounds()})]
                if wall
                else []
            ),
            html.Div(
                t("map.tiles_unavailable", viewer.lang),
                id=Ids.TILES_NOTE,
                className="ec-note",
                # the local basemap is the default, not a fault: said only when a configured
                # tile source fails (assets/map.js tileError)
                hidden=True,
            ),
            html.Div(
                [
                    *([] if wall else [entity_list(viewer.lang)]),  # a wall has nobody to pick
                    map_view(DARK_BASEMAP_STYLES if wall else BASEMAP_STYLES, viewer.lang, wall),
                    side_panel(viewer, wall),
                ],
                className="ec-main",
            ),
            # the wall screen: one update a second, nobody there to wait for a click's answer
            dcc.Interval(id=Ids.TICK, interval=1000 if wall else 2000),
            dcc.Store(id=Ids.VERSION),
            dcc.Store(id=Ids.MODE, data={"wall": wall}),
        ],
        className="ec-map-page",
    )
