"""The ingest benchmark end to end at a tiny scale: behaviour only, never timing."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench import ingest
from config.settings import Settings


def test_ingest_benchmark_writes_a_complete_report(tmp_path: Path) -> None:
    # No REDIS_URL / MQTT_URL: the benchmark starts (and stops) its own mosquitto and Redis.
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)
    out = tmp_path / "reports" / "ingest.json"
    ingest.main(out, settings, {"n": "2000", "rate": "500", "seconds": "3", "units": "200"})

    report = orjson.loads(out.read_bytes())
    assert {"worker", "baseline", "ratio", "targets", "versions", "host", "date"} <= set(report)
    assert report["host"]["cpu_count"] >= 1 and report["versions"]["mosquitto"]
    assert set(report["targets"]) >= {
        "worker_min_10000_msg_s",
        "worker_at_least_0_8_of_baseline",
        "worker_p99_under_250ms",
        "worker_lost_zero",
        "cluster_lost_zero",
    }
    for kind in ("worker", "baseline"):
        r = report[kind]
        assert r["lost"] == 0, kind
        assert r["messages_per_s"] > 0 and r["cpu_us_per_message"] > 0
        assert r["latency_p99_ms"] is not None and r["latency_p99_ms"] >= 0
        for phase in ("sustained", "latency"):
            p = r[phase]
            assert p["publisher"]["acked"] == p["messages"] == p["processed"]
            assert p["latency_ms"]["count"] > 0
    w = report["worker"]
    assert w["invalid_sent"] > 0 and w["deadletter"] == w["invalid_sent"]
    assert w["sustained"]["messages"] == 2000 and w["latency"]["messages"] == 1500
    assert report["ratio"]["throughput"] > 0
    # the worker once more on a 3-master cluster: every valid message applied, none lost
    c = report["cluster"]
    assert c["masters"] == 3 and c["lost"] == 0 and c["deadletter"] == c["invalid"] > 0
    assert c["publisher"]["acked"] == c["messages"] == c["processed"] == 2000
    assert report["ratio"]["cluster_to_single_node"] > 0 and report["targets"]["cluster_lost_zero"]
    assert not (tmp_path / "var" / "bench" / "ingest-run").exists()  # servers' data cleaned up
