"""The vessel watch (ingest/vessel_watch.py) on a real Redis: what the ingest path marks, and
what the worker's tick raises and closes, on a clock the test sets. The same through the real
broker and worker is tests/test_vessel_watch_worker.py."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import redis

from config.settings import Settings
from domain.clock import fixed, system_ms
from domain.geo import Geography, haversine_m
from domain.vessel_rules import M_PER_DEG, load_vessel_rules, parse_track
from ingest.vessel_watch import VesselWatch, gap_alert_id
from services import alerts as alert_actions
from services.context import build
from store import keys, snapshots
from store.ops import FieldUpdate, Observation, Op
from store.writer import LiveStore

MIN = 60_000
GAP_MIN = 10
RULES = load_vessel_rules()
JULY_NOON = 1_782_878_400_000  # 2026-07-01 12:00 Shenzhen: in the summer moratorium


@pytest.fixture
def settings(redis_srv: Any, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=f"redis://127.0.0.1:{redis_srv.port}/0",
        mqtt_url="mqtt://127.0.0.1:1",
        data_dir=tmp_path / "var",
        ais_gap_minutes=GAP_MIN,
        _env_file=None,
    )


@pytest.fixture
def t0() -> int:
    # an hour ago: the track streams' entry ids are Redis' own clock, which reads now
    return system_ms() - 3_600_000


def _report(mmsi: str, at: int, lon: float, lat: float, sog: float, ts: int | None = None) -> Op:
    ts = at if ts is None else ts
    state = {"lat": lat, "lon": lon, "sog_kn": sog, "cog": 75.0, "nav_status": 0}
    return Observation(
        kind="vessel",
        entity_id=mmsi,
        ts=ts,
        seq=0,
        identity=f"{ts}-{mmsi}",
        state={**state, "received_ms": at},
        track={"ts": ts, "lat": lat, "lon": lon, "sog_kn": sog, "cog": 75.0},
        lon=lon,
        lat=lat,
    )


def _ingest(r: redis.Redis, watch: VesselWatch, ops: list[Op], now: int) -> None:
    """What the worker does with a batch: write it, then let the watch see the verdicts (its
    marks in the batch's count)."""
    store = LiveStore(r, 24 * 3_600_000, 1000)
    out = store.write(ops, now)
    store.count_messages(
        {"applied": len(ops)}, {}, None, also=lambda pipe: watch.note(ops, out.verdicts, pipe)
    )


def _tick(r: redis.Redis, watch: VesselWatch, now: int) -> list[dict[str, Any]]:
    raised = watch.tick(now)
    LiveStore(r, 24 * 3_600_000, 1000).write(list(raised), now)
    return [{"id": a.alert_id, **a.fields} for a in raised]


def _open(r: redis.Redis) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in snapshots.open_alerts(r)}


def _sea(geo: Geography, seed: int = 1) -> tuple[float, float]:
    rng = random.Random(seed)
    while True:
        p = geo.random_sea_point(rng, "district")
        if not geo.zones_at(*p):
            return p


def test_a_vessel_silent_longer_than_the_gap_raises_one_alert_and_its_return_closes_it(
    r: redis.Redis, settings: Settings, geo: Geography, t0: int
) -> None:
    watch = VesselWatch(r, geo, settings, fixed(t0 - MIN))  # listening since before
    lon, lat = _sea(geo)
    _ingest(r, watch, [_report("412000001", t0, lon, lat, 8.0)], t0)
    assert r.zscore(keys.VESSELS_WATCHED, "412000001") == t0
    assert _tick(r, watch, t0 + GAP_MIN * MIN) == []  # silent exactly the gap: not longer
    (gap,) = _tick(r, watch, t0 + GAP_MIN * MIN + 1)
    assert gap["id"] == gap_alert_id("412000001", t0) and gap["kind"] == "ais_gap"
    assert (gap["lon"], gap["lat"], gap["sog_kn"], gap["cog"]) == (lon, lat, 8.0, 75.0)
    assert [(p.lon, p.lat) for p in parse_track(str(gap["track"]))] == [
        (round(lon, 5), round(lat, 5))
    ]
    assert _tick(r, watch, t0 + GAP_MIN * MIN + 5_000) == []  # raised once
    assert gap["id"] in _open(r)
    # back 2 km away 15 minutes later: plausible (4 kn); the gap alert is closed, nothing else
    back = t0 + 15 * MIN
    _ingest(r, watch, [_report("412000001", back, lon, lat + 2000 / M_PER_DEG, 8.0)], back)
    assert _tick(r, watch, back + 1000) == []
    assert _open(r) == {}
    record = r.hgetall(keys.alert(gap["id"]))
    assert record[b"close_reason"] == b"reappeared" and record[b"closed_by"].startswith(b"system")
    assert r.zscore(keys.VESSELS_DARK, "412000001") is None
    assert r.zscore(keys.VESSELS_WATCHED, "412000001") == back  # under way near: watched again


def test_a_reappearance_at_an_impossible_speed_raises_a_position_jump(
    r: redis.Redis, settings: Settings, geo: Geography, t0: int
) -> None:
    watch = VesselWatch(r, geo, settings, fixed(t0))
    lon, lat = _sea(geo, 2)
    _ingest(r, watch, [_report("412000002", t0, lon, lat, 6.0)], t0)
    (gap,) = _tick(r, watch, t0 + GAP_MIN * MIN + 1)
    later = t0 + 12 * MIN
    far = (lon + 100_000 / (M_PER_DEG * 0.924), lat)  # ~100 km east, out of the watch
    _ingest(r, watch, [_report("412000002", later, *far, 6.0)], later)
    assert r.zscore(keys.VESSELS_WATCHED, "412000002") is None  # heard far away: not watched
    (jump,) = _tick(r, watch, later + 1000)
    km = haversine_m(lon, lat, *far) / 1000
    assert jump["kind"] == "position_jump" and jump["id"] == f"jump:412000002:{t0}"
    assert (jump["from_lon"], jump["from_lat"], jump["lon"], jump["lat"]) == (lon, lat, *far)
    assert jump["distance_km"] == round(km, 1) and jump["minutes"] == 12.0
    assert jump["speed_kn"] == round(km * 1000 / 1852 / 0.2)  # 12 min = 0.2 h
    assert list(_open(r)) == [jump["id"]]  # the gap closed, the jump open
    assert r.hget(keys.alert(gap["id"]), "close_reason") == b"reappeared"
    assert len(parse_track(str(jump["track"]))) == 2


def test_who_is_watched(r: redis.Redis, settings: Settings, geo: Geography, t0: int) -> None:
    watch = VesselWatch(r, geo, settings, fixed(t0))
    lon, lat = _sea(geo, 3)
    ops = [
        _report("412000010", t0, lon, lat, 0.5),  # at 0.5 kn: not under way
        _report("412000011", t0, 115.5, 22.5, 12.0),  # under way far out at sea
        _report("412000012", t0, lon, lat, 0.6),
        _report("412000013", t0, lon, lat, 9.0),
        _report("412000013", t0 + 1, 115.5, 22.5, 9.0),  # the same vessel's later report: far
    ]
    _ingest(r, watch, ops, t0)
    watched = {m.decode() for m in r.zrange(keys.VESSELS_WATCHED, 0, -1)}
    assert watched == {"412000012"}
    # a vessel already watched that stops is no longer: its AIS off at anchor is no gap
    _ingest(r, watch, [_report("412000012", t0 + 2, lon, lat, 0.0)], t0 + 2)
    assert r.zcard(keys.VESSELS_WATCHED) == 0
    # a redelivered or older report changes nothing
    _ingest(r, watch, [_report("412000012", t0 + 1, lon, lat, 9.0)], t0 + 3)
    assert r.zcard(keys.VESSELS_WATCHED) == 0


def test_no_vessel_goes_dark_before_the_watch_listened_for_a_whole_gap(
    r: redis.Redis, settings: Settings, geo: Geography, t0: int
) -> None:
    first = VesselWatch(r, geo, settings, fixed(t0))
    _ingest(r, first, [_report("412000020", t0, *_sea(geo, 4), 7.0)], t0)
    restarted_at = t0 + 30 * MIN  # the worker was down 30 minutes
    restarted = VesselWatch(r, geo, settings, fixed(restarted_at))
    assert _tick(r, restarted, restarted_at + GAP_MIN * MIN) == []
    assert r.zscore(keys.VESSELS_WATCHED, "412000020") == t0
    (gap,) = _tick(r, restarted, restarted_at + GAP_MIN * MIN + 1)
    assert gap["kind"] == "ais_gap"


def test_loitering_in_a_zone_for_longer_than_20_minutes(
    r: redis.Redis, settings: Settings, geo: Geography, t0: int
) -> None:
    zone = "xichong_coral"
    lon, lat = geo.random_zone_point(random.Random(5), zone)
    mmsi = "412000030"
    for i in range(21):  # one report a minute, 0 .. 20 min: slow inside for exactly 20 min
        at = t0 + i * MIN
        _ingest(r, VesselWatch(r, geo, settings, fixed(at)), [_report(mmsi, at, lon, lat, 1.0)], at)
    member = f"{mmsi}|{zone}"
    assert r.zscore(keys.VESSELS_LOITER, member) == t0  # since its first slow report
    now = t0 + 20 * MIN + 1
    assert _tick(r, VesselWatch(r, geo, settings, fixed(now)), now) == []  # not longer than 20
    at = t0 + 20 * MIN + 30_000
    _ingest(r, VesselWatch(r, geo, settings, fixed(at)), [_report(mmsi, at, lon, lat, 1.0)], at)
    now = at + 1000
    (alert,) = _tick(r, VesselWatch(r, geo, settings, fixed(now)), now)
    assert (alert["kind"], alert["zone"], alert["zone_kind"]) == (
        "loitering",
        zone,
        "protected_area",
    )
    assert alert["minutes"] == 20 and alert["since_ts"] == t0 and alert["sog_kn"] == 1.0
    assert len(parse_track(str(alert["track"]))) == RULES.track_points
    now += 60_000  # still there a minute later: the same stay raises nothing new
    assert _tick(r, VesselWatch(r, geo, settings, fixed(now)), now) == []
    # it speeds away: the candidate is dropped
    _ingest(r, VesselWatch(r, geo, settings, fixed(now)), [_report(mmsi, now, lon, lat, 9.0)], now)
    assert _tick(r, VesselWatch(r, geo, settings, fixed(now + 1)), now + 1) == []
    assert r.zscore(keys.VESSELS_LOITER, member) is None


def test_a_stay_that_broke_off_counts_from_its_restart(
    r: redis.Redis, settings: Settings, geo: Geography, t0: int
) -> None:
    zone = "dapengao_no_fishing"
    lon, lat = geo.random_zone_point(random.Random(6), zone)
    mmsi = "412000031"
    for i in range(26):  # slow for 25 min, but at 3 kn (not slower than 3) at minute 10
        at = t0 + i * MIN
        sog = 3.0 if i == 10 else 2.0
        _ingest(r, VesselWatch(r, geo, settings, fixed(at)), [_report(mmsi, at, lon, lat, sog)], at)
    now = t0 + 25 * MIN + 1000
    assert _tick(r, VesselWatch(r, geo, settings, fixed(now)), now) == []  # 14 min since then
    since = r.zscore(keys.VESSELS_LOITER, f"{mmsi}|{zone}")
    assert since == now - 14 * MIN  # looked at again when it could have been 20 min


def test_a_fishing_vessel_trawling_in_the_moratorium(
    r: redis.Redis, settings: Settings, geo: Geography, t0: int
) -> None:
    lon, lat = _sea(geo, 7)
    static = [
        FieldUpdate("vessel", "412000040", "static_ts", 1, "vessel_static", {"ship_type": 30}),
        FieldUpdate("vessel", "412000041", "static_ts", 1, "vessel_static", {"ship_type": 70}),
    ]
    watch = VesselWatch(r, geo, settings, fixed(t0))
    reports = [
        _report("412000040", t0, lon, lat, 3.5, ts=JULY_NOON),  # fishing, trawling
        _report("412000041", t0, lon, lat, 3.5, ts=JULY_NOON),  # cargo at the same speed
        _report("412000042", t0, lon, lat, 3.5, ts=JULY_NOON - 60 * 24 * MIN),  # May: no static
    ]
    _ingest(r, watch, static + reports, t0)
    assert r.zcard(keys.VESSELS_TRAWLING) == 3
    (alert,) = _tick(r, watch, t0 + 1000)
    assert alert["id"] == "fishban:412000040:20260701" and alert["kind"] == "fishing_ban"
    assert (alert["sog_kn"], alert["ship_type"], alert["severity"]) == (3.5, 30, "critical")
    assert r.zcard(keys.VESSELS_TRAWLING) == 0  # every candidate looked at once
    again = _report("412000040", t0 + 5000, lon, lat, 3.5, ts=JULY_NOON + 5000)
    _ingest(r, watch, [again], t0 + 5000)
    assert _tick(r, watch, t0 + 6000) == []  # once a vessel and day
    # outside the moratorium nothing is marked
    sept = _report("412000040", t0 + 7000, lon, lat, 3.5, ts=JULY_NOON + 70 * 24 * 60 * MIN)
    _ingest(r, watch, [sept], t0 + 7000)
    assert r.zcard(keys.VESSELS_TRAWLING) == 0


def test_a_vessel_watch_alert_opens_as_an_incident_in_one_click(
    r: redis.Redis, settings: Settings, geo: Geography, t0: int
) -> None:
    watch = VesselWatch(r, geo, settings, fixed(t0))
    lon, lat = _sea(geo, 8)
    _ingest(r, watch, [_report("412000050", t0, lon, lat, 8.0)], t0)
    (gap,) = _tick(r, watch, t0 + GAP_MIN * MIN + 1)
    incident = alert_actions.open_incident(build(settings), gap["id"], "chief")
    assert incident["type"] == "illegal_fishing" and incident["alert_id"] == gap["id"]
    assert (float(incident["lon"]), float(incident["lat"])) == (lon, lat)
    assert _open(r) == {}  # the alert closed with the incident's id


def test_the_alerts_are_said_in_the_readers_language(
    r: redis.Redis, settings: Settings, geo: Geography, t0: int
) -> None:
    from dashboard.map_data import alert_message, alert_title

    watch = VesselWatch(r, geo, settings, fixed(t0))
    lon, lat = _sea(geo, 9)
    _ingest(r, watch, [_report("412000060", t0, lon, lat, 8.0)], t0)
    _tick(r, watch, t0 + GAP_MIN * MIN + 1)
    later = t0 + 12 * MIN
    _ingest(r, watch, [_report("412000060", later, lon + 1.0, lat, 8.0)], later)
    _tick(r, watch, later + 1)
    raw = r.hgetall(keys.alert(gap_alert_id("412000060", t0)))  # closed: read its record
    gap = snapshots.typed({k.decode(): v.decode() for k, v in raw.items()})
    (jump,) = snapshots.open_alerts(r)
    assert alert_title(gap, "zh") == "船舶AIS信号中断"
    assert (
        alert_message(gap, "zh") == "MMSI 412000060 AIS信号中断已超过10分钟；最后航速8.0节，航向75°"
    )
    assert alert_message(gap, "en").startswith("MMSI 412000060 silent for over 10 min")
    assert alert_title(jump, "en") == "Vessel position jump"
    assert alert_message(jump, "zh").startswith("MMSI 412000060 12分钟后重现于")
    assert alert_message(jump, "en").endswith(f"{jump['speed_kn']} kn")
    loiter = {"kind": "loitering", "source": "412", "zone": "xichong_coral", "minutes": "21"}
    assert alert_message(loiter, "zh") == "MMSI 412 在西涌珊瑚保护区（示意）低速徘徊21分钟"
    assert "Xichong coral protection area" in alert_message(loiter, "en")
    ban = {"kind": "fishing_ban", "source": "412", "sog_kn": 3.5}
    assert "拖网航速3.5节" in alert_message(ban, "zh") and "(3.5 kn)" in alert_message(ban, "en")
