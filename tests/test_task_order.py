"""One unit's reports applied out of order by two workers (a shared subscription or the
inbox's consumers deliver them to whichever is free): "handled" reaching one worker before the
"arrived" another is applying waits for it, so both are recorded, in their order. Real Redis;
the two workers are two threads with their own clients, as two processes would be."""

from __future__ import annotations

import threading
import time

import redis

from domain.incidents import State, before_its_turn
from infra.connections import redis_client
from ingest import tasks
from ingest.accounting import APPLIED, STALE
from store import incidents
from store.ops import TaskUpdate
from tests.helpers import redis_url

T0 = 1_764_300_000_000
UNIT = "U-7"


def _on_its_way(r: redis.Redis) -> str:
    fields = {"type": "waste_dumping", "domain": "land", "lon": 114.52, "lat": 22.55}
    inc = incidents.create(r, {**fields, "source": "manual", "priority": 2}, "chief", T0).detail
    sent = incidents.assign(
        r, inc, [UNIT], ["reported"], by="chief", at_ms=T0, priority=2, notices={}
    )
    assert sent.ok
    assert tasks.apply(r, [(_report(inc, "ack", 1), "t", b"")]) == [APPLIED]
    return inc


def _report(inc: str, action: str, seq: int) -> TaskUpdate:
    now = time.time_ns() // 1_000_000
    return TaskUpdate(UNIT, inc, action, now, seq, now)


def _client(r: redis.Redis) -> redis.Redis:
    return redis_client(redis_url(r))  # a worker's own connection


def test_only_a_report_whose_step_is_not_taken_yet_is_early() -> None:
    assert before_its_turn(State.HANDLED, State.EN_ROUTE)
    assert before_its_turn(State.HANDLED, State.ASSIGNED)
    assert not before_its_turn(State.HANDLED, State.ON_SCENE)  # its turn
    assert not before_its_turn(State.ON_SCENE, State.ASSIGNED)  # arriving needs no ack first
    assert not before_its_turn(State.EN_ROUTE, State.ON_SCENE)  # late, not early
    assert not before_its_turn(State.HANDLED, State.CLOSED)


def test_handled_before_arrived_on_two_workers_is_recorded_after_it(r: redis.Redis) -> None:
    inc = _on_its_way(r)
    results: dict[str, list] = {}

    def worker(action: str, seq: int, after_s: float) -> None:
        time.sleep(after_s)
        one = [(_report(inc, action, seq), "t", b"")]
        results[action] = tasks.apply(_client(r), one, tasks.Patience())

    second = threading.Thread(target=worker, args=("handled", 3, 0.0))
    first = threading.Thread(target=worker, args=("arrived", 2, 0.1))
    second.start()
    first.start()
    second.join()
    first.join()
    assert results == {"handled": [APPLIED], "arrived": [APPLIED]}
    steps = [(t["from"], t["to"]) for t in incidents.timeline(r, inc)][-2:]
    assert steps == [("en_route", "on_scene"), ("on_scene", "handled")]


def test_reports_out_of_order_in_one_batch_are_applied_in_their_order(r: redis.Redis) -> None:
    inc = _on_its_way(r)
    batch = [(_report(inc, "handled", 3), "t", b""), (_report(inc, "arrived", 2), "t", b"")]
    assert tasks.apply(r, batch) == [APPLIED, APPLIED]  # no waiting: tried again at the end
    steps = [t["to"] for t in incidents.timeline(r, inc)][-2:]
    assert steps == ["on_scene", "handled"]


def test_a_report_whose_step_never_comes_is_counted_and_its_unit_not_waited_for_again(
    r: redis.Redis,
) -> None:
    """A phone that keeps sending "handled" for a step it never reports: counted stale each
    time; the worker waits for it once, then not again for a while (its other messages would
    wait too)."""
    inc = _on_its_way(r)
    patience = tasks.Patience()
    report = [(_report(inc, "handled", 2), "t", b"")]
    assert tasks.apply(r, report, patience) == [STALE]
    assert not patience.may_wait(UNIT) and patience.may_wait("U-OTHER")
    assert tasks.apply(r, report, patience) == [STALE]
    assert incidents.read(r, inc)["state"] == "en_route"
