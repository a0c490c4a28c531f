"""How a simulated unit answers a dispatch notice, as crews do: acknowledge after a short
reaction time, drive or sail to the scene along the path the centre's ETA assumed (staying on
land or at sea, simulator/route.py), report arrival, handle the case for a few minutes, report
it handled, and go back on patrol.

A notice may arrive twice (at-least-once delivery): a redelivery (same incident, same notice
`ts`) or a notice for the incident the unit is already on changes nothing. A notice for another
incident replaces the current task once acknowledged (the centre took the unit off a less
urgent case); a later notice for an incident the unit left is a new assignment and is followed.

A scene the unit cannot be at (a car sent to open water, a boat to a hillside) is replaced by
the nearest point of its own medium: the shore, at most NUDGE_M inside it. If no way leads
there either (another island), the unit stops at the nearest point it can reach. Either way it
reports "arrived" from there, with a note saying how far from the scene it stopped.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache

import shapely
from pydantic import ValidationError
from shapely.geometry.base import BaseGeometry

from domain.geo import Geography, LonLat, haversine_m
from domain.payloads import DispatchNotice, TaskReport
from domain.vocab import UnitKind

log = logging.getLogger("ecocommand.simulator")

# Notice -> "ack" (reading it, calling back): quicker for urgent cases. Priority 1..3.
REACTION_MS = {1: (5_000, 15_000), 2: (8_000, 25_000), 3: (10_000, 30_000)}
HANDLING_MS = (120_000, 360_000)  # on scene -> "handled"
ARRIVED_M = 50.0
# Speeds en route, around the centre's planning speeds (domain/travel.py SPEED_M_S) so that its
# ETAs come true: officers walk 4-5 km/h, cars 30 km/h on district roads, boats 20 kn, drones
# 60 km/h. Roads and paths wind (the centre counts LAND_DETOUR = 1.3 times the length of its
# path): walkers and cars advance along that same path at speed / 1.3.
TASK_KMH = {
    UnitKind.FOOT: (4.0, 5.0),
    UnitKind.VEHICLE: (26.0, 34.0),
    UnitKind.BOAT: (33.0, 41.0),  # 18-22 kn
    UnitKind.DRONE: (55.0, 65.0),
}
ROAD_WINDING = {UnitKind.FOOT: 1.3, UnitKind.VEHICLE: 1.3}
NUDGE_M = (10.0, 20.0, 40.0, 80.0, 160.0)  # from the shore line into the unit's medium
MAX_NOTICE_BYTES = 8_192  # a real notice is < 2 KB; no point parsing megabytes of garbage
SEEN_PER_UNIT = 256  # notices remembered per unit for the redelivery check
MARGIN_DEG = 0.1  # ~10 km round the district: Dapeng Bay, Daya Bay, the southern tip


@dataclass
class Task:
    incident_id: str
    notice_ts: int
    asked: LonLat  # where the centre said
    scene: LonLat  # where the unit goes: that point, or the nearest point of its medium
    until_ms: int  # when the current phase ends (ack due, handling done)
    pre_empting: bool = False  # the unit was on another task when notified
    cut_off: bool = False  # no way leads to the scene: the unit goes as near as it can
    phase: str = "notified"  # notified -> en_route -> on_scene


@dataclass
class Seen:
    """Per unit: the notices taken, oldest first (a bounded ordered set)."""

    keys: OrderedDict[tuple[str, int], None] = field(default_factory=OrderedDict)

    def add(self, key: tuple[str, int]) -> bool:
        """False if already seen."""
        if key in self.keys:
            return False
        self.keys[key] = None
        if len(self.keys) > SEEN_PER_UNIT:
            self.keys.popitem(last=False)
        return True


def parse(payload: object, topic_unit: str | None = None) -> DispatchNotice | None:
    """The notice, or None (logged) for anything malformed or sent on another unit's topic."""
    if not isinstance(payload, bytes | bytearray | str):
        log.warning("ignored a dispatch notice that is not bytes: %s", type(payload).__name__)
        return None
    if len(payload) > MAX_NOTICE_BYTES:
        log.warning("ignored an oversized dispatch notice (%d bytes)", len(payload))
        return None
    try:
        notice = DispatchNotice.model_validate_json(payload)
    except ValidationError as e:
        log.warning("ignored a malformed dispatch notice: %s", str(e).splitlines()[0][:200])
        return None
    if topic_unit is not None and topic_unit != notice.unit_id:
        log.warning(
            "ignored a dispatch notice for %s sent on %s's topic",
            notice.unit_id[:64],
            topic_unit[:64],
        )
        return None
    return notice


def in_area(geo: Geography, p: LonLat) -> bool:
    """Inside the box units may be sent into: the district and its surrounding waters."""
    x0, y0, x1, y1 = geo.district.bounds
    m = MARGIN_DEG
    return x0 - m <= p[0] <= x1 + m and y0 - m <= p[1] <= y1 + m


def in_medium(geo: Geography, kind: UnitKind, p: LonLat) -> bool:
    if kind is UnitKind.DRONE:
        return True
    return geo.is_sea(*p) if kind is UnitKind.BOAT else geo.is_land(*p)


@lru_cache(maxsize=4)
def _shore(geo: Geography) -> BaseGeometry:
    line = geo.land.boundary
    shapely.prepare(line)
    return line


def reachable_scene(geo: Geography, kind: UnitKind, scene: LonLat) -> LonLat:
    """The scene if the unit's kind can be there; else the nearest point of its medium: the
    nearest point of the shore line, nudged a little across it away from the scene."""
    if in_medium(geo, kind, scene):
        return scene
    near = shapely.shortest_line(shapely.Point(scene), _shore(geo)).coords[1]
    dx, dy = near[0] - scene[0], near[1] - scene[1]
    kx = math.cos(math.radians(scene[1]))  # degrees of longitude are shorter
    norm = math.hypot(dx * kx, dy)
    dirs = [(dx * kx / norm, dy / norm)] if norm > 0 else []
    dirs += [(math.cos(a), math.sin(a)) for a in (k * math.pi / 4 for k in range(8))]
    for ux, uy in dirs:
        for m in NUDGE_M:
            d = m / 111_195.0
            p = (near[0] + ux * d / kx, near[1] + uy * d)
            if in_medium(geo, kind, p):
                return p
    return scene  # nothing nearby: the route search stops as near as it can


def arrival_note(kind: UnitKind, stop: LonLat, task: Task) -> str:
    """Why the unit reports arrival away from the scene (empty when it is there)."""
    off = haversine_m(*stop, *task.asked)
    if off <= ARRIVED_M:
        return ""
    ashore = "现场在岸上" if kind is UnitKind.BOAT else "现场在海上"
    why = "无路可通" if task.cut_off else ashore
    return f"{why}，停在距现场 {off:.0f} 米处"


def report(
    unit_id: str, incident_id: str, action: str, seq: int, now_ms: int, note: str = ""
) -> TaskReport:
    return TaskReport(
        unit_id=unit_id, incident_id=incident_id, action=action, seq=seq, ts=now_ms, note=note
    )
