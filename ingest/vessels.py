"""AIS messages (raw NMEA or AIS-catcher JSON) turned into vessel operations."""

from __future__ import annotations

from ingest import ais
from ingest.context import HandlerContext
from store.ops import AisFragment, DeadLetter, FieldUpdate, Ignored, Observation, Op, RaiseAlert

ZONE_ALERT_EVERY_MS = 3_600_000  # one alert per vessel and zone per hour it is seen inside
POSITION_FIELDS = ("lat", "lon", "sog_kn", "cog", "heading", "nav_status", "msg_type")
STATIC_FIELDS = (
    "name",
    "callsign",
    "ship_type",
    "ship_type_text",
    "imo",
    "destination",
    "dim_bow",
    "dim_stern",
    "dim_port",
    "dim_starboard",
    "length_m",
    "beam_m",
)


def _fields(u: ais.VesselUpdate, names: tuple[str, ...]) -> dict[str, str | int | float]:
    out: dict[str, str | int | float] = {}
    for n in names:
        v = getattr(u, n, None)
        if v is not None:
            out[n] = int(v) if isinstance(v, bool) else v
    return out


def zone_alerts(u: ais.VesselUpdate, ctx: HandlerContext) -> list[Op]:
    """A vessel inside a protected or no-fishing zone. The id holds the hour, so a redelivered
    report raises nothing new and a vessel lingering inside is reminded of once an hour."""
    if u.lat is None or u.lon is None:
        return []
    return [
        RaiseAlert(
            alert_id=f"zone:{u.mmsi}:{z['id']}:{u.ts_ms // ZONE_ALERT_EVERY_MS}",
            ts=u.ts_ms,
            fields={
                "kind": "geofence",
                "severity": "warning",
                "source": str(u.mmsi),
                "zone": z["id"],
                "zone_kind": z.get("kind", ""),
                "lon": u.lon,
                "lat": u.lat,
                "message": f"MMSI {u.mmsi} in {z.get('name_zh', z['id'])}"[:500],
            },
        )
        for z in ctx.zones_at(u.lon, u.lat)
    ]


def update_ops(u: ais.VesselUpdate, received_ms: int) -> list[Op]:
    vid = str(u.mmsi)
    ops: list[Op] = []
    if u.kind == "position":
        pos = _fields(u, POSITION_FIELDS)
        ops.append(
            Observation(
                kind="vessel",
                entity_id=vid,
                ts=u.ts_ms,
                seq=u.seq,  # receipt order among reports of one time (ingest/ais_types.py)
                identity=u.identity,
                state={**pos, "received_ms": received_ms},
                track={
                    "ts": u.ts_ms,
                    **{k: pos[k] for k in ("lat", "lon", "sog_kn", "cog") if k in pos},
                },
                lon=u.lon,
                lat=u.lat,
            )
        )
    static = _fields(u, STATIC_FIELDS)
    if static:
        # Type 24 arrives in two halves; each half only sets the fields it carries, so each
        # keeps its own clock (static_a_ts / static_b_ts), and type 5 / 19 use static_ts.
        order = {24: "static_b_ts" if "name" not in static else "static_a_ts"}.get(
            u.msg_type, "static_ts"
        )
        ops.append(FieldUpdate("vessel", vid, order, u.ts_ms, "vessel_static", static))
    return ops


def batch_ops(
    batch: ais.AisBatch, ctx: HandlerContext, source: str
) -> list[Op | AisFragment | Ignored]:
    out: list[Op | AisFragment | Ignored] = [Ignored(reason) for reason in batch.ignored]
    for u in batch.updates:
        ops = update_ops(u, ctx.received_ms)
        out += ops or [Ignored(ais.NO_VESSEL_DATA, f"MMSI {u.mmsi}, type {u.msg_type}")]
        if u.kind == "position":
            out += zone_alerts(u, ctx)
    for rej in batch.rejections:
        out.append(
            DeadLetter(rej.reason, ctx.topic, rej.raw.encode("utf-8", "replace"), rej.detail)
        )
    for f in batch.fragments:
        out.append(AisFragment(f.key, f.index, f.total, f.line, source, ctx.received_ms))
    return out


def handle_nmea(
    receiver: str, payload: bytes, ctx: HandlerContext
) -> list[Op | AisFragment | Ignored]:
    return batch_ops(ais.parse_payload(payload, ctx.received_ms, receiver), ctx, receiver)


def handle_aiscatcher(
    receiver: str, payload: bytes, ctx: HandlerContext
) -> list[Op | AisFragment | Ignored]:
    return batch_ops(ais.parse_aiscatcher_json(payload, ctx.received_ms, receiver), ctx, receiver)


def completed_group_ops(
    lines: list[str], source: str, ctx: HandlerContext
) -> list[Op | AisFragment | Ignored]:
    """Ops of a multi-part message whose parts arrived in several payloads."""
    return batch_ops(ais.assemble_fragments(lines, ctx.received_ms, source), ctx, source)
