"""The phone pages' map files (dashboard/phone_map.py): Leaflet from the XStatic-Leaflet wheel
and the local basemap, open to anyone (the citizen has no account), cached for a year only at
the versioned address, nothing outside Leaflet's folder; the pages load them from this app."""

from __future__ import annotations

from pathlib import Path

import redis
from flask import Flask
from shapely.geometry import Point, shape
from xstatic.pkg import leaflet

from config.settings import Settings
from dashboard import phone_map
from services import accounts
from store import devices
from tests.helpers import PASSWORD, client, make_app, signed_in


def test_leaflet_files_are_served_to_anyone_and_cached_at_their_version(server: Flask) -> None:
    c = client(server)
    js = c.get(f"/public/vendor/leaflet/leaflet.js?v={leaflet.VERSION}")
    assert js.status_code == 200 and js.mimetype == "text/javascript"
    assert js.get_data() == (Path(leaflet.BASE_DIR) / "leaflet.js").read_bytes()
    assert "immutable" in js.headers["Cache-Control"]
    # the service worker's copy, by path: revalidated, never a year of an old version
    assert c.get("/public/vendor/leaflet/leaflet.js").headers["Cache-Control"] == "no-cache"
    css = c.get("/public/vendor/leaflet/leaflet.css?v=0.1")
    assert css.status_code == 200 and css.headers["Cache-Control"] == "no-cache"
    icon = c.get("/public/vendor/leaflet/images/marker-icon.png")
    assert icon.status_code == 200 and icon.mimetype == "image/png"


def test_nothing_outside_leaflets_folder_is_served(server: Flask) -> None:
    c = client(server)
    for path in (
        "/public/vendor/leaflet/../__init__.py",
        "/public/vendor/leaflet/..%2F__init__.py",
        "/public/vendor/leaflet/%2Fetc%2Fpasswd",
        "/public/vendor/leaflet/images/../../../../../../etc/passwd",
        "/public/vendor/leaflet/nothing.js",
    ):
        got = c.get(path)
        # 404, or no route of ours at all (a path starting "//": the sign-in redirect)
        assert got.status_code in (302, 404), path
        assert b"root:" not in got.get_data() and b"xstatic" not in got.get_data(), path


def test_the_basemap_has_the_district_and_its_coast(server: Flask) -> None:
    got = client(server).get("/public/map/basemap.json")
    assert got.status_code == 200 and "max-age" in got.headers["Cache-Control"]
    body = got.get_json()
    (district,) = body["district"]["features"]
    nanao = Point(114.5405, 22.5205)  # 南澳, on land, in the district
    assert shape(district["geometry"]).contains(nanao)
    assert any(shape(f["geometry"]).contains(nanao) for f in body["land"]["features"])
    assert not any(
        shape(f["geometry"]).contains(Point(114.60, 22.45)) for f in body["land"]["features"]
    )
    assert body["bounds"] == [list(x) for x in phone_map.phone_basemap()["bounds"]]


def test_both_phone_pages_load_the_map_from_this_app(server: Flask, r: redis.Redis) -> None:
    report = client(server).get("/report")
    html = report.get_data(as_text=True)
    assert phone_map.leaflet_url("leaflet.js") in html and "/public/map/phone-map.js" in html
    assert 'id="report-lat"' in html and 'type="hidden"' not in html  # typed, for keyboards
    assert "script-src 'self'" in report.headers["Content-Security-Policy"]
    devices.add(r, "U-DP-M01", "unit", 0)
    accounts.add_user(r, "wang", "officer", PASSWORD, unit="U-DP-M01")
    field = signed_in(server, "wang").get("/field").get_data(as_text=True)
    assert phone_map.leaflet_url("leaflet.css") in field and 'id="field-map"' in field
    assert client(server).get("/public/map/phone-map.js").status_code == 200


def test_with_a_tile_server_the_maps_ask_for_its_tiles_and_the_csp_allows_them(
    settings: Settings, r: redis.Redis
) -> None:
    server = make_app(settings, map_tiles_url="https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    page = client(server).get("/report")
    assert 'data-tiles="https://{s}.tiles.example.org/{z}/{x}/{y}.png"' in page.get_data(
        as_text=True
    )
    img_src = next(
        d for d in page.headers["Content-Security-Policy"].split("; ") if d.startswith("img-src")
    )
    assert "https://*.tiles.example.org" in img_src
