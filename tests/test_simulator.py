"""The simulator's pure parts, driven step by step without a broker."""

from __future__ import annotations

import itertools
import math
import random
import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from pyais import decode
from shapely.geometry import LineString, Point

from config.settings import Settings
from domain.geo import Geography, haversine_m, load_geography, move_towards
from domain.payloads import (
    SensorProfile,
    SensorReading,
    UnitPosition,
    UnitProfile,
    UnitStatusChange,
)
from domain.travel import TravelModel
from domain.vocab import Department, Level, SensorKind, UnitKind, UnitStatus
from domain.water_quality import breaches
from simulator import route, tasks
from simulator.main import Simulation, run
from simulator.units import DEPARTMENT_ABBR
from simulator.vessels import LANES, tag_block
from tests.helpers import dispatch_notice, subscribe

T0 = 1_800_000_000_000  # 2027-01-15, epoch ms
MAX_KMH = {UnitKind.FOOT: 6.0, UnitKind.VEHICLE: 60.0, UnitKind.BOAT: 40.0, UnitKind.DRONE: 42.0}
MIN_MOVING_KMH = {
    UnitKind.FOOT: 4.0,
    UnitKind.VEHICLE: 20.0,
    UnitKind.BOAT: 15.0,
    UnitKind.DRONE: 38.0,
}
ALLOWED_TRANSITIONS = {
    (UnitStatus.AVAILABLE, UnitStatus.DISPATCHED),
    (UnitStatus.AVAILABLE, UnitStatus.OFF_DUTY),
    (UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE),
    (UnitStatus.DISPATCHED, UnitStatus.AVAILABLE),
    (UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE),
    (UnitStatus.ON_SCENE, UnitStatus.AVAILABLE),
    (UnitStatus.OFF_DUTY, UnitStatus.AVAILABLE),
}
TAG_RE = re.compile(r"^\\([^\\*]*)\*([0-9A-F]{2})\\")


@dataclass
class Run:
    sim: Simulation
    messages: list[tuple[int, str, bytes, bool]] = field(default_factory=list)  # (t, topic, ...)
    vessel_pos: dict[int, dict[int, tuple[float, float]]] = field(default_factory=dict)
    silent_seen: set[int] = field(default_factory=set)
    zone_visits: Counter[str] = field(default_factory=Counter)

    def topics(self, leaf: str) -> list[tuple[int, str, bytes, bool]]:
        return [m for m in self.messages if m[1].endswith("/" + leaf)]


def simulate(
    seed: int, minutes: float, step_s: int = 1, rate: float = 1.0, track: bool = True
) -> Run:
    geo = load_geography()
    r = Run(Simulation("ecocommand", rate=rate, seed=seed, start_ms=T0))
    for t in range(T0, T0 + int(minutes * 60_000) + 1, step_s * 1000):
        r.messages += [(t, *m) for m in r.sim.step(t)]
        if track:
            r.vessel_pos[t] = {v.mmsi: v.pos for v in r.sim.vessels.vessels}
            for v in r.sim.vessels.vessels:
                if v.silent_until_ms > t:
                    r.silent_seen.add(v.mmsi)
                for z in geo.zones_at(*v.pos):
                    r.zone_visits[z["id"]] += 1
    return r


@pytest.fixture(scope="module")
def short() -> Run:
    return simulate(seed=11, minutes=20)


@pytest.fixture(scope="module")
def long() -> Run:
    return simulate(seed=12, minutes=150, step_s=5)


def _device(topic: str) -> str:
    return topic.split("/")[2]


# -- units ------------------------------------------------------------------------------------


def test_roster(short: Run) -> None:
    units = short.sim.units.units
    assert len(units) >= 60
    assert {u.department for u in units} == set(Department)
    assert {u.level for u in units} == set(Level)
    assert {u.kind for u in units} == set(UnitKind)
    assert len({u.unit_id for u in units}) == len(units)
    for u in units:
        assert re.fullmatch(rf"U-{DEPARTMENT_ABBR[u.department]}-\d{{3}}", u.unit_id)
        assert (u.subdistrict is None) == (u.level is Level.DISTRICT)


def test_profiles_are_retained_and_valid(short: Run) -> None:
    profiles = short.topics("profile")
    unit_profiles = [m for m in profiles if "/units/" in m[1]]
    assert len(unit_profiles) == len(short.sim.units.units)
    for t, topic, payload, retain in profiles:
        assert t == T0 and retain
        model = UnitProfile if "/units/" in topic else SensorProfile
        p = model.model_validate_json(payload)
        assert _device(topic) == (p.unit_id if isinstance(p, UnitProfile) else p.sensor_id)
        if isinstance(p, UnitProfile):
            assert p.name and p.skills and p.callsign


def test_unit_messages_validate_and_are_ordered(short: Run) -> None:
    positions: dict[str, list[UnitPosition]] = defaultdict(list)
    for t, topic, payload, retain in short.messages:
        if "/units/" not in topic or topic.endswith("/profile"):
            continue
        assert topic.startswith("ecocommand/units/") and not retain
        if topic.endswith("/position"):
            p = UnitPosition.model_validate_json(payload)
            positions[p.unit_id].append(p)
        else:
            assert topic.endswith("/status")
            p = UnitStatusChange.model_validate_json(payload)
        assert p.unit_id == _device(topic) and p.ts == t
    assert set(positions) == {u.unit_id for u in short.sim.units.units}
    for track in positions.values():
        seqs = [p.seq for p in track]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # strictly increasing by one
        gaps = [b.ts - a.ts for a, b in itertools.pairwise(track)]
        assert all(5_000 <= g <= 11_000 for g in gaps), gaps  # every 5-10 s, at 1 s steps


def test_units_stay_in_their_medium_at_plausible_speeds(short: Run, geo: Geography) -> None:
    kinds = {u.unit_id: u.kind for u in short.sim.units.units}
    last: dict[str, UnitPosition] = {}
    moving = Counter()
    for _, topic, payload, _ in short.topics("position"):
        if "/units/" not in topic:
            continue
        p = UnitPosition.model_validate_json(payload)
        kind = kinds[p.unit_id]
        if kind in (UnitKind.FOOT, UnitKind.VEHICLE):
            assert geo.is_land(p.lon, p.lat), p
        elif kind is UnitKind.BOAT:
            assert geo.is_sea(p.lon, p.lat), p
        else:
            assert geo.in_coverage(p.lon, p.lat)
        assert 0 <= p.speed_kmh <= MAX_KMH[kind]
        if p.speed_kmh > 0:
            moving[kind] += 1
            assert p.speed_kmh >= MIN_MOVING_KMH[kind]
        if p.unit_id in last:
            a = last[p.unit_id]
            kmh = haversine_m(a.lon, a.lat, p.lon, p.lat) / ((p.ts - a.ts) / 1000) * 3.6
            assert kmh <= MAX_KMH[kind] * 1.01 + 0.1, (p.unit_id, kmh)
        last[p.unit_id] = p
    assert set(moving) == set(UnitKind)  # every kind actually moves


def test_status_changes_follow_the_status_machine(long: Run) -> None:
    current = {u.unit_id: None for u in long.sim.units.units}
    changes = Counter()
    for _, topic, payload, _ in long.messages:
        if "/units/" not in topic:
            continue
        if topic.endswith("/status"):
            s = UnitStatusChange.model_validate_json(payload)
            before = current[s.unit_id]
            if before is not None:
                assert (before, s.status) in ALLOWED_TRANSITIONS
            current[s.unit_id] = s.status
            changes[s.status] += 1
        elif topic.endswith("/position"):
            p = UnitPosition.model_validate_json(payload)
            if current[p.unit_id] is None:
                current[p.unit_id] = p.status
            assert p.status == current[p.unit_id]
    assert set(changes) == set(UnitStatus)


# -- sensors ----------------------------------------------------------------------------------


def test_sensor_points(short: Run, geo: Geography) -> None:
    sensors = short.sim.sensors.sensors
    sea = [s for s in sensors if s.kind is SensorKind.SEAWATER]
    fresh = [s for s in sensors if s.kind is SensorKind.SURFACE_WATER]
    assert len(sea) == 6 and 4 <= len(fresh) <= 6
    for s in sea:
        assert s.water_class == "I"
        assert geo.is_sea(*s.pos) and geo.in_district(*s.pos)
        assert geo.district_land.distance(Point(s.pos)) < 0.03  # near the coast (~3 km)
    for s in fresh:
        assert s.water_class in ("II", "III")
        assert geo.is_land(*s.pos) and geo.in_district(*s.pos)
    assert all(s.subdistrict is not None for s in sensors)


def test_sensor_readings(short: Run) -> None:
    expected = {
        SensorKind.SEAWATER: {
            "pH",
            "dissolved_oxygen",
            "COD",
            "inorganic_nitrogen_as_N",
            "active_phosphate_as_P",
            "petroleum",
        },
        SensorKind.SURFACE_WATER: {
            "pH",
            "dissolved_oxygen",
            "CODMn_permanganate_index",
            "COD",
            "NH3_N",
            "TP_as_P",
        },
    }
    by_id = {s.sensor_id: s for s in short.sim.sensors.sensors}
    seqs: dict[str, list[int]] = defaultdict(list)
    for t, topic, payload, retain in short.topics("reading"):
        r = SensorReading.model_validate_json(payload)
        assert r.sensor_id == _device(topic) and r.ts == t and not retain
        assert set(r.values) == expected[by_id[r.sensor_id].kind]
        seqs[r.sensor_id].append(r.seq)
    assert set(seqs) == set(by_id)
    for s in seqs.values():
        assert s == list(range(s[0], s[0] + len(s)))
        assert 35 <= len(s) <= 45  # every ~30 s for 20 minutes


def test_readings_mostly_within_class_with_occasional_breaches(long: Run) -> None:
    profiles = {s.sensor_id: s for s in long.sim.sensors.sensors}
    total = breached = 0
    for _, _, payload, _ in long.topics("reading"):
        r = SensorReading.model_validate_json(payload)
        s = profiles[r.sensor_id]
        total += 1
        breached += bool(breaches(s.kind.value, s.water_class, r.values))
    assert total > 3000
    assert 0 < breached < 0.1 * total


# -- vessels ----------------------------------------------------------------------------------


def test_vessel_fleet(short: Run) -> None:
    vessels = short.sim.vessels.vessels
    assert len(vessels) >= 150
    mmsis = [v.mmsi for v in vessels]
    assert len(set(mmsis)) == len(mmsis)
    mids = Counter(m // 1_000_000 for m in mmsis)
    assert mids[413] > len(vessels) / 3 and mids[477] > 0
    assert all(100_000_000 <= m <= 999_999_999 for m in mmsis)
    assert {v.role for v in vessels} >= {"fishing", "leisure", "cargo", "tanker", "ferry"}
    assert {v.ais_class for v in vessels} == {"A", "B"}
    assert {v.where for v in vessels if not v.lane} == {"dapeng_bay", "daya_bay"}
    for v in vessels:
        assert 0 < len(v.name) <= 20 and v.name == v.name.upper()


def test_vessels_stay_at_sea(short: Run, geo: Geography) -> None:
    for t, positions in list(short.vessel_pos.items())[::30]:
        for mmsi, p in positions.items():
            assert geo.is_sea(*p), (t, mmsi, p)


@pytest.mark.parametrize("lane", sorted(LANES))
def test_lanes_stay_at_sea(geo: Geography, lane: str) -> None:
    pts = LANES[lane]
    assert all(geo.segment_stays_at_sea(a, b) for a, b in itertools.pairwise(pts))


@dataclass
class Decoded:
    t: int
    receiver: str
    msg: Any
    lines: list[str]
    tagged: bool
    one_payload: bool


def _checksum_ok(sentence: str) -> bool:
    body, _, cs = sentence[1:].partition("*")
    x = 0
    for ch in body.encode("ascii"):
        x ^= ch
    return f"{x:02X}" == cs


def decode_ais(messages: list[tuple[int, str, bytes, bool]]) -> tuple[list[Decoded], Counter]:
    """Reassemble and decode the simulator's NMEA like a receiver-side decoder would."""
    out: list[Decoded] = []
    stats: Counter[str] = Counter()
    pending: dict[tuple[str, str, str], tuple[list[str], int]] = {}
    for t, topic, payload, retain in messages:
        if "/ais/" not in topic:
            continue
        assert topic.endswith("/nmea") and not retain
        rx = _device(topic)
        lines = payload.decode("ascii").split("\n")
        stats["payloads"] += 1
        stats["multi_line_payloads"] += len(lines) > 1
        for raw in lines:
            m = TAG_RE.match(raw)
            tagged = m is not None
            if m:
                assert tag_block(int(m.group(1).removeprefix("c:"))) == m.group(0)
                assert int(m.group(1).removeprefix("c:")) == t // 1000
                raw = raw[m.end() :]
            stats["tagged" if tagged else "untagged"] += 1
            assert raw.startswith("!AIVDM,") and _checksum_ok(raw), raw
            f = raw.split(",")
            total, index, seq, channel = int(f[1]), int(f[2]), f[3], f[4]
            stats["channel_" + channel] += 1
            if total == 1:
                out.append(Decoded(t, rx, decode(raw), [raw], tagged, True))
                continue
            key = (rx, seq, channel)
            parts, first_payload = pending.get(key, ([], stats["payloads"]))
            parts.append(raw)
            assert int(parts[-1].split(",")[2]) == len(parts)  # parts arrive in order
            if index == total:
                one = first_payload == stats["payloads"]
                stats["multipart_one_payload" if one else "multipart_split"] += 1
                out.append(Decoded(t, rx, decode(*parts), parts, tagged, one))
                pending.pop(key, None)
            else:
                pending[key] = (parts, first_payload)
    assert not pending
    return out, stats


def test_ais_decodes_to_the_simulated_vessels(short: Run) -> None:
    decoded, stats = decode_ais(short.messages)
    vessels = {v.mmsi: v for v in short.sim.vessels.vessels}
    types: dict[int, set[int]] = defaultdict(set)
    positions = 0
    for d in decoded:
        m = d.msg
        v = vessels[m.mmsi]
        types[m.mmsi].add(m.msg_type)
        if m.msg_type in (1, 18):
            lon, lat = short.vessel_pos[d.t][m.mmsi]
            assert abs(m.lon - lon) < 1e-4 and abs(m.lat - lat) < 1e-4
            assert 0 <= m.speed <= 25
            positions += 1
        elif m.msg_type == 5:
            assert m.shipname == v.name and m.callsign == v.callsign
            assert m.ship_type == v.ship_type and len(d.lines) == 2
        else:
            assert m.msg_type == 24
            if m.partno == 0:
                assert m.shipname == v.name
            else:
                assert m.ship_type == v.ship_type and m.callsign == v.callsign
    assert positions > 5_000
    for mmsi, seen in types.items():
        assert seen <= ({1, 5} if vessels[mmsi].ais_class == "A" else {18, 24}), mmsi
    # Every vessel sends static data at the start.
    assert all(types[mmsi] & {5, 24} for mmsi in vessels)
    # Receivers' variety: both channels, tag blocks or not, several lines per payload, and
    # type 5 mostly in one payload, sometimes split over two.
    assert stats["channel_A"] and stats["channel_B"]
    assert stats["tagged"] and stats["untagged"]
    assert stats["multi_line_payloads"]
    assert stats["multipart_one_payload"] > stats["multipart_split"] > 0


def test_vessels_enter_zones_and_go_silent(long: Run) -> None:
    assert long.zone_visits  # occasionally a vessel is inside a zone
    assert long.silent_seen  # and occasionally one goes quiet for a few minutes
    assert len(long.silent_seen) < len(long.sim.vessels.vessels) / 2


def test_a_silent_vessel_sends_nothing_until_it_is_back() -> None:
    sim = Simulation(seed=9, start_ms=T0)
    sim.step(T0)
    v = sim.vessels.vessels[0]
    v.silent_until_ms = T0 + 180_000
    messages = [(t, *m) for t in range(T0 + 1000, T0 + 600_000, 1000) for m in sim.step(t)]
    decoded, _ = decode_ais(messages)
    heard = [d.t for d in decoded if d.msg.mmsi == v.mmsi]
    assert heard and min(heard) >= T0 + 180_000


# -- determinism, rate, publishing ------------------------------------------------------------


def test_same_seed_same_messages() -> None:
    a = simulate(seed=3, minutes=2, track=False).messages
    b = simulate(seed=3, minutes=2, track=False).messages
    c = simulate(seed=4, minutes=2, track=False).messages
    assert a == b
    assert a != c


def test_rate_scales_messages() -> None:
    def per_minute(rate: float) -> float:
        r = simulate(seed=5, minutes=6, rate=rate, track=False)
        late = [m for m in r.messages if m[0] >= T0 + 60_000]  # after the start-up burst
        return len(late) / 5

    base = per_minute(1.0)
    assert per_minute(0.5) == pytest.approx(base / 2, rel=0.2)
    assert per_minute(2.5) == pytest.approx(base * 2.5, rel=0.2)
    sim = Simulation(rate=3, seed=1, start_ms=T0)
    assert len(sim.units.units) == 3 * len(Simulation(seed=1, start_ms=T0).units.units)
    assert len({u.unit_id for u in sim.units.units}) == len(sim.units.units)
    assert len({v.mmsi for v in sim.vessels.vessels}) == len(sim.vessels.vessels)


def test_payloads_are_orjson(short: Run) -> None:
    for _, topic, payload, _ in short.messages[:500]:
        if "/ais/" not in topic:
            assert isinstance(orjson.loads(payload), dict)


def _stops_promptly(settings: Settings) -> None:
    stop = threading.Event()
    t = threading.Thread(target=run, args=(settings,), kwargs={"stop": stop, "seed": 1})
    t.start()
    # a sleep on purpose: time passing is the test (refused connects, then back-off waits)
    time.sleep(2.5)
    stop.set()
    t.join(timeout=3)
    assert not t.is_alive()


def test_run_stops_promptly_without_a_broker(settings: Settings, r: Any) -> None:
    # Redis is there (the devices are provisioned), the broker is not: every device's connect
    # is refused and retried with back-off
    _stops_promptly(settings.model_copy(update={"mqtt_url": "mqtt://127.0.0.1:9"}))


def test_run_stops_promptly_without_redis() -> None:
    # waiting for Redis to provision the devices, before any connection
    _stops_promptly(Settings(mqtt_url="mqtt://127.0.0.1:9", redis_url="redis://127.0.0.1:9/0"))


def test_position_payload_fields(short: Run) -> None:
    _, _, payload, _ = next(m for m in short.messages if m[1].endswith("/position"))
    data = orjson.loads(payload)
    assert set(data) == {
        "unit_id",
        "seq",
        "ts",
        "lat",
        "lon",
        "speed_kmh",
        "course",
        "accuracy_m",
        "status",
    }


# -- real dispatches ------------------------------------------------------------------------


def _notice(unit_id: str, incident: str, lon: float, lat: float) -> bytes:
    return dispatch_notice(
        unit_id, lon, lat, incident=incident, ts=1_764_300_000_000, kind="illegal_logging"
    )


def _run_task(
    sim: Simulation, unit_id: str, start: int, minutes: int
) -> list[tuple[int, str, dict]]:
    out = []
    for t in range(start, start + minutes * 60_000, 5_000):
        for topic, payload, _retain in sim.step(t):
            if f"/units/{unit_id}/" in topic and not topic.endswith("/profile"):
                out.append((t, topic.rsplit("/", 1)[1], orjson.loads(payload)))
    return out


def test_a_unit_answers_a_notice_drives_there_and_handles_it() -> None:
    from domain.geo import haversine_m, load_geography

    geo = load_geography()
    sim = Simulation(seed=5, start_ms=T0)
    sim.step(T0)
    u = next(x for x in sim.units.units if x.kind.value == "vehicle")
    u.status = type(u.status).AVAILABLE
    scene = geo.random_land_point(random.Random(3), near=u.pos, radius_m=3000)
    assert sim.on_dispatch(_notice(u.unit_id, "INC-1", *scene), T0)
    assert not sim.on_dispatch(_notice(u.unit_id, "INC-1", *scene), T0)  # a repeat: once
    assert not sim.on_dispatch(b"{not json", T0)  # garbage is ignored, nothing breaks
    assert not sim.on_dispatch(_notice("NOBODY", "INC-2", *scene), T0)
    msgs = _run_task(sim, u.unit_id, T0 + 5_000, 20)
    tasks = [(m["action"], m["seq"]) for _t, leaf, m in msgs if leaf == "task"]
    assert tasks == [("ack", 1), ("arrived", 2), ("handled", 3)]
    statuses = [m["status"] for _t, leaf, m in msgs if leaf == "status"]
    assert statuses[:3] == ["en_route", "on_scene", "available"]
    en_route = [m for _t, leaf, m in msgs if leaf == "position" and m["status"] == "en_route"]
    assert en_route and all(geo.is_land(m["lon"], m["lat"]) for m in en_route)
    arrived = next(t for t, leaf, m in msgs if leaf == "task" and m["action"] == "arrived")
    at = next(m for t, leaf, m in msgs if leaf == "position" and t >= arrived)
    assert haversine_m(at["lon"], at["lat"], *scene) < 100


def test_a_boat_sent_to_a_shore_incident_stops_at_sea() -> None:
    from domain.geo import load_geography

    geo = load_geography()
    sim = Simulation(seed=5, start_ms=T0)
    sim.step(T0)
    boat = next(x for x in sim.units.units if x.kind.value == "boat")
    shore = geo.random_land_point(random.Random(4), near=boat.pos, radius_m=4000)
    assert sim.on_dispatch(_notice(boat.unit_id, "INC-9", *shore), T0)
    assert boat.task is not None and geo.is_sea(*boat.task.scene)
    msgs = _run_task(sim, boat.unit_id, T0 + 5_000, 30)
    assert all(geo.is_sea(m["lon"], m["lat"]) for _t, leaf, m in msgs if leaf == "position")
    assert "arrived" in [m.get("action") for _t, leaf, m in msgs if leaf == "task"]


# -- dispatch notices: the unit's side of the field loop -------------------------------------

TaskMsg = tuple[int, str, dict[str, Any]]  # (t, topic leaf, payload)


def _notice_for(
    unit_id: str,
    incident: str,
    scene: tuple[float, float],
    *,
    priority: int = 1,
    ts: int = T0,
    **over: Any,
) -> bytes:
    body = {
        "incident_id": incident,
        "unit_id": unit_id,
        "ts": ts,
        "type": "illegal_dumping",
        "priority": priority,
        "domain": "land",
        "lat": scene[1],
        "lon": scene[0],
        "summary": "倾倒建筑垃圾",
        "assigned_by": "chief-1",
    }
    return orjson.dumps(body | over)


def _fresh(seed: int = 21) -> Simulation:
    sim = Simulation(seed=seed, start_ms=T0)
    sim.step(T0)
    return sim


def _follow(
    sim: Simulation,
    unit_id: str,
    start: int,
    minutes: float,
    notices: dict[int, bytes] | None = None,
    step_ms: int = 1_000,
) -> list[TaskMsg]:
    """Step the simulation from `start`, delivering `notices` ({t: payload}) on the way; the
    unit's task reports, status changes and positions, in publishing order."""
    out: list[TaskMsg] = []
    for t in range(start, start + int(minutes * 60_000), step_ms):
        if notices and t in notices:
            sim.on_dispatch(notices[t], t, f"ecocommand/units/{unit_id}/dispatch")
        for topic, payload, _retain in sim.step(t):
            if topic.startswith(f"ecocommand/units/{unit_id}/") and "/profile" not in topic:
                out.append((t, topic.rsplit("/", 1)[1], orjson.loads(payload)))
    return out


def _reports(msgs: list[TaskMsg]) -> list[dict[str, Any]]:
    return [m for _t, leaf, m in msgs if leaf == "task"]


def _unit(sim: Simulation, kind: UnitKind, n: int = 0) -> Any:  # simulator.units.Unit
    return [u for u in sim.units.units if u.kind is kind][n]


def _check_track(msgs: list[TaskMsg], kind: UnitKind, geo: Geography) -> None:
    """Every position in the unit's medium, never faster than the speed it reports."""
    in_medium = geo.is_sea if kind is UnitKind.BOAT else geo.is_land
    pos = [m for _t, leaf, m in msgs if leaf == "position"]
    for p in pos:
        assert in_medium(p["lon"], p["lat"]), p
    for a, b in itertools.pairwise(pos):
        kmh = haversine_m(a["lon"], a["lat"], b["lon"], b["lat"]) / ((b["ts"] - a["ts"]) / 1000)
        assert kmh * 3.6 <= max(a["speed_kmh"], b["speed_kmh"], 6.0) * 1.02 + 0.5, (a, b)


def test_a_vehicle_takes_a_notice_drives_to_the_scene_handles_it_and_patrols_again(
    geo: Geography,
) -> None:
    sim = _fresh()
    u = _unit(sim, UnitKind.VEHICLE)
    rng = random.Random(1)
    scene = next(
        p
        for p in (geo.random_land_point(rng, near=u.pos, radius_m=2_500) for _ in range(500))
        if 1_800 <= haversine_m(*u.pos, *p) <= 2_500
    )
    t_notice = T0 + 3_000
    msgs = _follow(
        sim, u.unit_id, T0 + 1_000, 30, {t_notice: _notice_for(u.unit_id, "INC-1", scene)}
    )
    reports = _reports(msgs)
    assert [r["action"] for r in reports] == ["ack", "arrived", "handled"]
    assert all(r["incident_id"] == "INC-1" and r["unit_id"] == u.unit_id for r in reports)
    assert [r["seq"] for r in reports] == sorted({r["seq"] for r in reports})
    ack, arrived, handled = (r["ts"] for r in reports)
    assert 5_000 <= ack - t_notice <= 16_000  # priority 1: 5-15 s to answer
    assert "公里" in reports[0]["note"]  # the crew says how far it has to go
    # 2 km at 26-34 km/h on roads 1.3x the straight line: 5-8 minutes
    assert 3 * 60_000 <= arrived - ack <= 10 * 60_000
    assert 120_000 <= handled - arrived <= 361_000  # a few minutes on scene
    statuses = [m["status"] for _t, leaf, m in msgs if leaf == "status" and _t >= t_notice]
    assert statuses[-3:] == ["en_route", "on_scene", "available"]
    assert set(statuses[:-3]) <= {"dispatched"}  # stopped to read it, or answered first

    positions = [(t, m) for t, leaf, m in msgs if leaf == "position"]
    en_route = [m for t, m in positions if ack <= t < arrived]
    assert len(en_route) >= 15 and {m["status"] for m in en_route} == {"en_route"}
    dist = [haversine_m(m["lon"], m["lat"], *scene) for m in en_route]
    assert dist[-1] < dist[0] - 1_000 and all(b <= a + 1 for a, b in itertools.pairwise(dist))
    assert all(26 <= m["speed_kmh"] <= 34 for m in en_route[1:])
    at = next(m for t, m in positions if t == arrived)
    assert at["status"] == "on_scene" and haversine_m(at["lon"], at["lat"], *scene) <= 50
    on_scene = [m for t, m in positions if arrived <= t < handled]
    assert {m["status"] for m in on_scene} == {"on_scene"}
    assert all(haversine_m(m["lon"], m["lat"], *scene) <= 50 for m in on_scene)
    after = [m for t, m in positions if t >= handled]
    assert after and {m["status"] for m in after} <= {
        "available",
        "off_duty",
        "dispatched",
        "en_route",
        "on_scene",
    }
    assert after[0]["status"] == "available"
    ts = [m["ts"] for _t, _leaf, m in msgs]
    assert ts == sorted(ts)  # published in time order
    _check_track(msgs, UnitKind.VEHICLE, geo)
    assert u.task is None


def test_a_land_unit_goes_round_water_in_its_way(geo: Geography) -> None:

    sim = _fresh(seed=22)
    rng = random.Random(5)
    # a vehicle and a scene 2-6 km away with water on the straight line between them
    u, scene = next(
        (u, p)
        for u in sim.units.units
        if u.kind is UnitKind.VEHICLE
        for p in (geo.random_land_point(rng, near=u.pos, radius_m=6_000) for _ in range(100))
        if haversine_m(*u.pos, *p) > 2_000
        and not geo.segment_stays_on_land(u.pos, p)
        and route.plan(sim.units.travel, geo, u.kind, u.pos, p).reached
    )
    msgs = _follow(
        sim,
        u.unit_id,
        T0 + 1_000,
        40,
        {T0 + 3_000: _notice_for(u.unit_id, "INC-2", scene)},
        step_ms=2_000,
    )
    reports = _reports(msgs)
    assert [r["action"] for r in reports] == ["ack", "arrived", "handled"]
    assert reports[1]["note"] == ""  # at the scene itself
    _check_track(msgs, UnitKind.VEHICLE, geo)


def test_a_way_bends_round_a_cove_the_grid_cuts(geo: Geography, travel: TravelModel) -> None:
    """Round 大鹏澳 the travel grid's path clips the mouth of a creek at Nan'ao (two land cells
    joined across ~400 m of water); the car's way bends round it and stays ashore."""
    ao_south, ao_north = (114.52, 22.555), (114.52, 22.595)
    path = travel.path("vehicle", ao_south, ao_north)
    assert path is not None
    assert not all(geo.segment_stays_on_land(a, b) for a, b in itertools.pairwise(path))
    way = route.plan(travel, geo, UnitKind.VEHICLE, ao_south, ao_north)
    assert way.reached and way.points[-1] == ao_north
    pts = [ao_south, *way.points]
    assert all(geo.segment_stays_on_land(a, b) for a, b in itertools.pairwise(pts))
    assert route.length_m(pts) == pytest.approx(
        route.length_m(path), rel=0.05
    )  # the same way, bent


def test_with_no_way_there_a_unit_goes_as_near_as_it_can(
    geo: Geography, travel: TravelModel
) -> None:
    kuichong, island = (114.43, 22.63), (114.6502, 22.5728)  # an island in Daya Bay
    assert travel.path("vehicle", kuichong, island) is None
    way = route.plan(travel, geo, UnitKind.VEHICLE, kuichong, island)
    assert not way.reached
    pts = [kuichong, *way.points]
    assert all(geo.segment_stays_on_land(a, b) for a, b in itertools.pairwise(pts))
    # the end is the land cell nearest the island of all those a car at Kuichong can reach
    land = travel.graphs["land"]
    linked = [
        (float(x), float(y))
        for x, y, d in zip(land.lon, land.lat, travel.distances_from(kuichong, "land"), strict=True)
        if math.isfinite(d)
    ]
    nearest = min(haversine_m(*p, *island) for p in linked)
    assert haversine_m(*pts[-1], *island) == pytest.approx(nearest)
    assert nearest < 6_000  # the peninsula's east coast, across the water


def _off_path_m(path: list[tuple[float, float]], p: tuple[float, float]) -> float:
    """Metres from p to the polyline (on a local flat plane: a few km, well under a metre off)."""
    kx = math.cos(math.radians(p[1])) * 111_195
    line = LineString([((x - p[0]) * kx, (y - p[1]) * 111_195) for x, y in path])
    return line.distance(Point(0.0, 0.0))


def _metres_until_near(path: list[tuple[float, float]], scene: tuple[float, float]) -> float:
    """How far along the path a unit first comes within ARRIVED_M of the scene (a path may
    pass the scene on its way to the scene's cell centre and come back: see domain/travel.py)."""
    done = 0.0
    for a, b in itertools.pairwise(path):
        leg = haversine_m(*a, *b)
        for m in range(0, math.ceil(leg) + 1):
            if haversine_m(*move_towards(a, b, m), *scene) <= tasks.ARRIVED_M:
                return done + m
        done += leg
    return done


@pytest.mark.parametrize(("kind", "seed", "domain"), [("vehicle", 26, "land"), ("boat", 27, "sea")])
def test_a_unit_drives_the_path_its_eta_assumed(
    geo: Geography, kind: str, seed: int, domain: str
) -> None:
    """The way the centre's ETA assumed (TravelModel.path) is the way the unit takes, at the
    pace the ETA counts: its length times the detour over the unit's speed."""
    sim = _fresh(seed=seed)
    travel = sim.units.travel
    u = _unit(sim, UnitKind(kind))
    rng = random.Random(seed)
    sample = geo.random_sea_point if kind == "boat" else geo.random_land_point
    area = "district" if kind == "boat" else None
    scene = next(
        p
        for p in (sample(rng, area, near=u.pos, radius_m=8_000) for _ in range(500))
        if haversine_m(*u.pos, *p) >= 5_000
        and (way := travel.path(kind, u.pos, p)) is not None
        and len(way) > 6  # over the grid, with turns
    )
    notice = _notice_for(u.unit_id, "INC-7", scene, domain=domain)
    msgs = _follow(sim, u.unit_id, T0 + 1_000, 40, {T0 + 3_000: notice}, step_ms=2_000)
    reports = _reports(msgs)
    assert [r["action"] for r in reports] == ["ack", "arrived", "handled"]
    ack, arrived = reports[0]["ts"], reports[1]["ts"]
    pos = {t: m for t, leaf, m in msgs if leaf == "position"}
    start = (pos[ack]["lon"], pos[ack]["lat"])
    path = travel.path(kind, start, scene)
    assert path is not None and len(path) > 6
    en_route = [(m["lon"], m["lat"]) for t, m in pos.items() if ack <= t <= arrived]
    assert len(en_route) > 20
    off = [_off_path_m(path, p) for p in en_route]
    assert max(off) < 30, max(off)  # on it, bar a bend round a cove the grid cuts
    assert sorted(off)[len(off) // 2] < 1
    km = route.length_m(path) / 1000
    assert f"距现场约 {km:.1f} 公里" in reports[0]["note"]  # in Chinese, as officers write
    # at the pace the ETA counts: the path's length times the detour over the unit's speed;
    # "arrived" from the first report within ARRIVED_M of the scene (one every 5-10 s)
    speed = pos[ack]["speed_kmh"] / 3.6 / tasks.ROAD_WINDING.get(UnitKind(kind), 1.0)
    due_s = _metres_until_near(path, scene) / speed
    assert due_s - 2 <= (arrived - ack) / 1000 <= due_s + 12
    _check_track(msgs, UnitKind(kind), geo)


def test_a_boat_sails_to_a_sea_scene_and_stays_at_sea(geo: Geography) -> None:
    sim = _fresh(seed=23)
    boat = _unit(sim, UnitKind.BOAT)
    rng = random.Random(2)
    scene = next(
        p
        for p in (
            geo.random_sea_point(rng, "district", near=boat.pos, radius_m=5_000) for _ in range(500)
        )
        if haversine_m(*boat.pos, *p) >= 3_000
    )
    msgs = _follow(
        sim,
        boat.unit_id,
        T0 + 1_000,
        25,
        {T0 + 3_000: _notice_for(boat.unit_id, "INC-3", scene, domain="sea", priority=2)},
        step_ms=2_000,
    )
    reports = _reports(msgs)
    assert [r["action"] for r in reports] == ["ack", "arrived", "handled"]
    arrived = reports[1]["ts"]
    at = next(m for t, leaf, m in msgs if leaf == "position" and t == arrived)
    assert haversine_m(at["lon"], at["lat"], *scene) <= 50
    en_route = [m for _t, leaf, m in msgs if leaf == "position" and m["status"] == "en_route"]
    assert en_route and all(33 <= m["speed_kmh"] <= 41 for m in en_route[1:])  # 18-22 kn
    _check_track(msgs, UnitKind.BOAT, geo)


def test_a_land_unit_sent_to_open_water_stops_at_the_shore(geo: Geography) -> None:
    sim = _fresh(seed=24)
    u = _unit(sim, UnitKind.VEHICLE, 1)
    rng = random.Random(3)
    scene = next(
        p
        for p in (
            geo.random_sea_point(rng, "district", near=u.pos, radius_m=8_000) for _ in range(500)
        )
        if geo.district_land.distance(Point(p)) > 0.005
    )  # > ~500 m off the coast
    msgs = _follow(
        sim,
        u.unit_id,
        T0 + 1_000,
        45,
        {T0 + 3_000: _notice_for(u.unit_id, "INC-4", scene, domain="sea")},
        step_ms=2_000,
    )
    reports = _reports(msgs)
    assert [r["action"] for r in reports] == ["ack", "arrived", "handled"]
    assert reports[1]["note"].startswith("现场在海上，停在距现场")
    at = next(m for t, leaf, m in msgs if leaf == "position" and t == reports[1]["ts"])
    assert geo.is_land(at["lon"], at["lat"])
    assert geo.land.boundary.distance(Point(at["lon"], at["lat"])) < 0.002  # within ~200 m
    _check_track(msgs, UnitKind.VEHICLE, geo)


def test_a_repeated_notice_is_taken_once() -> None:
    sim = _fresh(seed=25)
    u = _unit(sim, UnitKind.FOOT)
    scene = u.pos
    notice = _notice_for(u.unit_id, "INC-5", scene, priority=3)
    topic = f"ecocommand/units/{u.unit_id}/dispatch"
    assert sim.on_dispatch(notice, T0 + 1_000, topic)
    assert not sim.on_dispatch(notice, T0 + 1_500, topic)  # at-least-once: a redelivery
    # a new notice (the centre sent it again) for the incident the unit is on changes nothing
    assert not sim.on_dispatch(_notice_for(u.unit_id, "INC-5", scene, ts=T0 + 9), T0 + 2_000)
    msgs = _follow(
        sim, u.unit_id, T0 + 1_000, 10, {T0 + 30_000: notice, T0 + 400_000: notice}
    )  # and again, later
    assert [r["action"] for r in _reports(msgs)] == ["ack", "arrived", "handled"]


def test_bad_notices_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    sim = _fresh(seed=26)
    u = _unit(sim, UnitKind.VEHICLE)
    good = orjson.loads(_notice_for(u.unit_id, "INC-6", u.pos))
    topic = f"ecocommand/units/{u.unit_id}/dispatch"
    bad: list[Any] = [
        b"",
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"[]",
        b"null",
        b"42",
        None,
        42,
        orjson.dumps(good | {"priority": "1"}),  # strings are not numbers here
        orjson.dumps(good | {"lat": "22.5"}),
        orjson.dumps(good | {"priority": 7}),
        orjson.dumps(good | {"lon": 720.0}),
        orjson.dumps({k: v for k, v in good.items() if k != "incident_id"}),
        orjson.dumps(good | {"extra": 1}),
        orjson.dumps(good).replace(b'"lat":', b'"lat":NaN,"x":'),
        orjson.dumps(good | {"unit_id": "U-NOBODY-999"}),  # unknown unit
        orjson.dumps(good | {"lon": 0.0, "lat": 0.0}),  # far outside the district
        orjson.dumps(good | {"summary": "x" * 2_000_000}),  # huge
        b"{" + b'"a":' * 500_000 + b"1}",
    ]
    for payload in bad:
        assert not sim.on_dispatch(payload, T0 + 1_000, topic), payload
    # a notice naming another unit than its topic's (or a mangled topic) is not taken either
    other = _unit(sim, UnitKind.VEHICLE, 1).unit_id
    assert not sim.on_dispatch(orjson.dumps(good), T0 + 1_000, f"ecocommand/units/{other}/dispatch")
    assert "ignored" in caplog.text
    msgs = _follow(sim, u.unit_id, T0 + 1_000, 3)
    assert not _reports(msgs) and u.task is None
    # the unit still takes a good one afterwards
    assert sim.on_dispatch(orjson.dumps(good), T0 + 200_000, topic)


def test_a_newer_notice_pre_empts_the_current_task(geo: Geography) -> None:
    sim = _fresh(seed=27)
    u = _unit(sim, UnitKind.VEHICLE)
    rng = random.Random(4)
    far = [
        p
        for p in (geo.random_land_point(rng, near=u.pos, radius_m=3_000) for _ in range(500))
        if haversine_m(*u.pos, *p) >= 2_000
    ]
    first, second = far[0], far[1]
    msgs = _follow(
        sim,
        u.unit_id,
        T0 + 1_000,
        30,
        {
            T0 + 2_000: _notice_for(u.unit_id, "INC-A", first, priority=3),
            T0 + 90_000: _notice_for(u.unit_id, "INC-B", second, priority=1),
        },
    )
    reports = [(r["incident_id"], r["action"]) for r in _reports(msgs)]
    assert reports == [
        ("INC-A", "ack"),
        ("INC-B", "ack"),
        ("INC-B", "arrived"),
        ("INC-B", "handled"),
    ]
    seqs = [r["seq"] for r in _reports(msgs)]
    assert seqs == sorted(set(seqs))
    b_ack = next(r["ts"] for r in _reports(msgs) if r["incident_id"] == "INC-B")
    assert 95_000 <= b_ack - T0 <= 106_000  # acknowledged after its own reaction time
    # en route to A until B's ack (no stop in between), then to B
    between = [
        m["status"] for t, leaf, m in msgs if leaf == "position" and 60_000 < t - T0 < b_ack - T0
    ]
    assert set(between) == {"en_route"}
    arrived = next(m for t, leaf, m in msgs if leaf == "position" and m["status"] == "on_scene")
    assert haversine_m(arrived["lon"], arrived["lat"], *second) <= 50
    _check_track(msgs, UnitKind.VEHICLE, geo)


def test_run_answers_notices_over_the_broker(
    settings: Settings, r: Any, broker: Any, publisher: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulator as a process would run it: notices in over MQTT, reports out, including a
    notice published while it was away (the unit's own session is kept by the broker)."""
    import queue
    import uuid

    import paho.mqtt.client as mqtt

    from simulator import tasks

    # real crews take 5-30 s to answer and minutes on scene: shorten both for the test
    monkeypatch.setattr(tasks, "REACTION_MS", {p: (300, 600) for p in (1, 2, 3)})
    monkeypatch.setattr(tasks, "HANDLING_MS", (500, 1_000))
    seed, rate = 31, 1.9  # below 2: the same units as rate 1, reporting about twice as often
    unit = next(
        u for u in Simulation(seed=seed, rate=rate).units.units if u.status is UnitStatus.OFF_DUTY
    )  # off duty: still at home, not moving
    got: queue.Queue = queue.Queue()
    simulator_up = threading.Event()

    def on_message(m: mqtt.MQTTMessage) -> None:
        if m.topic.endswith("/task"):
            got.put((m.topic, orjson.loads(m.payload)))
        elif not m.retain:  # the unit's profile as the simulator publishes it, not a replay
            simulator_up.set()

    topics = [f"ecocommand/units/{unit.unit_id}/{leaf}" for leaf in ("task", "profile")]
    sub = subscribe(broker.port, topics, on_message)
    client_id = f"test-sim-{uuid.uuid4().hex[:6]}"

    def start() -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        t = threading.Thread(
            target=run,
            args=(settings,),
            daemon=True,
            kwargs={"rate": rate, "stop": stop, "seed": seed, "client_id": client_id},
        )
        t.start()
        return t, stop

    def actions(n: int) -> list[tuple[str, str]]:
        out = []
        for _ in range(n):
            topic, m = got.get(timeout=15)
            assert topic.endswith(f"/{unit.unit_id}/task") and m["unit_id"] == unit.unit_id
            out.append((m["incident_id"], m["action"]))
        return out

    def notice(incident: str) -> bytes:
        return _notice_for(unit.unit_id, incident, unit.home, ts=int(time.time() * 1000))

    topic = f"ecocommand/units/{unit.unit_id}/dispatch"
    try:
        t, stop = start()
        # connected and subscribed: the unit's connection subscribes to its notices on connect,
        # before it publishes anything, and its first publication is the unit's profile
        assert simulator_up.wait(15), "no profile from the simulator"
        publisher.publish(topic, b"{garbage")  # ignored, nothing breaks
        publisher.publish(topic, notice("INC-R1"))
        assert actions(3) == [("INC-R1", "ack"), ("INC-R1", "arrived"), ("INC-R1", "handled")]
        stop.set()
        t.join(timeout=5)
        assert not t.is_alive()
        publisher.publish(topic, notice("INC-R2"))  # while the simulator is away
        t, stop = start()
        assert actions(3) == [("INC-R2", "ack"), ("INC-R2", "arrived"), ("INC-R2", "handled")]
    finally:
        stop.set()
        t.join(timeout=5)
        sub.disconnect()
        sub.loop_stop()
