"""Unit messages: the project's own position/profile/status schema and OwnTracks locations."""

from __future__ import annotations

import os
from typing import Annotated

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.payloads import TS_MAX_MS, TS_MIN_MS, UnitPosition, UnitProfile, UnitStatusChange
from ingest.context import (
    HandlerContext,
    Rejected,
    check_device,
    load_json_object,
    validate_payload,
    validation_reason,
)
from store.dispatch import facets_of
from store.ops import FieldUpdate, Ignored, Observation, Op


def _status_update(unit_id: str, ts: int, status: str) -> FieldUpdate:
    return FieldUpdate("unit", unit_id, "status_ts", ts, "unit_status", {"status": status})


def position_ops(p: UnitPosition, source: str, received_ms: int) -> list[Op]:
    motion = {"speed_kmh": p.speed_kmh, "course": p.course}
    ops: list[Op] = [
        Observation(
            kind="unit",
            entity_id=p.unit_id,
            ts=p.ts,
            seq=p.seq,
            identity=f"{p.ts}:{p.seq}",
            state={
                "lat": p.lat,
                "lon": p.lon,
                "accuracy_m": p.accuracy_m,
                "src": source,
                "received_ms": received_ms,
                **motion,
            },
            track={"ts": p.ts, "lat": p.lat, "lon": p.lon, **motion},
            lon=p.lon,
            lat=p.lat,
        )
    ]
    if p.status is not None:
        # Status has its own clock: an old position must not undo a newer status change.
        ops.append(_status_update(p.unit_id, p.ts, p.status))
    return ops


def handle_position(unit_id: str, payload: bytes, ctx: HandlerContext) -> list[Op]:
    p: UnitPosition = validate_payload(UnitPosition, payload)
    check_device(p.unit_id, unit_id)
    return position_ops(p, "own", ctx.received_ms)


def handle_profile(unit_id: str, payload: bytes, ctx: HandlerContext) -> list[Op]:
    p: UnitProfile = validate_payload(UnitProfile, payload)
    check_device(p.unit_id, unit_id)
    fields = p.model_dump(exclude={"unit_id", "ts"}, mode="json")
    fields["skills"] = ",".join(p.skills)
    return [
        FieldUpdate(
            "unit",
            p.unit_id,
            "profile_ts",
            p.ts,
            "unit_profile",
            {k: v for k, v in fields.items() if v is not None},
            geo_facets=facets_of(p.kind, p.department, p.skills),
        )
    ]


def handle_status(unit_id: str, payload: bytes, ctx: HandlerContext) -> list[Op]:
    p: UnitStatusChange = validate_payload(UnitStatusChange, payload)
    check_device(p.unit_id, unit_id)
    return [_status_update(p.unit_id, p.ts, p.status)]


class OwnTracksLocation(BaseModel):
    """The fields we use of OwnTracks' `_type: location`; the app sends many more."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type_: Annotated[str, Field(alias="_type")]
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    tst: Annotated[int, Field(ge=TS_MIN_MS // 1000, le=TS_MAX_MS // 1000)]
    vel: Annotated[float, Field(ge=0, le=400, allow_inf_nan=False)] | None = None  # km/h
    cog: Annotated[float, Field(ge=0, le=360, allow_inf_nan=False)] | None = None
    acc: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


# OwnTracks' other message types (its JSON format documentation): valid, but nothing the
# product uses, so ignored by name; an unknown `_type` (or `encrypted`, which we cannot read)
# is dead-lettered as unsupported_type.
OWNTRACKS_UNUSED = frozenset(
    {"beacon", "card", "cmd", "configuration", "lwt", "request", "status", "steps"}
    | {"transition", "waypoint", "waypoints"}
)


def handle_owntracks(
    user: str, device: str, payload: bytes, ctx: HandlerContext
) -> list[Op | Ignored]:
    doc = load_json_object(payload)
    kind = doc.get("_type")
    if kind in OWNTRACKS_UNUSED:
        return [Ignored("owntracks_type_unused", f"OwnTracks _type {kind!r}")]
    if kind != "location":
        raise Rejected("unsupported_type", f"OwnTracks _type {str(kind)[:40]!r}")
    unit_id = ctx.owntracks_units.get(f"{user}/{device}")
    if unit_id is None:
        raise Rejected("unknown_device", f"owntracks/{user}/{device} is not mapped to a unit")
    try:
        loc = OwnTracksLocation.model_validate(doc)
    except ValidationError as e:
        raise validation_reason(e) from None
    ts = loc.tst * 1000
    pos = UnitPosition(
        unit_id=unit_id,
        seq=0,
        ts=ts,
        lat=loc.lat,
        lon=loc.lon,
        speed_kmh=loc.vel,
        course=None if loc.cog is None else loc.cog % 360,
        accuracy_m=loc.acc,
    )
    return position_ops(pos, "owntracks", ctx.received_ms)


def load_owntracks_map(path: os.PathLike[str] | str) -> dict[str, str]:
    """The OWNTRACKS_MAP file: {"devices": {"user/device": "unit id"}}. A missing file maps
    nothing; a malformed one is a configuration error that names the file."""
    try:
        with open(path, "rb") as f:
            doc = orjson.loads(f.read())
    except FileNotFoundError:
        return {}
    except orjson.JSONDecodeError as e:
        raise ValueError(f"OWNTRACKS_MAP {path}: not valid JSON ({e})") from None
    devices = doc.get("devices") if isinstance(doc, dict) else None
    if not isinstance(devices, dict) or not all(
        isinstance(k, str) and k.count("/") == 1 and isinstance(v, str) and v
        for k, v in devices.items()
    ):
        raise ValueError(
            f'OWNTRACKS_MAP {path}: expected {{"devices": {{"user/device": "unit id"}}}}'
        )
    return devices
