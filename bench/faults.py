"""`python run.py bench faults [--out FILE] [devices=20 rate=10 seconds=180 stall=20 settle=180]`

Issue 12, "nothing acknowledged lost": a steady QoS 1 stream of numbered unit positions while
parts of the system are killed, restarted and stalled; afterwards, is every message whose PUBACK
the device received in Redis, and is none applied twice? Used by tests/test_fault_matrix.py (a
short plan) and by this benchmark (a longer one, with a broker SIGKILL too).

The harness, one module a part:

* bench/fault_stack.py: the plan, the two setups ("embedded", "mosquitto") and their processes,
  and the faults themselves;
* bench/fault_fleet.py: the unit devices and their stream;
* bench/fault_recovery.py: the faults injected one after the other, each once the system
  recovered from the one before, and the Monitor watching the worker and Redis;
* bench/fault_count.py: afterwards, what was lost, doubled and delayed, per fault too.

This benchmark always starts its own servers (it kills them): REDIS_URL / MQTT_URL are ignored.
Logs (the supervisor's output, all parts') are kept under DATA_DIR/bench/faults-logs.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
import redis

from bench.common import host_load, mosquitto_banner, report_header
from bench.fault_count import count, explain
from bench.fault_fleet import MAX_PER_DEVICE, Fleet, provision
from bench.fault_recovery import Monitor, inject_all
from bench.fault_stack import SETUPS, Plan, Stack
from bench.redis_bench import options
from config.settings import Settings

# the benchmark's main, and what tests/test_fault_matrix.py uses
__all__ = ["CI_FAULTS", "SETUPS", "Plan", "explain", "main", "run"]

# The CI plan (tests/test_fault_matrix.py): earliest second of the stream, fault.
CI_FAULTS: tuple[tuple[float, str], ...] = (
    (3.0, "worker_kill"),
    (6.0, "broker_restart"),
    (9.0, "redis_kill"),
    (12.0, "redis_stall"),
    (15.0, "worker_kill"),
)
BENCH_ORDER = (
    "worker_kill",
    "broker_restart",
    "redis_kill",
    "redis_stall",
    "broker_kill",
    "worker_kill",
)
DEFAULTS = {"devices": 20, "rate": 10, "seconds": 180, "stall": 20, "settle": 180}


# --- one run ------------------------------------------------------------------------------


def run(setup: str, plan: Plan, work: Path) -> dict[str, Any]:
    """One setup through the plan: its figures (see bench/fault_count.py). Raises RuntimeError with
    the supervisor's log tail when the system could not be started or driven."""
    stack = Stack(setup, work, plan.prefix)
    fleet: Fleet | None = None
    monitor: Monitor | None = None
    started = time.monotonic()
    try:
        stack.start()
        r = stack.client()
        fleet = Fleet(provision(r, plan.devices), stack.mqtt_port, plan)
        fleet.connect()
        monitor = Monitor(stack)
        monitor.start()
        fleet.start()
        faults = inject_all(stack, r, fleet, plan)
        fleet.end_stream()
        out = count(stack, r, fleet, faults, monitor, plan)
        out["server_versions"] = _server_versions(r, setup)
    except Exception as e:
        raise RuntimeError(f"{setup}: {e}\n--- python run.py output:\n{stack.tail(80)}") from e
    finally:
        if monitor is not None:
            monitor.halt.set()
        if fleet is not None:
            fleet.close()
        stack.stop()
    out["wall_s"] = round(time.monotonic() - started, 1)
    return out


def _server_versions(r: redis.Redis, setup: str) -> dict[str, str | None]:
    info = r.info("server")
    name = info.get("server_name") or "redis"
    return {
        "redis_server": f"{name} {info.get('valkey_version') or info.get('redis_version')}",
        "broker": f"amqtt {metadata.version('amqtt')}"
        if setup == "embedded"
        else mosquitto_banner(),
    }


# --- the benchmark ------------------------------------------------------------------------


def bench_plan(o: dict[str, Any], prefix: str) -> Plan:
    per_device = o["rate"] * o["seconds"]
    if per_device >= MAX_PER_DEVICE:
        raise ValueError(f"rate x seconds must stay below {MAX_PER_DEVICE} messages per device")
    n = len(BENCH_ORDER)
    at = [round(o["seconds"] * (i + 1) / (n + 1), 1) for i in range(n)]
    return Plan(
        devices=int(o["devices"]),
        rate=float(o["rate"]),
        faults=tuple(zip(at, BENCH_ORDER, strict=True)),
        stall_s=float(o["stall"]),
        min_stream_s=float(o["seconds"]),
        settle_s=float(o["settle"]),
        prefix=prefix,
    )


def _targets(res: dict[str, dict[str, Any]]) -> dict[str, bool]:
    e, m = res["embedded"], res["mosquitto"]
    return {
        "embedded_lost_zero": e["lost"] == 0,
        "embedded_no_duplicates": e["duplicates"] == 0,
        "mosquitto_lost_zero": m["lost"] == 0,
        "mosquitto_no_duplicates": m["duplicates"] == 0,
        "embedded_loss_not_above_mosquitto": e["lost"] <= m["lost"],
        "faults_inside_stream": e["faults_inside_stream"] and m["faults_inside_stream"],
    }


def main(out: Path, settings: Settings, opts: dict[str, str]) -> None:
    o = options(opts, DEFAULTS, fractional=("rate", "stall"))
    plan = bench_plan(o, settings.topic_prefix)
    load_avg = host_load()
    logs = settings.data_dir / "bench" / "faults-logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    for setup in SETUPS:
        work = Path(tempfile.mkdtemp(prefix=f"faults-{setup}-"))
        try:
            results[setup] = run(setup, plan, work)
        finally:
            if (work / "supervisor.log").exists():
                shutil.copy(work / "supervisor.log", logs / f"{setup}.log")
            shutil.rmtree(work, ignore_errors=True)
        results[setup]["log"] = str(logs / f"{setup}.log")
    report = {
        **report_header("faults", load_avg),
        "versions": {
            "python": platform.python_version(),
            **{p: metadata.version(p) for p in ("paho-mqtt", "redis", "amqtt")},
            **{f"{s}_servers": results[s].pop("server_versions") for s in SETUPS},
        },
        "options": o,
        "plan": asdict(plan),
        "results": results,
        "targets": _targets(results),
        "run_seconds": round(time.monotonic() - started, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    _print(report, out)


def _print(report: dict[str, Any], out: Path) -> None:
    print(f"faults benchmark -> {out}")
    print(f"{'setup':10} {'published':>9} {'acked':>9} {'lost':>6} {'doubled':>7}  recovery s")
    for setup, res in report["results"].items():
        rec = ", ".join(f"{f['kind']} {f['recovery_s']}" for f in res["faults"])
        print(
            f"{setup:10} {res['published']:>9} {res['acknowledged']:>9} {res['lost']:>6} "
            f"{res['duplicates']:>7}  {rec}"
        )
    print("targets: " + ", ".join(f"{k}={v}" for k, v in report["targets"].items()))
