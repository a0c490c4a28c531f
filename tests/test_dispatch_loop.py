"""The field loop over a real broker and Redis: an assignment's notice reaches the unit on the
documented topic (even when the worker was down at assignment time), and the unit's reports
move the incident to en route, on scene and handled, each timed and attributed."""

from __future__ import annotations

import queue
import time

import orjson
import paho.mqtt.client as mqtt
import redis

from domain.incidents import State, allowed_from
from embedded.processes import ServerProcess
from store import incidents, keys
from tests.helpers import Publisher, subscribe, wait_for

T0 = int(time.time() * 1000)


def _subscriber(broker: ServerProcess, topic: str) -> tuple[mqtt.Client, queue.Queue]:
    """A unit's client, subscribed (SUBACK received) to `topic`; what arrives is queued."""
    got: queue.Queue = queue.Queue()
    c = subscribe(broker.port, [topic], lambda m: got.put((m.topic, m.payload, m.qos)))
    return c, got


def _assign(r: redis.Redis, unit: str) -> str:
    inc = incidents.create(
        r,
        {"type": "illegal_fishing", "priority": 1, "domain": "sea", "lon": 114.56, "lat": 22.50},
        "chief",
        T0,
    ).detail
    notice = {
        "incident_id": inc,
        "unit_id": unit,
        "ts": T0,
        "type": "illegal_fishing",
        "priority": 1,
        "domain": "sea",
        "lat": 22.50,
        "lon": 114.56,
        "summary": "拖网",
        "assigned_by": "chief",
    }
    assert incidents.assign(
        r,
        inc,
        [unit],
        [s.value for s in allowed_from(State.ASSIGNED)],
        by="chief",
        at_ms=T0 + 1000,
        priority=1,
        notices={unit: notice},
    ).ok
    return inc


def _report(publisher: Publisher, unit: str, inc: str, action: str, seq: int) -> None:
    publisher.publish(
        f"ecocommand/units/{unit}/task",
        orjson.dumps(
            {
                "unit_id": unit,
                "incident_id": inc,
                "action": action,
                "seq": seq,
                "ts": T0 + 10_000 * seq,
            }
        ),
    )


def test_notice_out_reports_in(
    r: redis.Redis, broker: ServerProcess, publisher: Publisher, running_worker
) -> None:
    sub, got = _subscriber(broker, "ecocommand/units/+/dispatch")
    try:
        inc = _assign(r, "B-7")  # before the worker runs: the outbox keeps the notice
        running_worker()
        topic, payload, qos = got.get(timeout=10)
        assert topic == "ecocommand/units/B-7/dispatch" and qos == 1
        assert orjson.loads(payload)["incident_id"] == inc
        wait_for(lambda: r.xlen(keys.OUTBOX) == 0, 5, "the outbox emptied after the PUBACK")

        for seq, action in enumerate(("ack", "arrived", "handled"), start=1):
            _report(publisher, "B-7", inc, action, seq)
        wait_for(lambda: incidents.read(r, inc)["state"] == "handled", 10, "handled")
        steps = [(t["from"], t["to"], t["by"]) for t in incidents.timeline(r, inc)]
        assert steps == [
            ("", "reported", "chief"),
            ("reported", "assigned", "chief"),
            ("assigned", "en_route", "B-7"),
            ("en_route", "on_scene", "B-7"),
            ("on_scene", "handled", "B-7"),
        ]
        assert incidents.unit_task(r, "B-7") == {}  # free again

        # a repeat changes nothing; a stranger's report is a dead letter
        _report(publisher, "B-7", inc, "arrived", 2)
        _report(publisher, "B-8", inc, "handled", 1)
        wait_for(
            lambda: r.hget(keys.DEADLETTER_COUNTS, "task_not_assigned") == b"1",
            10,
            "the stranger's report dead-lettered",
        )
        assert len(incidents.timeline(r, inc)) == 5
        assert got.empty()  # the worker does not ingest its own notices either
        assert r.hget(keys.DEADLETTER_COUNTS, "unknown_topic") is None
    finally:
        sub.loop_stop()
        sub.disconnect()
