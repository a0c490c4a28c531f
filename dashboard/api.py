"""The JSON API (docs/openapi.yaml): live state for integrations, behind the same login."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from flask import Blueprint, jsonify

from dashboard.context import app_context
from dashboard.roles import VIEWERS
from store import snapshots

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _listing(items: list[dict[str, Any]], r: redis.Redis) -> Any:
    return jsonify(
        {
            "items": items,
            "count": len(items),
            "version": snapshots.version(r),
            "generated_ms": app_context().now_ms(),
        }
    )


def _redis() -> redis.Redis:
    return app_context().redis


def _route(path: str, read: Callable[[redis.Redis], list[dict[str, Any]]]) -> None:
    def view() -> Any:
        r = _redis()
        return _listing(read(r), r)

    view.__name__ = f"list_{path}"
    view.roles = VIEWERS  # type: ignore[attr-defined]  # checked by dashboard.security's gate
    bp.add_url_rule(f"/{path}", view_func=view, methods=["GET"])


_route("units", lambda r: snapshots.entities(r, "unit"))
_route("vessels", lambda r: snapshots.entities(r, "vessel"))
_route("sensors", lambda r: snapshots.entities(r, "sensor"))
_route("alerts", snapshots.open_alerts)
