"""`python run.py`: start every part in order, restart a part that dies, stop all on Ctrl-C.

Each part is its own process in its own session, so a Ctrl-C reaches only this supervisor, which
then stops the parts in reverse order (web and simulator first, Redis last, so the worker can
finish its batch). Parts also get SIGTERM if the supervisor itself dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from config.settings import Settings
from domain.clock import system_ms
from embedded.valkey import server_command
from infra.connections import Unreachable, broker_reachable, redis_client
from infra.tls import check_pair
from infra.wait import wait_until
from store import keys

STOP_GRACE_S = 4.0  # per stage; two stages stay well inside the 10 s promised to users
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # not Linux: Ctrl-C still stops everything through the supervisor
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Part:
    name: str
    argv: list[str]
    where: str
    restart: bool = True
    proc: subprocess.Popen[bytes] | None = None
    starts: list[float] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # its own settings (its broker account)

    def start(self, env: dict[str, str]) -> None:
        self.starts = [t for t in self.starts if time.monotonic() - t < 60] + [time.monotonic()]
        self.proc = subprocess.Popen(
            self.argv, env=env | self.env, start_new_session=True, preexec_fn=_die_with_parent
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _wait(check, what: str, timeout: float = 15.0) -> None:
    if not wait_until(check, timeout):
        raise Unreachable(f"{what} did not start within {timeout:.0f} s")


def _stop(parts: list[Part]) -> None:
    for p in parts:
        if p.alive():
            p.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    deadline = time.monotonic() + STOP_GRACE_S
    for p in parts:
        if p.proc is None:
            continue
        try:
            p.proc.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait()


def _broker_where(s: Settings) -> str:
    """The embedded broker's listeners: the plain one, and MQTT over TLS when it has a pair."""
    if s.mqtt_tls_cert is None or s.mqtt_tls_key is None:
        return f"{s.effective_mqtt_url} (amqtt)"
    check_pair(s.mqtt_tls_cert, s.mqtt_tls_key, "MQTT_TLS_CERT / MQTT_TLS_KEY")
    if not _port_free(s.embedded_mqtts_port):
        raise Unreachable(
            f"port {s.embedded_mqtts_port} is taken: stop what uses it or set EMBEDDED_MQTTS_PORT"
        )
    return f"{s.effective_mqtt_url} and mqtts://127.0.0.1:{s.embedded_mqtts_port} (amqtt)"


def _embedded_servers(s: Settings, py: str) -> list[Part]:
    """The servers to start here: only those no URL was given for."""
    servers: list[Part] = []
    if not s.redis_url:
        if not _port_free(s.embedded_redis_port):
            raise Unreachable(
                f"port {s.embedded_redis_port} is taken (is ecocommand already "
                "running?): stop it or set EMBEDDED_REDIS_PORT"
            )
        servers.append(
            Part(
                "redis",
                server_command(s.embedded_redis_port, s.embedded_redis_dir),
                f"{s.effective_redis_url} (valkey, AOF in {s.embedded_redis_dir})",
            )
        )
    if not s.mqtt_url:
        if not _port_free(s.embedded_mqtt_port):
            raise Unreachable(
                f"port {s.embedded_mqtt_port} is taken: stop what uses it or set "
                "EMBEDDED_MQTT_PORT (or MQTT_URL for an external broker)"
            )
        servers.append(
            Part(
                "broker",
                [py, "-m", "embedded.broker", str(s.embedded_mqtt_port)],
                _broker_where(s),
            )
        )
    return servers


def _start_servers(servers: list[Part], apps: list[Part], s: Settings, env: dict[str, str]) -> None:
    # Each must answer before anything that connects to it starts.
    for part in servers:
        if part.name == "broker":  # Redis is up: the broker reads its roster from there
            _give_accounts(apps, s)
        part.start(env)
        if part.name == "redis":
            _wait(lambda: _ping(s.effective_redis_url), "the embedded Redis server")
            _ensure_layout(s)  # an older version's data renamed before anything writes
        else:
            probe = apps[-1].env["MQTT_URL"]  # the web app's account
            _wait(lambda url=probe: broker_reachable(url), "the embedded broker")


def _give_accounts(apps: list[Part], s: Settings) -> None:
    """Each part gets its own broker account, with a new secret at every start (kept only in
    its environment); the worker reads the embedded broker's inbox."""
    from store import devices  # imported late: only the embedded broker needs it

    r = redis_client(s.effective_redis_url, wait_s=5)
    host, port = "127.0.0.1", s.embedded_mqtt_port
    for part in apps:
        secret = devices.add(r, part.name, "service", system_ms(), source="supervisor")
        part.env["MQTT_URL"] = f"mqtt://{part.name}:{secret}@{host}:{port}"
    apps[0].env["INGEST_SOURCE"] = "inbox"


def _ensure_layout(s: Settings) -> None:
    from store import layout  # imported late, as the other store modules here

    layout.ensure(redis_client(s.effective_redis_url, wait_s=5))


def _start_apps(apps: list[Part], s: Settings, env: dict[str, str]) -> None:
    ingest, others = apps[0], apps[1:]
    ingest.start(env)
    # The simulator opens with every profile and vessel identity at once: the worker must
    # be subscribed by then, or the demo starts with most vessels missing.
    if not _wait_quietly(lambda: _ingest_subscribed(s.effective_redis_url, ingest), 30):
        print("the ingest worker is slow to connect; starting the rest anyway", flush=True)
    for part in others:
        part.start(env)


def _print_running(parts: list[Part], s: Settings, demo: list[tuple[str, str, str]]) -> None:
    print("\necocommand is running (Ctrl-C stops everything):", flush=True)
    for part in parts:
        print(f"  {part.name:<10} pid {part.proc.pid:<7} {part.where}", flush=True)
    print(f"  health     {s.web_url}healthz", flush=True)
    for name, role, password in demo:
        print(f"  sign in    {name:<11} {password:<24} ({role})", flush=True)
    print(f"  accounts   {s.data_dir / 'demo_accounts.txt'}\n" if demo else "", flush=True)


def _restart(part: Part, env: dict[str, str]) -> bool:
    """Starts a part that exited again; False when it keeps failing, as restarting it once more
    would only loop."""
    code = part.proc.returncode if part.proc else None
    if len(part.starts) >= 5:
        print(f"{part.name} keeps failing (exit {code}); stopping", flush=True)
        return False
    print(f"{part.name} exited ({code}); restarting", flush=True)
    time.sleep(1)
    part.start(env)
    return True


def _keep_running(parts: list[Part], env: dict[str, str], stopping: Callable[[], bool]) -> None:
    """Until a signal asks to stop, or a part keeps failing."""
    while not stopping():
        time.sleep(0.2)
        for part in parts:
            if stopping():
                break
            if not part.alive() and not _restart(part, env):
                return


def run_all(s: Settings, run_py: Path) -> None:
    py = sys.executable
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    servers = _embedded_servers(s, py)
    env.update(REDIS_URL=s.effective_redis_url, MQTT_URL=s.effective_mqtt_url)
    # the names are the parts' broker accounts (domain.devices.SERVICES); web is last
    apps = [
        Part("ingest", [py, str(run_py), "ingest"], "worker"),
        Part("simulator", [py, str(run_py), "simulate"], "publishing demo traffic"),
        Part("web", [py, str(run_py), "web"], s.web_url),
    ]
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        _start_servers(servers, apps, s, env)
        # Demo accounts only in the embedded Redis: never known names in a real deployment's.
        demo = [] if s.redis_url else _seed_demo_accounts(s)
        _start_apps(apps, s, env)
        _print_running(servers + apps, s, demo)
        _keep_running(servers + apps, env, lambda: stop)
    finally:
        print("stopping ...", flush=True)
        _stop(list(reversed(apps)))
        _stop(list(reversed(servers)))
        print("stopped", flush=True)


def _seed_demo_accounts(s: Settings) -> list[tuple[str, str, str]]:
    from domain.coverage_places import load_coverage
    from services.accounts import seed_demo  # imported late: it pulls in argon2
    from services.field import DEMO_BEAT, seed_demo_unit
    from services.field_beat import seed_demo_beat

    r = redis_client(s.effective_redis_url, wait_s=5)
    # the demo officer's unit: one the simulator does not drive, moved only by a phone on /field;
    # its beat: the places around 南澳's community station
    seeded = seed_demo(r, s.data_dir, officer_unit=seed_demo_unit(r, s.topic_prefix))
    seed_demo_beat(r, load_coverage(), "officer", DEMO_BEAT)
    return seeded


def _ingest_subscribed(url: str, ingest: Part) -> bool:
    """The worker this supervisor started reports itself connected to the broker."""
    if not ingest.alive():
        return False
    try:
        beat = redis_client(url, wait_s=0).hgetall(keys.HEARTBEAT)
    except (Unreachable, redis.exceptions.RedisError):
        return False
    return (
        beat.get(b"pid") == str(ingest.proc.pid).encode()  # type: ignore[union-attr]
        and beat.get(b"broker_connected") == b"1"
    )


def _wait_quietly(check: Any, timeout: float) -> bool:
    return bool(wait_until(check, timeout, interval=0.2))


def _ping(url: str) -> bool:
    try:
        redis_client(url, wait_s=0)
        return True
    except Unreachable:
        return False
