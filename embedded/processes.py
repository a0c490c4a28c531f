"""Start real servers as child processes on free ports: used by the tests and the benchmarks."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from embedded.valkey import server_command
from infra.wait import wait_until

# Servers get ports from below the kernel's ephemeral range (ip_local_port_range: 32768 up by
# default), which is where outgoing connections take their local ports: a port bound with 0 comes
# from that range, and once its server stopped, a client's connection could take it before the
# server started again on it (a restart test met "address already in use" so).
SERVER_PORTS = (20_000, 32_000)


def free_port() -> int:
    for _ in range(200):
        port = random.randint(*SERVER_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken: another
            return port
    raise RuntimeError(f"no free port in {SERVER_PORTS[0]}-{SERVER_PORTS[1]}")


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 10.0) -> None:
    def listening() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    if not wait_until(listening, timeout, interval=0.05):
        raise RuntimeError(f"{what} did not listen on {port} within {timeout} s")


@dataclass
class ServerProcess:
    argv: list[str]
    port: int
    name: str
    env: dict[str, str] | None = None
    log: Path | None = None  # where its output goes (default: nowhere)

    proc: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        _wait_port(self.port, self.proc, self.name)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


def redis_server(data_dir: Path, fsync: str = "always", port: int | None = None) -> ServerProcess:
    port = port or free_port()
    srv = ServerProcess(server_command(port, data_dir, fsync), port, "redis").start()
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.exceptions.BusyLoadingError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    client.close()
    return srv


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if not found:
        raise RuntimeError("mosquitto not found: `apt-get install mosquitto` or set MQTT_URL")
    return found


def mosquitto(data_dir: Path, port: int | None = None, log: Path | None = None) -> ServerProcess:
    """mosquitto with persistence (sessions survive a restart) and queues large enough that
    it never drops QoS 1 messages for a slow subscriber (its default is 1,000); with `log`,
    every packet logged there (who was sent and who acknowledged what: tests)."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    conf = data_dir / "mosquitto.conf"
    # As root, mosquitto drops to the 'mosquitto' user, which cannot write our data folder.
    user = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        user + f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {data_dir.resolve()}/\n"
        "autosave_interval 1\n"
        "max_queued_messages 1000000\n"
        "max_inflight_messages 1000\n"
        "max_packet_size 1048576\n"
        + (f"log_dest file {log}\nlog_type all\n" if log else "log_dest none\n")
    )
    return ServerProcess([mosquitto_binary(), "-c", str(conf)], port, "mosquitto").start()


def amqtt_broker(
    redis_url: str,
    port: int | None = None,
    log: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> ServerProcess:
    """The embedded broker, with its roster and inbox in the Redis at redis_url (and the other
    settings it reads, such as its TLS listener's, in extra_env)."""
    import sys

    port = port or free_port()
    env = dict(os.environ, REDIS_URL=redis_url) | (extra_env or {})
    return ServerProcess(
        [sys.executable, "-m", "embedded.broker", str(port)], port, "amqtt", env=env, log=log
    ).start()
