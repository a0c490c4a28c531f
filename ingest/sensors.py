"""Sensor messages: profiles, readings judged against their water class, device alerts."""

from __future__ import annotations

from domain.payloads import SensorAlert, SensorProfile, SensorReading
from domain.vocab import Severity
from domain.water_quality import breaches
from ingest.context import HandlerContext, check_device, validate_payload
from store.ops import FieldUpdate, Observation, Op, RaiseAlert

# A reading this far past its limit (ratio) is critical rather than a warning.
CRITICAL_RATIO = 2.0


def handle_profile(sensor_id: str, payload: bytes, ctx: HandlerContext) -> list[Op]:
    p: SensorProfile = validate_payload(SensorProfile, payload)
    check_device(p.sensor_id, sensor_id)
    fields = {
        k: v
        for k, v in p.model_dump(exclude={"sensor_id", "ts"}, mode="json").items()
        if v is not None
    }
    ctx.remember_sensor(sensor_id, fields)
    return [
        FieldUpdate(
            "sensor", sensor_id, "profile_ts", p.ts, "sensor_profile", fields, lon=p.lon, lat=p.lat
        )
    ]


def _severity(value: float, limit_value: float | tuple[float, float], bound: str) -> Severity:
    if bound == "range" or not limit_value:
        return Severity.WARNING
    ratio = value / limit_value if bound == "le" else limit_value / max(value, 1e-9)
    return Severity.CRITICAL if ratio >= CRITICAL_RATIO else Severity.WARNING


def handle_reading(sensor_id: str, payload: bytes, ctx: HandlerContext) -> list[Op]:
    r: SensorReading = validate_payload(SensorReading, payload)
    check_device(r.sensor_id, sensor_id)
    values = {f"v.{k}": v for k, v in r.values.items()}
    ops: list[Op] = [
        Observation(
            "sensor",
            sensor_id,
            r.ts,
            r.seq,
            f"{r.ts}:{r.seq}",
            state=values,
            track={"ts": r.ts, **values},
        )
    ]
    profile = ctx.sensor_profile(sensor_id) or {}
    found = breaches(str(profile.get("kind", "")), profile.get("water_class"), dict(r.values))
    if found:
        severities = [_severity(b.value, b.limit.value, b.limit.bound) for b in found]
        text = "; ".join(
            f"{b.parameter} {b.value:g} (class {profile['water_class']} {b.limit.describe()})"
            for b in found
        )
        ops.append(
            RaiseAlert(
                alert_id=f"wq:{sensor_id}:{r.ts}:{r.seq}",
                ts=r.ts,
                fields={
                    "kind": "water_quality",
                    "severity": max(severities, key=[Severity.WARNING, Severity.CRITICAL].index),
                    "source": sensor_id,
                    "name": str(profile.get("name", sensor_id)),
                    "lon": profile.get("lon"),
                    "lat": profile.get("lat"),
                    "parameters": ",".join(b.parameter for b in found),
                    "message": text[:500],
                },
            )
        )
    return ops


def handle_alert(sensor_id: str, payload: bytes, ctx: HandlerContext) -> list[Op]:
    a: SensorAlert = validate_payload(SensorAlert, payload)
    check_device(a.sensor_id, sensor_id)
    profile = ctx.sensor_profile(sensor_id) or {}
    return [
        RaiseAlert(
            alert_id=f"dev:{sensor_id}:{a.ts}:{a.seq}",
            ts=a.ts,
            fields={
                "kind": a.kind,
                "severity": a.severity,
                "source": sensor_id,
                "name": str(profile.get("name", sensor_id)),
                "lon": profile.get("lon"),
                "lat": profile.get("lat"),
                "message": a.message,
            },
        )
    ]
