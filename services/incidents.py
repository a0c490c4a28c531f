"""Incidents: open, read with the timeline, list, rank candidates, assign, move through the state
machine, notes and evidence. The dispatch page and the incidents API both call these, so they
refuse the same things the same way. Bodies are validated by pydantic (strict, no extra fields);
every refusal says why (`Refused`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain import evidence as evidence_rules
from domain import incidents as model
from domain import personal
from domain.vocab import Department
from services import audit
from services.context import AppContext
from services.errors import Refused
from store import incidents, snapshots
from store.dispatch import candidates as ranked_candidates
from store.evidence import EvidenceFiles
from store.personal import PHONE_FIELD  # kept on the record, never answered: see `public`

Text = Annotated[str, Field(max_length=2000)]
UnitId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Phone = Annotated[str, Field(max_length=personal.PHONE_MAX, pattern=personal.PHONE_PATTERN)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NewIncident(_Body):
    type: model.IncidentType
    source: model.Source = model.Source.MANUAL
    priority: Annotated[int, Field(ge=1, le=3)] = 2
    domain: model.Domain | None = None  # default: the type's, from config/dispatch.json
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    description: Text = ""
    evidence: Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=20)] = []
    alert_id: Annotated[str, Field(max_length=200)] | None = None
    # a hotline report's caller: shown masked; revealed (and recorded) by services.personal
    reporter_phone: Phone | None = None

    @field_validator("reporter_phone")
    @classmethod
    def _clean_phone(cls, v: str | None) -> str | None:
        return None if v is None else personal.clean_phone(v)


class Assignment(_Body):
    units: Annotated[list[UnitId], Field(min_length=1, max_length=20)]
    preempt: bool = False
    reason: Text = ""


class Move(_Body):
    to: model.State
    reason: Text = ""
    department: Department | None = None  # where a transferred incident goes


class Note(_Body):
    text: Annotated[str, Field(min_length=1, max_length=2000)]


def open_incident(ctx: AppContext, body: NewIncident, by: str) -> dict[str, Any]:
    rules, geo = ctx.rules, ctx.geo
    if not geo.in_coverage(body.lon, body.lat):
        raise Refused(422, "the location is outside the area this centre covers")
    rule = rules.types[body.type]
    fields: dict[str, Any] = {
        "type": body.type.value,
        "source": body.source.value,
        "priority": body.priority,
        "domain": (body.domain or rule.domain).value,
        "lat": body.lat,
        "lon": body.lon,
        "departments": ",".join(d.value for d in rule.departments),
        "subdistrict": geo.subdistrict_of(body.lon, body.lat) or "",
        "description": body.description,
        "evidence": "\n".join(body.evidence),
        "alert_id": body.alert_id or "",
    }
    if body.reporter_phone:
        fields[PHONE_FIELD] = body.reporter_phone
    out = incidents.create(ctx.redis, fields, by, ctx.now_ms())
    if not out.ok:
        raise Refused(409, f"could not open the incident: {out.code.name}")
    audit.incident_event(ctx, by, "incident.opened", out.detail, "reported")
    return detail(ctx, out.detail)


def public(inc: dict[str, Any]) -> dict[str, Any]:
    """The record as it may be shown: the reporter's number masked, never whole."""
    phone = inc.pop(PHONE_FIELD, None)
    inc["has_reporter_phone"] = bool(phone)
    inc["reporter_phone_masked"] = personal.mask_phone(str(phone)) if phone else None
    return inc


def _read(ctx: AppContext, incident_id: str) -> dict[str, Any]:
    inc = incidents.read(ctx.redis, incident_id)
    if inc is None:
        raise Refused(404, f"no incident {incident_id[:64]!r}")
    return public(inc)


def detail(ctx: AppContext, incident_id: str) -> dict[str, Any]:
    """The incident with its timeline, notes, the states it may go to and its clocks."""
    r, inc = ctx.redis, _read(ctx, incident_id)
    inc["timeline"] = incidents.timeline(r, incident_id)
    inc["notes"] = incidents.notes(r, incident_id)
    inc["next_states"] = [s.value for s in model.next_states(model.State(inc["state"]))]
    with_clocks(inc, ctx.rules, ctx.now_ms())
    return inc


def revision(ctx: AppContext, incident_id: str) -> str | None:
    """A short token that changes whenever anything a page shows of the incident changes: a
    write to it, its timeline, notes or its units' messages, or a deadline passing (None: no
    such incident). The dispatch page polls it and redraws the incident only when it moves."""
    found = incidents.revision(ctx.redis, incident_id)
    if found is None:
        return None
    inc, marks = found
    missed = model.record_deadlines_missed(inc, ctx.rules, ctx.now_ms())
    return hashlib.blake2b(orjson.dumps([marks, len(missed)]), digest_size=8).hexdigest()


def with_clocks(inc: dict[str, Any], rules: model.DispatchRules, now: int) -> dict[str, Any]:
    """The incident with its missed deadlines and the level now responsible for it (one up
    per missed deadline: community -> sub-district -> district)."""
    inc["deadlines_missed"] = missed = model.record_deadlines_missed(inc, rules, now)
    inc["level"] = model.escalated_level(model.BASE_LEVEL, len(missed)).value
    return inc


def assign_units(ctx: AppContext, incident_id: str, body: Assignment, by: str) -> dict[str, Any]:
    inc = _read(ctx, incident_id)
    target = model.State.ASSIGNED
    allowed = [s.value for s in model.allowed_from(target)]
    at = ctx.now_ms()
    notices = {
        u: {
            "incident_id": incident_id,
            "unit_id": u,
            "ts": at,
            "type": inc["type"],
            "priority": inc["priority"],
            "domain": inc["domain"],
            "lat": inc["lat"],
            "lon": inc["lon"],
            "summary": str(inc.get("description", ""))[:500],
            "assigned_by": by,
        }
        for u in body.units
    }
    out = incidents.assign(
        ctx.redis,
        incident_id,
        list(body.units),
        allowed,
        by=by,
        at_ms=at,
        priority=int(inc["priority"]),
        notices=notices,
        reason=body.reason,
        preempt=body.preempt,
    )
    if out.code == incidents.Code.UNIT_BUSY:
        raise Refused(409, f"unit {out.detail} is already on another incident", unit=out.detail)
    if out.code == incidents.Code.NOT_ALLOWED:
        raise Refused(409, f"an incident that is {out.detail} cannot be assigned", state=out.detail)
    if not out.ok:
        raise Refused(409, f"not assigned: {out.code.name}")
    audit.incident_event(ctx, by, "incident.assigned", incident_id, target.value, out.event)
    for taken_from, state, event in out.preempted:  # each keeps its record of losing the unit
        audit.incident_event(ctx, by, "incident.unit_taken", taken_from, state, event)
    return {**detail(ctx, incident_id), "durable": out.durable}


RELEASING = {model.State.HANDLED, model.State.CLOSED, model.State.REJECTED, model.State.TRANSFERRED}
CLOSING = {model.State.CLOSED, model.State.REJECTED, model.State.TRANSFERRED}


def move(ctx: AppContext, incident_id: str, body: Move, by: str) -> dict[str, Any]:
    inc, at = _read(ctx, incident_id), ctx.now_ms()
    try:  # the domain's rules first (reasons, target department) with a clear message
        model.check_transition(
            model.State(inc["state"]),
            body.to,
            by=by,
            at_ms=at,
            reason=body.reason,
            department=body.department,
            owner=(inc.get("departments") or [None])[0],
        )
    except model.IllegalTransition as e:
        raise Refused(409, str(e)) from None
    allowed = [s.value for s in model.allowed_from(body.to)]
    extra = {"department": body.department.value} if body.department else {}
    out = incidents.transition(
        ctx.redis,
        incident_id,
        body.to.value,
        allowed,
        by=by,
        at_ms=at,
        reason=body.reason,
        extra=extra,
        release=body.to in RELEASING,
        closes=body.to in CLOSING,
    )
    if not out.ok:
        raise Refused(
            409,
            f"the incident is {out.detail} now; it cannot go to {body.to.value}",
            state=out.detail,
        )
    audit.incident_event(ctx, by, "incident.moved", incident_id, body.to.value, out.event)
    return {**detail(ctx, incident_id), "durable": out.durable}


def add_note(ctx: AppContext, incident_id: str, body: Note, by: str) -> dict[str, Any]:
    text = body.text.strip()
    if not text:
        raise Refused(422, "text: the note is empty")
    at = ctx.now_ms()
    out = incidents.add_note(ctx.redis, incident_id, "note", {"text": text}, by=by, at_ms=at)
    if out.code == incidents.Code.NO_SUCH:
        raise Refused(404, f"no incident {incident_id[:64]!r}")
    audit.incident_note(ctx, by, "incident.note", incident_id, out.detail)
    return {
        "id": out.detail,
        "kind": "note",
        "text": text,
        "by": by,
        "at_ms": at,
        "durable": out.durable,
    }


def evidence_files(ctx: AppContext) -> EvidenceFiles:
    return EvidenceFiles(ctx.settings.effective_evidence_dir)


def add_evidence(
    ctx: AppContext, incident_id: str, data: bytes, name: str, caption: str, by: str
) -> dict[str, Any]:
    """Check the file, put it on disk, then record it on the incident (in that order, so a
    recorded hash always has its file)."""
    _read(ctx, incident_id)
    try:
        ev = evidence_rules.accept(data, name)
    except evidence_rules.EvidenceRefused as e:
        raise Refused(422, f"file: {e}") from None
    evidence_files(ctx).put(ev.sha256, data)
    fields = {
        "sha256": ev.sha256,
        "name": ev.name,
        "media_type": ev.media_type,
        "size": ev.size,
        "caption": caption.strip()[:500],
    }
    at = ctx.now_ms()
    out = incidents.add_note(ctx.redis, incident_id, "evidence", fields, by=by, at_ms=at)
    if out.code == incidents.Code.NO_SUCH:
        raise Refused(404, f"no incident {incident_id[:64]!r}")
    audit.incident_note(ctx, by, "incident.evidence", incident_id, out.detail)
    return {
        "id": out.detail,
        "kind": "evidence",
        **fields,
        "by": by,
        "at_ms": at,
        "durable": out.durable,
        "url": evidence_url(incident_id, ev.sha256),
    }


def evidence_url(incident_id: str, sha256: str) -> str:
    return f"/api/v1/incidents/{incident_id}/evidence/{sha256}"


LIST_LIMIT, LIST_MAX = 1000, 50_000


def listing(
    ctx: AppContext,
    *,
    state: str | None = None,
    open_only: bool = False,
    from_ms: int | None = None,
    to_ms: int | None = None,
    limit: int = LIST_LIMIT,
) -> list[dict[str, Any]]:
    """Incidents newest first (opened in [from_ms, to_ms)), each with its clocks."""
    if state is not None and state not in {s.value for s in model.State}:
        raise Refused(422, f"unknown state {state[:40]!r}")
    if not 1 <= limit <= LIST_MAX:
        raise Refused(422, f"limit: 1 to {LIST_MAX}")
    items = incidents.listing(
        ctx.redis, open_only=open_only, limit=limit, from_ms=from_ms, to_ms=to_ms
    )
    if state:
        items = [i for i in items if i.get("state") == state]
    now = ctx.now_ms()
    return [with_clocks(public(i), ctx.rules, now) for i in items]


def candidates(ctx: AppContext, incident_id: str) -> list[dict[str, Any]]:
    """The nearest suitable units, ranked by estimated time of arrival."""
    inc = _read(ctx, incident_id)
    return ranked_candidates(ctx.redis, inc, ctx.travel, ctx.now_ms(), ctx.rules)


def routes(ctx: AppContext, incident_id: str, unit_ids: list[str]) -> dict[str, list[list[float]]]:
    """Per unit (of those given, with a position), the way its ETA assumes from where it is
    now to the incident ([lat, lon] points, travel.path: by road or by sea, never straight
    across a bay); units that cannot reach it are left out."""
    inc = _read(ctx, incident_id)
    wanted = {"unit": (unit_ids, ("lat", "lon", "kind"))}
    found = snapshots.named_entities(ctx.redis, wanted, ctx.now_ms())["unit"]
    out = {}
    for u in found:
        lon, lat = u.get("lon"), u.get("lat")
        if not isinstance(lon, int | float) or not isinstance(lat, int | float):
            continue
        dest = (float(inc["lon"]), float(inc["lat"]))
        path = ctx.travel.path(str(u.get("kind")), (lon, lat), dest, inc.get("domain"))
        if path:
            out[str(u["unit_id"])] = [[round(y, 6), round(x, 6)] for x, y in path]
    return out


def evidence_file(ctx: AppContext, incident_id: str, sha256: str) -> tuple[Path, dict[str, Any]]:
    """The file of a piece of evidence recorded on this incident (only a hash recorded on it is
    served) and its record (name, media type judged when it was accepted)."""
    entry = next(
        (
            n
            for n in incidents.notes(ctx.redis, incident_id)
            if n.get("kind") == "evidence" and n.get("sha256") == sha256
        ),
        None,
    )
    if entry is None:
        raise Refused(404, "no such evidence on this incident")
    files = evidence_files(ctx)
    if not files.exists(sha256):
        raise Refused(410, "the file is recorded but missing from this server's storage")
    return files.path(sha256), entry
