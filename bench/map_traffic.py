"""The map benchmark's traffic: a district-sized population made by the simulator's own fleets
(simulator/: units on land or at sea by kind, vessels on their bays and lanes reporting raw AIS
NMEA with type 5 / type 24 names, water-quality sensors at sea or on land), published over MQTT
as the simulator does, and a mover that keeps it live at the simulator's own reporting rates
(units every 5-10 s, moving class A vessels every 6-12 s, class B every 30 s, sensors every
30 s), in one batch a second, so the live version changes about once a second.

Entities are picked evenly from fleets built with a multiplier large enough for the counts asked
for, so every department, unit kind and vessel role is present whatever the counts.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import threading
import time
import uuid
from collections import Counter
from typing import Any, TypeVar

from bench.workload import Publisher
from domain.clock import system_ms as now_ms
from domain.geo import Geography, load_geography
from domain.payloads import UnitPosition, UnitProfile
from domain.vocab import Department, Level, SensorKind, Subdistrict, UnitKind
from simulator.main import encode
from simulator.sensors import Sensor, SensorNetwork
from simulator.units import UnitFleet
from simulator.vessels import VesselFleet

T = TypeVar("T")
WINDOW = 500  # unacknowledged messages at most (QoS 1)


def _spread(items: list[T], n: int) -> list[T]:
    """n items picked evenly over the list (the fleets are ordered by department or role)."""
    return [items[i * len(items) // n] for i in range(n)] if n else []


class Traffic:
    """Everything published: populate() once, then Mover steps it in real time."""

    def __init__(
        self, prefix: str, units: int, vessels: int, sensors: int, seed: int, probe_id: str
    ) -> None:
        self.prefix = prefix
        self.probe_id = probe_id  # a unit only the probes move (not in the fleet)
        geo = load_geography()
        start = now_ms()
        per = len(UnitFleet(geo, random.Random(0), 1, start_ms=start).units)
        self.unit_fleet = UnitFleet(
            geo,
            random.Random(f"{seed}:units"),
            max(1, math.ceil((units - 1) / per)),
            start_ms=start,
        )
        self.units = _spread(self.unit_fleet.units, units - 1)
        per = len(VesselFleet(geo, random.Random(0), 1).vessels)
        self.vessel_fleet = VesselFleet(
            geo, random.Random(f"{seed}:vessels"), max(1, math.ceil(vessels / per))
        )
        self.vessels = _spread(self.vessel_fleet.vessels, vessels)
        self.network = SensorNetwork(geo, random.Random(f"{seed}:sensors"))
        self.sensors = self._sensors(geo, random.Random(f"{seed}:sensor-sites"), sensors)
        self.rng = random.Random(f"{seed}:schedule")
        self._order = itertools.count()  # heap tie-breaker
        self.mix = {
            "unit_kinds": dict(Counter(u.kind.value for u in self.units)),
            "vessel_roles": dict(Counter(v.role for v in self.vessels)),
            "vessel_ais_class": dict(Counter(v.ais_class for v in self.vessels)),
            "sensor_kinds": dict(Counter(s.kind.value for s in self.sensors)),
        }

    def _sensors(self, geo: Geography, rng: random.Random, n: int) -> list[Sensor]:
        """n monitoring points modelled on the simulator's 11 (kind, class, limits, levels),
        at sea (seawater) or on land (surface water)."""
        templates = self.network.sensors
        out = []
        for i in range(n):
            tpl = templates[i % len(templates)]
            sea = tpl.kind is SensorKind.SEAWATER
            pos = geo.random_sea_point(rng, "district") if sea else geo.random_land_point(rng)
            sub = geo.subdistrict_of(*pos)
            out.append(
                Sensor(
                    f"WQ-B{i:04d}",
                    f"{tpl.name} {i}",
                    tpl.kind,
                    pos,
                    tpl.water_class,
                    Subdistrict(sub) if sub else None,
                    tpl.limits,
                    dict(tpl.normal),
                    dict(tpl.values),
                )
            )
        self.network.sensors = out
        return out

    # -- messages -----------------------------------------------------------------------------

    def _unit(self, i: int, now: int) -> list[tuple[str, bytes]]:
        u = self.units[i]
        out = []
        for m in self.unit_fleet.report(u, now):
            leaf = "position" if isinstance(m, UnitPosition) else "status"
            out.append((f"{self.prefix}/units/{u.unit_id}/{leaf}", encode(m)))
        return out

    def _sensor(self, i: int, now: int) -> tuple[str, bytes]:
        s = self.sensors[i]
        return (
            f"{self.prefix}/sensors/{s.sensor_id}/reading",
            encode(self.network.reading(s, now)),
        )

    def _ais(self, items: list[tuple[str, list[str]]], now: int) -> list[tuple[str, bytes]]:
        return [
            (f"{self.prefix}/ais/{rx}/nmea", text.encode("ascii"))
            for rx, text in self.vessel_fleet.pack(items, now)
        ]

    def population(self) -> list[tuple[str, bytes]]:
        """Profiles, static AIS data, a first position of every unit and vessel and a first
        reading of every sensor; the probe unit's profile."""
        now = now_ms()
        p = self.prefix
        out = [
            (f"{p}/units/{u.unit_id}/profile", encode(self.unit_fleet.profile(u, now)))
            for u in self.units
        ]
        out.append(
            (
                f"{p}/units/{self.probe_id}/profile",
                encode(
                    UnitProfile(
                        unit_id=self.probe_id,
                        ts=now,
                        name="基准测试探针 bench probe",
                        department=Department.ECO_ENVIRONMENT,
                        kind=UnitKind.FOOT,
                        level=Level.DISTRICT,
                    )
                ),
            )
        )
        out += [
            (f"{p}/sensors/{s.sensor_id}/profile", encode(self.network.profile(s, now)))
            for s in self.sensors
        ]
        for i in range(len(self.units)):
            out += self._unit(i, now)
        ais: list[tuple[str, list[str]]] = []
        for v in self.vessels:
            ais += self.vessel_fleet.static(v, now)
            ais += self.vessel_fleet.position(v, now)
        out += self._ais(ais, now)
        out += [self._sensor(i, now) for i in range(len(self.sensors))]
        return out

    def schedule(self, start: int) -> list[tuple[int, int, str, int]]:
        """First reports spread over one interval of each entity, as the simulator starts."""
        heap: list[tuple[int, int, str, int]] = []
        for i, u in enumerate(self.units):
            heap.append(
                (
                    start + self.rng.randint(0, self.unit_fleet.next_interval_ms(u)),
                    next(self._order),
                    "unit",
                    i,
                )
            )
        for i, v in enumerate(self.vessels):
            heap.append(
                (
                    start + self.rng.randint(0, self.vessel_fleet.next_position_ms(v)),
                    next(self._order),
                    "vessel",
                    i,
                )
            )
        for i in range(len(self.sensors)):
            heap.append(
                (
                    start + self.rng.randint(0, self.network.next_interval_ms()),
                    next(self._order),
                    "sensor",
                    i,
                )
            )
        heapq.heapify(heap)
        return heap

    def due(
        self, heap: list[tuple[int, int, str, int]], now: int
    ) -> tuple[list[tuple[str, bytes]], Counter[str]]:
        """Everything due by now; each entity rescheduled at its own interval from now."""
        out: list[tuple[str, bytes]] = []
        ais: list[tuple[str, list[str]]] = []
        kinds: Counter[str] = Counter()
        while heap and heap[0][0] <= now:
            _, _, kind, i = heapq.heappop(heap)
            kinds[kind] += 1
            if kind == "unit":
                out += self._unit(i, now)
                nxt = self.unit_fleet.next_interval_ms(self.units[i])
            elif kind == "vessel":
                ais += self.vessel_fleet.position(self.vessels[i], now)
                nxt = self.vessel_fleet.next_position_ms(self.vessels[i])
            else:
                out.append(self._sensor(i, now))
                nxt = self.network.next_interval_ms()
            heapq.heappush(heap, (now + nxt, next(self._order), kind, i))
        return out + self._ais(ais, now), kinds


def publish_all(url: str, messages: list[tuple[str, bytes]]) -> int:
    """QoS 1, every PUBACK awaited; returns how many were published."""
    pub = Publisher(url, f"bench-map-pop-{uuid.uuid4().hex[:8]}", WINDOW)
    try:
        for topic, payload in messages:
            pub.publish(topic, payload)
        pub.drain()
    finally:
        pub.close()
    return len(messages)


class Mover(threading.Thread):
    """Publishes what is due once a second (QoS 1, window-bounded) until stopped; pause() holds
    everything (the idle baseline) and resume() carries on as if the pause had not happened."""

    def __init__(self, traffic: Traffic, url: str) -> None:
        super().__init__(name="bench-map-mover", daemon=True)
        self.traffic = traffic
        self.url = url
        self.stop = threading.Event()
        self.running = threading.Event()
        self.error: BaseException | None = None
        self.published = 0
        self.batches = 0
        self.kinds: Counter[str] = Counter()
        self.active_s = 0.0
        self._lock = threading.Lock()

    def pause(self) -> None:
        self.running.clear()
        with self._lock:  # returns once a batch in flight is out
            pass

    def resume(self) -> None:
        self.running.set()

    def check(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"the mover failed: {self.error}") from self.error

    def stats(self) -> dict[str, Any]:
        s = max(self.active_s, 1e-9)
        return {
            "published": self.published,
            "batches": self.batches,
            "active_seconds": round(self.active_s, 1),
            "messages_per_s": round(self.published / s, 1),
            "reports_per_s": {k: round(v / s, 1) for k, v in sorted(self.kinds.items())},
        }

    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:  # reported by check() in the measuring thread
            self.error = e

    def _run(self) -> None:
        pub = Publisher(self.url, f"bench-map-mover-{uuid.uuid4().hex[:8]}", WINDOW)
        heap = self.traffic.schedule(now_ms())
        paused_at: float | None = time.monotonic()
        try:
            while not self.stop.is_set():
                if not self.running.is_set():
                    paused_at = paused_at if paused_at is not None else time.monotonic()
                    pub.wait(0.05)
                    continue
                if paused_at is not None:  # shift the schedule by the pause
                    shift = int((time.monotonic() - paused_at) * 1000)
                    heap = [(d + shift, o, k, i) for d, o, k, i in heap]
                    heapq.heapify(heap)
                    paused_at = None
                t0 = time.monotonic()
                with self._lock:
                    messages, kinds = self.traffic.due(heap, now_ms())
                    for topic, payload in messages:
                        pub.publish(topic, payload)
                    pub.drain()
                self.published += len(messages)
                self.kinds.update(kinds)
                self.batches += 1
                left = 1.0 - (time.monotonic() - t0)
                if left > 0:
                    pub.wait(left)
                self.active_s += time.monotonic() - t0
        finally:
            pub.close()
