"""The ingest state in a real Redis: any order and any number of redeliveries give the same
final state (hypothesis), and history is trimmed by age."""

from __future__ import annotations

import time

import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import sensors, units
from ingest.context import HandlerContext
from store import keys, reader
from store.writer import LiveStore

TS = 1_764_300_000_000
HOUR_MS = 3_600_000


def position(unit: str, seq: int, status: str | None = None) -> bytes:
    doc = {
        "unit_id": unit,
        "seq": seq,
        "ts": TS + seq * 5000,
        "lat": 22.5 + seq / 1000,
        "lon": 114.4 + seq / 1000,
    }
    if status:
        doc["status"] = status
    return orjson.dumps(doc)


def ops_of(unit: str, seq: int, status: str | None = None) -> list:
    return units.handle_position(unit, position(unit, seq, status), HandlerContext(received_ms=TS))


def final_state(r: redis.Redis) -> dict:
    out = {}
    for unit in ("U-1", "U-2"):
        s = reader.entity(r, "unit", unit) or {}
        s.pop("received_ms", None)
        t = sorted((e["ts"], e["lat"]) for e in reader.track(r, "unit", unit))
        out[unit] = (s, t, r.geopos(keys.geo("unit"), unit))
    out["version_positive"] = int(r.get(keys.VERSION) or 0) > 0
    return out


MESSAGES = [
    (u, seq, ["available", "en_route", "on_scene"][seq % 3])
    for u in ("U-1", "U-2")
    for seq in range(6)
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.sampled_from(range(len(MESSAGES))), min_size=len(MESSAGES), max_size=3 * len(MESSAGES)
    ).filter(lambda xs: set(xs) == set(range(len(MESSAGES)))),
    st.integers(1, 7),
)
def test_any_order_any_redelivery_same_final_state(
    r: redis.Redis, order: list[int], batch: int
) -> None:
    store = LiveStore(r, 24 * HOUR_MS, 1000)
    r.flushall()
    for _u, _s, _st in MESSAGES:
        store.write(ops_of(_u, _s, _st), TS)
    expected = final_state(r)

    r.flushall()
    ops = [op for i in order for op in ops_of(*MESSAGES[i])]
    for k in range(0, len(ops), batch):
        store.write(ops[k : k + batch], TS)
    assert final_state(r) == expected
    assert expected["U-1"][0]["seq"] == "5" and expected["U-1"][0]["status"] == "on_scene"
    assert len(expected["U-1"][1]) == 6


def test_counters_tell_applied_duplicate_and_stale(r: redis.Redis) -> None:
    store = LiveStore(r, 24 * HOUR_MS, 1000)
    out = store.write(ops_of("U-1", 2) + ops_of("U-1", 2) + ops_of("U-1", 1), TS)
    assert out.verdicts == ["applied", "duplicate", "stale"]
    store.count_messages({"applied": 1, "duplicate": 1, "stale": 1}, {})
    stats = reader.ingest_stats(r)
    assert stats["messages"] == {
        "received": 3,
        "applied": 1,
        "duplicate": 1,
        "stale": 1,
        "deadletter": 0,
        "ignored": 0,
    }
    assert stats["writes"] == {"applied": 1, "duplicate": 1, "stale": 1, "alerts": 0}


def test_history_is_trimmed_by_age(r: redis.Redis) -> None:
    store = LiveStore(r, 300, 1000)  # keep 300 ms of history
    server_ms = lambda: int(r.time()[0]) * 1000 + int(r.time()[1]) // 1000  # noqa: E731
    for seq in range(500):
        store.write(ops_of("U-1", seq), server_ms())
    time.sleep(0.4)  # on purpose: the first 500 entries must age past the 300 ms kept
    for seq in range(500, 510):
        store.write(ops_of("U-1", seq), server_ms())
    n = r.xlen(keys.track("unit", "U-1"))
    assert 10 <= n < 500  # approximate trimming drops whole nodes of old entries, never new ones
    assert reader.track(r, "unit", "U-1", count=1000)[-1]["ts"] == str(TS + 509 * 5000)


def test_alert_from_a_redelivered_reading_is_raised_once(r: redis.Redis) -> None:
    store = LiveStore(r, HOUR_MS, 1000)
    ctx = HandlerContext(
        received_ms=TS,
        sensor_profile=lambda _s: {
            "kind": "seawater",
            "water_class": "I",
            "name": "x",
            "lon": 114.5,
            "lat": 22.5,
        },
    )
    payload = orjson.dumps({"sensor_id": "S-1", "seq": 1, "ts": TS, "values": {"COD": 3.0}})
    for _ in range(3):
        store.write(sensors.handle_reading("S-1", payload, ctx), TS)
    assert r.xlen(keys.ALERTS) == 1 and r.zcard(keys.ALERTS_OPEN) == 1
    assert r.xlen(keys.track("sensor", "S-1")) == 1


TRICKY = [
    '引号 "quoted" \\ back',
    "line\nbreak\ttab",
    "nul\x00inside",
    '{"json": [1]}',
    "",
    "=SUM(A1)",
]


def test_every_value_reaches_redis_as_the_text_redis_py_would_have_sent(r: redis.Redis) -> None:
    """The writer sends a call's operations as one JSON argument (store/writer._queue_writes):
    text of any kind, numbers as their repr and str enums as their value arrive unchanged."""
    from domain.vocab import UnitStatus
    from store.ops import FieldUpdate, Observation, RaiseAlert

    r.flushall()
    store = LiveStore(r, 24 * HOUR_MS, 1000)
    state: dict = {f"f{i}": v for i, v in enumerate(TRICKY)}
    state |= {"big": 2**70, "tiny": 1e-07, "third": 0.1 + 0.2, "whole": 12.0, "gone": None}
    ops = [
        Observation("unit", "U-x", TS, 1, "id-1", state, {"ts": TS, **state}, 114.5, 22.5),
        FieldUpdate("unit", "U-x", "status_ts", TS, "status", {"status": UnitStatus.EN_ROUTE}),
        RaiseAlert("A-tricky", TS, {"text": TRICKY[0], "n": 3}),
    ]
    assert store.write(ops, TS).verdicts == ["applied"] * 3
    expected = {k.encode(): str(v).encode() for k, v in state.items() if v is not None}
    held = r.hgetall(keys.state("unit", "U-x"))
    assert {k: held[k] for k in expected} == expected
    assert held[b"status"] == b"en_route"
    [(_id, entry)] = r.xrange(keys.track("unit", "U-x"))
    assert entry == {b"ts": str(TS).encode(), **expected}
    assert r.hgetall(keys.alert("A-tricky"))[b"text"] == TRICKY[0].encode()


def test_a_value_redis_cannot_hold_as_given_is_refused_before_anything_is_sent(
    r: redis.Redis,
) -> None:
    from store.ops import Observation

    store = LiveStore(r, 24 * HOUR_MS, 1000)
    for bad in (True, b"bytes", [1]):
        op = Observation("unit", "U-y", TS, 1, "id-1", {"flag": bad}, {}, None, None)
        with pytest.raises(TypeError):
            store.write([op], TS)
    assert not r.exists(keys.state("unit", "U-y"))
