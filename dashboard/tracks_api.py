"""Tracks over a window (docs/openapi.yaml): GET /api/v1/units/{unit_id}/track (an officer's,
personal data: duty chiefs, leaders and admins; a read before today is recorded) and GET
/api/v1/vessels/{mmsi}/track (public AIS: every console role), as JSON or, with `format`, as a
GeoJSON, GPX or CSV download for the case file. Thin adapters over services/personal.py and
services/tracks.py; the answers are never cached."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask_login import current_user

from dashboard.context import app_context
from dashboard.roles import CONSOLE, PERSONAL_READERS
from services import personal, tracks
from services.errors import Refused
from views import track_export

bp = Blueprint("tracks_api", __name__, url_prefix="/api/v1")


def _format() -> str:
    fmt = request.args.get("format") or "json"
    if fmt not in track_export.FORMATS:
        raise Refused(422, f"format: one of {', '.join(track_export.FORMATS)}")
    return fmt


def _answer(kind: str, entity_id: str, body: dict[str, Any], fmt: str) -> Any:
    if fmt == "json":
        resp = jsonify(body)
    else:
        text, media, name = track_export.render(kind, entity_id, body, fmt)
        resp = Response(text, mimetype=media.split(";")[0])
        resp.headers["Content-Type"] = media
        resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def unit_track_view(unit_id: str) -> Any:
    ctx, fmt = app_context(), _format()
    from_ms, to_ms = personal.window(request.args.get("from"), request.args.get("to"), ctx.now_ms())
    body = personal.unit_track(ctx, unit_id, from_ms, to_ms, current_user.name)
    return _answer("unit", unit_id, body, fmt)


def vessel_track_view(mmsi: str) -> Any:
    ctx, fmt = app_context(), _format()
    from_ms, to_ms = personal.window(request.args.get("from"), request.args.get("to"), ctx.now_ms())
    return _answer("vessel", mmsi, tracks.vessel_track(ctx, mmsi, from_ms, to_ms), fmt)


for rule, view, roles in (
    ("/units/<unit_id>/track", unit_track_view, PERSONAL_READERS),
    ("/vessels/<mmsi>/track", vessel_track_view, CONSOLE),
):
    view.roles = roles  # type: ignore[attr-defined]  # checked by dashboard.security
    bp.add_url_rule(rule, view_func=view, methods=["GET"])
