"""Coverage kept in Redis as positions arrive (store/coverage.py, ingest/coverage.py), with a
real Redis and, end to end, the real worker behind a real broker."""

from __future__ import annotations

import time

import orjson
import pytest
import redis

from domain.coverage_places import CoverageGeography
from ingest.coverage import due_warnings, grid_resolution
from store import coverage, keys
from store.writer import LiveStore
from tests.helpers import (
    CELL,
    CELL_LAT,
    CELL_LON,
    PATROL_T0,
    Publisher,
    wait_for,
    walk_around_cell,
    write_patrol_unit,
)

T0 = PATROL_T0


def test_a_patrol_marks_the_cell_with_unit_and_time_for_every_question(
    r: redis.Redis, cov: CoverageGeography
) -> None:
    write_patrol_unit(r, "F-1")
    rec = coverage.CoverageRecorder(r, cov, grid_resolution(cov), flush_s=0)
    visits = rec.record(walk_around_cell("F-1", 90))
    assert {v.place_id for v in visits} == {CELL}  # after 60 s of dwell, once
    assert coverage.last_visits(r) == {CELL: T0 + 60_000}
    assert coverage.last_visitors(r) == {CELL: "F-1"}
    assert coverage.last_visits(r, kinds=["foot"]) == {CELL: T0 + 60_000}
    assert coverage.last_visits(r, departments=["forestry"], kinds=["foot"]) == {CELL: T0 + 60_000}
    assert coverage.last_visits(r, kinds=["boat"]) == {}
    assert coverage.last_visits(r, departments=["water"]) == {}
    assert coverage.last_visits(r, kinds=["bogus"]) == {CELL: T0 + 60_000}  # ignored filter
    day = coverage.local_day(T0)
    assert coverage.daily_visited(r, [day]) == {day: {CELL}}
    assert coverage.daily_visited(r, [day], departments=["water"]) == {day: set()}
    heat = coverage.presence(r, T0, T0 + 90_000)
    assert heat == {CELL: 90.0}  # 9 steps of 10 s, the first has no previous position
    # the same batch again (a redelivery) changes nothing; a later batch moves time forward
    rec.record(walk_around_cell("F-1", 90))
    assert coverage.presence(r, T0, T0 + 90_000) == {CELL: 90.0}
    rec.record(walk_around_cell("F-1", 400, t0=T0 + 100_000))
    assert coverage.last_visits(r)[CELL] > T0 + 60_000


@pytest.mark.parametrize(
    ("kind", "status", "speed"),
    [
        ("foot", "off_duty", None),  # not on patrol
        ("vehicle", "available", 60 / 3.6),  # driving past at 60 km/h
        ("boat", "available", None),  # boats do not count for land cells
    ],
)
def test_positions_that_are_not_a_patrol_of_the_cell_leave_no_mark(
    r: redis.Redis, cov: CoverageGeography, kind: str, status: str, speed: float | None
) -> None:
    write_patrol_unit(r, "X-1", kind=kind, status=status)
    rec = coverage.CoverageRecorder(r, cov, grid_resolution(cov), flush_s=0)
    assert rec.record(walk_around_cell("X-1", 120, speed=speed)) == []
    assert coverage.last_visits(r) == {}
    if kind != "boat":
        assert coverage.presence(r, T0, T0 + 120_000) == {}


def test_a_unit_without_a_profile_or_a_damaged_tracker_does_not_stop_coverage(
    r: redis.Redis, cov: CoverageGeography
) -> None:
    rec = coverage.CoverageRecorder(r, cov, grid_resolution(cov), flush_s=0)
    assert rec.record(walk_around_cell("NOBODY", 90)) == []
    write_patrol_unit(r, "F-2")
    r.hset(keys.COVERAGE_TRACKERS, "F-2", '{"ts": "x"')
    assert {v.place_id for v in rec.record(walk_around_cell("F-2", 90))} == {CELL}


def test_a_place_about_to_miss_its_requirement_warns_once_naming_the_owner(
    r: redis.Redis, cov: CoverageGeography
) -> None:
    r.zadd(keys.COVERAGE_LAST, {CELL: T0})
    assert due_warnings(r, cov, T0 + 21 * 3_600_000) == []  # 3 h left, lead time is 2 h
    (w,) = due_warnings(r, cov, T0 + 23 * 3_600_000)
    assert w.fields["kind"] == "coverage_due" and w.fields["source"] == CELL
    assert w.fields["owner"] == cov.places[CELL].owner and "网格员" in w.fields["message"]
    # an admin reassigns the cell: the warning names the new owner
    coverage.set_owner(r, cov.places[CELL], "李四", "admin", T0)
    (w,) = due_warnings(r, cov, T0 + 23 * 3_600_000)
    assert w.fields["owner"] == "李四"
    LiveStore(r, 3_600_000, 100).write([w], T0)
    assert due_warnings(r, cov, T0 + 23 * 3_600_000 + 5000) == []  # raised already


def test_a_track_published_through_a_cell_marks_it_through_the_real_worker(
    r: redis.Redis, running_worker, publisher: Publisher
) -> None:
    running_worker()
    now = time.time_ns() // 1_000_000 - 120_000
    publisher.publish(
        "ecocommand/units/F-9/profile",
        orjson.dumps(
            {
                "unit_id": "F-9",
                "ts": now,
                "name": "F-9",
                "department": "forestry",
                "kind": "foot",
                "level": "community",
            }
        ),
    )
    wait_for(lambda: r.hget(keys.state("unit", "F-9"), "kind"), 10, "the profile")
    for i, s in enumerate(range(0, 91, 10)):
        publisher.publish(
            "ecocommand/units/F-9/position",
            orjson.dumps(
                {
                    "unit_id": "F-9",
                    "seq": i + 1,
                    "ts": now + s * 1000,
                    "lat": CELL_LAT,
                    "lon": CELL_LON + s * 1e-6,
                    "status": "available",
                }
            ),
        )
    # how fast is bench coverage's business; here: that it happens, with the dwell's time
    wait_for(lambda: coverage.last_visitors(r).get(CELL) == "F-9", 10, "the cell visited")
    assert coverage.last_visits(r)[CELL] == now + 60_000


def test_a_window_reads_whole_local_days_from_their_day_hash() -> None:
    midnight = coverage.day_start_ms(T0)
    hour = 3_600_000
    week = coverage.presence_keys(midnight - 6 * 24 * hour, midnight + 5 * hour)
    assert len(week) == 7 and all(k.startswith(keys.coverage_presence_day("")) for k in week)
    assert coverage.presence_keys(midnight + 5 * hour + 10, midnight + 6 * hour + 10) == [
        keys.coverage_presence(coverage.utc_hour(midnight + 5 * hour)),
        keys.coverage_presence(coverage.utc_hour(midnight + 6 * hour)),
    ]
    # a window starting mid-day: its hours, then the next days whole
    mixed = coverage.presence_keys(midnight - 2 * hour, midnight + hour)
    assert mixed == [
        keys.coverage_presence(coverage.utc_hour(midnight - 2 * hour)),
        keys.coverage_presence(coverage.utc_hour(midnight - hour)),
        keys.coverage_presence_day(coverage.local_day(midnight)),
    ]


def test_two_workers_stepping_one_unit_at_once_never_count_its_presence_twice(
    r: redis.Redis, cov: CoverageGeography
) -> None:
    """A shared subscription deals one unit's positions to two workers. Worker A reads the
    unit's tracker and steps its positions; before it writes, worker B records the others. A's
    write finds the tracker moved, so A reads it again and steps its positions on B's tracker
    (only the one later than all of B's adds anything): the presence is never counted twice,
    and the tracker never goes back. Without the compare-and-set, A would overwrite B's
    tracker and add its own seconds on top (the heatmap would show more time than the unit
    spent)."""
    write_patrol_unit(r, "F-9")
    walk = walk_around_cell("F-9", 180)
    alone = coverage.CoverageRecorder(r, cov, grid_resolution(cov), flush_s=0)
    alone.record(walk)
    whole = coverage.presence(r, T0, T0 + 200_000)[CELL]
    r.flushdb()

    write_patrol_unit(r, "F-9")
    a = coverage.CoverageRecorder(r, cov, grid_resolution(cov), flush_s=0)
    b = coverage.CoverageRecorder(r, cov, grid_resolution(cov), flush_s=0)
    first_step, rounds = a._step, []

    def step_then_b_writes(positions: list, units: list) -> dict:
        out = first_step(positions, units)
        if not rounds:  # between A's read and A's write, once
            b.record(walk[1::2])
        rounds.append(len(positions))
        return out

    a._step = step_then_b_writes  # type: ignore[method-assign]
    a.record(walk[0::2])
    assert len(rounds) == 2, "A's write must have found the tracker moved and stepped again"
    b_only = coverage.presence(r, T0, T0 + 200_000)[CELL]
    assert 0 < b_only <= whole
    tracker = r.hget(keys.COVERAGE_TRACKERS, "F-9")
    # on B's tracker, A's one position later than all of B's was stepped: the tracker is at it
    assert orjson.loads(tracker)[0] == walk[-1].ts_ms == walk[0::2][-1].ts_ms
