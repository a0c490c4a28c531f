"""Issue 12, nothing acknowledged lost: on both setups (`python run.py` with its embedded broker
and Redis; `python run.py` pointed at mosquitto and a Redis), a steady QoS 1 stream from
several unit devices rides out two SIGKILLs of the worker, a graceful broker restart, a SIGKILL
of Redis and a 20 s SIGSTOP of Redis: every message whose PUBACK a device received is in Redis,
and none is applied twice. The harness is bench/faults.py (also `python run.py bench faults`).
Never a latency: the recovery times are in the failure message, not asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import faults

PLAN = faults.Plan(
    devices=8,
    rate=10.0,  # per device: 80 messages/s in all, ~40 s of stream
    faults=faults.CI_FAULTS,
    stall_s=20.0,
    tail_s=4.0,
    ready_s=60.0,
    settle_s=120.0,
)


@pytest.mark.parametrize("setup", faults.SETUPS)
def test_faults_lose_nothing_acknowledged_and_apply_nothing_twice(
    setup: str, tmp_path: Path
) -> None:
    res = faults.run(setup, PLAN, tmp_path)  # python run.py's output: tmp_path/supervisor.log
    why = faults.explain(res)
    assert res["faults_by_kind"] == {
        "worker_kill": 2,
        "broker_restart": 1,
        "redis_kill": 1,
        "redis_stall": 1,
    }, why
    assert res["faults_inside_stream"], why  # each between the first and the last publish
    assert res["acknowledged"] > 0 and res["publish_errors"] == 0, why
    assert res["lost"] == 0, why
    assert res["duplicates"] == 0, why
    # liveness, not speed: after each fault the part hit ran again and, within a generous
    # minute, messages published later reached Redis
    assert all(f["recovered"] for f in res["faults"]), why
