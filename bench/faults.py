"""`python run.py bench faults [--out FILE] [devices=20 rate=10 seconds=180 stall=20 settle=180]`

Issue 12, "nothing acknowledged lost": a steady QoS 1 stream of numbered unit positions while
parts of the system are killed, restarted and stalled; afterwards, is every message whose PUBACK
the device received in Redis, and is none applied twice? Used by tests/test_fault_matrix.py (a
short plan) and by this benchmark (a longer one, with a broker SIGKILL too).

One run is one setup:

* "embedded": `python run.py` exactly as a user starts it (the supervisor: embedded Valkey, the
  amqtt broker with its Redis inbox, the worker, the simulator, the web app), its own DATA_DIR
  and free ports; the supervisor restarts what is killed;
* "mosquitto": mosquitto (persistence on) and a Valkey (appendfsync always) started here, and
  `python run.py` pointed at them with MQTT_URL / REDIS_URL; the harness restarts them itself.

The harness adds `devices` unit devices to the roster (store.devices, source "cli"; mosquitto as
started by embedded.processes lets anyone in and ignores the credentials) and publishes from one
paho client per device (user name = device id, its secret, persistent session), `rate` messages
per second each: {"unit_id", "seq", "ts", "lat", "lon"} with ts = t0 + seq. A message counts as
acknowledged only once its PUBACK arrived (on_publish; each device stays below 65,535 messages,
so a packet id names one message), and every publish() return code is checked.

Faults, each at a planned second of the stream at the earliest and only once the system has
recovered from the one before ("recovered": the part hit runs again, every device is connected
and a message published after that is in Redis, within `ready_s`):

* worker_kill: SIGKILL of the ingest worker (the supervisor starts it again);
* broker_restart: SIGTERM to the embedded broker (the supervisor restarts it), or mosquitto's
  graceful restart (it saves its sessions and queues);
* broker_kill: SIGKILL of the broker; mosquitto is started again on the same persistence;
* redis_kill: SIGKILL of Redis (the supervisor restarts the embedded one; the other one is
  started again here, after about the supervisor's own 1 s, on the same AOF);
* redis_stall: SIGSTOP of Redis for `stall` seconds, then SIGCONT.

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

This benchmark always starts its own servers (it kills them): REDIS_URL / MQTT_URL are ignored.
Logs (the supervisor's output, all parts') are kept under DATA_DIR/bench/faults-logs.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bench.common import ROOT, log_tail
from bench.redis_bench import options
from config.settings import Settings
from domain.clock import system_ms
from embedded.processes import ServerProcess, free_port, mosquitto, mosquitto_binary, redis_server
from store import devices as roster
from store import keys, reader
from store.writer import SEEN_KEEP

SETUPS = ("embedded", "mosquitto")
KINDS = ("worker_kill", "broker_restart", "broker_kill", "redis_kill", "redis_stall")
UNIT_PREFIX = "U-FAULT"
LAT, LON = 22.55, 114.45  # Dapeng peninsula
MAX_PER_DEVICE = 60_000  # below paho's 65,535 packet ids
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
SUPERVISOR_RESTART_DELAY_S = 1.0  # embedded/supervisor.py waits this long before a restart

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


@dataclass(frozen=True)
class Plan:
    devices: int
    rate: float  # messages per second per device
    faults: tuple[tuple[float, str], ...]  # (earliest second into the stream, kind)
    stall_s: float = 20.0
    tail_s: float = 5.0  # the stream goes on this long after recovery from the last fault
    min_stream_s: float = 0.0
    ready_s: float = 60.0  # at most this long waiting for recovery before the next fault
    settle_s: float = 120.0  # deadline: every PUBACK, then every acknowledged message in Redis
    prefix: str = "ecocommand"

    def __post_init__(self) -> None:
        unknown = {k for _, k in self.faults} - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {', '.join(KINDS)}")
        if self.devices < 1 or self.rate <= 0:
            raise ValueError("devices and rate must be positive")


@dataclass
class Fault:
    kind: str
    start_ms: int
    end_ms: int
    detail: dict[str, Any] = field(default_factory=dict)
    recovered: bool = False  # back, and a message published after that in Redis, in ready_s


# --- the system under test ----------------------------------------------------------------


def _is_part(name: str, proc: psutil.Process) -> bool:
    if name == "redis":  # it sets its process title: "valkey-server 127.0.0.1:PORT"
        return proc.name().startswith(("valkey-server", "redis-server"))
    cmd = proc.cmdline()
    if name == "ingest":
        return len(cmd) >= 2 and cmd[-1] == "ingest" and cmd[-2].endswith("run.py")
    return name == "broker" and "embedded.broker" in cmd


class Stack:
    """`python run.py` with its output in `log`, and for the mosquitto setup its servers."""

    def __init__(self, setup: str, work: Path, prefix: str) -> None:
        if setup not in SETUPS:
            raise ValueError(f"unknown setup {setup!r}; known: {', '.join(SETUPS)}")
        self.setup, self.work, self.prefix = setup, work, prefix
        self.log = work / "supervisor.log"
        self.sup: subprocess.Popen[bytes] | None = None
        self.mosq: ServerProcess | None = None
        self.redis_srv: ServerProcess | None = None
        self.stopped_pid: int | None = None  # a Redis under SIGSTOP: always continued
        self.redis_port = self.mqtt_port = 0

    # starting and stopping -----------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOPIC_PREFIX=self.prefix)
        for k in ("REDIS_URL", "MQTT_URL", "INGEST_SOURCE", "MQTT_CLIENT_ID", "MQTT_SHARE_GROUP"):
            env.pop(k, None)
        ports = {free_port()}
        while len(ports) < 3:
            ports.add(free_port())
        web, *servers = sorted(ports)
        env |= {"DATA_DIR": str(self.work / "data"), "WEB_PORT": str(web)}
        if self.setup == "embedded":
            self.redis_port, self.mqtt_port = servers
            env |= {"EMBEDDED_REDIS_PORT": str(servers[0]), "EMBEDDED_MQTT_PORT": str(servers[1])}
        else:
            self.mosq = mosquitto(self.work / "mosquitto")
            self.redis_srv = redis_server(self.work / "redis")  # appendfsync always
            self.redis_port, self.mqtt_port = self.redis_srv.port, self.mosq.port
            env |= {"REDIS_URL": self.redis_url, "MQTT_URL": f"mqtt://127.0.0.1:{self.mqtt_port}"}
        return env

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        env = self._env()
        with self.log.open("ab") as out:
            self.sup = subprocess.Popen(
                [sys.executable, str(ROOT / "run.py")],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the harness reaches it only through stop()
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while "ecocommand is running" not in self.log.read_text(errors="replace"):
            if self.sup.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"python run.py did not start:\n{self.tail(40)}")
            time.sleep(0.1)
        if self.setup == "embedded":  # a .env with REDIS_URL / MQTT_URL would start none
            self.part("redis", timeout=5)
            self.part("broker", timeout=5)

    def stop(self) -> None:
        if self.stopped_pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self.stopped_pid, signal.SIGCONT)
        if self.sup is not None:
            try:
                left = psutil.Process(self.sup.pid).children(recursive=True)
            except psutil.Error:
                left = []
            self.sup.send_signal(signal.SIGTERM)  # it stops its parts in order
            try:
                self.sup.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.sup.kill()
                self.sup.wait()
            for p in left:  # what it could not stop (it started them; pids checked by psutil)
                with contextlib.suppress(psutil.Error):
                    p.kill()
        for srv in (self.mosq, self.redis_srv):
            if srv is not None:
                srv.stop()

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def client(self, timeout: float = 5.0, retries: int = 3) -> redis.Redis:
        return redis.Redis(
            port=self.redis_port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), retries),
        )

    def tail(self, lines: int = 60) -> str:
        return log_tail(self.log, lines)

    def part(self, name: str, timeout: float = 30.0) -> psutil.Process:
        """A running part of the supervisor: "ingest", "broker" or "redis"."""
        assert self.sup is not None
        deadline = time.monotonic() + timeout
        while True:
            for child in psutil.Process(self.sup.pid).children():
                try:
                    if child.status() != psutil.STATUS_ZOMBIE and _is_part(name, child):
                        return child
                except psutil.Error:
                    continue
            if time.monotonic() > deadline:
                raise RuntimeError(f"no running {name} under the supervisor:\n{self.tail(30)}")
            time.sleep(0.1)

    # faults --------------------------------------------------------------------------------
    def inject(self, kind: str, stall_s: float) -> Fault:
        start = system_ms()
        detail = getattr(self, f"_{kind}")(stall_s)
        # a kill ends with its signal, a stall with SIGCONT; a restart is recovery, not fault
        return Fault(kind, start, detail.pop("end_ms", None) or system_ms(), detail)

    @staticmethod
    def _restarted(srv: ServerProcess, kill: bool, wait_s: float = 0.0) -> dict[str, Any]:
        signalled = system_ms()
        srv.stop(kill=kill)
        time.sleep(wait_s)
        srv.start()  # same port, same data: mosquitto's persistence, Redis' AOF
        return {
            "end_ms": signalled,
            "restarted_after_s": round((system_ms() - signalled) / 1000, 2),
        }

    def _signal_part(self, name: str, sig: signal.Signals) -> dict[str, Any]:
        p = self.part(name)
        p.send_signal(sig)
        return {"pid": p.pid, "signal": sig.name}

    def _worker_kill(self, _stall_s: float) -> dict[str, Any]:
        return self._signal_part("ingest", signal.SIGKILL)

    def _broker_restart(self, _stall_s: float) -> dict[str, Any]:
        if self.mosq is None:
            return self._signal_part("broker", signal.SIGTERM)  # the supervisor restarts it
        # SIGTERM: mosquitto saves its sessions and queues before it exits
        return {"signal": "SIGTERM", **self._restarted(self.mosq, kill=False)}

    def _broker_kill(self, _stall_s: float) -> dict[str, Any]:
        if self.mosq is None:
            return self._signal_part("broker", signal.SIGKILL)
        # it comes back with what its last autosave (every second) wrote
        return {"signal": "SIGKILL", **self._restarted(self.mosq, kill=True)}

    def _redis_kill(self, _stall_s: float) -> dict[str, Any]:
        if self.redis_srv is None:
            return self._signal_part("redis", signal.SIGKILL)
        # started again after as long as the supervisor waits, on the same AOF
        return {
            "signal": "SIGKILL",
            **self._restarted(self.redis_srv, kill=True, wait_s=SUPERVISOR_RESTART_DELAY_S),
        }

    def _redis_stall(self, stall_s: float) -> dict[str, Any]:
        srv = self.redis_srv
        pid = srv.proc.pid if srv is not None and srv.proc else self.part("redis").pid
        os.kill(pid, signal.SIGSTOP)
        self.stopped_pid = pid
        try:
            time.sleep(stall_s)
        finally:
            os.kill(pid, signal.SIGCONT)
            self.stopped_pid = None
        return {"pid": pid, "stalled_s": stall_s}


# --- the devices --------------------------------------------------------------------------


class Device:
    """One unit on its own paho client; `mids[seq]` is the packet id of message `seq` (None if
    publish() refused it), `pub_ms[seq]` when it was handed to paho."""

    def __init__(self, device_id: str, secret: str, port: int) -> None:
        self.id, self.port = device_id, port
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=device_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        c.username_pw_set(device_id, secret)
        c.max_queued_messages_set(0)  # no limit: a refusal would be a loss of our own making
        c.reconnect_delay_set(0.1, 2)
        c.on_publish = self._on_publish
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        self.client = c
        self.acked: set[int] = set()  # packet ids whose PUBACK arrived
        self.mids: list[int | None] = []
        self.pub_ms: list[int] = []
        self.rc: Counter[str] = Counter()  # publish() return codes
        self.connected = False
        self.connects = 0
        self.refusals: list[str] = []

    # paho's thread (no lock of ours: paho calls on_publish holding its own message lock)
    def _on_publish(self, _c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        self.acked.add(mid)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self.refusals.append(str(rc))
            return
        self.connected = True
        self.connects += 1

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        self.connected = False

    def publish(self, topic: str, seq: int, t0: int) -> None:
        doc = {"unit_id": self.id, "seq": seq, "ts": t0 + seq, "lat": LAT, "lon": LON + seq / 1e5}
        info = self.client.publish(topic, orjson.dumps(doc), qos=1)
        self.pub_ms.append(system_ms())
        self.rc[mqtt.error_string(info.rc)] += 1
        # NO_CONN: paho keeps the message and sends it once connected again
        ok = info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)
        self.mids.append(info.mid if ok else None)

    def acked_seqs(self) -> set[int]:
        acked = set(self.acked)
        return {s for s, mid in enumerate(self.mids) if mid is not None and mid in acked}

    def published(self) -> int:
        return sum(mid is not None for mid in self.mids)


class Fleet:
    def __init__(self, ids_secrets: list[tuple[str, str]], port: int, plan: Plan) -> None:
        self.devices = [Device(i, s, port) for i, s in ids_secrets]
        self.plan = plan
        self.t0 = system_ms()  # ts = t0 + seq: distinct per seq, one identity per message
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._stream, name="fault-stream", daemon=True)
        self.started = 0.0

    def connect(self, timeout: float = 30.0) -> None:
        for d in self.devices:
            d.client.connect_async("127.0.0.1", d.port, keepalive=30)
            d.client.loop_start()
        deadline = time.monotonic() + timeout
        while not all(d.connected for d in self.devices):
            if time.monotonic() > deadline:
                bad = {d.id: d.refusals[-3:] for d in self.devices if not d.connected}
                raise RuntimeError(f"devices not connected after {timeout:.0f} s: {bad}")
            time.sleep(0.1)

    def start(self) -> None:
        self.started = time.monotonic()
        self.thread.start()

    def _stream(self) -> None:
        tick, seq = 1.0 / self.plan.rate, 0
        topics = [f"{self.plan.prefix}/units/{d.id}/position" for d in self.devices]
        while not self.stop.is_set() and seq < MAX_PER_DEVICE:
            for d, topic in zip(self.devices, topics, strict=True):
                d.publish(topic, seq, self.t0)
            seq += 1
            self.stop.wait(max(0.0, self.started + seq * tick - time.monotonic()))

    def end_stream(self) -> None:
        self.stop.set()
        self.thread.join(30)

    def first_last_ms(self) -> tuple[int, int]:
        return (
            min(d.pub_ms[0] for d in self.devices if d.pub_ms),
            max(d.pub_ms[-1] for d in self.devices if d.pub_ms),
        )

    def all_acked(self) -> bool:
        return all(len(d.acked_seqs()) == d.published() for d in self.devices)

    def close(self) -> None:
        for d in self.devices:
            with contextlib.suppress(Exception):
                d.client.disconnect()
                d.client.loop_stop()


def provision(r: redis.Redis, n: int) -> list[tuple[str, str]]:
    return [
        (f"{UNIT_PREFIX}{i:03d}", roster.add(r, f"{UNIT_PREFIX}{i:03d}", "unit", system_ms()))
        for i in range(n)
    ]


# --- watching -----------------------------------------------------------------------------


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


# --- counting -----------------------------------------------------------------------------

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


# --- one run ------------------------------------------------------------------------------


def run(setup: str, plan: Plan, work: Path) -> dict[str, Any]:
    """One setup through the plan: its figures (see the module doc). Raises RuntimeError with
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
        "broker": f"amqtt {metadata.version('amqtt')}" if setup == "embedded" else _mosquitto(),
    }


def _mosquitto() -> str | None:
    with contextlib.suppress(Exception):
        banner = subprocess.run(
            [mosquitto_binary(), "-h"], capture_output=True, text=True, timeout=5
        ).stdout
        return banner.splitlines()[0].strip()
    return None


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
    load_avg = [round(x, 2) for x in os.getloadavg()]
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
        "benchmark": "faults",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "load_avg_at_start": load_avg,
        },
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
