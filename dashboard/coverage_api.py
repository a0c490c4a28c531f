"""The coverage API (docs/openapi.yaml): coverage % by place kind for the district and each
sub-district over a window, the daily trend, blind spots with who is responsible, the presence
heatmap, and patrol logs checked against the units' tracks. `report` is what the coverage page
shows too, so page and API cannot disagree.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_login import current_user

from dashboard.api_errors import json_body, query_flag
from dashboard.context import app_context
from dashboard.roles import ADMINS, DISPATCHERS, VIEWERS
from domain.payloads import PatrolLog
from services import coverage as service
from services.errors import Refused

bp = Blueprint("coverage_api", __name__, url_prefix="/api/v1")


def coverage_view() -> Any:
    args = request.args
    body = service.window_report(
        app_context(), args.get("window", "today"), args.getlist("kind"), args.getlist("department")
    )
    return jsonify(body)


def patrol_log_view() -> Any:
    log = json_body(PatrolLog)  # strict types, unknown fields refused, as over MQTT
    out = service.submit_patrol_log(app_context(), log, current_user.name, "api")
    return jsonify(out), 201


def patrol_logs_view() -> Any:
    items = service.recent_logs(app_context(), flagged_only=query_flag("flagged"))
    return jsonify({"items": items, "count": len(items)})


def owner_view(place_id: str) -> Any:
    """An admin reassigns a place's responsible person (the coverage page's form does too)."""
    body = request.get_json(silent=True)
    owner = body.get("owner") if isinstance(body, dict) else None
    if not isinstance(owner, str):
        raise Refused(400, "the body must be a JSON object with a string 'owner'")
    return jsonify(service.reassign_owner(app_context(), place_id, owner, current_user.name))


coverage_view.roles = VIEWERS  # type: ignore[attr-defined]  # checked by dashboard.security
patrol_log_view.roles = DISPATCHERS  # type: ignore[attr-defined]
patrol_logs_view.roles = VIEWERS  # type: ignore[attr-defined]
owner_view.roles = ADMINS  # type: ignore[attr-defined]
bp.add_url_rule("/coverage", view_func=coverage_view, methods=["GET"])
bp.add_url_rule("/coverage/places/<place_id>/owner", view_func=owner_view, methods=["PUT"])
bp.add_url_rule("/patrol-logs", view_func=patrol_log_view, methods=["POST"])
bp.add_url_rule(
    "/patrol-logs", endpoint="patrol_logs_list", view_func=patrol_logs_view, methods=["GET"]
)
