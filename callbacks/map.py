"""Live map callbacks: markers, counts and the alert feed when the live version moves; freshness
every tick; labels on a language switch; browser-side filters; and the alert actions
(acknowledge: operator and duty chief; close: duty chief), each role-checked."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import dash
from dash import ALL, Input, Output, State, html, no_update
from dash.exceptions import PreventUpdate
from flask import current_app
from flask_login import current_user

from dashboard import map_data, roles
from dashboard.context import app_context
from dashboard.i18n import lang_of, options, t
from dashboard.incidents_api import NewIncident, Refused, open_incident, with_clocks
from domain.geo import load_geography
from domain.incidents import ALERT_INCIDENT_TYPE, SEVERITY_PRIORITY, Source
from domain.vocab import Department, Subdistrict, UnitStatus
from layouts.map import ACK, CLOSE, CONFIRM, DISMISS_REASONS, Ids, hideout
from layouts.shell import Ids as Shell
from store import alerts as alert_actions
from store import incidents, reader, snapshots

FEED_LIMIT = 50  # alerts listed beside the map; the header counts them all
MAX_ALERT_ID = 200


def _wall(mode: Any) -> bool:
    return isinstance(mode, dict) and mode.get("wall") is True


def _count(label: str, value: int, colour: str | None = None, cls: str = "") -> html.Div:
    swatch = [html.Span(className="ec-dot", style={"background": colour})] if colour else []
    return html.Div(
        [
            html.Div([*swatch, str(value)], className="ec-count-value"),
            html.Div(label, className="ec-count-label"),
        ],
        className=f"ec-count {cls}".strip(),
    )


def counts_view(c: dict[str, Any], lang: str) -> list[html.Div]:
    out = [_count(t("count.units", lang), c["units"], cls="ec-count-units")]
    out += [
        _count(t(f"status.{s}", lang), n, map_data.STATUS_COLOURS[s], cls=f"ec-status-{s}")
        for s, n in c["by_status"].items()
    ]
    out += [
        _count(
            t("count.vessels", lang), c["vessels"], map_data.VESSEL_COLOUR, cls="ec-count-vessels"
        ),
        _count(
            t("count.sensors", lang),
            c["sensors"],
            map_data.SENSOR_COLOURS["ok"],
            cls="ec-count-sensors",
        ),
        _count(
            t("count.open_alerts", lang),
            c["open_alerts"],
            cls="ec-count-alerts ec-alert" if c["open_alerts"] else "ec-count-alerts",
        ),
    ]
    return out


def alert_signature(alerts: list[dict[str, Any]]) -> list[list[str]]:
    """What the feed shows changes only with these: the open alerts and who acknowledged."""
    return [[str(a.get("id", "")), str(a.get("ack_by", ""))] for a in alerts[:FEED_LIMIT]]


def _alert_item(a: dict[str, Any], lang: str, role: str, wall: bool) -> html.Li:
    alert_id = str(a.get("id", ""))
    severity = str(a.get("severity") or "info")
    acked = a.get("ack_by")
    actions: list[Any] = []
    if acked:
        actions.append(html.Span(t("alerts.acked", lang).format(who=acked), className="ec-acked"))
    if not wall:  # a wall screen has no one at it to click; the server checks roles anyway
        if not acked and role in roles.ACKNOWLEDGERS:
            actions.append(
                html.Button(
                    t("alerts.ack", lang),
                    id={"type": ACK, "id": alert_id},
                    className="ec-button ec-ack",
                )
            )
        if role in roles.DISPATCHERS:  # confirm as an incident, or dismiss with a reason
            if str(a.get("kind")) in ALERT_INCIDENT_TYPE and _located(a):
                actions.append(
                    html.Button(
                        t("alerts.confirm", lang),
                        id={"type": CONFIRM, "id": alert_id},
                        className="ec-button ec-confirm",
                    )
                )
            actions += [
                html.Button(
                    t(f"alerts.dismiss.{why}", lang),
                    id={"type": CLOSE, "id": alert_id, "reason": why},
                    className="ec-button ec-close",
                )
                for why in DISMISS_REASONS
            ]
    return html.Li(
        [
            html.Div(
                [
                    html.Span(map_data.local_time(a.get("ts")), className="ec-alert-time"),
                    html.Span(t(f"severity.{severity}", lang), className="ec-alert-severity"),
                    html.Span(map_data.alert_title(a, lang), className="ec-alert-kind"),
                ],
                className="ec-alert-head",
            ),
            html.Div(str(a.get("name") or a.get("source") or ""), className="ec-alert-source"),
            html.Div(str(a.get("message") or ""), className="ec-alert-message"),
            html.Div(actions, className="ec-alert-actions"),
        ],
        className=f"ec-alert-item ec-severity-{severity}",
        **{"data-alert": alert_id},
    )


def feed_view(alerts: list[dict[str, Any]], lang: str, role: str, wall: bool) -> list[Any]:
    if not alerts:
        return [html.P(t("alerts.none", lang), className="ec-feed-empty")]
    items = [_alert_item(a, lang, role, wall) for a in alerts[:FEED_LIMIT]]
    out: list[Any] = [html.Ol(items, className="ec-feed-list")]
    if len(alerts) > FEED_LIMIT:
        out.append(html.P(t("alerts.more", lang).format(n=len(alerts) - FEED_LIMIT)))
    return out


def _swatch(colour: str, shape: str = "circle", outline: str = "#1a1a1a") -> html.Span:
    return html.Span(
        className=f"ec-swatch ec-shape-{shape}",
        style={"background": colour, "borderColor": outline},
    )


def legend_view(lang: str) -> list[Any]:
    rows: list[Any] = [html.Summary(t("legend.title", lang))]
    rows += [
        html.Div([_swatch(c), t(f"status.{s}", lang)], className="ec-legend-row")
        for s, c in map_data.STATUS_COLOURS.items()
    ]
    rows += [
        html.Div([_swatch("#ffffff", shape), t(f"kind.{k}", lang)], className="ec-legend-row")
        for k, shape in map_data.KIND_SHAPES.items()
    ]
    rows += [
        html.Div(
            [_swatch("#ffffff", outline=c), t(f"dept.{d}", lang)],
            className="ec-legend-row ec-legend-dept",
        )
        for d, c in map_data.DEPARTMENT_COLOURS.items()
    ]
    rows += [
        html.Div(
            [_swatch(map_data.VESSEL_COLOUR, "ship", "#ffffff"), t("legend.vessel", lang)],
            className="ec-legend-row",
        ),
        html.Div(
            [_swatch(map_data.SENSOR_COLOURS["ok"], "hexagon"), t("count.sensors", lang)],
            className="ec-legend-row",
        ),
        html.Div(
            [
                _swatch("transparent", outline=map_data.SEVERITY_COLOURS["critical"]),
                t("legend.alert", lang),
            ],
            className="ec-legend-row",
        ),
    ]
    return rows


def _clicked(pattern: str) -> str | None:
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


def _located(a: dict[str, Any]) -> bool:
    return isinstance(a.get("lon"), int | float) and isinstance(a.get("lat"), int | float)


def incident_from_alert(r: Any, alert_id: str, by: str, history_ms: int) -> str:
    """Open the incident an alert suggests (its place, type and urgency) and close the alert
    with the incident's id as the reason. Raises Refused when the alert is gone or unplaced."""
    alert = next((a for a in snapshots.open_alerts(r, limit=1000) if a.get("id") == alert_id), None)
    if alert is None or not _located(alert) or alert.get("kind") not in ALERT_INCIDENT_TYPE:
        raise Refused(409, "that alert is no longer open, or suggests no incident")
    body = NewIncident(
        type=ALERT_INCIDENT_TYPE[alert["kind"]],
        source=Source.SENSOR_ALERT,
        priority=int(SEVERITY_PRIORITY.get(alert.get("severity"), 2)),
        lat=alert["lat"],
        lon=alert["lon"],
        description=str(alert.get("message") or "")[:2000],
        alert_id=alert_id,
    )
    incident = open_incident(r, body, by)
    alert_actions.close(
        r, alert_id, by, app_context().now_ms(), history_ms, reason=f"incident {incident['id']}"
    )
    return incident["id"]


def open_incidents(r: Any) -> list[dict[str, Any]]:
    now = app_context().now_ms()
    items = incidents.listing(r, open_only=True)
    for i in items:
        with_clocks(i, now)
    return items


def _history_ms() -> int:
    return int(current_app.config["SETTINGS"].history_hours * 3_600_000)


UNIT_FIELDS = ("name", "department", "kind", "level", "status", "speed_kmh", "lat", "lon")
VESSEL_FIELDS = (
    "name",
    "callsign",
    "ship_type_text",
    "ship_type",
    "sog_kn",
    "cog",
    "heading",
    "lat",
    "lon",
)
SNAPSHOT_MAX_AGE_S = 0.9  # under the fastest poll (1 s): a page never sees older data twice


@dataclass(frozen=True)
class Snapshot:
    version: int
    units: dict[str, Any]
    vessels: dict[str, Any]
    sensors: dict[str, Any]
    alerts: list[dict[str, Any]]
    alert_layer: dict[str, Any]
    signature: list[list[str]]
    counts: dict[str, Any]
    incidents: dict[str, Any]


class SharedSnapshot:
    """The map's data built once per language and process at most every SNAPSHOT_MAX_AGE_S,
    however many screens poll: every poll would otherwise read and convert all of it again
    (with thousands of entities that is most of the callback's time)."""

    def __init__(self, locate: Any) -> None:
        self.locate = locate
        self.lock = threading.Lock()
        self.built: dict[str, tuple[float, Snapshot]] = {}

    def get(self, r: Any, lang: str) -> Snapshot:
        with self.lock:  # one build at a time; the others wait and take it
            hit = self.built.get(lang)
            if hit and time.monotonic() - hit[0] < SNAPSHOT_MAX_AGE_S:
                return hit[1]
            snap = self.build(r, lang)
            self.built[lang] = (time.monotonic(), snap)
            return snap

    def build(self, r: Any, lang: str) -> Snapshot:
        version = snapshots.version(r)  # before reading: a change meanwhile is sent next time
        units = snapshots.entities(r, "unit", fields=UNIT_FIELDS)
        vessels = snapshots.entities(r, "vessel", fields=VESSEL_FIELDS)
        sensors = snapshots.entities(r, "sensor")
        alerts = snapshots.open_alerts(r)
        return Snapshot(
            version,
            map_data.unit_features(units, lang, self.locate),
            map_data.vessel_features(vessels, lang, self.locate),
            map_data.sensor_features(sensors, alerts, lang),
            alerts,
            map_data.alert_features(alerts, lang),
            alert_signature(alerts),
            map_data.counts(units, vessels, sensors, alerts),
            map_data.incident_features(open_incidents(r), lang),
        )


def register(app: dash.Dash) -> None:
    shared = SharedSnapshot(load_geography().subdistricts_of)

    @roles.callback(
        app,
        Output(Ids.UNITS, "data"),
        Output(Ids.VESSELS, "data"),
        Output(Ids.SENSORS, "data"),
        Output(Ids.ALERTS, "data"),
        Output(Ids.COUNTS, "children"),
        Output(Ids.FEED, "children"),
        Output(Ids.INCIDENTS, "data"),
        Output(Ids.VERSION, "data"),
        Input(Ids.TICK, "n_intervals"),
        Input(Shell.LANG, "value"),
        Input(Ids.MODE, "data"),
        State(Ids.VERSION, "data"),
        roles=roles.VIEWERS,
    )
    def refresh(_n: int | None, lang_value: str | None, mode: Any, last: Any) -> tuple[Any, ...]:
        r = app_context().redis
        lang, wall = lang_of(lang_value), _wall(mode)
        last = last if isinstance(last, dict) else {}
        version = snapshots.version(r)
        if last.get("version") == version and last.get("lang") == lang and last.get("wall") == wall:
            return (no_update,) * 8  # nothing changed: nothing goes over the wire
        snap = shared.get(r, lang)
        seen = {"version": snap.version, "lang": lang, "wall": wall, "alerts": snap.signature}
        if all(last.get(k) == v for k, v in seen.items()):
            return (no_update,) * 8  # the shared snapshot is the one this page has
        same_feed = all(last.get(k) == seen[k] for k in ("alerts", "lang", "wall"))
        return (
            snap.units,
            snap.vessels,
            snap.sensors,
            no_update if same_feed else snap.alert_layer,
            counts_view(snap.counts, lang),
            no_update if same_feed else feed_view(snap.alerts, lang, current_user.role, wall),
            snap.incidents,
            seen,
        )

    @roles.callback(
        app,
        Output(Ids.FRESHNESS, "children"),
        Output(Ids.BANNER, "children"),
        Output(Ids.BANNER, "hidden"),
        Output(Ids.TILES_NOTE, "children"),
        Input(Ids.TICK, "n_intervals"),
        Input(Shell.LANG, "value"),
        roles=roles.VIEWERS,
    )
    def header(_n: int | None, lang_value: str | None) -> tuple[Any, ...]:
        r = app_context().redis
        lang = lang_of(lang_value)
        beat = reader.ingest_stats(r)["heartbeat"]
        age = map_data.data_age_s(beat, app_context().now_ms())
        fresh = (
            t("map.no_heartbeat", lang)
            if age is None
            else t("map.freshness", lang).format(age=map_data.fmt_age(age, lang))
        )
        stale = map_data.is_stale(age)
        return fresh, t("map.stale", lang), not stale, t("map.tiles_unavailable", lang)

    @roles.callback(
        app,
        Output(Ids.LABEL_DEPARTMENT, "children"),
        Output(Ids.FILTER_DEPARTMENT, "options"),
        Output(Ids.FILTER_DEPARTMENT, "placeholder"),
        Output(Ids.LABEL_SUBDISTRICT, "children"),
        Output(Ids.FILTER_SUBDISTRICT, "options"),
        Output(Ids.FILTER_SUBDISTRICT, "placeholder"),
        Output(Ids.LABEL_STATUS, "children"),
        Output(Ids.FILTER_STATUS, "options"),
        Output(Ids.FILTER_STATUS, "placeholder"),
        Output(Ids.LEGEND, "children"),
        Output(Ids.FEED_TITLE, "children"),
        Input(Shell.LANG, "value"),
        roles=roles.VIEWERS,
    )
    def labels(lang_value: str | None) -> tuple[Any, ...]:
        lang = lang_of(lang_value)
        every = t("filter.all", lang)
        subdistricts = [s.value for s in Subdistrict] + [map_data.NO_SUBDISTRICT]
        return (
            t("filter.department", lang),
            options("dept", list(Department), lang),
            every,
            t("filter.subdistrict", lang),
            options("subdistrict", subdistricts, lang),
            every,
            t("filter.status", lang),
            options("status", list(UnitStatus), lang),
            every,
            legend_view(lang),
            t("alerts.title", lang),
        )

    @roles.callback(
        app,
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

    @roles.callback(
        app,
        Output(Ids.ACK_NOTE, "children"),
        Input({"type": ACK, "id": ALL}, "n_clicks"),
        State(Shell.LANG, "value"),
        prevent_initial_call=True,  # only clicks: a leader's page must not call it and get 403
        roles=roles.ACKNOWLEDGERS,
    )
    def acknowledge(_clicks: Any, lang_value: str | None) -> str:
        alert_id = _clicked(ACK)
        if alert_id is None:
            raise PreventUpdate
        r = app_context().redis
        done = alert_actions.acknowledge(
            r, alert_id, current_user.name, app_context().now_ms(), _history_ms()
        )
        lang = lang_of(lang_value)
        return t(
            "alerts.gone" if done == alert_actions.Outcome.NOT_OPEN else "alerts.done_ack", lang
        )

    @roles.callback(
        app,
        Output(Ids.CLOSE_NOTE, "children"),
        Input({"type": CLOSE, "id": ALL, "reason": ALL}, "n_clicks"),
        State(Shell.LANG, "value"),
        prevent_initial_call=True,
        roles=roles.DISPATCHERS,
    )
    def close(_clicks: Any, lang_value: str | None) -> str:
        alert_id = _clicked(CLOSE)
        reason = dash.ctx.triggered_id.get("reason") if alert_id else None
        if alert_id is None or reason not in DISMISS_REASONS:
            raise PreventUpdate
        r = app_context().redis
        done = alert_actions.close(
            r, alert_id, current_user.name, app_context().now_ms(), _history_ms(), reason=reason
        )
        lang = lang_of(lang_value)
        return t(
            "alerts.gone" if done == alert_actions.Outcome.NOT_OPEN else "alerts.done_close", lang
        )

    @roles.callback(
        app,
        Output(Ids.CLOSE_NOTE, "children", allow_duplicate=True),
        Input({"type": CONFIRM, "id": ALL}, "n_clicks"),
        State(Shell.LANG, "value"),
        prevent_initial_call=True,
        roles=roles.DISPATCHERS,
    )
    def confirm(_clicks: Any, lang_value: str | None) -> str:
        alert_id = _clicked(CONFIRM)
        if alert_id is None:
            raise PreventUpdate
        lang = lang_of(lang_value)
        try:
            incident_id = incident_from_alert(
                app_context().redis, alert_id, current_user.name, _history_ms()
            )
        except Refused as e:
            return e.message
        return t("alerts.done_confirm", lang).format(id=incident_id)
