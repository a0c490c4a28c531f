"""The system under test of `python run.py bench faults` (bench/faults.py): the plan, and one
setup's processes, which the harness starts, finds, signals and stops.

One run is one setup:

* "embedded": `python run.py` exactly as a user starts it (the supervisor: embedded Valkey, the
  amqtt broker with its Redis inbox, the worker, the simulator, the web app), its own DATA_DIR
  and free ports; the supervisor restarts what is killed;
* "mosquitto": mosquitto (persistence on) and a Valkey (appendfsync always) started here, and
  `python run.py` pointed at them with MQTT_URL / REDIS_URL; the harness restarts them itself.

The faults (Stack.inject):

* worker_kill: SIGKILL of the ingest worker (the supervisor starts it again);
* broker_restart: SIGTERM to the embedded broker (the supervisor restarts it), or mosquitto's
  graceful restart (it saves its sessions and queues);
* broker_kill: SIGKILL of the broker; mosquitto is started again on the same persistence;
* redis_kill: SIGKILL of Redis (the supervisor restarts the embedded one; the other one is
  started again here, after about the supervisor's own 1 s, on the same AOF);
* redis_stall: SIGSTOP of Redis for `stall` seconds, then SIGCONT.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bench.common import ROOT, log_tail
from domain.clock import system_ms
from embedded.processes import ServerProcess, free_port, mosquitto, redis_server

SETUPS = ("embedded", "mosquitto")
KINDS = ("worker_kill", "broker_restart", "broker_kill", "redis_kill", "redis_stall")
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
SUPERVISOR_RESTART_DELAY_S = 1.0  # embedded/supervisor.py waits this long before a restart


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
