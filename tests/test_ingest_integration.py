"""The real worker between a real broker (mosquitto) and a real Redis server."""

from __future__ import annotations

import orjson
import redis

from config.settings import Settings
from store import keys, reader
from tests.helpers import ROOT, Publisher, wait_for

TS = 1_764_300_000_000
AIS = ROOT / "tests" / "data" / "ais"


def unit_position(unit: str = "U-1", seq: int = 1, **over) -> bytes:
    doc = {"unit_id": unit, "seq": seq, "ts": TS + seq * 1000, "lat": 22.59, "lon": 114.48}
    return orjson.dumps({**doc, **over})


def test_unit_position_reaches_redis(r: redis.Redis, running_worker, publisher: Publisher) -> None:
    running_worker()
    publisher.publish("ecocommand/units/U-1/position", unit_position())
    state = wait_for(lambda: reader.entity(r, "unit", "U-1"), 2.0, "the unit in Redis")
    assert state["lat"] == "22.59" and state["src"] == "own"
    # waited for too: on a cluster the indexes are placed in a second step, after the state
    lon, lat = wait_for(lambda: r.geopos(keys.geo("unit"), "U-1")[0], 2.0, "the unit placed")
    assert abs(lon - 114.48) < 1e-5 and abs(lat - 22.59) < 1e-5
    # the heartbeat says when a message last arrived (the pages' stale-data banner reads it)
    wait_for(
        lambda: int(reader.ingest_stats(r)["heartbeat"].get("last_message_ms", 0)) > 0,
        5.0,
        "the last message time in the heartbeat",
    )


def test_owntracks_location_reaches_redis(
    r: redis.Redis, settings: Settings, running_worker, publisher: Publisher
) -> None:
    settings.owntracks_map.write_text('{"devices": {"li/phone": "U-OT-1"}}')
    running_worker()
    ot = {"_type": "location", "lat": 22.61, "lon": 114.41, "tst": TS // 1000, "vel": 30}
    publisher.publish("owntracks/li/phone", orjson.dumps(ot))
    state = wait_for(lambda: reader.entity(r, "unit", "U-OT-1"), 2.0, "the OwnTracks unit")
    assert state["src"] == "owntracks" and state["speed_kmh"] == "30.0"


def test_bad_input_is_dead_lettered_and_the_worker_goes_on(
    r: redis.Redis, settings: Settings, running_worker, publisher: Publisher
) -> None:
    running_worker()
    bad = [
        ("ecocommand/units/U-1/position", b"{oops", "json_malformed"),
        ("ecocommand/units/U-1/position", unit_position(lat=123.0), "bad_coordinates"),
        ("ecocommand/units/U-1/position", unit_position(unit="U-2"), "device_mismatch"),
        ("ecocommand/units/U-1/teleport", b"{}", "unknown_topic"),
        ("ecocommand/units/U-1/position", b"x" * (settings.max_payload_bytes + 1), "oversized"),
        (
            "ecocommand/ais/rx1/nmea",
            b"!AIVDM,1,1,,A,13u?etPv2;0n:dDPwUM1U1Cb069D,0*FF",
            "ais_bad_checksum",
        ),
        (
            "owntracks/nobody/phone",
            b'{"_type":"location","lat":1,"lon":2,"tst":1764300000}',
            "unknown_device",
        ),
    ]
    for topic, payload, _ in bad:
        publisher.publish(topic, payload)
    publisher.publish("ecocommand/units/U-1/position", unit_position(seq=9))
    wait_for(lambda: reader.entity(r, "unit", "U-1"), 3.0, "the good message after the bad")
    wait_for(lambda: r.xlen(keys.DEADLETTER) >= len(bad), 3.0, "dead letters")
    letters = reader.deadletters(r)
    assert sorted(d["reason"] for d in letters) == sorted(b[2] for b in bad)
    big = next(d for d in letters if d["reason"] == "oversized")
    assert int(big["size"]) == settings.max_payload_bytes + 1 and len(big["raw"]) <= 1024
    counts = reader.ingest_stats(r)["deadletter_by_reason"]
    assert counts["json_malformed"] == 1 and sum(counts.values()) == len(bad)


def test_redelivery_applies_once_and_old_never_overwrites_new(
    r: redis.Redis, running_worker, publisher: Publisher
) -> None:
    running_worker()
    topic = "ecocommand/units/U-1/position"
    for seq in (5, 5, 3, 5, 4):
        publisher.publish(topic, unit_position(seq=seq, lat=22.5 + seq / 100))
    wait_for(lambda: r.xlen(keys.track("unit", "U-1")) == 3, 3.0, "three distinct positions")
    wait_for(lambda: int(reader.ingest_stats(r)["messages"].get("received", 0)) == 5, 3.0)
    state = reader.entity(r, "unit", "U-1")
    assert state["seq"] == "5" and state["lat"] == "22.55"
    m = reader.ingest_stats(r)["writes"]
    assert (m["applied"], m["duplicate"], m["stale"]) == (1, 2, 2)


def test_sensor_breach_raises_an_alert(
    r: redis.Redis, running_worker, publisher: Publisher
) -> None:
    running_worker()
    publisher.publish(
        "ecocommand/sensors/S-1/profile",
        orjson.dumps(
            {
                "sensor_id": "S-1",
                "ts": TS,
                "name": "近岸1",
                "kind": "seawater",
                "lat": 22.55,
                "lon": 114.5,
                "water_class": "I",
            }
        ),
        retain=True,
    )
    reading = {"sensor_id": "S-1", "seq": 1, "ts": TS + 1, "values": {"COD": 2.6, "pH": 8.1}}
    publisher.publish("ecocommand/sensors/S-1/reading", orjson.dumps(reading))
    publisher.publish("ecocommand/sensors/S-1/reading", orjson.dumps(reading))
    wait_for(lambda: r.xlen(keys.ALERTS) == 1, 3.0, "one alert")
    (alert,) = [f for _id, f in r.xrange(keys.ALERTS)]
    assert alert[b"kind"] == b"water_quality" and b"COD 2.6" in alert[b"message"]
    publisher.client.publish("ecocommand/sensors/S-1/profile", b"", qos=1, retain=True)


def test_ais_lines_published_one_by_one_give_named_vessels(
    r: redis.Redis, running_worker, publisher: Publisher
) -> None:
    running_worker()
    # A type 5 split over two payloads, then a position of the same vessel.
    lines = (AIS / "gfw_ais_tools" / "ee-multiline.nmea").read_text().splitlines()
    for line in lines:
        if line.strip():
            publisher.publish("ecocommand/ais/rx1/nmea", line)
    state = wait_for(
        lambda: (s := reader.entity(r, "vessel", "417178141")) and "name" in s and s,
        3.0,
        "the vessel's static data",
    )
    assert state["name"] == "IMULA 1781 MTR" and state["callsign"] == "4SFTEST"
    assert "lat" in state  # its type 3 position report too


def test_a_part_whose_siblings_never_come_is_dead_lettered(
    r: redis.Redis, running_worker, publisher: Publisher, monkeypatch
) -> None:
    monkeypatch.setattr("store.writer.FRAGMENT_WAIT_MS", 0)
    running_worker()
    part1 = "!AIVDM,2,1,3,A,56=nR7D00003A<I@E=@TmDh637OS60mA:222220N1@6427?P00888888,0*66"
    publisher.publish("ecocommand/ais/rx1/nmea", part1)
    wait_for(lambda: r.xlen(keys.DEADLETTER) == 1, 5.0, "the orphan part dead-lettered")
    (letter,) = reader.deadletters(r)
    assert letter["reason"] == "ais_incomplete" and letter["raw"] == part1.encode()
    assert r.zcard(keys.AIS_FRAGMENTS_PENDING) == 0 and not r.keys(keys.ais_fragments("*"))


def test_libais_recording_line_by_line_agrees_with_libais(
    r: redis.Redis, running_worker, publisher: Publisher
) -> None:
    """End to end: every line of a real recording published alone; the vessels in Redis agree
    with libais (an independent decoder) to 1e-4 degrees, static names included."""
    import json

    running_worker()
    lines = [ln for ln in (AIS / "libais" / "typeexamples.nmea").read_text().splitlines() if ln]
    expected = [
        json.loads(x)
        for x in (AIS / "libais" / "typeexamples.json").read_text().splitlines()
        if x.strip()
    ]
    for line in lines:
        publisher.publish("ecocommand/ais/rx-libais/nmea", line)
    wait_for(lambda: reader.ingest_stats(r)["messages"]["received"] == len(lines), 5.0)
    positions = {
        e["mmsi"]: e
        for e in expected
        if e["type"] in (1, 2, 3, 18, 19, 27) and abs(e["lat"]) <= 90 and abs(e["lon"]) <= 180
    }
    names = {
        e["mmsi"]: e["shipname"].rstrip("@ ")
        for e in expected
        if e["type"] in (5, 24) and e.get("shipname")
    }
    assert positions and names
    for mmsi, e in positions.items():
        state = reader.entity(r, "vessel", str(mmsi))
        assert abs(float(state["lat"]) - e["lat"]) < 1e-4
        assert abs(float(state["lon"]) - e["lon"]) < 1e-4
    for mmsi, name in names.items():
        assert reader.entity(r, "vessel", str(mmsi))["name"] == name
    bad = [e for e in expected if e["type"] in (1, 2, 3, 18, 19, 27) and e["mmsi"] not in positions]
    assert reader.ingest_stats(r)["deadletter_by_reason"].get("ais_no_position", 0) == len(bad)


def test_the_worker_warns_only_when_redis_may_lose_acknowledged_messages(
    r: redis.Redis, settings: Settings, caplog
) -> None:
    import logging

    from ingest.worker import IngestWorker

    worker = IngestWorker(settings)
    original = r.config_get("append*")
    try:
        for appendonly, fsync, warns in (
            ("yes", "always", False),
            ("yes", "everysec", True),
            ("no", "always", True),
        ):
            r.config_set("appendonly", appendonly)
            r.config_set("appendfsync", fsync)
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="ecocommand.ingest"):
                worker._check_durability()
            assert ("appendfsync always" in caplog.text) is warns, (appendonly, fsync)
    finally:
        r.config_set("appendfsync", original["appendfsync"])
        r.config_set("appendonly", original["appendonly"])
