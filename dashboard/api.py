"""The JSON API (docs/openapi.yaml) for the live picture and the alerts, behind the same login:
live state for integrations (units, vessels, sensors, open alerts) and the alert actions the live
map's feed offers (acknowledge, dismiss, open the incident an alert suggests). Thin adapters over
services/live.py and services/alerts.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, request
from flask_login import current_user

from dashboard.context import app_context
from dashboard.roles import ACKNOWLEDGERS, DISPATCHERS, VIEWERS
from services import alerts, live
from services.context import AppContext
from services.errors import Refused

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _route(rule: str, view: Callable[..., Any], roles: frozenset[str], method: str) -> None:
    view.roles = roles  # type: ignore[attr-defined]  # checked by dashboard.security's gate
    bp.add_url_rule(rule, view_func=view, methods=[method])


def _listing(path: str, read: Callable[[AppContext], list[dict[str, Any]]]) -> None:
    def view() -> Any:
        ctx = app_context()
        version = live.version(ctx)  # before reading: a change meanwhile shows in the next one
        items = read(ctx)
        return jsonify(
            {"items": items, "count": len(items), "version": version, "generated_ms": ctx.now_ms()}
        )

    view.__name__ = f"list_{path}"
    _route(f"/{path}", view, VIEWERS, "GET")


_listing("units", lambda ctx: live.entities(ctx, "unit"))
_listing("vessels", lambda ctx: live.entities(ctx, "vessel"))
_listing("sensors", lambda ctx: live.entities(ctx, "sensor"))
_listing("alerts", live.open_alerts)


def acknowledge_view(alert_id: str) -> Any:
    done = alerts.acknowledge(app_context(), alert_id[:200], current_user.name)
    return jsonify({"id": alert_id, "acknowledged": True, "already": not done})


def dismiss_view(alert_id: str) -> Any:
    body = request.get_json(silent=True)
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str):
        raise Refused(400, "the body must be a JSON object with a string 'reason'")
    done = alerts.dismiss(app_context(), alert_id[:200], reason, current_user.name)
    return jsonify({"id": alert_id, "closed": True, "already": not done})


def incident_view(alert_id: str) -> Any:
    return jsonify(alerts.open_incident(app_context(), alert_id[:200], current_user.name)), 201


_route("/alerts/<alert_id>/acknowledge", acknowledge_view, ACKNOWLEDGERS, "POST")
_route("/alerts/<alert_id>/dismiss", dismiss_view, DISPATCHERS, "POST")
_route("/alerts/<alert_id>/incident", incident_view, DISPATCHERS, "POST")
