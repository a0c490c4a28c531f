"""The way a unit drives or sails to a scene: the path the centre's ETA assumed
(`TravelModel.path`, domain/travel.py), so a simulated unit takes the route the duty chief's map
draws and arrives when the ETA said: on land it advances at its speed / 1.3 (tasks.ROAD_WINDING)
as the ETA counts the path's length times LAND_DETOUR.

The travel graph joins 400 m cell centres; about 1 % of its edges clip a cove or a headland of
the real coastline. The unit must not leave its medium, so such a leg is bent through a point
beside it (within BEND_M) that keeps both halves on land (or at sea). A scene the graph does not
reach (another island, a closed basin) gives way to the node of the unit's own part of the graph
nearest to it; a leg no bend saves (about 1 trip in 1,000) ends the way before it. Either way
the unit goes as near as it can.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from domain.geo import Geography, LonLat, haversine_m
from domain.travel import GRAPH_OF_KIND, TravelModel, haversine
from domain.vocab import UnitKind

BEND_M = 800.0  # how far from a leg's middle a point to go round may be
BEND_STEP_M = 50.0  # the lattice of those points
_M_PER_DEG_LAT = 111_195.0


@dataclass(frozen=True)
class Route:
    points: list[LonLat]  # waypoints after the start, in order; empty: stay where it is
    reached: bool  # the last point is the goal (else the nearest point found to it)


def segment_check(geo: Geography, kind: UnitKind) -> Callable[[LonLat, LonLat], bool]:
    if kind is UnitKind.BOAT:
        return geo.segment_stays_at_sea
    if kind is UnitKind.DRONE:
        return lambda _a, _b: True  # drones fly straight over land and sea
    return geo.segment_stays_on_land


def plan(travel: TravelModel, geo: Geography, kind: UnitKind, start: LonLat, goal: LonLat) -> Route:
    """The way from start to the goal, or as near to it as the unit can get."""
    points = travel.path(kind.value, start, goal)
    reached = points is not None
    if points is None:
        points = _towards(travel, kind, start, goal)
    way, whole = _within_medium(points, segment_check(geo, kind))
    return Route(way[1:], reached and whole)


def length_m(points: list[LonLat]) -> float:
    return sum(haversine_m(*a, *b) for a, b in itertools.pairwise(points))


def _towards(travel: TravelModel, kind: UnitKind, start: LonLat, goal: LonLat) -> list[LonLat]:
    """The path to the node nearest the goal among those the unit's own node connects to
    (the search from it is finite exactly there); just the start when it is off the graph."""
    graph = GRAPH_OF_KIND[kind.value]
    field = travel.distances_from(start, graph)
    g = travel.graphs[graph]
    linked = np.flatnonzero(np.isfinite(field))
    if not linked.size:
        return [start]
    best = linked[np.argmin(haversine(g.lon[linked], g.lat[linked], goal[0], goal[1]))]
    return travel.path(kind.value, start, (float(g.lon[best]), float(g.lat[best]))) or [start]


def _within_medium(
    points: list[LonLat], ok: Callable[[LonLat, LonLat], bool]
) -> tuple[list[LonLat], bool]:
    """The points with a bend added in each leg that leaves the medium, and whether all of it
    is kept (else it stops before the first leg no bend saves)."""
    out = [points[0]]
    for b in points[1:]:
        a = out[-1]
        if ok(a, b):
            out.append(b)
            continue
        bend = _bend(a, b, ok)
        if bend is None:
            return out, False
        out += [bend, b]
    return out, True


def _bend(a: LonLat, b: LonLat, ok: Callable[[LonLat, LonLat], bool]) -> LonLat | None:
    """The point within BEND_M of the middle of a-b (on a BEND_STEP_M lattice) that makes the
    shortest way a-point-b with both halves in the medium; None if none does."""
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    dlat = BEND_STEP_M / _M_PER_DEG_LAT
    dlon = dlat / math.cos(math.radians(mid[1]))  # degrees of longitude are shorter
    k = int(BEND_M // BEND_STEP_M)
    steps = np.arange(-k, k + 1)
    lon = (mid[0] + steps[None, :] * dlon).repeat(steps.size, axis=0).ravel()
    lat = (mid[1] + steps[:, None] * dlat).repeat(steps.size, axis=1).ravel()
    near = haversine(lon, lat, mid[0], mid[1]) <= BEND_M
    lon, lat = lon[near], lat[near]
    way = haversine(a[0], a[1], lon, lat) + haversine(lon, lat, b[0], b[1])
    for i in np.argsort(way, kind="stable").tolist():
        p = (float(lon[i]), float(lat[i]))
        if ok(a, p) and ok(p, b):
            return p
    return None
