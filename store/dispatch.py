"""Candidates for an incident: the units near it from the Redis geo indexes, with their live state
and current task, ranked by domain/dispatch.py (skills, land/sea, availability, ETA).

Besides the map's index of every unit, each unit sits in one GEO index per (kind, department) and
one per (kind, skill) for the incident types it is trained for (`facets_of`; the ingest scripts
move it in all of them). A query reads the nearest units of each index that can serve the
incident, and widens an index only while a unit further away in it could still arrive before the
`limit`-th ready candidate found: no route is shorter than the straight line, so a unit of kind k
at straight distance d needs at least d / speed(k). Walkers are thus read only near the incident
and drones further out, and units of other departments not at all.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

import redis

from domain import incidents as model
from domain.dispatch import rank
from domain.travel import SPEED_M_S, TravelModel
from domain.vocab import Department
from store import keys
from store.snapshots import ID_FIELD, _typed

FIELDS = ("name", "department", "kind", "status", "skills", "lon", "lat", "ts")
FIRST_COUNT = 16  # units read per index at first; x4 for each index that must widen
SEARCH_RADIUS_KM = 40  # the whole district and its waters, from anywhere in it
INCIDENT_TYPES = frozenset(t.value for t in model.IncidentType)


def facets_of(kind: str, department: str, skills: Iterable[str]) -> tuple[str, ...]:
    """The dispatch GEO indexes a unit belongs to. Skills that are not incident types name no
    index: they cannot qualify a unit for anything."""
    return (
        keys.unit_geo_facet(kind, department=department),
        *(keys.unit_geo_facet(kind, skill=s) for s in sorted(set(skills) & INCIDENT_TYPES)),
    )


def reindex_units(r: redis.Redis) -> int:
    """Put every unit into the indexes its profile names (for data written before they
    existed, or after a change of the rules above). Returns how many units moved."""
    ids = [x.decode() for x in r.smembers(keys.index("unit"))]
    pipe = r.pipeline(transaction=False)
    for uid in ids:
        pipe.hmget(keys.state("unit", uid), "kind", "department", "skills", keys.GEO_FACETS_FIELD)
        pipe.geopos(keys.geo("unit"), uid)
    rows = pipe.execute()
    moved = 0
    for uid, (kind, dept, skills, have), (pos,) in zip(ids, rows[::2], rows[1::2], strict=True):
        if kind is None or dept is None:
            continue
        want = " ".join(
            facets_of(kind.decode(), dept.decode(), (skills or b"").decode().split(","))
        )
        if have is not None and have.decode() == want:
            continue
        moved += 1
        for old in (have or b"").decode().split():
            pipe.zrem(old, uid)
        pipe.hset(keys.state("unit", uid), keys.GEO_FACETS_FIELD, want)
        if pos is not None:
            for f in want.split():
                pipe.geoadd(f, (pos[0], pos[1], uid))
    pipe.execute()
    return moved


# The state fields ranking needs and the task's priority of each unit, in one round trip: a
# pipeline of two commands per unit spends most of its time parsing replies in the client.
# KEYS: state, task, state, task, ...  ARGV: fields
_READ_UNITS = """
local out = {}
for i = 1, #KEYS, 2 do
  local row = redis.call('HMGET', KEYS[i], unpack(ARGV))
  row[#row + 1] = redis.call('HGET', KEYS[i + 1], 'priority')
  out[#out + 1] = row
end
return out
"""


def _read_units(r: redis.Redis, ids: list[str], now_ms: int) -> list[dict[str, Any]]:
    """What ranking needs of each unit (and `task_priority` if it has a task)."""
    if not ids:
        return []
    rows = r.register_script(_READ_UNITS)(
        keys=[k for uid in ids for k in (keys.state("unit", uid), keys.unit_task(uid))], args=FIELDS
    )
    out = []
    for uid, row in zip(ids, rows, strict=True):
        values, task_priority = (
            row[: len(FIELDS)],
            row[len(FIELDS)] if len(row) > len(FIELDS) else None,
        )
        if values[2] is None:  # no profile (kind) yet: it cannot be judged
            continue
        u = _typed({f.encode(): v for f, v in zip(FIELDS, values, strict=True) if v is not None})
        u[ID_FIELD["unit"]] = uid
        u["age_s"] = round((now_ms - u["ts"]) / 1000, 1) if u.get("ts") else None
        if task_priority is not None:
            u["task_priority"] = int(task_priority)
        out.append(u)
    return out


def search_indexes(inc: dict[str, Any], rules: model.DispatchRules) -> dict[str, float]:
    """The GEO indexes that hold the units able to take the incident, with each one's speed."""
    kinds = [
        k.value
        for k, domains in rules.kind_domains.items()
        if inc["domain"] in {d.value for d in domains}
    ]
    departments = list(inc.get("departments") or []) or [d.value for d in Department]
    out = {keys.unit_geo_facet(k, department=d): SPEED_M_S[k] for k in kinds for d in departments}
    if inc.get("type") in INCIDENT_TYPES:
        out |= {keys.unit_geo_facet(k, skill=inc["type"]): SPEED_M_S[k] for k in kinds}
    return out


def candidates(
    r: redis.Redis,
    inc: dict[str, Any],
    travel: TravelModel,
    now_ms: int,
    rules: model.DispatchRules,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """Ranked candidates, reading as few units as the answer allows (see the module docstring)."""
    speeds = search_indexes(inc, rules)
    count = dict.fromkeys(speeds, FIRST_COUNT)
    units: dict[str, dict[str, Any]] = {}
    ranked: list[Any] = []
    while count:
        pipe = r.pipeline(transaction=False)
        for index, n in count.items():
            pipe.geosearch(
                index,
                longitude=inc["lon"],
                latitude=inc["lat"],
                radius=SEARCH_RADIUS_KM,
                unit="km",
                sort="ASC",
                count=n,
                withdist=True,
            )
        found = dict(zip(count, pipe.execute(), strict=True))
        new = sorted({uid.decode() for rows in found.values() for uid, _ in rows} - set(units))
        units |= {u[ID_FIELD["unit"]]: u for u in _read_units(r, new, now_ms)}
        ranked = rank(
            list(units.values()),
            dest=(inc["lon"], inc["lat"]),
            domain=inc["domain"],
            departments=set(inc.get("departments") or []),
            priority=int(inc.get("priority") or 3),
            travel=travel,
            silent_after_s=rules.unit_silent_after_s,
            kind_domains=rules.kind_domains,
            incident_type=inc.get("type"),
            limit=limit,
        )
        ready = [c.eta_s for c in ranked if c.tier == "ready" and c.eta_s is not None]
        bound = ready[-1] if len(ready) >= limit else math.inf
        # An index that returned fewer than asked is exhausted; one whose farthest unit could
        # still arrive by `bound` (+1 s: ETAs are compared rounded) may hide a better
        # candidate: read 4x more of it.
        count = {
            i: n * 4
            for i, n in count.items()
            if len(found[i]) == n and float(found[i][-1][1]) * 1000 / speeds[i] <= bound + 1
        }
    return [dataclasses.asdict(c) for c in ranked]
