"""Incident history callbacks: the search (filters and paging, through
services.incident_history.search, the query GET /api/v1/incidents answers) and a row's whole
record (services.incidents.detail, drawn as /dispatch draws an open incident). For duty chiefs,
leaders and admins; the page refuses the others too."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dash
from dash import ALL, Input, Output, State, no_update
from dash.exceptions import PreventUpdate

from dashboard import roles, viewer
from dashboard.context import app_context
from domain.vocab import LOCAL_TZ
from layouts.history import Ids
from services import incident_history as history
from services.errors import Refused
from views.dispatch import detail_view
from views.history import OPEN, rows_view, summary, units_view

READERS = roles.DISPATCHERS | roles.ANALYSTS
MAX_ID = 64


def day_ms(value: Any, after: int = 0) -> int | None:
    """The start of a local (Shenzhen) day given as YYYY-MM-DD, `after` days on; None if none."""
    try:
        day = dt.date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None
    if day is None:
        return None
    start = dt.datetime.combine(day + dt.timedelta(days=after), dt.time(), LOCAL_TZ)
    return int(start.timestamp() * 1000)


def _one(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def query(filters: list[Any], offset: int) -> history.Query:
    kind, states, place, community, unit, text, start, end = filters
    states = [s for s in states if s in history.ENDED] if isinstance(states, list) else []
    return history.Query(
        states=tuple(states) or history.ENDED,
        type=_one(kind),
        subdistrict=_one(place),
        community=_one(community),
        unit=(_one(unit) or "").strip()[:80] or None,
        text=(_one(text) or "").strip()[:80] or None,
        from_ms=day_ms(start),
        to_ms=day_ms(end, after=1),  # "to" a day: up to its end
        offset=offset,
    )


FILTERS = (
    Ids.TYPE,
    Ids.STATE,
    Ids.SUBDISTRICT,
    Ids.COMMUNITY,
    Ids.UNIT,
    Ids.TEXT,
    Ids.FROM,
    Ids.TO,
)


@roles.page_callback(
    Output(Ids.RESULTS, "children"),
    Output(Ids.SUMMARY, "children"),
    Output(Ids.OFFSET, "data"),
    Input(Ids.PREV, "n_clicks"),
    Input(Ids.NEXT, "n_clicks"),
    *(Input(i, "value") for i in FILTERS),
    State(Ids.OFFSET, "data"),
    roles=READERS,
)
def search(_prev: Any, _next: Any, *values: Any) -> tuple[Any, ...]:
    """The page of matches: a new filter starts again from the newest, prev and next turn."""
    *filters, offset = values
    offset = offset if isinstance(offset, int) and 0 <= offset <= history.SCAN_MAX else 0
    turn = dash.ctx.triggered_id
    if turn == Ids.NEXT:
        offset += history.PAGE
    elif turn == Ids.PREV:
        offset = max(0, offset - history.PAGE)
    else:
        offset = 0
    lang = viewer.lang()
    try:
        found = history.search(app_context(), query(filters, offset))
    except Refused as e:
        return no_update, e.message, no_update
    if turn == Ids.NEXT and not found.items and offset:
        raise PreventUpdate  # past the last page: stay on it
    return rows_view(found, lang), summary(found, lang), offset


@roles.page_callback(
    Output(Ids.RECORD, "children"),
    Input({"type": OPEN, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
    roles=READERS,
)
def open_record(_clicks: Any) -> list[Any]:
    """The whole record of the row clicked (new rows arriving trigger this too, unclicked)."""
    trig = dash.ctx.triggered_id
    if not isinstance(trig, dict) or not any(t.get("value") for t in dash.ctx.triggered):
        raise PreventUpdate
    incident_id = trig.get("id")
    if not isinstance(incident_id, str) or not 0 < len(incident_id) <= MAX_ID:
        raise PreventUpdate
    try:
        inc = history.record(app_context(), incident_id)
    except Refused as e:
        return [e.message]
    lang = viewer.lang()
    head, *rest = detail_view(inc, lang, chief=False, replay=True)  # READERS may replay
    return [head, units_view(inc, lang), *rest]


def register(app: dash.Dash) -> None:
    roles.wire(app, search, open_record)
