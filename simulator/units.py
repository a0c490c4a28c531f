"""Simulated patrol units: roster, movement on land / at sea / in the air, and status changes.

Pure state stepping: `UnitFleet.report(unit, now_ms)` advances one unit to now_ms and returns
the payload models to publish; the caller schedules it again at `next_report_ms` (a regular
interval, or sooner when a dispatch task moves on). Tasks from real notices: simulator/tasks.py.
"""

from __future__ import annotations

import csv
import logging
import math
import random
from dataclasses import dataclass, field

from config import CONFIG_DIR
from domain.geo import Geography, LonLat, bearing_deg, haversine_m, move_towards
from domain.payloads import DispatchNotice, TaskReport, UnitPosition, UnitProfile, UnitStatusChange
from domain.travel import TravelModel
from domain.vocab import Department, Level, Subdistrict, UnitKind, UnitStatus
from simulator import route, tasks
from simulator.tasks import Task

log = logging.getLogger("ecocommand.simulator")

DEPARTMENT_ABBR = {
    Department.ECO_ENVIRONMENT: "EE",
    Department.WATER: "WA",
    Department.FORESTRY: "FO",
    Department.AGRICULTURE: "AG",
    Department.LAND_INSPECTION: "LI",
    Department.MARINE_FISHERIES: "MF",
    Department.FISHERY_MARITIME: "FM",
}
DEPARTMENT_ZH = {
    Department.ECO_ENVIRONMENT: "生态环保",
    Department.WATER: "水务",
    Department.FORESTRY: "林业",
    Department.AGRICULTURE: "农业",
    Department.LAND_INSPECTION: "规土监察",
    Department.MARINE_FISHERIES: "海洋渔业",
    Department.FISHERY_MARITIME: "渔政海监",
}
KIND_ZH = {
    UnitKind.FOOT: "巡查员",
    UnitKind.VEHICLE: "执法车",
    UnitKind.BOAT: "执法艇",
    UnitKind.DRONE: "无人机",
}
SUBDISTRICT_ZH = {
    Subdistrict.KUICHONG: "葵涌",
    Subdistrict.DAPENG: "大鹏",
    Subdistrict.NANAO: "南澳",
}
SUBDISTRICT_CODES = {"440307009": "kuichong", "440307010": "dapeng", "440307011": "nanao"}

# Per department: (level, kind, count). Sub-district and community counts are per sub-district.
_D, _S, _C = Level.DISTRICT, Level.SUBDISTRICT, Level.COMMUNITY
_F, _V, _B, _A = UnitKind.FOOT, UnitKind.VEHICLE, UnitKind.BOAT, UnitKind.DRONE
ROSTER: dict[Department, tuple[tuple[Level, UnitKind, int], ...]] = {
    Department.ECO_ENVIRONMENT: ((_D, _V, 2), (_D, _A, 1), (_S, _V, 1), (_S, _F, 1), (_C, _F, 1)),
    Department.WATER: ((_D, _V, 1), (_D, _A, 1), (_S, _V, 1), (_S, _F, 1), (_C, _F, 1)),
    Department.FORESTRY: ((_D, _A, 1), (_D, _V, 1), (_S, _F, 1), (_C, _F, 1)),
    Department.AGRICULTURE: ((_D, _V, 1), (_D, _A, 1), (_S, _V, 1), (_C, _F, 1)),
    Department.LAND_INSPECTION: ((_D, _V, 1), (_D, _A, 1), (_S, _V, 1), (_C, _F, 1)),
    Department.MARINE_FISHERIES: ((_D, _B, 2), (_D, _V, 1), (_S, _B, 1), (_C, _F, 1)),
    Department.FISHERY_MARITIME: ((_D, _B, 2), (_D, _A, 1), (_S, _B, 1), (_C, _F, 1)),
}
# Free-text skills until the project has an incident-type vocabulary.
SKILLS: dict[Department, tuple[str, ...]] = {
    Department.ECO_ENVIRONMENT: ("pollution", "waste_dumping", "sampling"),
    Department.WATER: ("water_pollution", "sewage_outfall", "flood"),
    Department.FORESTRY: ("forest_fire", "illegal_logging", "wildlife"),
    Department.AGRICULTURE: ("pesticide", "livestock_waste"),
    Department.LAND_INSPECTION: ("illegal_construction", "land_use", "quarrying"),
    Department.MARINE_FISHERIES: ("illegal_fishing", "marine_pollution", "aquaculture"),
    Department.FISHERY_MARITIME: ("illegal_fishing", "sea_patrol", "leisure_vessels"),
}
PATROL_KMH = {_F: (4.0, 5.5), _V: (20.0, 40.0), _B: (15.0, 25.0), _A: (38.0, 42.0)}
EN_ROUTE_KMH = {_F: (5.0, 6.0), _V: (40.0, 60.0), _B: (30.0, 40.0), _A: (38.0, 42.0)}
LEG_M = {_F: 1_500.0, _V: 8_000.0, _B: 5_000.0, _A: 3_000.0}  # longest straight leg
ACCURACY_M = {_F: (5.0, 15.0), _V: (3.0, 8.0), _B: (5.0, 15.0), _A: (1.5, 5.0)}
COMMUNITY_RADIUS_M = 2_000.0
REPORT_MS = (5_000, 10_000)
P_DISPATCH = 0.002  # per report while available: ~1 dispatch per unit per hour
P_OFF_DUTY = 0.0008
_PICK_TRIES = 12


@dataclass
class Unit:
    unit_id: str
    name: str
    department: Department
    kind: UnitKind
    level: Level
    subdistrict: Subdistrict | None
    skills: tuple[str, ...]
    callsign: str
    home: LonLat
    pos: LonLat
    target: LonLat | None = None
    route: list[LonLat] = field(default_factory=list)  # waypoints after target (a planned way)
    speed_kmh: float = 0.0
    course: float = 0.0
    status: UnitStatus = UnitStatus.AVAILABLE
    status_until_ms: int = 0
    dwell_until_ms: int = 0
    seq: int = -1
    last_ms: int | None = None
    pick_failures: int = 0
    task: Task | None = None  # a real dispatch from the centre (simulator/tasks.py)


def _communities() -> dict[str, list[str]]:
    """Community (社区) short names per sub-district, from config/geo/dapeng_communities.csv."""
    out: dict[str, list[str]] = {s: [] for s in SUBDISTRICT_CODES.values()}
    path = CONFIG_DIR / "geo" / "dapeng_communities.csv"
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            sub = SUBDISTRICT_CODES.get(row["streetCode"])
            if sub:
                out[sub].append(row["name"].removesuffix("居委会"))
    return out


class UnitFleet:
    """All units and the rules that move them; deterministic for a given rng."""

    def __init__(
        self,
        geo: Geography,
        rng: random.Random,
        multiplier: int = 1,
        interval_scale: float = 1.0,
        start_ms: int = 0,
        travel: TravelModel | None = None,
    ) -> None:
        self.geo = geo
        # the centre's own model (~0.1 s to build), so units drive the ways its ETAs assume
        self.travel = travel or TravelModel.from_geography(geo)
        self.rng = rng
        self.interval_scale = interval_scale
        self.units: list[Unit] = []
        communities = _communities()
        counters: dict[Department, int] = {}
        for _ in range(multiplier):
            for dept, rows in ROSTER.items():
                for level, kind, count in rows:
                    subs = [None] if level is Level.DISTRICT else list(Subdistrict)
                    for sub in subs:
                        for _ in range(count):
                            counters[dept] = counters.get(dept, 0) + 1
                            self.units.append(
                                self._make(dept, level, kind, sub, counters[dept], communities)
                            )
        self.by_id = {u.unit_id: u for u in self.units}
        self.tasks_seen: dict[str, tasks.Seen] = {}  # unit -> notices it already took
        self.task_seq: dict[str, int] = {}
        for u in self.units:
            if rng.random() < 0.08:
                u.status = UnitStatus.OFF_DUTY
                u.status_until_ms = start_ms + rng.randint(5, 40) * 60_000

    def _make(
        self,
        dept: Department,
        level: Level,
        kind: UnitKind,
        sub: Subdistrict | None,
        n: int,
        communities: dict[str, list[str]],
    ) -> Unit:
        abbr = DEPARTMENT_ABBR[dept]
        home = self._home(kind, sub)
        if level is Level.DISTRICT:
            where = "区局"
        elif level is Level.SUBDISTRICT:
            where = f"{SUBDISTRICT_ZH[sub]}办"  # type: ignore[index]
        else:
            where = self.rng.choice(communities[sub] or [SUBDISTRICT_ZH[sub]])  # type: ignore[index]
        return Unit(
            unit_id=f"U-{abbr}-{n:03d}",
            name=f"{where}{DEPARTMENT_ZH[dept]}{KIND_ZH[kind]}{n}",
            department=dept,
            kind=kind,
            level=level,
            subdistrict=sub,
            skills=SKILLS[dept],
            callsign=f"DP-{abbr}{n:02d}",
            home=home,
            pos=home,
            course=self.rng.uniform(0, 359),
        )

    def _home(self, kind: UnitKind, sub: Subdistrict | None) -> LonLat:
        if kind is UnitKind.BOAT:
            if sub is None:
                return self.geo.random_sea_point(self.rng, "district")
            seat = tuple(self.geo.subdistrict_props[sub]["seat"])
            near = self._try_sea_near(seat, 8_000.0)  # type: ignore[arg-type]
            return near or self.geo.random_sea_point(self.rng, "district")
        return self.geo.random_land_point(self.rng, sub)

    def _try_sea_near(self, near: LonLat, radius_m: float) -> LonLat | None:
        try:
            return self.geo.random_sea_point(self.rng, "district", near=near, radius_m=radius_m)
        except ValueError:
            return None

    # -- publishing ------------------------------------------------------------------------------

    def profile(self, u: Unit, now_ms: int) -> UnitProfile:
        return UnitProfile(
            unit_id=u.unit_id,
            ts=now_ms,
            name=u.name,
            department=u.department,
            kind=u.kind,
            level=u.level,
            subdistrict=u.subdistrict,
            skills=u.skills,
            callsign=u.callsign,
        )

    def next_interval_ms(self, u: Unit) -> int:
        return max(1, int(self.rng.randint(*REPORT_MS) * self.interval_scale))

    def report(self, u: Unit, now_ms: int) -> list[UnitStatusChange | UnitPosition | TaskReport]:
        """Advance the unit to now_ms; status changes and task reports (if any) come before the
        position."""
        out: list[UnitStatusChange | UnitPosition | TaskReport] = []
        self._move(u, now_ms)
        if u.task is not None:
            statuses, reports = self._task_step(u, now_ms)
        else:
            statuses, reports = self._decide(u, now_ms), []
        for status in statuses:
            out.append(UnitStatusChange(unit_id=u.unit_id, ts=now_ms, status=status))
        out += reports
        u.seq += 1
        moving = u.target is not None and now_ms >= u.dwell_until_ms and u.speed_kmh > 0
        out.append(
            UnitPosition(
                unit_id=u.unit_id,
                seq=u.seq,
                ts=now_ms,
                lon=round(u.pos[0], 6),
                lat=round(u.pos[1], 6),
                speed_kmh=round(u.speed_kmh if moving else 0.0, 1),
                course=round(u.course, 1) % 360.0,
                accuracy_m=round(self.rng.uniform(*ACCURACY_M[u.kind]), 1),
                status=u.status,
            )
        )
        return out

    # -- real dispatches ---------------------------------------------------------------------------

    def dispatch(self, notice: DispatchNotice, now_ms: int) -> Unit | None:
        """Take a notice: the unit it names starts a task after its reaction time. None if
        the notice changes nothing (unknown unit, scene far outside the district, a
        redelivery, the incident the unit is already on)."""
        u = self.by_id.get(notice.unit_id)
        scene = (notice.lon, notice.lat)
        if u is None:
            log.warning("ignored a dispatch notice for unknown unit %s", notice.unit_id)
            return None
        if not tasks.in_area(self.geo, scene):
            log.warning(
                "ignored a dispatch notice for %s: scene %s is outside the district",
                u.unit_id,
                scene,
            )
            return None
        if u.task is not None and u.task.incident_id == notice.incident_id:
            return None
        if not self.tasks_seen.setdefault(u.unit_id, tasks.Seen()).add(
            (notice.incident_id, notice.ts)
        ):
            return None
        # on an acknowledged task, the crew carries on with it until it acknowledges this one
        busy = u.task is not None and (u.task.phase != "notified" or u.task.pre_empting)
        u.task = Task(
            notice.incident_id,
            notice.ts,
            asked=scene,
            scene=tasks.reachable_scene(self.geo, u.kind, scene),
            until_ms=now_ms + self.rng.randint(*tasks.REACTION_MS[notice.priority]),
            pre_empting=busy,
        )
        return u

    def next_report_ms(self, u: Unit, now_ms: int) -> int:
        """The next regular report, or earlier when the task moves on (acknowledged, arrived,
        handled): crews report those when they happen."""
        regular = now_ms + self.next_interval_ms(u)
        t = u.task
        if t is None:
            return regular
        due = t.until_ms
        if t.phase == "en_route":
            speed = u.speed_kmh / 3.6 * self._progress(u)
            if u.target is None or speed <= 0:
                due = now_ms
            else:
                left = route.length_m([u.pos, u.target, *u.route])
                due = max(now_ms, u.dwell_until_ms) + math.ceil(left / speed * 1000)
        return min(regular, max(due, now_ms + 1_000))

    def _task_report(self, u: Unit, action: str, now_ms: int, note: str = "") -> TaskReport:
        self.task_seq[u.unit_id] = self.task_seq.get(u.unit_id, 0) + 1
        assert u.task is not None
        return tasks.report(
            u.unit_id, u.task.incident_id, action, self.task_seq[u.unit_id], now_ms, note
        )

    def _task_step(self, u: Unit, now_ms: int) -> tuple[list[UnitStatus], list[TaskReport]]:
        t = u.task
        assert t is not None
        if t.phase == "notified" and now_ms < t.until_ms:
            if t.pre_empting or u.status is UnitStatus.DISPATCHED:
                return [], []
            u.target, u.status = None, UnitStatus.DISPATCHED  # stops to read the notice
            u.route.clear()
            return [UnitStatus.DISPATCHED], []
        if t.phase == "notified":
            return self._set_off(u, t, now_ms)
        if t.phase == "en_route":
            if u.target is not None and haversine_m(*u.pos, *t.scene) > tasks.ARRIVED_M:
                return [], []
            u.target = None
            u.route.clear()
            t.phase, t.until_ms = "on_scene", now_ms + self.rng.randint(*tasks.HANDLING_MS)
            u.status = UnitStatus.ON_SCENE
            note = tasks.arrival_note(u.kind, u.pos, t)
            return [UnitStatus.ON_SCENE], [self._task_report(u, "arrived", now_ms, note)]
        if now_ms >= t.until_ms:  # on scene, done
            done = self._task_report(u, "handled", now_ms)
            u.task, u.status = None, UnitStatus.AVAILABLE
            self._head_home(u, now_ms)
            return [UnitStatus.AVAILABLE], [done]
        return [], []

    def _set_off(self, u: Unit, t: Task, now_ms: int) -> tuple[list[UnitStatus], list[TaskReport]]:
        """Acknowledge, plan the way and go."""
        way = route.plan(self.travel, self.geo, u.kind, u.pos, t.scene)
        if not way.reached:
            log.info("%s finds no way to %s; goes as near as it can", u.unit_id, t.scene)
            t.scene, t.cut_off = (way.points[-1] if way.points else u.pos), True
        t.phase = "en_route"
        u.route = list(way.points)
        u.target = u.route.pop(0) if u.route else None
        u.speed_kmh = self.rng.uniform(*tasks.TASK_KMH[u.kind])
        u.dwell_until_ms = now_ms
        entered = [] if u.status is UnitStatus.EN_ROUTE else [UnitStatus.EN_ROUTE]
        u.status = UnitStatus.EN_ROUTE
        km = route.length_m([u.pos, *way.points]) / 1000
        minutes = km / (u.speed_kmh * self._progress(u)) * 60
        # an officer's note, in the bureau's language (the console shows it as written)
        note = f"已出发，距现场约 {km:.1f} 公里，预计 {max(1, round(minutes))} 分钟到达"
        return entered, [self._task_report(u, "ack", now_ms, note)]

    def _progress(self, u: Unit) -> float:
        """Ground progress per unit of speed: roads and paths wind on the way to a scene."""
        if u.task is not None and u.status is UnitStatus.EN_ROUTE:
            return 1.0 / tasks.ROAD_WINDING.get(u.kind, 1.0)
        return 1.0

    def _head_home(self, u: Unit, now_ms: int) -> None:
        """Back to the patrol area by a way that stays in the unit's medium (a straight patrol
        leg from a far scene may cross water), patrolling again from there."""
        way = route.plan(self.travel, self.geo, u.kind, u.pos, u.home)
        u.route = list(way.points)
        u.target = u.route.pop(0) if u.route else None
        u.speed_kmh = self.rng.uniform(*PATROL_KMH[u.kind])
        u.dwell_until_ms = now_ms + self.rng.randint(0, 60) * 1000

    # -- movement --------------------------------------------------------------------------------

    def _move(self, u: Unit, now_ms: int) -> None:
        last, u.last_ms = u.last_ms, now_ms
        if last is None or u.target is None:
            return
        start = max(last, u.dwell_until_ms)
        if now_ms <= start:
            return
        dist = u.speed_kmh / 3.6 * self._progress(u) * (now_ms - start) / 1000.0
        while u.target is not None:  # along the planned way, leg after leg
            if u.target != u.pos:
                u.course = bearing_deg(u.pos, u.target)
            left = haversine_m(*u.pos, *u.target)
            u.pos = move_towards(u.pos, u.target, dist)
            if u.pos != u.target:
                break
            dist -= left
            u.target = u.route.pop(0) if u.route else None
            if dist <= 0:
                break

    def _decide(self, u: Unit, now_ms: int) -> list[UnitStatus]:
        """The status machine; returns the statuses entered, in order."""
        rng, entered = self.rng, []

        def enter(status: UnitStatus, until_ms: int = 0) -> None:
            u.status, u.status_until_ms = status, until_ms
            entered.append(status)

        s = u.status
        if s is UnitStatus.AVAILABLE:
            if rng.random() < P_OFF_DUTY:
                u.target = None
                u.route.clear()
                enter(UnitStatus.OFF_DUTY, now_ms + rng.randint(10, 40) * 60_000)
            elif rng.random() < P_DISPATCH:
                u.target = None
                u.route.clear()
                enter(UnitStatus.DISPATCHED, now_ms + rng.randint(20, 60) * 1000)
            elif u.target is None:
                self._patrol_leg(u, now_ms)
        elif s is UnitStatus.DISPATCHED and now_ms >= u.status_until_ms:
            if self._pick(u, scene=True):
                u.speed_kmh = rng.uniform(*EN_ROUTE_KMH[u.kind])
                u.dwell_until_ms = now_ms
                enter(UnitStatus.EN_ROUTE)
            elif u.pick_failures >= 3:
                enter(UnitStatus.AVAILABLE)
        elif s is UnitStatus.EN_ROUTE and u.target is None:
            enter(UnitStatus.ON_SCENE, now_ms + rng.randint(3, 15) * 60_000)
        elif s in (UnitStatus.ON_SCENE, UnitStatus.OFF_DUTY) and now_ms >= u.status_until_ms:
            enter(UnitStatus.AVAILABLE)
            self._patrol_leg(u, now_ms)
        return entered

    def _patrol_leg(self, u: Unit, now_ms: int) -> None:
        if self._pick(u, scene=False):
            u.speed_kmh = self.rng.uniform(*PATROL_KMH[u.kind])
            # Pause between legs, as patrols stop to look around.
            u.dwell_until_ms = now_ms + self.rng.randint(0, 60) * 1000

    def _pick(self, u: Unit, scene: bool) -> bool:
        """Choose the next target reachable in a straight line without changing medium."""
        leg = LEG_M[u.kind] * (2.0 if scene else 1.0)
        for _ in range(_PICK_TRIES):
            cand = self._candidate(u, leg)
            if cand is not None and self._path_ok(u.kind, u.pos, cand):
                u.target, u.pick_failures = cand, 0
                u.route.clear()
                return True
        u.pick_failures += 1
        return False

    def _candidate(self, u: Unit, leg_m: float) -> LonLat | None:
        geo, rng = self.geo, self.rng
        # Community units stay around their community; others roam their sub-district/district.
        near, radius = (
            (u.home, COMMUNITY_RADIUS_M) if u.level is Level.COMMUNITY else (u.pos, leg_m)
        )
        try:
            if u.kind is UnitKind.BOAT:
                home_r = 10_000.0 if u.level is not Level.DISTRICT else None
                p = geo.random_sea_point(rng, "district", near=u.pos, radius_m=leg_m)
                if home_r and haversine_m(*p, *u.home) > home_r:
                    return None
                return p
            if u.kind is UnitKind.DRONE:
                if rng.random() < 0.7:
                    return geo.random_land_point(rng, u.subdistrict, near=near, radius_m=radius)
                return geo.random_sea_point(rng, "district", near=near, radius_m=radius)
            return geo.random_land_point(rng, u.subdistrict, near=near, radius_m=radius)
        except ValueError:
            return None

    def _path_ok(self, kind: UnitKind, a: LonLat, b: LonLat) -> bool:
        if kind is UnitKind.BOAT:
            return self.geo.segment_stays_at_sea(a, b)
        if kind is UnitKind.DRONE:
            return self.geo.in_district(*b)
        return self.geo.segment_stays_on_land(a, b)
