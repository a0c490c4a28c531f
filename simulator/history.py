"""`python run.py simulate --history 30d`: plausible past incidents, patrols and readings for the
KPI page of a fresh demo, written straight into Redis and clearly marked. Incidents go through
store.incidents.import_history (no unit is booked, no notice sent) with ids
`INC-SIM-YYYYMMDD-NNNN`, `simulated` = 1, created by "simulator"; each past day gets its closed
day row (units on duty per hour, water-quality rows) with source "simulated", and its visited
places (cov:day). Deterministic for a seed; a second run adds nothing already there.

The shape, not the exact numbers, comes from the bureau's report: most cases come from citizens
and patrols, a few from sensors and hotlines; most are assigned, reached and handled within the
deadlines of config/dispatch.json, a minority late; a few are rejected as not valid or
transferred to the department that owns them.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from domain import incidents as model
from domain.coverage_places import load_coverage
from domain.geo import Geography
from domain.incidents import Source, State, Timeline, Transition
from domain.vocab import LOCAL_TZ, Department
from store import coverage, incidents, keys, kpi_days

TYPE_WEIGHTS = {
    "water_pollution": 15,
    "illegal_discharge": 10,
    "illegal_building": 15,
    "illegal_fishing": 15,
    "illegal_logging": 8,
    "illegal_sand_mining": 5,
    "waste_dumping": 20,
    "noise": 12,
}
SOURCE_WEIGHTS = {
    Source.CITIZEN_REPORT: 40,
    Source.PATROL_FINDING: 30,
    Source.SENSOR_ALERT: 15,
    Source.HOTLINE: 10,
    Source.TRANSFER: 5,
}
PRIORITY_WEIGHTS = {1: 15, 2: 45, 3: 40}
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 8, 7, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1]
PER_DAY = 40  # mean incidents a day; weekends a little fewer
P_REJECT, P_TRANSFER = 0.04, 0.03
P_LATE = {"assign": 0.08, "arrive": 0.12, "handle": 0.08}
MIN_MS = 60_000


@dataclass(frozen=True, slots=True)
class FleetUnit:
    unit_id: str
    department: str
    kind: str


def _pick(rng: random.Random, weights: dict) -> object:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _duration_ms(rng: random.Random, limit_s: int, late: bool) -> int:
    """A time to do something with a deadline: usually well inside it, sometimes past it."""
    if late:
        return int(limit_s * 1000 * rng.uniform(1.05, 2.0))
    return int(limit_s * 1000 * min(0.95, rng.lognormvariate(math.log(0.35), 0.5)))


def one_incident(
    rng: random.Random, geo: Geography, fleet: Sequence[FleetUnit], reported_ms: int, now_ms: int
) -> tuple[dict, Timeline]:
    """One incident's record and history, cut at now_ms (a recent one may still be open)."""
    rules = model.load_rules()
    kind = model.IncidentType(_pick(rng, TYPE_WEIGHTS))
    rule = rules.types[kind]
    priority = int(_pick(rng, PRIORITY_WEIGHTS))  # type: ignore[call-overload]
    limits = rules.deadlines[model.Priority(priority)]
    lon, lat = (
        geo.random_sea_point(rng, "district")
        if rule.domain.value == "sea"
        else geo.random_land_point(rng)
    )
    departments = [d.value for d in rule.departments]
    kinds = {k.value for k, doms in rules.kind_domains.items() if rule.domain in doms}
    able = [u for u in fleet if u.department in departments and u.kind in kinds]
    steps = [Transition(None, State.REPORTED, "simulator", reported_ms)]

    def go(to: State, after_ms: int, by: str, reason: str = "", **extra: str) -> bool:
        at = steps[-1].at_ms + max(1000, after_ms)
        if at > now_ms:
            return False
        steps.append(Transition(steps[-1].to_state, to, by, at, reason, extra))
        return True

    source = Source(_pick(rng, SOURCE_WEIGHTS))
    fields: dict = {
        "type": kind.value,
        "source": source.value,
        "priority": priority,
        "domain": rule.domain.value,
        "lon": round(lon, 5),
        "lat": round(lat, 5),
        "departments": ",".join(departments),
        "subdistrict": geo.subdistrict_of(lon, lat) or "",
        "description": "模拟历史案件（simulated history）",
        "simulated": 1,
        "units": "",
        "released_units": "",
    }
    chief = "值班长（模拟）"
    assign_ms = _duration_ms(rng, limits.assign_s, rng.random() < P_LATE["assign"])
    if not go(State.TRIAGED, int(assign_ms * rng.uniform(0.1, 0.5)), chief):
        return fields, Timeline(steps)
    roll = rng.random()
    if roll < P_REJECT:
        go(State.REJECTED, rng.randint(5, 60) * MIN_MS, chief, "核查不属实")
        return fields, Timeline(steps)
    if roll < P_REJECT + P_TRANSFER:
        other = rng.choice([d.value for d in Department if d.value not in departments])
        go(
            State.TRANSFERRED,
            rng.randint(5, 60) * MIN_MS,
            chief,
            "不属本部门职责",
            department=other,
        )
        return fields, Timeline(steps)
    if not able:
        return fields, Timeline(steps)
    team = rng.sample(able, k=min(len(able), 2 if rng.random() < 0.15 else 1))
    units = ",".join(u.unit_id for u in team)
    if not go(
        State.ASSIGNED, max(0, assign_ms - (steps[-1].at_ms - reported_ms)), chief, units=units
    ):
        return fields, Timeline(steps)
    fields["units"] = units
    lead = team[0].unit_id
    if not go(State.EN_ROUTE, rng.randint(1, 4) * MIN_MS, lead, "收到，前往现场"):
        return fields, Timeline(steps)
    arrive_ms = _duration_ms(rng, limits.arrive_s, rng.random() < P_LATE["arrive"])
    if not go(State.ON_SCENE, arrive_ms, lead):
        return fields, Timeline(steps)
    left_s = max(600, limits.handle_s - (steps[-1].at_ms - reported_ms) // 1000)
    if not go(
        State.HANDLED, _duration_ms(rng, left_s, rng.random() < P_LATE["handle"]), lead, "已处置"
    ):
        return fields, Timeline(steps)
    fields["units"], fields["released_units"] = "", units
    go(State.CLOSED, rng.randint(10, 240) * MIN_MS, chief, "结案")
    return fields, Timeline(steps)


def fill(
    r: redis.Redis,
    geo: Geography,
    fleet: Sequence[FleetUnit],
    days: int,
    now_ms: int,
    seed: int,
    per_day: float = PER_DAY,
) -> dict[str, int]:
    """Write `days` days of incidents ending now; returns how many were new and skipped."""
    rng = random.Random(seed)
    today = dt.datetime.fromtimestamp(now_ms / 1000, LOCAL_TZ).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    new = skipped = 0
    for back in range(days, -1, -1):
        day = today - dt.timedelta(days=back)
        weekend = day.weekday() >= 5
        mean = per_day * (0.8 if weekend else 1.0)
        count = max(0, round(rng.gauss(mean, mean * 0.15)))
        times = sorted(
            int(
                (
                    day
                    + dt.timedelta(
                        hours=rng.choices(range(24), HOUR_WEIGHTS)[0], minutes=rng.uniform(0, 60)
                    )
                ).timestamp()
                * 1000
            )
            for _ in range(count)
        )
        for n, reported in enumerate(times, start=1):
            if reported > now_ms:
                break
            fields, timeline = one_incident(rng, geo, fleet, reported, now_ms)
            out = incidents.import_history(r, f"INC-SIM-{day:%Y%m%d}-{n:04d}", fields, timeline)
            new += out.ok
            skipped += out.code == incidents.Code.EXISTS
    return {"new": new, "skipped": skipped}


def demo_fleet(geo: Geography, seed: int) -> list[FleetUnit]:
    """The simulator's own units (the same ids the live demo uses)."""
    from simulator.units import UnitFleet

    return [
        FleetUnit(u.unit_id, u.department.value, u.kind.value)
        for u in UnitFleet(geo, random.Random(seed)).units
    ]


VISIT_P = {"land": (0.55, 0.9), "coast": (0.65, 0.95), "sea": (0.45, 0.85)}  # share per day
COUNTS_FOR = {"land": ("foot", "vehicle"), "coast": ("foot", "boat"), "sea": ("boat",)}
READINGS_PER_DAY = 288  # one every 5 minutes


def fill_days(
    r: redis.Redis, geo: Geography, fleet: Sequence[FleetUnit], days: int, now_ms: int, seed: int
) -> int:
    """Closed-day rows and visited places for the `days` days before today (not already
    closed); returns how many days were written."""
    from simulator.sensors import SensorNetwork

    rng = random.Random(seed + 1)
    cov = load_coverage()
    sensors = SensorNetwork(geo, random.Random(seed)).sensors
    today = dt.datetime.fromtimestamp(now_ms / 1000, LOCAL_TZ).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    written = 0
    for back in range(days, 0, -1):
        day = today - dt.timedelta(days=back)
        name = f"{day:%Y%m%d}"
        if kpi_days.is_closed(r, name):
            continue
        start = int(day.timestamp() * 1000)
        on_duty = [
            {
                "hour_ms": start + h * 3_600_000,
                "local_hour": f"{name} {h:02d}:00",
                "units": (
                    n := round(len(fleet) * (0.8 if 8 <= h < 20 else 0.3) * rng.uniform(0.9, 1.0))
                ),
                "unit_hours": round(n * rng.uniform(0.85, 1.0), 2),
            }
            for h in range(24)
        ]
        bad_day = rng.random() < 0.1
        water = [
            {
                "day": name,
                "sensor_id": s.sensor_id,
                "name": s.name,
                "kind": s.kind.value,
                "water_class": "I" if s.kind.value == "seawater" else s.water_class,
                "subdistrict": s.subdistrict.value if s.subdistrict else "",
                "n": READINGS_PER_DAY,
                "breaches": rng.randint(3, 30)
                if bad_day and rng.random() < 0.4
                else (rng.randint(1, 3) if rng.random() < 0.15 else 0),
            }
            for s in sensors
        ]
        pipe = r.pipeline(transaction=False)
        visited: dict[str, int] = {}
        for place in cov.places.values():
            lo, hi = VISIT_P[place.kind]
            if rng.random() < rng.uniform(lo, hi):
                able = [u for u in fleet if u.kind in COUNTS_FOR[place.kind]]
                u = rng.choice(able)
                visited[f"{place.id}|{u.kind}|{u.department}"] = start + rng.randint(
                    6 * 3_600_000, 20 * 3_600_000
                )
        if visited:
            pipe.zadd(keys.coverage_day(name), visited)
            pipe.expire(keys.coverage_day(name), coverage.DAY_KEEP_S)
        pipe.execute()
        kpi_days.store_day(r, name, on_duty, water, now_ms, source="simulated")
        written += 1
    return written
