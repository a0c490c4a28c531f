"""Pure conversions for the live map: snapshots to GeoJSON, header counts, data freshness, and
the local basemap read from `config/geo`.

Everything here is a plain function of its arguments (no Redis, no Dash), so it is unit-tested
directly. Text shown in the browser as HTML (tooltips, popups) is escaped here: names and call
signs come from devices and AIS and must not become markup.
"""

from __future__ import annotations

import json
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from shapely.geometry import box, mapping, shape

from config import CONFIG_DIR
from dashboard.i18n import t

CENTER = (22.58, 114.48)  # lat, lon (Leaflet order)
ZOOM = 11
# The lon/lat box the basemap land is clipped to: what a wide screen shows at the start zoom.
VIEW_BOUNDS = (113.85, 22.25, 115.0, 22.9)
LAND_SIMPLIFY_DEG = 0.0004  # ~40 m: plenty at the zooms a wall screen uses
COORD_DECIMALS = 4  # ~10 m; keeps the page's basemap small
STALE_AFTER_S = 30.0

STATUS_COLOURS = {
    "available": "#2e9e44",
    "dispatched": "#f0a500",
    "en_route": "#1f78d1",
    "on_scene": "#d7301f",
    "off_duty": "#8c8c8c",
}
UNKNOWN_STATUS_COLOUR = "#6a3d9a"
VESSEL_COLOUR = "#00bcd4"
SENSOR_COLOURS = {"ok": "#1b9e77", "warning": "#f0a500", "critical": "#c00000",
                  "no_data": "#8c8c8c"}
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}

FeatureCollection = dict[str, Any]


def _point(lon: float, lat: float, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": props}


def _located(e: dict[str, Any]) -> bool:
    lon, lat = e.get("lon"), e.get("lat")
    return (isinstance(lon, int | float) and isinstance(lat, int | float)
            and -180 <= lon <= 180 and -90 <= lat <= 90)


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
    body = "".join(f"<br>{escape(k)}: {escape(v)}" for k, v in rows)
    return f"<b>{escape(title)}</b>{body}"


def unit_features(units: list[dict[str, Any]], lang: str) -> FeatureCollection:
    features = []
    for u in units:
        if not _located(u):
            continue
        status = u.get("status") or ""
        name = str(u.get("name") or u.get("unit_id") or "")
        rows = [
            (t("field.id", lang), str(u.get("unit_id", ""))),
            (t("field.department", lang), _label("dept", u.get("department"), lang)),
            (t("field.level", lang), _label("level", u.get("level"), lang)),
            (t("field.status", lang), _label("status", status, lang)),
            (t("field.speed", lang), f"{_num(u.get('speed_kmh'), '.1f')} km/h"),
            (t("field.last_report", lang), fmt_age(u.get("age_s"), lang)),
        ]
        features.append(_point(u["lon"], u["lat"], {
            "id": str(u.get("unit_id", "")), "kind": "unit", "status": status,
            "color": STATUS_COLOURS.get(status, UNKNOWN_STATUS_COLOUR),
            "tooltip": escape(name), "popup": _details(name, rows),
        }))
    return {"type": "FeatureCollection", "features": features}


def vessel_features(vessels: list[dict[str, Any]], lang: str) -> FeatureCollection:
    features = []
    for v in vessels:
        if not _located(v):
            continue
        mmsi = str(v.get("mmsi", ""))
        name = str(v.get("name") or mmsi)
        rows = [
            (t("field.mmsi", lang), mmsi),
            (t("field.callsign", lang), str(v.get("callsign") or "—")),
            (t("field.ship_type", lang), str(v.get("ship_type_text") or v.get("ship_type")
                                             or "—")),
            (t("field.speed", lang), f"{_num(v.get('sog_kn'), '.1f')} kn"),
            (t("field.course", lang), f"{_num(v.get('cog'), '.0f')}°"),
            (t("field.last_report", lang), fmt_age(v.get("age_s"), lang)),
        ]
        features.append(_point(v["lon"], v["lat"], {
            "id": mmsi, "kind": "vessel", "color": VESSEL_COLOUR,
            "tooltip": escape(name), "popup": _details(name, rows),
        }))
    return {"type": "FeatureCollection", "features": features}


def sensor_alert_levels(alerts: list[dict[str, Any]]) -> dict[str, str]:
    """The worst open alert severity per sensor id (alerts name their sensor in `source`)."""
    worst: dict[str, str] = {}
    for a in alerts:
        source, severity = a.get("source"), a.get("severity")
        if not source or severity not in _SEVERITY_RANK:
            continue
        if _SEVERITY_RANK[severity] >= _SEVERITY_RANK.get(worst.get(source, ""), -1):
            worst[source] = severity
    return worst


def sensor_state(sensor: dict[str, Any], levels: dict[str, str]) -> str:
    level = levels.get(str(sensor.get("sensor_id", "")))
    if level in ("warning", "critical"):
        return level
    return "ok" if sensor.get("values") else "no_data"


def sensor_features(sensors: list[dict[str, Any]], alerts: list[dict[str, Any]], lang: str
                    ) -> FeatureCollection:
    levels = sensor_alert_levels(alerts)
    features = []
    for s in sensors:
        if not _located(s):
            continue
        sid = str(s.get("sensor_id", ""))
        name = str(s.get("name") or sid)
        state = sensor_state(s, levels)
        values = s.get("values") or {}
        rows = [(t("field.id", lang), sid), (t("field.state", lang), t(f"sensor.{state}", lang))]
        rows += [(str(k), _num(val, "g")) for k, val in sorted(values.items())]
        rows.append((t("field.last_report", lang), fmt_age(s.get("age_s"), lang)))
        features.append(_point(s["lon"], s["lat"], {
            "id": sid, "kind": "sensor", "state": state, "color": SENSOR_COLOURS[state],
            "tooltip": escape(name), "popup": _details(name, rows),
        }))
    return {"type": "FeatureCollection", "features": features}


def counts(units: list[dict[str, Any]], vessels: list[dict[str, Any]],
           sensors: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> dict[str, Any]:
    by_status = {s: 0 for s in STATUS_COLOURS}
    for u in units:
        status = u.get("status") or ""
        if status in by_status:
            by_status[status] += 1
    return {"units": len(units), "by_status": by_status, "vessels": len(vessels),
            "sensors": len(sensors), "open_alerts": len(alerts)}


def heartbeat_age_s(heartbeat: dict[str, str], now_ms: int) -> float | None:
    """Seconds since the ingest worker's last heartbeat; None when there is none (or garbage)."""
    try:
        ts = int(float(heartbeat["ts_ms"]))
    except (KeyError, ValueError):
        return None
    return round((now_ms - ts) / 1000, 1)


def is_stale(age_s: float | None) -> bool:
    return age_s is None or age_s > STALE_AFTER_S


# --- the local basemap ----------------------------------------------------------------------

def _read(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["features"]


def _collection(features: list[dict[str, Any]]) -> FeatureCollection:
    return {"type": "FeatureCollection", "features": features}


def _prop(feature: dict[str, Any], name: str) -> str:
    return str((feature.get("properties") or {}).get(name, ""))


def _keep(feature: dict[str, Any], props: tuple[str, ...]) -> dict[str, Any]:
    p = feature.get("properties") or {}
    return {"type": "Feature", "geometry": feature["geometry"],
            "properties": {k: p[k] for k in props if k in p}}


def _with_tooltip(feature: dict[str, Any], text: str, props: tuple[str, ...] = ("id",)
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


def clipped_land(features: list[dict[str, Any]], bounds: tuple[float, float, float, float]
                 = VIEW_BOUNDS, tolerance: float = LAND_SIMPLIFY_DEG) -> list[dict[str, Any]]:
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


@lru_cache(maxsize=2)
def basemap(geo_dir: Path = CONFIG_DIR / "geo") -> dict[str, FeatureCollection]:
    """The layers drawn when no tile server is reachable, read once per process."""
    district = [f for f in _read(geo_dir / "shenzhen_districts.geojson")
                if (f.get("properties") or {}).get("qh") == "大鹏"]
    return {
        "land": _collection(clipped_land(_read(geo_dir / "coastline_gshhg.geojson"))),
        "district": _collection([{**_keep(f, ()), "geometry": _rounded(f["geometry"])}
                                 for f in district]),
        "subdistricts": _collection([
            _with_tooltip(f, f"{_prop(f, 'name_zh')} · {_prop(f, 'name_en')}")
            for f in _read(geo_dir / "dapeng_subdistricts.geojson")]),
        "grid": _collection([_with_tooltip(f, _prop(f, "label"))
                             for f in _read(geo_dir / "dapeng_grid.geojson")]),
        "zones": _collection([
            _with_tooltip(f, f"{_prop(f, 'name_zh')} · {_prop(f, 'name_en')}", ("id", "kind"))
            for f in _read(geo_dir / "zones.geojson")]),
    }
