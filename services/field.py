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
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Annotated, Any

import orjson
import redis
from pydantic import BaseModel, ConfigDict, Field

from domain import evidence as evidence_rules
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
# how long one request holds an action's key at most (its process died: a resend takes it over)
TAKING_S = 60.0
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # an incident id as a phone may ask for one
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
    sha = _check_photos(photos, 1)
    rec = incidents.read(ctx.redis, incident_id) or {}
    if unit not in {*rec.get("units", []), *rec.get("released_units", [])}:
        raise Refused(403, f"unit {unit} is not on incident {incident_id[:64]!r}")
    with _taking(ctx, unit, key):
        before = field_store.outcome(ctx.redis, unit, key)
        if before and "|" not in before:
            field_store.count_duplicate(ctx.redis, "evidence")
            return {"outcome": "duplicate"}
        taken = int(before.partition("|")[2]) if before else 0  # a failed first one's
        _take_photos(ctx, unit, key, incident_id, photos[taken:], taken, caption)
        field_store.remember(ctx.redis, unit, key, "taken", ONCE_TTL_S, "evidence")
    return {
        "outcome": "taken",
        "evidence": [incident_service.evidence_url(incident_id, h) for h in sha],
    }


def _take_photos(
    ctx: AppContext,
    unit: str,
    key: str,
    incident_id: str,
    photos: list[tuple[str, bytes]],
    taken: int,
    caption: str,
) -> None:
    """Photos into the case file after the `taken` a failed first request stored, each marked
    under the key as it is stored, so a resend goes on after the last. (A crash between a
    photo's note and its mark takes that photo again: kept once by content, the case file shows
    its note twice.)"""
    for name, data in photos:
        incident_service.add_evidence(ctx, incident_id, data, name, caption, f"device:{unit}")
        taken += 1
        field_store.progress(ctx.redis, unit, key, f"{incident_id}|{taken}", ONCE_TTL_S)


@contextmanager
def _taking(ctx: AppContext, unit: str, key: str) -> Iterator[None]:
    """One request at a time takes the action of a key: a resend from another tab of the same
    queue, or a retry while the first still runs, waits (503: the phone sends it again shortly
    and then gets its outcome) instead of taking it a second time."""
    hold = field_store.taking(ctx.redis, unit, key, TAKING_S)
    if not hold.acquire():
        raise Refused(503, "this action is being taken now: send it again shortly")
    try:
        yield
    finally:
        # lapsed (a request longer than TAKING_S): nothing to give back
        with suppress(redis.exceptions.LockError):
            hold.release()


def _check_photos(photos: list[tuple[str, bytes]], at_least: int) -> list[str]:
    """Every photo checked before anything is written: one refused (422, which the phone does
    not send again) must not leave an incident opened or half a case file behind. Gives their
    SHA-256."""
    if not at_least <= len(photos) <= MAX_PHOTOS:
        raise Refused(422, f"photo: {at_least} to {MAX_PHOTOS} photos")
    try:
        return [evidence_rules.accept(data, name).sha256 for name, data in photos]
    except evidence_rules.EvidenceRefused as e:
        raise Refused(422, f"photo: {e}") from None


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
    (a resend answers with the incident the first one opened, or takes the photos a failed
    first one did not)."""
    unit = unit_of(ctx, account)
    key = _key(key)
    _check_photos(photos, 0)
    by = f"device:{unit}"
    with _taking(ctx, unit, key):
        before = field_store.outcome(ctx.redis, unit, key)
        if before and "|" not in before:
            field_store.count_duplicate(ctx.redis, "finding")
            return {"outcome": "duplicate", "incident_id": before}
        if before:  # opened, but the photos were not all taken: the rest now
            incident_id, _, done = before.partition("|")
            taken = int(done)
        else:
            body = NewIncident(
                type=finding.type,
                source=model.Source.PATROL_FINDING,
                lat=finding.lat,
                lon=finding.lon,
                description=finding.description,
            )
            incident_id, taken = incident_service.open_incident(ctx, body, by)["id"], 0
            field_store.progress(ctx.redis, unit, key, f"{incident_id}|0", ONCE_TTL_S)
        caption = finding.description[:500]
        _take_photos(ctx, unit, key, incident_id, photos[taken:], taken, caption)
        field_store.remember(ctx.redis, unit, key, incident_id, ONCE_TTL_S, "finding")
    return {"outcome": "opened", "incident_id": incident_id}


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


ENDED_WELL = {model.State.HANDLED, model.State.CLOSED}


def task_ended(ctx: AppContext, account: Account | None, incident_id: str) -> dict[str, Any]:
    """How a task that left this phone ended: the incident's state now, and whether that is its
    work done (a colleague reported it handled) or the unit taken off it (sent elsewhere, the
    case rejected or transferred). Only for an incident the unit was sent to: any other reads
    as not there."""
    unit = unit_of(ctx, account)
    sent = incidents.units_ever_on(ctx.redis, [incident_id]) if ID_RE.fullmatch(incident_id) else {}
    rec = incidents.read(ctx.redis, incident_id) if unit in sent.get(incident_id, ()) else None
    if rec is None:
        raise Refused(404, f"no task of unit {unit} on {incident_id[:64]!r}")
    return {"incident_id": incident_id, "state": rec["state"], "done": rec["state"] in ENDED_WELL}


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
    with _taking(ctx, unit, key):
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
