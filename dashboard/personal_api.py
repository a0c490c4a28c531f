"""Personal data over the API (docs/openapi.yaml), for duty chiefs, leaders and admins, never
operators: an incident reporter's phone number (GET /api/v1/incidents/{incident_id}/contact);
each number read is recorded in the audit log. A unit's track is in dashboard/tracks_api.py.
Thin adapters over services/personal.py; the answers are never cached."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
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


contact_view.roles = PERSONAL_READERS  # type: ignore[attr-defined]  # dashboard.security checks
bp.add_url_rule("/incidents/<incident_id>/contact", view_func=contact_view, methods=["GET"])
