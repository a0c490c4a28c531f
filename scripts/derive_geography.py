"""Derive Dapeng New District's geography files in config/geo/ from the public sources there.

Inputs (never edited): `shenzhen_districts.geojson` (feature qh == "大鹏") and
`coastline_gshhg.geojson` (GSHHG level-1 land). Outputs: dapeng_land, dapeng_waters,
dapeng_subdistricts, dapeng_grid, sea_areas and zones (.geojson). Re-runnable and deterministic
(tests/test_geo.py checks the committed files equal a fresh run):

    python scripts/derive_geography.py [--out config/geo]

Sub-district, grid, sea-area and zone polygons are approximations or illustrations and say so in
their `derived` property; a deployment replaces the files with surveyed ones without code changes.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import h3
import shapely
import shapely.affinity
from shapely.geometry import MultiPoint, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

GEO_DIR = Path(__file__).resolve().parents[1] / "config" / "geo"
DISTRICT_NAME = "大鹏"
H3_RES = 7
SIMPLIFY_DEG = 0.0002  # ~20 m: invisible on the wall map, keeps each file well under 300 KB
DECIMALS = 5  # ~1 m
GSHHG_BBOX = (113.7, 22.1, 115.0, 22.9)  # the clip of coastline_gshhg.geojson
SEA_SHORE_GAP_DEG = 0.001  # keep sampled sea points ~100 m off the shoreline

SUBDISTRICT_NOTE = (
    "approximate: Voronoi of office seats clipped to GSHHG land; replace with surveyed boundaries"
)
GRID_NOTE = f"h3 resolution {H3_RES} cells overlapping the district land; land_fraction by area"
SEA_AREA_NOTE = "approximate: hand-drawn outline minus GSHHG land (buffered ~100 m)"
ZONE_NOTE = "illustrative, not legal boundaries"

# Approximate seats of the three sub-district offices (办事处), lon/lat; all checked to be on land.
SUBDISTRICTS: list[dict[str, Any]] = [
    {
        "id": "kuichong",
        "code": "440307009",
        "name_zh": "葵涌",
        "name_en": "Kuichong",
        "seat": (114.43, 22.63),
    },
    {
        "id": "dapeng",
        "code": "440307010",
        "name_zh": "大鹏",
        "name_en": "Dapeng",
        "seat": (114.48, 22.59),
    },
    {
        "id": "nanao",
        "code": "440307011",
        "name_zh": "南澳",
        "name_en": "Nan'ao",
        "seat": (114.50, 22.53),
    },
]

# Outlines of the two vessel operating areas; GSHHG land is cut out of them.
SEA_AREAS: list[dict[str, Any]] = [
    {
        "id": "dapeng_bay",
        "name_zh": "大鹏湾",
        "name_en": "Dapeng Bay (Mirs Bay)",
        "outline": [
            (114.25, 22.60),
            (114.25, 22.555),
            (114.31, 22.53),
            (114.32, 22.42),
            (114.52, 22.42),
            (114.48, 22.56),
            (114.43, 22.62),
            (114.30, 22.62),
        ],
    },
    {
        "id": "daya_bay",
        "name_zh": "大亚湾",
        "name_en": "Daya Bay",
        "outline": [
            (114.52, 22.42),
            (114.78, 22.42),
            (114.78, 22.62),
            (114.70, 22.80),
            (114.52, 22.80),
            (114.48, 22.60),
        ],
    },
]

# Illustrative zones, cut to the district's waters where the simulated vessels pass.
ZONES: list[dict[str, Any]] = [
    {
        "id": "xichong_coral",
        "kind": "protected_area",
        "name_zh": "西涌珊瑚保护区（示意）",
        "name_en": "Xichong coral protection area (illustrative)",
        "bbox": (114.51, 22.44, 114.57, 22.475),
    },
    {
        "id": "dongchong_reef",
        "kind": "protected_area",
        "name_zh": "东涌礁区保护区（示意）",
        "name_en": "Dongchong reef protection area (illustrative)",
        "bbox": (114.575, 22.47, 114.63, 22.52),
    },
    {
        "id": "dapengao_no_fishing",
        "kind": "no_fishing",
        "name_zh": "大鹏澳禁渔区（示意）",
        "name_en": "Dapeng Ao no-fishing area (illustrative)",
        "bbox": (114.50, 22.565, 114.56, 22.595),
    },
    {
        "id": "nanao_west_no_fishing",
        "kind": "no_fishing",
        "name_zh": "南澳西侧禁渔区（示意）",
        "name_en": "Nan'ao west no-fishing area (illustrative)",
        "bbox": (114.44, 22.48, 114.485, 22.525),
    },
    {
        "id": "xichong_bay_no_fishing",
        "kind": "no_fishing",
        "name_zh": "溪涌湾禁渔区（示意）",
        "name_en": "Xichong (Kuichong) bay no-fishing area (illustrative)",
        "bbox": (114.35, 22.59, 114.41, 22.615),
    },
]


def load_district() -> BaseGeometry:
    data = json.loads((GEO_DIR / "shenzhen_districts.geojson").read_text(encoding="utf-8"))
    found = [f for f in data["features"] if f["properties"].get("qh") == DISTRICT_NAME]
    if len(found) != 1:
        raise SystemExit(f"expected one feature with qh == {DISTRICT_NAME!r}, got {len(found)}")
    return shapely.make_valid(shape(found[0]["geometry"]))


def load_gshhg_land() -> BaseGeometry:
    data = json.loads((GEO_DIR / "coastline_gshhg.geojson").read_text(encoding="utf-8"))
    polys = [shape(f["geometry"]) for f in data["features"] if f["properties"]["gshhs_level"] == 1]
    return unary_union(polys)


def tidy(geom: BaseGeometry, simplify: bool = True) -> BaseGeometry:
    """Lightly simplify and snap to the output precision, staying a valid (multi)polygon."""
    if simplify:
        geom = geom.simplify(SIMPLIFY_DEG, preserve_topology=True)
    geom = shapely.set_precision(shapely.make_valid(geom), 10**-DECIMALS)
    polys = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon" and g.area > 0]
    return unary_union(polys)


def largest_part(geom: BaseGeometry) -> BaseGeometry:
    parts = list(getattr(geom, "geoms", [geom]))
    return max(parts, key=lambda g: g.area)


def _round_coords(obj: Any) -> Any:
    if isinstance(obj, float):
        return round(obj, DECIMALS)
    if isinstance(obj, list | tuple):
        return [_round_coords(x) for x in obj]
    return obj


def feature(geom: BaseGeometry, props: dict[str, Any]) -> dict[str, Any]:
    g = mapping(geom)
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": g["type"], "coordinates": _round_coords(g["coordinates"])},
    }


def write_collection(
    out_dir: Path, name: str, features: list[dict[str, Any]], meta: dict[str, Any]
) -> Path:
    """One feature per line: compact, yet a change to one feature is a one-line diff."""
    path = out_dir / name
    head = {"type": "FeatureCollection", **meta}
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    body = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    path.write_text(body + ',"features":[\n' + ",\n".join(lines) + "\n]}\n", encoding="utf-8")
    return path


def voronoi_cells(seats: list[tuple[float, float]], extent: BaseGeometry) -> list[BaseGeometry]:
    """Voronoi cells in a locally metric frame (lon scaled by cos(lat)), back in lon/lat."""
    k = math.cos(math.radians(sum(lat for _, lat in seats) / len(seats)))
    scaled = MultiPoint([(lon * k, lat) for lon, lat in seats])
    env = shapely.affinity.scale(extent.envelope.buffer(0.1), xfact=k, yfact=1, origin=(0, 0))
    cells = shapely.voronoi_polygons(scaled, extend_to=env)
    out = []
    for lon, lat in seats:
        cell = next(c for c in cells.geoms if c.contains(shapely.Point(lon * k, lat)))
        out.append(shapely.affinity.scale(cell, xfact=1 / k, yfact=1, origin=(0, 0)))
    return out


def derive_subdistricts(land: BaseGeometry) -> list[dict[str, Any]]:
    seats = [s["seat"] for s in SUBDISTRICTS]
    for s in SUBDISTRICTS:
        if not land.contains(shapely.Point(s["seat"])):
            raise SystemExit(f"seat of {s['id']} {s['seat']} is not on the district land")
    feats = []
    for s, cell in zip(SUBDISTRICTS, voronoi_cells(seats, land), strict=True):
        props = {k: s[k] for k in ("id", "code", "name_zh", "name_en")}
        props |= {"seat": list(s["seat"]), "derived": SUBDISTRICT_NOTE}
        feats.append(feature(tidy(land.intersection(cell), simplify=False), props))
    return feats


def derive_grid(land: BaseGeometry, subdistricts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Candidates by cell centre within one circumradius of land, then exact overlap by shapely:
    # avoids h3's experimental 'overlap' containment mode.
    edge_deg = h3.average_hexagon_edge_length(H3_RES, unit="km") / 111.0
    reach = land.buffer(edge_deg * 1.6 / math.cos(math.radians(22.6)))
    candidates = h3.geo_to_cells(reach, H3_RES)
    subs = [(f["properties"]["id"], shape(f["geometry"])) for f in subdistricts]
    rows = []
    for cell in candidates:
        hexagon = Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])
        overlap = hexagon.intersection(land).area
        if overlap <= 0:
            continue
        sub = max(subs, key=lambda s: hexagon.intersection(s[1]).area)[0]
        lat, lng = h3.cell_to_latlng(cell)
        rows.append((-round(lat, 4), lng, cell, sub, overlap / hexagon.area, hexagon))
    rows.sort()  # north to south, west to east: stable labels across runs
    counters: dict[str, int] = {}
    feats = []
    for _, _, cell, sub, fraction, hexagon in rows:
        counters[sub] = counters.get(sub, 0) + 1
        props = {
            "id": cell,
            "label": f"{sub}-{counters[sub]:02d}",
            "subdistrict": sub,
            "land_fraction": max(0.0001, round(min(fraction, 1.0), 4)),
            "derived": GRID_NOTE,
        }
        feats.append(feature(hexagon, props))
    return feats


def derive_sea_areas(gshhg: BaseGeometry) -> list[dict[str, Any]]:
    bbox = box(*GSHHG_BBOX)
    shore = gshhg.buffer(SEA_SHORE_GAP_DEG)
    feats = []
    for a in SEA_AREAS:
        sea = Polygon(a["outline"]).intersection(bbox).difference(shore)
        props = {
            "id": a["id"],
            "name_zh": a["name_zh"],
            "name_en": a["name_en"],
            "derived": SEA_AREA_NOTE,
        }
        # Only the connected main water: enclosed pockets would trap a simulated vessel.
        feats.append(feature(tidy(largest_part(tidy(sea))), props))
    return feats


def derive_zones(waters: BaseGeometry, gshhg: BaseGeometry) -> list[dict[str, Any]]:
    shore = gshhg.buffer(SEA_SHORE_GAP_DEG / 2)
    feats = []
    for z in ZONES:
        geom = tidy(box(*z["bbox"]).intersection(waters).difference(shore))
        if geom.is_empty:
            raise SystemExit(f"zone {z['id']} does not overlap the district's waters")
        props = {k: z[k] for k in ("id", "name_zh", "name_en", "kind")} | {"derived": ZONE_NOTE}
        feats.append(feature(geom, props))
    return feats


def derive() -> dict[str, tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Every output file name -> (features, collection metadata)."""
    district = load_district()
    gshhg = load_gshhg_land()
    land = tidy(district.intersection(gshhg))
    waters = tidy(district.difference(gshhg))
    base = {
        "id": "dapeng",
        "code": "440307",
        "name_zh": "大鹏新区",
        "name_en": "Dapeng New District",
    }
    src = {"source": "shenzhen_districts.geojson (qh=大鹏) and coastline_gshhg.geojson"}
    subdistricts = derive_subdistricts(land)
    return {
        "dapeng_land.geojson": (
            [feature(land, base | {"derived": "district polygon ∩ GSHHG land"})],
            {"name": "Dapeng New District land"} | src,
        ),
        "dapeng_waters.geojson": (
            [feature(waters, base | {"derived": "district polygon minus GSHHG land"})],
            {"name": "Dapeng New District waters"} | src,
        ),
        "dapeng_subdistricts.geojson": (
            subdistricts,
            {"name": "Dapeng sub-districts (approximate)"} | src,
        ),
        "dapeng_grid.geojson": (
            derive_grid(land, subdistricts),
            {"name": f"Dapeng grid, h3 res {H3_RES}"} | src,
        ),
        "sea_areas.geojson": (derive_sea_areas(gshhg), {"name": "Vessel operating areas"} | src),
        "zones.geojson": (
            derive_zones(waters, gshhg),
            {"name": "Protected and no-fishing zones (illustrative)"} | src,
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=GEO_DIR, help="output folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (features, meta) in derive().items():
        path = write_collection(args.out, name, features, meta)
        print(f"{path.name:28s} {path.stat().st_size / 1024:7.1f} KB")


if __name__ == "__main__":
    main()
