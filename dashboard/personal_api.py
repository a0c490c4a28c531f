"""Personal data over the API (docs/openapi.yaml), for duty chiefs, leaders and admins, never
operators: an incident reporter's phone number (GET /api/v1/incidents/{incident_id}/contact) and
a unit's track over a window (GET /api/v1/units/{unit_id}/track?from=&to=). Each number read,
and each track read reaching before today, is recorded in the audit log. Thin adapters over
services/personal.py; the answers are never cached."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_login import current_user

from dashboard.context import app_context
from dashboard.roles import PERSONAL_READERS
from services import personal

bp = Blueprint("personal_api", __name__, url_prefix="/api/v1")


def _private(body: dict[str, Any]) -> Any:
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def contact_view(incident_id: str) -> Any:
    return _private(personal.reporter_phone(app_context(), incident_id, current_user.name))


def track_view(unit_id: str) -> Any:
    ctx = app_context()
    from_ms, to_ms = personal.window(request.args.get("from"), request.args.get("to"), ctx.now_ms())
    return _private(personal.unit_track(ctx, unit_id, from_ms, to_ms, current_user.name))


for rule, view in (
    ("/incidents/<incident_id>/contact", contact_view),
    ("/units/<unit_id>/track", track_view),
):
    view.roles = PERSONAL_READERS  # type: ignore[attr-defined]  # checked by dashboard.security
    bp.add_url_rule(rule, view_func=view, methods=["GET"])
