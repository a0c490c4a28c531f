"""Dispatch page callbacks. Reading (queue, detail, candidates) is for every signed-in role; the
actions (open, assign, advance, close) are for duty chiefs and go through the same services as
the API (dashboard/incidents_api.py), so page and API refuse the same things the same way."""

from __future__ import annotations

import base64
import binascii
from html import escape
from typing import Any

import dash
import dash_leaflet as dl
from dash import ALL, Input, Output, State, html, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from dashboard import map_data, roles
from dashboard.context import app_context
from dashboard.i18n import lang_of, options, t
from dashboard.incidents_api import (
    Assignment,
    Move,
    NewIncident,
    Note,
    Refused,
    add_evidence,
    add_note,
    assign_units,
    detail,
    evidence_url,
    move,
    open_incident,
    with_clocks,
)
from domain import incidents as model
from domain.evidence import INLINE_TYPES
from domain.vocab import Department
from layouts.dispatch import MOVE, ROW, Ids
from layouts.shell import Ids as Shell
from store import incidents
from store.dispatch import candidates

PRIORITY_COLOURS = {1: "#e0261b", 2: "#f0a500", 3: "#1f78d1"}
MAX_QUEUE = 200


def _r() -> Any:
    return app_context().redis


def _age(ms: Any, now: int, lang: str) -> str:
    return map_data.fmt_age((now - ms) / 1000, lang) if isinstance(ms, int) else "—"


def _incident_feature(inc: dict[str, Any], selected: bool, lang: str) -> dict[str, Any]:
    p = int(inc.get("priority") or 3)
    title = f"{inc['id']} · {t('incident.type.' + str(inc.get('type')), lang)}"
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [inc["lon"], inc["lat"]]},
        "properties": {
            "id": f"incident:{inc['id']}",
            "kind": "incident",
            "shape": "diamond",
            "color": PRIORITY_COLOURS.get(p, "#6a3d9a"),
            "stroke": "#000000" if selected else "#ffffff",
            "strokeWeight": 4 if selected else 2,
            "tooltip": escape(title),
        },
    }


def queue_order(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most urgent first, then oldest first: what a duty chief works through."""
    return sorted(items, key=lambda i: (int(i.get("priority") or 3), i.get("created_ms") or 0))


def _row(inc: dict[str, Any], now: int, lang: str, selected: bool) -> html.Li:
    p = int(inc.get("priority") or 3)
    late = inc.get("deadlines_missed") or []
    return html.Li(
        html.Button(
            [
                html.Div(
                    [
                        html.Span(
                            t(f"incident.priority.{p}", lang), className=f"ec-prio ec-prio-{p}"
                        ),
                        html.Span(
                            t(f"incident.type.{inc.get('type')}", lang), className="ec-alert-kind"
                        ),
                        html.Span(
                            _age(inc.get("created_ms"), now, lang), className="ec-alert-time"
                        ),
                    ],
                    className="ec-alert-head",
                ),
                html.Div(
                    f"{inc['id']} · {t('incident.state.' + str(inc.get('state')), lang)}"
                    + (f" · {', '.join(inc.get('units') or [])}" if inc.get("units") else ""),
                    className="ec-alert-source",
                ),
                *[html.Div(t(f"incident.deadline.{d}", lang), className="ec-late") for d in late],
                *_escalation(inc, lang),
            ],
            id={"type": ROW, "id": inc["id"]},
            className="ec-row-button",
        ),
        className="ec-alert-item ec-selected" if selected else "ec-alert-item",
    )


def _escalation(inc: dict[str, Any], lang: str) -> list[html.Div]:
    """Who is responsible now, once a missed deadline has moved the case up a level."""
    if not inc.get("deadlines_missed") or not inc.get("level"):
        return []
    return [
        html.Div(
            t("dispatch.escalated", lang).format(level=t(f"level.{inc['level']}", lang)),
            className="ec-late",
        )
    ]


def _timeline_view(inc: dict[str, Any], lang: str) -> html.Ol:
    rows = []
    for step in inc.get("timeline", []):
        to = t(f"incident.state.{step.get('to')}", lang)
        who = step.get("by") or ""
        why = f" — {step['reason']}" if step.get("reason") else ""
        rows.append(html.Li(f"{map_data.local_time(step.get('at_ms'))} {to} · {who}{why}"))
    return html.Ol(rows, className="ec-timeline")


def _note_view(inc_id: str, n: dict[str, Any]) -> html.Li:
    head = f"{map_data.local_time(n.get('at_ms'))} · {n.get('by') or ''}"
    if n.get("kind") != "evidence":
        return html.Li(
            [html.Span(head, className="ec-alert-time"), html.Div(str(n.get("text") or ""))]
        )
    url = evidence_url(inc_id, str(n.get("sha256")))
    name = f"{n.get('name')} ({(n.get('size') or 0) / 1e6:.1f} MB)"
    shown = (
        html.Img(src=url, alt=str(n.get("caption") or n.get("name")), className="ec-thumb")
        if n.get("media_type") in INLINE_TYPES
        else name
    )
    return html.Li(
        [
            html.Span(head, className="ec-alert-time"),
            html.A(shown, href=url, target="_blank", rel="noopener"),
            html.Div(str(n.get("caption") or "")),
        ]
    )


def _notes_view(inc: dict[str, Any], lang: str) -> html.Div:
    notes = inc.get("notes") or []
    return html.Div(
        [
            html.H3(t("dispatch.case_file", lang), className="ec-panel-title"),
            html.Ol([_note_view(inc["id"], n) for n in notes], className="ec-timeline ec-notes")
            if notes
            else html.P(t("dispatch.no_notes", lang), className="ec-feed-empty"),
        ]
    )


def _detail_view(inc: dict[str, Any], lang: str) -> list[Any]:
    late = inc.get("deadlines_missed") or []
    return [
        html.H2(
            f"{inc['id']} · {t('incident.type.' + str(inc.get('type')), lang)}",
            className="ec-feed-title",
        ),
        html.Div(
            f"{t('incident.state.' + str(inc.get('state')), lang)} · "
            f"{t('incident.priority.' + str(inc.get('priority')), lang)} · "
            f"{t('incident.domain.' + str(inc.get('domain')), lang)}",
            className="ec-alert-source",
        ),
        html.Div(str(inc.get("description") or ""), className="ec-alert-message"),
        *[html.Div(t(f"incident.deadline.{d}", lang), className="ec-late") for d in late],
        *_escalation(inc, lang),
        _timeline_view(inc, lang),
        _notes_view(inc, lang),
    ]


def _candidate_label(c: dict[str, Any], lang: str) -> str:
    eta = "—" if c.get("eta_s") is None else f"{c['eta_s'] / 60:.0f} min"
    dist = "—" if c.get("distance_m") is None else f"{c['distance_m'] / 1000:.1f} km"
    flags = []
    if c.get("stale"):
        flags.append(t("dispatch.stale", lang))
    if c.get("preemptible"):
        flags.append(t("dispatch.preemptible", lang))
    return (
        f"{c.get('name') or c['unit_id']} · {t('dept.' + str(c.get('department')), lang)} · "
        f"{t('status.' + str(c.get('status')), lang)} · ETA {eta} · {dist} · "
        f"{map_data.fmt_age(c.get('age_s'), lang)}" + (f" · {' · '.join(flags)}" if flags else "")
    )


def register(app: dash.Dash) -> None:
    @roles.callback(
        app,
        Output(Ids.QUEUE, "children"),
        Output(Ids.INCIDENTS, "data"),
        Output(Ids.SLOT_COUNTS, "children"),
        Input(Ids.TICK, "n_intervals"),
        Input(Shell.LANG, "value"),
        Input(Ids.SELECTED, "data"),
        roles=roles.VIEWERS,
    )
    def queue(_n: Any, lang_value: Any, selected: Any) -> tuple[Any, ...]:
        lang, now = lang_of(lang_value), app_context().now_ms()
        items = queue_order(incidents.listing(_r(), open_only=True))[:MAX_QUEUE]
        for i in items:
            with_clocks(i, now)
        rows = [_row(i, now, lang, i["id"] == selected) for i in items]
        located = [i for i in items if isinstance(i.get("lon"), float)]
        late = sum(1 for i in items if i["deadlines_missed"])
        counts = [
            html.Div(
                [
                    html.Div(str(len(items)), className="ec-count-value"),
                    html.Div(t("dispatch.open", lang), className="ec-count-label"),
                ],
                className="ec-count",
            ),
            html.Div(
                [
                    html.Div(str(late), className="ec-count-value"),
                    html.Div(t("dispatch.overdue", lang), className="ec-count-label"),
                ],
                className="ec-count ec-alert" if late else "ec-count",
            ),
        ]
        return (
            html.Ol(rows, className="ec-feed-list")
            if rows
            else html.P(t("dispatch.empty", lang), className="ec-feed-empty"),
            {
                "type": "FeatureCollection",
                "features": [_incident_feature(i, i["id"] == selected, lang) for i in located],
            },
            counts,
        )

    @roles.callback(
        app,
        Output(Ids.SELECTED, "data"),
        Input({"type": ROW, "id": ALL}, "n_clicks"),
        prevent_initial_call=True,
        roles=roles.VIEWERS,
    )
    def select(_clicks: Any) -> Any:
        trig = dash.ctx.triggered_id
        if not isinstance(trig, dict) or not any(x.get("value") for x in dash.ctx.triggered):
            raise PreventUpdate
        return str(trig.get("id"))[:64]

    @roles.callback(
        app,
        Output(Ids.DETAIL, "children"),
        Output(Ids.CANDIDATES, "options"),
        Output(Ids.CANDIDATE_MARKERS, "data"),
        Output(Ids.LINES, "children"),
        Output(Ids.MOVES, "children"),
        Input(Ids.SELECTED, "data"),
        Input(Ids.NOTE, "children"),
        Input(Shell.LANG, "value"),
        roles=roles.VIEWERS,
    )
    def show(selected: Any, _note: Any, lang_value: Any) -> tuple[Any, ...]:
        lang = lang_of(lang_value)
        empty = {"type": "FeatureCollection", "features": []}
        if not isinstance(selected, str):
            return html.P(t("dispatch.pick", lang), className="ec-feed-empty"), [], empty, [], []
        try:
            inc = detail(_r(), selected)
        except Refused:
            return html.P(t("dispatch.pick", lang), className="ec-feed-empty"), [], empty, [], []
        found = candidates(_r(), inc, app_context().travel, app_context().now_ms())
        options = [{"label": _candidate_label(c, lang), "value": c["unit_id"]} for c in found]
        markers = {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [c["lon"], c["lat"]]},
                    "properties": {
                        "id": f"candidate:{c['unit_id']}",
                        "kind": "unit",
                        "color": map_data.STATUS_COLOURS.get(c.get("status"), "#6a3d9a"),
                        "shape": map_data.KIND_SHAPES.get(c.get("kind"), "circle"),
                        "tooltip": escape(_candidate_label(c, lang)),
                    },
                }
                for c in found
            ],
        }
        lines = [
            dl.Polyline(
                positions=[[c["lat"], c["lon"]], [inc["lat"], inc["lon"]]],
                color="#1f5fa8",
                weight=2,
                dashArray="6 4",
            )
            for c in found
        ]
        moves = []
        if current_user.role in roles.DISPATCHERS:
            moves = [
                html.Button(
                    t(f"incident.state.{s}", lang),
                    id={"type": MOVE, "to": s},
                    className="ec-button",
                )
                for s in inc.get("next_states", [])
                if s != "assigned"
            ]
        return _detail_view(inc, lang), options, markers, lines, moves

    @roles.callback(
        app,
        Output(Ids.NOTE, "children"),
        Input(Ids.ASSIGN, "n_clicks"),
        State(Ids.SELECTED, "data"),
        State(Ids.CANDIDATES, "value"),
        State(Ids.PREEMPT, "value"),
        State(Ids.REASON, "value"),
        State(Shell.LANG, "value"),
        prevent_initial_call=True,
        roles=roles.DISPATCHERS,
    )
    def assign(
        clicks: Any, selected: Any, units: Any, preempt: Any, reason: Any, lang_value: Any
    ) -> str:
        lang = lang_of(lang_value)
        if not clicks or not isinstance(selected, str):
            raise PreventUpdate
        try:
            body = Assignment.model_validate(
                {"units": units or [], "preempt": bool(preempt), "reason": reason or ""}
            )
            assign_units(_r(), selected, body, current_user.name)
        except Refused as e:
            return e.message
        except ValueError:
            return t("dispatch.choose_units", lang)
        return t("dispatch.assigned", lang).format(units=", ".join(body.units))

    @roles.callback(
        app,
        Output(Ids.NOTE, "children", allow_duplicate=True),
        Input({"type": MOVE, "to": ALL}, "n_clicks"),
        State(Ids.SELECTED, "data"),
        State(Ids.REASON, "value"),
        State(Ids.DEPARTMENT, "value"),
        State(Shell.LANG, "value"),
        prevent_initial_call=True,
        roles=roles.DISPATCHERS,
    )
    def advance(_clicks: Any, selected: Any, reason: Any, department: Any, lang_value: Any) -> str:
        trig = dash.ctx.triggered_id
        if (
            not isinstance(trig, dict)
            or not isinstance(selected, str)
            or not any(x.get("value") for x in dash.ctx.triggered)
        ):
            raise PreventUpdate
        try:
            body = Move.model_validate(
                {"to": trig.get("to"), "reason": reason or "", "department": department or None}
            )
            inc = move(_r(), selected, body, current_user.name)
        except Refused as e:
            return e.message
        except ValueError as e:
            return str(e).splitlines()[0]
        return t("dispatch.moved", lang_of(lang_value)).format(
            state=t(f"incident.state.{inc['state']}", lang_of(lang_value))
        )

    @roles.callback(
        app,
        Output(Ids.NOTE, "children", allow_duplicate=True),
        Output(Ids.NOTE_TEXT, "value"),
        Input(Ids.ADD_NOTE, "n_clicks"),
        State(Ids.SELECTED, "data"),
        State(Ids.NOTE_TEXT, "value"),
        State(Shell.LANG, "value"),
        prevent_initial_call=True,
        roles=roles.DISPATCHERS,
    )
    def note(clicks: Any, selected: Any, text: Any, lang_value: Any) -> tuple[Any, ...]:
        if not clicks or not isinstance(selected, str):
            raise PreventUpdate
        try:
            add_note(_r(), selected, Note.model_validate({"text": text or ""}), current_user.name)
        except Refused as e:
            return e.message, no_update
        except ValueError:
            return t("dispatch.note_placeholder", lang_of(lang_value)), no_update
        return t("dispatch.note_added", lang_of(lang_value)), ""

    @roles.callback(
        app,
        Output(Ids.NOTE, "children", allow_duplicate=True),
        Output(Ids.EVIDENCE, "contents"),
        Output(Ids.NOTE_TEXT, "value", allow_duplicate=True),
        Input(Ids.EVIDENCE, "contents"),
        State(Ids.EVIDENCE, "filename"),
        State(Ids.SELECTED, "data"),
        State(Ids.NOTE_TEXT, "value"),
        State(Shell.LANG, "value"),
        prevent_initial_call=True,
        roles=roles.DISPATCHERS,
    )
    def attach(
        contents: Any, filename: Any, selected: Any, caption: Any, lang_value: Any
    ) -> tuple[Any, ...]:
        if not isinstance(contents, str) or not isinstance(selected, str):
            raise PreventUpdate
        _head, _, encoded = contents.partition(",")  # data:<claimed type>;base64,<data>
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return "file: not a base64 data URL", None, no_update
        try:
            ev = add_evidence(
                _r(),
                selected,
                data,
                str(filename or ""),
                str(caption or "")[:500],
                current_user.name,
            )
        except Refused as e:
            return e.message, None, no_update
        return (
            t("dispatch.evidence_added", lang_of(lang_value)).format(name=ev["name"]),
            None,
            "",
        )  # the caption went with the file

    @roles.callback(
        app,
        Output(Ids.CREATE_NOTE, "children"),
        Output(Ids.SELECTED, "data", allow_duplicate=True),
        Input(Ids.CREATE, "n_clicks"),
        State(Ids.NEW_TYPE, "value"),
        State(Ids.NEW_PRIORITY, "value"),
        State(Ids.NEW_SOURCE, "value"),
        State(Ids.NEW_DESCRIPTION, "value"),
        State(Ids.NEW_LAT, "value"),
        State(Ids.NEW_LON, "value"),
        State(Shell.LANG, "value"),
        prevent_initial_call=True,
        roles=roles.DISPATCHERS,
    )
    def create(
        clicks: Any,
        kind: Any,
        priority: Any,
        source: Any,
        text: Any,
        lat: Any,
        lon: Any,
        lang_value: Any,
    ) -> tuple[Any, ...]:
        if not clicks:
            raise PreventUpdate
        try:
            body = NewIncident.model_validate(
                {
                    "type": kind,
                    "priority": priority,
                    "source": source or "manual",
                    "description": text or "",
                    "lat": lat,
                    "lon": lon,
                }
            )
            inc = open_incident(_r(), body, current_user.name)
        except Refused as e:
            return e.message, no_update
        except ValueError:
            return t("dispatch.form_incomplete", lang_of(lang_value)), no_update
        return t("dispatch.opened", lang_of(lang_value)).format(id=inc["id"]), inc["id"]

    @roles.callback(
        app,
        Output(Ids.NEW_LAT, "value"),
        Output(Ids.NEW_LON, "value"),
        Input(Ids.MAP, "clickData"),
        prevent_initial_call=True,
        roles=roles.VIEWERS,
    )
    def pick(click: Any) -> tuple[Any, ...]:
        latlng = (click or {}).get("latlng") if isinstance(click, dict) else None
        if not isinstance(latlng, dict):
            raise PreventUpdate
        return round(float(latlng.get("lat", 0)), 5), round(float(latlng.get("lng", 0)), 5)

    @roles.callback(
        app,
        Output(f"{Ids.FORM}-title", "children"),
        Output(Ids.NEW_TYPE, "options"),
        Output(Ids.NEW_PRIORITY, "options"),
        Output(Ids.NEW_SOURCE, "options"),
        Output(Ids.NEW_DESCRIPTION, "placeholder"),
        Output(Ids.NEW_LAT, "placeholder"),
        Output(Ids.NEW_LON, "placeholder"),
        Output(Ids.CREATE, "children"),
        Output(Ids.QUEUE_TITLE, "children"),
        Output(Ids.CANDIDATES_TITLE, "children"),
        Output(Ids.PREEMPT, "options"),
        Output(Ids.REASON, "placeholder"),
        Output(Ids.DEPARTMENT, "options"),
        Output(Ids.DEPARTMENT, "placeholder"),
        Output(Ids.ASSIGN, "children"),
        Output(Ids.FORM, "hidden"),
        Output(Ids.ASSIGN, "hidden"),
        Output(Ids.NEW_TYPE, "placeholder"),
        Output(f"{Ids.CASE_FILE}-title", "children"),
        Output(Ids.NOTE_TEXT, "placeholder"),
        Output(Ids.ADD_NOTE, "children"),
        Output(Ids.EVIDENCE, "children"),
        Output(Ids.CASE_FILE, "hidden"),
        Output(Ids.CHIEF_INPUTS, "hidden"),
        Input(Shell.LANG, "value"),
        roles=roles.VIEWERS,
    )
    def labels(lang_value: Any) -> tuple[Any, ...]:
        lang = lang_of(lang_value)
        chief = current_user.role in roles.DISPATCHERS  # others see, they do not act
        return (
            t("dispatch.new", lang),
            options("incident.type", model.IncidentType, lang),
            options("incident.priority", model.Priority, lang),
            options("incident.source", model.Source, lang),
            t("dispatch.description", lang),
            t("dispatch.lat", lang),
            t("dispatch.lon", lang),
            t("dispatch.open_button", lang),
            t("dispatch.queue", lang),
            t("dispatch.candidates", lang),
            [{"label": t("dispatch.allow_preempt", lang), "value": "yes"}],
            t("dispatch.reason", lang),
            options("dept", Department, lang),
            t("dispatch.transfer_to", lang),
            t("dispatch.assign", lang),
            not chief,
            not chief,
            t("dispatch.type_placeholder", lang),
            t("dispatch.case_file", lang),
            t("dispatch.note_placeholder", lang),
            t("dispatch.add_note", lang),
            html.Div(t("dispatch.evidence_drop", lang)),
            not chief,
            not chief,
        )
