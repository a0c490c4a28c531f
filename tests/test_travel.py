"""The travel model: routes that respect the coastline, on real Dapeng coordinates."""

from __future__ import annotations

import heapq
import itertools
import math
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

from domain import travel as tr
from domain.geo import Geography, haversine_m
from domain.travel import LAND_DETOUR, SNAP_M, SPEED_M_S, TravelModel

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


def _heap_dijkstra(edges: Any, source: int) -> np.ndarray:
    """Textbook Dijkstra over the graph's CSR rows, the reference for scipy's."""
    dist = np.full(edges.shape[0], np.inf)
    dist[source] = 0.0
    heap = [(0.0, source)]
    while heap:
        d, i = heapq.heappop(heap)
        if d > dist[i]:
            continue
        lo, hi = edges.indptr[i], edges.indptr[i + 1]
        for j, wj in zip(edges.indices[lo:hi].tolist(), edges.data[lo:hi].tolist(), strict=True):
            if d + wj < dist[j]:
                dist[j] = d + wj
                heapq.heappush(heap, (d + wj, j))
    return dist


@pytest.mark.parametrize("graph", ["land", "sea"])
def test_the_search_matches_the_textbook_on_the_real_graphs(
    travel: TravelModel, graph: str
) -> None:
    g = travel.graphs[graph]
    for source in (0, g.lon.size // 3, g.lon.size - 1):
        dist, pred = g.search(source)
        ref = _heap_dijkstra(g.edges, source)
        assert np.array_equal(np.isinf(dist), np.isinf(ref))
        assert np.allclose(dist[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-12)
        # each reached node's predecessor is one edge nearer the source, on a shortest path
        reached = np.flatnonzero(np.isfinite(dist) & (np.arange(dist.size) != source))
        assert (pred[reached] >= 0).all() and pred[source] < 0
        step = np.asarray(g.edges[pred[reached], reached]).ravel()
        assert np.allclose(dist[pred[reached]] + step, dist[reached], rtol=1e-12)


@pytest.mark.parametrize(
    ("kind", "a", "b", "domain", "metres"),
    [  # by the hand-written bucket Dijkstra this model had before scipy (to the millimetre)
        ("vehicle", KUICHONG, NANAO, None, 18_909.967),
        ("vehicle", AO_SOUTH, AO_NORTH, None, 14_712.838),
        ("foot", KUICHONG, QINIANGSHAN, None, 25_822.275),
        ("boat", DAPENG_BAY, DAYA_BAY, None, 43_576.238),
        ("boat", DAPENG_AO, XICHONG_SHORE, "coastal", 24_975.347),
        ("vehicle", KUICHONG, XICHONG_SHORE, "coastal", 28_548.743),
    ],
)
def test_distances_are_the_ones_known_before_scipy(
    travel: TravelModel, kind: str, a: tuple, b: tuple, domain: str | None, metres: float
) -> None:
    assert travel.leg(kind, a, b, domain).distance_m == pytest.approx(metres, abs=0.001)


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


# -- paths: the way a distance assumed --------------------------------------------------------

DETOUR = {"foot": LAND_DETOUR, "vehicle": LAND_DETOUR, "boat": 1.0, "drone": 1.0}


def _length_m(points: list[tuple[float, float]]) -> float:
    return sum(haversine_m(*a, *b) for a, b in itertools.pairwise(points))


def _wet_m(geo: Geography, points: list[tuple[float, float]]) -> float:
    """Metres of the polyline off land (degrees to metres, roughly: enough for a bound)."""
    return LineString(points).difference(geo.land).length * 111_195


@pytest.mark.parametrize(
    ("kind", "a", "b", "domain"),
    [
        ("vehicle", KUICHONG, NANAO, None),
        ("vehicle", AO_SOUTH, AO_NORTH, None),  # round the bay
        ("foot", KUICHONG, QINIANGSHAN, None),
        ("foot", KUICHONG, (KUICHONG[0] + 0.004, KUICHONG[1] + 0.003), None),  # straight
        ("boat", DAPENG_BAY, DAYA_BAY, None),  # round the southern tip
        ("boat", DAPENG_AO, XICHONG_SHORE, "coastal"),
        ("vehicle", KUICHONG, XICHONG_SHORE, "coastal"),
        ("drone", AO_SOUTH, AO_NORTH, None),
    ],
)
def test_a_path_is_as_long_as_its_leg(
    travel: TravelModel, kind: str, a: tuple, b: tuple, domain: str | None
) -> None:
    leg = travel.leg(kind, a, b, domain)
    path = travel.path(kind, a, b, domain)
    assert path is not None and leg.distance_m is not None
    assert path[0] == a and path[-1] == b
    assert _length_m(path) * DETOUR[kind] == pytest.approx(leg.distance_m, abs=1.0)


@settings(max_examples=80, deadline=None)
@given(POINTS, POINTS, st.sampled_from(["foot", "vehicle", "boat", "drone"]))
def test_any_path_is_as_long_as_its_leg(travel: TravelModel, a: tuple, b: tuple, kind: str) -> None:
    leg, path = travel.leg(kind, a, b), travel.path(kind, a, b)
    assert (path is None) == (leg.distance_m is None)
    if path is not None:
        assert _length_m(path) * DETOUR[kind] == pytest.approx(leg.distance_m, abs=1.0)


def test_land_paths_stay_on_land_and_sea_paths_at_sea(geo: Geography, travel: TravelModel) -> None:
    land = (KUICHONG, DAPENG_FORTRESS, NANAO, QINIANGSHAN, AO_NORTH, AO_SOUTH, XICHONG_SHORE)
    for a, b in itertools.permutations(land, 2):
        path = travel.path("vehicle", a, b)
        assert path is not None and all(geo.is_land(*p) for p in path), (a, b)
    sea = (DAPENG_BAY, DAYA_BAY, DAPENG_AO, OFF_SOUTH_TIP)
    for a, b in itertools.permutations(sea, 2):
        path = travel.path("boat", a, b)
        assert path is not None and all(geo.is_sea(*p) for p in path), (a, b)


def test_from_kuichong_to_nanao_a_car_stays_ashore(geo: Geography, travel: TravelModel) -> None:
    path = travel.path("vehicle", KUICHONG, NANAO)
    assert path is not None and len(path) > 10  # over the grid, not the straight line
    assert _wet_m(geo, path) < 50  # no more than a corner of a cove between two cells
    # and round 大鹏澳, where the straight line crosses 3.6 km of water
    around = travel.path("vehicle", AO_SOUTH, AO_NORTH)
    assert around is not None
    assert _wet_m(geo, around) < 0.15 * _wet_m(geo, [AO_SOUTH, AO_NORTH])


def test_short_clear_trips_and_drones_take_the_straight_line(travel: TravelModel) -> None:
    near = (KUICHONG[0] + 0.004, KUICHONG[1] + 0.003)
    assert travel.path("foot", KUICHONG, near) == [KUICHONG, near]
    assert travel.path("drone", ISLAND, KUICHONG) == [ISLAND, KUICHONG]
    assert travel.path("vehicle", KUICHONG, KUICHONG) == [KUICHONG]


def test_an_unreachable_unit_has_no_path(travel: TravelModel) -> None:
    assert travel.path("vehicle", ISLAND, KUICHONG) is None  # no_route
    assert travel.path("vehicle", KUICHONG, OPEN_SEA) is None  # off_graph
    assert travel.path("boat", DAPENG_AO, KUICHONG) is None  # inland
    assert travel.path("vehicle", KUICHONG, DAPENG_AO, "sea") is None  # wrong_domain
    assert travel.path("vehicle", (114.05, 22.55), KUICHONG) is None  # outside_area
    assert travel.path("hovercraft", KUICHONG, NANAO) is None
    assert travel.path("foot", (math.nan, 22.5), KUICHONG) is None  # no position


def test_paths_to_one_place_share_one_cached_search(travel: TravelModel) -> None:
    """A page asking for the path of each assigned unit every few seconds costs a walk of
    predecessors, not a search per unit."""
    travel._cache.clear()
    for origin in (KUICHONG, DAPENG_FORTRESS, QINIANGSHAN, AO_NORTH):
        assert travel.path("vehicle", origin, NANAO) is not None
    assert len(travel._cache) == 1
