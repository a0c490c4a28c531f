"""Pure conversions for the live map: snapshots to GeoJSON, header counts, data freshness, and
the local basemap read from `config/geo`.

Everything here is a plain function of its arguments (no Redis, no Dash), so it is unit-tested
directly. Text shown in the browser as HTML (tooltips, popups) is escaped here: names and call
signs come from devices and AIS and must not become markup.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from shapely.geometry import box, mapping, shape

from config import CONFIG_DIR
from dashboard.i18n import TABLE, t
from domain.picture import located
from domain.vocab import LOCAL_TZ

CENTER = (22.58, 114.48)  # lat, lon (Leaflet order)
ZOOM = 11
# The lon/lat box the basemap land is clipped to: what a wide screen shows at the start zoom.
VIEW_BOUNDS = (113.85, 22.25, 115.0, 22.9)
LAND_SIMPLIFY_DEG = 0.0004  # ~40 m: plenty at the zooms a wall screen uses
COORD_DECIMALS = 4  # ~10 m; keeps the page's basemap small
STALE_AFTER_S = 30.0
# A unit silent this long is drawn faded (it may not be there any more); a vessel silent this
# long has left AIS range or the area and is not drawn or counted (class B reports every 3 min).
UNIT_SILENT_S = 300.0  # a unit silent this long fades on the map (assets/live.js)
VESSEL_GONE_S = 3600.0

STATUS_COLOURS = {
    "available": "#2e9e44",
    "dispatched": "#f0a500",
    "en_route": "#1f78d1",
    "on_scene": "#d7301f",
    "off_duty": "#8c8c8c",
}
UNKNOWN_STATUS_COLOUR = "#6a3d9a"
VESSEL_COLOUR = "#00bcd4"
SENSOR_COLOURS = {
    "ok": "#1b9e77",
    "warning": "#f0a500",
    "critical": "#c00000",
    "no_data": "#8c8c8c",
}
SEVERITY_COLOURS = {"info": "#1f78d1", "warning": "#f0a500", "critical": "#e0261b"}
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
# A unit's kind is its marker's shape and its department the outline colour (fill = status).
KIND_SHAPES = {"foot": "circle", "vehicle": "square", "boat": "diamond", "drone": "triangle"}
DEPARTMENT_COLOURS = {
    "eco_environment": "#1b5e20",
    "water": "#0d47a1",
    "forestry": "#6d4c41",
    "agriculture": "#9e9d24",
    "land_inspection": "#4a148c",
    "marine_fisheries": "#006064",
    "fishery_maritime": "#263238",
}
UNKNOWN_DEPARTMENT_COLOUR = "#1a1a1a"
NO_SUBDISTRICT = "none"  # outside the district: a filter value like the others

FeatureCollection = dict[str, Any]
# Sub-district of many points at once (domain.geo.Geography.subdistricts_of), or None.


# What a pushed live layer needs to draw its markers (assets/live.js): colours and shapes by
# value, and the labels of its popups in the page's language.
LIVE_LABEL_PREFIXES = ("field.", "dept.", "kind.", "level.", "subdistrict.", "status.", "sensor.")
LIVE_LABEL_PREFIXES += ("age.", "param.", "control.")
_CLASS = re.compile(r"\bclass (I{1,3}|IV|V)\b")


PLACES_CSV = CONFIG_DIR / "geo" / "places.csv"  # a deployment's named places (README there)


def named_places(path: Path = PLACES_CSV) -> list[dict[str, Any]]:
    """A deployment's named places (piers, beaches, villages): rows of id, name_zh, name_en,
    lat, lon; a row without a place on Earth is left out."""
    if not path.exists():
        return []
    out = []
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            try:
                lat, lon = float(row["lat"]), float(row["lon"])
            except (KeyError, TypeError, ValueError):
                continue
            if -90 <= lat <= 90 and -180 <= lon <= 180 and row.get("id"):
                out.append({**row, "lat": lat, "lon": lon})
    return out


@lru_cache(maxsize=2)
def places_index(lang: str) -> list[list[Any]]:
    """What the live map's search finds besides the live picture, as [name, id, lat, lon,
    kind] rows: sub-districts, communities (the middle of their grid cells), grid cells,
    coastline segments, sea cells, zones and the deployment's named places."""
    from domain.coverage_places import load_coverage  # loaded once, only for this index

    rows: list[list[Any]] = []
    for f in _read(CONFIG_DIR / "geo" / "dapeng_subdistricts.geojson"):
        p = f["properties"]
        lon, lat = p["seat"]
        rows.append([p.get(f"name_{lang}") or p["name_zh"], p["id"], lat, lon, "subdistrict"])
    cov = load_coverage()
    communities: dict[str, list[tuple[float, float]]] = {}
    for pid, place in cov.places.items():
        c = cov.geoms[pid].centroid
        rows.append([place.label or pid, pid, round(c.y, 5), round(c.x, 5), place.kind])
        if place.community:
            communities.setdefault(place.community, []).append((c.y, c.x))
    for name, points in communities.items():
        lat, lon = (sum(v) / len(points) for v in zip(*points, strict=True))
        rows.append([name, name, round(lat, 5), round(lon, 5), "community"])
    for f in _read(CONFIG_DIR / "geo" / "zones.geojson"):
        p, c = f["properties"], shape(f["geometry"]).centroid
        name = p.get(f"name_{lang}") or p.get("name_zh") or p["id"]
        rows.append([name, p["id"], round(c.y, 5), round(c.x, 5), "zone"])
    for p in named_places():
        rows.append(
            [
                p.get(f"name_{lang}") or p.get("name_zh") or p["id"],
                p["id"],
                p["lat"],
                p["lon"],
                "place",
            ]
        )
    return rows


@lru_cache(maxsize=1)
def zone_names() -> dict[str, dict[str, str]]:
    """Zone id -> its names (name_zh, name_en) from the shipped zones."""
    return {
        str(f["properties"]["id"]): {
            k: str(v) for k, v in f["properties"].items() if k.startswith("name_")
        }
        for f in _read(CONFIG_DIR / "geo" / "zones.geojson")
    }


def alert_message(a: dict[str, Any], lang: str) -> str:
    """A water-quality alert's text in the reader's language: the worker writes it once with
    the parameters' keys ("dissolved_oxygen 4.1 (class I >= 6)"), named in its `parameters`;
    each becomes the standard's name for it, and "class I" the Chinese "I类". Other alerts'
    text is shown as written (a device's own words), but a vessel in a zone is said anew with
    the zone's name in the reader's language."""
    zone = zone_names().get(str(a.get("zone") or ""))
    if a.get("kind") == "geofence" and zone:  # the zone by its name in the reader's language
        where = zone.get(f"name_{lang}") or zone.get("name_zh") or a["zone"]
        return t("alert.in_zone", lang).format(mmsi=a.get("source", ""), zone=where)
    if f"alert.msg.{a.get('kind')}" in TABLE:
        return vessel_watch_message(a, lang)
    text = str(a.get("message") or "")
    for p in sorted(filter(None, str(a.get("parameters") or "").split(",")), key=len, reverse=True):
        if f"param.{p}" in TABLE:
            text = text.replace(p, t(f"param.{p}", lang))
    return _CLASS.sub(r"\1类", text) if lang == "zh" else text


def _number(v: Any, fmt: str) -> str:
    """A field of an alert as a number in `fmt`; "—" when absent or not a number."""
    try:
        return format(float(v), fmt)
    except (TypeError, ValueError):
        return "—"


def vessel_watch_message(a: dict[str, Any], lang: str) -> str:
    """An alert of the vessel watch (ais_gap, position_jump, loitering, fishing_ban) said in the
    reader's language from its fields; the zone of a loitering vessel by its name."""
    zone = zone_names().get(str(a.get("zone") or "")) or {}
    return t(f"alert.msg.{a.get('kind')}", lang).format(
        mmsi=a.get("source", ""),
        minutes=_number(a.get("silent_min", a.get("minutes")), ".0f"),
        sog=_number(a.get("sog_kn"), ".1f"),
        cog=_number(a.get("cog"), ".0f"),
        km=_number(a.get("distance_km"), ".1f"),
        speed=_number(a.get("speed_kn"), ".0f"),
        zone=zone.get(f"name_{lang}") or zone.get("name_zh") or a.get("zone", ""),
    )


def live_style() -> dict[str, Any]:
    return {
        "status": STATUS_COLOURS,
        "unknown": UNKNOWN_STATUS_COLOUR,
        "department": DEPARTMENT_COLOURS,
        "unknownDepartment": UNKNOWN_DEPARTMENT_COLOUR,
        "shapes": KIND_SHAPES,
        "vessel": VESSEL_COLOUR,
        "sensor": SENSOR_COLOURS,
        "silentMs": UNIT_SILENT_S * 1000,
    }


def live_labels(lang: str) -> dict[str, str]:
    return {key: t(key, lang) for key in TABLE if key.startswith(LIVE_LABEL_PREFIXES)}


def live_anchor(layer: str, lang: str) -> dict[str, Any]:
    """The one feature of a pushed live layer: where assets/live.js hangs the layer's markers."""
    props = {"anchor": layer, "labels": live_labels(lang), "style": live_style()}
    return _collection([_point(0.0, 0.0, props)])


def _point(lon: float, lat: float, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }


def _num(v: Any, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, int | float) else "—"


def fmt_age(age_s: float | None, lang: str) -> str:
    if age_s is None:
        return "—"
    age = max(0.0, age_s)
    if age < 120:
        return t("age.seconds", lang).format(n=int(age))
    if age < 7200:
        return t("age.minutes", lang).format(n=int(age // 60))
    return t("age.hours", lang).format(n=int(age // 3600))


def _label(prefix: str, value: Any, lang: str) -> str:
    if not value:
        return "—"
    key = f"{prefix}.{value}"
    text = t(key, lang)
    return str(value) if text == key else text  # an unknown value shows itself


def _details(title: str, rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<br>{escape(k)}: {escape(v)}" if k else f"<br>{escape(v)}" for k, v in rows)
    return f"<b>{escape(title)}</b>{body}"


def _silent(e: dict[str, Any], limit_s: float) -> bool:
    age = e.get("age_s")
    return age is None or age > limit_s


def current_vessels(vessels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The vessels still being heard: the ones the map draws and the header counts."""
    return [v for v in vessels if not _silent(v, VESSEL_GONE_S)]


def alert_title(a: dict[str, Any], lang: str) -> str:
    kind = str(a.get("kind") or "")
    return _label("alert", kind, lang)


def local_time(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(LOCAL_TZ).strftime("%H:%M:%S")


def alert_features(alerts: list[dict[str, Any]], lang: str) -> FeatureCollection:
    """Where the open alerts are, as rings in their severity's colour under the markers."""
    features = []
    for a in alerts:
        if not located(a):
            continue
        severity = str(a.get("severity") or "info")
        title = alert_title(a, lang)
        rows = [
            (t("field.state", lang), _label("severity", severity, lang)),
            (t("field.id", lang), str(a.get("source") or "—")),
            ("", alert_message(a, lang)),
            (t("field.last_report", lang), local_time(a.get("ts"))),
        ]
        features.append(
            _point(
                a["lon"],
                a["lat"],
                {
                    "id": f"alert:{a.get('id', '')}",
                    "kind": "alert",
                    "severity": severity,
                    "color": SEVERITY_COLOURS.get(severity, SEVERITY_COLOURS["info"]),
                    "stroke": SEVERITY_COLOURS.get(severity, SEVERITY_COLOURS["info"]),
                    "fillOpacity": 0.12,
                    "strokeWeight": 3,
                    "tooltip": escape(title),
                    "popup": _details(title, rows),
                },
            )
        )
    return {"type": "FeatureCollection", "features": features}


PRIORITY_COLOURS = {1: "#e0261b", 2: "#f0a500", 3: "#1f78d1"}
OVERDUE_STROKE = "#b3140b"


def incident_features(items: list[dict[str, Any]], lang: str) -> FeatureCollection:
    """Open incidents as diamonds coloured by priority; an overdue one (it carries the names of
    its missed deadlines in `deadlines_missed`) gets a thick red outline."""
    features = []
    for inc in items:
        if not located(inc):
            continue
        late = [str(d) for d in inc.get("deadlines_missed") or []]
        priority = int(inc.get("priority") or 3)
        title = f"{inc.get('id', '')} · {_label('incident.type', inc.get('type'), lang)}"
        rows = [
            (t("field.state", lang), _label("incident.state", inc.get("state"), lang)),
            (t("field.priority", lang), _label("incident.priority", priority, lang)),
            (t("field.units", lang), ", ".join(inc.get("units") or []) or "—"),
        ]
        rows += [("", t(f"incident.deadline.{d}", lang)) for d in late]
        features.append(
            _point(
                inc["lon"],
                inc["lat"],
                {
                    "id": f"incident:{inc.get('id', '')}",
                    "kind": "incident",
                    "shape": "diamond",
                    "color": PRIORITY_COLOURS.get(priority, UNKNOWN_STATUS_COLOUR),
                    "stroke": OVERDUE_STROKE if late else "#ffffff",
                    "strokeWeight": 4 if late else 2,
                    "overdue": bool(late),
                    "tooltip": escape(title),
                    "popup": _details(title, rows),
                },
            )
        )
    return {"type": "FeatureCollection", "features": features}


def counts(
    units: list[dict[str, Any]],
    vessels: list[dict[str, Any]],
    sensors: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
) -> dict[str, Any]:
    by_status = {s: 0 for s in STATUS_COLOURS}
    for u in units:
        status = u.get("status") or ""
        if status in by_status:
            by_status[status] += 1
    return {
        "units": len(units),
        "by_status": by_status,
        "vessels": len(current_vessels(vessels)),
        "sensors": len(sensors),
        "open_alerts": len(alerts),
    }


def heartbeat_age_s(heartbeat: dict[str, str], now_ms: int, field: str = "ts_ms") -> float | None:
    """Seconds since the ingest worker's last heartbeat (or, with field="last_message_ms", since
    it last received a message); None when there is none, zero, or garbage."""
    try:
        ts = int(float(heartbeat[field]))
    except (KeyError, ValueError):
        return None
    return round((now_ms - ts) / 1000, 1) if ts > 0 else None


def data_age_s(heartbeat: dict[str, str], now_ms: int) -> float | None:
    """How old the newest data can be: the worker must be alive *and* messages arriving, so a
    live worker with every device silent is stale too. None when nothing is known."""
    beat = heartbeat_age_s(heartbeat, now_ms)
    message = heartbeat_age_s(heartbeat, now_ms, "last_message_ms")
    if beat is None or message is None:
        return None
    return max(beat, message)


def is_stale(age_s: float | None) -> bool:
    return age_s is None or age_s > STALE_AFTER_S


def stale_cause(heartbeat: dict[str, str], now_ms: int) -> str:
    """The banner's message key for data too old: which part is down, as far as the worker's
    heartbeat tells (the data store being down is told by the caller, which could not read it)."""
    beat = heartbeat_age_s(heartbeat, now_ms)
    if beat is None or beat > STALE_AFTER_S:
        return "map.down_ingest"
    if heartbeat.get("broker_connected") != "1":
        return "map.down_broker"
    return "map.stale"


# --- the local basemap ----------------------------------------------------------------------


def _read(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["features"]


def _collection(features: list[dict[str, Any]]) -> FeatureCollection:
    return {"type": "FeatureCollection", "features": features}


def _prop(feature: dict[str, Any], name: str) -> str:
    return str((feature.get("properties") or {}).get(name, ""))


def _keep(feature: dict[str, Any], props: tuple[str, ...]) -> dict[str, Any]:
    p = feature.get("properties") or {}
    return {
        "type": "Feature",
        "geometry": feature["geometry"],
        "properties": {k: p[k] for k in props if k in p},
    }


def _with_tooltip(
    feature: dict[str, Any], text: str, props: tuple[str, ...] = ("id",)
) -> dict[str, Any]:
    out = _keep(feature, props)
    out["properties"]["tooltip"] = escape(text)
    return out


def _round_coords(c: Any) -> Any:
    if isinstance(c, int | float):
        return round(c, COORD_DECIMALS)
    return [_round_coords(x) for x in c]


def _rounded(geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": geometry["type"], "coordinates": _round_coords(geometry["coordinates"])}


def clipped_land(
    features: list[dict[str, Any]],
    bounds: tuple[float, float, float, float] = VIEW_BOUNDS,
    tolerance: float = LAND_SIMPLIFY_DEG,
) -> list[dict[str, Any]]:
    """Land polygons cut to the view box and simplified; pieces wholly outside are dropped."""
    view = box(*bounds)
    out = []
    for f in features:
        geom = shape(f["geometry"])
        if not geom.intersects(view):
            continue
        part = geom.intersection(view).simplify(tolerance, preserve_topology=True)
        if part.is_empty or part.area == 0:
            continue
        out.append({"type": "Feature", "geometry": _rounded(mapping(part)), "properties": {}})
    return out


@lru_cache(maxsize=1)
def district_bounds() -> list[list[float]]:
    """The district's extent as Leaflet bounds [[south, west], [north, east]]: the wall screen
    fits its map to it (the peninsula, not the whole bay)."""
    xs, ys = [], []
    for f in basemap()["district"]["features"]:
        for ring in _rings(f["geometry"]):
            xs += [p[0] for p in ring]
            ys += [p[1] for p in ring]
    return [[min(ys), min(xs)], [max(ys), max(xs)]]


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return geometry["coordinates"]
    if geometry["type"] == "MultiPolygon":
        return [ring for poly in geometry["coordinates"] for ring in poly]
    return []


@lru_cache(maxsize=2)
def basemap(geo_dir: Path = CONFIG_DIR / "geo") -> dict[str, FeatureCollection]:
    """The layers drawn when no tile server is reachable, read once per process."""
    district = [
        f
        for f in _read(geo_dir / "shenzhen_districts.geojson")
        if (f.get("properties") or {}).get("qh") == "大鹏"
    ]
    return {
        "land": _collection(clipped_land(_read(geo_dir / "coastline_gshhg.geojson"))),
        "district": _collection(
            [{**_keep(f, ()), "geometry": _rounded(f["geometry"])} for f in district]
        ),
        "subdistricts": _collection(
            [
                _with_tooltip(f, f"{_prop(f, 'name_zh')} · {_prop(f, 'name_en')}")
                for f in _read(geo_dir / "dapeng_subdistricts.geojson")
            ]
        ),
        "grid": _collection(
            [_with_tooltip(f, _prop(f, "label")) for f in _read(geo_dir / "dapeng_grid.geojson")]
        ),
        "zones": _collection(
            [
                _with_tooltip(f, f"{_prop(f, 'name_zh')} · {_prop(f, 'name_en')}", ("id", "kind"))
                for f in _read(geo_dir / "zones.geojson")
            ]
        ),
    }
