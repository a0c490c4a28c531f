"""The incident figures from stored day tables (services/kpi_tables.py, store/kpi_incident_days.py)
equal the figures from framing every raw record (the way kpi_report computed them before), for
several filters and periods, in a warm and a fresh process, after an incident of a stored day
closes and after an import into a stored day; with a real Redis."""

from __future__ import annotations

import pytest
import redis

from domain import kpis
from domain.coverage_places import CoverageGeography, load_coverage
from domain.geo import Geography
from domain.incidents import load_rules
from domain.kpi_frames import day_bounds_ms, incidents_frame, select
from domain.vocab import local_day
from ingest import day_close
from services.kpis import kpi_report
from simulator import history
from store import incidents, keys, kpi_days, kpi_incident_days
from tests.helpers import TEST_DAY, local_ms

RULES = load_rules()
DAY = 86_400_000
NOW = local_ms(TEST_DAY, "15:30")  # mid-day: a period of N x 24 h starts mid-day too
TODAY_START = local_ms(TEST_DAY)
FILTERS = [
    (None, None),
    ("land_inspection", None),
    (None, "nanao"),
    ("eco_environment", "kuichong"),
    ("marine_fisheries", "dapeng"),
    ("agriculture", None),  # none in the history: every figure says so the same way
]
PERIODS = [
    (NOW - 7 * DAY, NOW),  # a partial first day, whole past days and today so far
    (TODAY_START - 5 * DAY, TODAY_START),  # whole past days only
    (TODAY_START - 3 * DAY + 3_600_000, TODAY_START - DAY + 7_200_000),  # both ends cut
    (TODAY_START - 2 * DAY, TODAY_START - DAY),  # one past day
    (TODAY_START, NOW),  # today only
]


@pytest.fixture(scope="module")
def cov() -> CoverageGeography:
    return load_coverage()


def _raw(r: redis.Redis, from_ms: int, to_ms: int, dept: str | None, sub: str | None) -> dict:
    """The figures from every record, framed now (no stored table, no process cache)."""
    ids = kpi_incident_days.created_between(r, 0, 2**53)
    recs = kpi_days.read_incident_records(r, ids)
    frame = select(incidents_frame(recs, NOW, RULES), from_ms, to_ms, dept, sub)
    rate, times, work = kpis.handling_rate(frame), kpis.response_times(frame), kpis.workload(frame)
    simulated = {x["id"] for x in recs if x.get("simulated") == "1"}
    rows = kpi_days.frame_rows
    return {
        "incidents": {"n": len(frame), "simulated": int(frame["id"].isin(simulated).sum())},
        "handling_rate": {
            "overall": rate["overall"],
            **{k: rows(rate[k]) for k in ("by_source", "by_department", "by_subdistrict")},
        },
        "response_times": {
            "intervals": times["intervals"],
            "deadlines": times["deadlines"],
            "trend": rows(times["trend"]),
            "deadline_trend": rows(times["deadline_trend"]),
            "times_by_track": times["times_by_track"],
            "times_flagged": times["times_flagged"],
        },
        "workload": {
            "n": work["n"],
            "n_without_units": work["n_without_units"],
            "per_unit": rows(work["per_unit"]),
            "per_department": rows(work["per_department"]),
        },
    }


def _report(r: redis.Redis, cov: CoverageGeography, period: tuple[int, int], f: tuple) -> dict:
    got = kpi_report(r, cov, *period, *f, NOW, RULES)
    got["workload"]["per_unit"] = [  # the raw figures have no names
        {k: v for k, v in row.items() if k != "name"} for row in got["workload"]["per_unit"]
    ]
    return {k: got[k] for k in ("incidents", "handling_rate", "response_times", "workload")}


def _assert_same(r: redis.Redis, cov: CoverageGeography, some: bool = False) -> None:
    """Every period and filter (`some`: the first two periods, three filters)."""
    for period in PERIODS[:2] if some else PERIODS:
        for f in FILTERS[:3] if some else FILTERS:
            assert _report(r, cov, period, f) == _raw(r, *period, *f), (period, f)


def _past_incident(r: redis.Redis, at_ms: int, incident_id: str) -> str:
    fields = {"type": "water_pollution", "source": "hotline", "subdistrict": "nanao"}
    out = incidents.create(
        r, {**fields, "departments": "water", "priority": 2}, "t", at_ms, incident_id=incident_id
    )
    assert out.ok
    return incident_id


def test_figures_from_stored_days_equal_the_figures_from_every_record(
    r: redis.Redis, geo: Geography, cov: CoverageGeography
) -> None:
    history.fill(r, geo, history.demo_fleet(geo, 3), 8, NOW, seed=5, per_day=40)
    open_id = _past_incident(r, TODAY_START - 2 * DAY + 3_600_000, "INC-T-OPEN")
    kpi_incident_days.forget()
    counts = {f: _raw(r, *PERIODS[0], *f)["incidents"]["n"] for f in FILTERS}
    assert sorted(counts.values())[1] > 1 and counts[("agriculture", None)] == 0, counts
    _assert_same(r, cov)  # the first requests build the past days' tables
    day = (TODAY_START - 2 * DAY, TODAY_START - DAY)
    stored = kpi_incident_days.day_tables(r, [local_day(day[0])], NOW, RULES)[0]
    assert open_id in stored.live and len(stored.doc["counts"]["day"]) > 0
    assert r.hget(keys.kpi_incidents(local_day(TODAY_START)), "members") is None  # today: raw
    kpi_incident_days.forget()  # a fresh process: the stored tables, decoded
    _assert_same(r, cov, some=True)

    # an incident of a stored day closes after its day closed: its figures move, and the day
    # is built again with it settled
    done = incidents.transition(
        r, open_id, "rejected", ["reported"], by="t", at_ms=NOW - 60_000, closes=True
    )
    assert done.ok
    _assert_same(r, cov, some=True)
    again = kpi_incident_days.day_tables(r, [local_day(day[0])], NOW, RULES)[0]
    assert open_id not in again.live and again.stamp != stored.stamp

    # an import into a stored day (simulated history, another system's past cases)
    before = r.hget(keys.kpi_incidents(local_day(day[0])), "stamp")
    _past_incident(r, day[0] + 5 * 3_600_000, "INC-T-LATE")
    _assert_same(r, cov, some=True)
    assert r.hget(keys.kpi_incidents(local_day(day[0])), "stamp") != before


def test_a_stored_day_is_built_again_when_the_deadlines_change(
    r: redis.Redis, geo: Geography
) -> None:
    history.fill(r, geo, history.demo_fleet(geo, 3), 3, NOW, seed=7, per_day=20)
    past = local_day(TODAY_START - DAY)
    first = kpi_incident_days.day_tables(r, [past], NOW, RULES)[0]
    r.hset(keys.kpi_incidents(past), "rules", "other deadlines")
    assert kpi_incident_days.day_tables(r, [past], NOW, RULES)[0].stamp != first.stamp


def test_closing_a_day_stores_its_incident_tables(r: redis.Redis) -> None:
    past = local_day(TODAY_START - DAY)
    start, _end = day_bounds_ms(past)
    _past_incident(r, start + 3_600_000, "INC-T-1")
    r.hset(keys.RAN_DAYS, past, start)  # the system ran that day
    assert day_close.close_day(r, past, TODAY_START + day_close.GRACE_MS + 1, RULES)
    assert r.hget(keys.kpi_incidents(past), "members") == b"1"
    assert r.hget(keys.kpi_incidents(past), "live") == b'["INC-T-1"]'  # still open
