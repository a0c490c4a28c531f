"""The coverage API (docs/openapi.yaml): coverage % by place kind for the district and each
sub-district over a window, the daily trend, blind spots with who is responsible, the presence
heatmap, and patrol logs checked against the units' tracks. `report` is what the coverage page
shows too, so page and API cannot disagree.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_login import current_user
from pydantic import ValidationError

from dashboard.context import app_context
from dashboard.roles import ADMINS, DISPATCHERS, VIEWERS
from domain.payloads import PatrolLog
from services import coverage as service
from services.errors import BadQuery, Refused

bp = Blueprint("coverage_api", __name__, url_prefix="/api/v1")


def coverage_view() -> Any:
    args = request.args
    try:
        body = service.window_report(
            app_context(),
            args.get("window", "today"),
            args.getlist("kind"),
            args.getlist("department"),
        )
    except BadQuery as e:
        return jsonify({"error": str(e)}), 422
    return jsonify(body)


def patrol_log_view() -> Any:
    raw = request.get_data()
    try:  # strict JSON types, unknown fields refused, as for the MQTT payload
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise BadQuery("the body must be a JSON object")
        log = PatrolLog.model_validate_json(raw, strict=True)
        out = service.submit_patrol_log(app_context(), log, current_user.name, "api")
    except ValidationError as e:
        errs = e.errors(include_url=False, include_input=False)
        return jsonify(
            {
                "error": "; ".join(
                    f"{'.'.join(map(str, x['loc'])) or 'body'}: {x['msg']}" for x in errs[:5]
                )
            }
        ), 422
    except BadQuery as e:
        return jsonify({"error": str(e)}), 422 if "JSON object" not in str(e) else 400
    return jsonify(out), 201


def patrol_logs_view() -> Any:
    flagged = request.args.get("flagged", "0") == "1"
    items = service.recent_logs(app_context(), flagged_only=flagged)
    return jsonify({"items": items, "count": len(items)})


def owner_view(place_id: str) -> Any:
    """An admin reassigns a place's responsible person (the coverage page's form does too)."""
    body = request.get_json(silent=True)
    owner = body.get("owner") if isinstance(body, dict) else None
    if not isinstance(owner, str):
        return jsonify({"error": "the body must be a JSON object with a string 'owner'"}), 400
    try:
        out = service.reassign_owner(app_context(), place_id, owner, current_user.name)
    except Refused as e:
        return jsonify({"error": e.message}), e.status
    return jsonify(out)


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
