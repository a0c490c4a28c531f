"""Snapshot → GeoJSON for the live map, header counts, freshness and the local basemap."""

from __future__ import annotations

from shapely.geometry import box, shape

from dashboard import map_data
from dashboard.security import tile_source

UNIT = {
    "unit_id": "U-1",
    "name": "巡查<一组>",
    "department": "forestry",
    "level": "community",
    "status": "en_route",
    "speed_kmh": 4.25,
    "lat": 22.6,
    "lon": 114.45,
    "age_s": 12.0,
}
VESSEL = {
    "mmsi": 412000001,
    "name": "粤深渔01",
    "callsign": "BXYZ",
    "ship_type_text": "Fishing",
    "sog_kn": 7.5,
    "cog": 181.4,
    "lat": 22.5,
    "lon": 114.5,
    "age_s": 3.0,
}
SENSOR = {
    "sensor_id": "S-1",
    "name": "近岸1",
    "values": {"COD": 9.0, "DO": 6.2},
    "lat": 22.55,
    "lon": 114.52,
    "age_s": 30.0,
}


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
    (g,) = map_data.vessel_features([{"mmsi": 1, "lat": 22.5, "lon": 114.5, "age_s": 1.0}], "en")[
        "features"
    ]
    assert g["properties"]["tooltip"] == "1" and "—" in g["properties"]["popup"]


def test_vessels_point_along_their_course_with_their_name() -> None:
    def drawn(**v: object) -> dict:
        (f,) = map_data.vessel_features([{**VESSEL, **v}], "en")["features"]
        return f["properties"]

    p = drawn()
    assert (p["shape"], p["angle"], p["label"]) == ("ship", 181.4, "粤深渔01")
    assert drawn(name="<b>x</b>")["label"] == "<b>x</b>"  # canvas text, not markup
    assert "&lt;b&gt;" in drawn(name="<b>x</b>")["tooltip"]
    assert drawn(cog=360.0, heading=90)["angle"] == 90  # 360 = "not available": heading
    assert drawn(cog=None, heading=511)["shape"] == "circle"  # neither: no made-up direction


def test_vessels_not_heard_for_an_hour_leave_the_map_and_the_counts() -> None:
    gone = {**VESSEL, "mmsi": 2, "age_s": map_data.VESSEL_GONE_S + 1}
    fc = map_data.vessel_features([VESSEL, gone], "en")
    assert [f["properties"]["id"] for f in fc["features"]] == ["412000001"]
    assert map_data.counts([], [VESSEL, gone], [], [])["vessels"] == 1


def test_units_show_kind_department_subdistrict_and_fade_when_silent() -> None:
    calls = []

    def locate(lons: list[float], lats: list[float]) -> list[str | None]:
        calls.append(len(lons))
        return ["dapeng", None][: len(lons)]

    boat = {
        **UNIT,
        "unit_id": "B-1",
        "kind": "boat",
        "department": "fishery_maritime",
        "age_s": map_data.UNIT_SILENT_S + 1,
    }
    a, b = (
        f["properties"]
        for f in map_data.unit_features([{**UNIT, "kind": "drone"}, boat], "en", locate)["features"]
    )
    assert calls == [2]  # one vectorised lookup per update, not one per unit
    assert (a["shape"], a["department"], a["subdistrict"]) == ("triangle", "forestry", "dapeng")
    assert a["stroke"] == map_data.DEPARTMENT_COLOURS["forestry"] and "fillOpacity" not in a
    assert (b["shape"], b["subdistrict"], b["fillOpacity"]) == ("diamond", "none", 0.3)
    assert "Dapeng" in a["popup"] and "Drone" in a["popup"]


def test_sensor_readings_are_shown_against_their_class_limits() -> None:
    sensor = {
        **SENSOR,
        "kind": "seawater",
        "water_class": "I",
        "values": {"COD": 9.0, "pH": 8.1, "turbidity": 3.0},
    }
    rows = dict(map_data.reading_rows(sensor, "en"))
    assert rows["COD"].startswith("9 (I: <= 2") and "over limit" in rows["COD"]
    assert rows["pH"] == "8.1 (I: 7.8..8.5)"
    assert rows["turbidity"] == "3"  # not in the standard: shown, not judged
    assert "超标" in dict(map_data.reading_rows(sensor, "zh"))["COD"]
    assert map_data.reading_rows({"values": {"COD": 9.0}}, "en") == [("COD", "9")]


def test_alerts_become_rings_in_their_severity_colour() -> None:
    alerts = [
        {
            "id": "a1",
            "kind": "geofence",
            "severity": "warning",
            "source": "412",
            "message": "<script>",
            "lat": 22.5,
            "lon": 114.5,
            "ts": 1_764_300_000_000,
        },
        {"id": "a2", "kind": "water_quality", "severity": "critical"},
    ]  # no position
    (f,) = map_data.alert_features(alerts, "en")["features"]
    p = f["properties"]
    assert p["id"] == "alert:a1" and p["stroke"] == map_data.SEVERITY_COLOURS["warning"]
    assert "<script>" not in p["popup"] and "protected" in p["tooltip"]
    assert map_data.local_time(1_764_300_000_000) == "11:20:00"  # UTC+8


def test_sensors_coloured_by_their_worst_open_alert() -> None:
    alerts = [
        {"source": "S-1", "severity": "warning"},
        {"source": "S-1", "severity": "critical"},
        {"source": "S-2", "severity": "warning"},
        {"source": "x", "severity": "bogus"},
    ]
    assert map_data.sensor_alert_levels(alerts) == {"S-1": "critical", "S-2": "warning"}
    sensors = [
        SENSOR,
        {**SENSOR, "sensor_id": "S-2"},
        {**SENSOR, "sensor_id": "S-3"},
        {"sensor_id": "S-4", "lat": 22.5, "lon": 114.5},
    ]
    states = [
        f["properties"]["state"]
        for f in map_data.sensor_features(sensors, alerts, "en")["features"]
    ]
    assert states == ["critical", "warning", "ok", "no_data"]
    popup = map_data.sensor_features([SENSOR], [], "en")["features"][0]["properties"]["popup"]
    assert "COD: 9" in popup and "DO: 6.2" in popup and "Normal" in popup


def test_counts_by_status() -> None:
    units = [
        UNIT,
        {**UNIT, "status": "available"},
        {**UNIT, "status": "available"},
        {**UNIT, "status": None},
    ]
    c = map_data.counts(units, [VESSEL], [SENSOR], [{"id": "a"}])
    assert c["units"] == 4 and c["vessels"] == 1 and c["sensors"] == 1 and c["open_alerts"] == 1
    assert c["by_status"]["available"] == 2 and c["by_status"]["en_route"] == 1
    assert set(c["by_status"]) == set(map_data.STATUS_COLOURS)


def test_freshness_from_the_heartbeat() -> None:
    assert map_data.heartbeat_age_s({}, 10_000) is None
    assert map_data.heartbeat_age_s({"ts_ms": "junk"}, 10_000) is None
    assert map_data.heartbeat_age_s({"ts_ms": "4000"}, 10_000) == 6.0
    # stale data = the worker silent, or the worker alive but no message arriving
    assert map_data.data_age_s({"ts_ms": "9000", "last_message_ms": "4000"}, 10_000) == 6.0
    assert map_data.data_age_s({"ts_ms": "4000", "last_message_ms": "9000"}, 10_000) == 6.0
    assert map_data.data_age_s({"ts_ms": "9000", "last_message_ms": "0"}, 10_000) is None
    assert map_data.data_age_s({"ts_ms": "9000"}, 10_000) is None
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
    assert any(
        shape(f["geometry"]).contains(shape({"type": "Point", "coordinates": [lon, lat]}))
        for f in base["land"]["features"]
    )  # the centre of Dapeng is land


def test_tile_origin_for_the_csp() -> None:
    assert tile_source("") is None
    assert tile_source("https://tiles.example.org/{z}/{x}/{y}.png") == "https://tiles.example.org"
    assert (
        tile_source("https://{s}.tile.example.org:8443/{z}/{x}/{y}.png")
        == "https://*.tile.example.org:8443"
    )


def test_open_incidents_are_diamonds_by_priority_and_overdue_ones_stand_out() -> None:
    items = [
        {
            "id": "INC-1",
            "type": "illegal_fishing",
            "state": "assigned",
            "priority": 1,
            "units": ["B-1"],
            "lon": 114.5,
            "lat": 22.5,
            "deadlines_missed": ["arrive"],
        },
        {
            "id": "INC-2",
            "type": "noise",
            "state": "reported",
            "priority": 3,
            "lon": 114.4,
            "lat": 22.6,
            "deadlines_missed": [],
        },
        {"id": "INC-3", "type": "noise", "state": "reported", "priority": 2},
    ]  # unplaced
    a, b = (f["properties"] for f in map_data.incident_features(items, "en")["features"])
    assert (a["shape"], a["color"], a["overdue"]) == ("diamond", map_data.PRIORITY_COLOURS[1], True)
    assert a["stroke"] == map_data.OVERDUE_STROKE and "Arrival overdue" in a["popup"]
    assert "B-1" in a["popup"] and "Illegal fishing" in a["tooltip"]
    assert (b["overdue"], b["color"]) == (False, map_data.PRIORITY_COLOURS[3])
