"""domain/coverage.py, domain/coverage_places.py and the files of scripts/derive_coverage.py."""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path
from typing import Any

import h3
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, shape

from config import CONFIG_DIR
from domain.coverage import (
    PatrolClaim,
    Position,
    TrackerState,
    Visit,
    about_to_miss,
    advance,
    blind_spots,
    coverage_figures,
    reconcile,
)
from domain.coverage_places import (
    NOWHERE,
    CoverageGeography,
    Place,
    Places,
    VisitRules,
    load_coverage,
    load_visit_rules,
)
from domain.geo import load_geography
from tests.helpers import load_script

COV_DIR = CONFIG_DIR / "coverage"
GENERATED = ["land_cells.geojson", "coast_segments.geojson", "sea_cells.geojson", "rules.json"]
SUBDISTRICTS = {"kuichong": "440307009", "dapeng": "440307010", "nanao": "440307011"}
RASTER_ERROR_M = 35  # half a raster square's diagonal (~30 m) plus the buffer's polygon error
M_PER_DEG = 111_320.0
H = 3_600_000  # ms per hour

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@pytest.fixture(scope="module")
def geo() -> CoverageGeography:
    return load_coverage()


@pytest.fixture(scope="module")
def rules() -> VisitRules:
    return load_visit_rules()


def _features(name: str) -> list[dict[str, Any]]:
    return json.loads((COV_DIR / name).read_text(encoding="utf-8"))["features"]


def _centre(cell: str) -> tuple[float, float]:
    lat, lon = h3.cell_to_latlng(cell)
    return lon, lat


def _metres(geom: Any) -> Any:
    """The metric frame the lookup uses (lon scaled at the district's latitude)."""
    k = M_PER_DEG * math.cos(math.radians(22.56))
    return shapely.transform(geom, lambda c: c * [k, M_PER_DEG])


def _same(geo: CoverageGeography, lons: list[float], lats: list[float]) -> None:
    """locate_many answers what locate answers, point by point."""
    many = geo.locate_many(lons, lats)
    for i, (lon, lat) in enumerate(zip(lons, lats, strict=True)):
        one = geo.locate(lon, lat)
        assert one.land == (geo.land_ids[many.land[i]] if many.land[i] >= 0 else None)
        assert one.sea == (geo.sea_ids[many.sea[i]] if many.sea[i] >= 0 else None)
        assert one.coast == geo.coast_sets[many.coast[i]]


# -- locate -------------------------------------------------------------------------------------


@given(i=st.integers(min_value=0, max_value=10_000))
def test_a_land_cell_centre_is_in_that_cell(geo: CoverageGeography, i: int) -> None:
    cell = geo.land_ids[i % len(geo.land_ids)]
    assert geo.locate(*_centre(cell)).land == cell


@given(i=st.integers(min_value=0, max_value=10_000))
def test_a_sea_cell_centre_is_in_that_cell(geo: CoverageGeography, i: int) -> None:
    sea_id = geo.sea_ids[i % len(geo.sea_ids)]
    assert geo.locate(*_centre(sea_id.removeprefix("sea-"))).sea == sea_id


@given(
    lon=st.one_of(st.floats(-180, 114.2), st.floats(114.8, 180)),
    lat=st.one_of(st.floats(-90, 22.3), st.floats(22.8, 90), st.floats(22.3, 22.8)),
)
def test_points_well_outside_the_district_are_nowhere(
    geo: CoverageGeography, lon: float, lat: float
) -> None:
    assert geo.locate(lon, lat) == NOWHERE
    many = geo.locate_many([lon], [lat])
    assert (many.land[0], many.sea[0], many.coast[0]) == (-1, -1, 0)


@pytest.mark.parametrize("p", [(float("nan"), 22.5), (114.5, float("inf")), (1e308, -1e308)])
def test_non_finite_points_are_nowhere(geo: CoverageGeography, p: tuple[float, float]) -> None:
    assert geo.locate(*p) == NOWHERE


def _shared_edges(geo: CoverageGeography) -> list[tuple[str, str]]:
    cells = set(geo.land_ids)
    return sorted((a, b) for a in cells for b in h3.grid_ring(a, 1) if b in cells and a < b)


@settings(max_examples=150, deadline=None)
@given(
    i=st.integers(min_value=0, max_value=10_000),
    f=st.floats(0.01, 0.99),
    off=st.sampled_from([0.0, 1e-9, -1e-9, 1e-7, -1e-7]),
)
def test_a_point_on_a_shared_border_is_in_exactly_one_of_the_two_cells(
    geo: CoverageGeography, i: int, f: float, off: float
) -> None:
    edges = _shared_edges(geo)
    a, b = edges[i % len(edges)]
    (lat1, lon1), (lat2, lon2) = h3.directed_edge_to_boundary(h3.cells_to_directed_edge(a, b))
    lon, lat = lon1 + (lon2 - lon1) * f + off, lat1 + (lat2 - lat1) * f - off
    found = geo.locate(lon, lat).land
    assert found in (a, b)  # no gap, and one cell only (never both)
    assert found == h3.latlng_to_cell(lat, lon, 7)
    _same(geo, [lon], [lat])


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_every_point_of_the_district_land_is_in_a_land_cell(
    geo: CoverageGeography, seed: int
) -> None:
    p = load_geography().random_land_point(random.Random(seed))
    assert geo.locate(*p).land in geo.land_ids


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_every_point_of_the_district_waters_is_in_a_sea_cell_but_slivers(
    geo: CoverageGeography, seed: int
) -> None:
    p = load_geography().random_sea_point(random.Random(seed), "district")
    found = geo.locate(*p).sea
    if found is None:  # only in the <1% slivers that the derivation leaves out
        cell = h3.latlng_to_cell(p[1], p[0], 7)
        hexagon = shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(cell)])
        waters = load_geography().district_waters
        assert hexagon.intersection(waters).area < 0.01 * hexagon.area


@settings(max_examples=100, deadline=None)
@given(xs=st.lists(st.floats(114.3, 114.7), min_size=1, max_size=60), seed=seeds)
def test_locate_many_agrees_with_locate(geo: CoverageGeography, xs: list[float], seed: int) -> None:
    rng = random.Random(seed)
    _same(geo, xs, [rng.uniform(22.4, 22.72) for _ in xs])


@settings(max_examples=200, deadline=None)
@given(
    i=st.integers(min_value=0, max_value=10_000),
    f=st.floats(0, 1),
    bearing=st.floats(0, 2 * math.pi),
    d=st.floats(0, 500),
)
def test_points_within_and_beyond_the_segment_distance(
    geo: CoverageGeography, rules: VisitRules, i: int, f: float, bearing: float, d: float
) -> None:
    seg_id = geo.coast_ids[i % len(geo.coast_ids)]
    seg = geo.geoms[seg_id]
    on = seg.interpolate(f, normalized=True)
    k = M_PER_DEG * math.cos(math.radians(on.y))
    lon, lat = on.x + d * math.sin(bearing) / k, on.y + d * math.cos(bearing) / M_PER_DEG
    true_m = _metres(seg).distance(_metres(Point(lon, lat)))
    found = geo.locate(lon, lat).coast
    if true_m <= rules.coast_distance_m - RASTER_ERROR_M:
        assert seg_id in found
    elif true_m >= rules.coast_distance_m + RASTER_ERROR_M:
        assert seg_id not in found


def test_coast_answers_are_ordered_and_known(geo: CoverageGeography) -> None:
    order = {s: i for i, s in enumerate(geo.coast_ids)}
    for segs in geo.coast_sets:
        assert list(segs) == sorted(segs, key=order.__getitem__)
    assert geo.coast_sets[0] == ()
    assert any(len(s) == 2 for s in geo.coast_sets)  # where two segments meet


def test_surveyed_polygons_without_h3_work_too(tmp_path: Path, geo: CoverageGeography) -> None:
    folder = tmp_path / "coverage"
    shutil.copytree(COV_DIR, folder)
    doc = json.loads((folder / "sea_cells.geojson").read_text(encoding="utf-8"))
    for n, f in enumerate(doc["features"]):
        f["properties"]["id"] = f"area-{n}"
        del f["properties"]["h3"]
    (folder / "sea_cells.geojson").write_text(json.dumps(doc), encoding="utf-8")
    surveyed = CoverageGeography(folder, load_visit_rules())
    renamed = dict(zip(geo.sea_ids, surveyed.sea_ids, strict=True))
    borders = shapely.union_all([g.boundary for g in surveyed.geoms.values()])
    shapely.prepare(borders)
    rng = random.Random(3)
    lons = [rng.uniform(114.3, 114.7) for _ in range(300)]
    lats = [rng.uniform(22.4, 22.72) for _ in range(300)]
    for lon, lat in zip(lons, lats, strict=True):
        if borders.distance(Point(lon, lat)) < 5e-5:
            continue  # the rounded file outline and h3's own border differ by < 1 m
        a, b = geo.locate(lon, lat).sea, surveyed.locate(lon, lat).sea
        assert (renamed[a] if a else None) == b
    _same(surveyed, lons, lats)


def test_load_coverage_is_cached(geo: CoverageGeography) -> None:
    assert load_coverage() is geo


# -- visit rules --------------------------------------------------------------------------------

CELL = Places(land="L1")
SHORE = Places(land="L1", sea="S1", coast=("C1", "C2"))


def _run(
    rules: VisitRules,
    positions: list[Position],
    places: Places = CELL,
    state: TrackerState | None = None,
) -> tuple[TrackerState | None, list[Visit]]:
    visits: list[Visit] = []
    for p in positions:
        state, new = advance(state, p, places, rules, "u1")
        visits += new
    return state, visits


def _every(
    seconds: int,
    until_s: int,
    kind: str = "foot",
    status: str = "available",
    speed: float | None = 0.5,
    start_s: int = 0,
) -> list[Position]:
    """A unit standing (nearly) still, reporting every `seconds`."""
    return [
        Position((start_s + t) * 1000, 114.5, 22.6, kind, status, speed)
        for t in range(0, until_s + 1, seconds)
    ]


def test_a_visit_after_the_minimum_dwell(rules: VisitRules) -> None:
    assert rules.min_dwell_s == 60
    _state, visits = _run(rules, _every(10, 50))
    assert visits == []  # 50 s is too brief
    _state, visits = _run(rules, _every(10, 60))
    assert visits == [Visit("L1", "land", "u1", 60_000)]


def test_too_fast_is_passing_not_patrolling(rules: VisitRules) -> None:
    fast = rules.kinds["vehicle"].max_speed_m_s + 1
    assert _run(rules, _every(5, 600, "vehicle", speed=fast))[1] == []
    slow = rules.kinds["vehicle"].max_speed_m_s
    assert _run(rules, _every(5, 600, "vehicle", speed=slow))[1]


def test_speed_is_derived_when_not_reported(rules: VisitRules) -> None:
    # one degree of longitude is ~102.8 km at 22.6N: a "foot" unit at 10 m/s is in a vehicle
    running = [
        Position(t * 1000, 114.5 + t * 10 / 102_800, 22.6, "foot", "available")
        for t in range(0, 301, 5)
    ]
    assert _run(rules, running)[1] == []
    walking = [
        Position(t * 1000, 114.5 + t * 1 / 102_800, 22.6, "foot", "available")
        for t in range(0, 301, 5)
    ]
    assert _run(rules, walking)[1] == [Visit("L1", "land", "u1", 60_000)]


@pytest.mark.parametrize("status", ["off_duty", "dispatched", "", "sleeping"])
def test_only_patrol_statuses_count(rules: VisitRules, status: str) -> None:
    assert _run(rules, _every(5, 600, status=status))[1] == []


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("foot", {"L1", "C1", "C2"}),
        ("vehicle", {"L1", "C1", "C2"}),
        ("boat", {"S1", "C1", "C2"}),
        ("drone", {"L1", "S1", "C1", "C2"}),
        ("submarine", set()),
    ],
)
def test_each_kind_counts_for_its_places(rules: VisitRules, kind: str, expected: set[str]) -> None:
    _state, visits = _run(rules, _every(5, 60, kind), SHORE)
    assert {v.place_id for v in visits} == expected
    kinds = {v.place_id: v.place_kind for v in visits}
    assert all(kinds[p] == {"L": "land", "S": "sea", "C": "coast"}[p[0]] for p in kinds)


def test_revisits_are_throttled(rules: VisitRules) -> None:
    assert rules.revisit_s == 300
    _state, visits = _run(rules, _every(5, 20 * 60))
    assert [v.ts_ms // 1000 for v in visits] == [60, 360, 660, 960]


def test_a_gap_restarts_the_dwell(rules: VisitRules) -> None:
    gap = rules.max_gap_s + 1
    positions = _every(10, 40) + _every(10, 40, start_s=40 + gap)
    assert _run(rules, positions)[1] == []


def test_leaving_and_coming_back_restarts_the_dwell(rules: VisitRules) -> None:
    state, visits = _run(rules, _every(10, 50))
    state, visits = _run(rules, _every(10, 10, start_s=60), NOWHERE, state)
    state, visits = _run(rules, _every(10, 50, start_s=80), CELL, state)
    assert visits == []
    state, visits = _run(rules, _every(10, 0, start_s=140), CELL, state)
    assert visits == [Visit("L1", "land", "u1", 140_000)]


track_steps = st.lists(
    st.tuples(
        st.integers(1, 120),
        st.sampled_from([CELL, SHORE, NOWHERE]),
        st.sampled_from(["available", "off_duty"]),
        st.floats(0, 20),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(steps=track_steps, data=st.data())
def test_old_and_repeated_positions_change_nothing(
    rules: VisitRules, steps: list[tuple], data: st.DataObject
) -> None:
    state, ts, seen = None, 0, []
    for dt, places, status, speed in steps:
        ts += dt * 1000
        pos = Position(ts, 114.5, 22.6, "boat", status, speed)
        seen.append((pos, places))
        state, _ = advance(state, pos, places, rules, "u1")
        old, old_places = data.draw(st.sampled_from(seen))  # a redelivery or a late one
        again, visits = advance(state, old, old_places, rules, "u1")
        assert again is state and visits == []


@settings(max_examples=100, deadline=None)
@given(steps=track_steps)
def test_state_survives_a_redis_hash(rules: VisitRules, steps: list[tuple]) -> None:
    state, ts = None, 0
    for dt, places, status, speed in steps:
        ts += dt * 1000
        state, _visits = advance(
            state, Position(ts, 114.5, 22.6, "drone", status, speed), places, rules, "u1"
        )
        h = state.to_hash()
        assert all(isinstance(v, str) for v in h.values())
        assert TrackerState.from_hash(h) == state
        assert TrackerState.from_hash({k.encode(): v.encode() for k, v in h.items()}) == state
        assert len(state.recorded) <= 4  # pruned: only places still throttled


def test_a_malformed_state_is_a_clear_error() -> None:
    assert TrackerState.from_hash({}) is None
    with pytest.raises(ValueError, match="malformed coverage tracker state"):
        TrackerState.from_hash({"ts": "x"})


def test_a_position_without_finite_coordinates_is_refused(rules: VisitRules) -> None:
    with pytest.raises(ValueError, match="finite"):
        advance(None, Position(1, float("nan"), 22.6, "foot", "available"), CELL, rules, "u")


# -- coverage figures ---------------------------------------------------------------------------

NOW = 1_000 * H
SCENARIO = [
    Place("L1", "land", "kuichong-01", "kuichong", "网格员 A", 24),
    Place("L2", "land", "kuichong-02", "kuichong", "网格员 B", 24),
    Place("L3", "land", "nanao-01", "nanao", "网格员 C", 24),
    Place("L4", "land", "nanao-02", "nanao", "网格员 D", 12),
    Place("C1", "coast", "nanao-coast-01", "nanao", "段长 E", 24),
    Place("C2", "coast", "dapeng-coast-01", "dapeng", "段长 F", 6),
    Place("S1", "sea", "nanao-sea-01", "nanao", "海巡 G", 24),
]
LAST = {
    "L1": NOW - 1 * H,  # covered, 23 h left
    "L2": NOW - 30 * H,  # missed 6 h ago
    # L3 never visited
    "L4": NOW - 11 * H,  # covered, 1 h left: about to miss
    "C1": NOW - 24 * H,  # covered exactly to the limit: 0 h left
    "C2": NOW - 5 * H - H // 2,  # covered, 0.5 h left
    "S1": NOW - 25 * H,  # missed 1 h ago
    "X9": NOW,  # not a place: ignored
}


def test_coverage_figures_on_a_hand_checked_scenario() -> None:
    fig = coverage_figures(SCENARIO, LAST, NOW)
    assert {k: (f.covered, f.total) for k, f in fig["district"].items()} == {
        "land": (2, 4),
        "coast": (2, 2),
        "sea": (0, 1),
    }
    assert fig["district"]["land"].percent == 50.0
    assert fig["district"]["coast"].percent == 100.0
    assert fig["district"]["sea"].percent == 0.0
    assert {k: (f.covered, f.total) for k, f in fig["nanao"].items()} == {
        "land": (1, 2),
        "coast": (1, 1),
        "sea": (0, 1),
    }
    assert fig["kuichong"]["land"].percent == 50.0
    assert fig["kuichong"]["sea"].percent is None  # no sea cell there in this scenario
    assert fig["dapeng"]["coast"].percent == 100.0
    assert set(fig) == {"district", "kuichong", "nanao", "dapeng"}


def test_coverage_of_a_window() -> None:
    today = coverage_figures(SCENARIO, LAST, NOW, since_ms=NOW - 11 * H)
    assert [(f.covered, f.total) for f in today["district"].values()] == [(2, 4), (1, 2), (0, 1)]
    assert today["district"]["coast"].percent == 50.0


def test_blind_spots_name_the_owner_and_the_time_since() -> None:
    spots = blind_spots(SCENARIO, LAST, NOW)
    assert [(b.place.id, b.place.owner, b.hours_since) for b in spots] == [
        ("L3", "网格员 C", None),
        ("L2", "网格员 B", 30.0),
        ("S1", "海巡 G", 25.0),
    ]
    assert spots[1].last_visit_ms == NOW - 30 * H


def test_about_to_miss_within_the_lead_time(rules: VisitRules) -> None:
    due = about_to_miss(SCENARIO, LAST, NOW, rules.warning_lead_h)
    assert [(d.place.id, d.hours_left) for d in due] == [("C1", 0.0), ("C2", 0.5), ("L4", 1.0)]
    assert due[2].deadline_ms == NOW + H
    assert about_to_miss(SCENARIO, LAST, NOW, 0.25) == due[:1]


def test_real_geography_starts_all_blind(geo: CoverageGeography) -> None:
    places = list(geo.places.values())
    fig = coverage_figures(places, {}, NOW)
    assert fig["district"]["land"].total == len(geo.land_ids)
    assert fig["district"]["land"].covered == 0
    assert len(blind_spots(places, {}, NOW)) == len(places)


# -- patrol-log reconciliation ------------------------------------------------------------------


def _interior_cells(geo: CoverageGeography) -> tuple[str, str, str]:
    """Two neighbouring inland cells and a third far from both."""
    inland = [
        f["properties"]["id"]
        for f in _features("land_cells.geojson")
        if f["properties"]["land_fraction"] == 1.0
    ]
    a, b = next((a, b) for a in inland for b in inland if h3.are_neighbor_cells(a, b))
    c = next(c for c in inland if h3.grid_distance(a, c) >= 3)
    return a, b, c


def test_reconciliation_flags_exactly_the_false_claims(
    geo: CoverageGeography, rules: VisitRules
) -> None:
    a, b, c = _interior_cells(geo)
    (ax, ay), (bx, by) = _centre(a), _centre(b)
    start = 10 * H
    track = [(start + t * 1000, ax + t * 1e-6, ay) for t in range(0, 601, 10)]  # 10 min in a
    track += [(start + t * 1000, bx, by) for t in (620, 630, 640)]  # 20 s in b,
    track += [(start + 650_000, ax, ay)]  # back in a,
    track += [(start + t * 1000, bx, by) for t in range(700, 741, 10)]  # 40 s in b again
    track += [(start + 7 * H, bx, by)]  # outside the window
    random.Random(1).shuffle(track)
    track += track[:5]  # redelivered positions
    sea = geo.sea_ids[0]
    claim = PatrolClaim("u1", start, start + H, (a, b, c, "nowhere-1", a, sea))
    checks = reconcile(claim, track, geo, rules)
    assert [(k.place_id, k.flag) for k in checks] == [
        (a, "ok"),
        (b, "too_brief"),
        (c, "not_visited"),
        ("nowhere-1", "unknown_place"),
        (sea, "not_visited"),
    ]
    assert (checks[0].longest_stay_s, checks[0].first_ms, checks[0].last_ms) == (
        600.0,
        start,
        start + 650_000,
    )
    # a minute in b all told, but never a minute at a time
    assert (checks[1].seconds_inside, checks[1].longest_stay_s) == (60.0, 40.0)


def test_reconciliation_without_a_track_and_with_the_wrong_kind(
    geo: CoverageGeography, rules: VisitRules
) -> None:
    a, _b, _c = _interior_cells(geo)
    sea = geo.sea_ids[0]
    empty = reconcile(PatrolClaim("u1", 0, H, (a, "nowhere-1")), [(2 * H, 114.5, 22.6)], geo, rules)
    assert [k.flag for k in empty] == ["no_track", "unknown_place"]
    boat = reconcile(PatrolClaim("u1", 0, H, (a, sea), kind="boat"), [], geo, rules)
    assert [k.flag for k in boat] == ["wrong_kind", "no_track"]
    with pytest.raises(ValueError, match="unknown unit kind"):
        reconcile(PatrolClaim("u1", 0, H, (a,), kind="horse"), [], geo, rules)
    with pytest.raises(ValueError, match="ends before it starts"):
        reconcile(PatrolClaim("u1", H, 0, (a,)), [], geo, rules)


def test_reconciliation_applies_the_speed_limit_of_the_kind(
    geo: CoverageGeography, rules: VisitRules
) -> None:
    a, _b, _c = _interior_cells(geo)
    ax, ay = _centre(a)
    track = [(t * 1000, ax, ay, 20.0) for t in range(0, 301, 5)]  # reported 20 m/s
    claim = PatrolClaim("u1", 0, H, (a,))
    assert reconcile(claim, track, geo, rules)[0].flag == "ok"
    fast = reconcile(PatrolClaim("u1", 0, H, (a,), kind="vehicle"), track, geo, rules)
    assert fast[0].flag == "not_visited"


# -- rules file ---------------------------------------------------------------------------------


def _rules_doc() -> dict[str, Any]:
    return json.loads((COV_DIR / "rules.json").read_text(encoding="utf-8"))


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = _rules_doc()
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("kinds", "vehicle", "max_speed_m_s"), -1, "max_speed_m_s"),
        (("kinds", "boat", "sea"), "yes", "sea"),
        (("kinds", "drone"), _DELETE, "drone"),
        (("min_dwell_s",), _DELETE, "min_dwell_s"),
        (("min_dwell_s",), "60", "min_dwell_s"),
        (("revisit_s",), 0, "revisit_s"),
        (("coast_distance_m",), 0, "coast_distance_m"),
        (("patrol_statuses",), ["available", "sleeping"], "patrol_statuses"),
        (("patrol_statuses",), [], "patrol_statuses"),
        (("warning_lead_h",), None, "warning_lead_h"),
        (("dwell",), 60, "dwell"),
    ],
)
def test_a_malformed_rule_is_a_clear_error_naming_the_field(
    tmp_path: Path, path: tuple[str, ...], value: Any, expected: str
) -> None:
    file = tmp_path / "rules.json"
    file.write_text(json.dumps(_with(path, value)), encoding="utf-8")
    with pytest.raises(ValueError, match=expected) as e:
        load_visit_rules(file)
    assert str(file) in str(e.value)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", ""])
def test_a_rules_file_that_is_not_an_object_is_refused(tmp_path: Path, content: str) -> None:
    file = tmp_path / "rules.json"
    file.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="coverage rules"):
        load_visit_rules(file)


@pytest.mark.parametrize(
    ("file", "edit", "expected"),
    [
        ("land_cells.geojson", lambda p: p.pop("owner"), "'owner'"),
        ("coast_segments.geojson", lambda p: p.update(requirement_h=0), "'requirement_h'"),
        ("sea_cells.geojson", lambda p: p.update(requirement_h="24"), "'requirement_h'"),
        ("sea_cells.geojson", lambda p: p.update(id="coast-nanao-01"), "used twice"),
    ],
)
def test_a_bad_coverage_file_is_a_clear_error_naming_it(
    tmp_path: Path, file: str, edit: Any, expected: str
) -> None:
    folder = tmp_path / "coverage"
    shutil.copytree(COV_DIR, folder)
    doc = json.loads((folder / file).read_text(encoding="utf-8"))
    edit(doc["features"][0]["properties"])
    (folder / file).write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ValueError, match=expected) as e:
        CoverageGeography(folder, load_visit_rules())
    assert file in str(e.value)


def test_a_missing_coverage_file_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"derive_coverage\.py"):
        CoverageGeography(tmp_path, load_visit_rules())


# -- derived files ------------------------------------------------------------------------------


def test_derived_files_match_a_fresh_run(tmp_path: Path) -> None:
    """The committed files are what the script makes (it is deterministic)."""
    load_script("derive_coverage").main(["--out", str(tmp_path)])
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (COV_DIR / name).read_bytes(), name


def _check_common(p: dict[str, Any], owner_key: str) -> None:
    assert p["subdistrict"] in SUBDISTRICTS
    assert p["requirement_h"] == 24
    assert p[owner_key].endswith("（示意）")  # illustrative, and says so
    assert p["derived"]
    assert not any("phone" in k for k in p)


def test_land_cells_file() -> None:
    grid = {
        f["properties"]["id"]: f
        for f in json.loads((CONFIG_DIR / "geo" / "dapeng_grid.geojson").read_text())["features"]
    }
    cells = _features("land_cells.geojson")
    assert [f["properties"]["id"] for f in cells] == list(grid)
    for f in cells:
        p = f["properties"]
        g = grid[p["id"]]
        assert f["geometry"] == g["geometry"]
        assert p["label"] == g["properties"]["label"]
        assert p["subdistrict"] == g["properties"]["subdistrict"]
        assert p["community"].startswith(SUBDISTRICTS[p["subdistrict"]])
        assert p["community_name"].endswith("社区")
        _check_common(p, "owner")
    # every community of the district answers for some cells
    assert len({f["properties"]["community"] for f in cells}) == 25


def test_coast_segments_file() -> None:
    script = load_script("derive_coverage")
    segments = _features("coast_segments.geojson")
    gshhg = script.load_gshhg_land().boundary
    land = shape(
        json.loads((CONFIG_DIR / "geo" / "dapeng_land.geojson").read_text())["features"][0][
            "geometry"
        ]
    )
    total = 0
    for f in segments:
        p = f["properties"]
        geom = shape(f["geometry"])
        assert geom.geom_type == "LineString" and geom.is_valid
        assert p["id"] == f"coast-{p['subdistrict']}-{p['label'][-2:]}"
        assert 1_000 <= p["length_m"] <= 1.5 * script.SEGMENT_M
        _check_common(p, "chief")
        # on the real shoreline, not on the land border with the neighbouring districts
        assert max(Point(c).distance(gshhg) for c in geom.coords) < 2 * script.SHORE_TOL_DEG
        assert geom.distance(land.boundary) < 1e-5  # cut points are rounded
        total += p["length_m"]
    assert 100_000 < total < 130_000  # Dapeng's coastline is given as ~133 km at finer scale


def test_sea_cells_file() -> None:
    waters = shape(
        json.loads((CONFIG_DIR / "geo" / "dapeng_waters.geojson").read_text())["features"][0][
            "geometry"
        ]
    )
    cells = _features("sea_cells.geojson")
    land_ids = {f["properties"]["id"] for f in _features("land_cells.geojson")}
    for f in cells:
        p = f["properties"]
        assert p["id"] == f"sea-{p['h3']}" and p["id"] not in land_ids
        assert h3.get_resolution(p["h3"]) == load_script("derive_coverage").SEA_H3_RES
        assert 0.01 <= p["water_fraction"] <= 1
        _check_common(p, "owner")
    covered = shapely.union_all([shape(f["geometry"]) for f in cells])
    assert waters.difference(covered).area < 0.005 * waters.area  # only the slivers are out


def test_files_are_compact_and_rounded() -> None:
    for name in GENERATED[:3]:
        assert (COV_DIR / name).stat().st_size < 300_000
        for f in _features(name):
            coords = shapely.get_coordinates(shape(f["geometry"])).ravel().tolist()
            assert all(round(c, 5) == c for c in coords)
