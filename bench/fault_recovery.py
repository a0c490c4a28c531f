"""Injecting the planned faults of `python run.py bench faults` (bench/faults.py) and watching
the system recover from each.

Faults, each at a planned second of the stream at the earliest and only once the system has
recovered from the one before ("recovered": the part hit runs again, every device is connected
and a message published after that is in Redis, within `ready_s`). Meanwhile the Monitor keeps
the changes of the worker's heartbeat and of Redis answering, for worker_back_s and
redis_back_s.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis

from bench.fault_fleet import Device, Fleet
from bench.fault_stack import Fault, Plan, Stack
from domain.clock import system_ms
from store import keys, reader


class Monitor(threading.Thread):
    """Samples the worker's heartbeat and whether Redis answers, every 0.2 s; keeps the
    changes: (ms, pid, broker_connected) and (ms, up)."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(name="fault-monitor", daemon=True)
        self.r = stack.client(timeout=1.0, retries=0)  # a failure is what it is watching for
        self.beats: list[tuple[int, str, bool]] = []
        self.redis_up: list[tuple[int, bool]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        last_beat: tuple[str, bool] | None = None
        last_up: bool | None = None
        while not self.halt.wait(0.2):
            try:
                beat = reader.ingest_stats(self.r)["heartbeat"]
                up = True
            except redis.exceptions.RedisError:
                beat, up = {}, False
            now = system_ms()  # after the answer: a stalled Redis answers when continued
            if up != last_up:
                self.redis_up.append((now, up))
                last_up = up
            current = (beat.get("pid", ""), beat.get("broker_connected") == "1")
            if beat and current != last_beat:
                self.beats.append((now, *current))
                last_beat = current

    def timeline(self, origin_ms: int) -> dict[str, list[list[Any]]]:
        """The changes seen, in seconds from `origin_ms`: [s, up] and [s, pid, connected]."""

        def s(ms: int) -> float:
            return round((ms - origin_ms) / 1000, 2)

        return {
            "redis_up": [[s(ms), up] for ms, up in self.redis_up],
            "heartbeat": [[s(ms), pid, c] for ms, pid, c in self.beats],
        }

    def worker_back_s(self, after_ms: int, killed_pid: int | None) -> float | None:
        for ms, pid, connected in self.beats:
            if ms >= after_ms and connected and pid != str(killed_pid):
                return round((ms - after_ms) / 1000, 2)
        return None

    def redis_back_s(self, fault: Fault) -> float | None:
        """From the end of the injection to Redis answering again after the fault (0: it was
        never seen away)."""
        went_down = False
        for ms, up in self.redis_up:
            if ms < fault.start_ms:
                continue
            went_down = went_down or not up
            if up and went_down:
                return round(max(0, ms - fault.end_ms) / 1000, 2)
        return None if went_down else 0.0


# --- the faults, one after the other ------------------------------------------------------


def _latest_seq(r: redis.Redis, d: Device, t0: int) -> int | None:
    last = r.xrevrange(keys.track("unit", d.id), count=1)
    return int(last[0][1][b"ts"]) - t0 if last else None


def applied_since(r: redis.Redis, fleet: Fleet, since_ms: int) -> bool:
    """Is a message published at or after `since_ms` in Redis?"""
    for d in fleet.devices:
        seq = _latest_seq(r, d, fleet.t0)
        if seq is not None and seq < len(d.pub_ms) and d.pub_ms[seq] >= since_ms:
            return True
    return False


def _back(stack: Stack, fleet: Fleet, fault: Fault) -> bool:
    """The part the fault hit runs again (a new process), and every device is connected."""
    old = fault.detail.get("pid")  # of a part of the supervisor (the harness restarts the rest)
    hit = {"worker_kill": "ingest", "broker_restart": "broker", "broker_kill": "broker"}
    hit["redis_kill"] = "redis"
    try:
        if old and fault.kind in hit and stack.part(hit[fault.kind], timeout=0).pid == old:
            return False
    except RuntimeError:  # not running yet
        return False
    return all(d.connected for d in fleet.devices)


def _recovered(
    stack: Stack, r: redis.Redis, fleet: Fleet, fault: Fault | None, timeout: float
) -> bool:
    """Once back, a message published from then on reaches Redis (False: not within timeout)."""
    deadline = time.monotonic() + timeout
    while fault is not None and not _back(stack, fleet, fault):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    since = system_ms()
    while time.monotonic() < deadline:
        try:
            if applied_since(r, fleet, since):
                stack.part("ingest", timeout=0)
                return True
        except (redis.exceptions.RedisError, RuntimeError):
            pass
        time.sleep(0.2)
    return False


def inject_all(stack: Stack, r: redis.Redis, fleet: Fleet, plan: Plan) -> list[Fault]:
    """The planned faults, each once the system recovered from the one before (or `ready_s`
    passed); then the stream goes on until recovered again plus `tail_s`."""
    faults: list[Fault] = []
    _recovered(stack, r, fleet, None, plan.ready_s)
    for at, kind in plan.faults:
        time.sleep(max(0.0, fleet.started + at - time.monotonic()))
        fault = stack.inject(kind, plan.stall_s)
        fault.recovered = _recovered(stack, r, fleet, fault, plan.ready_s)
        faults.append(fault)
    time.sleep(plan.tail_s)
    time.sleep(max(0.0, fleet.started + plan.min_stream_s - time.monotonic()))
    return faults
