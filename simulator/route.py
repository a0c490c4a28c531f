"""The way a unit drives or sails to a scene without leaving its medium: A* on a square grid
laid from the unit's own position, every grid step checked against the real coastline (the
same `segment_stays_*` tests the patrols use), then shortened to the fewest straight legs.

A straight "turn when blocked" walk gets stuck in bays; a search does not, and costs a few
milliseconds on land, a few tenths of a second for a boat going round the peninsula's tip
(~10 us per segment check). When the goal cannot be reached
(another island, a closed basin) the route ends at the explored point nearest to it.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from domain.geo import Geography, LonLat, haversine_m
from domain.vocab import UnitKind

STEP_M = 300.0  # grid step: narrow land necks and channels are many steps wide
MAX_EXPAND = 30_000  # about every cell of the area: a search gives up only when cut off (<1 s)
MARGIN_DEG = 0.1  # ~10 km round the district: Dapeng Bay, Daya Bay, the southern tip
_M_PER_DEG_LAT = 111_195.0
_STEPS = tuple((di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj)


@dataclass(frozen=True)
class Route:
    points: list[LonLat]  # waypoints after the start, in order; empty: stay where it is
    reached: bool  # the last point is the goal (else the nearest point found to it)


def area(geo: Geography) -> tuple[float, float, float, float]:
    """The box units may be sent into: the district and its surrounding waters."""
    x0, y0, x1, y1 = geo.district.bounds
    return x0 - MARGIN_DEG, y0 - MARGIN_DEG, x1 + MARGIN_DEG, y1 + MARGIN_DEG


def segment_check(geo: Geography, kind: UnitKind) -> Callable[[LonLat, LonLat], bool]:
    if kind is UnitKind.BOAT:
        return geo.segment_stays_at_sea
    if kind is UnitKind.DRONE:
        return lambda _a, _b: True  # drones fly straight over land and sea
    return geo.segment_stays_on_land


def plan(geo: Geography, kind: UnitKind, start: LonLat, goal: LonLat) -> Route:
    ok = segment_check(geo, kind)
    if ok(start, goal):
        return Route([goal], True)
    x0, y0, x1, y1 = area(geo)
    dlat = STEP_M / _M_PER_DEG_LAT
    dlon = dlat / math.cos(math.radians(start[1]))

    def at(n: tuple[int, int]) -> LonLat:
        return (start[0] + n[0] * dlon, start[1] + n[1] * dlat)

    origin = (0, 0)
    came: dict[tuple[int, int], tuple[int, int] | None] = {origin: None}
    cost = {origin: 0.0}
    h0 = haversine_m(*start, *goal)
    best = (h0, origin)  # explored cell nearest to the goal
    heap = [(h0, 0.0, origin)]
    end: tuple[int, int] | None = None
    expanded = 0
    while heap and expanded < MAX_EXPAND:
        _f, g, n = heapq.heappop(heap)
        if g > cost[n]:
            continue  # a stale entry: a cheaper way here was found
        expanded += 1
        p = at(n)
        h = haversine_m(*p, *goal)
        if h < best[0]:
            best = (h, n)
        if h <= 2 * STEP_M and ok(p, goal):
            end = n
            break
        for di, dj in _STEPS:
            m = (n[0] + di, n[1] + dj)
            q = at(m)
            if not (x0 <= q[0] <= x1 and y0 <= q[1] <= y1):
                continue
            gm = g + haversine_m(*p, *q)
            if gm >= cost.get(m, math.inf) or not ok(p, q):
                continue
            cost[m], came[m] = gm, n
            heapq.heappush(heap, (gm + haversine_m(*q, *goal), gm, m))
    last = end if end is not None else best[1]
    cells: list[tuple[int, int]] = []
    k: tuple[int, int] | None = last
    while k is not None:
        cells.append(k)
        k = came[k]
    path = [at(c) for c in reversed(cells)]
    path[0] = start
    if end is not None:
        path.append(goal)
    return Route(_pull(path, ok), end is not None)


def length_m(points: list[LonLat]) -> float:
    return sum(haversine_m(*a, *b) for a, b in itertools.pairwise(points))


def _pull(path: list[LonLat], ok: Callable[[LonLat, LonLat], bool]) -> list[LonLat]:
    """Fewer, longer legs: from each kept point, jump to the farthest point of the path still
    in a straight line within the medium (consecutive points always are)."""
    out: list[LonLat] = []
    i = 0
    while i < len(path) - 1:
        j = i + 1
        while j + 1 < len(path) and ok(path[i], path[j + 1]):
            j += 1
        out.append(path[j])
        i = j
    return out
