"""Counting a run of `python run.py bench faults` (bench/faults.py) once its stream has ended.

Afterwards: every PUBACK awaited, then every acknowledged message awaited in its unit's track
stream (until `settle` seconds pass). Lost = acknowledged but not in the track; duplicates = a
ts twice in one track. Per fault: at_s (its start, seconds into the stream); injection_s (a
kill or a restart ends with its signal: bringing a server back is recovery, timed as
restarted_after_s when the harness does it; a stall ends with SIGCONT); pause_s, the longest
time after its start in which Redis received none of the stream's messages, and recovery_s,
from its start to the end of that pause (a track entry's id is Redis' clock); max_delay_s, the
longest publish() -> Redis time of a message published from its start to the next fault's;
worker_back_s (worker kills), to the new worker's heartbeat; redis_back_s (Redis faults), from
its end to Redis answering again. most_delayed: the 5 messages that took longest, over the run.

The worker's duplicate check remembers 2,000 identities per unit (store.writer.SEEN_KEEP): keep
rate x stream seconds below that, or an old redelivery could legitimately slip past it.
"""

from __future__ import annotations

import bisect
import contextlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import redis

from bench.common import log_tail
from bench.fault_fleet import UNIT_PREFIX, Fleet
from bench.fault_recovery import Monitor
from bench.fault_stack import Fault, Plan, Stack
from store import keys, reader
from store.writer import SEEN_KEEP

Tracks = dict[str, list[tuple[int, int]]]  # device -> [(Redis ms of the entry, seq)]


def read_tracks(r: redis.Redis, fleet: Fleet) -> Tracks:
    out: Tracks = {}
    for d in fleet.devices:
        entries = r.xrange(keys.track("unit", d.id))
        out[d.id] = [(int(eid.split(b"-")[0]), int(f[b"ts"]) - fleet.t0) for eid, f in entries]
    return out


def _missing(fleet: Fleet, tracks: Tracks) -> dict[str, list[int]]:
    out = {}
    for d in fleet.devices:
        gone = sorted(d.acked_seqs() - {seq for _, seq in tracks[d.id]})
        if gone:
            out[d.id] = gone
    return out


def _doubled(tracks: Tracks) -> dict[str, dict[int, int]]:
    out = {}
    for dev, entries in tracks.items():
        twice = {s: n for s, n in Counter(seq for _, seq in entries).items() if n > 1}
        if twice:
            out[dev] = twice
    return out


def settle(r: redis.Redis, fleet: Fleet, timeout: float) -> tuple[Tracks, float | None]:
    """Every PUBACK, then every acknowledged message in Redis, or `timeout`: the tracks, and
    how long after the end of the stream Redis held them all (None: never)."""
    end = time.monotonic()
    deadline = end + timeout
    while not fleet.all_acked() and time.monotonic() < deadline:
        time.sleep(0.2)
    tracks: Tracks = {}
    while True:
        with contextlib.suppress(redis.exceptions.RedisError):
            tracks = read_tracks(r, fleet)
            if tracks and not _missing(fleet, tracks):
                held = round(time.monotonic() - end, 1)
                # on purpose: whatever is still being redelivered would show as a second copy
                time.sleep(2.0)
                return read_tracks(r, fleet), held
        if time.monotonic() > deadline:
            return tracks, None
        time.sleep(1.0)


def _first_applied(tracks: Tracks) -> dict[str, dict[int, int]]:
    """device -> seq -> when Redis first held it."""
    out: dict[str, dict[int, int]] = {}
    for dev, entries in tracks.items():
        first: dict[int, int] = {}
        for ms, seq in entries:
            first[seq] = min(ms, first.get(seq, ms))
        out[dev] = first
    return out


def longest_pause(applied: list[int], start: int, until: int) -> tuple[int, int] | None:
    """The longest time Redis received none of the stream's messages, from `start` on, among
    the pauses over by `until` (the next fault: each is injected only once the system recovered
    from the one before): (its length, its end) in ms. `applied` is sorted."""
    best: tuple[int, int] | None = None
    prev = start
    for ms in applied[bisect.bisect_right(applied, start) :]:
        if ms > until:
            break
        if best is None or ms - prev > best[0]:
            best = (ms - prev, ms)
        prev = ms
    return best


def delays(fleet: Fleet, first: dict[str, dict[int, int]], start: int, until: int) -> list:
    """(delay ms, device, seq, published ms) of the messages published in [start, until) that
    are in Redis, from publish() to Redis holding it."""
    out = []
    for d in fleet.devices:
        got = first.get(d.id, {})
        lo, hi = bisect.bisect_left(d.pub_ms, start), bisect.bisect_left(d.pub_ms, until)
        out += [(got[s] - d.pub_ms[s], d.id, s, d.pub_ms[s]) for s in range(lo, hi) if s in got]
    return out


def _fault_rows(
    faults: list[Fault], fleet: Fleet, tracks: Tracks, monitor: Monitor
) -> list[dict[str, Any]]:
    first, last = fleet.first_last_ms()
    applied = sorted(ms for entries in tracks.values() for ms, _ in entries)
    firsts = _first_applied(tracks)
    late = out_of_order(tracks)
    rows = []
    for i, fault in enumerate(faults):
        until = faults[i + 1].start_ms if i + 1 < len(faults) else max(applied, default=last)
        pause = longest_pause(applied, fault.start_ms, until)
        worst = max(delays(fleet, firsts, fault.start_ms, until), default=None)
        row: dict[str, Any] = {
            "kind": fault.kind,
            "at_s": round((fault.start_ms - first) / 1000, 2),
            "injection_s": round((fault.end_ms - fault.start_ms) / 1000, 2),
            "pause_s": None if pause is None else round(pause[0] / 1000, 2),
            "recovery_s": None if pause is None else round((pause[1] - fault.start_ms) / 1000, 2),
            "max_delay_s": None if worst is None else round(worst[0] / 1000, 2),
            "out_of_order": bisect.bisect_left(late, until)
            - bisect.bisect_left(late, fault.start_ms),
            "inside_stream": first < fault.start_ms and fault.end_ms < last,
            "recovered": fault.recovered,
            **fault.detail,
        }
        if fault.kind == "worker_kill":
            row["worker_back_s"] = monitor.worker_back_s(fault.end_ms, fault.detail.get("pid"))
        if fault.kind.startswith("redis"):
            row["redis_back_s"] = monitor.redis_back_s(fault)
        rows.append(row)
    return rows


def _most_delayed(fleet: Fleet, tracks: Tracks, n: int = 5) -> list[dict[str, Any]]:
    first, last = fleet.first_last_ms()
    worst = sorted(delays(fleet, _first_applied(tracks), first, last + 1), reverse=True)[:n]
    return [
        {
            "unit": dev,
            "seq": seq,
            "published_at_s": round((pub - first) / 1000, 2),
            "delay_s": round(ms / 1000, 2),
        }
        for ms, dev, seq, pub in worst
    ]


def _in_inbox(r: redis.Redis, missing: dict[str, list[int]], t0: int) -> int:
    """How many of the missing messages are still in the embedded broker's inbox stream."""
    want = {(dev, t0 + s) for dev, seqs in missing.items() for s in seqs}
    found = 0
    for _id, fields in r.xrange(keys.INGEST_INBOX):
        with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
            doc = orjson.loads(fields.get(b"p", b""))
            found += (doc["unit_id"], doc["ts"]) in want
    return found


def count(
    stack: Stack, r: redis.Redis, fleet: Fleet, faults: list[Fault], monitor: Monitor, plan: Plan
) -> dict[str, Any]:
    tracks, held_s = settle(r, fleet, plan.settle_s)
    missing, doubled = _missing(fleet, tracks), _doubled(tracks)
    first, last = fleet.first_last_ms()
    rc: Counter[str] = Counter()
    for d in fleet.devices:
        rc.update(d.rc)
    published = sum(d.published() for d in fleet.devices)
    acked = sum(len(d.acked_seqs()) for d in fleet.devices)
    in_redis = sum(len({s for _, s in tracks.get(d.id, [])}) for d in fleet.devices)
    rows = _fault_rows(faults, fleet, tracks, monitor)
    stats = reader.ingest_stats(r)
    return {
        "setup": stack.setup,
        "devices": len(fleet.devices),
        "rate_per_device": plan.rate,
        "stream_s": round((last - first) / 1000, 1),
        "published": published,
        "publish_return_codes": dict(rc),
        # publish() refused them (not counted as published): e.g. paho's queue full
        "publish_errors": sum(d.mids.count(None) for d in fleet.devices),
        "acknowledged": acked,
        "unacknowledged": published - acked,
        "in_redis": in_redis,
        "lost": sum(len(v) for v in missing.values()),
        "lost_seqs": {dev: seqs[:30] for dev, seqs in missing.items()},
        "lost_still_in_inbox": _in_inbox(r, missing, fleet.t0) if missing else 0,
        "duplicates": sum(n - 1 for v in doubled.values() for n in v.values()),
        "duplicate_seqs": {dev: dict(list(v.items())[:30]) for dev, v in doubled.items()},
        "all_in_redis_after_s": held_s,
        "applied_out_of_order": len(out_of_order(tracks)),
        "faults": rows,
        "most_delayed": _most_delayed(fleet, tracks),
        "faults_by_kind": dict(Counter(f.kind for f in faults)),
        "faults_inside_stream": all(row["inside_stream"] for row in rows),
        "device_reconnects": sum(d.connects - 1 for d in fleet.devices),
        # beyond it an old redelivery may legitimately be applied again (store.writer)
        "above_dedup_window": max(len(d.mids) for d in fleet.devices) > SEEN_KEEP,
        "worker": {"messages": stats["messages"], "writes": stats["writes"]},
        "refused_our_units": {
            k: v for k, v in reader.broker_refusals(r).items() if k.startswith(UNIT_PREFIX)
        },
        "restarts_by_supervisor": _restarts(stack.log),
        "timeline": monitor.timeline(first),
        "log": str(stack.log),
    }


def out_of_order(tracks: Tracks) -> list[int]:
    """When Redis got the messages that came after a later message of the same unit (a
    redelivery, or a publisher's backlog sent after a newer message on reconnect): harmless,
    the state keeps the newest, but the track is then not in ts order."""
    out = []
    for entries in tracks.values():
        top = -1
        for ms, seq in entries:
            if seq < top:
                out.append(ms)
            top = max(top, seq)
    return sorted(out)


def _restarts(log: Path) -> dict[str, int]:
    text = log.read_text(errors="replace") if log.exists() else ""
    lines = [ln.split()[0] for ln in text.splitlines() if ln.endswith("; restarting")]
    return dict(Counter(lines))


# --- when a test fails --------------------------------------------------------------------


def explain(res: dict[str, Any], lines: int = 60) -> str:
    """What a failing test prints: the figures, the lost and doubled seqs, each fault, and the
    end of python run.py's output."""
    keep = (
        "published",
        "publish_errors",
        "acknowledged",
        "unacknowledged",
        "in_redis",
        "lost",
        "duplicates",
    )
    head = {k: res[k] for k in keep} | {"all_in_redis_after_s": res["all_in_redis_after_s"]}
    return (
        f"{res['setup']}: {head}\n"
        f"lost (unit: seqs, first 30): {res['lost_seqs']}; of them still in stream:inbox: "
        f"{res['lost_still_in_inbox']}\n"
        f"applied twice (unit: {{seq: copies}}): {res['duplicate_seqs']}\n"
        f"faults: {orjson.dumps(res['faults']).decode()}\n"
        f"most delayed: {res['most_delayed']}; Redis and heartbeat: {res['timeline']}\n"
        f"worker: {res['worker']}; refused: {res['refused_our_units']}; "
        f"restarts: {res['restarts_by_supervisor']}; publish rc: {res['publish_return_codes']}\n"
        f"--- python run.py output ({res['log']}), what stands out:\n{notable(Path(res['log']))}\n"
        f"--- and its end:\n{log_tail(Path(res['log']), lines)}"
    )


NOTABLE = ("restarting", "exited", "keeps failing", "unavailable", "refused", "Traceback", "Error")


def notable(log: Path, lines: int = 40) -> str:
    """The lines of the log that say something went wrong or was restarted (the last ones)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join([ln for ln in text.splitlines() if any(w in ln for w in NOTABLE)][-lines:])
