"""What several benchmarks share: the servers of a run, the ingest worker as a subscriber, the
helpers for processes and logs, and the figures of a report (percentiles, ratios, versions)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
import psutil
import redis

from bench.workload import Publisher
from config.settings import Settings
from domain.clock import system_ms
from embedded.processes import (
    ServerProcess,
    amqtt_broker,
    mosquitto,
    mosquitto_binary,
    redis_server,
)
from embedded.valkey_cluster import ValkeyCluster
from infra.connections import broker_address, mqtt_client, redis_client
from store import devices, keys

ROOT = Path(__file__).resolve().parent.parent


# --- processes and logs ---------------------------------------------------------------------


def stop_process(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def host_busy() -> float:
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0)


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Servers:
    """The broker and Redis of one phase: fresh ones started here, or the configured ones."""

    def __init__(
        self,
        settings: Settings,
        work: Path,
        phase: str,
        fsync: str = "",
        broker: str = "mosquitto",
        cluster_masters: int = 0,
    ) -> None:
        self.settings = settings
        self.fsync = fsync
        self.dir = work / phase
        self.broker: ServerProcess | None = None
        self.redis_srv: ServerProcess | None = None
        # a Valkey Cluster of this many masters instead of one server (same persistence)
        self.cluster_masters = cluster_masters
        self.cluster: ValkeyCluster | None = None
        # "embedded": the broker `python run.py` starts (roster, topic rules, inbox), with the
        # ingest worker's account for every client of the benchmark
        self.embedded = broker == "embedded" and settings.mqtt_url is None
        self.account = ""

    def __enter__(self) -> Servers:
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            if self.cluster_masters:
                fsync = self.fsync or "always"  # the embedded server's
                self.cluster = ValkeyCluster(
                    self.dir / "cluster", self.cluster_masters, appendonly=True, fsync=fsync
                ).start()
                self.r = redis_client(self.cluster.url)
            elif self.settings.redis_url is None:
                extra = {"fsync": self.fsync} if self.fsync else {}
                self.redis_srv = redis_server(self.dir / "redis", **extra)
                self.r = redis.Redis.from_url(self.redis_url)
            else:
                self.r = redis.Redis.from_url(self.redis_url)
            if self.cluster is None:
                self.r.flushdb()
            if self.embedded:
                secret = devices.add(self.r, "ingest", "service", system_ms(), source="bench")
                self.account = f"ingest:{secret}@"
                self.broker = amqtt_broker(self.redis_url, log=self.dir / "broker.log")
            elif self.settings.mqtt_url is None:
                self.broker = mosquitto(self.dir / "mosquitto")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        for srv in (self.broker, self.redis_srv):
            if srv is not None:
                srv.stop()
        if self.cluster is not None:
            self.cluster.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def mqtt_url(self) -> str:
        return self.settings.mqtt_url or f"mqtt://{self.account}127.0.0.1:{self.broker.port}"  # type: ignore[union-attr]

    @property
    def redis_url(self) -> str:
        if self.cluster is not None:
            return self.cluster.url
        return self.settings.redis_url or f"redis://127.0.0.1:{self.redis_srv.port}/0"  # type: ignore[union-attr]

    def processes(self) -> dict[str, psutil.Process | None]:
        servers = [("broker", self.broker), ("redis", self.redis_srv)]
        if self.cluster is not None:
            servers[1:] = [(f"redis-{i}", n) for i, n in enumerate(self.cluster.nodes)]
        return {
            name: psutil.Process(srv.proc.pid) if srv and srv.proc else None
            for name, srv in servers
        }


# --- the ingest worker (or the raw baseline) as a subscriber --------------------------------


def _subscriber_argv(
    kind: str, servers: Servers, client_id: str, settings: Settings
) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    env.pop("MQTT_SHARE_GROUP", None)
    if kind == "worker":
        env |= {
            "REDIS_URL": servers.redis_url,
            "MQTT_URL": servers.mqtt_url,
            "MQTT_CLIENT_ID": client_id,
            "TOPIC_PREFIX": settings.topic_prefix,
            "MAX_PAYLOAD_BYTES": str(settings.max_payload_bytes),
            "INGEST_MAX_FUTURE_S": str(settings.ingest_max_future_s),
            "HISTORY_HOURS": str(settings.history_hours),
            "DEADLETTER_MAXLEN": str(settings.deadletter_maxlen),
            "OWNTRACKS_MAP": str(settings.owntracks_map),
            "INGEST_SOURCE": "inbox" if servers.embedded else "mqtt",
        }
        return [sys.executable, "run.py", "ingest"], env
    return [
        sys.executable,
        "-m",
        "bench.baseline",
        "--mqtt",
        servers.mqtt_url,
        "--redis",
        servers.redis_url,
        "--client-id",
        client_id,
        "--prefix",
        settings.topic_prefix,
    ], env


@contextlib.contextmanager
def subscriber(
    kind: str, servers: Servers, settings: Settings, log: Path
) -> Iterator[subprocess.Popen]:
    client_id = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
    argv, env = _subscriber_argv(kind, servers, client_id, settings)
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_subscribed(proc, servers, settings.topic_prefix, log)
        yield proc
    finally:
        stop_process(proc)
        _forget_session(servers.mqtt_url, client_id)


def received_count(r: redis.Redis) -> int:
    return int(r.hget(keys.MESSAGE_OUTCOMES, "received") or 0)


def _wait_subscribed(
    proc: subprocess.Popen, servers: Servers, prefix: str, log: Path, timeout: float = 60.0
) -> None:
    """Probe messages until one is in Redis: the subscription is then in place."""
    pub = Publisher(servers.mqtt_url, f"bench-probe-{uuid.uuid4().hex[:8]}", 10)
    try:
        deadline = time.monotonic() + timeout
        seq = 0
        while received_count(servers.r) == 0:
            if proc.poll() is not None:
                raise RuntimeError(f"subscriber exited with {proc.returncode}:\n{log_tail(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"subscriber not subscribed after {timeout} s:\n{log_tail(log)}")
            seq += 1
            doc = {
                "unit_id": "bench-probe",
                "seq": seq,
                "ts": system_ms(),
                "lat": 22.5,
                "lon": 114.4,
            }
            pub.publish(f"{prefix}/units/bench-probe/position", orjson.dumps(doc))
            pub.drain(10)
            end = time.monotonic() + 0.5
            while time.monotonic() < end and received_count(servers.r) == 0:
                time.sleep(0.02)
    finally:
        pub.close()


def _forget_session(mqtt_url: str, client_id: str) -> None:
    """Drop the subscriber's persistent session, so a shared broker keeps nothing for it."""
    with contextlib.suppress(Exception):
        c = mqtt_client(mqtt_url, client_id, persistent=False)
        a = broker_address(mqtt_url)
        c.connect(a.host, a.port)
        c.loop(0.5)
        c.disconnect()


# --- report figures -------------------------------------------------------------------------


def percentiles(values: list[int]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    v = sorted(values)

    def q(p: float) -> float:
        return float(v[min(len(v) - 1, max(0, round(p * len(v)) - 1))])  # nearest rank

    return {
        "count": len(v),
        "p50": q(0.50),
        "p95": q(0.95),
        "p99": q(0.99),
        "max": float(v[-1]),
        "mean": round(sum(v) / len(v), 1),
    }


def _text(x: object) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def redis_persistence(r: redis.Redis) -> str:
    try:
        conf = {_text(k): _text(v) for k, v in r.config_get("append*").items()}
    except redis.exceptions.ResponseError:
        return "unknown (CONFIG disabled)"
    if conf.get("appendonly") != "yes":
        return "no AOF"
    return f"AOF, appendfsync {conf.get('appendfsync')}"


def server_versions(servers: Servers) -> dict[str, Any]:
    info = servers.r.info("server")
    server = info.get("server_name") or "redis"
    version = info.get("valkey_version") or info.get("redis_version")
    return {
        "mosquitto": _mosquitto_version(servers.mqtt_url),
        "redis_server": f"{server} {version}",
        "python": platform.python_version(),
        **{
            pkg: metadata.version(pkg)
            for pkg in ("paho-mqtt", "redis", "pydantic", "orjson", "pyais")
        },
    }


def _mosquitto_version(url: str) -> str | None:
    """What the broker says of itself ($SYS), else the local binary's banner."""
    got: list[str] = []
    with contextlib.suppress(Exception):
        c = mqtt_client(url, f"bench-sys-{uuid.uuid4().hex[:8]}", persistent=False)
        c.on_message = lambda _c, _u, m: got.append(m.payload.decode())
        a = broker_address(url)
        c.connect(a.host, a.port)
        c.subscribe("$SYS/broker/version")
        end = time.monotonic() + 2
        while not got and time.monotonic() < end:
            c.loop(0.1)
        c.disconnect()
    return got[0] if got else mosquitto_banner()


def mosquitto_banner() -> str | None:
    """The local mosquitto binary's first line ("mosquitto version 2.0.11")."""
    with contextlib.suppress(Exception):
        banner = subprocess.run(
            [mosquitto_binary(), "-h"], capture_output=True, text=True, timeout=5
        ).stdout
        return banner.splitlines()[0].strip()
    return None


def host_load() -> list[float]:
    """The load averages (1, 5, 15 min), taken when a benchmark starts."""
    return [round(x, 2) for x in os.getloadavg()]


def report_header(name: str, load_avg_at_start: list[float], **host: object) -> dict[str, Any]:
    """What every benchmark report opens with: which, when, on what machine (and `host`
    figures of the benchmark's own)."""
    return {
        "benchmark": name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "load_avg_at_start": load_avg_at_start,
            **host,
        },
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else round(a / b, 3)
