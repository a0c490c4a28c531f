"""The coverage page at `/coverage` (全面覆盖、无盲区): land grid, coastline and sea patrol coverage
for a window (last hour, today, 7 days) and unit filters, a presence heatmap with the blind spots
outlined, the blind-spot list with who is responsible (sortable, CSV), the daily trend and the
patrol logs their tracks do not support. Admins may reassign a place's responsible person.

Every label and option comes from the language callback; every figure from one refresh
callback (callbacks/coverage.py), so the figures, map and table always answer the same query.

The map draws with SVG in four panes, bottom to top: presence hexagons, the place grid (with
tooltips), blind cells, coast segments. Panes keep that order when a layer's data is replaced
(Leaflet re-adds replaced paths on top of their renderer).
"""

from __future__ import annotations

from enum import StrEnum

import dash_leaflet as dl
import shapely
from dash import dash_table, dcc, html

from dashboard import map_data
from domain.coverage_places import load_coverage
from layouts.map import BASEMAP_STYLES

REFRESH_MS = 10_000
MAP_ZOOM = 11.5  # the district's places fill a ~1000 x 640 px map (a 1080p wall screen)
FONTS = '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif'  # as assets/map.css


class Ids(StrEnum):
    UPDATED = "coverage-updated"
    TICK = "coverage-tick"
    SIGNATURE = "coverage-signature"
    WINDOW = "coverage-window"
    WINDOW_LABEL = "coverage-window-label"
    KINDS = "coverage-kinds"
    KINDS_LABEL = "coverage-kinds-label"
    DEPARTMENTS = "coverage-departments"
    DEPARTMENTS_LABEL = "coverage-departments-label"
    RANGE = "coverage-range"
    FIGURES = "coverage-figures"
    SUBDISTRICTS = "coverage-subdistricts"
    MAP_TITLE = "coverage-map-title"
    MAP = "coverage-map"
    PRESENCE = "coverage-presence"
    GRID = "coverage-grid"
    BLIND = "coverage-blind"
    COAST_OK = "coverage-coast-ok"
    COAST_BLIND = "coverage-coast-blind"
    LEGEND = "coverage-legend"
    TABLE_TITLE = "coverage-table-title"
    TABLE = "coverage-table"
    CSV = "coverage-csv"
    DOWNLOAD = "coverage-download"
    TREND_TITLE = "coverage-trend-title"
    TREND = "coverage-trend"
    LOGS_TITLE = "coverage-logs-title"
    LOGS = "coverage-logs"
    REASSIGN = "coverage-reassign"
    REASSIGN_TITLE = "coverage-reassign-title"
    REASSIGN_PLACE = "coverage-reassign-place"
    REASSIGN_OWNER = "coverage-reassign-owner"
    REASSIGN_SAVE = "coverage-reassign-save"
    REASSIGN_NOTE = "coverage-reassign-note"


# Layer styles (static per layer: the colour of a presence class is its layer's, so no browser
# style function is needed). Blind coast segments are dashed as well as red, for colour-blind eyes.
GRID_STYLE = {"color": "#5f6f7f", "weight": 0.7, "opacity": 0.7, "fillOpacity": 0}
BLIND_STYLE = {
    "color": "#d7191c",
    "weight": 3,
    "opacity": 0.95,
    "fillColor": "#d7191c",
    "fillOpacity": 0.06,
}
COAST_OK_STYLE = {"color": "#1a9641", "weight": 5, "opacity": 0.95}
COAST_BLIND_STYLE = {"color": "#d7191c", "weight": 5, "opacity": 0.95, "dashArray": "10 6"}
# Sequential, light to dark (ColorBrewer YlGnBu without its palest step, which vanishes on the
# basemap's land colour); one GeoJSON layer per class.
PRESENCE_COLOURS = ("#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494")
PANES = {"presence": 401, "grid": 402, "blind": 403, "coast": 404}


def presence_style(colour: str) -> dict[str, object]:
    return {"color": colour, "weight": 0.5, "fillColor": colour, "fillOpacity": 0.7}


def _empty() -> dict[str, object]:
    return {"type": "FeatureCollection", "features": []}


def _pane(name: str, *layers: dl.GeoJSON) -> dl.Pane:
    return dl.Pane(list(layers), name=f"coverage-{name}", style={"zIndex": PANES[name]})


def places_centre() -> list[float]:
    """[lat, lon] of the middle of every place's bounds: the map opens on them (a `bounds`
    prop instead makes dash-leaflet throw when the page updates)."""
    west, south, east, north = shapely.total_bounds(list(load_coverage().geoms.values()))
    return [round(float(south + north) / 2, 4), round(float(west + east) / 2, 4)]


def map_view() -> dl.Map:
    base = map_data.basemap()
    presence = [
        dl.GeoJSON(
            id=f"{Ids.PRESENCE}-{i}", data=_empty(), style=presence_style(c), interactive=False
        )
        for i, c in enumerate(PRESENCE_COLOURS)
    ]
    return dl.Map(
        [
            dl.GeoJSON(data=base["land"], style=BASEMAP_STYLES["land"], interactive=False),
            dl.GeoJSON(data=base["district"], style=BASEMAP_STYLES["district"], interactive=False),
            _pane("presence", *presence),
            _pane("grid", dl.GeoJSON(id=Ids.GRID, data=_empty(), style=GRID_STYLE)),
            _pane("blind", dl.GeoJSON(id=Ids.BLIND, data=_empty(), style=BLIND_STYLE)),
            _pane(
                "coast",
                dl.GeoJSON(id=Ids.COAST_OK, data=_empty(), style=COAST_OK_STYLE),
                dl.GeoJSON(id=Ids.COAST_BLIND, data=_empty(), style=COAST_BLIND_STYLE),
            ),
            dl.ScaleControl(imperial=False),
        ],
        id=Ids.MAP,
        center=places_centre(),
        zoom=MAP_ZOOM,
        zoomSnap=0.25,
        className="ec-map",
    )


def _control(label: Ids, control: object) -> html.Div:
    return html.Div(
        [html.Label(id=label, className="ec-filter-label"), control], className="ec-cov-control"
    )


def controls() -> html.Div:
    # Options come from the language callback; the choices stay in this browser.
    return html.Div(
        [
            _control(
                Ids.WINDOW_LABEL,
                dcc.RadioItems(
                    id=Ids.WINDOW,
                    value="today",
                    inline=True,
                    persistence=True,
                    persistence_type="local",
                    className="ec-cov-window",
                ),
            ),
            _control(
                Ids.KINDS_LABEL,
                dcc.Dropdown(
                    id=Ids.KINDS,
                    multi=True,
                    persistence=True,
                    persistence_type="local",
                    className="ec-filter",
                ),
            ),
            _control(
                Ids.DEPARTMENTS_LABEL,
                dcc.Dropdown(
                    id=Ids.DEPARTMENTS,
                    multi=True,
                    persistence=True,
                    persistence_type="local",
                    className="ec-filter",
                ),
            ),
            html.Div(id=Ids.RANGE, className="ec-cov-range"),
        ],
        className="ec-cov-controls",
    )


def blind_table() -> html.Section:
    return html.Section(
        [
            html.Div(
                [
                    html.H2(id=Ids.TABLE_TITLE, className="ec-cov-title"),
                    html.Button(id=Ids.CSV, className="ec-button ec-cov-csv"),
                ],
                className="ec-cov-title-row",
            ),
            dash_table.DataTable(
                id=Ids.TABLE,
                data=[],
                columns=[],
                sort_action="native",
                page_size=12,
                style_as_list_view=True,
                cell_selectable=False,
                style_table={"overflowX": "auto"},
                style_header={
                    "fontWeight": 700,
                    "backgroundColor": "#dfe5eb",
                    "color": "#14202e",
                    "whiteSpace": "normal",
                },
                style_cell={
                    "fontFamily": FONTS,
                    "fontSize": "17px",
                    "padding": "6px 8px",
                    "textAlign": "left",
                    "color": "#14202e",
                    "whiteSpace": "nowrap",
                },
                style_cell_conditional=[
                    {"if": {"column_id": c}, "textAlign": "right", "width": "130px"}
                    for c in ("hours_since", "requirement_h")
                ],
                style_data_conditional=[
                    {
                        "if": {"filter_query": "{hours_since} is blank", "column_id": "last_visit"},
                        "color": "#a50f15",
                        "fontWeight": 700,
                    }
                ],
            ),
            dcc.Download(id=Ids.DOWNLOAD),
        ],
        className="ec-cov-card ec-cov-blind",
    )


def reassign_form() -> html.Details:
    """Admins only: hidden for other roles by the language callback; the server checks anyway."""
    return html.Details(
        [
            html.Summary(id=Ids.REASSIGN_TITLE),
            dcc.Dropdown(id=Ids.REASSIGN_PLACE, className="ec-filter"),
            dcc.Input(id=Ids.REASSIGN_OWNER, type="text", maxLength=40, className="ec-input"),
            html.Button(id=Ids.REASSIGN_SAVE, className="ec-button ec-primary"),
            html.Div(id=Ids.REASSIGN_NOTE, className="ec-action-note", role="status"),
        ],
        id=Ids.REASSIGN,
        hidden=True,
        className="ec-form ec-cov-reassign",
    )


def header_slot(_params: dict[str, str]) -> list[html.Div]:
    return [html.Div(id=Ids.UPDATED, className="ec-freshness")]


def content(_params: dict[str, str]) -> html.Div:
    return html.Div(
        [
            controls(),
            html.Section(
                [
                    html.H2(id=Ids.MAP_TITLE, className="ec-cov-title"),
                    map_view(),
                    html.Div(id=Ids.LEGEND, className="ec-cov-legend"),
                ],
                className="ec-cov-card ec-cov-map",
            ),
            html.Div(
                [
                    html.Div(id=Ids.FIGURES, className="ec-cov-figures"),
                    html.Div(id=Ids.SUBDISTRICTS, className="ec-cov-card"),
                    html.Section(
                        [
                            html.H2(id=Ids.TREND_TITLE, className="ec-cov-title"),
                            dcc.Graph(
                                id=Ids.TREND,
                                config={"displayModeBar": False},
                                className="ec-cov-trend",
                            ),
                        ],
                        className="ec-cov-card",
                    ),
                ],
                className="ec-cov-side",
            ),
            blind_table(),
            html.Section(
                [
                    html.H2(id=Ids.LOGS_TITLE, className="ec-cov-title"),
                    html.Div(id=Ids.LOGS, className="ec-cov-logs"),
                    reassign_form(),
                ],
                className="ec-cov-card ec-cov-logs-card",
            ),
            dcc.Interval(id=Ids.TICK, interval=REFRESH_MS),
            dcc.Store(id=Ids.SIGNATURE),
        ],
        className="ec-coverage-page",
    )
