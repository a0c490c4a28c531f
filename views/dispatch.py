"""The dispatch page's queue, incident detail and candidates as components and GeoJSON. Pure: no
callbacks, no Redis; built from `services.incidents` answers."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

import dash_leaflet as dl
from dash import dcc, html

from dashboard import map_data
from dashboard.i18n import t
from domain import incidents as model
from domain.evidence import INLINE_TYPES
from services.incidents import evidence_url

PRIORITY_COLOURS = map_data.PRIORITY_COLOURS
# Pattern ids: a queue row {"type": ROW, "id": incident id}; a transition button
# {"type": MOVE, "to": state}; the button that reveals the caller's number and where it shows
# {"type": REVEAL / PHONE, "id": incident id} (only on the pages of roles that may read it).
ROW, MOVE = "incident-row", "incident-move"
MERGE = "incident-merge"  # a possible duplicate to merge into the incident shown
REVEAL, PHONE = "incident-reveal-phone", "incident-phone"
CANDIDATES = "dispatch-candidates"  # the duty chief's checklist of units to send


def empty() -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": []}


def _age(ms: Any, now: int, lang: str) -> str:
    return map_data.fmt_age((now - ms) / 1000, lang) if isinstance(ms, int) else "—"


def incident_feature(inc: dict[str, Any], selected: bool, lang: str) -> dict[str, Any]:
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


def incident_layer(items: list[dict[str, Any]], selected: Any, lang: str) -> dict[str, Any]:
    located = [i for i in items if isinstance(i.get("lon"), float)]
    return {
        "type": "FeatureCollection",
        "features": [incident_feature(i, i["id"] == selected, lang) for i in located],
    }


def queue_order(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most urgent first, then oldest first: what a duty chief works through."""
    return sorted(items, key=lambda i: (int(i.get("priority") or 3), i.get("created_ms") or 0))


def escalation(inc: dict[str, Any], lang: str) -> list[html.Div]:
    """Who is responsible now, once a missed deadline has moved the case up a level."""
    if not inc.get("deadlines_missed") or not inc.get("level"):
        return []
    return [
        html.Div(
            t("dispatch.escalated", lang).format(level=t(f"level.{inc['level']}", lang)),
            className="ec-late",
        )
    ]


def _late(inc: dict[str, Any], lang: str) -> list[html.Div]:
    return [
        html.Div(t(f"incident.deadline.{d}", lang), className="ec-late")
        for d in inc.get("deadlines_missed") or []
    ]


def row(inc: dict[str, Any], now: int, lang: str, selected: bool) -> html.Li:
    p = int(inc.get("priority") or 3)
    units = f" · {', '.join(inc.get('units') or [])}" if inc.get("units") else ""
    head = html.Div(
        [
            html.Span(t(f"incident.priority.{p}", lang), className=f"ec-prio ec-prio-{p}"),
            html.Span(t(f"incident.type.{inc.get('type')}", lang), className="ec-alert-kind"),
            html.Span(_age(inc.get("created_ms"), now, lang), className="ec-alert-time"),
        ],
        className="ec-alert-head",
    )
    state = t("incident.state." + str(inc.get("state")), lang)
    if model.to_verify(inc):
        state = f"{t('incident.source.citizen_report', lang)} · {t('dispatch.to_verify', lang)}"
    return html.Li(
        html.Button(
            [
                head,
                html.Div(f"{inc['id']} · {state}{units}", className="ec-alert-source"),
                *_late(inc, lang),
                *escalation(inc, lang),
            ],
            id={"type": ROW, "id": inc["id"]},
            className="ec-row-button",
        ),
        className="ec-alert-item ec-selected" if selected else "ec-alert-item",
    )


def queue_view(items: list[dict[str, Any]], now: int, lang: str, selected: Any) -> Any:
    if not items:
        return html.P(t("dispatch.empty", lang), className="ec-feed-empty")
    return html.Ol(
        [row(i, now, lang, i["id"] == selected) for i in items], className="ec-feed-list"
    )


def _count(value: int, label: str, alert: bool = False) -> html.Div:
    return html.Div(
        [
            html.Div(str(value), className="ec-count-value"),
            html.Div(label, className="ec-count-label"),
        ],
        className="ec-count ec-alert" if alert else "ec-count",
    )


def counts_view(items: list[dict[str, Any]], lang: str) -> list[html.Div]:
    """The header's figures: open incidents, and how many are past a deadline."""
    late = sum(1 for i in items if i.get("deadlines_missed"))
    return [
        _count(len(items), t("dispatch.open", lang)),
        _count(late, t("dispatch.overdue", lang), alert=bool(late)),
    ]


def timeline_view(inc: dict[str, Any], lang: str) -> html.Ol:
    rows = []
    for step in inc.get("timeline", []):
        to = t(f"incident.state.{step.get('to')}", lang)
        who = step.get("by") or ""
        why = f" — {step['reason']}" if step.get("reason") else ""
        if step.get("taken"):  # units this incident lost to a more urgent one
            taken = t("incident.taken", lang).format(units=step["taken"], incident=step.get("for"))
            why = f" — {taken}{why}"
        rows.append(html.Li(f"{map_data.local_time(step.get('at_ms'))} {to} · {who}{why}"))
    return html.Ol(rows, className="ec-timeline")


def note_view(inc_id: str, n: dict[str, Any]) -> html.Li:
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


def notes_view(inc: dict[str, Any], lang: str) -> html.Div:
    notes = inc.get("notes") or []
    return html.Div(
        [
            html.H3(t("dispatch.case_file", lang), className="ec-panel-title"),
            html.Ol([note_view(inc["id"], n) for n in notes], className="ec-timeline ec-notes")
            if notes
            else html.P(t("dispatch.no_notes", lang), className="ec-feed-empty"),
        ]
    )


def messages_view(threads: dict[str, list[dict[str, Any]]], lang: str) -> list[Any]:
    """The messages with each unit on the incident, both ways; the centre's marked read when
    the unit's phone showed them."""
    if not threads:
        return []
    rows = []
    for unit, thread in threads.items():
        for m in thread[-8:]:
            mine = m.get("dir") == "to_unit"
            seen = (
                t("dispatch.message_read", lang).format(at=map_data.local_time(m["read_ms"]))
                if mine and m.get("read_ms")
                else t("dispatch.message_unread", lang)
                if mine
                else ""
            )
            who = f"{m.get('by')} → {unit}" if mine else f"{unit} ({m.get('by')})"
            head = f"{map_data.local_time(m.get('at_ms'))} · {who} {seen}"
            rows.append(
                html.Li([html.Span(head, className="ec-alert-time"), html.Div(str(m["text"]))])
            )
    return [
        html.Div(
            [
                html.H3(t("dispatch.messages", lang), className="ec-panel-title"),
                html.Ol(rows, className="ec-timeline ec-notes")
                if rows
                else html.P(t("dispatch.no_messages", lang), className="ec-feed-empty"),
            ],
            id="dispatch-messages",
        )
    ]


def moves_view(inc: dict[str, Any], lang: str) -> html.Div:
    """The duty chief's buttons to the incident's next states (assigning has its own button)."""
    return html.Div(
        [
            html.Button(
                t(f"incident.state.{s}", lang), id={"type": MOVE, "to": s}, className="ec-button"
            )
            for s in inc.get("next_states", [])
            if s != "assigned"
        ],
        className="ec-moves",
    )


def phone_view(inc: dict[str, Any], lang: str, reader: bool) -> list[Any]:
    """The caller's number, masked; a role that may read it gets the button that reveals it
    (each reveal is recorded)."""
    if not inc.get("has_reporter_phone"):
        return []
    masked = t("dispatch.phone", lang).format(phone=inc.get("reporter_phone_masked") or "")
    parts: list[Any] = [html.Span(masked)]
    if reader:
        parts += [
            html.Button(
                t("dispatch.show_phone", lang),
                id={"type": REVEAL, "id": inc["id"]},
                title=t("dispatch.phone_recorded", lang),
                className="ec-button ec-reveal",
            ),
            html.Strong(id={"type": PHONE, "id": inc["id"]}, className="ec-phone"),
        ]
    return [html.Div(parts, className="ec-contact")]


def duplicates_view(found: list[dict[str, Any]], lang: str, chief: bool) -> list[Any]:
    """The open reports that may be of the same thing; a duty chief may merge each into the
    incident shown."""
    if not found:
        return []
    items = []
    for d in found:
        source = t(f"incident.source.{d.get('source')}", lang)
        text = f"{d['id']} · {source} · {d['distance_m']} m · {d.get('description') or ''}"
        merge = html.Button(
            t("dispatch.merge", lang), id={"type": MERGE, "id": d["id"]}, className="ec-button"
        )
        items.append(html.Li([html.Span(text), *([merge] if chief else [])]))
    title = html.H3(t("dispatch.duplicates", lang), className="ec-feed-title")
    return [html.Div([title, html.Ul(items, className="ec-duplicates")], id="dispatch-duplicates")]


def detail_view(
    inc: dict[str, Any],
    lang: str,
    chief: bool,
    reader: bool = False,
    check: list[Any] | None = None,
    duplicates: list[dict[str, Any]] | None = None,
    threads: dict[str, list[dict[str, Any]]] | None = None,
    replay: bool = False,
) -> list[Any]:
    """The incident, its timeline (with `check`: whether it matches the audit log) and case
    file, and the reports that may be of the same thing; a duty chief also gets its next steps
    and the merge buttons; a `reader` of personal data the button that reveals the caller's
    number; `threads`: the messages with the units on it; `replay`: a link to its replay (its
    units' tracks are personal data: for who may read them)."""
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
        # the next steps first: they are what a duty chief comes for, above the fold at 1080
        *([moves_view(inc, lang)] if chief else []),
        html.Div(str(inc.get("description") or ""), className="ec-alert-message"),
        *phone_view(inc, lang, reader),
        *_late(inc, lang),
        *escalation(inc, lang),
        *duplicates_view(duplicates or [], lang, chief),
        timeline_view(inc, lang),
        *([_replay_link(inc, lang)] if replay else []),
        *(check or []),
        notes_view(inc, lang),
        *messages_view(threads or {}, lang),
    ]


def _replay_link(inc: dict[str, Any], lang: str) -> html.A:
    return html.A(
        f"{t('replay.title', lang)} →",
        href=f"/replay?{urlencode({'incident': inc['id']})}",
        className="ec-history-link",
    )


def pick_view(lang: str) -> html.P:
    return html.P(t("dispatch.pick", lang), className="ec-feed-empty")


def candidate_label(c: dict[str, Any], lang: str, rank: int | None = None) -> str:
    """One candidate: its rank (the first marked as the best pick), name, department, status,
    ETA, distance and how old its position is."""
    eta = "—" if c.get("eta_s") is None else f"{c['eta_s'] / 60:.0f} min"
    dist = "—" if c.get("distance_m") is None else f"{c['distance_m'] / 1000:.1f} km"
    flags = []
    if c.get("stale"):
        flags.append(t("dispatch.stale", lang))
    if c.get("preemptible"):
        flags.append(t("dispatch.preemptible", lang))
    best = t("dispatch.best", lang) + " " if rank == 1 else ""
    head = "" if rank is None else f"{rank}. {best}"
    age = t("dispatch.position_age", lang).format(age=map_data.fmt_age(c.get("age_s"), lang))
    return (
        f"{head}{c.get('name') or c['unit_id']} · {t('dept.' + str(c.get('department')), lang)} · "
        f"{t('status.' + str(c.get('status')), lang)} · ETA {eta} · {dist} · {age}"
        + (f" · {' · '.join(flags)}" if flags else "")
    )


def candidates_view(
    found: list[dict[str, Any]], lang: str, chief: bool, incident_id: str | None = None
) -> Any:
    """The ranked candidates: a duty chief ticks the ones to send; the others read the list.
    The chief's ticks outlive a refresh of the list (the ranks and ages move every few
    seconds) while the same incident is shown: Dash keeps a user's value per `persistence`."""
    labels = [(c["unit_id"], candidate_label(c, lang, i)) for i, c in enumerate(found, 1)]
    none = [] if found else [html.P(t("dispatch.no_candidates", lang), className="ec-feed-empty")]
    if chief:  # the checklist is always there: the assign callback reads it
        ticks = dcc.Checklist(
            id=CANDIDATES,
            options=[{"label": label, "value": unit} for unit, label in labels],
            value=[],
            persistence=incident_id or "none",
            persistence_type="memory",
            className="ec-candidates",
        )
        return [ticks, *none]
    return none or html.Ol([html.Li(label) for _u, label in labels], className="ec-candidates")


def panel_class(inc: dict[str, Any] | None) -> str:
    """The right-hand panel's classes: what it offers follows the incident shown (map.css
    hides the rest): nothing selected, no actions at all; past "on scene", no candidates nor
    assignment (.ec-assigning); no next state that needs a reason, no reason nor transfer
    (.ec-reasoned)."""
    names = ["ec-side-panel", "ec-dispatch-panel"]
    if inc is None:
        return " ".join([*names, "ec-nothing-selected"])
    state = model.State(inc["state"])
    if state not in model.ASSIGNABLE:
        names.append("ec-not-assignable")
    if not model.NEEDS_REASON & set(model.next_states(state)):
        names.append("ec-no-reasons")
    return " ".join(names)


def candidate_markers(found: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    return {
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
                    "tooltip": escape(candidate_label(c, lang)),
                },
            }
            for c in found
        ],
    }


ROUTE_COLOUR, CANDIDATE_COLOUR = "#c77c00", "#1f5fa8"


def route_lines(
    routes: dict[str, list[list[float]]], sent: list[str], found: list[dict[str, Any]]
) -> list[dl.Polyline]:
    """The ways the ETAs assume, by road or by sea: solid for the units sent (the chief watches
    them come along it), dashed for the candidates; a unit without a way gets no line."""
    lines = [
        dl.Polyline(positions=routes[u], color=ROUTE_COLOUR, weight=4, opacity=0.9)
        for u in sent
        if u in routes
    ]
    lines += [
        dl.Polyline(
            positions=routes[c["unit_id"]], color=CANDIDATE_COLOUR, weight=2, dashArray="6 4"
        )
        for c in found
        if c["unit_id"] in routes and c["unit_id"] not in sent
    ]
    return lines
