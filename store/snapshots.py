"""Live snapshots of units, vessels, sensors and alerts, typed and ready for pages and the API.

Redis keeps hash fields as strings; this module turns them back into numbers once, so callers
never parse. One pipeline per snapshot: HGETALL of every member of the kind's index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import redis

from domain.clock import system_ms
from store import keys, slots
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
    return _typed_items((k.decode(), v.decode("utf-8", "replace")) for k, v in raw.items())


def typed(written: Mapping[str, Any]) -> dict[str, Any]:
    """Field values as the ingest worker wrote them (numbers or text: stream:live:changes'
    `v`), typed as a read of the hash types them."""
    return _typed_items(written.items())


def _typed_items(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    values: dict[str, float] = {}
    for name, v in items:
        if name.startswith("_"):  # bookkeeping of an older layout, not the entity's state
            continue
        try:
            if name in FLOAT_FIELDS:
                out[name] = float(v)
            elif name in INT_FIELDS:
                out[name] = v if type(v) is int else int(float(v))
            elif name.startswith("v."):
                values[name[2:]] = float(v)
            elif name == "skills":
                out[name] = [s for s in str(v).split(",") if s]
            else:
                out[name] = v if type(v) is str else str(v)
        except ValueError:
            out[name] = None  # a corrupt field must not hide the whole entity
    if values:
        out["values"] = values
    return out


def field_types(fields: Iterable[str]) -> dict[str, type]:
    """Each field's type as a read types it (plain fields: not `v.` readings nor skills)."""
    return {f: float if f in FLOAT_FIELDS else int if f in INT_FIELDS else str for f in fields}


def _text(v: bytes) -> str:
    return v.decode("utf-8", "replace")


def _int(v: bytes) -> int:
    return int(float(v))


def _row_reader(fields: tuple[str, ...]) -> Any:
    """A reader of HMGET rows of `fields`, typed as _typed types them, with each field's
    conversion chosen once (the live pictures read hundreds of rows a second this way)."""
    if any(f.startswith(("_", "v.")) or f == "skills" for f in fields):
        encoded = [f.encode() for f in fields]
        return lambda row: _typed(
            {f: v for f, v in zip(encoded, row, strict=True) if v is not None}
        )
    plan = [(f, float if f in FLOAT_FIELDS else _int if f in INT_FIELDS else _text) for f in fields]

    def read(row: list[bytes | None]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for (name, convert), v in zip(plan, row, strict=True):
            if v is not None:
                try:
                    out[name] = convert(v)
                except ValueError:
                    out[name] = None  # a corrupt field must not hide the whole entity
        return out

    return read


# One round trip for a whole kind, or for the named entities of several kinds: a pipeline of
# thousands of HGETALLs spends most of its time in the client; the script reads them in Redis (a
# few ms for 5,000 hashes) and the keys are passed in, so nothing here builds a key name.
# ARGV: the number of groups, then per group its number of keys, its number of fields and the
# fields (none: HGETALL); KEYS: the groups' keys in order.
READ_GROUPS = """
local out, k, a = {}, 0, 2
for g = 1, tonumber(ARGV[1]) do
  local nkeys, nfields = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local fields = {}
  for f = 1, nfields do fields[f] = ARGV[a + 1 + f] end
  a = a + 2 + nfields
  for i = 1, nkeys do
    k = k + 1
    if nfields > 0 then out[k] = redis.call('HMGET', KEYS[k], unpack(fields))
    else out[k] = redis.call('HGETALL', KEYS[k]) end
  end
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
    found = r.smembers(keys.index(kind)) if only is None else [i.encode() for i in only]
    ids = [x.decode() for x in found]
    return named_entities(r, {kind: (ids, fields)}, now_ms)[kind]


def named_entities(
    r: redis.Redis,
    wanted: Mapping[EntityKind, tuple[Iterable[str], tuple[str, ...]]],
    now_ms: int | None = None,
) -> dict[EntityKind, list[dict[str, Any]]]:
    """Per kind, the entities of the ids given (in id order) with their live state (only the
    fields given, if any) and `age_s` since their last report, in one round trip."""
    now_ms = now_ms if now_ms is not None else system_ms()
    groups = [(kind, sorted(ids), _with_ts(fields)) for kind, (ids, fields) in wanted.items()]
    groups = [g for g in groups if g[1]]
    rows = iter(
        read_groups(
            r, [([keys.state(kind, i) for i in ids], list(fields)) for kind, ids, fields in groups]
        )
    )
    out: dict[EntityKind, list[dict[str, Any]]] = {kind: [] for kind in wanted}
    for kind, ids, fields in groups:
        named = _row_reader(fields) if fields else None
        for entity_id, row in zip(ids, rows, strict=False):  # rows: every group's, in turn
            e = named(row) if named else _typed(dict(zip(row[::2], row[1::2], strict=True)))
            if e:
                e[ID_FIELD[kind]] = int(entity_id) if kind == "vessel" else entity_id
                e["age_s"] = round((now_ms - e["ts"]) / 1000, 1) if e.get("ts") else None
                out[kind].append(e)
    return out


def read_hashes(r: redis.Redis, key_list: list[str], fields: Iterable[str] = ()) -> list[Any]:
    """Per key, HMGET of `fields` (HGETALL's flat list if none), in one round trip."""
    return read_groups(r, [(key_list, list(fields))])


def read_groups(r: redis.Redis, groups: list[tuple[list[str], list[str]]]) -> list[Any]:
    """The rows of every key of every (keys, fields) group, in order: one READ_GROUPS call on
    one node; on a cluster, a call per hash tag (one slot each), in a pipeline per node."""
    groups = [(ks, fs) for ks, fs in groups if ks]
    if not groups:
        return []
    if not slots.is_cluster(r):
        return _read_call(r, groups)
    by_tag: dict[str, list[tuple[int, str, int]]] = {}  # tag -> (row, key, group)
    row = 0
    for g, (ks, _fs) in enumerate(groups):
        for k in ks:
            by_tag.setdefault(keys.tag_of(k), []).append((row, k, g))
            row += 1
    pipes, calls = slots.NodePipelines(r), []
    for tag, items in by_tag.items():
        pipe = pipes.of(tag)
        calls.append(([i for i, _k, _g in items], pipe, len(pipe)))
        runs: list[tuple[list[str], list[str]]] = []  # the tag's keys, a group per run of one
        for _i, k, g in items:
            if runs and runs[-1][1] is groups[g][1]:
                runs[-1][0].append(k)
            else:
                runs.append(([k], groups[g][1]))
        _read_call(r, runs, client=pipe)
    answers = pipes.execute()
    out: list[Any] = [None] * row
    for rows, pipe, at in calls:
        for i, got in zip(rows, answers[id(pipe)][at], strict=True):
            out[i] = got
    return out


def _read_call(
    r: redis.Redis, groups: list[tuple[list[str], list[str]]], client: Any = None
) -> Any:
    args: list[Any] = [len(groups)]
    for ks, fs in groups:
        args += [len(ks), len(fs), *fs]
    return r.register_script(READ_GROUPS)(
        keys=[k for ks, _fs in groups for k in ks], args=args, client=client
    )


def _with_ts(fields: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*fields, "ts"))) if fields else ()


def open_alerts(
    r: redis.Redis, limit: int = 200, known: Mapping[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Open alerts, newest first. `known` (id -> the alert as read before) are taken as they
    are, not read again: an alert is written once when raised, and what changes it later
    (acknowledged, closed) adds fields of its own; a close takes it out of the open index,
    which is always read. A live picture reads only the alerts raised since its last read."""
    known = known or {}
    ids = [x.decode() for x in r.zrevrange(keys.ALERTS_OPEN, 0, limit - 1)]
    unread = [a for a in ids if a not in known]
    pipe = r.pipeline(transaction=False)
    for alert_id in unread:
        pipe.hgetall(keys.alert(alert_id))
    read = {a: _typed(raw) for a, raw in zip(unread, pipe.execute(), strict=True) if raw}
    return [known[a] if a in known else read[a] for a in ids if a in known or a in read]


def version(r: redis.Redis) -> int:
    """Changes whenever live state changes: a page polls it and sends nothing when it is equal."""
    return sum(int(v or 0) for v in r.mget(keys.VERSION, keys.OVERLAYS_VERSION))
