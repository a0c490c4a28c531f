"""The server's clock is the legal clock, through the real worker between a real broker
(mosquitto) and Redis, on a fixed worker clock (the receive time of every message): a message
dated ahead of its receipt is dead-lettered whole as ts_future; one dated long ago goes to the
track but never into the live state; a task report is timed by its receipt, and an earlier
claim stands only with the unit's own track behind it (domain/report_times.py)."""

from __future__ import annotations

import orjson
import redis

from bench.workload import tag_block
from domain.clock import fixed, system_ms
from domain.coverage_places import CoverageGeography
from domain.incidents import State, allowed_from, load_rules
from ingest.context import HandlerContext
from ingest.router import Router
from services.kpis import kpi_report
from store import audit as audit_log
from store import incidents, keys, reader
from store.ops import DeadLetter, FieldUpdate, Observation, PatrolLogSubmission
from tests.helpers import ROOT, Publisher, wait_for

DAY_MS = 86_400_000
SCENE = {"lon": 114.54, "lat": 22.52}
AIS = ROOT / "tests" / "data" / "ais" / "gfw_ais_tools" / "ee-multiline.nmea"


def _now() -> int:
    return system_ms() // 1000 * 1000  # a whole second: the detail's figures are exact


def _position(unit: str, seq: int, ts: int, **over: object) -> bytes:
    return orjson.dumps({"unit_id": unit, "seq": seq, "ts": ts, **SCENE, **over})


def _profile(unit: str, ts: int, name: str) -> bytes:
    doc = {"unit_id": unit, "ts": ts, "name": name, "department": "forestry"}
    return orjson.dumps({**doc, "kind": "foot", "level": "community"})


def _status(unit: str, ts: int, status: str) -> bytes:
    return orjson.dumps({"unit_id": unit, "ts": ts, "status": status})


def _sensor_profile(sensor: str, ts: int) -> bytes:
    doc = {"sensor_id": sensor, "ts": ts, "name": "近岸", "kind": "seawater", "water_class": "I"}
    return orjson.dumps({**doc, "lat": 22.55, "lon": 114.5})


def _ahead_messages(ahead: int) -> list[tuple[str, bytes]]:
    """One message of every kind a device dates, each a day ahead of its receipt."""
    p = "ecocommand"
    reading = {"sensor_id": "S-F1", "seq": 1, "ts": ahead, "values": {"COD": 2.6}}
    alert = {"sensor_id": "S-F1", "seq": 1, "ts": ahead, "kind": "buoy_alarm"}
    task = {"unit_id": "U-F1", "incident_id": "INC-X", "action": "arrived", "seq": 1}
    log = {"unit_id": "U-F1", "ts": ahead, "from_ms": ahead - 3_600_000, "to_ms": ahead}
    return [
        (f"{p}/units/U-F1/position", _position("U-F1", 9, ahead, status="on_scene")),
        (f"{p}/units/U-F1/profile", _profile("U-F1", ahead, "from tomorrow")),
        (f"{p}/units/U-F1/status", _status("U-F1", ahead, "off_duty")),
        (f"{p}/sensors/S-F1/reading", orjson.dumps(reading)),
        (f"{p}/sensors/S-F1/alert", orjson.dumps({**alert, "severity": "critical"})),
        (f"{p}/units/U-F1/task", orjson.dumps({**task, "ts": ahead})),
        (f"{p}/units/U-F1/patrol-log", orjson.dumps({**log, "places": ["87411cc4cffffff"]})),
        (f"{p}/ais/rx1/nmea", tag_block(ahead) + AIS.read_bytes().splitlines()[3].split(b"\\")[-1]),
    ]


def _balanced(r: redis.Redis) -> bool:
    """Every message received is counted once: applied, duplicate, stale, dead-lettered or
    ignored."""
    m = reader.ingest_stats(r)["messages"]
    return m["received"] == sum(
        m[k] for k in ("applied", "duplicate", "stale", "deadletter", "ignored")
    )


def test_the_allowance_ahead_is_exact_and_covers_a_log_s_window() -> None:
    router, now = Router("ecocommand", 65_536, 300), 1_795_000_000_000
    ctx = HandlerContext(received_ms=now)
    topic = "ecocommand/units/U-1/position"
    ok = router.handle(topic, _position("U-1", 1, now + 300_000, status="en_route"), ctx)
    assert [type(o) for o in ok] == [Observation, FieldUpdate]  # its position and status
    (late,) = router.handle(topic, _position("U-1", 1, now + 301_000, status="en_route"), ctx)
    assert isinstance(late, DeadLetter) and (late.reason, late.topic) == ("ts_future", topic)
    assert late.detail == "ts 301 s ahead of its receipt (at most 300 s)"
    # a patrol log written now about a window that ends an hour from now
    log = {"unit_id": "U-1", "ts": now, "from_ms": now - 60_000, "to_ms": now + 3_600_000}
    raw = orjson.dumps({**log, "places": ["87411cc4cffffff"]})
    (out,) = router.handle("ecocommand/units/U-1/patrol-log", raw, ctx)
    assert isinstance(out, DeadLetter) and out.reason == "ts_future"
    log["to_ms"] = now
    (out,) = router.handle(
        "ecocommand/units/U-1/patrol-log", orjson.dumps({**log, "places": ["x"]}), ctx
    )
    assert isinstance(out, PatrolLogSubmission)


def test_messages_dated_a_day_ahead_are_dead_lettered_whole(
    r: redis.Redis, running_worker, publisher: Publisher
) -> None:
    now = _now()
    running_worker(fixed(now))
    p = "ecocommand"
    for topic, payload in [
        (f"{p}/units/U-F1/profile", _profile("U-F1", now - 3_600_000, "巡查一组")),
        (f"{p}/units/U-F1/position", _position("U-F1", 1, now - 60_000)),
        (f"{p}/units/U-F1/status", _status("U-F1", now - 60_000, "available")),
        (f"{p}/sensors/S-F1/profile", _sensor_profile("S-F1", now - 3_600_000)),
    ]:
        publisher.publish(topic, payload)
    ahead = _ahead_messages(now + DAY_MS)
    for topic, payload in ahead:
        publisher.publish(topic, payload)
    publisher.publish(f"{p}/units/U-F1/position", _position("U-F1", 2, now))  # after them all
    wait_for(
        lambda: (reader.entity(r, "unit", "U-F1") or {}).get("ts") == str(now), 5, "the last one"
    )

    letters = [d for d in reader.deadletters(r) if d["reason"] == "ts_future"]
    assert sorted(d["topic"] for d in letters) == sorted(t for t, _ in ahead)
    assert all(d["detail"].startswith("ts 86400 s ahead of its receipt") for d in letters)
    assert reader.ingest_stats(r)["deadletter_by_reason"]["ts_future"] == len(ahead)
    assert _balanced(r)
    # nothing of them was applied: live state, track, alerts, readings, vessels, logs
    unit = reader.entity(r, "unit", "U-F1")
    assert (unit["name"], unit["status"], unit["status_ts"]) == (
        "巡查一组",
        "available",
        str(now - 60_000),
    )
    track = [int(f[b"ts"]) for _id, f in r.xrange(keys.track("unit", "U-F1"))]
    assert track == [now - 60_000, now]
    assert r.xlen(keys.ALERTS) == 0 and r.zcard(keys.ALERTS_OPEN) == 0
    assert not r.exists(keys.track("sensor", "S-F1"))
    assert not r.smembers(keys.index("vessel"))
    assert not r.exists(keys.PATROL_LOGS)


def test_a_multi_part_ais_message_dated_ahead_is_one_dead_letter(
    r: redis.Redis, running_worker, publisher: Publisher
) -> None:
    now = _now()
    running_worker(fixed(now))
    part1, part2 = (line.split(b"\\")[-1] for line in AIS.read_bytes().splitlines()[1:3])
    for part in (part1, part2):  # one payload each: the worker completes the group
        publisher.publish("ecocommand/ais/rx1/nmea", tag_block(now + DAY_MS) + part)
    wait_for(lambda: r.xlen(keys.DEADLETTER) == 1, 5, "the group dead-lettered")
    (letter,) = reader.deadletters(r)
    assert letter["reason"] == "ts_future" and letter["topic"] == "ecocommand/ais/rx1/nmea"
    assert part1 in letter["raw"] and part2 in letter["raw"]
    assert not r.smembers(keys.index("vessel"))


def test_a_message_dated_long_ago_goes_to_the_track_but_not_the_live_state(
    r: redis.Redis, running_worker, publisher: Publisher
) -> None:
    now = _now()
    running_worker(fixed(now))
    year_ago = now - 365 * DAY_MS
    p = "ecocommand/units/U-P1"
    publisher.publish(f"{p}/profile", _profile("U-P1", now - 60_000, "巡查二组"))
    publisher.publish(f"{p}/position", _position("U-P1", 5, now - 1_000, status="en_route"))
    publisher.publish(f"{p}/position", _position("U-P1", 6, year_ago, lat=22.6, status="on_scene"))
    publisher.publish(f"{p}/profile", _profile("U-P1", year_ago, "last year's name"))
    publisher.publish(f"{p}/status", _status("U-P1", year_ago, "off_duty"))
    wait_for(lambda: reader.ingest_stats(r)["writes"]["stale"] == 4, 5, "four stale writes")
    unit = reader.entity(r, "unit", "U-P1")
    assert (unit["ts"], unit["lat"]) == (str(now - 1_000), str(SCENE["lat"]))
    assert (unit["name"], unit["status"]) == ("巡查二组", "en_route")
    track = sorted(int(f[b"ts"]) for _id, f in r.xrange(keys.track("unit", "U-P1")))
    assert track == [year_ago, now - 1_000]  # the old position is history all the same
    assert not [d for d in reader.deadletters(r) if d["topic"].startswith(p)]


# -- task reports -------------------------------------------------------------------------------


def _open(r: redis.Redis, unit: str, now: int) -> str:
    inc = incidents.create(
        r,
        {"type": "illegal_logging", "priority": 1, "domain": "land", **SCENE},
        "chief",
        now - 20 * 60_000,
    ).detail
    notice = {"incident_id": inc, "unit_id": unit, "ts": now, "type": "illegal_logging"}
    assert incidents.assign(
        r,
        inc,
        [unit],
        [s.value for s in allowed_from(State.ASSIGNED)],
        by="chief",
        at_ms=now - 15 * 60_000,
        priority=1,
        notices={unit: notice},
    ).ok
    return inc


def _report(publisher: Publisher, unit: str, inc: str, action: str, seq: int, ts: int) -> None:
    doc = {"unit_id": unit, "incident_id": inc, "action": action, "seq": seq, "ts": ts}
    publisher.publish(f"ecocommand/units/{unit}/task", orjson.dumps(doc))


def _last_step(r: redis.Redis, inc: str) -> dict:
    step = incidents.timeline(r, inc)[-1]
    return {**step, "extra": orjson.loads(step["extra"])}


def test_a_task_report_is_timed_by_its_receipt_and_keeps_its_claim(
    r: redis.Redis, running_worker, publisher: Publisher
) -> None:
    now = _now()
    running_worker(fixed(now))
    inc = _open(r, "U-T1", now)
    _report(publisher, "U-T1", inc, "arrived", 1, now - 20_000)  # a clock 20 s behind
    wait_for(lambda: incidents.read(r, inc)["state"] == "on_scene", 5, "on scene")
    rec = incidents.read(r, inc)
    assert rec["at_on_scene"] == now  # the server's receipt, not the unit's clock
    step = _last_step(r, inc)
    assert step["at_ms"] == now and step["extra"] == {
        "report": "arrived",
        "seq": "1",
        "claimed_ms": str(now - 20_000),
        "received_ms": str(now),
        "time_basis": "received",
    }
    assert "times_by_track" not in rec and "times_flagged" not in rec
    # the unit's own act is in the audit log, its digest the timeline event as stored
    (entry,) = audit_log.trail(r, "record", "device:U-T1")
    assert (entry["action"], entry["object"], entry["ts"]) == (
        "incident.reported",
        f"incident:{inc}",
        now,
    )

    # "handled" dated a day ahead: dead-lettered, the incident stays on scene
    _report(publisher, "U-T1", inc, "handled", 2, now + DAY_MS)
    wait_for(lambda: r.hget(keys.DEADLETTER_COUNTS, "ts_future") == b"1", 5, "ts_future")
    assert incidents.read(r, inc)["state"] == "on_scene"
    assert len(incidents.timeline(r, inc)) == 3


def test_an_earlier_arrival_stands_only_with_a_track_at_the_scene(
    r: redis.Redis, running_worker, publisher: Publisher, cov: CoverageGeography
) -> None:
    now = _now()
    running_worker(fixed(now))
    claimed = now - 10 * 60_000  # out of coverage: the report arrives 10 min late
    there, elsewhere = _open(r, "U-T2", now), _open(r, "U-T3", now)
    # U-T2's track puts it at the scene at the claimed time; U-T3's 2 km away
    publisher.publish("ecocommand/units/U-T2/position", _position("U-T2", 1, claimed + 20_000))
    far = {"lat": SCENE["lat"] + 0.018}
    publisher.publish("ecocommand/units/U-T3/position", _position("U-T3", 1, claimed, **far))
    _report(publisher, "U-T2", there, "arrived", 1, claimed)
    _report(publisher, "U-T3", elsewhere, "arrived", 1, claimed)
    wait_for(
        lambda: all(incidents.read(r, i)["state"] == "on_scene" for i in (there, elsewhere)),
        5,
        "both on scene",
    )

    supported = incidents.read(r, there)
    assert supported["at_on_scene"] == claimed and supported["times_by_track"] == 1
    assert _last_step(r, there)["extra"]["time_basis"] == "track"
    assert _last_step(r, there)["extra"]["received_ms"] == str(now)

    refused = incidents.read(r, elsewhere)
    assert refused["at_on_scene"] == now and refused["times_flagged"] == 1
    extra = _last_step(r, elsewhere)["extra"]
    assert (extra["time_basis"], extra["claim_unsupported_s"]) == ("received", "600")
    assert extra["claimed_ms"] == str(claimed)

    # the KPIs time the arrivals so decided and say how many times a track corrected
    rep = kpi_report(r, cov, now - DAY_MS, now + 1, None, None, now, load_rules())
    times = rep["response_times"]
    assert (times["times_by_track"], times["times_flagged"]) == (1, 1)
    (arrive,) = [i for i in times["intervals"] if i["interval"] == "assigned_to_on_scene_s"]
    assert arrive["n"] == 2 and arrive["median_s"] == (5 * 60 + 15 * 60) / 2
