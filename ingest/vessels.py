"""AIS messages (raw NMEA or AIS-catcher JSON) turned into vessel operations."""

from __future__ import annotations

from ingest import ais
from ingest.context import HandlerContext
from ingest.ops import AisFragment, DeadLetter, FieldUpdate, Observation, Op

POSITION_FIELDS = ("lat", "lon", "sog_kn", "cog", "heading", "nav_status", "msg_type")
STATIC_FIELDS = (
    "name", "callsign", "ship_type", "ship_type_text", "imo", "destination",
    "dim_bow", "dim_stern", "dim_port", "dim_starboard", "length_m", "beam_m",
)


def _fields(u: ais.VesselUpdate, names: tuple[str, ...]) -> dict[str, str | int | float]:
    out: dict[str, str | int | float] = {}
    for n in names:
        v = getattr(u, n, None)
        if v is not None:
            out[n] = int(v) if isinstance(v, bool) else v
    return out


def update_ops(u: ais.VesselUpdate, received_ms: int) -> list[Op]:
    vid = str(u.mmsi)
    ops: list[Op] = []
    if u.kind == "position":
        pos = _fields(u, POSITION_FIELDS)
        ops.append(Observation(
            kind="vessel", entity_id=vid, ts=u.ts_ms, seq=0, identity=u.identity,
            state={**pos, "received_ms": received_ms},
            track={"ts": u.ts_ms, **{k: pos[k] for k in ("lat", "lon", "sog_kn", "cog")
                                     if k in pos}},
            lon=u.lon, lat=u.lat,
        ))
    static = _fields(u, STATIC_FIELDS)
    if static:
        # Type 24 arrives in two halves; each half only sets the fields it carries, so each
        # keeps its own clock (static_a_ts / static_b_ts), and type 5 / 19 use static_ts.
        order = {24: "static_b_ts" if "name" not in static else "static_a_ts"}.get(
            u.msg_type, "static_ts")
        ops.append(FieldUpdate("vessel", vid, order, u.ts_ms, "vessel_static", static))
    return ops


def batch_ops(batch: ais.AisBatch, topic: str, source: str, received_ms: int
              ) -> list[Op | AisFragment]:
    out: list[Op | AisFragment] = []
    for u in batch.updates:
        out += update_ops(u, received_ms)
    for rej in batch.rejections:
        out.append(DeadLetter(rej.reason, topic, rej.raw.encode("utf-8", "replace"), rej.detail))
    for f in batch.fragments:
        out.append(AisFragment(f.key, f.index, f.total, f.line, source, received_ms))
    return out


def handle_nmea(receiver: str, payload: bytes, ctx: HandlerContext) -> list[Op | AisFragment]:
    batch = ais.parse_payload(payload, ctx.received_ms, receiver)
    return batch_ops(batch, ctx.topic, receiver, ctx.received_ms)


def handle_aiscatcher(receiver: str, payload: bytes, ctx: HandlerContext
                      ) -> list[Op | AisFragment]:
    batch = ais.parse_aiscatcher_json(payload, ctx.received_ms, receiver)
    return batch_ops(batch, ctx.topic, receiver, ctx.received_ms)


def completed_group_ops(lines: list[str], source: str, received_ms: int, topic: str
                        ) -> list[Op | AisFragment]:
    """Ops of a multi-part message whose parts arrived in several payloads."""
    batch = ais.assemble_fragments(lines, received_ms, source)
    return batch_ops(batch, topic, source, received_ms)
