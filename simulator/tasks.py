"""How a simulated unit answers a dispatch notice, as crews do: acknowledge after a short
reaction time, drive or sail to the scene (staying on land or at sea), report arrival, handle the
case for a few minutes, report it handled, and go back on patrol.

A notice may arrive twice (at-least-once delivery): a unit handles each incident once. A newer
notice replaces the current task (the centre took the unit off a less urgent case).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from pydantic import ValidationError

from domain.geo import Geography, LonLat, haversine_m
from domain.payloads import DispatchNotice, TaskReport
from domain.vocab import UnitKind

log = logging.getLogger("ecocommand.simulator")

REACTION_MS = (5_000, 30_000)  # notice -> "ack" and moving
HANDLING_MS = (120_000, 360_000)  # on scene -> "handled"
ARRIVED_M = 60.0
SHORE_SEARCH_M = (200.0, 500.0, 1_000.0, 2_000.0)  # nearest reachable point to an unreachable scene


@dataclass
class Task:
    incident_id: str
    scene: LonLat  # where the unit goes (the scene itself, or the nearest point it can reach)
    phase: str = "notified"  # notified -> en_route -> on_scene -> done
    until_ms: int = 0  # when the current phase ends (ack due, handling done)


def parse(payload: bytes) -> DispatchNotice | None:
    try:
        return DispatchNotice.model_validate_json(payload)
    except ValidationError as e:
        log.warning("ignored a malformed dispatch notice: %s", str(e).splitlines()[0][:200])
        return None


def reachable_scene(geo: Geography, kind: UnitKind, scene: LonLat, rng_point: LonLat
                    ) -> LonLat:
    """The scene if the unit's kind can be there; else the nearest point it can reach (a boat
    stops off a shore incident, a car at the shore of a sea incident)."""
    if kind is UnitKind.DRONE:
        return scene
    on_land = geo.is_land(*scene)
    if on_land == (kind is not UnitKind.BOAT):
        return scene
    for radius in SHORE_SEARCH_M:  # ring search, deterministic: no rng needed
        best = None
        for i in range(24):
            a = 2 * math.pi * i / 24
            dlat = radius / 111_320 * math.cos(a)
            dlon = radius / (111_320 * math.cos(math.radians(scene[1]))) * math.sin(a)
            p = (scene[0] + dlon, scene[1] + dlat)
            if geo.is_land(*p) == (kind is not UnitKind.BOAT):
                d = haversine_m(*p, *rng_point)
                if best is None or d < best[0]:
                    best = (d, p)
        if best:
            return best[1]
    return rng_point  # nowhere reachable nearby: stay and report from where it is


def report(unit_id: str, incident_id: str, action: str, seq: int, now_ms: int) -> TaskReport:
    return TaskReport(unit_id=unit_id, incident_id=incident_id, action=action, seq=seq,
                      ts=now_ms)
