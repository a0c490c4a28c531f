"""Estimated time of arrival that respects the coastline. Pure: no Redis.

Model: the area (the district plus ~6 km around it) is covered by h3 hexagons of resolution 8
(~0.46 km edges, ~0.74 km²): fine enough to keep the peninsula's narrow necks and the bays'
channels connected, coarse enough that a whole-area shortest-path search takes milliseconds.
A hexagon whose centre is on land (GSHHG) belongs to the land graph, the others to the sea graph;
neighbours in the same graph are joined by an edge of their centre-to-centre distance. A land
unit therefore drives around a bay instead of across it, and a boat sails round the peninsula.

Close to the destination (under DIRECT_M) the hexagon centres would distort the distance, so
when the straight line stays on land (or at sea) it is used directly (times the detour on land).
The search runs once per destination over the whole graph (the graph is undirected, so one run
gives every unit's distance) and is cached. Land distances get a detour factor because roads are
not straight; there is no road graph in the project's data, so this is the honest approximation.
ETA = (graph distance + the legs from the exact positions to their hexagons' centres) / speed.
Drones fly straight (haversine) over land and sea.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import h3
import numpy as np
import shapely

from domain.geo import Geography, haversine_m

RESOLUTION = 8
MARGIN_DEG = 0.06  # ~6 km around the district: units just outside it still get a route
SNAP_M = 1500.0  # a point further than this from any hexagon of its graph is unreachable
LAND_DETOUR = 1.3  # road distance / straight distance, a common rule of thumb for rural roads
DIRECT_M = 3000.0  # below this, a straight line that stays in the unit's medium is used
CACHE = 64  # destinations whose distance fields are kept (a chief looks at one case repeatedly)
SPEED_M_S = {  # realistic patrol speeds
    "foot": 4.5 / 3.6,
    "vehicle": 30 / 3.6,  # district roads, hilly, with stops
    "boat": 20 * 1852 / 3600,  # 20 knots
    "drone": 60 / 3.6,
}
GRAPH_OF_KIND = {"foot": "land", "vehicle": "land", "boat": "sea", "drone": "air"}

LonLat = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Leg:
    distance_m: float | None  # None: unreachable
    eta_s: float | None


class _Graph:
    def __init__(self, cells: list[str], detour: float) -> None:
        self.cells = cells
        self.index = {c: i for i, c in enumerate(cells)}
        lat_lon = np.array([h3.cell_to_latlng(c) for c in cells])
        self.lat, self.lon = lat_lon[:, 0], lat_lon[:, 1]
        self.edges: list[list[tuple[int, float]]] = [[] for _ in cells]
        for i, c in enumerate(cells):
            for n in h3.grid_ring(c, 1):
                j = self.index.get(n)
                if j is not None:
                    d = haversine_m(self.lon[i], self.lat[i], self.lon[j], self.lat[j])
                    self.edges[i].append((j, d * detour))
        self._fields: OrderedDict[int, np.ndarray] = OrderedDict()

    def snap(self, lon: float, lat: float) -> tuple[int, float] | None:
        """The nearest hexagon of this graph and the straight distance to its centre."""
        if not self.cells:
            return None
        # equirectangular distance is exact enough at this scale to pick the nearest centre
        k = math.cos(math.radians(lat))
        d2 = ((self.lon - lon) * k) ** 2 + (self.lat - lat) ** 2
        i = int(np.argmin(d2))
        d = haversine_m(lon, lat, float(self.lon[i]), float(self.lat[i]))
        return (i, d) if d <= SNAP_M else None

    def field(self, source: int) -> np.ndarray:
        """Shortest distances from `source` to every hexagon (inf: not connected)."""
        hit = self._fields.get(source)
        if hit is not None:
            self._fields.move_to_end(source)
            return hit
        dist = np.full(len(self.cells), np.inf)
        dist[source] = 0.0
        heap = [(0.0, source)]
        while heap:
            d, i = heapq.heappop(heap)
            if d > dist[i]:
                continue
            for j, w in self.edges[i]:
                nd = d + w
                if nd < dist[j]:
                    dist[j] = nd
                    heapq.heappush(heap, (nd, j))
        self._fields[source] = dist
        if len(self._fields) > CACHE:
            self._fields.popitem(last=False)
        return dist


class TravelModel:
    def __init__(self, land: list[str], sea: list[str], geo: Geography | None = None) -> None:
        self.graphs = {"land": _Graph(land, LAND_DETOUR), "sea": _Graph(sea, 1.0)}
        self.geo = geo

    def _direct(self, graph_name: str, origin: LonLat, dest: LonLat) -> float | None:
        """The straight distance (with the land detour) when it is short and stays on land or
        at sea; None otherwise."""
        d = haversine_m(origin[0], origin[1], dest[0], dest[1])
        if self.geo is None or d > DIRECT_M:
            return None
        if graph_name == "land" and self.geo.segment_stays_on_land(origin, dest):
            return d * LAND_DETOUR
        if graph_name == "sea" and self.geo.segment_stays_at_sea(origin, dest):
            return d
        return None

    @classmethod
    def from_geography(cls, geo: Geography) -> TravelModel:
        x0, y0, x1, y1 = (b + m for b, m in zip(geo.district.bounds, (-MARGIN_DEG, -MARGIN_DEG,
                                                                      MARGIN_DEG, MARGIN_DEG),
                                                strict=True))
        box = h3.LatLngPoly([(y0, x0), (y0, x1), (y1, x1), (y1, x0)])
        cells = sorted(h3.polygon_to_cells(box, RESOLUTION))
        centres = np.array([h3.cell_to_latlng(c) for c in cells])
        on_land = shapely.contains_xy(geo.land, centres[:, 1], centres[:, 0])
        land = [c for c, is_land in zip(cells, on_land, strict=True) if is_land]
        sea = [c for c, (lat, lon), is_land in zip(cells, centres, on_land, strict=True)
               if not is_land and geo.in_coverage(lon, lat)]
        return cls(land, sea, geo)

    def leg(self, kind: str, origin: LonLat, dest: LonLat) -> Leg:
        return self.legs(kind, [origin], dest)[0]

    def legs(self, kind: str, origins: Sequence[LonLat], dest: LonLat) -> list[Leg]:
        """ETA of units of one kind from each origin to dest; one search for all of them."""
        speed = SPEED_M_S.get(kind)
        graph_name = GRAPH_OF_KIND.get(kind)
        if speed is None or graph_name is None:
            return [Leg(None, None) for _ in origins]
        if graph_name == "air":
            out = []
            for lon, lat in origins:
                d = haversine_m(lon, lat, dest[0], dest[1])
                out.append(Leg(d, d / speed))
            return out
        graph = self.graphs[graph_name]
        end = graph.snap(*dest)
        if end is None:
            return [Leg(None, None) for _ in origins]
        field = graph.field(end[0])
        out = []
        for lon, lat in origins:
            direct = self._direct(graph_name, (lon, lat), dest)
            if direct is not None:
                out.append(Leg(direct, direct / speed))
                continue
            start = graph.snap(lon, lat)
            if start is None or not math.isfinite(field[start[0]]):
                out.append(Leg(None, None))
                continue
            d = float(field[start[0]]) + start[1] + end[1]
            out.append(Leg(d, d / speed))
        return out
