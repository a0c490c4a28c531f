"""The dispatch page at `/dispatch`: the incident queue, a map of the selected incident with its
ranked candidates, and the duty chief's actions (open, assign, advance, close).

Every action is a role-checked callback (duty chief only); other roles see the same page
without the forms, and a forged POST is refused by the server all the same.
"""

from __future__ import annotations

from enum import StrEnum

import dash_leaflet as dl
from dash import dcc, html

from dashboard import map_data
from domain import evidence
from layouts.map import BASEMAP_STYLES, JS


class Ids(StrEnum):
    SLOT_COUNTS = "dispatch-counts"
    TICK = "dispatch-tick"
    SELECTED = "dispatch-selected"
    QUEUE = "dispatch-queue"
    QUEUE_TITLE = "dispatch-queue-title"
    MAP = "dispatch-map"
    INCIDENTS = "dispatch-incidents"
    CANDIDATE_MARKERS = "dispatch-candidate-markers"
    LINES = "dispatch-lines"
    DETAIL = "dispatch-detail"
    CANDIDATES = "dispatch-candidates"
    CANDIDATES_TITLE = "dispatch-candidates-title"
    PREEMPT = "dispatch-preempt"
    REASON = "dispatch-reason"
    DEPARTMENT = "dispatch-department"
    ASSIGN = "dispatch-assign"
    MOVES = "dispatch-moves"
    NOTE = "dispatch-note"
    FORM = "dispatch-form"
    NEW_TYPE = "dispatch-new-type"
    NEW_PRIORITY = "dispatch-new-priority"
    NEW_SOURCE = "dispatch-new-source"
    NEW_DESCRIPTION = "dispatch-new-description"
    NEW_LAT = "dispatch-new-lat"
    NEW_LON = "dispatch-new-lon"
    CREATE = "dispatch-create"
    CREATE_NOTE = "dispatch-create-note"
    CASE_FILE = "dispatch-case-file"
    CHIEF_INPUTS = "dispatch-chief-inputs"
    NOTE_TEXT = "dispatch-note-text"
    ADD_NOTE = "dispatch-add-note"
    EVIDENCE = "dispatch-evidence"


# Pattern ids: a queue row {"type": ROW, "id": incident id}; a transition button
# {"type": MOVE, "to": state}.
ROW, MOVE = "incident-row", "incident-move"


def _layer(ident: Ids, radius: int) -> dl.GeoJSON:
    return dl.GeoJSON(
        id=ident,
        data={"type": "FeatureCollection", "features": []},
        pointToLayer=JS("pointToLayer"),
        hideout={"radius": radius, "filters": {}},
    )


def map_view() -> dl.Map:
    base = map_data.basemap()
    return dl.Map(
        [
            dl.GeoJSON(data=base["land"], style=BASEMAP_STYLES["land"], interactive=False),
            dl.GeoJSON(data=base["district"], style=BASEMAP_STYLES["district"], interactive=False),
            dl.GeoJSON(data=base["zones"], style=BASEMAP_STYLES["zones"], interactive=False),
            dl.LayerGroup(id=Ids.LINES),
            _layer(Ids.CANDIDATE_MARKERS, 8),
            _layer(Ids.INCIDENTS, 9),
            dl.ScaleControl(imperial=False),
        ],
        id=Ids.MAP,
        center=list(map_data.CENTER),
        zoom=map_data.ZOOM,
        preferCanvas=True,
        className="ec-map",
    )


def new_incident_form() -> html.Details:
    """Filled in by the language callback (labels, options); lat/lon by a click on the map."""
    return html.Details(
        [
            html.Summary(id=f"{Ids.FORM}-title"),
            dcc.Dropdown(id=Ids.NEW_TYPE, clearable=False, className="ec-filter"),
            dcc.RadioItems(id=Ids.NEW_PRIORITY, value=2, inline=True, className="ec-radio"),
            dcc.Dropdown(id=Ids.NEW_SOURCE, value="manual", clearable=False, className="ec-filter"),
            dcc.Textarea(id=Ids.NEW_DESCRIPTION, maxLength=2000, className="ec-textarea"),
            html.Div(
                [
                    dcc.Input(id=Ids.NEW_LAT, type="number", step="any", className="ec-input"),
                    dcc.Input(id=Ids.NEW_LON, type="number", step="any", className="ec-input"),
                ],
                className="ec-latlon",
            ),
            html.Button(id=Ids.CREATE, className="ec-button ec-primary"),
            html.Div(id=Ids.CREATE_NOTE, className="ec-action-note", role="status"),
        ],
        id=Ids.FORM,
        className="ec-form",
    )


def actions_panel() -> html.Div:
    return html.Div(
        [
            html.H3(id=Ids.CANDIDATES_TITLE, className="ec-panel-title"),
            dcc.Checklist(id=Ids.CANDIDATES, options=[], value=[], className="ec-candidates"),
            html.Div(
                [  # duty chiefs only (hidden for the others; the server refuses them anyway)
                    dcc.Checklist(id=Ids.PREEMPT, options=[], value=[], className="ec-preempt"),
                    dcc.Input(
                        id=Ids.REASON, type="text", maxLength=500, className="ec-input ec-reason"
                    ),
                    dcc.Dropdown(id=Ids.DEPARTMENT, className="ec-filter"),
                ],
                id=Ids.CHIEF_INPUTS,
            ),
            html.Div(
                [
                    html.Button(id=Ids.ASSIGN, className="ec-button ec-primary"),
                    html.Div(id=Ids.MOVES, className="ec-moves"),
                ],
                className="ec-actions",
            ),
            html.Div(id=Ids.NOTE, className="ec-action-note", role="status"),
            case_file(),
        ],
        className="ec-dispatch-actions",
    )


def case_file() -> html.Div:
    """Notes and evidence of the selected incident (labels from the language callback)."""
    return html.Div(
        [
            html.H3(id=f"{Ids.CASE_FILE}-title", className="ec-panel-title"),
            dcc.Textarea(id=Ids.NOTE_TEXT, maxLength=2000, className="ec-textarea"),
            html.Button(id=Ids.ADD_NOTE, className="ec-button"),
            # max_size: refused in the browser before sending; the server checks again
            dcc.Upload(
                id=Ids.EVIDENCE,
                max_size=evidence.MAX_BYTES,
                multiple=False,
                accept="image/jpeg,image/png,image/webp,application/pdf,video/mp4",
                className="ec-upload",
            ),
        ],
        id=Ids.CASE_FILE,
    )


def header_slot(_params: dict[str, str]) -> list[html.Div]:
    return [html.Div(id=Ids.SLOT_COUNTS, className="ec-counts")]


def content(_params: dict[str, str]) -> html.Div:
    return html.Div(
        [
            html.Aside(
                [
                    new_incident_form(),
                    html.H2(id=Ids.QUEUE_TITLE, className="ec-feed-title"),
                    html.Div(id=Ids.QUEUE, className="ec-feed"),
                ],
                className="ec-side-panel",
            ),
            map_view(),
            html.Aside(
                [html.Div(id=Ids.DETAIL, className="ec-detail"), actions_panel()],
                className="ec-side-panel",
            ),
            dcc.Interval(id=Ids.TICK, interval=2000),
            dcc.Store(id=Ids.SELECTED, storage_type="session"),
        ],
        className="ec-main ec-dispatch-page",
    )
