"""Dapeng New District's geography as fast point and segment queries. Pure: no Redis, no MQTT.

Reads the GeoJSON files in `config/geo/` (see its README): GSHHG land tells land from sea
everywhere in its coverage (113.7-115.0E, 22.1-22.9N), so sea outside the district counts as sea;
the district outline, sub-districts, grid, vessel operating areas and zones come from the
(derived, replaceable) files. Points are (lon, lat) tuples in WGS-84 degrees.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import h3
import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry import LineString, Point, shape
from shapely.geometry.base import BaseGeometry

from config import CONFIG_DIR

LonLat = tuple[float, float]

EARTH_RADIUS_M = 6_371_008.8
DISTRICT_WATERS = "district"  # area name for random_sea_point: the district's own waters
DISTRICT_FILE = "shenzhen_districts.geojson"
DISTRICT_MATCH = ("qh", "大鹏")
COASTLINE_FILE = "coastline_gshhg.geojson"
FILES = {
    "land": "dapeng_land.geojson",
    "waters": "dapeng_waters.geojson",
    "subdistricts": "dapeng_subdistricts.geojson",
    "grid": "dapeng_grid.geojson",
    "sea_areas": "sea_areas.geojson",
    "zones": "zones.geojson",
}
WATERS_RASTER_DEG = 0.002  # ~200 m: the nearest-sub-district lookup for the district's waters
_MAX_TRIES = 5000  # rejection sampling; the smallest target (a zone) fills ~10% of its bbox


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a: LonLat, b: LonLat) -> float:
    """Initial bearing from a to b, degrees clockwise from north, in [0, 360)."""
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dl = math.radians(b[0] - a[0])
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    deg = math.degrees(math.atan2(y, x)) % 360.0
    return 0.0 if deg >= 360.0 else deg  # -1e-17 % 360.0 == 360.0 in floating point


def move_towards(a: LonLat, b: LonLat, dist_m: float) -> LonLat:
    """The point dist_m from a on the straight lon/lat segment a-b (b itself if closer).

    Straight in lon/lat on purpose: it is the same segment the segment_stays_* checks test.
    """
    total = haversine_m(a[0], a[1], b[0], b[1])
    if dist_m >= total or total == 0.0:
        return b
    f = max(0.0, dist_m) / total
    return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)


def _read_features(path: Path) -> list[dict[str, Any]]:
    """The features of a GeoJSON FeatureCollection, each with a valid geometry and properties;
    anything else is a configuration error that names the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"geography file {path} is missing: run scripts/derive_geography.py or copy a "
            "surveyed replacement there (see config/geo/README.md)"
        ) from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"geography file {path}: not valid JSON ({e})") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list) or not features:
        raise ValueError(f"geography file {path}: expected a FeatureCollection with features")
    for i, f in enumerate(features):
        try:
            if not isinstance(f.get("properties"), dict):
                raise ValueError("no properties object")
            if shape(f["geometry"]).is_empty:
                raise ValueError("empty geometry")
        except Exception as e:  # shapely raises several types for bad coordinates
            raise ValueError(f"geography file {path}: feature {i}: {e}") from None
    return features


def _ids(path: Path, features: list[dict[str, Any]]) -> list[str]:
    ids = [f["properties"].get("id") for f in features]
    if not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != len(ids):
        raise ValueError(f"geography file {path}: every feature needs a unique string 'id'")
    return ids


def _union(features: list[dict[str, Any]]) -> BaseGeometry:
    return shapely.union_all([shape(f["geometry"]) for f in features])


def _prepared(geom: BaseGeometry) -> BaseGeometry:
    shapely.prepare(geom)
    return geom


class Geography:
    """Land/sea/district lookups on prepared shapely geometries; read-only once loaded."""

    def __init__(self, geo_dir: Path) -> None:
        geo_dir = Path(geo_dir)
        coast = _read_features(geo_dir / COASTLINE_FILE)
        land_polys = [f for f in coast if f["properties"].get("gshhs_level", 1) == 1]
        self.land: BaseGeometry = _prepared(_union(land_polys))
        x0, y0, x1, y1 = shapely.total_bounds([shape(f["geometry"]) for f in coast]).tolist()
        self.coverage: tuple[float, float, float, float] = (x0, y0, x1, y1)

        key, value = DISTRICT_MATCH
        district = [
            f for f in _read_features(geo_dir / DISTRICT_FILE) if f["properties"].get(key) == value
        ]
        if len(district) != 1:
            raise ValueError(f"{DISTRICT_FILE}: expected one feature with {key} == {value!r}")
        self.district: BaseGeometry = _prepared(shapely.make_valid(_union(district)))
        land = _read_features(geo_dir / FILES["land"])
        self.district_land: BaseGeometry = _prepared(_union(land))
        waters = _read_features(geo_dir / FILES["waters"])
        self.district_waters: BaseGeometry = _prepared(_union(waters))

        self.subdistrict_props: dict[str, dict[str, Any]] = {}
        self.subdistricts: dict[str, BaseGeometry] = {}
        path = geo_dir / FILES["subdistricts"]
        features = _read_features(path)
        for sid, f in zip(_ids(path, features), features, strict=True):
            self.subdistrict_props[sid] = dict(f["properties"])
            self.subdistricts[sid] = _prepared(shape(f["geometry"]))

        path = geo_dir / FILES["sea_areas"]
        features = _read_features(path)
        self.sea_areas: dict[str, BaseGeometry] = {
            sid: _prepared(shape(f["geometry"]))
            for sid, f in zip(_ids(path, features), features, strict=True)
        }
        self.sea_areas[DISTRICT_WATERS] = self.district_waters

        path = geo_dir / FILES["zones"]
        features = _read_features(path)
        _ids(path, features)
        self.zones: list[tuple[dict[str, Any], BaseGeometry]] = [
            (dict(f["properties"]), _prepared(shape(f["geometry"]))) for f in features
        ]
        self._zone_bounds = [tuple(g.bounds) for _p, g in self.zones]

        path = geo_dir / FILES["grid"]
        grid = _read_features(path)
        self.grid: dict[str, dict[str, Any]] = {
            gid: dict(f["properties"]) for gid, f in zip(_ids(path, grid), grid, strict=True)
        }
        self._grid_ids = list(self.grid)
        self._grid_tree = STRtree([shape(f["geometry"]) for f in grid])
        # h3 grids resolve a point with one index computation; surveyed grids use the tree.
        resolutions = {h3.get_resolution(c) for c in self._grid_ids if h3.is_valid_cell(c)}
        all_h3 = all(h3.is_valid_cell(c) for c in self._grid_ids)
        self._h3_res: int | None = resolutions.pop() if all_h3 and len(resolutions) == 1 else None

    # -- points ---------------------------------------------------------------------------------

    def in_coverage(self, lon: float, lat: float) -> bool:
        """Inside the coastline data's extent, where land and sea are known."""
        x0, y0, x1, y1 = self.coverage
        return x0 <= lon <= x1 and y0 <= lat <= y1

    def is_land(self, lon: float, lat: float) -> bool:
        return bool(shapely.contains_xy(self.land, lon, lat))

    def is_sea(self, lon: float, lat: float) -> bool:
        """Not land and inside the coastline coverage (outside it we cannot tell)."""
        return self.in_coverage(lon, lat) and not shapely.contains_xy(self.land, lon, lat)

    def in_district(self, lon: float, lat: float) -> bool:
        """Inside the district outline, its land and its waters alike. The derived land and
        waters are simplified (~20 m), so a point of theirs on the edge may fall just outside the
        outline: it counts as in the district, as everything built on those files assumes."""
        return bool(
            shapely.contains_xy(self.district, lon, lat)
            or shapely.contains_xy(self.district_waters, lon, lat)
            or shapely.contains_xy(self.district_land, lon, lat)
        )

    def subdistrict_of(self, lon: float, lat: float) -> str | None:
        """The sub-district containing the point; for the district's waters (and coastal slivers
        between simplified polygons) the nearest one, since its office patrols them; else None."""
        for sid, geom in self.subdistricts.items():
            if shapely.contains_xy(geom, lon, lat):
                return sid
        if not self.in_district(lon, lat):
            return None
        p = Point(lon, lat)
        return min(self.subdistricts, key=lambda sid: self.subdistricts[sid].distance(p))

    def subdistricts_of(self, lons: Any, lats: Any) -> list[str | None]:
        """`subdistrict_of` for many points at once (a map update places thousands): exact on
        land; in the district's waters, from a ~200 m raster of the nearest sub-district."""
        x, y = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
        out = np.full(x.shape, None, dtype=object)
        for sid, geom in self.subdistricts.items():
            out[shapely.contains_xy(geom, x, y) & (out == None)] = sid  # noqa: E711 (numpy)
        rest = np.flatnonzero((out == None) & shapely.contains_xy(self.district, x, y))  # noqa: E711
        if rest.size:
            names, (x0, y0, step, raster) = list(self.subdistricts), self._waters_raster
            col = np.clip(((x[rest] - x0) / step).astype(int), 0, raster.shape[1] - 1)
            row = np.clip(((y[rest] - y0) / step).astype(int), 0, raster.shape[0] - 1)
            out[rest] = [names[i] for i in raster[row, col]]
        return out.tolist()

    @cached_property
    def _waters_raster(self) -> tuple[float, float, float, np.ndarray]:
        """Index of the nearest sub-district per cell of the district's bounding box, built once."""
        x0, y0, x1, y1 = self.district.bounds
        step = WATERS_RASTER_DEG
        xs = np.arange(x0, x1 + step, step) + step / 2
        ys = np.arange(y0, y1 + step, step) + step / 2
        gx, gy = np.meshgrid(xs, ys)
        centres = shapely.points(gx.ravel(), gy.ravel())
        dist = np.stack([shapely.distance(g, centres) for g in self.subdistricts.values()])
        return x0, y0, step, dist.argmin(axis=0).reshape(gx.shape)

    def grid_cell_of(self, lon: float, lat: float) -> str | None:
        """Id of the grid cell containing the point. Cells cover the district land; coastal cells
        also reach over some water."""
        if self._h3_res is not None:
            if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
                return None
            cell = h3.latlng_to_cell(lat, lon, self._h3_res)
            return cell if cell in self.grid else None
        hits = self._grid_tree.query(Point(lon, lat), predicate="intersects")
        return self._grid_ids[int(min(hits))] if len(hits) else None

    def zones_at(self, lon: float, lat: float) -> list[dict[str, Any]]:
        """Properties (copies) of every zone containing the point. The ingest worker asks this
        for every vessel report: a bounding-box test first keeps the common case (outside every
        zone) well under a microsecond."""
        return [
            dict(p)
            for (p, g), (x0, y0, x1, y1) in zip(self.zones, self._zone_bounds, strict=True)
            if x0 <= lon <= x1 and y0 <= lat <= y1 and shapely.contains_xy(g, lon, lat)
        ]

    # -- segments -------------------------------------------------------------------------------

    def segment_stays_on_land(self, a: LonLat, b: LonLat) -> bool:
        """The straight lon/lat segment a-b lies on land all the way."""
        if a == b:
            return self.is_land(*a)
        return bool(self.land.contains(LineString([a, b])))

    def segment_stays_at_sea(self, a: LonLat, b: LonLat) -> bool:
        """The straight lon/lat segment a-b touches no land and stays inside the coverage."""
        if not (self.in_coverage(*a) and self.in_coverage(*b)):
            return False
        if a == b:
            return self.is_sea(*a)
        return not self.land.intersects(LineString([a, b]))

    # -- sampling -------------------------------------------------------------------------------

    def random_land_point(
        self,
        rng: random.Random,
        subdistrict: str | None = None,
        near: LonLat | None = None,
        radius_m: float | None = None,
    ) -> LonLat:
        """A uniformly random point on the district's land (or one sub-district's), optionally
        within radius_m of near. Raises ValueError if no such point is found."""
        target = self.district_land if subdistrict is None else self.subdistricts[subdistrict]
        return self._sample(rng, target, self.is_land, near, radius_m)

    def random_sea_point(
        self,
        rng: random.Random,
        area: str = "dapeng_bay",
        near: LonLat | None = None,
        radius_m: float | None = None,
    ) -> LonLat:
        """A uniformly random sea point in a vessel operating area ("dapeng_bay", "daya_bay") or
        in the district's waters ("district"), optionally within radius_m of near."""
        if area not in self.sea_areas:
            raise ValueError(f"unknown sea area {area!r}; known: {sorted(self.sea_areas)}")
        return self._sample(rng, self.sea_areas[area], self.is_sea, near, radius_m)

    def random_zone_point(self, rng: random.Random, zone_id: str) -> LonLat:
        """A random sea point inside one zone (to steer a simulated vessel into it)."""
        for props, geom in self.zones:
            if props["id"] == zone_id:
                return self._sample(rng, geom, self.is_sea, None, None)
        raise ValueError(f"unknown zone {zone_id!r}")

    def _sample(
        self,
        rng: random.Random,
        target: BaseGeometry,
        accept: Callable[[float, float], bool],
        near: LonLat | None,
        radius_m: float | None,
    ) -> LonLat:
        x0, y0, x1, y1 = target.bounds
        if near is not None and radius_m is not None:
            dlat = radius_m / 111_195.0
            dlon = dlat / max(0.01, math.cos(math.radians(near[1])))
            x0, y0 = max(x0, near[0] - dlon), max(y0, near[1] - dlat)
            x1, y1 = min(x1, near[0] + dlon), min(y1, near[1] + dlat)
        if x0 < x1 and y0 < y1:
            for _ in range(_MAX_TRIES):
                lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
                if not (shapely.contains_xy(target, lon, lat) and accept(lon, lat)):
                    continue
                if (
                    near is None
                    or radius_m is None
                    or (haversine_m(near[0], near[1], lon, lat) <= radius_m)
                ):
                    return (lon, lat)
        raise ValueError("no point found in the requested area (and radius)")

    def zone_ids(self) -> list[str]:
        return [p["id"] for p, _ in self.zones]


@lru_cache(maxsize=4)
def load_geography(config_dir: Path = CONFIG_DIR) -> Geography:
    """The geography under config_dir/geo, loaded once per process (read-only afterwards)."""
    return Geography(Path(config_dir) / "geo")
