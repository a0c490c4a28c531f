"""Unit tests of the unit/sensor/OwnTracks handlers and the water-quality rules (no servers)."""

from __future__ import annotations

import contextlib
import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.water_quality import breaches, class_limits
from ingest import sensors, units
from ingest.context import HandlerContext, Rejected
from store.ops import FieldUpdate, Ignored, Observation, RaiseAlert

TS = 1_764_300_000_000


def ctx(**kw) -> HandlerContext:
    return HandlerContext(received_ms=TS + 5, **kw)


def pos(**over) -> bytes:
    doc = {
        "unit_id": "U-1",
        "seq": 7,
        "ts": TS,
        "lat": 22.59,
        "lon": 114.48,
        "speed_kmh": 4.5,
        "course": 90.0,
        "status": "available",
    }
    doc.update(over)
    return orjson.dumps({k: v for k, v in doc.items() if v is not ...})


def reason(fn, *args) -> str:
    with pytest.raises(Rejected) as e:
        fn(*args)
    return e.value.reason


def test_position_becomes_an_observation_and_a_status_update() -> None:
    ops = units.handle_position("U-1", pos(), ctx())
    obs, status = ops
    assert isinstance(obs, Observation) and isinstance(status, FieldUpdate)
    assert (obs.entity_id, obs.ts, obs.seq, obs.lon, obs.lat) == ("U-1", TS, 7, 114.48, 22.59)
    assert obs.identity == f"{TS}:7"
    assert status.fields == {"status": "available"} and status.order_field == "status_ts"


def test_whole_degree_coordinates_are_accepted() -> None:
    obs = units.handle_position("U-1", pos(lat=22, lon=114), ctx())[0]
    assert (obs.lat, obs.lon) == (22.0, 114.0)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"{not json", "json_malformed"),
        (b"", "json_malformed"),
        (b"[1,2]", "schema_invalid"),
        (b'{"unit_id":"U-1","seq":1,"ts":1764300000000,"lat":NaN,"lon":114}', "bad_coordinates"),
        (pos(lat=91.0), "bad_coordinates"),
        (pos(lon=-180.5), "bad_coordinates"),
        (pos(lat="22.5"), "bad_coordinates"),
        (pos(lat=1e400), "bad_coordinates"),
        (pos(seq="7"), "schema_invalid"),
        (pos(seq=-1), "schema_invalid"),
        (pos(ts=1_764_300_000), "schema_invalid"),  # seconds, not milliseconds
        (pos(status="napping"), "schema_invalid"),
        (pos(extra=1), "schema_invalid"),
        (pos(unit_id="U-2"), "device_mismatch"),
        (pos(unit_id="U-1'; DROP"), "schema_invalid"),
        (b"\xff\xfe\x00garbage", "json_malformed"),
    ],
)
def test_bad_positions_are_rejected_with_a_reason(payload: bytes, expected: str) -> None:
    assert reason(units.handle_position, "U-1", payload, ctx()) == expected


def test_profile_and_status() -> None:
    prof = orjson.dumps(
        {
            "unit_id": "U-1",
            "ts": TS,
            "name": "葵涌巡查1组",
            "department": "forestry",
            "kind": "foot",
            "level": "community",
            "subdistrict": "kuichong",
            "skills": ["illegal_logging", "fire"],
        }
    )
    (op,) = units.handle_profile("U-1", prof, ctx())
    assert op.fields["skills"] == "illegal_logging,fire" and op.order_field == "profile_ts"
    assert op.fields["department"] == "forestry"
    bad = orjson.dumps(
        {
            "unit_id": "U-1",
            "ts": TS,
            "name": "x",
            "department": "police",
            "kind": "foot",
            "level": "community",
        }
    )
    assert reason(units.handle_profile, "U-1", bad, ctx()) == "schema_invalid"
    st_ = orjson.dumps({"unit_id": "U-1", "ts": TS, "status": "on_scene"})
    assert units.handle_status("U-1", st_, ctx())[0].fields == {"status": "on_scene"}


OT = {
    "_type": "location",
    "lat": 22.6,
    "lon": 114.45,
    "tst": TS // 1000,
    "vel": 12,
    "cog": 360,
    "acc": 8,
    "batt": 80,
    "tid": "lw",
    "BSSID": "x",
}


def test_owntracks_location_maps_to_its_unit() -> None:
    c = ctx(owntracks_units={"li/phone": "U-9"})
    obs = units.handle_owntracks("li", "phone", orjson.dumps(OT), c)[0]
    assert (obs.entity_id, obs.ts, obs.lat, obs.state["src"]) == (
        "U-9",
        TS // 1000 * 1000,
        22.6,
        "owntracks",
    )
    assert obs.state["course"] == 0.0  # 360 is north too


def test_owntracks_rejections() -> None:
    c = ctx(owntracks_units={"li/phone": "U-9"})
    assert reason(units.handle_owntracks, "zhang", "phone", orjson.dumps(OT), c) == "unknown_device"
    # OwnTracks' own other types are valid and unused: ignored by name; others are refused
    lwt = orjson.dumps({"_type": "lwt", "tst": 1})
    assert units.handle_owntracks("li", "phone", lwt, c) == [
        Ignored("owntracks_type_unused", "OwnTracks _type 'lwt'")
    ]
    odd = orjson.dumps({"_type": "encrypted", "data": "x"})
    assert reason(units.handle_owntracks, "li", "phone", odd, c) == "unsupported_type"
    assert (
        reason(units.handle_owntracks, "li", "phone", orjson.dumps({**OT, "lat": 200}), c)
        == "bad_coordinates"
    )


def test_class_limits_come_from_the_standards_files() -> None:
    sea = class_limits("seawater", "I")
    assert sea["COD"].value == 2 and sea["COD"].bound == "le"
    assert sea["dissolved_oxygen"].bound == "gt" and sea["dissolved_oxygen"].value == 6
    assert sea["pH"].value == (7.8, 8.5)
    surface = class_limits("surface_water", "III")
    assert surface["NH3_N"].value == 1.0 and surface["pH"].value == (6.0, 9.0)
    assert surface["dissolved_oxygen"].bound == "ge"


def test_breaches_on_the_edges() -> None:
    assert breaches("seawater", "I", {"COD": 2.0, "dissolved_oxygen": 6.01, "pH": 7.8}) == []
    found = breaches(
        "seawater", "I", {"COD": 2.01, "dissolved_oxygen": 6.0, "pH": 8.6, "unknown": 1e9}
    )
    assert [b.parameter for b in found] == ["COD", "dissolved_oxygen", "pH"]
    assert breaches("seawater", None, {"COD": 99}) == []


SENSOR_PROFILE = {
    "kind": "seawater",
    "water_class": "I",
    "name": "东山码头",
    "lon": 114.5,
    "lat": 22.56,
}


def reading(values: dict, seq: int = 1) -> bytes:
    return orjson.dumps({"sensor_id": "S-1", "seq": seq, "ts": TS, "values": values})


def test_reading_breach_raises_one_alert_with_a_stable_id() -> None:
    c = ctx(sensor_profile=lambda _sid: SENSOR_PROFILE)
    ops = sensors.handle_reading("S-1", reading({"COD": 5.0, "pH": 8.1}), c)
    obs, alert = ops
    assert isinstance(obs, Observation) and obs.state == {"v.COD": 5.0, "v.pH": 8.1}
    assert isinstance(alert, RaiseAlert) and alert.alert_id == f"wq:S-1:{TS}:1"
    assert alert.fields["severity"] == "critical"  # 2.5x the limit
    assert "COD 5" in alert.fields["message"]
    again = sensors.handle_reading("S-1", reading({"COD": 5.0, "pH": 8.1}), c)
    assert again[1].alert_id == alert.alert_id
    assert len(sensors.handle_reading("S-1", reading({"COD": 1.0}), c)) == 1


@pytest.mark.parametrize(
    "values",
    [{}, {"COD": "high"}, {"COD": True}, {"x" * 41: 1.0}, {f"p{i}": 1.0 for i in range(33)}],
)
def test_bad_readings(values: dict) -> None:
    assert reason(sensors.handle_reading, "S-1", reading(values), ctx()) == "schema_invalid"


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda kids: (
            st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=6)
        ),
        max_leaves=20,
    )
)
def test_any_json_document_is_handled_or_rejected_never_raises(doc: object) -> None:
    try:
        payload = orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):
        return
    for fn in (
        units.handle_position,
        units.handle_profile,
        units.handle_status,
        sensors.handle_reading,
        sensors.handle_profile,
        sensors.handle_alert,
    ):
        try:
            ops = fn("U-1", payload, ctx())
        except Rejected:
            continue
        for op in ops:  # whatever got through is finite and in range
            if isinstance(op, Observation) and op.lat is not None:
                assert math.isfinite(op.lat) and -90 <= op.lat <= 90


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_handled_or_rejected(payload: bytes) -> None:
    for fn in (units.handle_position, sensors.handle_reading):
        with contextlib.suppress(Rejected):
            fn("U-1", payload, ctx())


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ('["li/phone"]', "expected"),
        ('{"devices": {"no-slash": "U-1"}}', "expected"),
        ('{"devices": {"li/phone": 7}}', "expected"),
        ('{"devices": {"li/phone": ""}}', "expected"),
    ],
)
def test_bad_owntracks_map_is_a_clear_configuration_error(
    tmp_path, content: str, expected: str
) -> None:
    path = tmp_path / "ot.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=expected) as e:
        units.load_owntracks_map(path)
    assert str(path) in str(e.value)


def test_owntracks_map_missing_maps_nothing_and_good_one_loads(tmp_path) -> None:
    assert units.load_owntracks_map(tmp_path / "none.json") == {}
    (tmp_path / "ot.json").write_text('{"devices": {"li/phone": "U-1"}}')
    assert units.load_owntracks_map(tmp_path / "ot.json") == {"li/phone": "U-1"}


def test_vessel_in_a_zone_raises_one_alert_per_hour() -> None:
    from pyais.encode import encode_dict

    from domain.geo import load_geography
    from ingest import vessels

    geo = load_geography()
    zone = next(z for z in geo.zones if z[0]["kind"] == "no_fishing")
    point = zone[1].representative_point()
    line = encode_dict(
        {
            "type": 1,
            "mmsi": 413000001,
            "lat": point.y,
            "lon": point.x,
            "speed": 3.0,
            "course": 90.0,
        },
        "AI",
        "VDM",
    )[0]
    outside = encode_dict({"type": 1, "mmsi": 413000002, "lat": 22.52, "lon": 114.40}, "AI", "VDM")[
        0
    ]
    c = ctx(zones_at=geo.zones_at)
    ops = vessels.handle_nmea("rx", f"{line}\n{outside}".encode(), c)
    alerts = [op for op in ops if isinstance(op, RaiseAlert)]
    assert len(alerts) == 1
    (a,) = alerts
    assert a.fields["zone"] == zone[0]["id"] and a.fields["kind"] == "geofence"
    assert a.alert_id == f"zone:413000001:{zone[0]['id']}:{(TS + 5) // 3_600_000}"


@pytest.mark.parametrize(
    "content",
    [
        "{oops",
        "{}",
        '{"parameters": {"COD_le": {"I": "two"}}}',
        '{"parameters": {"pH": {"I": [9, 7]}}}',
        '{"parameters": {"pH": {"I": 5}}}',
        "[]",
    ],
)
def test_a_bad_standards_file_is_a_clear_error_naming_it(tmp_path, content: str) -> None:
    (tmp_path / "gb3097_1997_seawater_classes.json").write_text(content)
    with pytest.raises(ValueError, match=r"gb3097_1997_seawater_classes\.json"):
        class_limits("seawater", "I", tmp_path)
