"""Candidates for an incident: the units near it from the Redis geo index, with their live state
and current task, ranked by domain/dispatch.py (skills, land/sea, availability, ETA)."""

from __future__ import annotations

import dataclasses
from typing import Any

import redis
from domain.dispatch import rank
from domain.travel import TravelModel

from domain import incidents as model
from store import keys
from store.snapshots import ID_FIELD, _typed

# Units further than this are not considered: at 30 km/h it is an hour away, and a district is
# ~30 km across. COUNT bounds the work whatever the density (GEOSEARCH is O(N+log M)).
SEARCH_RADIUS_KM = 40
SEARCH_COUNT = 2000


def nearby_units(r: redis.Redis, lon: float, lat: float, now_ms: int,
                 radius_km: float = SEARCH_RADIUS_KM, count: int = SEARCH_COUNT
                 ) -> list[dict[str, Any]]:
    """The units within radius_km, nearest first, with live state and `task_priority` if busy."""
    ids = [x.decode() for x in r.geosearch(keys.geo("unit"), longitude=lon, latitude=lat,
                                           radius=radius_km, unit="km", sort="ASC",
                                           count=count)]
    pipe = r.pipeline(transaction=False)
    for unit_id in ids:
        pipe.hgetall(keys.state("unit", unit_id))
        pipe.hget(keys.unit_task(unit_id), "priority")
    raw = pipe.execute()
    out = []
    for unit_id, state, task_priority in zip(ids, raw[::2], raw[1::2], strict=True):
        if not state:
            continue
        u = _typed(state)
        u[ID_FIELD["unit"]] = unit_id
        u["age_s"] = round((now_ms - u["ts"]) / 1000, 1) if u.get("ts") else None
        if task_priority is not None:
            u["task_priority"] = int(task_priority)
        out.append(u)
    return out


def candidates(r: redis.Redis, inc: dict[str, Any], travel: TravelModel, now_ms: int,
               limit: int = 10) -> list[dict[str, Any]]:
    rules = model.load_rules()
    units = nearby_units(r, inc["lon"], inc["lat"], now_ms)
    ranked = rank(units, dest=(inc["lon"], inc["lat"]), domain=inc["domain"],
                  departments=set(inc.get("departments") or []),
                  priority=int(inc.get("priority") or 3), travel=travel,
                  silent_after_s=rules.unit_silent_after_s, kind_domains=rules.kind_domains,
                  incident_type=inc.get("type"), limit=limit)
    return [dataclasses.asdict(c) for c in ranked]
