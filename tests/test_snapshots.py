"""Live snapshots read back typed from a real Redis, as pages and the API receive them."""

from __future__ import annotations

import orjson
import redis

from ingest import sensors, units, vessels
from ingest.context import HandlerContext
from store import alerts, keys, snapshots
from store.writer import LiveStore

TS = 1_764_300_000_000


def test_entities_come_back_typed_with_their_age(r: redis.Redis) -> None:
    store = LiveStore(r, 3_600_000, 1000)
    ctx = HandlerContext(received_ms=TS)
    store.write(
        units.handle_profile(
            "U-1",
            orjson.dumps(
                {
                    "unit_id": "U-1",
                    "ts": TS,
                    "name": "巡查一组",
                    "department": "forestry",
                    "kind": "foot",
                    "level": "community",
                    "skills": ["illegal_logging"],
                }
            ),
            ctx,
        ),
        TS,
    )
    store.write(
        units.handle_position(
            "U-1",
            orjson.dumps(
                {
                    "unit_id": "U-1",
                    "seq": 3,
                    "ts": TS,
                    "lat": 22.6,
                    "lon": 114.45,
                    "speed_kmh": 4.0,
                    "status": "en_route",
                }
            ),
            ctx,
        ),
        TS,
    )
    store.write(
        vessels.handle_nmea("rx", b"!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C", ctx), TS
    )
    store.write(
        sensors.handle_reading(
            "S-1",
            orjson.dumps({"sensor_id": "S-1", "seq": 1, "ts": TS, "values": {"COD": 1.5}}),
            ctx,
        ),
        TS,
    )

    (unit,) = snapshots.entities(r, "unit", now_ms=TS + 12_000)
    assert unit["unit_id"] == "U-1" and unit["lat"] == 22.6 and unit["seq"] == 3
    assert unit["status"] == "en_route" and unit["skills"] == ["illegal_logging"]
    assert unit["age_s"] == 12.0 and unit["name"] == "巡查一组"
    (vessel,) = snapshots.entities(r, "vessel", now_ms=TS)
    assert vessel["mmsi"] == 366053209 and abs(vessel["lat"] - 37.802118) < 1e-6
    assert isinstance(vessel["heading"], int)
    (sensor,) = snapshots.entities(r, "sensor", now_ms=TS)
    assert sensor["values"] == {"COD": 1.5}
    assert snapshots.version(r) > 0


def test_a_corrupt_field_does_not_hide_the_entity(r: redis.Redis) -> None:
    r.sadd(keys.index("unit"), "U-9")
    r.hset(keys.state("unit", "U-9"), mapping={"lat": "north", "lon": "114.4", "ts": str(TS)})
    (unit,) = snapshots.entities(r, "unit", now_ms=TS)
    assert unit["lat"] is None and unit["lon"] == 114.4


def test_open_alerts_newest_first(r: redis.Redis) -> None:
    store = LiveStore(r, 3_600_000, 1000)
    profile = {"kind": "seawater", "water_class": "I", "name": "近岸1", "lon": 114.5, "lat": 22.5}
    ctx = HandlerContext(received_ms=TS, sensor_profile=lambda _s: profile)
    for seq in (1, 2):
        store.write(
            sensors.handle_reading(
                "S-1",
                orjson.dumps(
                    {"sensor_id": "S-1", "seq": seq, "ts": TS + seq, "values": {"COD": 9.0}}
                ),
                ctx,
            ),
            TS,
        )
    alerts = snapshots.open_alerts(r)
    assert [a["ts"] for a in alerts] == [TS + 2, TS + 1]
    assert alerts[0]["severity"] == "critical" and alerts[0]["lat"] == 22.5


def test_open_alerts_read_again_only_those_raised_since(r: redis.Redis) -> None:
    """A live picture passes the alerts it holds: those are not read again (an alert is
    written once), a new one is read, a closed one leaves."""
    store = LiveStore(r, 3_600_000, 1000)
    profile = {"kind": "seawater", "water_class": "I", "name": "近岸1", "lon": 114.5, "lat": 22.5}
    ctx = HandlerContext(received_ms=TS, sensor_profile=lambda _s: profile)

    def raise_alert(seq: int) -> None:
        reading = {"sensor_id": "S-1", "seq": seq, "ts": TS + seq, "values": {"COD": 9.0}}
        store.write(sensors.handle_reading("S-1", orjson.dumps(reading), ctx), TS)

    raise_alert(1)
    raise_alert(2)
    held = snapshots.open_alerts(r)
    assert len(held) == 2
    first, second = sorted(held, key=lambda a: a["ts"])
    raise_alert(3)
    alerts.close(r, str(first["id"]), "chief", TS + 10, 3_600_000, "handled")
    again = snapshots.open_alerts(r, known={str(a["id"]): a for a in held})
    assert [a["ts"] for a in again] == [TS + 3, TS + 2]
    assert again[1] is second  # held, not read again
    assert again[0]["severity"] == "critical" and again[0]["lat"] == 22.5  # read: new
    assert again == snapshots.open_alerts(r)  # the same as reading them all
