"""Closing a local day (ingest/day_close.py) with a real Redis: units on duty per hour and
water-quality rows are stored once, from the raw data Redis still holds."""

from __future__ import annotations

import orjson
import pytest
import redis

from domain.kpi_frames import day_bounds_ms
from ingest import day_close
from ingest import units as unit_handlers
from ingest.context import HandlerContext
from store import keys, kpi_days
from store.writer import LiveStore
from tests.helpers import TEST_DAY, local_ms

DAY = "20261127"
START, END = day_bounds_ms(DAY)  # 2026-11-26 16:00 UTC .. 2026-11-27 16:00 UTC
H = 3_600_000


def _status(r: redis.Redis, uid: str, ts: int, status: str) -> None:
    LiveStore(r, 48 * H, 100).write(
        unit_handlers.handle_status(
            uid,
            orjson.dumps({"unit_id": uid, "ts": ts, "status": status}),
            HandlerContext(received_ms=ts),
        ),
        ts,
    )


def _reading(r: redis.Redis, sid: str, ts: int, do: float) -> None:
    r.sadd(keys.index("sensor"), sid)
    r.hset(
        keys.state("sensor", sid),
        mapping={"kind": "seawater", "water_class": "I", "subdistrict": "nanao", "name": sid},
    )
    r.xadd(keys.track("sensor", sid), {"ts": ts, "v.dissolved_oxygen": do, "v.pH": 8.1})


def test_a_closed_day_keeps_units_on_duty_and_water_rows_once(r: redis.Redis) -> None:
    _status(r, "U-1", START + 8 * H, "available")  # on duty 08:00 .. 10:30
    _status(r, "U-1", START + 10 * H + 30 * 60_000, "off_duty")
    _status(r, "U-2", START + 9 * H, "on_scene")  # on duty 09:00 to the end of the day
    for i, do in enumerate([7.0, 6.5, 5.0, 7.2]):  # one reading below class I's 6 mg/L
        _reading(r, "WQ-1", START + (i + 1) * H, do)
    _reading(r, "WQ-1", END + H, 4.0)  # the next day: not this day's

    now = END + day_close.GRACE_MS + 1
    assert day_close.day_to_close(now) == DAY
    assert day_close.day_to_close(END + 60_000) != DAY  # still in the grace time
    LiveStore(r, 48 * H, 100).heartbeat({"ts_ms": START + 7 * H}, day=DAY)  # the system ran
    assert day_close.close_day(r, DAY, now) is True
    (stored,) = kpi_days.stored_days(r, [DAY]).values()
    units = {row["local_hour"][-5:]: row["units"] for row in stored["on_duty"]}
    assert (
        units["07:00"],
        units["08:00"],
        units["09:00"],
        units["10:00"],
        units["11:00"],
        units["23:00"],
    ) == (0, 1, 2, 2, 1, 1)
    hours = {row["local_hour"][-5:]: row["unit_hours"] for row in stored["on_duty"]}
    assert hours["10:00"] == 1.5  # U-1 half an hour, U-2 the whole hour
    (water,) = stored["water"]
    assert (water["sensor_id"], water["n"], water["breaches"]) == ("WQ-1", 4, 1)
    assert stored["source"] == "live"
    assert day_close.close_day(r, DAY, now + 5000) is False  # once


def test_with_several_workers_one_closes_the_day(r: redis.Redis) -> None:
    """Another worker holds the day's claim: this one leaves the day to it (the rows and the
    retention erasure after them are written once); a claim left by a worker that died runs
    out, and then the day is closed."""
    _status(r, "U-1", START + 8 * H, "available")
    LiveStore(r, 48 * H, 100).heartbeat({"ts_ms": START + 7 * H}, day=DAY)
    now = END + day_close.GRACE_MS + 1
    assert kpi_days.claim_close(r, DAY, "worker-2") is True
    assert day_close.close_day(r, DAY, now) is False
    assert not kpi_days.is_closed(r, DAY)
    assert 0 < r.ttl(keys.kpi_day_closing(DAY)) <= kpi_days.CLOSING_S
    r.delete(keys.kpi_day_closing(DAY))  # as when its time to live ran out
    assert day_close.close_day(r, DAY, now) is True
    assert kpi_days.is_closed(r, DAY)


def test_a_day_the_system_did_not_run_is_not_closed_and_history_may_fill_it(
    r: redis.Redis,
) -> None:
    """Issue 17, defect 5: the first start closed yesterday as an empty day (0 % coverage, no
    unit on duty) though nothing ran then, and the simulated history could not replace it."""
    now = END + day_close.GRACE_MS + 1
    assert day_close.close_day(r, DAY, now) is False  # no heartbeat that day: no data
    assert not kpi_days.is_closed(r, DAY) and kpi_days.ran_days(r, [DAY]) == set()
    kpi_days.store_day(r, DAY, [], [], now, source="simulated")  # as simulate --history does
    assert kpi_days.ran_days(r, [DAY]) == {DAY}  # a closed-day row counts as a day that ran
    LiveStore(r, 48 * H, 100).heartbeat({"ts_ms": now}, day="20261128")
    assert kpi_days.ran_days(r, [DAY, "20261128", "20261129"]) == {DAY, "20261128"}


@pytest.mark.parametrize(
    ("hhmm", "day"),
    [
        (
            "00:05",
            "20261116",
        ),  # yesterday's grace time is not over: the day before (closed already)
        ("00:11", "20261117"),
        ("02:00", "20261117"),
        ("12:00", "20261117"),
        ("23:59", "20261117"),
    ],
)
def test_the_day_to_close_is_yesterday_in_shenzhen_once_its_grace_time_is_over(
    hhmm: str, day: str
) -> None:
    assert TEST_DAY.strftime("%Y%m%d") == "20261118" and day_close.GRACE_MS == 10 * 60_000
    assert day_close.day_to_close(local_ms(TEST_DAY, hhmm)) == day


def test_units_are_named_as_their_profiles_say(r: redis.Redis) -> None:
    """The KPI page's busiest units by name (issue 17, defect 11): a unit without a name keeps
    its id."""
    r.hset(keys.state("unit", "U-7"), mapping={"name": "南澳巡查一组"})
    assert kpi_days.unit_names(r, ["U-7", "U-8"]) == {"U-7": "南澳巡查一组"}
