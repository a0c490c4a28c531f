"""Simulated water-quality monitoring points: 6 near-shore seawater buoys judged against
GB 3097-1997 class I, and inland river/reservoir stations judged against GB 3838-2002.

Values drift slowly inside their class limit (a mean-reverting walk); now and then one parameter
breaches its limit for a few readings. Limits come from config/standards/*.json through
domain.water_quality. Locations are approximate and were chosen to fall at sea in the district's
waters (seawater) or on the district's land (surface water); the tests check both.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from domain.geo import Geography, LonLat
from domain.payloads import SensorProfile, SensorReading
from domain.vocab import SensorKind, Subdistrict
from domain.water_quality import Limit, class_limits

# Parameters measured online (names as in domain.water_quality: the standard key without suffix).
SEAWATER_PARAMS = (
    "pH",
    "dissolved_oxygen",
    "COD",
    "inorganic_nitrogen_as_N",
    "active_phosphate_as_P",
    "petroleum",
)
SURFACE_PARAMS = ("pH", "dissolved_oxygen", "CODMn_permanganate_index", "COD", "NH3_N", "TP_as_P")
READING_MS = (27_000, 33_000)
P_BREACH = 0.01  # per reading: one parameter starts breaching for a few readings
BREACH_READINGS = (2, 6)

# (sensor id, name, (lon, lat), water class)
SEAWATER_POINTS: tuple[tuple[str, str, LonLat, str], ...] = (
    ("WQ-SEA-01", "西涌近岸海域监测点", (114.535, 22.462), "I"),
    ("WQ-SEA-02", "东涌近岸海域监测点", (114.595, 22.490), "I"),
    ("WQ-SEA-03", "南澳近岸海域监测点", (114.478, 22.530), "I"),
    ("WQ-SEA-04", "大鹏澳海域监测点", (114.520, 22.578), "I"),
    ("WQ-SEA-05", "坝光近岸海域监测点", (114.562, 22.657), "I"),
    ("WQ-SEA-06", "溪涌近岸海域监测点", (114.370, 22.602), "I"),
)
SURFACE_POINTS: tuple[tuple[str, str, LonLat, str], ...] = (
    ("WQ-FW-01", "葵涌河监测点", (114.425, 22.625), "III"),
    ("WQ-FW-02", "王母河监测点", (114.485, 22.595), "III"),
    ("WQ-FW-03", "东涌河监测点", (114.575, 22.500), "II"),
    ("WQ-FW-04", "径心水库监测点", (114.400, 22.640), "II"),
    ("WQ-FW-05", "枫木浪水库监测点", (114.510, 22.630), "II"),
)


@dataclass
class Sensor:
    sensor_id: str
    name: str
    kind: SensorKind
    pos: LonLat
    water_class: str
    subdistrict: Subdistrict | None
    limits: list[Limit]
    normal: dict[str, float] = field(default_factory=dict)  # each parameter's usual level
    values: dict[str, float] = field(default_factory=dict)
    breach: tuple[str, int] | None = None  # (parameter, readings left)
    seq: int = -1


class SensorNetwork:
    """The monitoring points and their readings; deterministic for a given rng."""

    def __init__(self, geo: Geography, rng: random.Random, interval_scale: float = 1.0) -> None:
        self.rng = rng
        self.interval_scale = interval_scale
        self.sensors: list[Sensor] = []
        specs = [(SensorKind.SEAWATER, SEAWATER_PARAMS, p) for p in SEAWATER_POINTS]
        specs += [(SensorKind.SURFACE_WATER, SURFACE_PARAMS, p) for p in SURFACE_POINTS]
        for kind, params, (sid, name, pos, wclass) in specs:
            sub = geo.subdistrict_of(*pos)
            limits = class_limits(kind.value, wclass)
            s = Sensor(
                sid,
                name,
                kind,
                pos,
                wclass,
                Subdistrict(sub) if sub else None,
                [limits[p] for p in params],
            )
            for lim in s.limits:
                s.normal[lim.parameter] = self._normal_level(lim)
                s.values[lim.parameter] = s.normal[lim.parameter]
            self.sensors.append(s)

    def _normal_level(self, lim: Limit) -> float:
        if lim.bound == "range":
            lo, hi = lim.value  # type: ignore[misc]
            return self.rng.uniform(lo + 0.3 * (hi - lo), hi - 0.3 * (hi - lo))
        if lim.bound in ("gt", "ge"):
            return float(lim.value) + self.rng.uniform(0.6, 1.8)  # type: ignore[arg-type]
        return float(lim.value) * self.rng.uniform(0.3, 0.65)  # type: ignore[arg-type]

    def profile(self, s: Sensor, now_ms: int) -> SensorProfile:
        return SensorProfile(
            sensor_id=s.sensor_id,
            ts=now_ms,
            name=s.name,
            kind=s.kind,
            lon=s.pos[0],
            lat=s.pos[1],
            water_class=s.water_class,
            subdistrict=s.subdistrict,
        )

    def next_interval_ms(self) -> int:
        return max(1, int(self.rng.randint(*READING_MS) * self.interval_scale))

    def reading(self, s: Sensor, now_ms: int) -> SensorReading:
        rng = self.rng
        if s.breach is None and rng.random() < P_BREACH:
            s.breach = (rng.choice(s.limits).parameter, rng.randint(*BREACH_READINGS))
        for lim in s.limits:
            normal, cur = s.normal[lim.parameter], s.values[lim.parameter]
            # Mean-reverting walk: noise of ~3% of the usual level, pulled 20% back each time.
            cur += 0.2 * (normal - cur) + rng.gauss(0, 0.03 * abs(normal))
            s.values[lim.parameter] = self._clamp(lim, cur)
        values = dict(s.values)
        if s.breach is not None:
            name, left = s.breach
            lim = next(x for x in s.limits if x.parameter == name)
            values[name] = self._breaching(lim)
            s.breach = (name, left - 1) if left > 1 else None
        s.seq += 1
        rounded = {
            k: round(v, 2 if k in ("pH", "dissolved_oxygen") else 4) for k, v in values.items()
        }
        return SensorReading(sensor_id=s.sensor_id, seq=s.seq, ts=now_ms, values=rounded)

    @staticmethod
    def _clamp(lim: Limit, value: float) -> float:
        """Keep the normal walk inside the class limit (breaches are explicit episodes)."""
        if lim.bound == "range":
            lo, hi = lim.value  # type: ignore[misc]
            return min(max(value, lo + 0.05), hi - 0.05)
        limit = float(lim.value)  # type: ignore[arg-type]
        if lim.bound in ("gt", "ge"):
            return max(value, limit * 1.05)
        return min(max(value, limit * 0.05), limit * 0.95)

    def _breaching(self, lim: Limit) -> float:
        rng = self.rng
        if lim.bound == "range":
            lo, hi = lim.value  # type: ignore[misc]
            return hi + rng.uniform(0.1, 0.6) if rng.random() < 0.5 else lo - rng.uniform(0.1, 0.6)
        limit = float(lim.value)  # type: ignore[arg-type]
        if lim.bound in ("gt", "ge"):
            return limit * rng.uniform(0.45, 0.85)
        return limit * rng.uniform(1.2, 2.5)
