"""The vessel watch's rules (domain/vessel_rules.py) at each boundary: just under and just over
every threshold, the moratorium's first and last instants in Shenzhen time, the watch margin."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.ops import nearest_points

from domain import vessel_rules as vr
from domain.geo import Geography, haversine_m
from domain.vessel_rules import M_PER_DEG, TrackPoint, VesselRules, WatchArea
from tests.helpers import local_ms

RULES = vr.load_vessel_rules()
MIN = 60_000


def test_the_shipped_rules_are_the_issues_numbers() -> None:
    assert RULES.under_way.min_sog_kn == 0.5 and RULES.loitering.max_sog_kn == 3.0
    assert RULES.loitering.minutes == 20 and RULES.fishing_ban.ship_types == (30,)
    assert (RULES.fishing_ban.trawl_min_kn, RULES.fishing_ban.trawl_max_kn) == (2.0, 5.0)
    assert RULES.fishing_ban.moratorium.start == "05-01 12:00"
    assert RULES.fishing_ban.moratorium.end == "08-16 12:00"


@pytest.mark.parametrize("bad", ["13-01 12:00", "02-30 12:00", "05-01 24:00", "5-1 12:00"])
def test_a_bad_moratorium_date_is_refused_naming_the_file(tmp_path: Path, bad: str) -> None:
    doc = {"fishing_ban": {"moratorium": {"start": bad, "end": "08-16 12:00"}}}
    path = tmp_path / "vessel_rules.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"vessel_rules\.json"):
        vr.load_vessel_rules(path)


@pytest.mark.parametrize(
    ("sog", "status", "moving"),
    [
        (0.5, None, False),  # at the threshold: not above it
        (0.51, None, True),
        (0.0, 0, False),  # moored, left on "under way using engine": the speed wins
        (None, 0, True),  # no speed in the report: the status decides
        (None, 8, True),
        (None, 5, False),  # moored
        (None, None, False),
    ],
)
def test_under_way(sog: float | None, status: int | None, moving: bool) -> None:
    assert vr.under_way(RULES, sog, status) is moving


@pytest.mark.parametrize(("sog", "slow"), [(2.99, True), (3.0, False), (None, False)])
def test_loitering_speed_is_strictly_slower_than_3_kn(sog: float | None, slow: bool) -> None:
    assert vr.loiter_speed(RULES, sog) is slow


@pytest.mark.parametrize(
    ("sog", "trawling"), [(1.99, False), (2.0, True), (3.5, True), (5.0, True), (5.01, False)]
)
def test_trawling_speed_includes_its_ends(sog: float, trawling: bool) -> None:
    assert vr.trawling_speed(RULES, sog) is trawling


def _at(y: int, mo: int, d: int, hhmm: str, ms: int = 0) -> int:
    return local_ms(dt.date(y, mo, d), hhmm) + ms


@pytest.mark.parametrize(
    ("instant", "banned"),
    [
        (_at(2026, 5, 1, "11:59", 59_999), False),  # the last millisecond before
        (_at(2026, 5, 1, "12:00"), True),  # 1 May 12:00 Shenzhen time: it starts
        (_at(2026, 8, 16, "11:59", 59_999), True),
        (_at(2026, 8, 16, "12:00"), False),  # 16 Aug 12:00: fishing opens again
        (_at(2027, 6, 15, "03:00"), True),  # every year
        (_at(2026, 11, 18, "12:00"), False),
    ],
)
def test_the_moratorium_runs_from_1_may_noon_to_16_august_noon_local(
    instant: int, banned: bool
) -> None:
    assert vr.in_moratorium(RULES, instant) is banned


def test_the_moratorium_is_local_time_not_utc() -> None:
    utc_noon = int(dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC).timestamp() * 1000)
    utc_4 = int(dt.datetime(2026, 5, 1, 4, 0, tzinfo=dt.UTC).timestamp() * 1000)
    assert vr.in_moratorium(RULES, utc_4)  # 12:00 in Shenzhen
    assert not vr.in_moratorium(RULES, utc_4 - 1)
    assert vr.in_moratorium(RULES, utc_noon)


def test_a_moratorium_over_the_new_year() -> None:
    doc = RULES.model_dump()
    doc["fishing_ban"]["moratorium"] = {"start": "12-20 00:00", "end": "01-10 00:00"}
    winter = VesselRules.model_validate(doc)
    assert vr.in_moratorium(winter, _at(2026, 12, 31, "23:00"))
    assert vr.in_moratorium(winter, _at(2027, 1, 9, "23:59"))
    assert not vr.in_moratorium(winter, _at(2027, 1, 10, "00:00"))
    assert not vr.in_moratorium(winter, _at(2026, 12, 19, "23:59"))


def test_fishing_banned_needs_every_condition() -> None:
    july = _at(2026, 7, 1, "10:00")
    assert vr.fishing_banned(RULES, 30, 3.0, july, in_waters=True)
    assert not vr.fishing_banned(RULES, 70, 3.0, july, in_waters=True)  # cargo
    assert not vr.fishing_banned(RULES, None, 3.0, july, in_waters=True)  # no static data
    assert not vr.fishing_banned(RULES, 30, 3.0, july, in_waters=False)
    assert not vr.fishing_banned(RULES, 30, 8.0, july, in_waters=True)  # steaming, not trawling
    assert not vr.fishing_banned(RULES, 30, 3.0, _at(2026, 9, 1, "10:00"), in_waters=True)


def test_silence_must_be_longer_than_the_gap() -> None:
    gap = 10 * MIN
    assert not vr.silent_too_long(1_000, 1_000 + gap, gap)
    assert vr.silent_too_long(1_000, 1_000 + gap + 1, gap)


def _north(lon: float, lat: float, metres: float) -> tuple[float, float]:
    return lon, lat + metres / M_PER_DEG  # along a meridian haversine is exact


@pytest.mark.parametrize(("knots", "impossible"), [(39.9, False), (40.1, True)])
def test_an_impossible_speed_is_above_40_knots(knots: float, impossible: bool) -> None:
    a = (114.5, 22.5)
    b = _north(*a, knots * 1852.0)  # that far in one hour
    speed = vr.implied_speed_kn(a, 0, b, 3_600_000)
    assert speed is not None and math.isclose(speed, knots, rel_tol=1e-9)
    assert vr.impossible_speed(speed, 40.0) is impossible


def test_no_speed_is_implied_when_the_new_report_is_not_later() -> None:
    a, b = (114.5, 22.5), (115.5, 22.5)
    assert vr.implied_speed_kn(a, 5_000, b, 5_000) is None
    assert vr.implied_speed_kn(a, 5_000, b, 4_000) is None
    assert not vr.impossible_speed(None, 40.0)


def _stay(minutes: float, sog: float = 1.0, every_s: int = 60) -> list[TrackPoint]:
    end = int(minutes * MIN)
    times = [*range(0, end, every_s * 1000), end]
    return [TrackPoint(t, 114.5, 22.5, sog) for t in times]


def _inside(lon: float, lat: float) -> bool:
    return lon < 114.6


def test_loitering_is_slow_inside_for_longer_than_20_minutes() -> None:
    exactly = _stay(20)
    assert vr.loiter_run(RULES, exactly, _inside) == (0, 20 * MIN)
    assert not vr.loitering(RULES, vr.loiter_run(RULES, exactly, _inside))
    longer = [*exactly, TrackPoint(20 * MIN + 1, 114.5, 22.5, 1.0)]
    assert vr.loitering(RULES, vr.loiter_run(RULES, longer, _inside))


def test_a_loitering_run_is_the_one_ending_with_the_latest_report() -> None:
    points = _stay(40)
    points[10] = TrackPoint(points[10].ts, 114.5, 22.5, 3.0)  # at 10 min: not slower than 3 kn
    random.Random(1).shuffle(points)  # reports come in any order; the run follows their times
    assert vr.loiter_run(RULES, points, _inside) == (11 * MIN, 40 * MIN)
    assert vr.loitering(RULES, vr.loiter_run(RULES, points, _inside))  # 29 min
    left = [*_stay(30), TrackPoint(30 * MIN + 1, 114.7, 22.5, 1.0)]  # the last one outside
    assert vr.loiter_run(RULES, left, _inside) is None
    unknown = [*_stay(30), TrackPoint(30 * MIN + 1, 114.5, 22.5, None)]  # no speed: not slow
    assert vr.loiter_run(RULES, unknown, _inside) is None


def test_the_compact_track_reads_back_and_skips_what_is_malformed() -> None:
    points = [TrackPoint(2, 114.1, 22.2, None), TrackPoint(1, 114.123456, 22.5, 3.25)]
    text = vr.compact_track(points)
    assert text == "1,114.12346,22.50000,3.2;2,114.10000,22.20000,"
    assert vr.parse_track(text + ";x,1;;3,a,b,") == [
        TrackPoint(1, 114.12346, 22.5, 3.2),
        TrackPoint(2, 114.1, 22.2, None),
    ]
    assert vr.track_point({"ts": "5", "lon": "114", "lat": "22", "sog_kn": "1.5"}) == TrackPoint(
        5, 114.0, 22.0, 1.5
    )
    assert vr.track_point({"ts": "5", "lat": "22"}) is None


def _ray(geo: Geography, area: WatchArea, far: tuple[float, float]) -> Any:
    """Points along the ray from the district's waters' point nearest `far` towards it, by
    their distance (metres) from that point."""
    q = nearest_points(geo.district_waters, shapely.Point(far))[0]
    dx, dy = (far[0] - q.x) * area._kx, (far[1] - q.y) * M_PER_DEG
    norm = math.hypot(dx, dy)
    return lambda m: (q.x + dx / norm * m / area._kx, q.y + dy / norm * m / M_PER_DEG)


@pytest.mark.parametrize("far", [(114.75, 22.5), (114.45, 22.3)])  # open sea east; south
def test_the_watch_margin_is_measured_from_the_district_waters(
    geo: Geography, far: tuple[float, float]
) -> None:
    area, margin = WatchArea(geo, RULES), RULES.watch_margin_m
    at = _ray(geo, area, far)
    # the flat projection agrees with the great circle to a few metres in 5 km
    assert abs(haversine_m(*at(0.0), *at(margin)) - margin) < 5
    # where along the ray the distance to the waters is the margin (it is at most the ray's)
    lo, hi = 0.0, 3 * margin
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if area.distance_to_waters_m(*at(mid)) < margin else (lo, mid)
    assert margin - 1 <= lo
    assert area.near(*at(lo - 5)) and not area.near(*at(lo + 5))  # just under, just over
    assert not area.near(115.5, 22.5) and not area.near(113.0, 22.5)


def test_the_district_waters_and_the_loitering_zones(geo: Geography) -> None:
    area = WatchArea(geo, RULES)
    rng = random.Random(3)
    for zone_id in geo.zone_ids():
        lon, lat = geo.random_zone_point(rng, zone_id)
        assert zone_id in area.loiter_zones_at(lon, lat)
        assert area.in_zone(zone_id, lon, lat) and area.near(lon, lat)
    assert area.loiter_zones_at(115.5, 22.5) == [] and not area.in_zone("nope", 114.5, 22.5)
    only_protected = RULES.model_copy(
        update={"loitering": RULES.loitering.model_copy(update={"zone_kinds": ("x",)})}
    )
    lon, lat = geo.random_zone_point(rng, "dapengao_no_fishing")
    assert WatchArea(geo, only_protected).loiter_zones_at(lon, lat) == []
