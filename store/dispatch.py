"""Candidates for an incident: the units near it from the Redis geo index, with their live state
and current task, ranked by domain/dispatch.py (skills, land/sea, availability, ETA)."""

from __future__ import annotations

import dataclasses
from typing import Any

import redis

from domain import incidents as model
from domain.dispatch import rank
from domain.travel import SPEED_M_S, TravelModel
from store import keys
from store.snapshots import ID_FIELD, _typed

# Units further than this are not considered: at 30 km/h it is an hour away, and a district is
# ~30 km across. The search starts with the nearest few hundred units and widens only when the
# units not yet read could still beat the best ones found (see `candidates`).
SEARCH_RADIUS_KM = 40
SEARCH_COUNT = 2000
STEPS = (250, 1000, SEARCH_COUNT)
FIELDS = ("name", "department", "kind", "status", "skills", "lon", "lat", "ts")


def nearby_units(r: redis.Redis, lon: float, lat: float, now_ms: int,
                 radius_km: float = SEARCH_RADIUS_KM, count: int = SEARCH_COUNT
                 ) -> tuple[list[dict[str, Any]], float]:
    """The `count` units nearest within radius_km with what ranking needs (and
    `task_priority` if busy), and the straight distance (m) of the farthest one read."""
    found = r.geosearch(keys.geo("unit"), longitude=lon, latitude=lat, radius=radius_km,
                        unit="km", sort="ASC", count=count, withdist=True)
    pipe = r.pipeline(transaction=False)
    for unit_id, _dist in found:
        pipe.hmget(keys.state("unit", unit_id.decode()), FIELDS)
        pipe.hget(keys.unit_task(unit_id.decode()), "priority")
    raw = pipe.execute()
    out = []
    for (unit_id, _dist), values, task_priority in zip(found, raw[::2], raw[1::2], strict=True):
        if values[2] is None:  # no profile (kind) yet: it cannot be judged
            continue
        u = _typed({f.encode(): v for f, v in zip(FIELDS, values, strict=True)
                    if v is not None})
        u[ID_FIELD["unit"]] = unit_id.decode()
        u["age_s"] = round((now_ms - u["ts"]) / 1000, 1) if u.get("ts") else None
        if task_priority is not None:
            u["task_priority"] = int(task_priority)
        out.append(u)
    farthest = float(found[-1][1]) * 1000 if found else 0.0
    return out, farthest


def candidates(r: redis.Redis, inc: dict[str, Any], travel: TravelModel, now_ms: int,
               limit: int = 10) -> list[dict[str, Any]]:
    """Ranked candidates, reading as few units as the answer allows: once `limit` ready units
    are found, a unit further away than (the last one's ETA x the fastest speed) cannot beat
    them, since no route is shorter than the straight line."""
    rules = model.load_rules()
    fastest = max(SPEED_M_S[k.value] for k, domains in rules.kind_domains.items()
                  if inc["domain"] in {d.value for d in domains})
    ranked: list[Any] = []
    for count in STEPS:
        units, farthest = nearby_units(r, inc["lon"], inc["lat"], now_ms, count=count)
        ranked = rank(units, dest=(inc["lon"], inc["lat"]), domain=inc["domain"],
                      departments=set(inc.get("departments") or []),
                      priority=int(inc.get("priority") or 3), travel=travel,
                      silent_after_s=rules.unit_silent_after_s,
                      kind_domains=rules.kind_domains, incident_type=inc.get("type"),
                      limit=limit)
        ready = [c for c in ranked if c.tier == "ready" and c.eta_s is not None]
        if len(units) < count or (len(ready) >= limit and ready[-1].eta_s * fastest <= farthest):
            break
    return [dataclasses.asdict(c) for c in ranked]
