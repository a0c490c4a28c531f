"""Schemas of the project's own MQTT payloads (see docs/asyncapi.yaml).

Every message carries its own identity: the device id and a timestamp `ts` (epoch milliseconds,
UTC) plus, for positions and readings, a per-device sequence number `seq`. Redelivery is detected
from that identity, never from MQTT packet ids.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.vocab import Department, Level, SensorKind, Severity, Subdistrict, UnitKind, UnitStatus

# 2000-01-01 .. 2100-01-01 in ms: rejects seconds-for-milliseconds mistakes and garbage.
TS_MIN_MS = 946_684_800_000
TS_MAX_MS = 4_102_444_800_000

DeviceId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
TimestampMs = Annotated[int, Field(ge=TS_MIN_MS, le=TS_MAX_MS)]
Latitude = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
Label = Annotated[str, Field(min_length=1, max_length=120)]


class _Payload(BaseModel):
    # strict: "12" is not a number here; unknown fields are refused so typos surface.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class UnitPosition(_Payload):
    unit_id: DeviceId
    seq: Annotated[int, Field(ge=0, le=2**53)]
    ts: TimestampMs
    lat: Latitude
    lon: Longitude
    speed_kmh: Annotated[float, Field(ge=0, le=400, allow_inf_nan=False)] | None = None
    course: Annotated[float, Field(ge=0, lt=360, allow_inf_nan=False)] | None = None
    accuracy_m: Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)] | None = None
    status: UnitStatus | None = None

    @field_validator("lat", "lon", mode="before")
    @classmethod
    def _ints_are_coordinates_too(cls, v: object) -> object:
        # strict mode would refuse 22 for 22.0; a whole-degree coordinate is still valid.
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


class UnitProfile(_Payload):
    unit_id: DeviceId
    ts: TimestampMs
    name: Label
    department: Department
    kind: UnitKind
    level: Level
    subdistrict: Subdistrict | None = None
    skills: tuple[Annotated[str, Field(min_length=1, max_length=40)], ...] = ()
    callsign: Annotated[str, Field(max_length=40)] | None = None


class UnitStatusChange(_Payload):
    unit_id: DeviceId
    ts: TimestampMs
    status: UnitStatus


class SensorProfile(_Payload):
    sensor_id: DeviceId
    ts: TimestampMs
    name: Label
    kind: SensorKind
    lat: Latitude
    lon: Longitude
    water_class: Annotated[str, Field(pattern=r"^(I|II|III|IV|V)$")] | None = None
    subdistrict: Subdistrict | None = None

    @field_validator("lat", "lon", mode="before")
    @classmethod
    def _ints_are_coordinates_too(cls, v: object) -> object:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


class SensorReading(_Payload):
    sensor_id: DeviceId
    seq: Annotated[int, Field(ge=0, le=2**53)]
    ts: TimestampMs
    values: dict[Annotated[str, Field(min_length=1, max_length=40)], float]

    @field_validator("values", mode="before")
    @classmethod
    def _finite_numbers(cls, v: object) -> object:
        if not isinstance(v, dict) or not v or len(v) > 32:
            raise ValueError("values must be an object of 1..32 parameters")
        out = {}
        for k, x in v.items():
            if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
                raise ValueError(f"value of {k!r} must be a finite number")
            out[k] = float(x)
        return out


class SensorAlert(_Payload):
    sensor_id: DeviceId
    seq: Annotated[int, Field(ge=0, le=2**53)]
    ts: TimestampMs
    kind: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
    severity: Severity
    message: Annotated[str, Field(max_length=500)] = ""


IncidentId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class DispatchNotice(_Payload):
    """The centre -> a unit (`units/{unit_id}/dispatch`): go to this incident."""

    incident_id: IncidentId
    unit_id: DeviceId
    ts: TimestampMs
    type: Annotated[str, Field(min_length=1, max_length=40)]
    priority: Annotated[int, Field(ge=1, le=3)]
    domain: Annotated[str, Field(min_length=1, max_length=20)]
    lat: Latitude
    lon: Longitude
    summary: Annotated[str, Field(max_length=500)] = ""
    assigned_by: Annotated[str, Field(min_length=1, max_length=64)]


class TaskReport(_Payload):
    """A unit -> the centre (`units/{unit_id}/task`): it took the task, arrived, or handled it."""

    unit_id: DeviceId
    incident_id: IncidentId
    action: Literal["ack", "arrived", "handled"]
    seq: Annotated[int, Field(ge=0, le=2**53)]
    ts: TimestampMs
    note: Annotated[str, Field(max_length=500)] = ""


PlaceId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
PATROL_LOG_MAX_MS = 7 * 86_400_000  # a log covers at most a week


class PatrolLog(_Payload):
    """A unit's (or its supervisor's) patrol log (`units/{unit_id}/patrol-log`, or the API): the
    places it says it patrolled between from_ms and to_ms, checked against its own track."""

    unit_id: DeviceId
    ts: TimestampMs  # when the log was written; with unit_id, its identity
    from_ms: TimestampMs
    to_ms: TimestampMs
    places: Annotated[tuple[PlaceId, ...], Field(min_length=1, max_length=200)]
    note: Annotated[str, Field(max_length=500)] = ""

    @model_validator(mode="after")
    def _window(self) -> PatrolLog:
        if self.to_ms <= self.from_ms:
            raise ValueError("to_ms must be after from_ms")
        if self.to_ms - self.from_ms > PATROL_LOG_MAX_MS:
            raise ValueError("a patrol log covers at most 7 days")
        return self
