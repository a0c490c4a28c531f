"""Live map callbacks: markers, counts and the alert feed when the live version moves; freshness
every tick; browser-side filters; and the alert actions (acknowledge: operator and duty chief;
close and open an incident: duty chief), each role-checked. Text is in the viewer's language
(the page is rebuilt when it changes)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import dash
from dash import ALL, Input, Output, State, no_update
from dash.exceptions import PreventUpdate
from flask import current_app
from flask_login import current_user

from dashboard import map_data, roles, viewer
from dashboard.context import app_context
from dashboard.i18n import t
from layouts.map import Ids, hideout
from services import alerts, entity_detail, live
from services.context import AppContext
from services.errors import Refused
from views.map import (
    ACK,
    CLOSE,
    CONFIRM,
    DISMISS_REASONS,
    alert_signature,
    counts_view,
    feed_view,
    particulars_view,
    wall_incidents_view,
)

MAX_ALERT_ID = 200
# Units, vessels and sensors come to the page by the pushed stream (assets/live.js); here only
# what the header counts: a unit's status, and whether a vessel is still heard (its ts).
UNIT_FIELDS = ("status",)
VESSEL_FIELDS = ("lat",)
SNAPSHOT_MAX_AGE_S = 0.9  # under the fastest poll (1 s): a page never sees older data twice
_SHARED = "ecocommand.map_snapshot"  # in server.extensions: one per app


@dataclass(frozen=True)
class Snapshot:
    version: int
    alerts: list[dict[str, Any]]
    alert_layer: dict[str, Any]
    signature: list[list[str]]
    counts: dict[str, Any]
    incidents: dict[str, Any]
    open_incidents: list[dict[str, Any]]  # the records: the wall screen lists them


def build_snapshot(ctx: AppContext, lang: str) -> Snapshot:
    p = live.picture(ctx, UNIT_FIELDS, VESSEL_FIELDS)
    return Snapshot(
        p.version,
        p.alerts,
        map_data.alert_features(p.alerts, lang),
        alert_signature(p.alerts),
        map_data.counts(p.units, p.vessels, p.sensors, p.alerts),
        map_data.incident_features(p.incidents, lang),
        p.incidents,
    )


class SharedSnapshot:
    """The map's data built once per language and app at most every SNAPSHOT_MAX_AGE_S, however
    many screens poll: every poll would otherwise read and convert all of it again (with
    thousands of entities that is most of the callback's time)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.built: dict[str, tuple[float, Snapshot]] = {}

    def get(self, ctx: AppContext, lang: str) -> Snapshot:
        with self.lock:  # one build at a time; the others wait and take it
            hit = self.built.get(lang)
            if hit and time.monotonic() - hit[0] < SNAPSHOT_MAX_AGE_S:
                return hit[1]
            snap = build_snapshot(ctx, lang)
            self.built[lang] = (time.monotonic(), snap)
            return snap


def shared() -> SharedSnapshot:
    """The snapshot cache of the app answering (a process may run several apps: tests do)."""
    return current_app.extensions.setdefault(_SHARED, SharedSnapshot())


def _wall(mode: Any) -> bool:
    return isinstance(mode, dict) and mode.get("wall") is True


@roles.page_callback(
    Output(Ids.ALERTS, "data"),
    Output(Ids.COUNTS, "children"),
    Output(Ids.FEED, "children"),
    Output(Ids.INCIDENTS, "data"),
    Output(Ids.WALL_INCIDENTS, "children"),
    Output(Ids.VERSION, "data"),
    Input(Ids.TICK, "n_intervals"),
    State(Ids.MODE, "data"),
    State(Ids.VERSION, "data"),
    roles=roles.VIEWERS,
)
def refresh(_n: int | None, mode: Any, last: Any) -> tuple[Any, ...]:
    """Counts, alerts, incidents and feed when the live version moved; nothing over the wire if
    not (units, vessels and sensors are pushed: assets/live.js)."""
    ctx, who = app_context(), viewer.current()
    lang, wall = who.lang, _wall(mode)
    last = last if isinstance(last, dict) else {}
    version = live.version(ctx)
    if last.get("version") == version and last.get("lang") == lang and last.get("wall") == wall:
        return (no_update,) * 6  # nothing changed: nothing goes over the wire
    snap = shared().get(ctx, lang)
    seen = {"version": snap.version, "lang": lang, "wall": wall, "alerts": snap.signature}
    if all(last.get(k) == v for k, v in seen.items()):
        return (no_update,) * 6  # the shared snapshot is the one this page has
    same_feed = all(last.get(k) == seen[k] for k in ("alerts", "lang", "wall"))
    return (
        no_update if same_feed else snap.alert_layer,
        counts_view(snap.counts, lang),
        no_update if same_feed else feed_view(snap.alerts, lang, who.role, wall),
        snap.incidents,
        wall_incidents_view(snap.open_incidents, ctx.now_ms(), lang) if wall else no_update,
        seen,
    )


@roles.page_callback(
    Output(Ids.FRESHNESS, "children"),
    Output(Ids.BANNER, "hidden"),
    Output(Ids.BANNER, "children"),
    Input(Ids.TICK, "n_intervals"),
    roles=roles.VIEWERS,
)
def freshness(_n: int | None) -> tuple[str, bool, Any]:
    """How old the newest data is; the stale banner shows when it is too old, saying which part
    is down (the data store being down, the page's shell says: layouts/shell.down_banner)."""
    ctx, lang = app_context(), viewer.lang()
    beat = live.heartbeat(ctx)
    now = ctx.now_ms()
    age = map_data.data_age_s(beat, now)
    fresh = (
        t("map.no_heartbeat", lang)
        if age is None
        else t("map.freshness", lang).format(age=map_data.fmt_age(age, lang))
    )
    stale = map_data.is_stale(age)
    return fresh, not stale, t(map_data.stale_cause(beat, now), lang) if stale else no_update


@roles.page_callback(
    Output(Ids.UNITS, "hideout"),
    Output(Ids.VESSELS, "hideout"),
    Output(Ids.SENSORS, "hideout"),
    Input(Ids.FILTER_DEPARTMENT, "value"),
    Input(Ids.FILTER_SUBDISTRICT, "value"),
    Input(Ids.FILTER_STATUS, "value"),
    roles=roles.VIEWERS,
)
def filters(departments: Any, subdistricts: Any, statuses: Any) -> tuple[Any, ...]:
    # Only the choice travels; the browser hides and shows the markers it already has.
    chosen = {"department": departments, "subdistrict": subdistricts, "status": statuses}
    clean = {
        k: [str(v) for v in vals][:50]
        for k, vals in chosen.items()
        if isinstance(vals, list) and vals
    }
    return hideout("unit", clean), hideout("vessel", clean), hideout("sensor", clean)


def clicked(pattern: str) -> str | None:
    """The alert id of the button that was really clicked (new buttons arriving in the feed also
    trigger the callback, with no clicks); None for anything else, hostile ids included."""
    trig = dash.ctx.triggered_id
    if not isinstance(trig, dict) or trig.get("type") != pattern:
        return None
    if not any(item.get("value") for item in dash.ctx.triggered):
        return None
    alert_id = trig.get("id")
    if not isinstance(alert_id, str) or not 0 < len(alert_id) <= MAX_ALERT_ID:
        return None
    return alert_id


@roles.page_callback(
    Output(Ids.ACK_NOTE, "children"),
    Input({"type": ACK, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
    roles=roles.ACKNOWLEDGERS,
)
def acknowledge(_clicks: Any) -> str:
    alert_id = clicked(ACK)
    if alert_id is None:
        raise PreventUpdate
    try:
        alerts.acknowledge(app_context(), alert_id, current_user.name)
    except Refused:
        return t("alerts.gone", viewer.lang())
    return t("alerts.done_ack", viewer.lang())


@roles.page_callback(
    Output(Ids.CLOSE_NOTE, "children"),
    Input({"type": CLOSE, "id": ALL, "reason": ALL}, "n_clicks"),
    prevent_initial_call=True,
    roles=roles.DISPATCHERS,
)
def close(_clicks: Any) -> str:
    alert_id = clicked(CLOSE)
    reason = dash.ctx.triggered_id.get("reason") if alert_id else None
    if alert_id is None or reason not in DISMISS_REASONS:
        raise PreventUpdate
    try:
        alerts.dismiss(app_context(), alert_id, reason, current_user.name)
    except Refused:
        return t("alerts.gone", viewer.lang())
    return t("alerts.done_close", viewer.lang())


@roles.page_callback(
    Output(Ids.CLOSE_NOTE, "children", allow_duplicate=True),
    Input({"type": CONFIRM, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
    roles=roles.DISPATCHERS,
)
def confirm(_clicks: Any) -> str:
    alert_id = clicked(CONFIRM)
    if alert_id is None:
        raise PreventUpdate
    try:
        incident = alerts.open_incident(app_context(), alert_id, current_user.name)
    except Refused as e:
        return e.message
    return t("alerts.done_confirm", viewer.lang()).format(id=incident["id"])


@roles.page_callback(
    Output(Ids.DETAIL_STATIC, "children"),
    Input(Ids.DETAIL_PICK, "data"),
    prevent_initial_call=True,
    roles=roles.VIEWERS,
)
def particulars(pick: Any) -> list[Any]:
    """The particulars of the unit or vessel the panel opened on (assets/entity_list.js sets
    the pick): read once per opening, the live part the page draws from its own records."""
    if not isinstance(pick, dict):
        raise PreventUpdate
    layer, entity_id = pick.get("layer"), pick.get("id")
    if layer not in entity_detail.LAYER_KIND or not isinstance(entity_id, str):
        raise PreventUpdate
    found = entity_detail.particulars(app_context(), layer, entity_id)
    return particulars_view(layer, found, viewer.lang())


def register(app: dash.Dash) -> None:
    roles.wire(app, refresh, freshness, filters, acknowledge, close, confirm, particulars)
