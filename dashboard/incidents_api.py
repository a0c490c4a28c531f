"""The incidents API (docs/openapi.yaml): open, list, read with the timeline, rank candidates,
assign, and move through the state machine. Dispatch actions are for duty chiefs only; every
body is validated (pydantic, strict) and every refusal says why.

The service functions (`open_incident`, `assign_units`, `move`) are what the dispatch page calls
too, so the page and the API cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any

import redis
from flask import Blueprint, current_app, jsonify, request, send_file
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dashboard.context import app_context
from dashboard.roles import DISPATCHERS, VIEWERS
from domain import evidence as evidence_rules
from domain import incidents as model
from domain.vocab import Department
from store import incidents
from store.dispatch import candidates
from store.evidence import EvidenceFiles

bp = Blueprint("incidents_api", __name__, url_prefix="/api/v1")

Text = Annotated[str, Field(max_length=2000)]
UnitId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


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


class Refused(Exception):
    """An action refused with an HTTP status and a message for the person who asked."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def _redis() -> redis.Redis:
    return app_context().redis


def now_ms() -> int:
    """The legal clock of this app (a test may fix it)."""
    return app_context().now_ms()


# --- services (the page uses them too) ---------------------------------------------------------


def open_incident(r: redis.Redis, body: NewIncident, by: str) -> dict[str, Any]:
    rules = model.load_rules()
    geo = app_context().geo
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
    out = incidents.create(r, fields, by, now_ms())
    if not out.ok:
        raise Refused(409, f"could not open the incident: {out.code.name}")
    return detail(r, out.detail)


def detail(r: redis.Redis, incident_id: str) -> dict[str, Any]:
    inc = incidents.read(r, incident_id)
    if inc is None:
        raise Refused(404, f"no incident {incident_id[:64]!r}")
    inc["timeline"] = incidents.timeline(r, incident_id)
    inc["notes"] = incidents.notes(r, incident_id)
    inc["next_states"] = [s.value for s in model.next_states(model.State(inc["state"]))]
    with_clocks(inc, now_ms())
    return inc


def with_clocks(inc: dict[str, Any], now: int) -> dict[str, Any]:
    """The incident with its missed deadlines and the level now responsible for it (one up
    per missed deadline: community -> sub-district -> district)."""
    inc["deadlines_missed"] = missed = model.record_deadlines_missed(inc, model.load_rules(), now)
    inc["level"] = model.escalated_level(model.BASE_LEVEL, len(missed)).value
    return inc


def assign_units(r: redis.Redis, incident_id: str, body: Assignment, by: str) -> dict[str, Any]:
    inc = incidents.read(r, incident_id)
    if inc is None:
        raise Refused(404, f"no incident {incident_id[:64]!r}")
    target = model.State.ASSIGNED
    allowed = [s.value for s in model.allowed_from(target)]
    at = now_ms()
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
        r,
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
    return {**detail(r, incident_id), "durable": out.durable}


RELEASING = {model.State.HANDLED, model.State.CLOSED, model.State.REJECTED, model.State.TRANSFERRED}
CLOSING = {model.State.CLOSED, model.State.REJECTED, model.State.TRANSFERRED}


def move(r: redis.Redis, incident_id: str, body: Move, by: str) -> dict[str, Any]:
    inc = incidents.read(r, incident_id)
    if inc is None:
        raise Refused(404, f"no incident {incident_id[:64]!r}")
    try:  # the domain's rules first (reasons, target department) with a clear message
        model.check_transition(
            model.State(inc["state"]),
            body.to,
            by=by,
            at_ms=now_ms(),
            reason=body.reason,
            department=body.department,
            owner=(inc.get("departments") or [None])[0],
        )
    except model.IllegalTransition as e:
        raise Refused(409, str(e)) from None
    allowed = [s.value for s in model.allowed_from(body.to)]
    extra = {"department": body.department.value} if body.department else {}
    out = incidents.transition(
        r,
        incident_id,
        body.to.value,
        allowed,
        by=by,
        at_ms=now_ms(),
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
    return {**detail(r, incident_id), "durable": out.durable}


def add_note(r: redis.Redis, incident_id: str, body: Note, by: str) -> dict[str, Any]:
    text = body.text.strip()
    if not text:
        raise Refused(422, "text: the note is empty")
    at = now_ms()
    out = incidents.add_note(r, incident_id, "note", {"text": text}, by=by, at_ms=at)
    if out.code == incidents.Code.NO_SUCH:
        raise Refused(404, f"no incident {incident_id[:64]!r}")
    return {
        "id": out.detail,
        "kind": "note",
        "text": text,
        "by": by,
        "at_ms": at,
        "durable": out.durable,
    }


def evidence_files() -> EvidenceFiles:
    return EvidenceFiles(current_app.config["SETTINGS"].data_dir / "evidence")


def add_evidence(
    r: redis.Redis, incident_id: str, data: bytes, name: str, caption: str, by: str
) -> dict[str, Any]:
    """Check the file, put it on disk, then record it on the incident (in that order, so a
    recorded hash always has its file)."""
    if incidents.read(r, incident_id) is None:
        raise Refused(404, f"no incident {incident_id[:64]!r}")
    try:
        ev = evidence_rules.accept(data, name)
    except evidence_rules.EvidenceRefused as e:
        raise Refused(422, f"file: {e}") from None
    evidence_files().put(ev.sha256, data)
    fields = {
        "sha256": ev.sha256,
        "name": ev.name,
        "media_type": ev.media_type,
        "size": ev.size,
        "caption": caption.strip()[:500],
    }
    at = now_ms()
    out = incidents.add_note(r, incident_id, "evidence", fields, by=by, at_ms=at)
    if out.code == incidents.Code.NO_SUCH:
        raise Refused(404, f"no incident {incident_id[:64]!r}")
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


# --- routes ----------------------------------------------------------------------------------


def _json(model_cls: type[_Body]) -> Any:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Refused(400, "the body must be a JSON object")
    try:  # strict JSON types: "22.5" is not a number here
        return model_cls.model_validate_json(request.get_data(), strict=True)
    except ValidationError as e:
        errs = e.errors(include_url=False, include_input=False)
        raise Refused(
            422, "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in errs[:5])
        ) from None


@bp.errorhandler(Refused)
def _refused(e: Refused) -> Any:
    return jsonify({"error": e.message, **e.extra}), e.status


@bp.errorhandler(413)
def _too_large(_e: Any) -> Any:
    limit = current_app.config["MAX_CONTENT_LENGTH"] / 1e6
    return jsonify({"error": f"the request is larger than {limit:.0f} MB"}), 413


def _route(rule: str, view: Any, roles: frozenset[str], methods: tuple[str, ...]) -> None:
    view.roles = roles  # checked by dashboard.security's gate
    bp.add_url_rule(rule, view_func=view, methods=list(methods))


def create_view() -> Any:
    return jsonify(open_incident(_redis(), _json(NewIncident), current_user.name)), 201


LIST_LIMIT, LIST_MAX = 1000, 50_000


def list_view() -> Any:
    state = request.args.get("state")
    if state is not None and state not in {s.value for s in model.State}:
        raise Refused(422, f"unknown state {state[:40]!r}")
    open_only = request.args.get("open", "0") == "1"
    bounds = {}
    for name in ("from", "to", "limit"):
        text = request.args.get(name)
        if text is not None:
            if not text.isdigit() or len(text) > 15:
                raise Refused(422, f"{name}: a whole number (epoch ms; limit: a count)")
            bounds[name] = int(text)
    limit = bounds.get("limit", LIST_LIMIT)
    if not 1 <= limit <= LIST_MAX:
        raise Refused(422, f"limit: 1 to {LIST_MAX}")
    items = incidents.listing(
        _redis(),
        open_only=open_only,
        limit=limit,
        from_ms=bounds.get("from"),
        to_ms=bounds.get("to"),
    )
    if state:
        items = [i for i in items if i.get("state") == state]
    now = now_ms()
    for i in items:
        with_clocks(i, now)
    return jsonify({"items": items, "count": len(items), "generated_ms": now})


def detail_view(incident_id: str) -> Any:
    return jsonify(detail(_redis(), incident_id))


def candidates_view(incident_id: str) -> Any:
    r = _redis()
    inc = incidents.read(r, incident_id)
    if inc is None:
        raise Refused(404, f"no incident {incident_id[:64]!r}")
    found = candidates(r, inc, app_context().travel, now_ms())
    return jsonify({"items": found, "count": len(found)})


def assign_view(incident_id: str) -> Any:
    return jsonify(assign_units(_redis(), incident_id, _json(Assignment), current_user.name))


def transition_view(incident_id: str) -> Any:
    return jsonify(move(_redis(), incident_id, _json(Move), current_user.name))


def note_view(incident_id: str) -> Any:
    return jsonify(add_note(_redis(), incident_id, _json(Note), current_user.name)), 201


def evidence_upload_view(incident_id: str) -> Any:
    upload = request.files.get("file")
    if upload is None:
        raise Refused(400, "send the file as multipart/form-data in a part named 'file'")
    caption = request.form.get("caption", "")
    if len(caption) > 500:
        raise Refused(422, "caption: at most 500 characters")
    return jsonify(
        add_evidence(
            _redis(), incident_id, upload.read(), upload.filename or "", caption, current_user.name
        )
    ), 201


def evidence_view(incident_id: str, sha256: str) -> Any:
    """A file attached to this incident: only a hash recorded on it is served, with the type
    judged when it was accepted; images inline, anything else as a download."""
    entry = next(
        (
            n
            for n in incidents.notes(_redis(), incident_id)
            if n.get("kind") == "evidence" and n.get("sha256") == sha256
        ),
        None,
    )
    if entry is None:
        raise Refused(404, "no such evidence on this incident")
    files = evidence_files()
    if not files.exists(sha256):
        raise Refused(410, "the file is recorded but missing from this server's storage")
    media = entry.get("media_type") or "application/octet-stream"
    resp = send_file(
        files.path(sha256),
        mimetype=media,
        download_name=entry.get("name"),
        as_attachment=media not in evidence_rules.INLINE_TYPES,
        etag=sha256,
        max_age=3600,
    )
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


_route("/incidents", create_view, DISPATCHERS, ("POST",))
_route("/incidents", list_view, VIEWERS, ("GET",))
_route("/incidents/<incident_id>", detail_view, VIEWERS, ("GET",))
_route("/incidents/<incident_id>/candidates", candidates_view, VIEWERS, ("GET",))
_route("/incidents/<incident_id>/assign", assign_view, DISPATCHERS, ("POST",))
_route("/incidents/<incident_id>/transition", transition_view, DISPATCHERS, ("POST",))
_route("/incidents/<incident_id>/notes", note_view, DISPATCHERS, ("POST",))
_route("/incidents/<incident_id>/evidence", evidence_upload_view, DISPATCHERS, ("POST",))
_route("/incidents/<incident_id>/evidence/<sha256>", evidence_view, VIEWERS, ("GET",))
