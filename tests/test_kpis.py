"""domain/kpis.py and domain/kpi_frames.py on small hand-built datasets: every expected number is
worked out by hand in the comments. Percentiles: linear interpolation between closest ranks
(pandas' default): p at position (n - 1) * q of the sorted list."""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.coverage_places import Place
from domain.incidents import (
    CLOCKS,
    State,
    Timeline,
    load_rules,
    next_states,
    record_deadlines_missed,
)
from domain.kpi_frames import (
    DAY_MS,
    HOUR_MS,
    combine_daily,
    daily_aggregate,
    day_bounds_ms,
    incident_counts,
    incidents_frame,
    local_days,
    select,
    settles_at_ms,
)
from domain.kpis import (
    _holds,
    coverage_by_day,
    handling_rate,
    incident_figures,
    response_times,
    units_on_duty_by_hour,
    water_points,
    water_quality,
    workload,
)
from domain.water_quality import breaches, class_limits

RULES = load_rules()
T0 = day_bounds_ms("20260501")[0]  # local midnight = 2026-04-30 16:00 UTC
S = 1000


def rec(
    iid: str,
    *,
    priority: int = 1,
    source: str = "citizen_report",
    departments: tuple[str, ...] = ("eco_environment",),
    subdistrict: str = "dapeng",
    units: tuple[str, ...] = (),
    released: tuple[str, ...] = (),
    base: int = T0,
    **at_s: int,
) -> dict[str, Any]:
    """A record as store.incidents.read returns it; `at_s`: seconds after `base` at which it
    first entered each state; its state is the last one entered."""
    at = {f"at_{k}": base + v * S for k, v in at_s.items()}
    state = max(at_s, key=lambda k: at_s[k]) if at_s else "reported"
    return {
        "id": iid,
        "type": "waste_dumping",
        "source": source,
        "priority": priority,
        "domain": "land",
        "lat": 22.55,
        "lon": 114.5,
        "subdistrict": subdistrict,
        "departments": list(departments),
        "units": list(units),
        "released_units": list(released),
        "state": state,
        "created_ms": base,
        **at,
    }


def test_the_deadlines_these_tests_assume() -> None:
    d1, d3 = RULES.deadlines[1], RULES.deadlines[3]
    assert (d1.assign_s, d1.arrive_s, d1.handle_s) == (300, 1200, 7200)
    assert (d3.assign_s, d3.arrive_s, d3.handle_s) == (3600, 14400, 259200)


# Five urgent incidents (priority 1: assign 300 s, arrive 1200 s, handle 7200 s from the report),
# seen at now = T0 + 10000 s. Times in seconds after T0.
FIVE = [
    # A: all in time (handle 3000)
    rec("A", reported=0, assigned=100, on_scene=600, handled=3000, closed=4000, released=("u1",)),
    # B: handled exactly at the deadline (7200 is not "past" it: met)
    rec(
        "B",
        source="sensor_alert",
        departments=("water",),
        subdistrict="kuichong",
        reported=0,
        assigned=200,
        on_scene=1000,
        handled=7200,
        released=("u1", "u2"),
    ),
    # C: assigned late (400 > 300), arrived late (1600 > 1200), handled in time (5000)
    rec(
        "C",
        subdistrict="nanao",
        reported=0,
        assigned=400,
        on_scene=2000,
        handled=5000,
        released=("u3",),
    ),
    # D: arrived late (1250), handled late (8000 > 7200)
    rec(
        "D",
        source="patrol_finding",
        reported=0,
        assigned=250,
        on_scene=1500,
        handled=8000,
        closed=9000,
        released=("u2",),
    ),
    # E: reported at 5000, assigned at 5100, still open: handle clock 5000 s (open), arrive
    # clock 4900 s running (missed)
    rec("E", departments=("water", "eco_environment"), reported=5000, assigned=5100, units=("u1",)),
]
NOW = T0 + 10_000 * S


@pytest.fixture
def five() -> pd.DataFrame:
    return incidents_frame(FIVE, NOW, RULES)


def test_frame_columns_and_statuses(five: pd.DataFrame) -> None:
    f = five.set_index("id")
    assert list(f["assign_status"]) == ["met", "met", "missed", "met", "met"]
    assert list(f["arrive_status"]) == ["met", "met", "missed", "missed", "missed"]
    assert list(f["handle_status"]) == ["met", "met", "met", "missed", "open"]
    assert f.loc["C", "report_to_assigned_s"] == 400
    assert f.loc["D", "assigned_to_on_scene_s"] == 1250
    assert f.loc["A", "on_scene_to_handled_s"] == 2400
    assert pd.isna(f.loc["E", "assigned_to_on_scene_s"])
    assert f.loc["E", "department"] == "water"  # lead = first owning department
    assert f.loc["B", "units"] == ["u1", "u2"]  # released units still served it
    assert set(f["day"]) == {"20260501"}


def test_handling_rate_by_hand(five: pd.DataFrame) -> None:
    hr = handling_rate(five)
    # received 5; in time A, B, C; late D; E open in time -> 3 / 5
    assert hr["overall"] == {
        "reported": 5,
        "rejected": 0,
        "transferred": 0,
        "received": 5,
        "handled_in_time": 3,
        "handled_late": 1,
        "overdue": 0,
        "pending": 1,
        "n": 5,
        "rate": 0.6,
        "target": 1.0,
    }
    by = {k: hr[f"by_{k}"].set_index(k) for k in ("source", "department", "subdistrict")}
    # citizen: A, C in time, E open -> 2/3; sensor: B -> 1/1; patrol: D late -> 0/1
    assert by["source"]["rate"].to_dict() == {
        "citizen_report": 2 / 3,
        "patrol_finding": 0.0,
        "sensor_alert": 1.0,
    }
    assert by["source"]["n"].to_dict() == {
        "citizen_report": 3,
        "patrol_finding": 1,
        "sensor_alert": 1,
    }
    # eco leads A, C, D -> 2/3; water leads B, E -> 1/2
    assert by["department"]["rate"].to_dict() == {"eco_environment": 2 / 3, "water": 0.5}
    # dapeng: A, D, E -> 1/3; kuichong: B; nanao: C
    assert by["subdistrict"]["rate"].to_dict() == {"dapeng": 1 / 3, "kuichong": 1.0, "nanao": 1.0}


def test_response_times_by_hand(five: pd.DataFrame) -> None:
    rt = response_times(five)
    got = {r["interval"]: (r["n"], r["median_s"], r["p90_s"]) for r in rt["intervals"]}
    # report->assigned [100, 100, 200, 250, 400]: median 200; p90 at 3.6: 250 + .6 * 150
    assert got["report_to_assigned_s"] == pytest.approx((5, 200, 340))
    # assigned->on scene [500, 800, 1250, 1600]: median 1025; p90 at 2.7: 1250 + .7 * 350
    assert got["assigned_to_on_scene_s"] == pytest.approx((4, 1025, 1495))
    # on scene->handled [2400, 3000, 6200, 6500]: median 4600; p90 at 2.7: 6200 + .7 * 300
    assert got["on_scene_to_handled_s"] == pytest.approx((4, 4600, 6410))
    dl = {r["deadline"]: (r["n"], r["missed"], r["share_missed"]) for r in rt["deadlines"]}
    # assign: C; arrive: C, D, E (running); handle: D
    assert dl == {"assign": (5, 1, 0.2), "arrive": (5, 3, 0.6), "handle": (5, 1, 0.2)}
    assert set(rt["trend"]["day"]) == {"20260501"}
    assert rt["trend"].set_index("interval").loc["report_to_assigned_s", "median_s"] == 200


def test_no_incidents_gives_n_zero_and_no_rate() -> None:
    empty = incidents_frame([], NOW, RULES)
    hr = handling_rate(empty)
    assert hr["overall"]["n"] == 0 and hr["overall"]["rate"] is None
    assert hr["by_source"].empty
    rt = response_times(empty)
    assert all(
        r["n"] == 0 and r["median_s"] is None and r["p90_s"] is None for r in rt["intervals"]
    )
    assert all(r["share_missed"] is None for r in rt["deadlines"])
    assert rt["trend"].empty and rt["deadline_trend"].empty
    wl = workload(empty)
    assert wl["n"] == 0 and wl["per_unit"].empty and wl["per_department"].empty
    assert daily_aggregate(empty, "20260501")["counts"] == []


def test_all_late_is_zero_not_none() -> None:
    late = [rec(str(i), reported=0, assigned=10, on_scene=20, handled=7201 + i) for i in range(3)]
    hr = handling_rate(incidents_frame(late, NOW, RULES))
    assert (hr["overall"]["n"], hr["overall"]["handled_late"], hr["overall"]["rate"]) == (3, 3, 0)


def test_open_past_deadline_is_overdue() -> None:
    # reported at 0, assigned at 100, now 10000 > 7200: overdue; assign met, arrive missed
    f = incidents_frame([rec("X", reported=0, assigned=100)], NOW, RULES)
    assert handling_rate(f)["overall"]["overdue"] == 1
    assert list(f.iloc[0][["assign_status", "arrive_status", "handle_status"]]) == [
        "met",
        "missed",
        "missed",
    ]


def test_rejected_and_transferred_are_not_received() -> None:
    timeline = [
        {"from": "", "to": "reported"},
        {"from": "triaged", "to": "transferred", "extra": '{"department": "water"}'},
    ]
    records = [
        rec("R", reported=0, triaged=60, rejected=120),
        # transferred away by eco at 200 s: figures stay with eco, the target is recorded
        {**rec("T", reported=0, triaged=60, transferred=200), "timeline": timeline},
        # the case water opened for it (source transfer), handled in time
        rec(
            "W",
            source="transfer",
            departments=("water",),
            reported=300,
            assigned=400,
            on_scene=900,
            handled=2000,
        ),
    ]
    f = incidents_frame(records, NOW, RULES)
    t = f.set_index("id").loc["T"]
    assert (t["department"], t["transferred_to"], t["handle_status"]) == (
        "eco_environment",
        "water",
        "ended",
    )
    hr = handling_rate(f)
    assert (
        hr["overall"]["reported"],
        hr["overall"]["rejected"],
        hr["overall"]["transferred"],
        hr["overall"]["n"],
        hr["overall"]["rate"],
    ) == (3, 1, 1, 1, 1.0)
    dept = hr["by_department"].set_index("department")
    assert dept.loc["eco_environment", "n"] == 0 and dept.loc["eco_environment", "rate"] is None
    assert dept.loc["water", "rate"] == 1.0
    # their clocks were stopped in time by the final state: started, not missed
    rt = response_times(f)
    assert {r["deadline"]: r["missed"] for r in rt["deadlines"]} == {
        "assign": 0,
        "arrive": 0,
        "handle": 0,
    }


def test_period_boundaries() -> None:
    end = T0 + DAY_MS
    records = [
        rec("before", base=T0 - 1, reported=0),
        rec("first", base=T0, reported=0),
        rec("last", base=end - 1, reported=0),
        rec("after", base=end, reported=0),
    ]
    f = incidents_frame(records, end + HOUR_MS, RULES)
    assert list(select(f, T0, end)["id"]) == ["first", "last"]
    assert list(select(f, T0, end, department="water")["id"]) == []
    assert list(select(f, source=["citizen_report"], subdistrict="dapeng")["id"]) == [
        "before",
        "first",
        "last",
        "after",
    ]


def test_local_day_turns_at_16_utc() -> None:
    assert T0 % DAY_MS == 16 * HOUR_MS
    assert list(local_days(pd.Series([T0 - 1, T0, T0 + DAY_MS - 1]))) == [
        "20260430",
        "20260501",
        "20260501",
    ]
    f = incidents_frame(
        [
            rec("a", base=T0 - 1, reported=0, assigned=60),
            rec("b", base=T0, reported=0, assigned=120),
        ],
        NOW,
        RULES,
    )
    trend = response_times(f)["trend"].set_index("day")
    assert trend["median_s"].to_dict() == {"20260430": 60, "20260501": 120}


def test_workload() -> None:
    wl = workload(incidents_frame(FIVE, NOW, RULES))
    # u1 on A, B, E; u2 on B, D; u3 on C
    assert wl["per_unit"].values.tolist() == [["u1", 3], ["u2", 2], ["u3", 1]]
    # eco leads A, C, D and joins E; water leads B, E
    assert wl["per_department"].set_index("department").to_dict("index") == {
        "eco_environment": {"lead": 3, "involved": 4},
        "water": {"lead": 2, "involved": 2},
    }
    assert (wl["n"], wl["n_without_units"]) == (5, 0)


def test_units_on_duty_by_hour() -> None:
    h0 = T0
    m = 60 * S
    events = [
        ("a", h0 + 30 * m, "available"),
        ("a", h0 + 90 * m, "off_duty"),
        ("b", h0 - 60 * m, "on_scene"),
        ("b", h0 + 135 * m, "dispatched"),  # on throughout
        ("c", h0 - 10 * m, "off_duty"),
        ("c", h0 + 165 * m, "available"),
        ("d", h0 + 200 * m, "available"),  # after the window
    ]
    out = units_on_duty_by_hour(events, h0, h0 + 3 * HOUR_MS)
    assert list(out["local_hour"]) == ["20260501 00:00", "20260501 01:00", "20260501 02:00"]
    # hour 0: a 30 min, b 60; hour 1: a 30, b 60; hour 2: b 15 + 45, c 15
    assert list(out["units"]) == [2, 2, 2]
    assert list(out["unit_hours"]) == [1.5, 1.5, 1.25]
    assert list(units_on_duty_by_hour([], h0, h0 + HOUR_MS)["units"]) == [0]


def test_coverage_by_day() -> None:
    places = [
        Place("L1", "land", "", "dapeng", "", 24),
        Place("L2", "land", "", "nanao", "", 24),
        Place("C1", "coast", "", "dapeng", "", 24),
        Place("S1", "sea", "", "nanao", "", 24),
    ]
    out = coverage_by_day({"20260501": {"L1", "C1", "elsewhere"}, "20260502": set()}, places)
    got = out.set_index(["day", "scope", "kind"])
    assert got.loc[("20260501", "district", "land"), ["covered", "total", "percent"]].tolist() == [
        1,
        2,
        50.0,
    ]
    assert got.loc[("20260501", "district", "coast"), "percent"] == 100.0
    assert got.loc[("20260501", "district", "sea"), "percent"] == 0.0
    assert got.loc[("20260501", "dapeng", "sea"), "percent"] is None  # none to patrol
    assert got.loc[("20260502", "district", "land"), "percent"] == 0.0
    assert set(out["target_percent"]) == {100.0}
    assert len(out) == 2 * 3 * 3  # days x (district, dapeng, nanao) x kinds


def test_water_quality_against_class_i() -> None:
    d1, d2 = T0 + HOUR_MS, T0 + DAY_MS + HOUR_MS
    sensors = {
        "SEA": {
            "kind": "seawater",
            "water_class": "II",
            "subdistrict": "nanao",
            "name": "sea point",
        },
        "FW": {"kind": "surface_water", "water_class": "III"},
        "AIR": {"kind": "air"},
    }
    readings = {
        "SEA": [
            {"ts": d1, "v.pH": 8.0, "v.dissolved_oxygen": 7.0},  # within class I
            {"ts": d1 + 1, "v.pH": 8.6, "v.dissolved_oxygen": 7.0},  # pH above 8.5
            {"ts": d2, "v.pH": 8.1, "v.dissolved_oxygen": 6.5},  # within
            {"ts": d2 + 1, "v.pH": 8.2},  # within (only pH)
            {"ts": d2 + 2, "v.temperature": 30.0},
        ],  # nothing class I defines: not counted
        "FW": [
            {"ts": str(d1), "v.pH": "7.0", "v.dissolved_oxygen": "4.0"},  # DO < 5 (III)
            {"ts": str(d1 + 1), "v.pH": "7.2", "v.dissolved_oxygen": "6"},
        ],
        "AIR": [{"ts": d1, "v.pm25": 80.0}],
    }
    wq = water_quality(readings, sensors)
    pts = wq["points"].set_index("sensor_id")
    assert set(pts.index) == {"SEA", "FW"}
    # SEA: 4 judged, 3 within; day 1 has a breach, day 2 none -> 1 of 2 days
    assert pts.loc[
        "SEA", ["water_class", "n", "within", "share", "days", "days_within", "day_share"]
    ].tolist() == ["I", 4, 3, 0.75, 2, 1, 0.5]
    assert pts.loc["FW", ["water_class", "n", "within", "share"]].tolist() == ["III", 2, 1, 0.5]
    by_day = wq["breaches_by_day"].set_index(["day", "sensor_id"])[["n", "breaches"]]
    assert by_day.loc[("20260501", "SEA")].tolist() == [2, 1]
    assert by_day.loc[("20260502", "SEA")].tolist() == [2, 0]
    # day rows stored one by one (as JSON) give the same points back
    stored = [
        orjson.loads(orjson.dumps(row))
        for row in wq["breaches_by_day"].astype(object).to_dict("records")
    ]
    pd.testing.assert_frame_equal(
        water_points(pd.DataFrame(stored)), wq["points"], check_dtype=False
    )
    none = water_quality({}, sensors)
    assert none["points"].empty and none["breaches_by_day"].empty


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([("seawater", "I"), ("surface_water", "III"), ("seawater", "IV")]),
    st.lists(st.floats(-1, 20, allow_nan=False), min_size=1, max_size=20),
)
def test_vector_judging_agrees_with_the_domain(
    standard: tuple[str, str], values: list[float]
) -> None:
    kind, cls = standard
    for name, limit in class_limits(kind, cls).items():
        got = _holds(limit, pd.Series(values)).tolist()
        assert got == [not breaches(kind, cls, {name: v}) for v in values]


def test_daily_aggregates_give_the_same_figures() -> None:
    day2 = T0 + DAY_MS
    records = [
        *FIVE,
        rec("F", base=day2, reported=0, assigned=200, on_scene=800, handled=1000, units=("u4",)),
        rec("G", base=day2, source="hotline", reported=0, rejected=50),
    ]
    now = day2 + 10_000 * S
    f = incidents_frame(records, now, RULES)
    stored = orjson.loads(orjson.dumps(daily_aggregate(f, "20260501")))  # as kept in Redis
    base = combine_daily([stored], f)
    direct_hr, direct_rt = handling_rate(f), response_times(f)
    got = incident_figures(base)
    assert got["handling_rate"]["overall"] == direct_hr["overall"]
    assert got["response_times"]["intervals"] == direct_rt["intervals"]
    assert got["response_times"]["deadlines"] == direct_rt["deadlines"]
    pd.testing.assert_frame_equal(got["handling_rate"]["by_source"], direct_hr["by_source"])
    # one day and a filter: day 2 has F (in time) and G (rejected)
    day2_only = incident_figures(base, from_day="20260502", to_day="20260502")
    assert day2_only["handling_rate"]["overall"]["n"] == 1
    water = incident_figures(base, department="water")
    assert water["handling_rate"]["overall"]["rate"] == 0.5  # B in time, E open
    # a stored day wins over raw records of it (which may have been trimmed)
    assert (
        incident_figures(combine_daily([stored], f.iloc[5:]))["handling_rate"]["overall"]
        == direct_hr["overall"]
    )
    assert settles_at_ms("20260501", RULES) == T0 + DAY_MS + 259_200 * S


def test_times_taken_from_a_track_add_up_across_stored_days() -> None:
    """The incidents' times_by_track / times_flagged counters (domain/report_times.py) are
    summed in the response times; a stored day written before the counters existed adds 0."""
    day2 = T0 + DAY_MS
    corrected = {"times_by_track": 2, "times_flagged": 1}  # as store.incidents.read types them
    records = [
        {**rec("A", reported=0, assigned=100, on_scene=600), **corrected},
        rec("B", reported=0, assigned=100),  # no counters: an older record
        {**rec("F", base=day2, reported=0, assigned=200, on_scene=800), "times_flagged": 1},
    ]
    f = incidents_frame(records, day2 + 10_000 * S, RULES)
    rt = response_times(f)
    assert (rt["times_by_track"], rt["times_flagged"]) == (2, 2)
    stored = orjson.loads(orjson.dumps(daily_aggregate(f, "20260501")))
    assert sum(row["times_by_track"] for row in stored["counts"]) == 2
    got = incident_figures(combine_daily([stored], f))["response_times"]
    assert (got["times_by_track"], got["times_flagged"]) == (2, 2)
    for row in stored["counts"]:  # as a day closed before this change was stored
        del row["times_by_track"], row["times_flagged"]
    old = incident_figures(combine_daily([stored], f))["response_times"]
    assert (old["times_by_track"], old["times_flagged"]) == (0, 1)  # day 2's raw record only
    assert response_times(incidents_frame([], day2, RULES))["times_by_track"] == 0


# -- properties ------------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    """A legal history walked through the domain's Timeline, as the store would record it."""
    t, at = T0, draw(st.integers(0, 3 * DAY_MS))
    tl = Timeline()
    tl.open("x", t + at)
    for _ in range(draw(st.integers(0, 8))):
        options = next_states(tl.state)  # type: ignore[arg-type]
        if not options:
            break
        forward = [s for s in options if s not in (State.REJECTED, State.TRANSFERRED)]
        if forward and draw(st.integers(0, 9)):  # mostly forward, sometimes out
            options = forward
        at += draw(st.integers(0, 4 * HOUR_MS))
        tl.apply(
            draw(st.sampled_from(options)),
            by="x",
            at_ms=t + at,
            reason="r",
            department="water",
            owner="eco_environment",
        )
    entered: dict[str, int] = {}
    for step in tl.transitions:
        entered.setdefault(f"at_{step.to_state.value}", step.at_ms)
    return {
        "id": str(draw(st.integers())),
        "source": draw(st.sampled_from(["citizen_report", "sensor_alert", "patrol_finding"])),
        "priority": draw(st.sampled_from([1, 2, 3])),
        "departments": ["eco_environment"],
        "subdistrict": draw(st.sampled_from(["dapeng", "nanao"])),
        "state": tl.state.value,
        "created_ms": t,
        **entered,
    }


@settings(max_examples=80, deadline=None)
@given(st.lists(histories(), max_size=15), st.integers(0, 5 * DAY_MS))
def test_figures_are_consistent(records: list[dict[str, Any]], later: int) -> None:
    now = T0 + later
    f = incidents_frame(records, now, RULES)
    assert len(f) == len(records)
    # the statuses agree with the domain's own deadline check, record by record
    for r, (_i, row) in zip(records, f.iterrows(), strict=True):
        missed = {c for c in CLOCKS if row[f"{c}_status"] == "missed"}
        assert missed == set(record_deadlines_missed(r, RULES, now))
    counts = incident_counts(f)
    assert int(counts["reported"].sum()) == len(records)
    parts = ["handled_in_time", "handled_late", "overdue", "pending"]
    assert (counts[parts].sum(axis=1) == counts["received"]).all()
    hr = handling_rate(f)
    assert hr["overall"]["n"] == hr["overall"]["received"] <= len(records)
    rates = [hr["overall"]["rate"], *hr["by_source"]["rate"], *hr["by_subdistrict"]["rate"]]
    assert all(x is None or 0 <= x <= 1 for x in rates)
    assert (hr["overall"]["rate"] is None) == (hr["overall"]["n"] == 0)
    for r in response_times(f)["deadlines"]:
        assert r["n"] <= len(records)
        assert r["share_missed"] is None or 0 <= r["share_missed"] <= 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(0, 6 * HOUR_MS),
            st.sampled_from(["available", "on_scene", "off_duty"]),
        ),
        max_size=20,
    ),
    st.integers(0, 3 * HOUR_MS),
    st.integers(1, 4 * HOUR_MS),
)
def test_units_on_duty_bounds(events: list[tuple[str, int, str]], start: int, length: int) -> None:
    out = units_on_duty_by_hour(
        [(u, T0 + ts, s) for u, ts, s in events], T0 + start, T0 + start + length
    )
    assert len(out) == -(-(T0 + start + length) // HOUR_MS) - (T0 + start) // HOUR_MS
    assert (out["units"] <= len({u for u, _ts, _s in events})).all()
    assert (out["unit_hours"] <= out["units"] + 1e-9).all()
    assert (out["unit_hours"] >= 0).all()
