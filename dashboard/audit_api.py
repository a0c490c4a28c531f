"""The audit trail API (docs/openapi.yaml, GET /api/v1/audit/trail?ref=kind:id): the entries of
one incident, unit, account, device, alert or place in the audit log with their verification
status, for leaders and admins. A thin adapter over services/trail.py, which the `/trail` page
calls too."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from dashboard.context import app_context
from dashboard.roles import ANALYSTS
from services import trail

bp = Blueprint("audit_api", __name__, url_prefix="/api/v1")


def trail_view() -> Any:
    return jsonify(trail.trail(app_context(), request.args.get("ref", "")[:200]))


trail_view.roles = ANALYSTS  # type: ignore[attr-defined]  # checked by dashboard.security
bp.add_url_rule("/audit/trail", view_func=trail_view, methods=["GET"])
