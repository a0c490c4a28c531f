"""Derive the coverage geography in config/coverage/ from the geography in config/geo/.

Inputs (read only): `dapeng_grid.geojson`, `dapeng_land.geojson`, `dapeng_waters.geojson`,
`dapeng_subdistricts.geojson`, `coastline_gshhg.geojson` and `dapeng_communities.csv`. Outputs:
land_cells, coast_segments, sea_cells (.geojson) and rules.json (the default visit rules).
Re-runnable and deterministic (tests/test_coverage_domain.py checks the committed files equal a
fresh run):

    python scripts/derive_coverage.py [--out config/coverage]

Owners, segment chiefs, boat crews and community assignments are illustrative and say so in
their `derived` property and with （示意） in the name; a deployment replaces the files with its
own roster without code changes (see config/coverage/README.md).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import sys
from pathlib import Path
from typing import Any

import h3
import shapely
from shapely.geometry import LineString, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.ops import substring

sys.path.insert(0, str(Path(__file__).resolve().parent))  # a sibling script, not a package
from derive_geography import (
    DECIMALS,
    feature,
    load_gshhg_land,
    write_collection,
)

ROOT = Path(__file__).resolve().parents[1]
GEO_DIR = ROOT / "config" / "geo"
OUT_DIR = ROOT / "config" / "coverage"

REQUIREMENT_H = 24  # every place must be visited at least once a day (the bureau's daily patrol)
SEGMENT_M = 3_000  # target length of a coastline segment (段); a run is cut into equal parts
SHORE_TOL_DEG = 0.0003  # ~30 m: a land edge this close to the GSHHG shoreline is coast (the
#                         land polygon was simplified with 20 m, so its shore edges stay closer)
MIN_RUN_M = 100  # shorter coastal runs are artefacts where the land border meets the sea
# Sea cells: h3 res 7 (~5.2 km², ~2.4 km across) like the land grid, so both heatmaps share one
# cell size. A patrol boat at 10-15 kn crosses one in ~6-8 minutes, so the ~60 cells along the
# ~100 km² of district water are a day's sweep for the district's boats, while res 6 (~36 km²)
# would be wider than much of the near-shore band and res 8 would make 7x more places to track.
SEA_H3_RES = 7
MIN_WATER_FRACTION = 0.01  # cells with less district water (slivers of the simplified outline,
#                            ~0.1% of the waters in all) are not a place a boat can be sent
SEA_CELLS_PER_CREW = 6  # an illustrative boat crew answers for this many neighbouring cells
M_PER_DEG = 111_320.0
EARTH_RADIUS_M = 6_371_008.8

LAND_NOTE = (
    "h3 cell of dapeng_grid.geojson; community assigned illustratively by position order "
    "(north to south) within the sub-district, owner illustrative; replace with the roster"
)
COAST_NOTE = (
    "GSHHG shoreline part of the district land boundary cut into ~3 km segments; "
    "sub-district by largest overlap; chief illustrative"
)
SEA_NOTE = (
    f"h3 res {SEA_H3_RES} cell with >= {MIN_WATER_FRACTION:.0%} district water; sub-district "
    "nearest to its water; crew illustrative"
)

RULES: dict[str, Any] = {
    "_comment": (
        "Visit rules for patrol coverage (domain/coverage_places.py). kinds: per unit kind, "
        "whether its "
        "positions count for land cells, coast segments and sea cells, and max_speed_m_s above "
        "which a position is passing, not patrolling. min_dwell_s: continuous time in a place "
        "(at patrol speed and status) before it counts as a visit. revisit_s: a visit to the "
        "same place by the same unit is recorded at most this often. max_gap_s: positions "
        "further apart do not prove a continuous stay. coast_distance_m: within this distance "
        "of a coast segment a unit is on that segment. patrol_statuses: unit statuses that "
        "count as on patrol. warning_lead_h: warn this many hours before a requirement is missed."
    ),
    "kinds": {
        "foot": {"land": True, "coast": True, "sea": False, "max_speed_m_s": 3.0},
        "vehicle": {"land": True, "coast": True, "sea": False, "max_speed_m_s": 11.1},
        "boat": {"land": False, "coast": True, "sea": True, "max_speed_m_s": 10.3},
        "drone": {"land": True, "coast": True, "sea": True, "max_speed_m_s": 15.0},
    },
    "min_dwell_s": 60,
    "revisit_s": 300,
    "max_gap_s": 600,
    "coast_distance_m": 200,
    "patrol_statuses": ["available", "en_route", "on_scene"],
    "warning_lead_h": 2,
}


# -- helpers ------------------------------------------------------------------------------------


def read_features(name: str) -> list[dict[str, Any]]:
    return json.loads((GEO_DIR / name).read_text(encoding="utf-8"))["features"]


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dp, dl = p2 - p1, math.radians(b[0] - a[0])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def line_length_m(coords: list[tuple[float, float]]) -> float:
    return sum(haversine_m(a, b) for a, b in itertools.pairwise(coords))


class Metric:
    """A local equirectangular frame in metres (error < 0.2% over the district), so that
    lengths, buffers and nearest-distances are isotropic."""

    def __init__(self, lat0: float) -> None:
        self.kx = M_PER_DEG * math.cos(math.radians(lat0))

    def fwd(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda c: c * [self.kx, M_PER_DEG])

    def back(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda c: c / [self.kx, M_PER_DEG])


def subdistricts() -> list[dict[str, Any]]:
    return [
        {"geom": shape(f["geometry"])} | f["properties"]
        for f in read_features("dapeng_subdistricts.geojson")
    ]


def communities(subs: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """Sub-district id -> [(community code, name)] in code order; "居委会" dropped from names."""
    by_code = {s["code"]: s["id"] for s in subs}
    out: dict[str, list[tuple[str, str]]] = {s["id"]: [] for s in subs}
    with (GEO_DIR / "dapeng_communities.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["streetCode"] in by_code:
                out[by_code[row["streetCode"]]].append(
                    (row["code"], row["name"].removesuffix("居委会"))
                )
    for sid, rows in out.items():
        if not rows:
            raise SystemExit(f"no community of sub-district {sid} in dapeng_communities.csv")
        rows.sort()
    return out


def order_key(geom: BaseGeometry) -> tuple[float, float]:
    """North to south, then west to east (as the grid labels): stable across runs."""
    c = geom.centroid
    return (-round(c.y, 4), round(c.x, 4))


# -- land cells ---------------------------------------------------------------------------------


def derive_land_cells(subs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    zh = {s["id"]: s["name_zh"] for s in subs}
    comms = communities(subs)
    cells = read_features("dapeng_grid.geojson")
    per_sub: dict[str, list[dict[str, Any]]] = {}
    for f in cells:
        per_sub.setdefault(f["properties"]["subdistrict"], []).append(f)
    feats = []
    for f in cells:  # the grid's own order (north to south), so diffs stay aligned with it
        p = f["properties"]
        sub = p["subdistrict"]
        mine = per_sub[sub]
        i = mine.index(f)
        code, name = comms[sub][i * len(comms[sub]) // len(mine)]  # even bands of cells
        props = {
            "id": p["id"],
            "label": p["label"],
            "subdistrict": sub,
            "community": code,
            "community_name": name,
            "owner": f"网格员 {zh[sub]}-{i + 1:02d}（示意）",
            "requirement_h": REQUIREMENT_H,
            "land_fraction": p["land_fraction"],
            "derived": LAND_NOTE,
        }
        feats.append({"type": "Feature", "properties": props, "geometry": f["geometry"]})
    return feats


# -- coast segments -----------------------------------------------------------------------------


def shoreline_runs(land: BaseGeometry, shore_zone: BaseGeometry) -> list[list[tuple]]:
    """The coastal stretches of the land outline, walked with the land on the left.

    Each ring's edges are classified (both ends and the middle within SHORE_TOL_DEG of the
    GSHHG shoreline); a run of coastal edges is a stretch. A ring that is all coast (an island)
    is one stretch starting at its first vertex; otherwise stretches start after a land border.
    """
    runs = []
    parts = sorted(getattr(land, "geoms", [land]), key=lambda g: -g.area)
    for part in parts:
        for ring in [orient(part, 1.0).exterior, *orient(part, 1.0).interiors]:
            pts = list(ring.coords)[:-1]
            n = len(pts)
            ends = [(pts[i], pts[(i + 1) % n]) for i in range(n)]
            xs = [c[0] for a, b in ends for c in (a, b, ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2))]
            ys = [c[1] for a, b in ends for c in (a, b, ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2))]
            inside = shapely.contains_xy(shore_zone, xs, ys).reshape(n, 3).all(axis=1).tolist()
            if all(inside):
                runs.append([*pts, pts[0]])
                continue
            start = next(i for i in range(n) if inside[i] and not inside[i - 1])
            run: list[tuple] = []
            for k in range(n):
                i = (start + k) % n
                if inside[i]:
                    run = run or [pts[i]]
                    run.append(pts[(i + 1) % n])
                elif run:
                    runs.append(run)
                    run = []
            if run:
                runs.append(run)
    return [r for r in runs if line_length_m(r) >= MIN_RUN_M]


def _rounded(geom: BaseGeometry) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for x, y in geom.coords:
        p = (round(x, DECIMALS), round(y, DECIMALS))
        if not out or p != out[-1]:
            out.append(p)
    return out


def split_run(run: list[tuple], metric: Metric) -> list[list[tuple[float, float]]]:
    """Equal parts of about SEGMENT_M each (a 4.4 km run gives 1 part, a 4.6 km run 2)."""
    line = metric.fwd(LineString(run))
    n = max(1, round(line.length / SEGMENT_M))
    pieces = [
        _rounded(metric.back(substring(line, line.length * i / n, line.length * (i + 1) / n)))
        for i in range(n)
    ]
    return [p for p in pieces if len(p) >= 2]


def derive_coast_segments(subs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    land = shape(read_features("dapeng_land.geojson")[0]["geometry"])
    shore_zone = load_gshhg_land().boundary.buffer(SHORE_TOL_DEG)
    shapely.prepare(shore_zone)
    metric = Metric(land.centroid.y)
    zh = {s["id"]: s["name_zh"] for s in subs}
    near = [(s["id"], s["geom"].buffer(SHORE_TOL_DEG), metric.fwd(s["geom"])) for s in subs]
    counters: dict[str, int] = {}
    feats = []
    for run in shoreline_runs(land, shore_zone):
        for coords in split_run(run, metric):
            seg = LineString(coords)
            seg_m = metric.fwd(seg)
            # largest overlap with a sub-district's edge; no overlap at all: the nearest one
            sub = max(
                near, key=lambda s: (round(seg.intersection(s[1]).length, 7), -s[2].distance(seg_m))
            )[0]
            counters[sub] = counters.get(sub, 0) + 1
            k = counters[sub]
            props = {
                "id": f"coast-{sub}-{k:02d}",
                "label": f"{sub}-coast-{k:02d}",
                "subdistrict": sub,
                "chief": f"段长 {zh[sub]}-{k:02d}（示意）",
                "requirement_h": REQUIREMENT_H,
                "length_m": round(line_length_m(coords)),
                "derived": COAST_NOTE,
            }
            feats.append(feature(seg, props))
    return feats


# -- sea cells ----------------------------------------------------------------------------------


def derive_sea_cells(subs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    waters = shape(read_features("dapeng_waters.geojson")[0]["geometry"])
    metric = Metric(waters.centroid.y)
    zh = {s["id"]: s["name_zh"] for s in subs}
    subs_m = [(s["id"], metric.fwd(s["geom"])) for s in subs]
    edge_deg = h3.average_hexagon_edge_length(SEA_H3_RES, unit="km") / 111.0
    reach = waters.buffer(edge_deg * 1.6 / math.cos(math.radians(22.6)))
    rows = []
    for cell in h3.geo_to_cells(reach, SEA_H3_RES):
        hexagon = Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])
        wet = hexagon.intersection(waters)
        if wet.area < MIN_WATER_FRACTION * hexagon.area:
            continue
        wet_m = metric.fwd(wet)
        sub = min(subs_m, key=lambda s: (round(s[1].distance(wet_m), 3), s[0]))[0]
        rows.append((order_key(hexagon), cell, sub, wet.area / hexagon.area, hexagon))
    rows.sort()
    counters: dict[str, int] = {}
    feats = []
    for _, cell, sub, fraction, hexagon in rows:
        counters[sub] = counters.get(sub, 0) + 1
        k = counters[sub]
        crew = (k - 1) // SEA_CELLS_PER_CREW + 1
        props = {
            "id": f"sea-{cell}",
            "h3": cell,
            "label": f"{sub}-sea-{k:02d}",
            "subdistrict": sub,
            "owner": f"{zh[sub]}海巡 {crew} 组（示意）",
            "requirement_h": REQUIREMENT_H,
            "water_fraction": round(min(fraction, 1.0), 4),
            "derived": SEA_NOTE,
        }
        feats.append(feature(hexagon, props))
    return feats


# -- output -------------------------------------------------------------------------------------


def derive() -> dict[str, tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Every output GeoJSON file name -> (features, collection metadata)."""
    subs = subdistricts()
    src = {"source": "config/geo (derived from shenzhen_districts.geojson and GSHHG)"}
    return {
        "land_cells.geojson": (
            derive_land_cells(subs),
            {"name": "Dapeng land grid cells with owners"} | src,
        ),
        "coast_segments.geojson": (
            derive_coast_segments(subs),
            {"name": "Dapeng coastline segments"} | src,
        ),
        "sea_cells.geojson": (
            derive_sea_cells(subs),
            {"name": f"Dapeng sea cells, h3 res {SEA_H3_RES}"} | src,
        ),
    }


def write_rules(out_dir: Path) -> Path:
    path = out_dir / "rules.json"
    path.write_text(json.dumps(RULES, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (features, meta) in derive().items():
        path = write_collection(args.out, name, features, meta)
        print(f"{path.name:24s} {len(features):4d} features {path.stat().st_size / 1024:7.1f} KB")
    print(f"{write_rules(args.out).name}")


if __name__ == "__main__":
    main()
