"""`simulate --history`: simulated past incidents, written whole and marked, with a real Redis."""

from __future__ import annotations

import argparse

import pytest
import redis

import run
from domain.geo import Geography
from domain.incidents import Source
from simulator import history
from store import coverage, incidents, keys, kpi_days

DAY = 86_400_000


def test_days_of_plausible_marked_incidents_once(
    r: redis.Redis, geo: Geography, instant: int
) -> None:
    now = instant
    fleet = history.demo_fleet(geo, 7)
    first = history.fill(r, geo, fleet, 5, now, seed=7)
    assert first["new"] > 150 and first["skipped"] == 0  # ~40 a day over 5 days and today
    items = incidents.listing(r, open_only=False, limit=10_000)
    assert len(items) == first["new"]
    assert all(i["id"].startswith("INC-SIM-") and i["simulated"] == "1" for i in items)
    assert all(i["created_ms"] <= now for i in items)
    # an incident id carries its local reporting date, whatever the UTC date
    assert all(i["id"][8:16] == coverage.local_day(i["created_ms"]) for i in items)
    # What is over depends on an incident's age, not on the hour the test runs: a routine case
    # may take three days to handle, so of those reported more than 3.5 days ago nearly all are
    # closed (some rejected or transferred, a few late); the recent ones may still be open.
    old = [i["state"] for i in items if now - i["created_ms"] > 3.5 * DAY]
    assert len(old) > 40 and old.count("closed") > len(old) * 0.8
    states = [i["state"] for i in items]
    assert {"rejected", "transferred"} & set(states)
    assert {i["source"] for i in items} <= {s.value for s in Source}
    fleet_ids = {u.unit_id for u in fleet}
    for i in items:  # units of the owning departments, released once handled
        assert set(i.get("released_units") or []) | set(i.get("units") or []) <= fleet_ids
    assert not r.exists(keys.OUTBOX) and not list(r.scan_iter(keys.unit_task("*")))
    # every history is legal (import_history replays it), times run forward and none is after now
    for i in items[:60]:
        times = [t["at_ms"] for t in incidents.timeline(r, i["id"])]
        assert times == sorted(times) and times[-1] <= now
    again = history.fill(r, geo, fleet, 5, now, seed=7)
    assert again == {"new": 0, "skipped": first["new"]}


@pytest.mark.parametrize(("text", "days"), [("30d", 30), ("7", 7), ("366d", 366)])
def test_history_length_is_a_number_of_days(text: str, days: int) -> None:
    assert run._days(text) == days


@pytest.mark.parametrize("text", ["0d", "367d", "30 days", "-1", "d", ""])
def test_bad_history_lengths_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        run._days(text)


def test_past_days_get_patrols_units_on_duty_and_readings_once(
    r: redis.Redis, geo: Geography, instant: int
) -> None:
    now = instant
    fleet = history.demo_fleet(geo, 7)
    assert history.fill_days(r, geo, fleet, 3, now, seed=7) == 3
    assert history.fill_days(r, geo, fleet, 3, now, seed=7) == 0  # closed already
    days = sorted(
        kpi_days.stored_days(r, [coverage.local_day(now - d * 86_400_000) for d in range(0, 5)])
    )
    assert len(days) == 3 and coverage.local_day(now) not in days  # today is not closed
    for day, row in kpi_days.stored_days(r, days).items():
        assert row["source"] == "simulated" and len(row["on_duty"]) == 24
        assert {w["sensor_id"] for w in row["water"]} >= {"WQ-SEA-01"}
        assert all(0 <= w["breaches"] <= w["n"] for w in row["water"])
        visited = coverage.daily_visited(r, [day])[day]
        assert 50 < len(visited) < 193  # most places, not all
