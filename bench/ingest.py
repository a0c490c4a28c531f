"""`python run.py bench ingest [--out FILE] [n=100000 rate=2000 seconds=20 units=3000 ...]`

Measures the ingest worker end to end (publisher -> mosquitto -> worker -> Redis) against a raw
baseline (bench/baseline.py: bare paho + orjson + redis-py pipeline) on the same broker, Redis
and workload (bench/workload.py). Each of them runs as its own process, as does the publisher,
so none shares a GIL with another or with this measuring process. Two phases each:

* sustained: `n` messages as fast as the publisher can; messages/s from the first publish to
  the last message being in Redis (the latest stream entry id, Redis' own clock);
* latency: `rate` messages/s for `seconds`; latency = track entry id (Redis time when written)
  minus the message's `ts` (stamped when published), over every message with a track entry.

Options (KEY=VALUE): n (100000), rate (2000), seconds (20), units (3000), window (1000: the
publisher's unacknowledged messages at most), seed (1), fsync (appendfsync of the Redis started
here; default: the embedded server's), broker (mosquitto, or embedded: the broker `python run.py`
starts, with its roster, topic rules and inbox; every client of the benchmark then uses the
ingest worker's account, and the worker reads the inbox as it does there), cluster (3: the
worker's sustained phase runs once more on a Valkey Cluster of that many masters started here,
same persistence, all on this machine; `cluster.messages_per_s` and its ratio to one node,
`ratio.cluster_to_single_node`, are reported; not with REDIS_URL set).

Lost = valid messages published - distinct valid messages found in Redis. CPU per message =
process CPU time (user + system) during the phase / messages. Unless MQTT_URL / REDIS_URL are
set, each phase gets a fresh mosquitto and a fresh Redis server; a given Redis database is
flushed (FLUSHDB) before each phase, so point REDIS_URL at a scratch database.
"""

from __future__ import annotations

import dataclasses
import re
import select
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil
import redis

from bench.common import (
    ROOT,
    Servers,
    host_busy,
    host_load,
    log_tail,
    percentiles,
    ratio,
    received_count,
    redis_persistence,
    report_header,
    server_versions,
    stop_process,
    subscriber,
)
from bench.workload import STATIC_PREFIX
from config.settings import Settings
from domain.audit import Chain
from store import audit as audit_log
from store import keys, reader

DEFAULTS: dict[str, Any] = {
    "n": 100_000,
    "rate": 2000.0,
    "seconds": 20.0,
    "units": 3000,
    "window": 1000,
    "seed": 1,
    "fsync": "",
    "broker": "mosquitto",
    "cluster": 3,  # masters of the Valkey Cluster the worker's sustained phase runs on too
}
BROKERS = ("mosquitto", "embedded")
FSYNC = ("", "always", "everysec", "no")  # "": the embedded server's default
SUBSCRIBERS = ("worker", "baseline")
TARGET_MSG_S = 10_000  # issue 19: one worker, QoS 1 over mosquitto
TARGET_RATIO = 0.8  # of the bare paho -> Redis baseline of the same run
TARGET_P99_MS = 250
STALL_S = 10.0  # no progress for this long after the publisher finished: the rest is lost
_TAG_TIME = re.compile(rb"\\c:(\d+)\*")


@dataclass(frozen=True)
class Options:
    n: int
    rate: float
    seconds: float
    units: int
    window: int
    seed: int
    fsync: str  # appendfsync of the Redis started here; "" = embedded default
    broker: str  # mosquitto, or the embedded broker (roster, topic rules, inbox)
    cluster: int  # masters of the cluster phase


def parse_options(opts: dict[str, str]) -> Options:
    unknown = set(opts) - set(DEFAULTS)
    if unknown:
        raise ValueError(
            f"unknown ingest benchmark option(s) {sorted(unknown)}; known: {', '.join(DEFAULTS)}"
        )
    values: dict[str, Any] = {}
    for k, default in DEFAULTS.items():
        raw = opts.get(k)
        try:
            values[k] = type(default)(raw) if raw is not None else default
        except ValueError:
            raise ValueError(f"option {k}={raw!r} is not a {type(default).__name__}") from None
        if isinstance(default, int | float) and values[k] <= 0 and k != "seed":
            raise ValueError(f"option {k} must be positive")
    if values["broker"] not in BROKERS:
        raise ValueError(f"option broker must be one of {', '.join(BROKERS)}")
    if values["fsync"] not in FSYNC:
        raise ValueError(f"option fsync must be one of {', '.join(f for f in FSYNC if f)}")
    return Options(**values)


# --- processes ------------------------------------------------------------------------------


def _cpu(proc: psutil.Process | None) -> float | None:
    if proc is None:
        return None
    try:
        t = proc.cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system


# --- one phase ------------------------------------------------------------------------------


def _publisher(
    servers: Servers, settings: Settings, o: Options, n: int, rate: float, summary: Path, log: Path
) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "bench.workload",
        "--url",
        servers.mqtt_url,
        "--client-id",
        f"bench-pub-{uuid.uuid4().hex[:8]}",
        "--prefix",
        settings.topic_prefix,
        "--n",
        str(n),
        "--units",
        str(o.units),
        "--seed",
        str(o.seed),
        "--rate",
        str(rate),
        "--window",
        str(o.window),
        "--summary",
        str(summary),
        "--wait-go",
    ]
    with log.open("wb") as err:
        return subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err
        )


def _wait_ready(pub: subprocess.Popen, log: Path, timeout: float) -> None:
    assert pub.stdout is not None
    ready, _, _ = select.select([pub.stdout], [], [], timeout)
    line = pub.stdout.readline() if ready else b""
    if line.strip() != b"ready":
        raise RuntimeError(f"publisher did not get ready (exit {pub.poll()}):\n{log_tail(log)}")


def run_phase(
    kind: str, phase: str, servers: Servers, settings: Settings, o: Options, logs: Path
) -> dict[str, Any]:
    n = o.n if phase == "sustained" else max(1, round(o.rate * o.seconds))
    rate = 0.0 if phase == "sustained" else o.rate
    summary_path = logs / f"{kind}-{phase}-publisher.json"
    summary_path.unlink(missing_ok=True)
    with subscriber(kind, servers, settings, logs / f"{kind}-{phase}.log") as sub:
        pub_log = logs / f"{kind}-{phase}-publisher.log"
        pub = _publisher(servers, settings, o, n, rate, summary_path, pub_log)
        try:
            _wait_ready(pub, pub_log, 120 + n / 5000)
            procs = {"subscriber": psutil.Process(sub.pid), **servers.processes()}
            cpu0 = {k: _cpu(p) for k, p in procs.items()}
            host0 = host_busy()
            received0 = received_count(servers.r)
            assert pub.stdin is not None
            pub.stdin.write(b"go\n")
            pub.stdin.flush()
            t0 = time.monotonic()
            received, last_progress, pub_done_at = 0, t0, None
            while received < n:
                time.sleep(0.02)
                now = time.monotonic()
                got = received_count(servers.r) - received0
                if got > received:
                    received, last_progress = got, now
                if pub_done_at is None and pub.poll() is not None:
                    if pub.returncode != 0:
                        raise RuntimeError(
                            f"publisher failed ({pub.returncode}):\n{log_tail(pub_log)}"
                        )
                    pub_done_at = now
                if sub.poll() is not None:
                    raise RuntimeError(f"{kind} exited with {sub.returncode}")
                if pub_done_at is not None and now - max(last_progress, pub_done_at) > STALL_S:
                    break  # the rest is lost
            cpu1 = {k: _cpu(p) for k, p in procs.items()}
            host1 = host_busy()
            rss_mb = procs["subscriber"].memory_info().rss / 2**20
            pub.wait(timeout=120)
        finally:
            stop_process(pub)
    if pub.returncode != 0:
        raise RuntimeError(f"publisher failed ({pub.returncode}):\n{log_tail(pub_log)}")
    summary = orjson.loads(summary_path.read_bytes())
    found = measure(servers.r, summary, kind)
    p = summary["publisher"]
    end_ms = found.pop("last_write_ms") or p["last_ack_ms"]
    seconds = max(end_ms - p["first_publish_ms"], 1) / 1000
    cpu = {k: (None if cpu0[k] is None or cpu1[k] is None else cpu1[k] - cpu0[k]) for k in procs}
    cpu["publisher"] = p["cpu_s"]
    # Whatever else ran on the machine meanwhile (this is a shared 2-core box): noise to know of.
    ours = sum(v for v in cpu.values() if v is not None)
    cpu["others"] = max(0.0, host1 - host0 - ours)
    out = {
        "messages": summary["messages"],
        "valid": summary["valid"],
        "invalid": summary["invalid"],
        "mix": summary["mix"],
        "processed": received,
        "seconds": round(seconds, 3),
        "messages_per_s": round(summary["messages"] / seconds, 1),
        "publish_rate": p["publish_rate"],
        **found,
        "cpu_us_per_message": {
            k: None if v is None else round(v / n * 1e6, 1) for k, v in cpu.items()
        },
        "cpu_cores": {k: None if v is None else round(v / seconds, 2) for k, v in cpu.items()},
        "subscriber_rss_mb": round(rss_mb, 1),
        "publisher": p,
    }
    if phase == "latency":
        out["rate"] = rate
    return out


# --- what is in Redis -----------------------------------------------------------------------


def _ms(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])


def _valid_coordinates(fields: dict[bytes, bytes]) -> bool:
    try:
        lat = float(fields.get(b"lat", 0))
        lon = float(fields.get(b"lon", 0))
    except ValueError:
        return False
    return -90 <= lat <= 90 and -180 <= lon <= 180


def _entry_ts(fields: dict[bytes, bytes]) -> int | None:
    if b"ts" in fields:
        return int(fields[b"ts"])
    m = _TAG_TIME.search(fields.get(b"raw", b""))
    return int(m[1]) if m else None


@dataclass
class _Found:
    """What the streams held so far: one tally across every stream read, so that the last write
    time and the duplicates count over all of them."""

    latencies: list[int] = field(default_factory=list)
    short: list[tuple[str, int, int]] = field(default_factory=list)  # (key, expected, found)
    extra: int = 0
    last_ms: int = 0

    def saw(self, entry_id: bytes) -> int:
        """The entry's Redis time, which also pushes the last write time on."""
        ms = _ms(entry_id)
        self.last_ms = max(self.last_ms, ms)
        return ms


def _distinct_in_track(entries: list[tuple[bytes, dict[bytes, bytes]]], found: _Found) -> int:
    """A redelivered message is written again with the same fields: count it once, as extra."""
    seen: set[tuple[tuple[bytes, bytes], ...]] = set()
    for entry_id, fields in entries:
        ms = found.saw(entry_id)
        if not _valid_coordinates(fields):
            continue  # the baseline writes out-of-range coordinates too
        ident = tuple(sorted(fields.items()))
        if ident in seen:
            found.extra += 1
            continue
        seen.add(ident)
        ts = _entry_ts(fields)
        if ts is not None:
            found.latencies.append(ms - ts)
    return len(seen)


def _check_tracks(r: redis.Redis, expected: dict[str, int], found: _Found) -> None:
    tracks = [k for k in expected if not k.startswith(STATIC_PREFIX)]
    # 200 streams a pipeline: a pipeline holds all its replies until the last one is in.
    for i in range(0, len(tracks), 200):
        chunk = tracks[i : i + 200]
        pipe = r.pipeline(transaction=False)
        for k in chunk:
            pipe.xrange(k)
        for k, entries in zip(chunk, pipe.execute(), strict=True):
            n = _distinct_in_track(entries, found)
            if n < expected[k]:
                found.short.append((k, expected[k], n))
            found.extra += max(0, n - expected[k])


def _check_statics(r: redis.Redis, expected: dict[str, int], found: _Found) -> None:
    """Type 5 leaves no track entry: its record is a vessel_static event."""
    statics = {
        k[len(STATIC_PREFIX) :]: v for k, v in expected.items() if k.startswith(STATIC_PREFIX)
    }
    if not statics:
        return
    got: dict[str, set[bytes]] = {}
    for entry_id, f in reader.events(r):
        found.saw(entry_id)
        if f.get(b"type") == b"vessel_static":
            got.setdefault(f[b"id"].decode(), set()).add(f[b"ts"])
    for vid, n in statics.items():
        if len(got.get(vid, ())) < n:
            found.short.append((STATIC_PREFIX + vid, n, len(got.get(vid, ()))))


def _lost_by_kind(short: list[tuple[str, int, int]]) -> dict[str, int]:
    lost_by: dict[str, int] = {}
    for k, want, got_n in short:
        what = k.split(":", 1)[0]
        lost_by[what] = lost_by.get(what, 0) + want - got_n
    return lost_by


def measure(r: redis.Redis, summary: dict[str, Any], kind: str) -> dict[str, Any]:
    """Lost, duplicates, dead letters and latencies from the streams the subscriber wrote."""
    expected: dict[str, int] = summary["worker_keys" if kind == "worker" else "baseline_keys"]
    found = _Found()
    _check_tracks(r, expected, found)
    _check_statics(r, expected, found)
    # Dead letters and events are writes too: the phase lasts until the last of them.
    for stream in (keys.DEADLETTER, *(keys.events(tag) for tag in keys.TAGS)):
        tail = r.xrevrange(stream, count=1)
        if tail:
            found.saw(tail[0][0])
    reasons = {k.decode(): int(v) for k, v in r.hgetall(keys.DEADLETTER_COUNTS).items()}
    stats = reader.ingest_stats(r)["writes"]
    lost_by = _lost_by_kind(found.short)
    return {
        "lost": sum(lost_by.values()),
        "lost_by_kind": lost_by,
        "lost_sample": [{"key": k, "expected": e, "found": f} for k, e, f in found.short[:10]],
        "duplicates": found.extra,
        "deadletter": r.xlen(keys.DEADLETTER),
        "deadletter_reasons": reasons,
        "latency_ms": percentiles(found.latencies),
        "stats": stats,
        "last_write_ms": found.last_ms or None,
        # the audit log's share: entries written during the phase (the mix has no acts but
        # the roster's) and heads the worker signed
        "audit": {
            c.value: {
                "entries": audit_log.head(r, c.value).seq,
                "signed_heads": r.llen(keys.audit_heads(c.value)),
            }
            for c in Chain
        },
    }


# --- the report -----------------------------------------------------------------------------


def _summary(phases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    s, lat = phases["sustained"], phases["latency"]
    return {
        "messages_per_s": s["messages_per_s"],
        "latency_p50_ms": lat["latency_ms"]["p50"],
        "latency_p95_ms": lat["latency_ms"]["p95"],
        "latency_p99_ms": lat["latency_ms"]["p99"],
        "latency_max_ms": lat["latency_ms"]["max"],
        "lost": s["lost"] + lat["lost"],
        "invalid_sent": s["invalid"] + lat["invalid"],
        "deadletter": s["deadletter"] + lat["deadletter"],
        "cpu_us_per_message": s["cpu_us_per_message"]["subscriber"],
        **phases,
    }


def _cluster_phase(settings: Settings, o: Options, work: Path, logs: Path) -> dict[str, Any] | None:
    """The worker's sustained phase on a Valkey Cluster of `o.cluster` masters on this machine
    (same broker, workload and persistence); None when REDIS_URL names the Redis to use."""
    if settings.redis_url is not None:
        return None
    with Servers(
        settings, work, "worker-cluster", o.fsync, o.broker, cluster_masters=o.cluster
    ) as servers:
        phase = run_phase("worker", "sustained", servers, settings, o, logs)
    return {"masters": o.cluster, **phase}


def main(out: Path, settings: Settings, opts: dict[str, str]) -> None:
    """Run the benchmark and write its JSON report to `out` (options: see the module doc)."""
    o = parse_options(opts)
    load_avg = host_load()
    work = settings.data_dir / "bench" / "ingest-run"
    logs = settings.data_dir / "bench" / "ingest-logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    versions: dict[str, Any] = {}
    persistence = ""
    try:
        for kind in SUBSCRIBERS:
            results[kind] = {}
            for phase in ("sustained", "latency"):
                with Servers(settings, work, f"{kind}-{phase}", o.fsync, o.broker) as servers:
                    if not versions:
                        versions = server_versions(servers)
                        persistence = redis_persistence(servers.r)
                    results[kind][phase] = run_phase(kind, phase, servers, settings, o, logs)
        cluster = _cluster_phase(settings, o, work, logs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    w = _summary(results["worker"])
    b = _summary(results["baseline"])
    report = {
        **report_header("ingest", load_avg),
        "versions": versions,
        "servers": {
            "broker": "given by MQTT_URL" if settings.mqtt_url else f"started: {o.broker}",
            "redis": ("given by REDIS_URL" if settings.redis_url else "started: embedded Valkey")
            + f"; {persistence}",
        },
        "options": dataclasses.asdict(o),
        "mix": results["worker"]["sustained"]["mix"],
        "worker": w,
        "baseline": b,
        "ratio": {
            "throughput": ratio(w["messages_per_s"], b["messages_per_s"]),
            "latency_p50": ratio(w["latency_p50_ms"], b["latency_p50_ms"]),
            "latency_p99": ratio(w["latency_p99_ms"], b["latency_p99_ms"]),
            "cpu_per_message": ratio(w["cpu_us_per_message"], b["cpu_us_per_message"]),
            "cluster_to_single_node": cluster
            and ratio(cluster["messages_per_s"], w["messages_per_s"]),
        },
        "cluster": cluster,
        "targets": {
            "worker_min_10000_msg_s": w["messages_per_s"] >= TARGET_MSG_S,
            "worker_at_least_0_8_of_baseline": (
                ratio(w["messages_per_s"], b["messages_per_s"]) or 0
            )
            >= TARGET_RATIO,
            "worker_p99_under_250ms": w["latency_p99_ms"] is not None
            and w["latency_p99_ms"] < TARGET_P99_MS,
            "p99_measured_at_msg_s": o.rate,
            "worker_lost_zero": w["lost"] == 0,
            "cluster_lost_zero": cluster is None or cluster["lost"] == 0,
        },
        "run_seconds": round(time.monotonic() - started, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    _print(report, out)


def _print(report: dict[str, Any], out: Path) -> None:
    o, t = report["options"], report["targets"]
    print(
        f"ingest benchmark: {o['n']} messages sustained; {o['rate']:g} msg/s for "
        f"{o['seconds']:g} s -> {out}"
    )
    print(
        f"{'':9} {'msg/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'lost':>5} {'dead':>5} "
        f"{'cpu us/msg':>10}"
    )
    for kind in SUBSCRIBERS:
        s = report[kind]
        print(
            f"{kind:9} {s['messages_per_s']:>8.0f} {s['latency_p50_ms'] or 0:>7.1f} "
            f"{s['latency_p99_ms'] or 0:>7.1f} {s['lost']:>5} {s['deadletter']:>5} "
            f"{s['cpu_us_per_message'] or 0:>10.0f}"
        )
    print(
        f"ratio worker/baseline: throughput {report['ratio']['throughput']}, "
        f"p99 {report['ratio']['latency_p99']}"
    )
    c = report["cluster"]
    if c:
        print(
            f"worker on a {c['masters']}-master cluster: {c['messages_per_s']:.0f} msg/s, "
            f"lost {c['lost']}; {report['ratio']['cluster_to_single_node']} of one node"
        )
    print("targets: " + ", ".join(f"{k}={v}" for k, v in t.items()))
