"""The places patrols must cover and the visit rules, from `config/coverage/` (see its README):
land grid cells, coastline segments and sea cells, each with a sub-district, an owner and a
requirement (visited at least once every N hours). `CoverageGeography.locate` resolves a
position to its places in about a microsecond. Pure: no Redis, no MQTT, no Dash. Points are
WGS-84 lon/lat. domain/coverage.py builds visits, figures and patrol-log checks on it.
"""

from __future__ import annotations

import json
import math
from array import array
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import h3
import h3.api.basic_int as h3i
import numpy as np
import shapely
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)
from shapely import STRtree
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from config import CONFIG_DIR, load_json_rules
from domain.vocab import UnitKind, UnitStatus

PLACE_KINDS = ("land", "coast", "sea")
FILES = {
    "land": "land_cells.geojson",
    "coast": "coast_segments.geojson",
    "sea": "sea_cells.geojson",
}
OWNER_FIELD = {"land": "owner", "coast": "chief", "sea": "owner"}
GEOM_TYPES = {
    "land": ("Polygon", "MultiPolygon"),
    "coast": ("LineString", "MultiLineString"),
    "sea": ("Polygon", "MultiPolygon"),
}
RULES_FILE = "rules.json"
# The lookup raster: ~41 x 44 m cells. A coast answer is the one at the raster cell's centre, so
# it may be off by up to half a diagonal (~30 m) near the edge of the visit distance; cell
# answers are exact (a raster cell that a cell border crosses asks h3 or the polygons).
RASTER_DEG = 0.0004
M_PER_DEG = 111_320.0
_ASK, _NONE = -2, -1  # raster codes besides a place index
MS_PER_H = 3_600_000


# -- rules --------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Seconds = Annotated[int, Field(ge=0, le=7 * 24 * 3600, strict=True)]


class KindRule(_Strict):
    land: StrictBool
    coast: StrictBool
    sea: StrictBool
    max_speed_m_s: Annotated[float, Field(gt=0, le=100)]  # faster is passing, not patrolling

    def counts_for(self, place_kind: str) -> bool:
        return bool(getattr(self, place_kind))


class VisitRules(_Strict):
    kinds: dict[UnitKind, KindRule]
    min_dwell_s: Seconds
    revisit_s: Annotated[Seconds, Field(gt=0)]
    max_gap_s: Annotated[Seconds, Field(gt=0)]
    coast_distance_m: Annotated[float, Field(gt=0, le=5_000)]
    patrol_statuses: Annotated[frozenset[UnitStatus], Field(min_length=1)]
    warning_lead_h: Annotated[float, Field(gt=0, le=7 * 24)]

    @model_validator(mode="after")
    def _every_kind(self) -> VisitRules:
        # a kind left out would silently never count: say so instead
        missing = [k.value for k in UnitKind if k not in self.kinds]
        if missing:
            raise ValueError(f"kinds: no rule for {', '.join(missing)}")
        return self


@lru_cache(maxsize=4)
def load_visit_rules(path: Path = CONFIG_DIR / "coverage" / RULES_FILE) -> VisitRules:
    """The visit rules; a bad file raises ValueError naming the file and the field."""
    return load_json_rules(path, VisitRules, "coverage rules")


# -- places -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    id: str
    kind: str  # land, coast or sea
    label: str
    subdistrict: str
    owner: str  # grid worker, segment chief (段长) or boat crew
    requirement_h: float  # to be visited at least once every requirement_h hours
    community: str = ""  # land cells only


class Places(NamedTuple):
    """Where one position is: a point near the shore can be in a land cell, a sea cell and
    within the visit distance of one or two coast segments at once."""

    land: str | None = None
    sea: str | None = None
    coast: tuple[str, ...] = ()


NOWHERE = Places()


def _read_places(path: Path, kind: str) -> tuple[list[Place], list[BaseGeometry], list[str]]:
    """Places, geometries and h3 indexes ("" when not an h3 cell) of one file; anything
    malformed is a ValueError naming the file and the feature."""
    try:
        features = json.loads(path.read_text(encoding="utf-8")).get("features")
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"coverage file {path} is missing: run "
            "scripts/derive_coverage.py or copy a replacement there "
            "(see config/coverage/README.md)"
        ) from e
    except (UnicodeDecodeError, ValueError, AttributeError) as e:
        raise ValueError(f"coverage file {path}: not a GeoJSON FeatureCollection ({e})") from None
    if not isinstance(features, list) or not features:
        raise ValueError(f"coverage file {path}: expected a FeatureCollection with features")
    places, geoms, cells = [], [], []
    for i, f in enumerate(features):
        try:
            p = f["properties"]
            geom = shape(f["geometry"])
            if geom.is_empty or geom.geom_type not in GEOM_TYPES[kind]:
                raise ValueError(f"geometry must be a {' or '.join(GEOM_TYPES[kind])}")
            for key in ("id", "label", "subdistrict", OWNER_FIELD[kind]):
                if not isinstance(p.get(key), str) or not p[key]:
                    raise ValueError(f"'{key}' must be a non-empty string")
            req = p.get("requirement_h")
            if isinstance(req, bool) or not isinstance(req, int | float) or not 0 < req <= 720:
                raise ValueError("'requirement_h' must be a number of hours in (0, 720]")
        except Exception as e:  # shapely and bad JSON shapes raise several types
            raise ValueError(f"coverage file {path}: feature {i}: {e}") from None
        places.append(
            Place(
                p["id"],
                kind,
                p["label"],
                p["subdistrict"],
                p[OWNER_FIELD[kind]],
                float(req),
                str(p.get("community") or ""),
            )
        )
        geoms.append(geom)
        cell = str(p.get("h3", p["id"]))
        cells.append(cell if kind != "coast" and h3.is_valid_cell(cell) else "")
    return places, geoms, cells


@dataclass(frozen=True)
class _Raster:
    x0: float
    y0: float
    ncols: int
    nrows: int


def _h3_corners(raster: _Raster, res: int) -> np.ndarray:
    """The h3 cell (as an integer) at every corner of the raster's squares."""
    xs = (raster.x0 + np.arange(raster.ncols + 1) * RASTER_DEG).tolist()
    ys = (raster.y0 + np.arange(raster.nrows + 1) * RASTER_DEG).tolist()
    cell = h3i.latlng_to_cell
    return np.array([[cell(y, x, res) for x in xs] for y in ys], dtype=np.uint64)


class _CellLayer:
    """Land or sea cells: a raster code per ~40 m square, and the exact answer where a cell
    border crosses the square (h3 for h3 cells, an STRtree for surveyed polygons)."""

    def __init__(
        self,
        geoms: list[BaseGeometry],
        cells: list[str],
        raster: _Raster,
        corners: dict[int, np.ndarray],
    ) -> None:
        resolutions = {h3.get_resolution(c) for c in cells if c}
        self.res = resolutions.pop() if all(cells) and len(resolutions) == 1 else None
        if self.res is None:
            self._tree = STRtree(geoms)
            self.codes = np.full((raster.nrows, raster.ncols), _ASK, dtype=np.int32)
            return
        self._by_h3 = {h3.str_to_int(c): i for i, c in enumerate(cells)}
        # one h3 answer at the square's four corners means the square lies in that hexagon
        # (hexagons are convex); else a border crosses it and it is asked exactly
        if self.res not in corners:
            corners[self.res] = _h3_corners(raster, self.res)
        corner = corners[self.res]
        a, b, c, d = corner[:-1, :-1], corner[:-1, 1:], corner[1:, :-1], corner[1:, 1:]
        same = (a == b) & (a == c) & (a == d)
        uniq, inverse = np.unique(a, return_inverse=True)
        index = np.array([self._by_h3.get(int(u), _NONE) for u in uniq.tolist()], dtype=np.int32)
        self.codes = np.where(same, index[inverse.reshape(a.shape)], _ASK).astype(np.int32)

    def exact(self, lon: float, lat: float) -> int:
        if self.res is not None:
            return self._by_h3.get(h3i.latlng_to_cell(lat, lon, self.res), _NONE)
        hits = self._tree.query(Point(lon, lat), predicate="intersects")
        return int(min(hits)) if len(hits) else _NONE  # on a shared border: the first cell


@dataclass(frozen=True, slots=True)
class LocatedMany:
    """`locate_many` answers as indexes: land/sea into CoverageGeography.land_ids/sea_ids (-1:
    none), coast into CoverageGeography.coast_sets (0: no segment)."""

    land: np.ndarray
    sea: np.ndarray
    coast: np.ndarray


class CoverageGeography:
    """The places of `config/coverage/` and a fast point lookup; read-only once loaded."""

    def __init__(self, coverage_dir: Path, rules: VisitRules) -> None:
        coverage_dir = Path(coverage_dir)
        self.rules = rules
        loaded = {k: _read_places(coverage_dir / FILES[k], k) for k in PLACE_KINDS}
        self.places: dict[str, Place] = {}
        self.geoms: dict[str, BaseGeometry] = {}
        for kind, (places, geoms, _cells) in loaded.items():
            for p, g in zip(places, geoms, strict=True):
                if p.id in self.places:
                    raise ValueError(
                        f"coverage file {coverage_dir / FILES[kind]}: id {p.id!r} "
                        "is used twice (ids are unique across all three files)"
                    )
                self.places[p.id] = p
                self.geoms[p.id] = g
        self.land_ids = tuple(p.id for p in loaded["land"][0])
        self.coast_ids = tuple(p.id for p in loaded["coast"][0])
        self.sea_ids = tuple(p.id for p in loaded["sea"][0])

        # metres frame for the coast distance (equirectangular: < 0.2% off over the district)
        coast_geoms = loaded["coast"][1]
        lat0 = shapely.total_bounds(coast_geoms)[1::2].mean()
        self._kx = M_PER_DEG * math.cos(math.radians(lat0))
        pad = rules.coast_distance_m / M_PER_DEG / math.cos(math.radians(lat0)) + RASTER_DEG
        x0, y0, x1, y1 = shapely.total_bounds([g for k in PLACE_KINDS for g in loaded[k][1]])
        x0, y0 = x0 - pad, y0 - pad
        self._raster = r = _Raster(
            float(x0),
            float(y0),
            int((x1 + pad - x0) / RASTER_DEG) + 1,
            int((y1 + pad - y0) / RASTER_DEG) + 1,
        )
        self._x1, self._y1 = x0 + r.ncols * RASTER_DEG, y0 + r.nrows * RASTER_DEG
        corners: dict[int, np.ndarray] = {}  # land and sea cells usually share a resolution
        self._land = _CellLayer(loaded["land"][1], loaded["land"][2], r, corners)
        self._sea = _CellLayer(loaded["sea"][1], loaded["sea"][2], r, corners)
        self.coast_sets, coast_codes = self._coast_raster(coast_geoms, rules.coast_distance_m)
        # plain arrays for the one-point path: indexing them is several times cheaper than numpy
        self._flat = (
            array("i", self._land.codes.ravel().tolist()),
            array("i", self._sea.codes.ravel().tolist()),
            array("i", coast_codes.ravel().tolist()),
        )
        self._coast_codes = coast_codes

    def _coast_raster(
        self, geoms: list[BaseGeometry], distance_m: float
    ) -> tuple[list[tuple[str, ...]], np.ndarray]:
        """Per raster square, the segments within distance_m of its centre, as an index into a
        list of distinct segment tuples (0: none)."""
        r = self._raster
        xs = r.x0 + (np.arange(r.ncols) + 0.5) * RASTER_DEG
        ys = r.y0 + (np.arange(r.nrows) + 0.5) * RASTER_DEG
        near: dict[int, list[int]] = {}
        for s, g in enumerate(geoms):
            # the segment's buffer in metres (a 32-gon per curve: ~1 m short of a true circle),
            # tested only on the square centres inside its bounding box
            zone = shapely.transform(g, lambda c: c * [self._kx, M_PER_DEG]).buffer(distance_m)
            shapely.prepare(zone)
            bx0, by0, bx1, by1 = zone.bounds
            cols = np.flatnonzero((xs * self._kx >= bx0) & (xs * self._kx <= bx1))
            rows = np.flatnonzero((ys * M_PER_DEG >= by0) & (ys * M_PER_DEG <= by1))
            gx, gy = np.meshgrid(xs[cols] * self._kx, ys[rows] * M_PER_DEG)
            hit = shapely.contains_xy(zone, gx, gy)
            for p in (rows[:, None] * r.ncols + cols[None, :])[hit].tolist():
                near.setdefault(p, []).append(s)
        sets: dict[tuple[str, ...], int] = {(): 0}
        codes = np.zeros(r.nrows * r.ncols, dtype=np.int32)
        for p, segs in near.items():
            codes[p] = sets.setdefault(tuple(self.coast_ids[s] for s in segs), len(sets))
        return list(sets), codes.reshape(r.nrows, r.ncols)

    def locate(self, lon: float, lat: float) -> Places:
        """The land cell, sea cell and coast segments (within the visit distance) of a point."""
        r = self._raster
        if not (r.x0 <= lon < self._x1 and r.y0 <= lat < self._y1):  # also rejects NaN
            return NOWHERE
        i = int((lat - r.y0) / RASTER_DEG) * r.ncols + int((lon - r.x0) / RASTER_DEG)
        land_codes, sea_codes, coast_codes = self._flat
        li, si = land_codes[i], sea_codes[i]
        if li == _ASK:
            li = self._land.exact(lon, lat)
        if si == _ASK:
            si = self._sea.exact(lon, lat)
        return Places(
            None if li < 0 else self.land_ids[li],
            None if si < 0 else self.sea_ids[si],
            self.coast_sets[coast_codes[i]],
        )

    def locate_many(self, lons: Any, lats: Any) -> LocatedMany:
        """`locate` for arrays of points, as indexes (see LocatedMany); same answers."""
        x, y = np.asarray(lons, dtype=float).ravel(), np.asarray(lats, dtype=float).ravel()
        r = self._raster
        ok = (x >= r.x0) & (x < self._x1) & (y >= r.y0) & (y < self._y1)
        flat = np.zeros(x.shape, dtype=np.int64)
        flat[ok] = ((y[ok] - r.y0) / RASTER_DEG).astype(np.int64) * r.ncols + (
            (x[ok] - r.x0) / RASTER_DEG
        ).astype(np.int64)
        out = []
        for layer in (self._land, self._sea):
            codes = np.where(ok, layer.codes.ravel()[flat], _NONE)
            for j in np.flatnonzero(codes == _ASK).tolist():
                codes[j] = layer.exact(float(x[j]), float(y[j]))
            out.append(codes)
        coast = np.where(ok, self._coast_codes.ravel()[flat], 0)
        return LocatedMany(out[0], out[1], coast)

    def of_kind(self, kind: str) -> list[Place]:
        return [p for p in self.places.values() if p.kind == kind]


@lru_cache(maxsize=4)
def load_coverage(config_dir: Path = CONFIG_DIR) -> CoverageGeography:
    """The coverage geography and rules under config_dir/coverage, loaded once per process."""
    folder = Path(config_dir) / "coverage"
    return CoverageGeography(folder, load_visit_rules(folder / RULES_FILE))
