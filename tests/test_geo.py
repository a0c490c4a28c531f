"""domain/geo.py and the derived geography files of scripts/derive_geography.py."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import h3
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely import contains_xy
from shapely.geometry import shape

from config import CONFIG_DIR
from domain.geo import (
    Geography,
    bearing_deg,
    haversine_m,
    load_geography,
    move_towards,
)
from tests.helpers import load_script

GEO_DIR = CONFIG_DIR / "geo"
SUBDISTRICT_IDS = {"kuichong", "dapeng", "nanao"}
SUBDISTRICT_NOTE = (
    "approximate: Voronoi of office seats clipped to GSHHG land; replace with surveyed boundaries"
)

# Known places (lon, lat), checked against the map.
DAPENG_FORTRESS = (114.51, 22.60)  # 大鹏所城, on land in Dapeng sub-district
KUICHONG_TOWN = (114.43, 22.63)
NANAO_TOWN = (114.50, 22.53)
QINIANGSHAN = (114.55, 22.50)  # 七娘山, the southern peak (Nan'ao)
DAPENG_BAY_MIDDLE = (114.40, 22.52)  # open water, outside the district
DAYA_BAY_MIDDLE = (114.68, 22.62)
DAPENG_AO = (114.52, 22.578)  # 大鹏澳: sea inside the district
OUTSIDE_COVERAGE = (116.0, 22.5)

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _features(name: str) -> list[dict[str, Any]]:
    return json.loads((GEO_DIR / name).read_text(encoding="utf-8"))["features"]


# -- points -----------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [DAPENG_FORTRESS, KUICHONG_TOWN, NANAO_TOWN, QINIANGSHAN])
def test_known_land_points(geo: Geography, p: tuple[float, float]) -> None:
    assert geo.is_land(*p)
    assert not geo.is_sea(*p)
    assert geo.in_district(*p)
    assert geo.grid_cell_of(*p) in geo.grid


@pytest.mark.parametrize("p", [DAPENG_BAY_MIDDLE, DAYA_BAY_MIDDLE])
def test_known_sea_points_outside_the_district(geo: Geography, p: tuple[float, float]) -> None:
    assert geo.is_sea(*p)
    assert not geo.is_land(*p)
    assert not geo.in_district(*p)
    assert geo.subdistrict_of(*p) is None
    assert geo.grid_cell_of(*p) is None


def test_district_waters_are_sea_in_the_district(geo: Geography) -> None:
    assert geo.is_sea(*DAPENG_AO)
    assert geo.in_district(*DAPENG_AO)
    # The nearest office patrols its waters.
    assert geo.subdistrict_of(*DAPENG_AO) in SUBDISTRICT_IDS


def test_outside_the_coastline_data_is_neither_land_nor_sea(geo: Geography) -> None:
    assert not geo.is_land(*OUTSIDE_COVERAGE)
    assert not geo.is_sea(*OUTSIDE_COVERAGE)
    assert not geo.segment_stays_at_sea(DAPENG_BAY_MIDDLE, OUTSIDE_COVERAGE)


@pytest.mark.parametrize(
    ("p", "expected"),
    [(KUICHONG_TOWN, "kuichong"), (DAPENG_FORTRESS, "dapeng"), (QINIANGSHAN, "nanao")],
)
def test_subdistrict_of_each(geo: Geography, p: tuple[float, float], expected: str) -> None:
    assert geo.subdistrict_of(*p) == expected


def test_subdistrict_seats_are_in_their_own_subdistrict(geo: Geography) -> None:
    for sid, props in geo.subdistrict_props.items():
        assert geo.is_land(*props["seat"])
        assert geo.subdistrict_of(*props["seat"]) == sid


def test_subdistricts_of_many_agrees_with_one_at_a_time(geo: Geography) -> None:
    """Exact on land, and the raster of the waters matches the nearest sub-district (within
    one raster cell of a border between two of them)."""
    rng = random.Random(7)
    points = [(rng.uniform(114.28, 114.66), rng.uniform(22.42, 22.74)) for _ in range(3000)]
    points += [KUICHONG_TOWN, DAPENG_FORTRESS, QINIANGSHAN, DAPENG_BAY_MIDDLE, OUTSIDE_COVERAGE]
    many = geo.subdistricts_of([p[0] for p in points], [p[1] for p in points])
    differ = [(p, a) for p, a in zip(points, many, strict=True) if geo.subdistrict_of(*p) != a]
    assert all(not geo.is_land(*p) and a is not None for p, a in differ)
    assert len(differ) <= len(points) // 100
    assert many[-5:-1] == ["kuichong", "dapeng", "nanao", None]
    assert geo.subdistricts_of([], []) == []


def test_grid_cell_is_the_h3_cell_of_the_point(geo: Geography) -> None:
    lon, lat = DAPENG_FORTRESS
    cell = geo.grid_cell_of(lon, lat)
    assert cell == h3.latlng_to_cell(lat, lon, h3.get_resolution(cell))
    assert geo.grid[cell]["subdistrict"] in SUBDISTRICT_IDS


def test_zones_at(geo: Geography) -> None:
    rng = random.Random(1)
    assert geo.zones_at(*DAPENG_BAY_MIDDLE) == []
    for zone_id in geo.zone_ids():
        p = geo.random_zone_point(rng, zone_id)
        assert geo.is_sea(*p)
        found = geo.zones_at(*p)
        assert zone_id in [z["id"] for z in found]
        assert all(z["kind"] in ("protected_area", "no_fishing") for z in found)
        found[0]["id"] = "changed"  # callers get copies
        assert zone_id in [z["id"] for z in geo.zones_at(*p)]


def test_load_geography_is_cached(geo: Geography) -> None:
    assert load_geography() is geo


# -- random points ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=seeds, sub=st.sampled_from([None, "kuichong", "dapeng", "nanao"]))
def test_random_land_point(geo: Geography, seed: int, sub: str | None) -> None:
    p = geo.random_land_point(random.Random(seed), sub)
    assert geo.is_land(*p)
    assert geo.in_district(*p)
    if sub is not None:
        assert geo.subdistrict_of(*p) == sub


@settings(max_examples=40, deadline=None)
@given(seed=seeds, area=st.sampled_from(["dapeng_bay", "daya_bay", "district"]))
@example(seed=917510, area="district")  # a point of the simplified waters just off the outline
def test_random_sea_point(geo: Geography, seed: int, area: str) -> None:
    p = geo.random_sea_point(random.Random(seed), area)
    assert geo.is_sea(*p)
    if area == "district":
        assert geo.in_district(*p)
    else:
        assert contains_xy(geo.sea_areas[area], *p)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, radius=st.floats(min_value=2_000, max_value=10_000))
def test_random_points_near(geo: Geography, seed: int, radius: float) -> None:
    rng = random.Random(seed)
    p = geo.random_land_point(rng, "nanao", near=QINIANGSHAN, radius_m=radius)
    assert haversine_m(*p, *QINIANGSHAN) <= radius
    q = geo.random_sea_point(rng, "dapeng_bay", near=DAPENG_BAY_MIDDLE, radius_m=radius)
    assert haversine_m(*q, *DAPENG_BAY_MIDDLE) <= radius
    assert geo.is_sea(*q)


def test_random_points_are_deterministic_per_seed(geo: Geography) -> None:
    a = [geo.random_sea_point(random.Random(7), "daya_bay") for _ in range(3)]
    b = [geo.random_sea_point(random.Random(7), "daya_bay") for _ in range(3)]
    assert a == b


def test_impossible_requests_raise(geo: Geography) -> None:
    rng = random.Random(0)
    with pytest.raises(ValueError):
        geo.random_sea_point(rng, "no_such_bay")
    with pytest.raises(ValueError):
        geo.random_land_point(rng, "kuichong", near=DAPENG_BAY_MIDDLE, radius_m=100)


# -- segments ---------------------------------------------------------------------------------


def test_segments(geo: Geography) -> None:
    assert geo.segment_stays_on_land(KUICHONG_TOWN, DAPENG_FORTRESS)
    across_peninsula = (DAPENG_BAY_MIDDLE, DAYA_BAY_MIDDLE)
    assert not geo.segment_stays_at_sea(*across_peninsula)
    assert not geo.segment_stays_on_land(*across_peninsula)
    assert geo.segment_stays_at_sea(DAPENG_BAY_MIDDLE, (114.35, 22.56))
    assert not geo.segment_stays_on_land(KUICHONG_TOWN, DAPENG_BAY_MIDDLE)
    assert geo.segment_stays_on_land(KUICHONG_TOWN, KUICHONG_TOWN)
    assert geo.segment_stays_at_sea(DAYA_BAY_MIDDLE, DAYA_BAY_MIDDLE)


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_segment_checks_agree_with_points_along_them(geo: Geography, seed: int) -> None:
    rng = random.Random(seed)
    a = geo.random_sea_point(rng, "daya_bay")
    b = geo.random_sea_point(rng, "daya_bay", near=a, radius_m=8_000)
    along = [move_towards(a, b, haversine_m(*a, *b) * i / 50) for i in range(51)]
    if geo.segment_stays_at_sea(a, b):
        assert all(geo.is_sea(*p) for p in along)
    c = geo.random_land_point(rng)
    d = geo.random_land_point(rng, near=c, radius_m=5_000)
    along = [move_towards(c, d, haversine_m(*c, *d) * i / 50) for i in range(51)]
    if geo.segment_stays_on_land(c, d):
        assert all(geo.is_land(*p) for p in along)
    elif not all(geo.is_land(*p) for p in along):
        assert not geo.segment_stays_at_sea(c, d)


# -- distances and bearings -------------------------------------------------------------------


def test_haversine() -> None:
    assert haversine_m(114.5, 22.5, 114.5, 22.5) == 0.0
    assert haversine_m(114.5, 22.0, 114.5, 23.0) == pytest.approx(111_195, rel=1e-3)
    assert haversine_m(114.4, 22.5, 114.6, 22.6) == pytest.approx(
        haversine_m(114.6, 22.6, 114.4, 22.5)
    )


@given(
    lon=st.floats(114.3, 114.7),
    lat=st.floats(22.4, 22.7),
    dlon=st.floats(-0.05, 0.05),
    dlat=st.floats(-0.05, 0.05),
    frac=st.floats(0, 1.2),
)
def test_move_towards_and_bearing(
    lon: float, lat: float, dlon: float, dlat: float, frac: float
) -> None:
    a, b = (lon, lat), (lon + dlon, lat + dlat)
    total = haversine_m(*a, *b)
    p = move_towards(a, b, total * frac)
    if frac >= 1:
        assert p == b
    else:
        assert haversine_m(*a, *p) == pytest.approx(total * frac, abs=0.5)
    assert 0.0 <= bearing_deg(a, b) < 360.0


def test_bearings() -> None:
    assert bearing_deg((114.5, 22.5), (114.5, 22.6)) == pytest.approx(0.0, abs=1e-9)
    assert bearing_deg((114.5, 22.5), (114.6, 22.5)) == pytest.approx(90.0, abs=0.1)
    assert bearing_deg((114.5, 22.5), (114.4, 22.5)) == pytest.approx(270.0, abs=0.1)


# -- derived files ----------------------------------------------------------------------------

DERIVED = [
    "dapeng_land.geojson",
    "dapeng_waters.geojson",
    "dapeng_subdistricts.geojson",
    "dapeng_grid.geojson",
    "sea_areas.geojson",
    "zones.geojson",
]


@pytest.mark.parametrize("name", DERIVED)
def test_derived_file_is_compact_valid_geojson(name: str) -> None:
    path = GEO_DIR / name
    assert path.stat().st_size < 300_000
    features = _features(name)
    assert features
    for f in features:
        geom = shape(f["geometry"])
        assert geom.geom_type in ("Polygon", "MultiPolygon")
        assert geom.is_valid and not geom.is_empty
        assert f["properties"]["id"]
        assert f["properties"]["derived"]
        x, y = (
            f["geometry"]["coordinates"][0][0][:2]
            if geom.geom_type == "Polygon"
            else (f["geometry"]["coordinates"][0][0][0][:2])
        )
        assert round(x, 5) == x and round(y, 5) == y


def test_derived_files_match_a_fresh_run(tmp_path: Path) -> None:
    """The committed files are what the script makes (it is deterministic)."""
    load_script("derive_geography").main(["--out", str(tmp_path)])
    for name in DERIVED:
        assert (tmp_path / name).read_bytes() == (GEO_DIR / name).read_bytes(), name


def test_subdistrict_file() -> None:
    features = _features("dapeng_subdistricts.geojson")
    props = {f["properties"]["id"]: f["properties"] for f in features}
    assert set(props) == SUBDISTRICT_IDS
    assert {p["code"] for p in props.values()} == {"440307009", "440307010", "440307011"}
    assert {p["name_zh"] for p in props.values()} == {"葵涌", "大鹏", "南澳"}
    for p in props.values():
        assert p["name_en"]
        assert p["derived"] == SUBDISTRICT_NOTE


def test_subdistricts_partition_the_land() -> None:
    land = shape(_features("dapeng_land.geojson")[0]["geometry"])
    subs = [shape(f["geometry"]) for f in _features("dapeng_subdistricts.geojson")]
    assert sum(s.area for s in subs) == pytest.approx(land.area, rel=0.005)
    for i, a in enumerate(subs):
        for b in subs[i + 1 :]:
            assert a.intersection(b).area < 1e-4 * land.area


def test_land_and_waters_make_the_district() -> None:
    land = shape(_features("dapeng_land.geojson")[0]["geometry"])
    waters = shape(_features("dapeng_waters.geojson")[0]["geometry"])
    water_share = waters.area / (land.area + waters.area)
    assert 0.15 < water_share < 0.35  # "about a quarter of it is water"


def test_grid_file() -> None:
    script = load_script("derive_geography")
    land = shape(_features("dapeng_land.geojson")[0]["geometry"])
    cells = _features("dapeng_grid.geojson")
    ids = [f["properties"]["id"] for f in cells]
    assert len(ids) == len(set(ids))
    for f in cells:
        p = f["properties"]
        assert h3.is_valid_cell(p["id"]) and h3.get_resolution(p["id"]) == script.H3_RES
        assert p["subdistrict"] in SUBDISTRICT_IDS
        assert 0 < p["land_fraction"] <= 1
    covered = shape(
        {"type": "MultiPolygon", "coordinates": [f["geometry"]["coordinates"] for f in cells]}
    )
    assert land.difference(covered).area < 1e-6 * land.area  # no blind spots


def test_sea_areas_file(geo: Geography) -> None:
    features = _features("sea_areas.geojson")
    assert {f["properties"]["id"] for f in features} == {"dapeng_bay", "daya_bay"}
    for f in features:
        assert f["properties"]["name_zh"] and f["properties"]["name_en"]
        x0, y0, x1, y1 = shape(f["geometry"]).bounds
        assert x0 >= 113.7 and x1 <= 115.0 and y0 >= 22.1 and y1 <= 22.9
    # Dapeng Bay lies west of Daya Bay.
    assert shape(features[0]["geometry"]).centroid.x < shape(features[1]["geometry"]).centroid.x


def test_zones_file(geo: Geography) -> None:
    features = _features("zones.geojson")
    assert len(features) >= 3
    assert {f["properties"]["kind"] for f in features} == {"protected_area", "no_fishing"}
    for f in features:
        p = f["properties"]
        assert p["id"] and p["name_zh"] and p["name_en"]
        assert p["derived"] == "illustrative, not legal boundaries"
        geom = shape(f["geometry"])
        rep = geom.representative_point()
        assert geo.in_district(rep.x, rep.y) and geo.is_sea(rep.x, rep.y)
        # Vessels pass there: the zone overlaps an operating area.
        assert any(geom.intersects(a) for k, a in geo.sea_areas.items() if k != "district")


@pytest.mark.parametrize(
    ("file", "content", "expected"),
    [
        ("zones.geojson", "{not json", "not valid JSON"),
        ("zones.geojson", '{"type": "FeatureCollection", "features": []}', "with features"),
        ("zones.geojson", "[1, 2]", "with features"),
        (
            "zones.geojson",
            '{"features": [{"properties": {"id": "z"}, "geometry": '
            '{"type": "Polygon", "coordinates": [[1, 2]]}}]}',
            "feature 0",
        ),
        (
            "zones.geojson",
            '{"features": [{"properties": {}, "geometry": '
            '{"type": "Point", "coordinates": [114.5, 22.5]}}]}',
            "unique string 'id'",
        ),
        (
            "dapeng_grid.geojson",
            '{"features": [{"geometry": {"type": "Point", "coordinates": [114.5, 22.5]}}]}',
            "no properties",
        ),
    ],
)
def test_a_bad_replacement_file_is_a_clear_error_naming_it(
    tmp_path, file: str, content: str, expected: str
) -> None:
    import shutil

    from config import CONFIG_DIR
    from domain.geo import Geography

    geo_dir = tmp_path / "geo"
    shutil.copytree(CONFIG_DIR / "geo", geo_dir)
    (geo_dir / file).write_text(content)
    with pytest.raises(ValueError, match=expected) as e:
        Geography(geo_dir)
    assert file in str(e.value)
