"""The coverage page at `/coverage` (全面覆盖、无盲区): land grid, coastline and sea patrol coverage
for a window (last hour, today, 7 days) and unit filters, a presence heatmap with the blind spots
outlined, the blind-spot list with who is responsible (sortable, CSV), the daily trend and the
patrol logs their tracks do not support. Admins may reassign a place's responsible person: the
form is in an admin's page only.

Built for the viewer when opened: labels and options in their language. The figures come from one
refresh callback and the map and table follow its answer (callbacks/coverage.py), so the
figures, map and table always answer the same query.

The map draws with SVG in four panes, bottom to top: presence hexagons, the place grid (with
tooltips), blind cells, coast segments. Panes keep that order when a layer's data is replaced
(Leaflet re-adds replaced paths on top of their renderer).
"""

from __future__ import annotations

from enum import StrEnum

import dash_leaflet as dl
import shapely
from dash import dash_table, dcc, html

from dashboard import map_data, roles
from dashboard.i18n import options, t
from dashboard.viewer import Viewer
from domain.coverage_places import load_coverage
from domain.vocab import Department, UnitKind
from layouts.map import BASEMAP_STYLES, JS
from services.coverage import WINDOWS
from views.coverage import table_columns
from views.coverage_map import (
    BLIND_STYLE,
    COAST_BLIND_STYLE,
    COAST_OK_STYLE,
    GRID_STYLE,
    PRESENCE_COLOURS,
    presence_style,
)

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
    CHANGED = "coverage-changed"  # owners changed: the figures, map and table are drawn again


PANES = {"presence": 401, "grid": 402, "blind": 403, "coast": 404}


def _empty() -> dict[str, object]:
    return {"type": "FeatureCollection", "features": []}


def _pane(name: str, *layers: dl.GeoJSON) -> dl.Pane:
    return dl.Pane(list(layers), name=f"coverage-{name}", style={"zIndex": PANES[name]})


def places_centre() -> list[float]:
    """[lat, lon] of the middle of every place's bounds: the map opens on them (a `bounds`
    prop instead makes dash-leaflet throw when the page updates)."""
    west, south, east, north = shapely.total_bounds(list(load_coverage().geoms.values()))
    return [round(float(south + north) / 2, 4), round(float(west + east) / 2, 4)]


def map_view(lang: str) -> dl.Map:
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
            # every unit, pushed and moved in place (assets/live.js): who patrols beside the gaps
            dl.GeoJSON(
                data=map_data.live_anchor("units", lang),
                pointToLayer=JS("pointToLayer"),
                hideout={"radius": 5, "filters": {}},
            ),
            dl.ScaleControl(imperial=False),
        ],
        id=Ids.MAP,
        center=places_centre(),
        zoom=MAP_ZOOM,
        zoomSnap=0.25,
        className="ec-map",
    )


def _control(label: str, ident: Ids, control: object) -> html.Div:
    return html.Div(
        [html.Label(label, id=ident, className="ec-filter-label"), control],
        className="ec-cov-control",
    )


def _multi(ident: Ids, choices: list[dict[str, object]], lang: str) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=ident,
        options=choices,
        placeholder=t("coverage.all", lang),
        multi=True,
        persistence=True,
        persistence_type="local",
        className="ec-filter",
    )


def controls(lang: str) -> html.Div:
    # the choices stay in this browser
    return html.Div(
        [
            _control(
                t("coverage.window", lang),
                Ids.WINDOW_LABEL,
                dcc.RadioItems(
                    id=Ids.WINDOW,
                    options=options("coverage.window", WINDOWS, lang),
                    value="today",
                    inline=True,
                    persistence=True,
                    persistence_type="local",
                    className="ec-cov-window",
                ),
            ),
            _control(
                t("coverage.unit_kinds", lang),
                Ids.KINDS_LABEL,
                _multi(Ids.KINDS, options("kind", UnitKind, lang), lang),
            ),
            _control(
                t("coverage.departments", lang),
                Ids.DEPARTMENTS_LABEL,
                _multi(Ids.DEPARTMENTS, options("dept", Department, lang), lang),
            ),
            html.Div(id=Ids.RANGE, className="ec-cov-range"),
        ],
        className="ec-cov-controls",
    )


def blind_table(lang: str) -> html.Section:
    return html.Section(
        [
            html.Div(
                [
                    html.H2(id=Ids.TABLE_TITLE, className="ec-cov-title"),
                    html.Button(
                        t("coverage.csv", lang), id=Ids.CSV, className="ec-button ec-cov-csv"
                    ),
                ],
                className="ec-cov-title-row",
            ),
            dash_table.DataTable(
                id=Ids.TABLE,
                data=[],
                columns=table_columns(lang),
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


def reassign_form(lang: str) -> html.Details:
    """Admins only (other roles' pages have none; the server checks anyway). The places and their
    owners come from a callback: building a page reads no data."""
    return html.Details(
        [
            html.Summary(t("coverage.reassign", lang), id=Ids.REASSIGN_TITLE),
            dcc.Dropdown(
                id=Ids.REASSIGN_PLACE,
                placeholder=t("coverage.reassign.place", lang),
                className="ec-filter",
            ),
            dcc.Input(
                id=Ids.REASSIGN_OWNER,
                type="text",
                maxLength=40,
                placeholder=t("coverage.reassign.owner", lang),
                className="ec-input",
            ),
            html.Button(
                t("coverage.reassign.save", lang),
                id=Ids.REASSIGN_SAVE,
                className="ec-button ec-primary",
            ),
            html.Div(id=Ids.REASSIGN_NOTE, className="ec-action-note", role="status"),
        ],
        id=Ids.REASSIGN,
        className="ec-form ec-cov-reassign",
    )


def slot(_viewer: Viewer, _params: dict[str, str]) -> list[html.Div]:
    return [html.Div(id=Ids.UPDATED, className="ec-freshness")]


def _card(title: str, ident: Ids, *children: object, cls: str = "ec-cov-card") -> html.Section:
    return html.Section(
        [html.H2(title, id=ident, className="ec-cov-title"), *children], className=cls
    )


def body(viewer: Viewer, _params: dict[str, str]) -> html.Div:
    lang = viewer.lang
    trend = dcc.Graph(id=Ids.TREND, config={"displayModeBar": False}, className="ec-cov-trend")
    logs = [html.Div(id=Ids.LOGS, className="ec-cov-logs")]
    if viewer.role in roles.ADMINS:
        logs.append(reassign_form(lang))
    return html.Div(
        [
            controls(lang),
            _card(
                t("coverage.map", lang),
                Ids.MAP_TITLE,
                map_view(lang),
                html.Div(id=Ids.LEGEND, className="ec-cov-legend"),
                cls="ec-cov-card ec-cov-map",
            ),
            html.Div(
                [
                    html.Div(id=Ids.FIGURES, className="ec-cov-figures"),
                    html.Div(id=Ids.SUBDISTRICTS, className="ec-cov-card"),
                    _card(t("coverage.trend", lang), Ids.TREND_TITLE, trend),
                ],
                className="ec-cov-side",
            ),
            blind_table(lang),
            _card(
                t("coverage.logs", lang),
                Ids.LOGS_TITLE,
                *logs,
                cls="ec-cov-card ec-cov-logs-card",
            ),
            dcc.Interval(id=Ids.TICK, interval=REFRESH_MS),
            dcc.Store(id=Ids.SIGNATURE),
            dcc.Store(id=Ids.CHANGED),
        ],
        className="ec-coverage-page",
    )
