"""The travel model: routes that respect the coastline, on real Dapeng coordinates."""

from __future__ import annotations

import heapq
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import travel as tr
from domain.geo import Geography, haversine_m
from domain.travel import LAND_DETOUR, SNAP_M, SPEED_M_S, TravelModel, bucket_dijkstra

KUICHONG = (114.43, 22.63)
DAPENG_FORTRESS = (114.51, 22.60)
NANAO = (114.50, 22.53)
QINIANGSHAN = (114.55, 22.50)
AO_NORTH = (114.52, 22.595)  # Dapeng town, north shore of 大鹏澳
AO_SOUTH = (114.52, 22.555)  # Nan'ao, its south shore, 4.4 km across the water
ISLAND = (114.6502, 22.5728)  # a small island in Daya Bay, no land link
XICHONG_SHORE = (114.54667, 22.48346)  # 西涌 beach, on land ~60 m from the water
DAPENG_BAY = (114.40, 22.52)
DAYA_BAY = (114.68, 22.62)
DAPENG_AO = (114.52, 22.578)
OFF_SOUTH_TIP = (114.51, 22.43)  # open water just south of the peninsula
OPEN_SEA = (114.50, 22.40)


def test_known_places_are_where_the_tests_say(geo: Geography) -> None:
    for p in (
        KUICHONG,
        DAPENG_FORTRESS,
        NANAO,
        QINIANGSHAN,
        AO_NORTH,
        AO_SOUTH,
        ISLAND,
        XICHONG_SHORE,
    ):
        assert geo.is_land(*p), p
    for p in (DAPENG_BAY, DAYA_BAY, DAPENG_AO, OFF_SOUTH_TIP, OPEN_SEA):
        assert geo.is_sea(*p), p
    assert not geo.segment_stays_on_land(AO_NORTH, AO_SOUTH)


def test_the_district_is_one_land_graph(travel: TravelModel) -> None:
    places = (KUICHONG, DAPENG_FORTRESS, NANAO, QINIANGSHAN, AO_NORTH, AO_SOUTH, XICHONG_SHORE)
    for a in places:
        for b in places:
            leg = travel.leg("vehicle", a, b)
            assert leg.distance_m is not None, (a, b, leg.note)
            assert leg.distance_m >= haversine_m(*a, *b) * LAND_DETOUR * (1 - 1e-9)


def test_the_bays_are_one_sea_graph_round_the_southern_tip(travel: TravelModel) -> None:
    for a in (DAPENG_BAY, DAYA_BAY, DAPENG_AO, OFF_SOUTH_TIP):
        for b in (DAPENG_BAY, DAYA_BAY, DAPENG_AO, OFF_SOUTH_TIP):
            assert travel.leg("boat", a, b).distance_m is not None, (a, b)
    boat = travel.leg("boat", DAPENG_BAY, DAYA_BAY).distance_m
    straight = haversine_m(*DAPENG_BAY, *DAYA_BAY)
    via_tip = haversine_m(*DAPENG_BAY, *OFF_SOUTH_TIP) + haversine_m(*OFF_SOUTH_TIP, *DAYA_BAY)
    assert boat > straight * 1.3  # not across the peninsula
    assert via_tip * 0.9 < boat < via_tip * 1.25  # but round it, not some wider loop


def test_a_car_drives_round_the_bay_not_across_it(travel: TravelModel) -> None:
    straight = haversine_m(*AO_SOUTH, *AO_NORTH)
    car = travel.leg("vehicle", AO_SOUTH, AO_NORTH)
    assert car.distance_m is not None and car.distance_m > 2.5 * straight
    assert car.eta_s == pytest.approx(car.distance_m / SPEED_M_S["vehicle"])
    assert car.eta_s > 2.5 * straight / SPEED_M_S["vehicle"]
    drone = travel.leg("drone", AO_SOUTH, AO_NORTH)
    assert drone.distance_m == pytest.approx(straight)


def test_short_trips_on_open_land_use_the_straight_line(travel: TravelModel) -> None:
    a, b = KUICHONG, (KUICHONG[0] + 0.004, KUICHONG[1] + 0.003)
    leg = travel.leg("foot", a, b)
    assert leg.distance_m == pytest.approx(haversine_m(*a, *b) * LAND_DETOUR)
    assert leg.eta_s == pytest.approx(leg.distance_m / (4 / 3.6))


def test_unreachable_says_why(travel: TravelModel) -> None:
    assert travel.leg("vehicle", ISLAND, KUICHONG).note == "no_route"
    assert travel.leg("vehicle", KUICHONG, ISLAND).distance_m is None
    assert travel.leg("boat", DAPENG_AO, KUICHONG).note == "off_graph"  # inland
    assert travel.leg("vehicle", KUICHONG, OPEN_SEA).note == "off_graph"
    assert travel.leg("vehicle", KUICHONG, DAPENG_AO, "sea").note == "wrong_domain"
    assert travel.leg("boat", DAPENG_AO, NANAO, "land").note == "wrong_domain"
    assert travel.leg("vehicle", (114.05, 22.55), KUICHONG).note == "outside_area"  # Futian
    assert travel.leg("hovercraft", KUICHONG, KUICHONG).note == "unknown_kind"
    legs = travel.eta([{"kind": "foot", "lon": None, "lat": 22.5}, {"kind": "foot"}], KUICHONG)
    assert [(x.eta_s, x.note) for x in legs] == [(None, "no_position")] * 2
    assert travel.leg("drone", ISLAND, KUICHONG).eta_s is not None  # drones fly
    with pytest.raises(ValueError, match="destination"):
        travel.leg("foot", KUICHONG, (math.nan, 22.5))


def test_a_coastal_incident_is_reached_from_land_and_sea(travel: TravelModel) -> None:
    car = travel.leg("vehicle", KUICHONG, XICHONG_SHORE, "coastal")
    boat = travel.leg("boat", DAPENG_AO, XICHONG_SHORE, "coastal")
    assert car.eta_s is not None and boat.eta_s is not None
    assert boat.distance_m > 1.5 * haversine_m(*DAPENG_AO, *XICHONG_SHORE)  # round the cape
    assert travel.leg("boat", DAPENG_AO, XICHONG_SHORE, "land").eta_s is None


def test_a_boat_moored_in_a_land_cell_starts_from_the_water(
    geo: Geography, travel: TravelModel
) -> None:
    rng, land = random.Random(7), travel.graphs["land"]
    moored = []
    while len(moored) < 20:
        p = geo.random_sea_point(rng, "district")
        r, c, _ = travel.raster.index(np.array([p[0]]), np.array([p[1]]))
        if land.node[r[0], c[0]] >= 0:  # the cell's centre is on land
            moored.append(p)
    node, leg, _ = travel.snap("sea", [p[0] for p in moored], [p[1] for p in moored])
    sea = travel.graphs["sea"]
    assert (node >= 0).all() and (leg <= SNAP_M).all()
    assert all(geo.is_sea(float(sea.lon[n]), float(sea.lat[n])) for n in node)
    legs = travel.eta([{"kind": "boat", "lon": x, "lat": y} for x, y in moored], DAPENG_AO)
    assert all(x.eta_s is not None for x in legs)


def test_recent_searches_are_cached(travel: TravelModel) -> None:
    travel._cache.clear()
    first = travel.distances_from(NANAO, "land")
    assert len(travel._cache) == 1
    again = travel.distances_from((NANAO[0] + 1e-5, NANAO[1]), "land")  # same cell
    assert len(travel._cache) == 1 and np.allclose(first, again, atol=5)
    for i in range(tr.CACHE + 5):
        travel.distances_from((114.40 + i * 0.005, 22.64), "land")
    assert len(travel._cache) == tr.CACHE
    assert np.isinf(travel.distances_from(OPEN_SEA, "land")).all()


def _heap_dijkstra(nbr: np.ndarray, w: np.ndarray, source: int) -> np.ndarray:
    """Textbook Dijkstra, the reference for the vectorised one."""
    dist = np.full(nbr.shape[0] - 1, np.inf)
    dist[source] = 0.0
    heap = [(0.0, source)]
    while heap:
        d, i = heapq.heappop(heap)
        if d > dist[i]:
            continue
        for j, wj in zip(nbr[i].tolist(), w[i].tolist(), strict=True):
            if j < dist.size and d + wj < dist[j]:
                dist[j] = d + wj
                heapq.heappush(heap, (d + wj, j))
    return dist


@pytest.mark.parametrize("graph", ["land", "sea"])
def test_bucket_dijkstra_matches_the_textbook_on_the_real_graphs(
    travel: TravelModel, graph: str
) -> None:
    g = travel.graphs[graph]
    for source in (0, g.lon.size // 3, g.lon.size - 1):
        fast = bucket_dijkstra(g.nbr, g.w, source, g.min_w)
        ref = _heap_dijkstra(g.nbr, g.w, source)
        assert np.array_equal(np.isinf(fast), np.isinf(ref))
        assert np.allclose(fast[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-12)
        assert np.allclose(g.search(source), ref, rtol=1e-12, equal_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 30), st.integers(0, 10**6), st.floats(1.0, 5.0))
def test_bucket_dijkstra_on_random_graphs(n: int, seed: int, spread: float) -> None:
    rng = np.random.default_rng(seed)
    nbr = np.full((n + 1, 4), n)
    w = np.full((n + 1, 4), np.inf)
    for i in range(n):  # undirected: add each edge both ways where there is room
        for j in rng.choice(n, size=2).tolist():
            a, b = np.flatnonzero(nbr[i] == n), np.flatnonzero(nbr[j] == n)
            if i != j and a.size and b.size:
                wt = float(rng.uniform(1.0, spread))
                nbr[i, a[0]], w[i, a[0]], nbr[j, b[0]], w[j, b[0]] = j, wt, i, wt
    fast = bucket_dijkstra(nbr, w, 0, 1.0)
    ref = _heap_dijkstra(nbr, w, 0)
    assert np.array_equal(np.isinf(fast), np.isinf(ref))
    assert np.allclose(fast[np.isfinite(ref)], ref[np.isfinite(ref)])


POINTS = st.tuples(st.floats(114.30, 114.66), st.floats(22.42, 22.70))


@settings(max_examples=80, deadline=None)
@given(POINTS, POINTS)
def test_never_faster_than_the_straight_line(travel: TravelModel, a: tuple, b: tuple) -> None:
    """Every leg is exact (unit to its cell centre, centre to centre, centre to destination), so
    by the triangle inequality there is no rounding slack: ETA >= straight / speed, and on land
    >= straight x detour / speed."""
    straight = haversine_m(*a, *b)
    for kind, factor in (
        ("foot", LAND_DETOUR),
        ("vehicle", LAND_DETOUR),
        ("boat", 1.0),
        ("drone", 1.0),
    ):
        leg = travel.leg(kind, a, b)
        if leg.eta_s is not None:
            assert leg.eta_s >= straight * factor / SPEED_M_S[kind] * (1 - 1e-9)
            assert leg.straight_m == pytest.approx(straight)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["land", "sea"]), st.integers(0, 10**6), st.integers(0, 10**6))
def test_graph_distances_are_symmetric(travel: TravelModel, graph: str, i: int, j: int) -> None:
    g = travel.graphs[graph]
    i, j = i % g.lon.size, j % g.lon.size
    a, b = (float(g.lon[i]), float(g.lat[i])), (float(g.lon[j]), float(g.lat[j]))
    ab, ba = travel.distances_from(a, graph)[j], travel.distances_from(b, graph)[i]
    assert (math.isinf(ab) and math.isinf(ba)) or ab == pytest.approx(ba, rel=1e-9)


def test_land_units_go_round_and_boats_round_the_peninsula(travel: TravelModel) -> None:
    car = travel.leg("vehicle", KUICHONG, QINIANGSHAN)
    straight = haversine_m(*KUICHONG, *QINIANGSHAN)
    assert car.distance_m is not None and car.distance_m > straight * 1.2
    boat = travel.leg("boat", DAPENG_BAY, (114.62, 22.60))  # Daya Bay, east of the peninsula
    drone = travel.leg("drone", DAPENG_BAY, (114.62, 22.60))
    assert boat.distance_m > drone.distance_m * 1.5  # round the southern tip, not across land
    assert drone.eta_s == pytest.approx(drone.distance_m / SPEED_M_S["drone"])


def test_no_route_is_none(travel: TravelModel) -> None:
    assert travel.leg("vehicle", KUICHONG, OPEN_SEA).eta_s is None  # a car cannot reach it
    assert travel.leg("boat", DAPENG_BAY, KUICHONG).eta_s is None  # inland
    assert travel.leg("hovercraft", KUICHONG, KUICHONG).eta_s is None
