"""Several receivers through the real broker and worker: one transmission heard twice is one
write; an unchecked ('*00') tag block is decoded; the latest position follows transmit order."""

from __future__ import annotations

import functools
import operator
import time

import redis

from store import keys, reader
from tests.helpers import Publisher, wait_for

POS = "!AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0*30"  # MMSI 367033650, sent at second 56
LATER = "!AIVDM,1,1,,B,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0*33"  # same bits on channel B


def tagblock(fields: str, checked: bool = True) -> str:
    ck = functools.reduce(operator.xor, fields.encode(), 0) if checked else 0
    return f"\\{fields}*{ck:02X}\\"


def outcomes(r: redis.Redis) -> dict[str, int]:
    return reader.ingest_stats(r)["messages"]


def test_two_receivers_one_transmission_one_write(
    r: redis.Redis, running_worker, publisher: Publisher
) -> None:
    running_worker()
    now_s = time.time_ns() // 1_000_000_000 - 600
    t = now_s - (now_s - 50) % 60  # a time whose second is 50: POS (second 56) was 6 s later
    publisher.publish("ecocommand/ais/rx1/nmea", tagblock(f"s:rx1,c:{t + 6}") + POS)
    # another receiver, its clock 3 s late, its tag block unchecked ('*00')
    publisher.publish("ecocommand/ais/rx2/nmea", tagblock(f"s:rx2,c:{t + 3}", False) + POS)
    wait_for(lambda: outcomes(r).get("received") == 2, 10.0, "both messages counted")
    assert outcomes(r).get("applied") == 1 and outcomes(r).get("duplicate") == 1
    assert r.xlen(keys.track("vessel", "367033650")) == 1
    state = reader.entity(r, "vessel", "367033650")
    assert state is not None and int(state["ts"]) == (t + 6) * 1000
    # The same bits a minute later are a new report (a moored ship repeats itself).
    publisher.publish("ecocommand/ais/rx2/nmea", tagblock(f"s:rx2,c:{t + 66}", False) + LATER)
    wait_for(lambda: outcomes(r).get("received") == 3, 10.0, "the third message counted")
    assert outcomes(r).get("applied") == 2
    assert int(reader.entity(r, "vessel", "367033650")["ts"]) == (t + 66) * 1000
    # An older transmission heard late changes the track, not the latest position.
    publisher.publish("ecocommand/ais/rx1/nmea", tagblock(f"s:rx1,c:{t - 120}") + POS)
    wait_for(lambda: outcomes(r).get("received") == 4, 10.0, "the fourth message counted")
    assert outcomes(r).get("stale") == 1
    assert int(reader.entity(r, "vessel", "367033650")["ts"]) == (t + 66) * 1000
