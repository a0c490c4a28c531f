"""Which units can take an incident, best first. Pure: the caller brings the units (from the
Redis geo index) and the travel model.

Eligible: on duty; its kind can work in the incident's domain (land units on land, boats at sea,
both on the shore, drones anywhere); its skills name the incident type, or, when it lists no
skills, its department is one that owns the type; busy only on a less urgent incident (then it is
pre-emptible). Order: ready units by ETA, then pre-emptible ones, then units whose position is
stale (silent longer than the rules allow: they may not be where the map shows them), then the
unreachable; ties by distance, then id, so the list is stable between refreshes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.travel import TravelModel


@dataclass(frozen=True, slots=True)
class Candidate:
    unit_id: str
    name: str
    department: str
    kind: str
    status: str
    lon: float
    lat: float
    distance_m: float | None
    eta_s: float | None
    age_s: float | None
    stale: bool
    preemptible: bool


def eligible(u: Mapping[str, Any], *, domain: str, departments: set[str], priority: int,
             kind_domains: Mapping[str, Iterable[str]], incident_type: str | None) -> bool:
    if u.get("status") == "off_duty" or not isinstance(u.get("lon"), float):
        return False
    if domain not in {str(d) for d in kind_domains.get(str(u.get("kind")), ())}:
        return False
    skills = u.get("skills") or []
    if skills:
        if incident_type not in skills:
            return False
    elif departments and u.get("department") not in departments:
        return False
    busy = u.get("task_priority")
    return busy is None or int(busy) > priority


def rank(units: list[Mapping[str, Any]], *, dest: tuple[float, float], domain: str,
         departments: set[str], priority: int, travel: TravelModel, silent_after_s: float,
         kind_domains: Mapping[Any, Iterable[Any]], incident_type: str | None = None,
         limit: int = 10) -> list[Candidate]:
    kinds = {str(k): v for k, v in kind_domains.items()}
    chosen = [u for u in units if eligible(u, domain=domain, departments=departments,
                                           priority=priority, kind_domains=kinds,
                                           incident_type=incident_type)]
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for u in chosen:
        by_kind.setdefault(str(u.get("kind")), []).append(u)
    out = []
    for kind, group in by_kind.items():  # one search per kind, not per unit
        legs = travel.legs(kind, [(u["lon"], u["lat"]) for u in group], dest)
        for u, leg in zip(group, legs, strict=True):
            age = u.get("age_s")
            out.append(Candidate(
                unit_id=str(u.get("unit_id")), name=str(u.get("name") or u.get("unit_id")),
                department=str(u.get("department") or ""), kind=kind,
                status=str(u.get("status") or ""), lon=u["lon"], lat=u["lat"],
                distance_m=None if leg.distance_m is None else round(leg.distance_m),
                eta_s=None if leg.eta_s is None else round(leg.eta_s),
                age_s=age, stale=age is None or age > silent_after_s,
                preemptible=u.get("task_priority") is not None))

    def order(c: Candidate) -> tuple[Any, ...]:
        tier = 3 if c.eta_s is None else 2 if c.stale else 1 if c.preemptible else 0
        return (tier, c.eta_s or 0, c.distance_m or 0, c.unit_id)

    return sorted(out, key=order)[:limit]
