"""Travel distances and ETAs that respect the coastline. Pure: no Redis.

Grid. Square cells of CELL_M (400 m, square in metres) over the district's bounding box plus
MARGIN_M (8 km, enough to take in Dapeng Bay, the middle of Daya Bay and the water round the
peninsula's southern tip). A cell whose centre is on GSHHG land is in the land graph, any other
cell inside the coastline coverage in the sea graph. Each cell is joined to its 8 neighbours in
the same graph; a diagonal step also needs one of the two cells it cuts past in that graph, so no
car crosses a strait, nor a boat an isthmus, at a corner. Edge weight: haversine metres between
centres, times LAND_DETOUR (1.3: roads are not straight) on land, 1.0 at sea. There is no road
graph: a package one would need OpenStreetMap data the project does not ship.

Why a square grid and not h3: a point's cell is two floor divisions, so 2,000 units snap in one
numpy expression (no per-unit h3 call); 8-neighbour paths overstate a straight line by at most
8 % (6-neighbour hexagons by up to 15 %); 400 m keeps the narrowest land neck (~3 km, west of
大鹏澳) many cells wide. Tests check Kuichong, Dapeng fortress and Nan'ao connect on land and
Dapeng Bay, 大鹏澳 and Daya Bay connect at sea round the southern tip.

Distance = the unit's straight leg to the nearest cell of its graph (within SNAP_M, else
unreachable) + the path + the destination's leg to its own nearest cell (legs on land get the
detour too). Each graph snaps on its own, so a boat moored off a land-cell centre starts from
the water, and a shore (coastal) incident is reached by cars via its nearest land cell and by
boats via its nearest sea cell. Within DIRECT_M the straight line (with the detour) replaces
the route when shorter and it stays on land (or at sea) on a 100 m raster, so nearby units are
not ranked by cell-centre rounding. Every route is at least the straight line (the legs are
exact; triangle inequality). One search from the destination gives every unit's distance (the
graph is undirected): scipy's Dijkstra (`scipy.sparse.csgraph`, under 1 ms here), with each
node's predecessor on its way to the destination; the last CACHE searches are kept, as a chief
looks at one incident again and again. A search for ETAs stops ROUTE_REACH times as far out as
the farthest unit asked about (0.1 ms instead of 0.4-1 ms), and goes all the way when a unit
of the destination's part of the graph was not reached; the metres within are the same.
Drones fly straight over land and sea. The model covers the district and its surroundings
only: units outside the grid are unreachable (note "outside_area").

Path. `path` gives the way a distance assumed, as lon/lat points: the unit, its cell's centre,
the centres the search's predecessors lead through, the destination's cell centre, the
destination; or the straight line (drones, short clear trips); None when unreachable. Its
length times the graph's detour is the leg's distance, so the map can draw the route an ETA
assumed and the simulator's units drive it. With the search cached it is a walk of a few
hundred predecessors.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components, dijkstra

from domain.geo import EARTH_RADIUS_M, Geography

KNOT_M_S = 1852 / 3600
SPEED_M_S = {  # planning speeds, door to door
    "foot": 4 / 3.6,  # an officer walking, paths and slopes included
    "vehicle": 30 / 3.6,  # district roads: hilly, narrow, village traffic (distance has the detour)
    "boat": 20 * KNOT_M_S,  # patrol boat cruising
    "drone": 60 / 3.6,  # multirotor in a straight line
}
GRAPH_OF_KIND = {"foot": "land", "vehicle": "land", "boat": "sea", "drone": "air"}
GRAPHS_OF_DOMAIN = {"land": {"land"}, "sea": {"sea"}, "coastal": {"land", "sea"}}
CELL_M = 400.0
FINE_M = 100.0  # raster for the short-range straight-line check
MARGIN_M = 8000.0
LAND_DETOUR = 1.3
SNAP_M = 1500.0
DIRECT_M = 3000.0
CACHE = 32
ROUTE_REACH = 3.0  # see TravelModel._field
_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
# (dr, dc) of the 8 neighbours; orthogonal first (diagonals check them)
_STEPS = ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))

LonLat = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Leg:
    distance_m: float | None  # along the unit's graph; None: unreachable
    eta_s: float | None
    straight_m: float | None = None  # great-circle distance; None without a position
    note: str = ""  # why unreachable: unknown_kind, no_position, wrong_domain, outside_area,
    #                 off_graph (too far from land/sea), no_route (cut off)


def min_eta_s(kind: str, straight_m: float) -> float:
    """Seconds no route of a unit of `kind` (a kind of SPEED_M_S) `straight_m` from its
    destination can beat: a route is a chain of legs from the unit to the destination, each
    at least its straight line times its graph's detour, so the whole is at least the
    straight line times the detour (1.3 on land), at the kind's speed."""
    detour = LAND_DETOUR if GRAPH_OF_KIND[kind] == "land" else 1.0
    return straight_m * detour / SPEED_M_S[kind]


def haversine(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> np.ndarray:
    """Vectorised great-circle distance in metres (same formula as geo.haversine_m)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.subtract(lon2, lon1))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))


class _Raster:
    """A lon/lat grid of cells square in metres; (row, col) of any point by two divisions."""

    def __init__(self, bounds: tuple[float, float, float, float], cell_m: float) -> None:
        x0, y0, x1, y1 = bounds
        self.x0, self.y0 = x0, y0
        self.dlat = cell_m / _M_PER_DEG
        self.dlon = self.dlat / math.cos(math.radians((y0 + y1) / 2))
        self.shape = (math.ceil((y1 - y0) / self.dlat), math.ceil((x1 - x0) / self.dlon))
        rows, cols = np.indices(self.shape)
        self.lon = x0 + (cols + 0.5) * self.dlon
        self.lat = y0 + (rows + 0.5) * self.dlat

    def index(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column (clipped) and whether the point is inside the raster."""
        r = np.floor((lat - self.y0) / self.dlat)
        c = np.floor((lon - self.x0) / self.dlon)
        inside = (r >= 0) & (r < self.shape[0]) & (c >= 0) & (c < self.shape[1])
        return (
            np.clip(r, 0, self.shape[0] - 1).astype(np.intp),
            np.clip(c, 0, self.shape[1] - 1).astype(np.intp),
            inside,
        )


class _Graph:
    def __init__(self, raster: _Raster, member: np.ndarray, detour: float) -> None:
        self.detour = detour
        self.node = np.full(raster.shape, -1, dtype=np.intp)
        self.node[member] = np.arange(int(member.sum()))
        self.lon, self.lat = raster.lon[member], raster.lat[member]
        n = self.lon.size
        pad = np.full((raster.shape[0] + 2, raster.shape[1] + 2), -1, dtype=np.intp)
        pad[1:-1, 1:-1] = self.node
        rows, cols = np.nonzero(member)

        def at(dr: int, dc: int) -> np.ndarray:
            return pad[rows + 1 + dr, cols + 1 + dc]

        here = self.node[rows, cols]
        src, dst = [], []
        for dr, dc in _STEPS:
            there = at(dr, dc)
            ok = there >= 0
            if dr and dc:
                ok &= (at(dr, 0) >= 0) | (at(0, dc) >= 0)
            src.append(here[ok])
            dst.append(there[ok])
        s, d = np.concatenate(src), np.concatenate(dst)
        w = haversine(self.lon[s], self.lat[s], self.lon[d], self.lat[d]) * detour
        # every cell lists its own neighbours, so each edge is there both ways: undirected
        self.edges = csr_array((w, (s, d)), shape=(n, n))
        self.nearest = self._nearest(raster)
        # which nodes connect at all: a node of another part than the destination's is
        # unreachable, not merely beyond a search's limit
        self.part = connected_components(self.edges, directed=False)[1]

    def _nearest(self, raster: _Raster) -> np.ndarray:
        """The nearest node of this graph for every cell (by centre distance, within SNAP_M)."""
        nearest = self.node.copy()
        k = math.ceil(SNAP_M / (raster.dlat * _M_PER_DEG))
        big = np.full((raster.shape[0] + 2 * k, raster.shape[1] + 2 * k), -1, dtype=np.intp)
        big[k:-k, k:-k] = self.node
        offsets = sorted(
            ((dr, dc) for dr in range(-k, k + 1) for dc in range(-k, k + 1)),
            key=lambda o: o[0] ** 2 + o[1] ** 2,
        )
        for dr, dc in offsets[1:]:
            if (dr * dr + dc * dc) ** 0.5 * raster.dlat * _M_PER_DEG > SNAP_M + CELL_M:
                break
            window = big[k + dr : k + dr + raster.shape[0], k + dc : k + dc + raster.shape[1]]
            fill = (nearest < 0) & (window >= 0)
            nearest[fill] = window[fill]
        return nearest

    def search(self, source: int, limit: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
        """Shortest-path metres from `source` to every node (inf: not connected, or further
        than `limit`), and each node's predecessor, the next node on its way back to `source`
        (negative for `source` itself and for nodes not reached). Within `limit` the metres
        are those of the whole search: Dijkstra settles nodes nearest first, and stops."""
        dist, pred = dijkstra(
            self.edges, directed=True, indices=source, return_predecessors=True, limit=limit
        )
        return dist, pred


class TravelModel:
    """Land and sea graphs over the district, built once (`from_geography`), then read-only
    apart from the cache of recent searches (guarded by a lock: threads may share a model)."""

    def __init__(
        self,
        raster: _Raster,
        land: np.ndarray,
        fine: _Raster,
        fine_land: np.ndarray,
        in_coverage: np.ndarray,
    ) -> None:
        self.raster, self.fine, self.fine_land = raster, fine, fine_land
        self.graphs = {
            "land": _Graph(raster, land, LAND_DETOUR),
            "sea": _Graph(raster, ~land & in_coverage, 1.0),
        }
        # (graph, source node) -> (distances, predecessors, limit) of the search from that node
        self._cache: OrderedDict[tuple[str, int], tuple[np.ndarray, np.ndarray, float]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    @classmethod
    def from_geography(cls, geo: Geography) -> TravelModel:
        x0, y0, x1, y1 = geo.district.bounds
        my = MARGIN_M / _M_PER_DEG
        mx = my / math.cos(math.radians((y0 + y1) / 2))
        bounds = (x0 - mx, y0 - my, x1 + mx, y1 + my)
        raster, fine = _Raster(bounds, CELL_M), _Raster(bounds, FINE_M)
        cx0, cy0, cx1, cy1 = geo.coverage
        covered = (
            (raster.lon >= cx0) & (raster.lon <= cx1) & (raster.lat >= cy0) & (raster.lat <= cy1)
        )
        return cls(
            raster,
            shapely.contains_xy(geo.land, raster.lon, raster.lat),
            fine,
            shapely.contains_xy(geo.land, fine.lon, fine.lat),
            covered,
        )

    # -- graph queries ------------------------------------------------------------------------

    def snap(self, graph: str, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest node of `graph` for each point (-1: none within SNAP_M or outside the grid),
        the straight metres to its centre, and whether the point is inside the grid at all."""
        g = self.graphs[graph]
        lon, lat = np.atleast_1d(np.asarray(lon, float)), np.atleast_1d(np.asarray(lat, float))
        r, c, inside = self.raster.index(lon, lat)
        node = np.where(inside, g.nearest[r, c], -1)
        if not g.lon.size:
            return np.full(lon.shape, -1), np.full(lon.shape, np.inf), inside
        leg = haversine(lon, lat, g.lon[node], g.lat[node])
        node = np.where(leg <= SNAP_M, node, -1)
        return node, np.where(node >= 0, leg, np.inf), inside

    def distances_from(self, dest: LonLat, graph: str) -> np.ndarray:
        """Metres from the destination (its leg to its cell included) to every node's centre
        along `graph`; inf where not connected, all inf if dest is off the graph."""
        g = self.graphs[graph]
        node, leg, _ = self.snap(graph, dest[0], dest[1])
        if node[0] < 0:
            return np.full(g.lon.size, np.inf)
        return self._search(graph, int(node[0]))[0] + leg[0] * g.detour

    def _search(
        self, graph: str, source: int, limit: float = math.inf
    ) -> tuple[np.ndarray, np.ndarray]:
        """The search from `source` (distances, predecessors) at least as far as `limit`, from
        the cache when a recent one went as far."""
        key = (graph, source)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
        if found is None or found[2] < limit:
            found = (*self.graphs[graph].search(source, limit), limit)
            with self._lock:
                self._cache[key] = found
                self._cache.move_to_end(key)
                while len(self._cache) > CACHE:
                    self._cache.popitem(last=False)
        return found[0], found[1]

    def _field(
        self, graph: str, node: np.ndarray, dest: LonLat, straight: np.ndarray
    ) -> np.ndarray:
        """`distances_from(dest, graph)` where the units snapped to `node` need it: the search
        goes ROUTE_REACH times as far as the farthest of them (most routes to a place are
        shorter than that; a page asking again gets the cached search), and all the way when
        a unit that can reach the destination was not reached (a route round a bay)."""
        g = self.graphs[graph]
        dest_node, dest_leg, _ = self.snap(graph, dest[0], dest[1])
        if dest_node[0] < 0:
            return np.full(g.lon.size, np.inf)
        source = int(dest_node[0])
        placed = node[node >= 0]
        connected = placed[g.part[placed] == g.part[source]]
        reach = g.detour * (ROUTE_REACH * float(straight.max(initial=0.0)) + 2 * SNAP_M)
        dist = self._search(graph, source, reach if connected.size else 0.0)[0]
        if not np.isfinite(dist[connected]).all():
            dist = self._search(graph, source)[0]
        return dist + dest_leg[0] * g.detour

    def _clear(self, graph: str, lon: np.ndarray, lat: np.ndarray, dest: LonLat) -> np.ndarray:
        """Whether each straight lon/lat segment point->dest stays on land (or off it) on the
        fine raster, sampled every half fine cell."""
        t = np.linspace(0.0, 1.0, math.ceil(DIRECT_M / (FINE_M / 2)) + 1)
        xs = lon[:, None] + (dest[0] - lon[:, None]) * t
        ys = lat[:, None] + (dest[1] - lat[:, None]) * t
        r, c, inside = self.fine.index(xs, ys)
        medium = self.fine_land[r, c] if graph == "land" else ~self.fine_land[r, c]
        return (medium & inside).all(axis=1)

    # -- ETAs ---------------------------------------------------------------------------------

    def route(
        self, kinds: Sequence[str], lon: Any, lat: Any, dest: LonLat, domain: str | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Route metres, ETA seconds (inf: unreachable), straight metres and the reason for each
        unreachable unit (see Leg.note), for units of the given kinds at lon/lat (nan: no
        position). `domain` ("land", "sea", "coastal"; None: any) says which graphs reach dest:
        a car cannot reach a sea incident nor a boat a land one; both reach a coastal one."""
        if not (math.isfinite(dest[0]) and math.isfinite(dest[1])):
            raise ValueError(f"destination {dest!r} is not a lon/lat position")
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        kinds = np.asarray(kinds, dtype=object)
        straight = haversine(lon, lat, dest[0], dest[1])
        dist, eta = np.full(lon.shape, np.inf), np.full(lon.shape, np.inf)
        note = np.full(lon.shape, "unknown_kind", dtype=object)
        placed = np.isfinite(straight)
        note[~placed] = "no_position"
        for kind in set(kinds[placed].tolist()):
            speed, graph = SPEED_M_S.get(kind), GRAPH_OF_KIND.get(kind)
            mask = placed & (kinds == kind)
            if speed is None or graph is None:
                continue
            if graph == "air":
                dist[mask] = straight[mask]
            elif domain is not None and graph not in GRAPHS_OF_DOMAIN.get(domain, ()):
                note[mask] = "wrong_domain"
                continue
            else:
                dist[mask], note[mask], _ = self._graph_route(
                    graph, lon[mask], lat[mask], dest, straight[mask]
                )
            eta[mask] = dist[mask] / speed
        note[np.isfinite(dist)] = ""
        return dist, eta, straight, note

    def _graph_route(
        self, graph: str, lon: np.ndarray, lat: np.ndarray, dest: LonLat, straight: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Metres, the reason where unreachable, and whether the unit takes the straight line
        (within DIRECT_M, clear of the other medium, and no longer than the way via the grid)."""
        g = self.graphs[graph]
        node, leg, inside = self.snap(graph, lon, lat)
        dest_node, _, dest_inside = self.snap(graph, dest[0], dest[1])
        field = self._field(graph, node, dest, straight)
        dist = np.where(node >= 0, field[node] + leg * g.detour, np.inf)
        direct = np.zeros(dist.shape, dtype=bool)
        near = np.flatnonzero(straight <= DIRECT_M)
        if near.size:
            clear = self._clear(graph, lon[near], lat[near], dest)
            direct[near] = clear & (straight[near] * g.detour <= dist[near])
        dist[direct] = straight[direct] * g.detour
        note = np.where(node < 0, "off_graph", "no_route").astype(object)
        if dest_node[0] < 0:
            note[:] = "off_graph"
        note[~inside] = "outside_area"
        if not dest_inside[0]:
            note[:] = "outside_area"
        return dist, note, direct

    def eta(
        self, units: Sequence[Mapping[str, Any]], dest: LonLat, domain: str | None = None
    ) -> list[Leg]:
        """`route` for unit mappings (kind, lon, lat), one Leg each."""
        lon = [_num(u.get("lon")) for u in units]
        lat = [_num(u.get("lat")) for u in units]
        return _legs(*self.route([str(u.get("kind")) for u in units], lon, lat, dest, domain))

    def leg(self, kind: str, origin: LonLat, dest: LonLat, domain: str | None = None) -> Leg:
        """One unit of `kind` at origin."""
        return _legs(*self.route([kind], [origin[0]], [origin[1]], dest, domain))[0]

    # -- paths --------------------------------------------------------------------------------

    def path(
        self, kind: str, origin: LonLat, dest: LonLat, domain: str | None = None
    ) -> list[LonLat] | None:
        """The way `leg` measured for a unit of `kind` at origin, as lon/lat points from origin
        to dest: their length times the graph's detour is the leg's distance. The straight line
        for drones and short clear trips; None when the leg is unreachable."""
        leg = self.leg(kind, origin, dest, domain)
        if leg.distance_m is None:
            return None
        origin, dest = (float(origin[0]), float(origin[1])), (float(dest[0]), float(dest[1]))
        graph = GRAPH_OF_KIND[kind]
        if graph == "air" or self._direct(graph, origin, dest):
            return _distinct([origin, dest])
        return _distinct([origin, *self._centres(graph, origin, dest), dest])

    def _direct(self, graph: str, origin: LonLat, dest: LonLat) -> bool:
        """Whether `route` took the straight line for this unit (asked of the same code, so the
        path cannot disagree with the distance)."""
        lon, lat = np.array([origin[0]]), np.array([origin[1]])
        straight = haversine(lon, lat, dest[0], dest[1])
        return bool(self._graph_route(graph, lon, lat, dest, straight)[2][0])

    def _centres(self, graph: str, origin: LonLat, dest: LonLat) -> list[LonLat]:
        """The cell centres from origin's cell to dest's, along the search from dest (which
        `leg` has just run, so it is cached): each node's predecessor is its next step."""
        g = self.graphs[graph]
        start = int(self.snap(graph, origin[0], origin[1])[0][0])
        end = int(self.snap(graph, dest[0], dest[1])[0][0])
        pred = self._search(graph, end)[1]
        nodes = [start]
        while nodes[-1] != end:
            nodes.append(int(pred[nodes[-1]]))
        return list(zip(g.lon[nodes].tolist(), g.lat[nodes].tolist(), strict=True))


def _num(x: Any) -> float:
    return float(x) if isinstance(x, (int, float)) else math.nan


def _legs(dist: np.ndarray, eta: np.ndarray, straight: np.ndarray, note: np.ndarray) -> list[Leg]:
    return [
        Leg(d, e, s, n) if math.isfinite(d) else Leg(None, None, s if math.isfinite(s) else None, n)
        for d, e, s, n in zip(
            dist.tolist(), eta.tolist(), straight.tolist(), note.tolist(), strict=True
        )
    ]


def _distinct(points: list[LonLat]) -> list[LonLat]:
    """Without a point repeating the one before it (a unit at its cell's centre)."""
    return [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
