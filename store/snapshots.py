"""Live snapshots of units, vessels, sensors and alerts, typed and ready for pages and the API.

Redis keeps hash fields as strings; this module turns them back into numbers once, so callers
never parse. One pipeline per snapshot: HGETALL of every member of the kind's index.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from domain.clock import system_ms
from store import keys
from store.keys import EntityKind

FLOAT_FIELDS = frozenset(
    {
        "lat",
        "lon",
        "speed_kmh",
        "course",
        "accuracy_m",
        "sog_kn",
        "cog",
        "length_m",
        "beam_m",
    }
)
INT_FIELDS = frozenset(
    {
        "ts",
        "seq",
        "received_ms",
        "profile_ts",
        "status_ts",
        "static_ts",
        "static_a_ts",
        "static_b_ts",
        "heading",
        "nav_status",
        "msg_type",
        "ship_type",
        "imo",
        "dim_bow",
        "dim_stern",
        "dim_port",
        "dim_starboard",
        "ack_ms",
        "closed_ms",
    }
)
ID_FIELD = {"unit": "unit_id", "vessel": "mmsi", "sensor": "sensor_id"}


def _typed(raw: dict[bytes, bytes]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    values: dict[str, float] = {}
    for k, v in raw.items():
        name, text = k.decode(), v.decode("utf-8", "replace")
        if name.startswith("_"):  # bookkeeping (keys.GEO_FACETS_FIELD), not the entity's state
            continue
        try:
            if name in FLOAT_FIELDS:
                out[name] = float(text)
            elif name in INT_FIELDS:
                out[name] = int(float(text))
            elif name.startswith("v."):
                values[name[2:]] = float(text)
            elif name == "skills":
                out[name] = [s for s in text.split(",") if s]
            else:
                out[name] = text
        except ValueError:
            out[name] = None  # a corrupt field must not hide the whole entity
    if values:
        out["values"] = values
    return out


# One round trip for a whole kind: a pipeline of thousands of HGETALLs spends most of its time
# in the client; the script reads them in Redis (a few ms for 5,000 hashes) and the keys are
# passed in, so nothing here builds a key name.
READ_ALL = """
local out = {}
for i = 1, #KEYS do
  if ARGV[1] then out[i] = redis.call('HMGET', KEYS[i], unpack(ARGV))
  else out[i] = redis.call('HGETALL', KEYS[i]) end
end
return out
"""


def entities(
    r: redis.Redis,
    kind: EntityKind,
    now_ms: int | None = None,
    fields: tuple[str, ...] = (),
    only: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Every entity of a kind (or `only` those ids) with its live state (only `fields` if
    given) and `age_s` since its last report."""
    now_ms = now_ms if now_ms is not None else system_ms()
    found = r.smembers(keys.index(kind)) if only is None else [i.encode() for i in only]
    ids = sorted(x.decode() for x in found)
    if not ids:
        return []
    wanted = tuple(dict.fromkeys((*fields, "ts"))) if fields else ()
    rows = r.register_script(READ_ALL)(keys=[keys.state(kind, i) for i in ids], args=wanted)
    out = []
    for entity_id, row in zip(ids, rows, strict=True):
        if wanted:
            raw = {f.encode(): v for f, v in zip(wanted, row, strict=True) if v is not None}
        else:
            raw = dict(zip(row[::2], row[1::2], strict=True))
        if not raw:
            continue
        e = _typed(raw)
        e[ID_FIELD[kind]] = int(entity_id) if kind == "vessel" else entity_id
        e["age_s"] = round((now_ms - e["ts"]) / 1000, 1) if e.get("ts") else None
        out.append(e)
    return out


def open_alerts(r: redis.Redis, limit: int = 200) -> list[dict[str, Any]]:
    """Open alerts, newest first."""
    ids = [x.decode() for x in r.zrevrange(keys.ALERTS_OPEN, 0, limit - 1)]
    pipe = r.pipeline(transaction=False)
    for alert_id in ids:
        pipe.hgetall(keys.alert(alert_id))
    return [_typed(raw) for raw in pipe.execute() if raw]


def version(r: redis.Redis) -> int:
    """Changes whenever live state changes: a page polls it and sends nothing when it is equal."""
    return int(r.get(keys.VERSION) or 0)
