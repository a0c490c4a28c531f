"""The live map's side panel and header figures as components: the counts, the alert feed (with
the buttons of the roles that may act on an alert) and the legend. Pure: no callbacks, no Redis."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard import map_data, roles
from dashboard.i18n import t
from domain.incidents import suggests_incident
from domain.vocab import ALERT_DISMISS_REASONS

FEED_LIMIT = 50  # alerts listed beside the map; the header counts them all
# Pattern ids of the alert feed's buttons: {"type": ACK, "id": <alert id>}; a dismissal also
# names its reason: {"type": CLOSE, "id": <alert id>, "reason": <one of DISMISS_REASONS>}.
ACK, CLOSE, CONFIRM = "alert-ack", "alert-close", "alert-confirm"
DISMISS_REASONS = ALERT_DISMISS_REASONS


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


def _button(label: str, ident: dict[str, str], cls: str) -> html.Button:
    return html.Button(label, id=ident, className=f"ec-button {cls}")


def alert_actions(a: dict[str, Any], lang: str, role: str | None, wall: bool) -> list[Any]:
    """Who acknowledged, and the buttons of this role (none on a wall screen: nobody is there
    to click; the server checks every role anyway)."""
    alert_id = str(a.get("id", ""))
    acked = a.get("ack_by")
    out: list[Any] = []
    if acked:
        out.append(html.Span(t("alerts.acked", lang).format(who=acked), className="ec-acked"))
    if wall:
        return out
    if not acked and role in roles.ACKNOWLEDGERS:
        out.append(_button(t("alerts.ack", lang), {"type": ACK, "id": alert_id}, "ec-ack"))
    if role in roles.DISPATCHERS:  # confirm as an incident, or dismiss with a reason
        if suggests_incident(a):
            out.append(
                _button(t("alerts.confirm", lang), {"type": CONFIRM, "id": alert_id}, "ec-confirm")
            )
        out += [
            _button(
                t(f"alerts.dismiss.{why}", lang),
                {"type": CLOSE, "id": alert_id, "reason": why},
                "ec-close",
            )
            for why in DISMISS_REASONS
        ]
    return out


def _alert_item(a: dict[str, Any], lang: str, role: str | None, wall: bool) -> html.Li:
    alert_id = str(a.get("id", ""))
    severity = str(a.get("severity") or "info")
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
            html.Div(
                str(a.get("name") or a.get("source") or ""),
                className="ec-alert-source",
                # a click opens the unit's or vessel's panel (assets/entity_list.js)
                **{"data-source": str(a.get("source") or "")},
            ),
            html.Div(map_data.alert_message(a, lang), className="ec-alert-message"),
            html.Div(alert_actions(a, lang, role, wall), className="ec-alert-actions"),
        ],
        className=f"ec-alert-item ec-severity-{severity}",
        **{"data-alert": alert_id},
    )


def feed_view(alerts: list[dict[str, Any]], lang: str, role: str | None, wall: bool) -> list[Any]:
    if not alerts:
        return [html.P(t("alerts.none", lang), className="ec-feed-empty")]
    items = [_alert_item(a, lang, role, wall) for a in alerts[:FEED_LIMIT]]
    out: list[Any] = [html.Ol(items, className="ec-feed-list")]
    if len(alerts) > FEED_LIMIT:
        out.append(html.P(t("alerts.more", lang).format(n=len(alerts) - FEED_LIMIT)))
    return out


WALL_INCIDENTS = 8  # open incidents the wall screen lists (most urgent first); the rest counted


def wall_incidents_view(items: list[dict[str, Any]], now: int, lang: str) -> list[Any]:
    """The wall screen's open incidents, most urgent first (overdue ones marked), each with its
    state and units: what the room is handling, read from across it."""
    title = html.H2(t("wall.incidents", lang).format(n=len(items)), className="ec-feed-title")
    if not items:
        return [title, html.P(t("dispatch.empty", lang), className="ec-feed-empty")]
    ordered = sorted(
        items,
        key=lambda i: (
            not i.get("deadlines_missed"),
            int(i.get("priority") or 3),
            i.get("created_ms") or 0,
        ),
    )
    rows = []
    for inc in ordered[:WALL_INCIDENTS]:
        p = int(inc.get("priority") or 3)
        late = [t(f"incident.deadline.{d}", lang) for d in inc.get("deadlines_missed") or []]
        units = ", ".join(inc.get("units") or []) or t("wall.no_units", lang)
        age = map_data.fmt_age((now - int(inc.get("created_ms") or now)) / 1000, lang)
        rows.append(
            html.Li(
                [
                    html.Div(
                        [
                            html.Span(
                                t(f"incident.priority.{p}", lang), className=f"ec-prio ec-prio-{p}"
                            ),
                            html.Span(
                                t(f"incident.type.{inc.get('type')}", lang),
                                className="ec-alert-kind",
                            ),
                            html.Span(age, className="ec-alert-time"),
                        ],
                        className="ec-alert-head",
                    ),
                    html.Div(
                        f"{t('incident.state.' + str(inc.get('state')), lang)} · {units}",
                        className="ec-alert-source",
                    ),
                    *[html.Div(x, className="ec-late") for x in late],
                ],
                className="ec-alert-item ec-wall-incident" + (" ec-overdue" if late else ""),
            )
        )
    more = len(items) - WALL_INCIDENTS
    tail = [html.P(t("alerts.more", lang).format(n=more))] if more > 0 else []
    return [title, html.Ol(rows, className="ec-feed-list"), *tail]


def _swatch(colour: str, shape: str = "circle", outline: str = "#1a1a1a") -> html.Span:
    return html.Span(
        className=f"ec-swatch ec-shape-{shape}",
        style={"background": colour, "borderColor": outline},
    )


def _legend_row(swatch: html.Span, label: str, cls: str = "ec-legend-row") -> html.Div:
    return html.Div([swatch, label], className=cls)


def legend_view(lang: str) -> list[Any]:
    rows: list[Any] = [html.Summary(t("legend.title", lang))]
    rows += [
        _legend_row(_swatch(c), t(f"status.{s}", lang)) for s, c in map_data.STATUS_COLOURS.items()
    ]
    rows += [
        _legend_row(_swatch("#ffffff", shape), t(f"kind.{k}", lang), "ec-legend-row ec-legend-kind")
        for k, shape in map_data.KIND_SHAPES.items()
    ]
    rows += [
        _legend_row(
            _swatch("#ffffff", outline=c), t(f"dept.{d}", lang), "ec-legend-row ec-legend-dept"
        )
        for d, c in map_data.DEPARTMENT_COLOURS.items()
    ]
    rows += [
        _legend_row(_swatch(map_data.VESSEL_COLOUR, "ship", "#ffffff"), t("legend.vessel", lang)),
        _legend_row(_swatch(map_data.SENSOR_COLOURS["ok"], "hexagon"), t("count.sensors", lang)),
        _legend_row(
            _swatch("transparent", outline=map_data.SEVERITY_COLOURS["critical"]),
            t("legend.alert", lang),
        ),
    ]
    return rows


def _word(prefix: str, value: Any, lang: str) -> str | None:
    """A vocabulary value in words (an unknown one as it is; none: None, the row is left out)."""
    if value in (None, ""):
        return None
    key = f"{prefix}.{value}"
    return str(value) if t(key, lang) == key else t(key, lang)


def _rows(rows: list[tuple[str, Any]]) -> html.Dl:
    items: list[Any] = []
    for label, value in rows:
        if value not in (None, "", []):
            items += [html.Dt(label), html.Dd(str(value))]
    return html.Dl(items, className="ec-detail-rows")


def particulars_view(layer: str, found: dict[str, Any] | None, lang: str) -> list[Any]:
    """A unit's or vessel's particulars in the map's panel (services/entity_detail)."""
    title = html.H3(t("detail.static", lang), className="ec-detail-title")
    if not found:
        return [title, html.P(t("detail.unknown", lang), className="ec-feed-empty")]
    if layer == "units":
        skills = [t(f"incident.type.{s}", lang) for s in found.get("skills") or []]
        rows = [
            (t("field.kind", lang), _word("kind", found.get("kind"), lang)),
            (t("field.department", lang), _word("dept", found.get("department"), lang)),
            (t("field.level", lang), _word("level", found.get("level"), lang)),
            (t("detail.home", lang), _word("subdistrict", found.get("subdistrict"), lang)),
            (t("field.callsign", lang), found.get("callsign")),
            (t("detail.plate", lang), found.get("plate")),
            (t("detail.skills", lang), "、".join(skills) if lang == "zh" else ", ".join(skills)),
        ]
    else:
        length, beam = found.get("length_m"), found.get("beam_m")
        size = f"{length or '—'} m × {beam or '—'} m" if length or beam else None
        rows = [
            (t("field.ship_type", lang), found.get("ship_type_text")),
            (t("field.callsign", lang), found.get("callsign")),
            (t("detail.imo", lang), found.get("imo")),
            (t("detail.dimensions", lang), size),
            (t("detail.nav_status", lang), _word("ais.nav", found.get("nav_status"), lang)),
        ]
    return [title, _rows(rows)]
