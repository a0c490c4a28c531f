"""Messages to units (duty chiefs) and a unit's thread: thin adapters over services/messages.py.
Officers' replies and readings come through the field app (dashboard/field_api.py)."""

from __future__ import annotations

from typing import Annotated, Any

from flask import Blueprint, jsonify
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field

from dashboard.api_errors import json_body
from dashboard.context import app_context
from dashboard.roles import ANALYSTS, DISPATCHERS
from services import messages as service

bp = Blueprint("messages_api", __name__, url_prefix="/api/v1")


class ToUnits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    units: Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=20)]
    text: Annotated[str, Field(min_length=1, max_length=service.MAX_TEXT)]


def send_view() -> Any:
    body = json_body(ToUnits)
    return jsonify(
        {"sent": service.to_units(app_context(), current_user.name, body.units, body.text)}
    ), 201


def thread_view(unit_id: str) -> Any:
    return jsonify({"unit": unit_id, "items": service.thread(app_context(), unit_id[:64])})


send_view.roles = DISPATCHERS  # type: ignore[attr-defined]  # checked by dashboard.security
thread_view.roles = DISPATCHERS | ANALYSTS  # type: ignore[attr-defined]
bp.add_url_rule("/messages", view_func=send_view, methods=["POST"])
bp.add_url_rule("/units/<unit_id>/messages", view_func=thread_view, methods=["GET"])
