"""Overdue incidents become alerts for the duty chief, once per missed deadline."""

from __future__ import annotations

import redis

from domain.incidents import load_rules
from ingest.escalation import overdue_alerts
from store import incidents, snapshots
from store.writer import LiveStore

MIN = 60_000
RULES = load_rules()


def _open(r: redis.Redis, priority: int, at_ms: int) -> str:
    return incidents.create(
        r,
        {"type": "noise", "priority": priority, "domain": "land", "lon": 114.5, "lat": 22.6},
        "chief",
        at_ms,
    ).detail


def test_each_missed_deadline_is_raised_once_with_the_level_it_escalates_to(
    r: redis.Redis, instant: int
) -> None:
    T0 = instant  # deadlines run across midnight the same as at noon
    urgent, routine = _open(r, 1, T0), _open(r, 3, T0)
    store = LiveStore(r, 3_600_000, 1000)
    assert overdue_alerts(r, T0 + 4 * MIN, RULES) == []  # priority 1 must be assigned in 5 min
    store.write(overdue_alerts(r, T0 + 6 * MIN, RULES), T0 + 6 * MIN)
    (a,) = snapshots.open_alerts(r)
    assert (a["source"], a["clock"], a["escalated_to"], a["severity"]) == (
        urgent,
        "assign",
        "subdistrict",
        "warning",
    )
    assert overdue_alerts(r, T0 + 7 * MIN, RULES) == []  # raised already: not again
    # two hours later: the urgent case has missed two clocks (one new alert, district level),
    # the routine one its hour to be assigned
    late = overdue_alerts(r, T0 + 121 * MIN, RULES)
    assert sorted(
        (x.fields["source"], x.fields["clock"], x.fields["escalated_to"]) for x in late
    ) == sorted([(urgent, "handle", "district"), (routine, "assign", "subdistrict")])
    incidents.transition(
        r, routine, "rejected", ["reported"], by="c", at_ms=T0 + 1, reason="dup", closes=True
    )  # a closed case raises nothing more
    ten_days = overdue_alerts(r, T0 + 10 * 24 * 60 * MIN, RULES)
    assert {x.fields["source"] for x in ten_days} == {urgent}


def test_the_queue_and_the_api_name_the_level_now_responsible(r: redis.Redis, instant: int) -> None:
    from services.incidents import with_clocks

    T0 = instant
    urgent = _open(r, 1, T0)
    levels = [
        with_clocks(incidents.read(r, urgent) or {}, RULES, T0 + m * MIN)["level"]
        for m in (1, 6, 121)
    ]
    assert levels == ["community", "subdistrict", "district"]
