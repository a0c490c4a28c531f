"""The incidents API (docs/openapi.yaml): open, list, read with the timeline, rank candidates,
assign, and move through the state machine. Dispatch actions are for duty chiefs only.

Thin adapters over services/incidents.py (what the dispatch page calls too): parse the request,
call one service function, send its answer or its refusal as JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request, send_file
from flask_login import current_user

from dashboard.api_errors import json_body, query_flag
from dashboard.context import app_context
from dashboard.roles import DISPATCHERS, VIEWERS
from domain import evidence as evidence_rules
from services import duplicates as duplicate_service
from services import incident_history as history
from services import incidents as service
from services.errors import Refused
from services.incidents import Assignment, Move, NewIncident, Note

bp = Blueprint("incidents_api", __name__, url_prefix="/api/v1")

# --- routes ----------------------------------------------------------------------------------


@bp.errorhandler(413)
def _too_large(_e: Any) -> Any:
    limit = current_app.config["MAX_CONTENT_LENGTH"] / 2**20
    return jsonify({"error": f"the request is larger than {limit:.0f} MiB"}), 413


def _route(rule: str, view: Any, roles: frozenset[str], methods: tuple[str, ...]) -> None:
    view.roles = roles  # checked by dashboard.security's gate
    bp.add_url_rule(rule, view_func=view, methods=list(methods))


def create_view() -> Any:
    return jsonify(
        service.open_incident(app_context(), json_body(NewIncident), current_user.name)
    ), 201


def _whole(name: str) -> int | None:
    text = request.args.get(name)
    if text is None:
        return None
    if not text.isdigit() or len(text) > 15:
        raise Refused(422, f"{name}: a whole number (epoch ms; limit, offset: a count)")
    return int(text)


def _text(name: str) -> str | None:
    return request.args.get(name) or None  # empty: no filter


def list_view() -> Any:
    """Incidents newest first, filtered (state, type, sub-district, unit, words, the time they
    were opened) and paged: the history's query (services/incident_history)."""
    state, limit, offset = _text("state"), _whole("limit"), _whole("offset")
    query = history.Query(
        states=(state,) if state else (),
        open_only=query_flag("open"),
        type=_text("type"),
        subdistrict=_text("subdistrict"),
        community=_text("community"),
        unit=_text("unit"),
        text=_text("q"),
        from_ms=_whole("from"),
        to_ms=_whole("to"),
        offset=offset or 0,
        limit=service.LIST_LIMIT if limit is None else limit,
    )
    ctx = app_context()
    found = history.search(ctx, query)
    return jsonify(
        {
            "items": found.items,
            "count": len(found.items),
            "total": found.total,
            "offset": found.offset,
            "capped": found.capped,
            "generated_ms": ctx.now_ms(),
        }
    )


def detail_view(incident_id: str) -> Any:
    return jsonify(service.detail(app_context(), incident_id))


def candidates_view(incident_id: str) -> Any:
    found = service.candidates(app_context(), incident_id)
    return jsonify({"items": found, "count": len(found)})


def duplicates_view(incident_id: str) -> Any:
    found = duplicate_service.duplicates(app_context(), incident_id)
    return jsonify({"items": found, "count": len(found)})


def merge_view(incident_id: str) -> Any:
    body = json_body(duplicate_service.Merge)
    return jsonify(
        duplicate_service.merge(app_context(), body.duplicate, incident_id, current_user.name)
    )


def assign_view(incident_id: str) -> Any:
    body = json_body(Assignment)
    return jsonify(service.assign_units(app_context(), incident_id, body, current_user.name))


def transition_view(incident_id: str) -> Any:
    return jsonify(service.move(app_context(), incident_id, json_body(Move), current_user.name))


def note_view(incident_id: str) -> Any:
    body = json_body(Note)
    return jsonify(service.add_note(app_context(), incident_id, body, current_user.name)), 201


def evidence_upload_view(incident_id: str) -> Any:
    upload = request.files.get("file")
    if upload is None:
        raise Refused(400, "send the file as multipart/form-data in a part named 'file'")
    caption = request.form.get("caption", "")
    if len(caption) > 500:
        raise Refused(422, "caption: at most 500 characters")
    return jsonify(
        service.add_evidence(
            app_context(),
            incident_id,
            upload.read(),
            upload.filename or "",
            caption,
            current_user.name,
        )
    ), 201


def evidence_view(incident_id: str, sha256: str) -> Any:
    """A file attached to this incident: only a hash recorded on it is served, with the type
    judged when it was accepted; images inline, anything else as a download."""
    path, entry = service.evidence_file(app_context(), incident_id, sha256)
    media = entry.get("media_type") or "application/octet-stream"
    resp = send_file(
        path,
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
_route("/incidents/<incident_id>/duplicates", duplicates_view, VIEWERS, ("GET",))
_route("/incidents/<incident_id>/merge", merge_view, DISPATCHERS, ("POST",))
_route("/incidents/<incident_id>/assign", assign_view, DISPATCHERS, ("POST",))
_route("/incidents/<incident_id>/transition", transition_view, DISPATCHERS, ("POST",))
_route("/incidents/<incident_id>/notes", note_view, DISPATCHERS, ("POST",))
_route("/incidents/<incident_id>/evidence", evidence_upload_view, DISPATCHERS, ("POST",))
_route("/incidents/<incident_id>/evidence/<sha256>", evidence_view, VIEWERS, ("GET",))
