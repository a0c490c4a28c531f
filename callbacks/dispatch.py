"""Dispatch page callbacks. Reading (queue, detail, candidates) is for every signed-in role; the
actions (open, assign, advance, notes and evidence) are for duty chiefs, whose page alone has
their controls, and go through the same services as the API (services/incidents.py), so page and
API refuse the same things the same way. When a duty chief, leader or admin opens an incident,
its timeline is checked against the audit log once (services/trail.py), not at every tick; they
may also reveal a caller's number (services/personal.py, recorded)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import dash
from dash import ALL, MATCH, Input, Output, State, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from dashboard import roles, viewer
from dashboard.context import app_context
from dashboard.i18n import t
from domain.incidents import ASSIGNABLE
from layouts.dispatch import Ids
from services import duplicates as duplicate_service
from services import incidents as service
from services import messages as message_service
from services import personal, trail
from services.errors import Refused
from services.incidents import Assignment, Move, NewIncident, Note
from views.dispatch import (
    MERGE,
    MOVE,
    PHONE,
    REVEAL,
    ROW,
    candidate_markers,
    candidates_view,
    counts_view,
    detail_view,
    empty,
    incident_layer,
    panel_class,
    pick_view,
    queue_order,
    queue_view,
    route_lines,
)
from views.trail import dispatch_check_view

MAX_QUEUE = 200
CHECKERS = roles.DISPATCHERS | roles.ANALYSTS  # see whether a timeline matches the audit log


def _pressed() -> bool:
    """A button of a pattern was really clicked (buttons arriving in the page also trigger)."""
    return any(x.get("value") for x in dash.ctx.triggered)


@roles.page_callback(
    Output(Ids.QUEUE, "children"),
    Output(Ids.INCIDENTS, "data"),
    Output(Ids.SLOT_COUNTS, "children"),
    Input(Ids.TICK, "n_intervals"),
    Input(Ids.SELECTED, "data"),
    roles=roles.VIEWERS,
)
def queue(_n: Any, selected: Any) -> tuple[Any, ...]:
    """The open incidents, most urgent first, on the list, the map and in the header."""
    ctx, lang = app_context(), viewer.lang()
    items = queue_order(service.listing(ctx, open_only=True))[:MAX_QUEUE]
    return (
        queue_view(items, ctx.now_ms(), lang, selected),
        incident_layer(items, selected, lang),
        counts_view(items, lang),
    )


@roles.page_callback(
    Output(Ids.SELECTED, "data"),
    Input({"type": ROW, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
    roles=roles.VIEWERS,
)
def select(_clicks: Any) -> Any:
    trig = dash.ctx.triggered_id
    if not isinstance(trig, dict) or not _pressed():
        raise PreventUpdate
    return str(trig.get("id"))[:64]


@roles.page_callback(
    Output(Ids.SEEN, "data"),
    Input(Ids.TICK, "n_intervals"),
    State(Ids.SELECTED, "data"),
    State(Ids.SEEN, "data"),
    prevent_initial_call=True,
    roles=roles.VIEWERS,
)
def watch(_n: Any, selected: Any, seen: Any) -> Any:
    """The shown incident's revision: when it moves (a unit's report, another chief's act, a
    message read, a deadline passed) the panel is drawn again; most ticks change nothing."""
    if not isinstance(selected, str):
        raise PreventUpdate
    rev = service.revision(app_context(), selected)
    if rev == seen:
        raise PreventUpdate
    return rev


@roles.page_callback(
    Output(Ids.DETAIL, "children"),
    Output(Ids.PANEL, "className"),
    Input(Ids.SELECTED, "data"),
    Input(Ids.CHANGED, "data"),
    Input(Ids.SEEN, "data"),
    roles=roles.VIEWERS,
)
def show(selected: Any, _changed: Any, _seen: Any) -> tuple[Any, ...]:
    """The selected incident (again after each action and each change seen); a duty chief gets
    the next steps, the others read them. The panel offers what the incident's state allows."""
    who = viewer.current()
    chief = who.role in roles.DISPATCHERS
    inc = _shown(selected)
    if inc is None:
        return pick_view(who.lang), panel_class(None)
    check = None
    if who.role in CHECKERS:  # when the incident changed, not at every tick
        link = f"/trail?ref=incident:{selected}" if who.role in roles.ANALYSTS else None
        check = dispatch_check_view(trail.timeline_check(app_context(), selected), who.lang, link)
    reader = who.role in roles.PERSONAL_READERS
    same = duplicate_service.duplicates(app_context(), selected)
    threads = {u: message_service.thread(app_context(), u) for u in inc.get("units") or []}
    view = detail_view(inc, who.lang, chief, reader, check, same, threads, replay=reader)
    return view, panel_class(inc)


@roles.page_callback(
    Output(Ids.CANDIDATES_BOX, "children"),
    Output(Ids.CANDIDATE_MARKERS, "data"),
    Output(Ids.LINES, "children"),
    Input(Ids.SELECTED, "data"),
    Input(Ids.CHANGED, "data"),
    Input(Ids.SEEN, "data"),
    Input(Ids.CLOCK, "n_intervals"),
    roles=roles.VIEWERS,
)
def rank(selected: Any, _changed: Any, _seen: Any, _clock: Any) -> tuple[Any, ...]:
    """The selected incident's candidates, ranked again as it changes and as time passes (a
    chief's ticks stay: views/dispatch.candidates_view), and the ways the ETAs assume for the
    units sent and the candidates; none once it is past assigning."""
    who = viewer.current()
    chief = who.role in roles.DISPATCHERS
    inc = _shown(selected)
    if inc is None or inc.get("state") not in ASSIGNABLE:
        return candidates_view([], who.lang, chief), empty(), []
    found = service.candidates(app_context(), selected)
    sent = [str(u) for u in inc.get("units") or []]
    ways = service.routes(app_context(), selected, sent + [c["unit_id"] for c in found])
    return (
        candidates_view(found, who.lang, chief, selected),
        candidate_markers(found, who.lang),
        route_lines(ways, sent, found),
    )


def _shown(selected: Any) -> dict[str, Any] | None:
    if not isinstance(selected, str):
        return None
    try:
        return service.detail(app_context(), selected)
    except Refused:
        return None


@roles.page_callback(
    Output(Ids.NOTE, "children", allow_duplicate=True),
    Output(Ids.CHANGED, "data", allow_duplicate=True),
    Input({"type": MERGE, "id": ALL}, "n_clicks"),
    State(Ids.SELECTED, "data"),
    prevent_initial_call=True,
    roles=roles.DISPATCHERS,
)
def merge(_clicks: Any, selected: Any) -> tuple[Any, ...]:
    """Merge the possible duplicate clicked into the incident shown."""
    trig = dash.ctx.triggered_id
    if not isinstance(trig, dict) or not isinstance(selected, str) or not _pressed():
        raise PreventUpdate
    duplicate = str(trig.get("id"))
    try:
        duplicate_service.merge(app_context(), duplicate, selected, current_user.name)
    except Refused as e:
        return e.message, no_update
    return t("dispatch.merged", viewer.lang()).format(id=duplicate), _changed()


def _changed() -> int:
    """What an action puts in Ids.CHANGED: the incident is shown again."""
    return app_context().now_ms()


@roles.page_callback(
    Output(Ids.NOTE, "children"),
    Output(Ids.CHANGED, "data"),
    Input(Ids.ASSIGN, "n_clicks"),
    State(Ids.SELECTED, "data"),
    State(Ids.CANDIDATES, "value"),
    State(Ids.PREEMPT, "value"),
    State(Ids.REASON, "value"),
    prevent_initial_call=True,
    roles=roles.DISPATCHERS,
)
def assign(clicks: Any, selected: Any, units: Any, preempt: Any, reason: Any) -> tuple[Any, ...]:
    if not clicks or not isinstance(selected, str):
        raise PreventUpdate
    try:
        body = Assignment.model_validate(
            {"units": units or [], "preempt": bool(preempt), "reason": reason or ""}
        )
        service.assign_units(app_context(), selected, body, current_user.name)
    except Refused as e:
        return e.message, no_update
    except ValueError:
        return t("dispatch.choose_units", viewer.lang()), no_update
    done = t("dispatch.assigned", viewer.lang()).format(units=", ".join(body.units))
    return done, _changed()


@roles.page_callback(
    Output(Ids.NOTE, "children", allow_duplicate=True),
    Output(Ids.CHANGED, "data", allow_duplicate=True),
    Input({"type": MOVE, "to": ALL}, "n_clicks"),
    State(Ids.SELECTED, "data"),
    State(Ids.REASON, "value"),
    State(Ids.DEPARTMENT, "value"),
    prevent_initial_call=True,
    roles=roles.DISPATCHERS,
)
def advance(_clicks: Any, selected: Any, reason: Any, department: Any) -> tuple[Any, ...]:
    trig = dash.ctx.triggered_id
    if not isinstance(trig, dict) or not isinstance(selected, str) or not _pressed():
        raise PreventUpdate
    try:
        body = Move.model_validate(
            {"to": trig.get("to"), "reason": reason or "", "department": department or None}
        )
        inc = service.move(app_context(), selected, body, current_user.name)
    except Refused as e:
        return e.message, no_update
    except ValueError as e:
        return str(e).splitlines()[0], no_update
    lang = viewer.lang()
    state = t(f"incident.state.{inc['state']}", lang)
    return t("dispatch.moved", lang).format(state=state), _changed()


@roles.page_callback(
    Output(Ids.NOTE, "children", allow_duplicate=True),
    Output(Ids.NOTE_TEXT, "value"),
    Output(Ids.CHANGED, "data", allow_duplicate=True),
    Input(Ids.ADD_NOTE, "n_clicks"),
    State(Ids.SELECTED, "data"),
    State(Ids.NOTE_TEXT, "value"),
    prevent_initial_call=True,
    roles=roles.DISPATCHERS,
)
def note(clicks: Any, selected: Any, text: Any) -> tuple[Any, ...]:
    if not clicks or not isinstance(selected, str):
        raise PreventUpdate
    try:
        body = Note.model_validate({"text": text or ""})
        service.add_note(app_context(), selected, body, current_user.name)
    except Refused as e:
        return e.message, no_update, no_update
    except ValueError:
        return t("dispatch.note_placeholder", viewer.lang()), no_update, no_update
    return t("dispatch.note_added", viewer.lang()), "", _changed()


@roles.page_callback(
    Output(Ids.NOTE, "children", allow_duplicate=True),
    Output(Ids.NOTE_TEXT, "value", allow_duplicate=True),
    Output(Ids.CHANGED, "data", allow_duplicate=True),
    Input(Ids.MESSAGE, "n_clicks"),
    State(Ids.SELECTED, "data"),
    State(Ids.NOTE_TEXT, "value"),
    prevent_initial_call=True,
    roles=roles.DISPATCHERS,
)
def message(clicks: Any, selected: Any, text: Any) -> tuple[Any, ...]:
    """The text to every unit on the selected incident, on their phones at once."""
    if not clicks or not isinstance(selected, str):
        raise PreventUpdate
    lang = viewer.lang()
    try:
        units = service.detail(app_context(), selected).get("units") or []
        if not units:
            return t("dispatch.no_units_on_it", lang), no_update, no_update
        message_service.to_units(app_context(), current_user.name, units, str(text or ""))
    except Refused as e:
        return e.message, no_update, no_update
    return t("dispatch.message_sent", lang).format(units=", ".join(units)), "", _changed()


@roles.page_callback(
    Output(Ids.NOTE, "children", allow_duplicate=True),
    Output(Ids.EVIDENCE, "contents"),
    Output(Ids.NOTE_TEXT, "value", allow_duplicate=True),
    Output(Ids.CHANGED, "data", allow_duplicate=True),
    Input(Ids.EVIDENCE, "contents"),
    State(Ids.EVIDENCE, "filename"),
    State(Ids.SELECTED, "data"),
    State(Ids.NOTE_TEXT, "value"),
    prevent_initial_call=True,
    roles=roles.DISPATCHERS,
)
def attach(contents: Any, filename: Any, selected: Any, caption: Any) -> tuple[Any, ...]:
    """A file dropped on the case file, with the note's text as its caption."""
    if not isinstance(contents, str) or not isinstance(selected, str):
        raise PreventUpdate
    _head, _, encoded = contents.partition(",")  # data:<claimed type>;base64,<data>
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return "file: not a base64 data URL", None, no_update, no_update
    try:
        ev = service.add_evidence(
            app_context(),
            selected,
            data,
            str(filename or ""),
            str(caption or "")[:500],
            current_user.name,
        )
    except Refused as e:
        return e.message, None, no_update, no_update
    added = t("dispatch.evidence_added", viewer.lang()).format(name=ev["name"])
    return added, None, "", _changed()  # the caption went with the file


@roles.page_callback(
    Output(Ids.CREATE_NOTE, "children"),
    Output(Ids.SELECTED, "data", allow_duplicate=True),
    # opened: the form is emptied (a second click would open the same thing twice)
    Output(Ids.NEW_PHONE, "value"),
    Output(Ids.NEW_TYPE, "value"),
    Output(Ids.NEW_DESCRIPTION, "value"),
    Output(Ids.NEW_LAT, "value", allow_duplicate=True),
    Output(Ids.NEW_LON, "value", allow_duplicate=True),
    Input(Ids.CREATE, "n_clicks"),
    State(Ids.NEW_TYPE, "value"),
    State(Ids.NEW_PRIORITY, "value"),
    State(Ids.NEW_SOURCE, "value"),
    State(Ids.NEW_DESCRIPTION, "value"),
    State(Ids.NEW_LAT, "value"),
    State(Ids.NEW_LON, "value"),
    State(Ids.NEW_PHONE, "value"),
    prevent_initial_call=True,
    roles=roles.DISPATCHERS,
)
def create(
    clicks: Any, kind: Any, priority: Any, source: Any, text: Any, lat: Any, lon: Any, phone: Any
) -> tuple[Any, ...]:
    """Opens an incident from the form, selects it and empties the form (the caller's number
    with it); a refusal keeps what was typed and says why."""
    if not clicks:
        raise PreventUpdate
    fields = {"type": kind, "priority": priority, "source": source or "manual"}
    caller = phone.strip() if isinstance(phone, str) and phone.strip() else None
    try:
        body = NewIncident.model_validate(
            {**fields, "description": text or "", "lat": lat, "lon": lon, "reporter_phone": caller}
        )
        inc = service.open_incident(app_context(), body, current_user.name)
    except Refused as e:
        return e.message, *[no_update] * 6
    except ValueError as e:
        wrong = "dispatch.bad_phone" if "reporter_phone" in str(e) else "dispatch.form_incomplete"
        return t(wrong, viewer.lang()), *[no_update] * 6
    opened = t("dispatch.opened", viewer.lang()).format(id=inc["id"])
    return opened, inc["id"], "", None, "", None, None


@roles.page_callback(
    Output(Ids.NEW_LAT, "value"),
    Output(Ids.NEW_LON, "value"),
    Input(Ids.MAP, "clickData"),
    prevent_initial_call=True,
    roles=roles.DISPATCHERS,
)
def pick(click: Any) -> tuple[Any, ...]:
    """A click on the duty chief's map places the new incident."""
    latlng = click.get("latlng") if isinstance(click, dict) else None
    try:
        return round(float(latlng["lat"]), 5), round(float(latlng["lng"]), 5)  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        raise PreventUpdate from None  # no click, or not a place


@roles.page_callback(
    Output({"type": PHONE, "id": MATCH}, "children"),
    Input({"type": REVEAL, "id": MATCH}, "n_clicks"),
    prevent_initial_call=True,
    roles=roles.PERSONAL_READERS,
)
def reveal(clicks: Any) -> str:
    """The caller's whole number, next to its masked form; the read is recorded."""
    trig = dash.ctx.triggered_id
    if not clicks or not isinstance(trig, dict):
        raise PreventUpdate
    try:
        found = personal.reporter_phone(app_context(), str(trig.get("id"))[:64], current_user.name)
    except Refused as e:
        return e.message
    return str(found["reporter_phone"])


def register(app: dash.Dash) -> None:
    roles.wire(
        app,
        queue,
        select,
        watch,
        show,
        rank,
        assign,
        advance,
        merge,
        note,
        message,
        attach,
        create,
        pick,
        reveal,
    )
