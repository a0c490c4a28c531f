"""Snapshot → GeoJSON for the live map, header counts, freshness and the local basemap."""

from __future__ import annotations

from pathlib import Path

from shapely.geometry import box, shape

from dashboard import map_data
from dashboard.security import tile_source
from domain import picture

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


def test_a_unit_s_record_holds_what_its_marker_and_popup_show() -> None:
    r = picture.UNIT.record(UNIT, "dapeng", 0)
    assert r is not None and (r["lat"], r["lon"]) == (22.6, 114.45)
    assert r["name"] == UNIT["name"]  # as sent: the page sets it as text, never as markup
    assert (r["status"], r["department"], r["subdistrict"]) == ("en_route", "forestry", "dapeng")
    assert picture.UNIT.record({**UNIT, "lat": None}, None, 0) is None  # no position: not drawn
    assert "subdistrict" not in picture.UNIT.record(UNIT, None, 0)  # nothing known: nothing sent


def test_a_vessel_points_along_its_course_and_leaves_after_an_hour_unheard() -> None:
    now = 1_764_300_000_000
    heard = {**VESSEL, "ts": now - 3_000}
    r = picture.VESSEL.record(heard, None, now)
    assert r is not None and (r["course"], r["name"], r["sog_kn"]) == (181.4, "粤深渔01", 7.5)
    assert picture.vessel_course({"cog": 360.0, "heading": 90}) == 90  # 360 = not available
    assert picture.vessel_course({"cog": None, "heading": 511}) is None  # no made-up direction
    gone = {**VESSEL, "ts": now - int(picture.VESSEL_GONE_S * 1000) - 1}
    assert picture.VESSEL.record(gone, None, now) is None
    assert (
        map_data.counts([], [VESSEL, {**VESSEL, "age_s": map_data.VESSEL_GONE_S + 1}], [], [])[
            "vessels"
        ]
        == 1
    )


def test_sensor_readings_are_judged_against_their_class_limits() -> None:
    sensor = {
        **SENSOR,
        "kind": "seawater",
        "water_class": "I",
        "values": {"COD": 9.0, "pH": 8.1, "turbidity": 3.0},
    }
    rows = {name: (value, limit, over) for name, value, limit, over in picture.readings(sensor)}
    assert rows["COD"][0] == 9.0 and rows["COD"][1].startswith("<= 2") and rows["COD"][2]
    assert rows["pH"] == (8.1, "7.8..8.5", False)
    assert rows["turbidity"] == (3.0, None, False)  # not in the standard: shown, not judged
    assert picture.readings({"values": {"COD": 9.0}}) == [["COD", 9.0, None, False]]


def test_the_page_gets_labels_and_styles_for_its_live_layers() -> None:
    (anchor,) = map_data.live_anchor("units", "zh")["features"]
    p = anchor["properties"]
    assert p["anchor"] == "units" and p["labels"]["dept.forestry"] == "林业"
    assert p["labels"]["status.en_route"] == "前往中" and "app.title" not in p["labels"]
    assert p["style"]["status"]["en_route"] == map_data.STATUS_COLOURS["en_route"]
    assert map_data.live_labels("en")["kind.drone"] == "Drone"


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
    levels = [picture.sensor_level(alerts, s) for s in ("S-1", "S-2", "S-3", "x")]
    assert levels == ["critical", "warning", None, None]
    states = [
        picture.sensor_props(s, picture.sensor_level(alerts, s["sensor_id"]))["state"]  # type: ignore[index]
        for s in (
            SENSOR,
            {**SENSOR, "sensor_id": "S-2"},
            {**SENSOR, "sensor_id": "S-3"},
            {"sensor_id": "S-4", "lat": 22.5, "lon": 114.5},
        )
    ]
    assert states == ["critical", "warning", "ok", "no_data"]


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


def test_a_water_quality_alert_reads_in_the_readers_language() -> None:
    """Issue 17, defect 8: raw parameter keys (CODMn_permanganate_index, dissolved_oxygen)
    showed in the Chinese page."""
    a = {
        "message": "CODMn_permanganate_index 9 (class II <= 4); "
        "dissolved_oxygen 4.1 (class I >= 6)",
        "parameters": "CODMn_permanganate_index,dissolved_oxygen",
    }
    assert map_data.alert_message(a, "zh") == "高锰酸盐指数 9 (II类 <= 4); 溶解氧 4.1 (I类 >= 6)"
    assert map_data.alert_message(a, "en") == (
        "Permanganate index 9 (class II <= 4); Dissolved oxygen 4.1 (class I >= 6)"
    )
    device = {"message": "battery low", "parameters": ""}  # a device's own words, as written
    assert map_data.alert_message(device, "zh") == "battery low"
    assert map_data.live_labels("zh")["param.dissolved_oxygen"] == "溶解氧"  # the popups' too


def test_a_zone_alert_names_the_zone_in_the_readers_language() -> None:
    """Issue 17, defect 8: zone names were Chinese in English alerts."""
    a = {"kind": "geofence", "source": "414546118", "zone": "xichong_coral", "message": "x"}
    assert map_data.alert_message(a, "en") == (
        "MMSI 414546118 in Xichong coral protection area (illustrative)"
    )
    assert map_data.alert_message(a, "zh") == "MMSI 414546118 位于西涌珊瑚保护区（示意）"


def test_the_search_finds_the_districts_places_and_a_deployments_named_ones(
    tmp_path: Path,
) -> None:
    """Issue 17: search sub-districts, communities, grid cells, coastline segments, sea cells,
    zones and the places a deployment adds in config/geo/places.csv."""
    rows = map_data.places_index("en")
    kinds = {r[4] for r in rows}
    assert kinds >= {"subdistrict", "community", "land", "coast", "sea", "zone"}
    assert ["Kuichong", "kuichong", 22.63, 114.43, "subdistrict"] in rows
    assert all(22.3 < r[2] < 22.8 and 114.2 < r[3] < 114.7 for r in rows)  # all in the district
    csv_file = tmp_path / "places.csv"
    csv_file.write_text(
        "id,name_zh,name_en,lat,lon\n"
        "pier-nanao,南澳码头,Nan'ao pier,22.53,114.48\n"
        "bad,坏行,,north,114.5\n",
        encoding="utf-8",
    )
    (pier,) = map_data.named_places(csv_file)
    assert (pier["id"], pier["name_zh"], pier["lat"], pier["lon"]) == (
        "pier-nanao",
        "南澳码头",
        22.53,
        114.48,
    )
    assert map_data.named_places(tmp_path / "none.csv") == []
