"""What the replay page hands to the browser (assets/replay.js): the tracks to play as
[ts, lat, lon] points with a colour each, an incident's timeline events as text in the reader's
language, the window; and the anchor feature the page's map hangs the replay layer on. Pure."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from dashboard.i18n import t
from domain.vocab import LOCAL_TZ

SPEEDS = (1, 10, 60)
COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


def anchor() -> dict[str, Any]:
    """The one feature of the replay's layer: assets/replay.js answers it with the layer."""
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [0.0, 0.0]},
        "properties": {"replay": True},
    }
    return {"type": "FeatureCollection", "features": [feature]}


def clock(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).strftime("%H:%M:%S")


def event_text(event: Mapping[str, Any], lang: str) -> str:
    state = t(f"incident.state.{event.get('state', '')}", lang)
    parts = [clock(int(event["ts"])), state, str(event.get("by") or "")]
    if event.get("taken"):
        parts.append(t("incident.taken", lang).format(units=event["taken"], incident=event["for"]))
    if event.get("reason"):
        parts.append(f"({event['reason']})")
    return " ".join(p for p in parts if p)


def payload(rep: Mapping[str, Any], lang: str) -> str:
    """The page's JSON for assets/replay.js: text only (a device's or an officer's words are
    shown as text by the script, never as markup)."""
    tracks = [
        {
            "id": tr["id"],
            "label": t("replay.kind." + tr["kind"], lang) + " " + tr["id"],
            "colour": COLOURS[i % len(COLOURS)],
            "points": tr["points"],
        }
        for i, tr in enumerate(rep["tracks"])
    ]
    events = [{"ts": e["ts"], "text": event_text(e, lang)} for e in rep["events"]]
    body = {
        "kind": rep["kind"],
        "id": rep["id"],
        "from": rep["from_ms"],
        "to": rep["to_ms"],
        "tracks": tracks,
        "events": events,
        "place": rep.get("place"),
        "tz_offset_min": 480,  # times shown in UTC+8, whatever the browser's zone
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def summary(rep: Mapping[str, Any], keep_days: int, lang: str) -> str:
    points = sum(len(tr["points"]) for tr in rep["tracks"])
    if points == 0:
        return t("replay.empty", lang).format(days=keep_days)
    return t("replay.loaded", lang).format(tracks=len(rep["tracks"]), points=points)
