"""The KPI page's pure builders on a small hand-made report: the period bounds, the tile numbers,
the chart traces and the CSV exports (exactly the chart's rows, Excel-readable, no formulas)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from dash import html

from domain.vocab import LOCAL_TZ
from tests.helpers import local_date, local_ms
from views.coverage import KIND_COLOURS
from views.kpi import (
    duration,
    headline,
    period_bounds,
    period_dates,
    simulated_note,
    tiles_view,
)
from views.kpi_charts import CHARTS, TOP_UNITS, chart_figure, chart_n, chart_table, table_csv

NOW = int(dt.datetime(2026, 11, 5, 14, 30, tzinfo=LOCAL_TZ).timestamp() * 1000)


def _midnight(y: int, m: int, d: int) -> int:
    return int(dt.datetime(y, m, d, tzinfo=LOCAL_TZ).timestamp() * 1000)


def _rate(key: str, value: str, n: int, in_time: int, **more: int) -> dict[str, Any]:
    row = {
        "reported": n,
        "rejected": 0,
        "transferred": 0,
        "received": n,
        "handled_in_time": in_time,
        "handled_late": 0,
        "overdue": 0,
        "pending": n - in_time,
        "n": n,
        "rate": in_time / n if n else None,
        "target": 1.0,
        **more,
    }
    return {key: value, **row} if key else row


def report() -> dict[str, Any]:
    """Two days, four received incidents (three in time), two near-shore points and a river."""
    cov = [
        {
            "day": day,
            "scope": "district",
            "kind": kind,
            "covered": covered,
            "total": total,
            "percent": 100 * covered / total,
            "target_percent": 100.0,
        }
        for day, kind, covered, total in (
            ("20261104", "land", 5, 10),
            ("20261104", "coast", 4, 4),
            ("20261104", "sea", 1, 4),
            ("20261105", "land", 10, 10),
            ("20261105", "coast", 2, 4),
            ("20261105", "sea", 3, 4),
        )
    ]
    point = {"water_class": "I", "subdistrict": "nanao", "days": 2}
    return {
        "from_ms": _midnight(2026, 11, 4),
        "to_ms": NOW,
        "generated_ms": NOW,
        "days": ["20261104", "20261105"],
        "filters": {"department": None, "subdistrict": None},
        "incidents": {"n": 5, "simulated": 2},
        "handling_rate": {
            "overall": _rate("", "", 4, 3, rejected=1, reported=5),
            "by_source": [
                _rate("source", "citizen_report", 3, 2),
                _rate("source", "hotline", 1, 1),
            ],
            "by_department": [_rate("department", "=cmd|' /C calc'!A0", 4, 3)],
            "by_subdistrict": [
                _rate("subdistrict", "nanao", 4, 3),
                _rate("subdistrict", "dapeng", 0, 0),
            ],
        },
        "response_times": {
            "intervals": [
                {"interval": "report_to_assigned_s", "n": 4, "median_s": 300.0, "p90_s": 600.0},
                {"interval": "assigned_to_on_scene_s", "n": 3, "median_s": 45.0, "p90_s": 7200.0},
                {"interval": "on_scene_to_handled_s", "n": 0, "median_s": None, "p90_s": None},
            ],
            "deadlines": [
                {"deadline": "assign", "n": 5, "missed": 1, "share_missed": 0.2},
                {"deadline": "arrive", "n": 4, "missed": 0, "share_missed": 0.0},
                {"deadline": "handle", "n": 0, "missed": 0, "share_missed": None},
            ],
            "trend": [
                {
                    "day": "20261104",
                    "interval": "report_to_assigned_s",
                    "n": 2,
                    "median_s": 120.0,
                    "p90_s": 600.0,
                },
                {
                    "day": "20261105",
                    "interval": "report_to_assigned_s",
                    "n": 2,
                    "median_s": 480.0,
                    "p90_s": 540.0,
                },
            ],
            "deadline_trend": [
                {
                    "day": "20261104",
                    "deadline": "assign",
                    "n": 3,
                    "missed": 1,
                    "share_missed": 1 / 3,
                }
            ],
        },
        "workload": {
            "n": 5,
            "n_without_units": 1,
            "per_unit": [{"unit": f"U-{i:02d}", "incidents": 20 - i} for i in range(18)]
            + [{"unit": "@SUM(A1)", "incidents": 1}],
            "per_department": [{"department": "water", "lead": 4, "involved": 5}],
        },
        "on_duty": [
            {"hour_ms": NOW, "local_hour": "20261105 14:00", "units": 7, "unit_hours": 5.5}
        ],
        "coverage": cov,
        "water": {
            "points": [
                {
                    "sensor_id": "S1",
                    "name": "西涌",
                    "kind": "seawater",
                    "n": 100,
                    "within": 90,
                    "share": 0.9,
                    "days_within": 1,
                    "day_share": 0.5,
                    **point,
                },
                {
                    "sensor_id": "S2",
                    "name": "东涌",
                    "kind": "seawater",
                    "n": 100,
                    "within": 100,
                    "share": 1.0,
                    "days_within": 2,
                    "day_share": 1.0,
                    **point,
                },
                {
                    "sensor_id": "R1",
                    "name": "葵涌河",
                    "kind": "surface_water",
                    "n": 50,
                    "within": 10,
                    "share": 0.2,
                    "days_within": 0,
                    "day_share": 0.0,
                    **{**point, "water_class": "III"},
                },
            ],
            "breaches_by_day": [
                {"day": "20261104", "sensor_id": "S1", "kind": "seawater", "n": 50, "breaches": 10},
                {"day": "20261104", "sensor_id": "S2", "kind": "seawater", "n": 50, "breaches": 0},
                {
                    "day": "20261104",
                    "sensor_id": "R1",
                    "kind": "surface_water",
                    "n": 25,
                    "breaches": 20,
                },
            ],
        },
    }


def _text(component: Any) -> str:
    """The visible text of a Dash component tree."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    children = getattr(component, "children", None)
    return "" if children is None else _text(children)


# -- periods -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "days_back"),
    [
        ("today", 0),
        ("7d", 6),
        ("30d", 29),
        ("forged", 6),
        (None, 6),
        ("custom", 6),
    ],
)
def test_periods_are_whole_local_days_up_to_now(period: Any, days_back: int, instant: int) -> None:
    first = local_date(instant) - dt.timedelta(days=days_back)
    assert period_bounds(period, None, None, instant) == (local_ms(first), instant)
    assert period_dates(period, instant) == (str(first), str(local_date(instant)))


def test_a_custom_range_runs_from_its_first_to_the_end_of_its_last_date() -> None:
    assert period_bounds("custom", "2026-10-01", "2026-10-03", NOW) == (
        _midnight(2026, 10, 1),
        _midnight(2026, 10, 4),
    )
    # dates the wrong way round, or ending after today: swapped, and capped at now
    assert period_bounds("custom", "2026-11-09", "2026-11-02T00:00:00", NOW) == (
        _midnight(2026, 11, 2),
        NOW,
    )
    assert period_bounds("custom", "2027-01-01", "2027-01-05", NOW) == (_midnight(2026, 11, 5), NOW)
    start, end = period_bounds("custom", "2020-01-01", "2026-10-31", NOW)
    assert end == _midnight(2026, 11, 1) and (end - start) // 86_400_000 == 400
    assert period_bounds("custom", "yesterday", "2026-10-31", NOW)[0] == _midnight(2026, 10, 30)


# -- tiles ---------------------------------------------------------------------------------------


def test_the_headline_numbers() -> None:
    h = headline(report())
    assert h["rate"]["rate"] == 0.75 and h["rate"]["n"] == 4
    assert [i["median_s"] for i in h["intervals"]] == [300.0, 45.0, None]
    # coverage: the average of the days' shares (50% and 100% of land), not of the places
    assert h["coverage"]["land"] == {"share": 0.75, "days": 2, "covered": 7.5, "total": 10}
    assert h["coverage"]["sea"]["share"] == 0.5
    # water: near-shore readings only (the river is judged against its own class elsewhere)
    assert h["water"] == {
        "points": 2,
        "n": 200,
        "within": 190,
        "share": 0.95,
        "days": 4,
        "days_within": 3,
        "day_share": 0.75,
    }


def test_tiles_show_value_target_and_n() -> None:
    tiles = tiles_view(report(), "zh")
    text = [_text(tile) for tile in tiles]
    assert len(tiles) == 9
    assert "75.0%" in text[0] and "目标 100%" in text[0] and "n = 4 件受理" in text[0]
    assert "办理中 1" in text[0] and "超期未办 0" in text[0]
    assert "5.0 分钟" in text[1] and "10.0 分钟" in text[1] and "n = 4 件" in text[1]
    assert "45 秒" in text[2] and "2.0 小时" in text[2]
    assert "—" in text[3] and "n = 0 件" in text[3]  # nothing to measure: no number
    assert "20.0%" in text[4] and "n = 5" in text[4] and "—" in text[4]
    assert "75%" in text[5] and "2 天平均" in text[5] and "日均已巡 8 / 共 10 处" in text[5]
    assert "95.0%" in text[8] and "n = 200 次读数" in text[8] and "3 / 4" in text[8]
    assert "ec-kpi-low" in tiles[0].className and "ec-kpi-near" in tiles[8].className
    assert tiles[0].title.startswith("处理率 = ")  # the definition on hover
    assert "Handling rate" in _text(tiles_view(report(), "en")[0])


def test_durations_read_in_seconds_minutes_or_hours() -> None:
    assert [duration(s, "en") for s in (None, 59, 90, 3599, 5400)] == [
        "—",
        "59 s",
        "1.5 min",
        "60.0 min",
        "1.5 h",
    ]


def test_the_simulated_note() -> None:
    rep = report()
    assert simulated_note(rep, "zh") == "含 2 件模拟历史案件（演示数据）"
    rep["incidents"]["simulated"] = 0
    assert simulated_note(rep, "zh") == ""


# -- charts --------------------------------------------------------------------------------------


def test_every_chart_draws_from_the_report_and_says_its_n() -> None:
    rep = report()
    for name in CHARTS:
        fig = chart_figure(name, rep, "zh")
        assert fig.data, name
        key, n = chart_n(name, rep)
        assert key.startswith("kpis.n.") and n >= 0
    assert chart_n("rate_source", rep) == ("kpis.n.received", 4)
    assert chart_n("coverage", rep) == ("kpis.n.places", 18)  # places of the last day
    assert chart_n("water_points", rep) == ("kpis.n.readings", 250)


def test_handling_rate_bars_carry_n_and_the_target_line() -> None:
    fig = chart_figure("rate_source", report(), "zh")
    (bar,) = fig.data
    assert list(bar.x) == ["群众举报", "热线"]
    assert list(bar.y) == pytest.approx([66.7, 100.0])
    assert bar.text[0] == "66.7%<br>n=3"
    (target,) = fig.layout.shapes
    assert target.y0 == target.y1 == 100 and target.line.dash == "dash"
    # a group with nothing received has no rate (no bar), not 0 %
    sub = chart_figure("rate_subdistrict", report(), "zh").data[0]
    assert list(sub.y) == [75.0, None] and sub.text[1] == "—%<br>n=0"


def test_trend_charts_have_one_line_per_interval_deadline_and_kind() -> None:
    times = chart_figure("times", report(), "zh")
    assert len(times.data) == 6  # median and p90 for each of the three intervals
    median = times.data[0]
    assert list(median.x) == ["2026-11-04", "2026-11-05"] and list(median.y) == [2.0, 8.0]
    assert times.data[1].line.dash == "dot"
    cov = chart_figure("coverage", report(), "zh")
    assert [tr.line.color for tr in cov.data] == list(KIND_COLOURS.values())
    assert list(cov.data[0].y) == [50.0, 100.0]
    assert cov.layout.shapes[0].y0 == 100
    assert [tr.name for tr in chart_figure("deadlines", report(), "en").data] == [
        "Assign",
        "Arrive",
        "Handle",
    ]


def test_workload_units_and_water() -> None:
    units = chart_table("units", report(), "zh")
    assert len(units.rows) == TOP_UNITS
    assert units.rows[0] == {"unit": "U-00", "name": "U-00", "incidents": 20}  # no name: its id
    dept = chart_figure("departments", report(), "zh")
    assert [tr.y[0] for tr in dept.data] == [4, 5] and dept.data[0].x[0] == "水务"
    points = chart_table("water_points", report(), "zh")
    assert [r["name"] for r in points.rows] == ["东涌", "西涌", "葵涌河"]  # sea first
    breaches = chart_table("water_breaches", report(), "zh").rows
    assert breaches == [
        {
            "day": "2026-11-04",
            "seawater_n": 100,
            "seawater_breaches": 10,
            "surface_water_n": 25,
            "surface_water_breaches": 20,
        }
    ]


# -- CSV -----------------------------------------------------------------------------------------


def _rows(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")  # Excel reads the Chinese
    return list(csv.reader(io.StringIO(text[1:])))


def test_csv_is_the_chart_table_with_a_bom_and_no_formulas() -> None:
    rep = report()
    table = chart_table("rate_department", rep, "zh")
    text = table_csv(table, "zh")
    assert "\r\n" in text
    head, row = _rows(text)
    assert head == [
        "分组",
        "受理",
        "按时办结",
        "超时办结",
        "超期未办",
        "办理中",
        "不予受理",
        "移交",
        "处理率（%）",
    ]
    # an unknown department key shows as its (untranslated) key, guarded against formulas
    assert row[0].startswith("'=") and row[1:] == ["4", "3", "0", "0", "1", "0", "0", "75.0"]
    units = chart_table(
        "units",
        {
            **rep,
            "workload": {
                **rep["workload"],
                "per_unit": [
                    {"unit": "@SUM(A1)", "incidents": 1},
                    {"unit": "-2+3", "incidents": 2},
                    {"unit": "+1", "incidents": 3},
                    {"unit": "U-1", "incidents": 4},
                ],
            },
        },
        "en",
    )
    rows = _rows(table_csv(units, "en"))
    assert rows[0] == ["Name", "Unit", "Incidents"]
    assert [r[1] for r in rows[1:]] == ["'@SUM(A1)", "'-2+3", "'+1", "U-1"]
    assert [r[0] for r in rows[1:]] == ["'@SUM(A1)", "'-2+3", "'+1", "U-1"]  # no name: the id


def test_each_chart_exports_exactly_its_rows() -> None:
    rep = report()
    for name in CHARTS:
        table = chart_table(name, rep, "zh")
        rows = _rows(table_csv(table, "zh"))
        assert len(rows) == 1 + len(table.rows), name
        assert len({len(r) for r in rows}) == 1, name
    cov = _rows(table_csv(chart_table("coverage", rep, "zh"), "zh"))
    assert cov[1] == ["2026-11-04", "陆域网格", "5", "10", "50.0"]


def test_no_tile_for_an_empty_report_breaks() -> None:
    rep = report()
    rep["coverage"], rep["water"] = [], {"points": [], "breaches_by_day": []}
    rep["handling_rate"]["overall"] = _rate("", "", 0, 0)
    text = _text(tiles_view(rep, "zh"))
    assert "—" in text and "n = 0 件受理" in text
    assert isinstance(tiles_view(rep, "en")[0], html.Div)
    empty = {
        **rep,
        "on_duty": [],
        "response_times": {**rep["response_times"], "trend": [], "deadline_trend": []},
        "workload": {"n": 0, "n_without_units": 0, "per_unit": [], "per_department": []},
        "handling_rate": {**rep["handling_rate"], "by_source": []},
    }
    for name in CHARTS:
        fig = chart_figure(name, empty, "zh")
        if not chart_table(name, empty, "zh").rows:  # "no data", not bare axes (issue 17)
            assert [a.text for a in fig.layout.annotations] == ["暂无数据"], name
            assert fig.layout.xaxis.visible is False and not fig.data, name


def test_a_one_day_trend_ticks_by_day_not_by_millisecond() -> None:
    """Issue 17, defect 9: a trend over one day had ticks like "23:59:59.999"."""
    rep = report()
    rep["coverage"] = [r for r in rep["coverage"] if r["day"] == rep["coverage"][0]["day"]]
    fig = chart_figure("coverage", rep, "zh")
    assert fig.layout.xaxis.tickformat == "%m-%d" and fig.layout.xaxis.dtick == 86_400_000
    day = rep["coverage"][0]["day"]
    first, last = fig.layout.xaxis.range
    assert first < f"{day[:4]}-{day[4:6]}-{day[6:]}" < last
