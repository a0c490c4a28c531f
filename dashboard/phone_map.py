"""The small Leaflet maps of the phone pages (`/field`'s task card, `/report`'s place picker).

Those pages load no Dash, and dash-leaflet's Leaflet lives inside its own bundle, so Leaflet's
own files come from the XStatic-Leaflet wheel and are served here, from this app: the pages
work offline (the field app's service worker keeps them) and under the app's CSP ('self' only).
With no MAP_TILES_URL the maps are not blank: the land and the district's outline from
`config/geo` (the console's local basemap, cut to the district and simplified for a phone).

Open to anyone (dashboard/security.OPEN_ENDPOINTS): the citizen's page has no account, and
nothing here is more than the public code and geography every page already shows."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, request, send_from_directory
from xstatic.pkg import leaflet

from config import CONFIG_DIR
from dashboard import map_data

bp = Blueprint("phone_map", __name__)
PUBLIC_ASSETS = Path(__file__).resolve().parent.parent / "assets" / "public"

LEAFLET_VERSION = leaflet.VERSION
# lon/lat box of the phone maps' land: the district (map_data.district_bounds) and a margin of
# sea and neighbours, so a phone sees a coast wherever it pans near the district.
PHONE_VIEW = (114.25, 22.38, 114.72, 22.75)
PHONE_SIMPLIFY_DEG = 0.0003  # ~30 m: the coast at a street's zoom, ~45 KB before gzip
YEAR_S = 365 * 86_400
BASEMAP_MAX_AGE_S = 86_400  # a deployment may replace its geography: a day, not a year


def leaflet_url(name: str) -> str:
    """A Leaflet file's address; the version in the query makes the year-long cache safe
    across an upgrade (the service worker keeps the file by its path, whatever the query)."""
    return f"/public/vendor/leaflet/{name}?v={LEAFLET_VERSION}"


def tiles_url() -> str:
    return current_app.config["SETTINGS"].map_tiles_url


@lru_cache(maxsize=1)
def phone_basemap() -> dict[str, Any]:
    """Land and the district's outline: the two layers a small map needs to be readable."""
    coast = CONFIG_DIR / "geo" / "coastline_gshhg.geojson"
    land_source = json.loads(coast.read_text(encoding="utf-8"))["features"]
    land = map_data.clipped_land(land_source, PHONE_VIEW, PHONE_SIMPLIFY_DEG)
    return {
        "land": {"type": "FeatureCollection", "features": land},
        "district": map_data.basemap()["district"],
        "bounds": map_data.district_bounds(),
    }


@bp.get("/public/vendor/leaflet/<path:name>")
def leaflet_file(name: str) -> Any:
    # send_from_directory joins safely: a path leaving BASE_DIR ("../", absolute) is a 404
    resp = send_from_directory(leaflet.BASE_DIR, name)
    if request.args.get("v") == LEAFLET_VERSION:
        resp.headers["Cache-Control"] = f"public, max-age={YEAR_S}, immutable"
    else:  # unversioned (the service worker's copy): revalidated, never a stale year
        resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/public/map/basemap.json")
def basemap() -> Any:
    resp = jsonify(phone_basemap())
    resp.headers["Cache-Control"] = f"public, max-age={BASEMAP_MAX_AGE_S}"
    return resp


@bp.get("/public/map/phone-map.js")
def script() -> Any:
    resp = send_from_directory(PUBLIC_ASSETS, "phone-map.js", mimetype="text/javascript")
    resp.headers["Cache-Control"] = "no-cache"
    return resp
