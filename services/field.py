"""The officer's field app (dashboard/field_api.py): what an officer on duty sends from a phone,
and the task the phone shows.

A phone speaks the units' own MQTT schema (docs/asyncapi.yaml: position, status, task), but
over HTTPS with the officer's session: the web app never hands MQTT credentials to a browser.
What it sends is handed to the ingest worker under the officer's unit (the topic is made here
from the account, never from the request), so it is validated, judged by the clock rule for
late reports and counted by the same handlers as a message from the broker: one code path.

Each action carries an idempotency key: a phone that queued actions offline, or never saw an
answer, sends them again, and each is taken once. The answer then says "duplicate".
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
import redis
from pydantic import BaseModel, ConfigDict, Field

from domain import incidents as model
from domain.clock import system_ms
from domain.roles import OFFICER
from services import incidents as incident_service
from services import messages as message_service
from services.accounts import Account
from services.context import AppContext
from services.errors import Refused
from services.incidents import NewIncident
from store import devices as roster
from store import field as field_store
from store import incidents, reader

# a unit's topics a phone may send to (its profile is the centre's to set)
KINDS = ("position", "status", "task", "patrol-log")
ONCE_TTL_S = 14 * 86_400  # a phone two weeks at sea still sends each action once
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_PHOTOS = 3


def unit_of(ctx: AppContext, account: Account | None) -> str:
    """The officer's unit, whose device is active; Refused(403) for anyone else."""
    if account is None or account.role != OFFICER or not account.unit:
        raise Refused(403, "the field app is for an officer bound to a unit")
    device = roster.get(ctx.redis, account.unit)
    if device is None or not device.active:
        raise Refused(403, f"the device of unit {account.unit} is revoked: ask the duty chief")
    return account.unit


def _key(key: str | None) -> str:
    if not key or not KEY_RE.match(key):
        raise Refused(400, "Idempotency-Key: 8-64 letters, digits, '-' or '_', one per action")
    return key


def send(
    ctx: AppContext, account: Account | None, kind: str, body: bytes, key: str | None
) -> dict[str, str]:
    """Hands a unit message to the workers; {"outcome": "queued" | "duplicate", "topic"}.
    The worker applies it, dead-letters it (a payload naming another unit: device_mismatch) or
    counts it a duplicate, as for MQTT."""
    unit = unit_of(ctx, account)
    if kind not in KINDS:
        raise Refused(404, f"no field message {kind[:40]!r}: one of {', '.join(KINDS)}")
    if len(body) > ctx.settings.max_payload_bytes:
        raise Refused(413, f"{len(body)} bytes: at most {ctx.settings.max_payload_bytes}")
    topic = f"{ctx.settings.topic_prefix}/units/{unit}/{kind}"
    entry = {"t": topic, "p": body, "by": f"officer:{account.name}", "ms": ctx.now_ms()}  # type: ignore[union-attr]
    fresh = field_store.relay_once(ctx.redis, unit, _key(key), entry, kind, ONCE_TTL_S)
    return {"outcome": "queued" if fresh else "duplicate", "topic": topic}


def add_photos(
    ctx: AppContext,
    account: Account | None,
    incident_id: str,
    caption: str,
    photos: list[tuple[str, bytes]],
    key: str | None,
) -> dict[str, Any]:
    """Photos (and their caption) into the case file of an incident the unit is or was on, as
    evidence checked like any other; each key once."""
    unit = unit_of(ctx, account)
    key = _key(key)
    if not photos or len(photos) > MAX_PHOTOS:
        raise Refused(422, f"photo: 1 to {MAX_PHOTOS} photos")
    rec = incidents.read(ctx.redis, incident_id) or {}
    if unit not in {*rec.get("units", []), *rec.get("released_units", [])}:
        raise Refused(403, f"unit {unit} is not on incident {incident_id[:64]!r}")
    if field_store.outcome(ctx.redis, unit, key):
        field_store.count_duplicate(ctx.redis, "evidence")
        return {"outcome": "duplicate"}
    by = f"device:{unit}"
    added = [
        incident_service.add_evidence(ctx, incident_id, data, name, caption, by)
        for name, data in photos
    ]
    # A crash between the files and this mark would take the photos again on a resend: the
    # files are kept by content (one copy); the case file would show the note twice.
    field_store.remember(ctx.redis, unit, key, "taken", ONCE_TTL_S, "evidence")
    return {"outcome": "taken", "evidence": [a["url"] for a in added]}


class Finding(BaseModel):
    """Something an officer found on patrol (the photos come beside it): a new incident, source
    patrol finding, at the place the phone gives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: model.IncidentType
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    description: Annotated[str, Field(max_length=2000)] = ""


def report_finding(
    ctx: AppContext,
    account: Account | None,
    finding: Finding,
    photos: list[tuple[str, bytes]],
    key: str | None,
) -> dict[str, Any]:
    """Opens the incident (by `device:{unit}`) with its photos in the case file; each key once
    (a resend answers with the incident the first one opened)."""
    unit = unit_of(ctx, account)
    key = _key(key)
    if len(photos) > MAX_PHOTOS:
        raise Refused(422, f"photo: at most {MAX_PHOTOS} photos")
    before = field_store.outcome(ctx.redis, unit, key)
    if before:
        field_store.count_duplicate(ctx.redis, "finding")
        return {"outcome": "duplicate", "incident_id": before}
    body = NewIncident(
        type=finding.type,
        source=model.Source.PATROL_FINDING,
        lat=finding.lat,
        lon=finding.lon,
        description=finding.description,
    )
    by = f"device:{unit}"
    made = incident_service.open_incident(ctx, body, by)
    for name, data in photos:
        incident_service.add_evidence(ctx, made["id"], data, name, finding.description[:500], by)
    field_store.remember(ctx.redis, unit, key, made["id"], ONCE_TTL_S, "finding")
    return {"outcome": "opened", "incident_id": made["id"]}


def _task(ctx: AppContext, unit: str) -> dict[str, Any] | None:
    incident_id = incidents.unit_task(ctx.redis, unit).get("incident")
    rec = incidents.read(ctx.redis, incident_id) if incident_id else None
    if rec is None:
        return None
    limits = ctx.rules.deadlines[model.Priority(int(rec.get("priority") or 3))]
    assigned, reported = rec.get("at_assigned"), rec.get("at_reported")
    return {
        "incident_id": incident_id,
        "state": rec["state"],
        "type": rec.get("type"),
        "priority": rec.get("priority"),
        "lat": rec.get("lat"),
        "lon": rec.get("lon"),
        "description": str(rec.get("description") or "")[:500],
        "assigned_ms": assigned,
        "arrive_by_ms": assigned + limits.arrive_s * 1000 if assigned else None,
        "handle_by_ms": reported + limits.handle_s * 1000 if reported else None,
    }


def current(ctx: AppContext, account: Account | None) -> dict[str, Any]:
    """What the phone shows: the unit, its duty status as the live state has it, its task and
    its messages with the centre."""
    unit = unit_of(ctx, account)
    state = reader.entity(ctx.redis, "unit", unit) or {}
    return {
        "officer": account.name,  # type: ignore[union-attr]
        "unit": unit,
        "unit_name": state.get("name"),
        "status": state.get("status"),
        "task": _task(ctx, unit),
        "messages": message_service.thread(ctx, unit),
    }


def changes(ctx: AppContext, unit: str) -> str:
    """A value that moves whenever an incident, an assignment or the unit's messages do (what
    the field stream wakes on: two reads a second per phone)."""
    return f"{incidents.overlays_version(ctx.redis)}|{message_service.last(ctx, unit)}"


def reply(ctx: AppContext, account: Account | None, body: str, key: str | None) -> dict[str, Any]:
    """The officer's reply to the centre; each key once."""
    unit = unit_of(ctx, account)
    key = _key(key)
    before = field_store.outcome(ctx.redis, unit, key)
    if before:
        field_store.count_duplicate(ctx.redis, "reply")
        return {"outcome": "duplicate", "id": before}
    sent = message_service.from_unit(ctx, unit, account.name, body)  # type: ignore[union-attr]
    field_store.remember(ctx.redis, unit, key, sent["id"], ONCE_TTL_S, "reply")
    return {"outcome": "sent", **sent}


def read(ctx: AppContext, account: Account | None, ids: list[str]) -> dict[str, Any]:
    """The centre's messages the phone showed (marking twice changes nothing: no key needed)."""
    unit = unit_of(ctx, account)
    return {"marked": message_service.mark_read(ctx, unit, account.name, ids)}  # type: ignore[union-attr]


DEMO_UNIT = "U-DP-F01"
# (lon, lat): the demo officer's places are those at these points, 南澳's hills and its west shore
DEMO_BEAT = ((114.5405, 22.5205), (114.48, 22.52))
DEMO_PROFILE = {  # a foot patrol of 南澳's community station, as its provisioning would send it
    "name": "南澳外勤一组",
    "department": "eco_environment",
    "kind": "foot",
    "level": "community",
    "subdistrict": "nanao",
    "skills": ["waste_dumping", "illegal_discharge", "illegal_building", "noise"],
    "callsign": "外勤1",
}


def seed_demo_unit(r: redis.Redis, prefix: str) -> str:
    """The demo's field unit: in the roster (source "demo"; renewed at each start, its secret
    never shown: the phone needs none) and its profile handed to the workers like any unit's."""
    roster.add(r, DEMO_UNIT, "unit", system_ms(), source="demo")
    profile = {"unit_id": DEMO_UNIT, "ts": system_ms(), **DEMO_PROFILE}
    entry = {"t": f"{prefix}/units/{DEMO_UNIT}/profile", "p": orjson.dumps(profile)}
    field_store.hand_over(r, {**entry, "by": "system:demo", "ms": system_ms()})
    return DEMO_UNIT
