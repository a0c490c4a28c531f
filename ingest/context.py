"""What a handler may know besides the message: time of receipt, device maps, sensor profiles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from store.ops import DeadLetter


@dataclass
class HandlerContext:
    received_ms: int
    topic: str = ""  # of the message being handled
    owntracks_units: dict[str, str] = field(default_factory=dict)  # "user/device" -> unit id
    # Sensor id -> profile fields (kind, water_class, lon, lat); the worker backs it with Redis.
    sensor_profile: Callable[[str], dict[str, Any] | None] = lambda _sid: None
    remember_sensor: Callable[[str, dict[str, Any]], None] = lambda _sid, _p: None
    # Zones (protected areas, no-fishing areas) containing a point: properties of each.
    zones_at: Callable[[float, float], list[dict[str, Any]]] = lambda _lon, _lat: []


class Rejected(Exception):
    """A message that must go to the dead-letter stream, with a stable reason code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def dead_letter(self, topic: str, raw: bytes) -> DeadLetter:
        return DeadLetter(self.reason, topic, raw, self.detail)


def load_json_object(payload: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise Rejected("json_malformed", str(e)[:200]) from None
    if not isinstance(doc, dict):
        raise Rejected("schema_invalid", f"expected a JSON object, got {type(doc).__name__}")
    return doc


COORDINATE_FIELDS = frozenset({"lat", "lon"})


def validation_reason(e: ValidationError) -> Rejected:
    """One reason for a failed schema: bad coordinates are told apart, they are the common fault."""
    errs = e.errors(include_url=False, include_input=False)
    reason = (
        "bad_coordinates"
        if any(err["loc"] and err["loc"][0] in COORDINATE_FIELDS for err in errs)
        else "schema_invalid"
    )
    detail = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in errs[:5])
    return Rejected(reason, detail)


def validate_payload(model: type[BaseModel], payload: bytes) -> Any:
    """Parse and validate in one pass (pydantic's own JSON parser: strict types, enums by value)."""
    try:
        return model.model_validate_json(payload)
    except ValidationError as e:
        errs = e.errors(include_url=False, include_input=False)
        if errs and errs[0]["type"] == "json_invalid":
            raise Rejected("json_malformed", str(errs[0]["msg"])[:200]) from None
        if errs and errs[0]["type"] == "model_type":
            raise Rejected("schema_invalid", "expected a JSON object") from None
        raise validation_reason(e) from None


def check_device(claimed: str, topic_id: str) -> None:
    """A payload must not speak for another device than the one its topic names."""
    if claimed != topic_id:
        raise Rejected("device_mismatch", f"payload id {claimed[:64]!r} on topic of {topic_id!r}")
