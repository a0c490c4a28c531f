"""Snapshot → GeoJSON for the live map, header counts, freshness and the local basemap."""

from __future__ import annotations

from shapely.geometry import box, shape

from dashboard import map_data
from dashboard.security import tile_source

UNIT = {"unit_id": "U-1", "name": "巡查<一组>", "department": "forestry", "level": "community",
        "status": "en_route", "speed_kmh": 4.25, "lat": 22.6, "lon": 114.45, "age_s": 12.0}
VESSEL = {"mmsi": 412000001, "name": "粤深渔01", "callsign": "BXYZ", "ship_type_text": "Fishing",
          "sog_kn": 7.5, "cog": 181.4, "lat": 22.5, "lon": 114.5, "age_s": 3.0}
SENSOR = {"sensor_id": "S-1", "name": "近岸1", "values": {"COD": 9.0, "DO": 6.2},
          "lat": 22.55, "lon": 114.52, "age_s": 30.0}


def test_units_become_points_coloured_by_status_with_escaped_details() -> None:
    fc = map_data.unit_features([UNIT, {**UNIT, "unit_id": "U-2", "lat": None}], "en")
    (f,) = fc["features"]  # no position: not drawn
    assert f["geometry"] == {"type": "Point", "coordinates": [114.45, 22.6]}
    p = f["properties"]
    assert p["color"] == map_data.STATUS_COLOURS["en_route"] and p["kind"] == "unit"
    assert "<一组>" not in p["popup"] and "&lt;一组&gt;" in p["popup"]  # device text is not markup
    for text in ("Forestry", "Community", "En route", "4.2 km/h", "12 s"):
        assert text in p["popup"], text
    zh = map_data.unit_features([UNIT], "zh")["features"][0]["properties"]["popup"]
    assert "林业" in zh and "前往中" in zh and "12秒" in zh


def test_an_unknown_status_still_draws() -> None:
    (f,) = map_data.unit_features([{**UNIT, "status": "mystery"}], "en")["features"]
    assert f["properties"]["color"] == map_data.UNKNOWN_STATUS_COLOUR
    assert "mystery" in f["properties"]["popup"]


def test_vessels_show_mmsi_call_sign_type_speed_course() -> None:
    (f,) = map_data.vessel_features([VESSEL], "en")["features"]
    p = f["properties"]
    assert p["color"] == map_data.VESSEL_COLOUR and p["id"] == "412000001"
    for text in ("412000001", "BXYZ", "Fishing", "7.5 kn", "181°"):
        assert text in p["popup"], text
    (g,) = map_data.vessel_features([{"mmsi": 1, "lat": 22.5, "lon": 114.5}], "en")["features"]
    assert g["properties"]["tooltip"] == "1" and "—" in g["properties"]["popup"]


def test_sensors_coloured_by_their_worst_open_alert() -> None:
    alerts = [{"source": "S-1", "severity": "warning"}, {"source": "S-1", "severity": "critical"},
              {"source": "S-2", "severity": "warning"}, {"source": "x", "severity": "bogus"}]
    assert map_data.sensor_alert_levels(alerts) == {"S-1": "critical", "S-2": "warning"}
    sensors = [SENSOR, {**SENSOR, "sensor_id": "S-2"}, {**SENSOR, "sensor_id": "S-3"},
               {"sensor_id": "S-4", "lat": 22.5, "lon": 114.5}]
    states = [f["properties"]["state"]
              for f in map_data.sensor_features(sensors, alerts, "en")["features"]]
    assert states == ["critical", "warning", "ok", "no_data"]
    popup = map_data.sensor_features([SENSOR], [], "en")["features"][0]["properties"]["popup"]
    assert "COD: 9" in popup and "DO: 6.2" in popup and "Normal" in popup


def test_counts_by_status() -> None:
    units = [UNIT, {**UNIT, "status": "available"}, {**UNIT, "status": "available"},
             {**UNIT, "status": None}]
    c = map_data.counts(units, [VESSEL], [SENSOR], [{"id": "a"}])
    assert c["units"] == 4 and c["vessels"] == 1 and c["sensors"] == 1 and c["open_alerts"] == 1
    assert c["by_status"]["available"] == 2 and c["by_status"]["en_route"] == 1
    assert set(c["by_status"]) == set(map_data.STATUS_COLOURS)


def test_freshness_from_the_heartbeat() -> None:
    assert map_data.heartbeat_age_s({}, 10_000) is None
    assert map_data.heartbeat_age_s({"ts_ms": "junk"}, 10_000) is None
    assert map_data.heartbeat_age_s({"ts_ms": "4000"}, 10_000) == 6.0
    assert map_data.is_stale(None) and map_data.is_stale(30.5)
    assert not map_data.is_stale(6.0) and not map_data.is_stale(30.0)
    assert map_data.fmt_age(None, "en") == "—"
    assert map_data.fmt_age(125, "en") == "2 min" and map_data.fmt_age(7300, "zh") == "2小时"


def test_the_local_basemap_is_clipped_and_complete() -> None:
    base = map_data.basemap()
    assert set(base) == {"land", "district", "subdistricts", "grid", "zones"}
    view = box(*map_data.VIEW_BOUNDS).buffer(1e-9)
    assert base["land"]["features"]
    assert all(view.contains(shape(f["geometry"])) for f in base["land"]["features"])
    assert len(base["district"]["features"]) == 1
    assert len(base["subdistricts"]["features"]) == 3
    assert all(f["properties"]["tooltip"] for f in base["zones"]["features"])
    lon, lat = map_data.CENTER[1], map_data.CENTER[0]
    assert any(shape(f["geometry"]).contains(shape({"type": "Point", "coordinates": [lon, lat]}))
               for f in base["land"]["features"])  # the centre of Dapeng is land


def test_tile_origin_for_the_csp() -> None:
    assert tile_source("") is None
    assert tile_source("https://tiles.example.org/{z}/{x}/{y}.png") == "https://tiles.example.org"
    assert tile_source("https://{s}.tile.example.org:8443/{z}/{x}/{y}.png") == \
        "https://*.tile.example.org:8443"
