"""Incident records in a real Redis: atomic transitions against the state at that moment, no
double booking of a unit, pre-emption only of less urgent work, units released when done, and
every write confirmed in the append-only file."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import redis

from infra.connections import redis_client
from store import incidents, keys
from store.incidents import Code
from tests.helpers import local_date, local_ms, redis_url

T0 = 1_764_300_000_000
FIELDS = {
    "type": "illegal_fishing",
    "source": "manual",
    "domain": "sea",
    "priority": 2,
    "lon": 114.52,
    "lat": 22.55,
    "description": "nets in a no-fishing zone",
}


def _open(r: redis.Redis, **overrides: object) -> str:
    out = incidents.create(r, {**FIELDS, **overrides}, "chief", T0)
    assert out.ok and out.durable, out
    return out.detail


def _notices(units: list[str]) -> dict[str, dict]:
    return {u: {"unit": u} for u in units}


def test_create_read_and_a_timeline_of_transitions(r: redis.Redis) -> None:
    a = _open(r)
    assert a.startswith("INC-20251128-") and _open(r) != a  # readable, unique
    inc = incidents.read(r, a)
    assert (inc["state"], inc["priority"], inc["lon"], inc["units"]) == ("reported", 2, 114.52, [])
    out = incidents.transition(
        r, a, "triaged", ["reported"], by="chief", at_ms=T0 + 1000, reason="checked"
    )
    assert out.ok and out.durable
    # not reachable from where it is now: refused, and the current state is named
    out = incidents.transition(r, a, "triaged", ["reported"], by="other", at_ms=T0 + 2000)
    assert (out.code, out.detail) == (Code.NOT_ALLOWED, "triaged")
    steps = [(t["from"], t["to"], t["by"], t["at_ms"]) for t in incidents.timeline(r, a)]
    assert steps == [("", "reported", "chief", T0), ("reported", "triaged", "chief", T0 + 1000)]
    assert incidents.read(r, a)["at_triaged"] == T0 + 1000
    assert (
        incidents.transition(r, "nope", "triaged", ["reported"], by="x", at_ms=1).code
        == Code.NO_SUCH
    )
    assert incidents.create(r, FIELDS, "chief", T0, incident_id=a).code == Code.EXISTS


def test_times_never_run_backwards(r: redis.Redis) -> None:
    a = _open(r)
    incidents.transition(r, a, "triaged", ["reported"], by="chief", at_ms=T0 - 60_000)
    (t,) = incidents.timeline(r, a)[1:]
    assert (t["at_ms"], t["reported_ms"]) == (T0, T0 - 60_000)  # late report: kept, clamped


def test_a_transition_counts_on_the_incident_only_when_it_applies(r: redis.Redis) -> None:
    """A field report's times_by_track / times_flagged move in the same atomic step as its
    transition: a refused (repeated) report counts nothing."""
    a = _open(r)
    for at in (T0 + 1000, T0 + 2000):
        incidents.transition(
            r, a, "triaged", ["reported"], by="B-1", at_ms=at, count="times_by_track"
        )
    incidents.transition(r, a, "rejected", ["triaged"], by="chief", at_ms=T0 + 3000)
    inc = incidents.read(r, a)
    assert (inc["times_by_track"], inc.get("times_flagged")) == (1, None)
    assert inc["at_triaged"] == T0 + 1000


def test_assign_books_units_and_queues_their_notices(r: redis.Redis) -> None:
    a = _open(r)
    out = incidents.assign(
        r,
        a,
        ["B-1", "B-2", "B-1"],
        ["reported", "triaged"],
        by="chief",
        at_ms=T0 + 5000,
        priority=2,
        notices=_notices(["B-1", "B-2"]),
    )
    assert out.ok and out.durable
    inc = incidents.read(r, a)
    assert (inc["state"], inc["units"]) == ("assigned", ["B-1", "B-2"])
    assert incidents.unit_task(r, "B-1")["incident"] == a
    outbox = [(f[b"unit"], f[b"incident"]) for _id, f in r.xrange(keys.OUTBOX)]
    assert outbox == [(b"B-1", a.encode()), (b"B-2", a.encode())]
    # reassign: B-2 leaves (freed), B-3 joins (one new notice)
    out = incidents.assign(
        r,
        a,
        ["B-1", "B-3"],
        ["assigned"],
        by="chief",
        at_ms=T0 + 6000,
        priority=2,
        notices=_notices(["B-1", "B-3"]),
        reason="B-2 broke down",
    )
    assert out.ok
    assert incidents.unit_task(r, "B-2") == {} and incidents.unit_task(r, "B-3")["incident"] == a
    assert r.xlen(keys.OUTBOX) == 3
    assert [t["to"] for t in incidents.timeline(r, a)] == ["reported", "assigned", "assigned"]


def test_a_busy_unit_is_refused_unless_pre_empting_less_urgent_work(r: redis.Redis) -> None:
    routine, urgent, same = _open(r, priority=3), _open(r, priority=1), _open(r, priority=3)
    assert incidents.assign(
        r, routine, ["B-1"], ["reported"], by="a", at_ms=T0, priority=3, notices={}
    ).ok
    busy = incidents.assign(
        r, same, ["B-1"], ["reported"], by="b", at_ms=T0, priority=3, notices={}, preempt=True
    )  # equally urgent: no pre-emption
    assert (busy.code, busy.detail) == (Code.UNIT_BUSY, "B-1")
    assert (
        incidents.assign(
            r, urgent, ["B-1"], ["reported"], by="b", at_ms=T0, priority=1, notices={}
        ).code
        == Code.UNIT_BUSY
    )  # not asked to pre-empt
    assert incidents.read(r, urgent)["state"] == "reported"  # a refusal writes nothing
    taken = incidents.assign(
        r, urgent, ["B-1"], ["reported"], by="b", at_ms=T0, priority=1, notices={}, preempt=True
    )
    assert taken.ok and [p[:2] for p in taken.preempted] == [(routine, "triaged")]
    assert incidents.unit_task(r, "B-1")["incident"] == urgent
    (event,) = [f for _id, f in r.xrange(keys.EVENTS) if f[b"type"] == b"unit_preempted"]
    assert (event[b"from"], event[b"to"]) == (routine.encode(), urgent.encode())
    # the routine incident's own record says it lost its only unit, and it waits to be sent again
    left = incidents.read(r, routine)
    assert (left["state"], left.get("units")) == ("triaged", [])
    step = incidents.timeline(r, routine)[-1]
    assert (step["from"], step["to"], step["by"], step["taken"], step["for"]) == (
        "assigned",
        "triaged",
        "b",
        "B-1",
        urgent,
    )
    # its phone's report queued before it was taken ("arrived" at the routine one) is refused:
    # the routine incident's record shows no arrival by a unit that was elsewhere
    late = incidents.transition(
        r, routine, "on_scene", ["assigned", "triaged"], by="B-1", at_ms=T0 + 1, member="B-1"
    )
    assert late.code == Code.NOT_ON_INCIDENT
    assert incidents.read(r, routine)["state"] == "triaged"
    assert incidents.transition(
        r, urgent, "on_scene", ["assigned"], by="B-1", at_ms=T0 + 1, member="B-1"
    ).ok


def test_an_incident_that_keeps_a_unit_keeps_its_state_when_another_is_taken(
    r: redis.Redis,
) -> None:
    routine, urgent = _open(r, priority=3), _open(r, priority=1)
    assert incidents.assign(
        r, routine, ["B-1", "B-2", "B-3"], ["reported"], by="a", at_ms=T0, priority=3, notices={}
    ).ok
    assert incidents.transition(r, routine, "en_route", ["assigned"], by="a", at_ms=T0 + 1).ok
    taken = incidents.assign(
        r,
        urgent,
        ["B-3", "C-1", "B-1"],
        ["reported"],
        by="b",
        at_ms=T0 + 2,
        priority=1,
        notices={},
        preempt=True,
        reason="渔船起火",
    )
    assert [p[:2] for p in taken.preempted] == [(routine, "en_route")]  # one event, two units
    assert incidents.read(r, routine)["units"] == ["B-2"]
    step = incidents.timeline(r, routine)[-1]
    assert (step["from"], step["to"], step["taken"], step["for"], step["reason"]) == (
        "en_route",
        "en_route",
        "B-3,B-1",
        urgent,
        "渔船起火",
    )
    assert incidents.read(r, urgent)["units"] == ["B-3", "C-1", "B-1"]


def test_a_unit_that_moved_before_the_step_is_taken_from_where_it_is_then(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller reads which incident a unit is on to declare its keys; if another chief moved
    the unit in between, the step retries rather than leave the new incident's record alone."""
    first, second, urgent = _open(r, priority=3), _open(r, priority=3), _open(r, priority=1)
    assert incidents.assign(
        r, first, ["B-1"], ["reported"], by="a", at_ms=T0, priority=3, notices={}
    ).ok
    looked = incidents._busy_on

    def and_then_moved(client: redis.Redis, units: list[str], incident_id: str) -> list[str]:
        seen = looked(client, units, incident_id)
        if seen == [first]:  # the first look only
            assert incidents.assign(
                client, first, ["B-2"], ["assigned"], by="a", at_ms=T0, priority=3, notices={}
            ).ok
            assert incidents.assign(
                client, second, ["B-1"], ["reported"], by="a", at_ms=T0, priority=3, notices={}
            ).ok
        return seen

    monkeypatch.setattr(incidents, "_busy_on", and_then_moved)
    taken = incidents.assign(
        r, urgent, ["B-1"], ["reported"], by="b", at_ms=T0, priority=1, notices={}, preempt=True
    )
    assert taken.ok and [p[:2] for p in taken.preempted] == [(second, "triaged")]
    assert incidents.read(r, second)["state"] == "triaged"
    assert incidents.read(r, first)["units"] == ["B-2"]


def test_two_dispatchers_one_unit_one_wins(r: redis.Redis) -> None:
    for _round in range(20):
        a, b = _open(r), _open(r)
        results: dict[str, incidents.Outcome] = {}
        barrier = threading.Barrier(2)

        def go(
            incident_id: str,
            barrier: threading.Barrier = barrier,
            results: dict[str, incidents.Outcome] = results,
        ) -> None:
            client = redis_client(redis_url(r))
            barrier.wait()
            results[incident_id] = incidents.assign(
                client,
                incident_id,
                ["V-9"],
                ["reported"],
                by=incident_id,
                at_ms=T0,
                priority=2,
                notices={},
            )

        threads = [threading.Thread(target=go, args=(x,)) for x in (a, b)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        codes = sorted(o.code for o in results.values())
        assert codes == [Code.UNIT_BUSY, Code.DONE]
        winner = a if results[a].ok else b
        assert incidents.unit_task(r, "V-9")["incident"] == winner
        assert incidents.read(r, a if winner == b else b)["state"] == "reported"
        incidents.transition(
            r, winner, "rejected", ["assigned"], by="t", at_ms=T0, release=True, closes=True
        )


def test_release_frees_units_and_closing_leaves_the_open_list(r: redis.Redis) -> None:
    a = _open(r)
    incidents.assign(r, a, ["U-1", "U-2"], ["reported"], by="c", at_ms=T0, priority=2, notices={})
    stranger = incidents.transition(
        r, a, "handled", ["assigned"], by="U-7", at_ms=T0 + 1, release=True, member="U-7"
    )
    assert (stranger.code, stranger.detail) == (Code.NOT_ON_INCIDENT, "assigned")
    assert incidents.transition(
        r, a, "handled", ["assigned"], by="U-1", at_ms=T0 + 1, release=True, member="U-1"
    ).ok
    assert incidents.unit_task(r, "U-1") == {} and incidents.unit_task(r, "U-2") == {}
    inc = incidents.read(r, a)
    assert inc["units"] == [] and inc["released_units"] == ["U-1", "U-2"]
    assert a in [i["id"] for i in incidents.listing(r)]
    assert incidents.transition(r, a, "closed", ["handled"], by="c", at_ms=T0 + 2, closes=True).ok
    assert a not in [i["id"] for i in incidents.listing(r)]
    assert a in [i["id"] for i in incidents.listing(r, open_only=False)]


def test_without_an_append_only_file_writes_are_not_called_durable(r: redis.Redis) -> None:
    r.config_set("appendonly", "no")
    try:
        out = incidents.create(r, FIELDS, "chief", T0)
        assert out.ok and not out.durable
    finally:
        r.config_set("appendonly", "yes")


def test_a_past_incident_is_imported_whole_without_booking_or_notices(r: redis.Redis) -> None:
    from domain.incidents import State, Timeline, Transition

    t0 = 1_790_000_000_000
    steps = [
        Transition(None, State.REPORTED, "sim", t0),
        Transition(State.REPORTED, State.ASSIGNED, "chief", t0 + 60_000, extra={"units": "U-1"}),
        Transition(State.ASSIGNED, State.EN_ROUTE, "U-1", t0 + 90_000),
        Transition(State.EN_ROUTE, State.ON_SCENE, "U-1", t0 + 900_000),
        Transition(State.ON_SCENE, State.HANDLED, "U-1", t0 + 3_000_000),
        Transition(State.HANDLED, State.CLOSED, "chief", t0 + 3_600_000, reason="done"),
    ]
    fields = {
        "type": "noise",
        "source": "hotline",
        "priority": 2,
        "domain": "land",
        "lon": 114.5,
        "lat": 22.6,
        "departments": "eco_environment",
        "units": "",
        "released_units": "U-1",
        "simulated": 1,
    }
    out = incidents.import_history(r, "INC-20260101-0001", fields, Timeline(steps))
    assert out.ok
    inc = incidents.read(r, "INC-20260101-0001")
    assert (inc["state"], inc["created_ms"], inc["at_on_scene"], inc["released_units"]) == (
        "closed",
        t0,
        t0 + 900_000,
        ["U-1"],
    )
    assert [t["to"] for t in incidents.timeline(r, "INC-20260101-0001")] == [
        "reported",
        "assigned",
        "en_route",
        "on_scene",
        "handled",
        "closed",
    ]
    assert incidents.listing(r, open_only=True) == []
    assert [i["id"] for i in incidents.listing(r, open_only=False)] == ["INC-20260101-0001"]
    assert not r.exists(keys.OUTBOX) and not r.exists(keys.unit_task("U-1"))
    # once only, and never an illegal history
    assert (
        incidents.import_history(r, "INC-20260101-0001", fields, Timeline(steps)).code
        == incidents.Code.EXISTS
    )
    with pytest.raises(ValueError):
        incidents.import_history(
            r,
            "INC-20260101-0002",
            fields,
            Timeline([steps[0], Transition(State.REPORTED, State.HANDLED, "x", t0 + 1)]),
        )
    assert not r.exists(keys.incident("INC-20260101-0002"))


def test_an_incident_id_carries_its_local_date(r: redis.Redis, instant: int) -> None:
    out = incidents.create(r, FIELDS, "chief", instant)
    # 00:05 and 02:00 in Shenzhen are still the previous day in UTC: the id says the local one
    assert out.ok and out.detail.startswith(f"INC-{local_date(instant):%Y%m%d}-")


def test_incident_ids_carry_the_local_date_not_the_utc_one(r: redis.Redis) -> None:
    """01:30 in Shenzhen on 3 December is still 2 December in UTC: the id says the 3rd, as the
    duty chief reads it on the page."""
    night = local_ms(dt.date(2026, 12, 3), "01:30")
    assert dt.datetime.fromtimestamp(night / 1000, dt.UTC).date() == dt.date(2026, 12, 2)
    assert incidents.new_id(r, night) == "INC-20261203-0001"
    assert incidents.new_id(r, night + 60_000) == "INC-20261203-0002"
