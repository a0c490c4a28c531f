"""The dispatch and coverage benchmarks at a tiny scale, each on its own fresh Redis: the
report's shape and that the figures are consistent, never timing."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench import coverage as coverage_bench
from bench import dispatch as dispatch_bench
from bench import field as field_bench
from config.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", _env_file=None)


def test_dispatch_benchmark_writes_a_complete_report(tmp_path: Path) -> None:
    out = tmp_path / "dispatch.json"
    dispatch_bench.main(out, _settings(tmp_path), {"units": "300", "queries": "10"})
    doc = orjson.loads(out.read_bytes())
    res = doc["results"]
    assert doc["benchmark"] == "dispatch" and res["units_in_redis"] == 300
    for k in (
        "query",
        "baseline_nearest_10_and_read",
        "without_dispatch_indexes_nearest_2000_and_read",
    ):
        assert 0 < res[k]["p50_ms"] <= res[k]["p95_ms"] <= res[k]["max_ms"]
    assert res["ratio_p95_to_baseline"] > 0
    assert 1 <= res["candidates_per_answer"]["min"] <= res["candidates_per_answer"]["max"] <= 10
    assert 1 <= res["units_read_per_answer"]["median"] <= res["units_read_per_answer"]["max"]
    assert res["units_read_per_answer"]["max"] <= 300
    assert isinstance(res["targets"]["met"], bool)
    ratio_met = res["ratio_p95_to_baseline"] <= 1.5
    assert res["targets"]["p95_at_most_1_5x_baseline"] is ratio_met


def test_coverage_benchmark_writes_a_complete_report(tmp_path: Path) -> None:
    out = tmp_path / "coverage.json"
    coverage_bench.main(
        out,
        _settings(tmp_path),
        {"units": "70", "hours": "0.25", "sample_ticks": "20", "queries": "3"},
    )
    res = orjson.loads(out.read_bytes())["results"]
    pos = res["positions"]
    assert (pos["units"], pos["ticks"]) == (70, 180)
    assert pos["total"] == 70 * 180
    assert res["coverage_step"]["positions"] == 70 * (180 - 20)
    assert res["coverage_step"]["visits"] > 0  # units patrol: places get visited
    assert res["ingest_sample"]["throughput_ratio"] > 0
    assert set(res["questions"]) == {"day", "day_foot", "day_department", "7d", "7d_boat"}
    land = res["day_figures"]["land"]
    assert 0 < land["covered"] <= land["total"] == 93
    assert res["heatmap_hexagons"] > 0


@pytest.mark.parametrize(
    "bad",
    [
        {"units": "0"},
        {"hours": "x"},
        {"hours": "inf"},
        {"units": "nan"},
        {"units": "2.5"},
        {"surprise": "1"},
    ],
)
def test_coverage_benchmark_refuses_bad_options(tmp_path: Path, bad: dict) -> None:
    with pytest.raises(ValueError):
        coverage_bench.main(tmp_path / "x.json", _settings(tmp_path), bad)


def test_kpi_benchmark_writes_a_complete_report(tmp_path: Path) -> None:
    from bench import kpi as kpi_bench

    out = tmp_path / "kpi.json"
    kpi_bench.main(
        out, _settings(tmp_path), {"incidents": "300", "days": "5", "units": "40", "runs": "2"}
    )
    res = orjson.loads(out.read_bytes())["results"]
    assert res["data"]["incidents_in_redis"] > 200 and res["data"]["closed_days"] == 5
    assert 0 < res["data"]["incidents_in_period"] <= res["data"]["incidents_in_redis"]
    for k in ("page", "page_filtered", "page_first_request_in_a_process", "baseline_raw_reads"):
        assert 0 < res[k]["p50_ms"] <= res[k]["p95_ms"] <= res[k]["max_ms"]
    assert 0 <= res["figures"]["handling_rate"] <= 1
    # the whole past days of the period: built by the first request after the import
    assert res["data"]["stored_incident_days"] >= res["data"]["days"] - 1
    page_p95 = max(res["page"]["p95_ms"], res["page_filtered"]["p95_ms"])
    first_p95 = res["page_first_request_in_a_process"]["p95_ms"]
    assert res["targets"]["page_p95_under_300ms"] is (page_p95 < 300)
    assert res["targets"]["first_request_under_1s"] is (first_p95 < 1000)


def test_a_sigterm_during_a_benchmark_unwinds_it_and_the_handler_is_restored() -> None:
    import os
    import signal

    from bench import sigterm_unwinds

    before = signal.getsignal(signal.SIGTERM)
    stopped = []
    with pytest.raises(SystemExit) as exc, sigterm_unwinds():
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # handled before the next statement
            stopped.append("not reached")
        finally:
            stopped.append("the servers")  # what a benchmark's finally blocks do
    assert exc.value.code == 143 and stopped == ["the servers"]
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize(
    "bad",
    [
        {"devices": "0"},
        {"rate": "x"},
        {"seconds": "inf"},
        {"surprise": "1"},
        {"rate": "400", "seconds": "200"},  # 80,000 a device: beyond paho's packet ids
    ],
)
def test_faults_benchmark_refuses_bad_options_before_starting_anything(
    tmp_path: Path, bad: dict
) -> None:
    # Its report is checked by running it (a tiny run of both setups takes about a minute);
    # the harness itself runs in CI as tests/test_fault_matrix.py.
    from bench import faults as faults_bench

    with pytest.raises(ValueError):
        faults_bench.main(tmp_path / "faults.json", _settings(tmp_path), bad)
    assert not (tmp_path / "faults.json").exists()


def test_field_benchmark_writes_a_complete_report(tmp_path: Path) -> None:
    """Three phones end to end (mosquitto, Redis, the worker, gunicorn): the report's shape and
    that nothing was lost, never timing."""
    out = tmp_path / "field.json"
    field_bench.main(out, Settings(data_dir=tmp_path / "var", _env_file=None), {"phones": "3"})
    report = orjson.loads(out.read_bytes())
    assert report["benchmark"] == "field" and report["streams_opened"] == 3
    for name in ("task_to_phone", "baseline_assignment_in_redis", "action_applied_via_field_api",
                 "baseline_action_applied_via_inbox"):  # fmt: skip
        assert report[name]["runs"] >= 1 and report[name]["p95_ms"] > 0, name
    assert report["lost"] == 0 and report["targets"]["nothing_lost"] is True
    assert set(report["summary"]) == {"task_to_phone_p95_ms", "action_applied_p95_ms"}
    assert all(isinstance(v, bool) for v in report["targets"].values())
