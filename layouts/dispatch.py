"""The dispatch page at `/dispatch`: the incident queue, a map of the selected incident with its
ranked candidates, and the duty chief's actions (open, assign, advance, transfer, close, notes and
evidence).

Everyone signed in may look (operators view incidents, leaders follow them); only a duty chief's
page has the forms, the candidates' checkboxes, the pre-emption, reason and transfer inputs and the
buttons. Every action is a role-checked callback all the same (callbacks/dispatch.py): a forged
POST is refused by the server whatever the page holds.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import dash_leaflet as dl
from dash import dcc, html

from dashboard import map_data, roles
from dashboard.i18n import options, t
from dashboard.viewer import Viewer
from domain import evidence
from domain import incidents as model
from domain.vocab import Department
from layouts.map import BASEMAP_STYLES, JS
from views.dispatch import CANDIDATES, candidates_view, empty, panel_class, pick_view

COORD_STEP = 0.00001  # a stepper's arrow moves the place ~1 m (a map click gives 5 decimals)
RANK_EVERY_MS = 15_000  # candidates ranked again: ETAs and position ages move with time


class Ids(StrEnum):
    SLOT_COUNTS = "dispatch-counts"
    TICK = "dispatch-tick"
    SELECTED = "dispatch-selected"
    CHANGED = "dispatch-changed"  # a duty chief's action changed the incident: show it again
    SEEN = "dispatch-seen"  # the shown incident's revision: it moved, show it again
    CLOCK = "dispatch-clock"  # candidates' ranks and position ages move with time: rank again
    PANEL = "dispatch-panel"  # the right-hand panel: what it offers follows the incident
    QUEUE = "dispatch-queue"
    QUEUE_TITLE = "dispatch-queue-title"
    MAP = "dispatch-map"  # the duty chief's map: a click on it places a new incident
    VIEW_MAP = "dispatch-map-view"  # everyone else's: the same map, nothing to place
    INCIDENTS = "dispatch-incidents"
    CANDIDATE_MARKERS = "dispatch-candidate-markers"
    LINES = "dispatch-lines"
    DETAIL = "dispatch-detail"
    CANDIDATES_BOX = "dispatch-candidates-box"
    CANDIDATES = CANDIDATES  # the chief's checklist, inside the box
    CANDIDATES_TITLE = "dispatch-candidates-title"
    PREEMPT = "dispatch-preempt"
    REASON = "dispatch-reason"
    DEPARTMENT = "dispatch-department"
    ASSIGN = "dispatch-assign"
    NOTE = "dispatch-note"
    FORM = "dispatch-form"
    FORM_TITLE = "dispatch-form-title"
    NEW_TYPE = "dispatch-new-type"
    NEW_PRIORITY = "dispatch-new-priority"
    NEW_SOURCE = "dispatch-new-source"
    NEW_DESCRIPTION = "dispatch-new-description"
    NEW_PHONE = "dispatch-new-phone"  # a hotline caller's number: shown masked afterwards
    NEW_LAT = "dispatch-new-lat"
    NEW_LON = "dispatch-new-lon"
    CREATE = "dispatch-create"
    CREATE_NOTE = "dispatch-create-note"
    CASE_FILE = "dispatch-case-file"
    CASE_FILE_TITLE = "dispatch-case-file-title"
    CHIEF_INPUTS = "dispatch-chief-inputs"
    NOTE_TEXT = "dispatch-note-text"
    ADD_NOTE = "dispatch-add-note"
    MESSAGE = "dispatch-message"
    EVIDENCE = "dispatch-evidence"


def _layer(ident: Ids, radius: int) -> dl.GeoJSON:
    return dl.GeoJSON(
        id=ident,
        data=empty(),
        pointToLayer=JS("pointToLayer"),
        hideout={"radius": radius, "filters": {}},
    )


def map_view(chief: bool, lang: str) -> dl.Map:
    base = map_data.basemap()
    return dl.Map(
        [
            dl.GeoJSON(data=base["land"], style=BASEMAP_STYLES["land"], interactive=False),
            dl.GeoJSON(data=base["district"], style=BASEMAP_STYLES["district"], interactive=False),
            dl.GeoJSON(data=base["zones"], style=BASEMAP_STYLES["zones"], interactive=False),
            # every unit, pushed and moved in place (assets/live.js): the chief watches the
            # units sent approach
            dl.GeoJSON(
                data=map_data.live_anchor("units", lang),
                pointToLayer=JS("pointToLayer"),
                hideout={"radius": 6, "filters": {}},
            ),
            dl.LayerGroup(id=Ids.LINES),
            _layer(Ids.CANDIDATE_MARKERS, 8),
            _layer(Ids.INCIDENTS, 9),
            dl.ScaleControl(imperial=False),
        ],
        id=Ids.MAP if chief else Ids.VIEW_MAP,
        center=list(map_data.CENTER),
        zoom=map_data.ZOOM,
        preferCanvas=True,
        className="ec-map",
    )


def new_incident_form(lang: str) -> html.Details:
    """The duty chief's form to open an incident; lat/lon by a click on the map."""
    return html.Details(
        [
            html.Summary(t("dispatch.new", lang), id=Ids.FORM_TITLE),
            dcc.Dropdown(
                id=Ids.NEW_TYPE,
                options=options("incident.type", model.IncidentType, lang),
                placeholder=t("dispatch.type_placeholder", lang),
                clearable=False,
                className="ec-filter",
            ),
            dcc.RadioItems(
                id=Ids.NEW_PRIORITY,
                options=options("incident.priority", model.Priority, lang),
                value=2,
                inline=True,
                className="ec-radio",
            ),
            dcc.Dropdown(
                id=Ids.NEW_SOURCE,
                options=options("incident.source", model.Source, lang),
                value="manual",
                clearable=False,
                className="ec-filter",
            ),
            dcc.Textarea(
                id=Ids.NEW_DESCRIPTION,
                placeholder=t("dispatch.description", lang),
                maxLength=2000,
                className="ec-textarea",
            ),
            dcc.Input(
                id=Ids.NEW_PHONE,
                type="tel",
                maxLength=20,
                autoComplete="off",
                placeholder=t("dispatch.new_phone", lang),
                className="ec-input",
            ),
            html.Div(
                [
                    dcc.Input(
                        id=Ids.NEW_LAT,
                        type="number",
                        step=COORD_STEP,
                        placeholder=t("dispatch.lat", lang),
                        className="ec-input",
                    ),
                    dcc.Input(
                        id=Ids.NEW_LON,
                        type="number",
                        step=COORD_STEP,
                        placeholder=t("dispatch.lon", lang),
                        className="ec-input",
                    ),
                ],
                className="ec-latlon",
            ),
            html.Div(t("dispatch.latlon_hint", lang), className="ec-hint"),
            html.Button(
                t("dispatch.open_button", lang), id=Ids.CREATE, className="ec-button ec-primary"
            ),
            html.Div(id=Ids.CREATE_NOTE, className="ec-action-note", role="status"),
        ],
        id=Ids.FORM,
        className="ec-form",
    )


def chief_inputs(lang: str) -> html.Div:
    """Pre-emption, the reason of a move and the department of a transfer."""
    return html.Div(
        [
            dcc.Checklist(
                id=Ids.PREEMPT,
                options=[{"label": t("dispatch.allow_preempt", lang), "value": "yes"}],
                value=[],
                className="ec-preempt ec-assigning",
            ),
            dcc.Input(
                id=Ids.REASON,
                type="text",
                maxLength=500,
                placeholder=t("dispatch.reason", lang),
                className="ec-input ec-reason ec-reasoned",
            ),
            dcc.Dropdown(
                id=Ids.DEPARTMENT,
                options=options("dept", Department, lang),
                placeholder=t("dispatch.transfer_to", lang),
                className="ec-filter ec-reasoned",
            ),
            html.Div(
                html.Button(
                    t("dispatch.assign", lang), id=Ids.ASSIGN, className="ec-button ec-primary"
                ),
                className="ec-actions ec-assigning",
            ),
        ],
        id=Ids.CHIEF_INPUTS,
    )


def case_file(lang: str) -> html.Div:
    """The duty chief's inputs to the selected incident's case file: a note, evidence."""
    return html.Div(
        [
            html.H3(
                t("dispatch.add_to_case_file", lang),
                id=Ids.CASE_FILE_TITLE,
                className="ec-panel-title",
            ),
            dcc.Textarea(
                id=Ids.NOTE_TEXT,
                placeholder=t("dispatch.note_placeholder", lang),
                maxLength=2000,
                className="ec-textarea",
            ),
            html.Div(
                [
                    html.Button(
                        t("dispatch.add_note", lang), id=Ids.ADD_NOTE, className="ec-button"
                    ),
                    html.Button(
                        t("dispatch.send_to_units", lang), id=Ids.MESSAGE, className="ec-button"
                    ),
                ],
                className="ec-actions",
            ),
            # max_size: refused in the browser before sending; the server checks again
            dcc.Upload(
                html.Div(t("dispatch.evidence_drop", lang)),
                id=Ids.EVIDENCE,
                max_size=evidence.MAX_BYTES,
                multiple=False,
                accept="image/jpeg,image/png,image/webp,application/pdf,video/mp4,video/quicktime",
                className="ec-upload",
            ),
        ],
        id=Ids.CASE_FILE,
    )


def actions_panel(lang: str, chief: bool) -> html.Div:
    """The candidates for everyone (a list to read, or the chief's checklist); a duty chief's
    inputs, the note where the answer to an action shows, and the case file's inputs."""
    chiefs: list[Any] = [
        chief_inputs(lang),
        html.Div(id=Ids.NOTE, className="ec-action-note", role="status"),
        case_file(lang),
    ]
    return html.Div(
        [
            html.H3(
                t("dispatch.candidates", lang),
                id=Ids.CANDIDATES_TITLE,
                className="ec-panel-title ec-assigning",
            ),
            html.Div(
                candidates_view([], lang, chief), id=Ids.CANDIDATES_BOX, className="ec-assigning"
            ),
            *(chiefs if chief else []),
        ],
        className="ec-dispatch-actions",
    )


def slot(_viewer: Viewer, _params: dict[str, str]) -> list[html.Div]:
    return [html.Div(id=Ids.SLOT_COUNTS, className="ec-counts")]


def body(viewer: Viewer, _params: dict[str, str]) -> html.Div:
    lang, chief = viewer.lang, viewer.role in roles.DISPATCHERS
    queue: list[Any] = [
        html.H2(t("dispatch.queue", lang), id=Ids.QUEUE_TITLE, className="ec-feed-title"),
        # the ended incidents are searched on /history (layouts/history.py), for who may read it
        *(
            [html.A(t("history.link", lang), href="/history", className="ec-history-link")]
            if viewer.role in roles.DISPATCHERS | roles.ANALYSTS
            else []
        ),
        html.Div(id=Ids.QUEUE, className="ec-feed"),
    ]
    return html.Div(
        [
            html.Aside(
                [new_incident_form(lang), *queue] if chief else queue, className="ec-side-panel"
            ),
            map_view(chief, viewer.lang),
            html.Aside(
                [
                    html.Div(pick_view(lang), id=Ids.DETAIL, className="ec-detail"),
                    actions_panel(lang, chief),
                ],
                id=Ids.PANEL,
                className=panel_class(None),
            ),
            dcc.Interval(id=Ids.TICK, interval=2000),
            dcc.Interval(id=Ids.CLOCK, interval=RANK_EVERY_MS),
            dcc.Store(id=Ids.SELECTED, storage_type="session"),
            dcc.Store(id=Ids.CHANGED),
            dcc.Store(id=Ids.SEEN),
        ],
        className="ec-main ec-dispatch-page",
    )
