"""A local 3-master Valkey Cluster (embedded/valkey_cluster.py) forms and stops; redis_client
gives a cluster client for it, and a plain client for a single server, as before; the cluster
client sends no command twice (infra/connections.no_retry) and still follows MOVED and ASK."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from embedded.processes import redis_server
from embedded.valkey_cluster import ValkeyCluster, slot_ranges
from infra.connections import is_cluster, redis_client


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    with ValkeyCluster(tmp_path_factory.mktemp("valkey-cluster")) as c:
        yield c


@pytest.fixture
def rc(cluster: ValkeyCluster) -> Iterator[redis.RedisCluster]:
    client = redis_client(cluster.url)
    yield client
    client.close()


def node(port: int) -> redis.Redis:
    return redis.Redis(port=port, single_connection_client=True)


def give_slot(cluster: ValkeyCluster, slot: int, port: int) -> None:
    """Every node told that `slot` (holding no key where it was) is `port`'s now."""
    owner_id = node(port).execute_command("CLUSTER", "MYID")
    for p in [port, *(p for p in cluster.ports if p != port)]:
        node(p).execute_command("CLUSTER", "SETSLOT", slot, "NODE", owner_id)


def test_a_cluster_url_gives_a_cluster_client_that_knows_every_master(
    cluster: ValkeyCluster, rc: redis.RedisCluster
) -> None:
    assert isinstance(rc, redis.RedisCluster)
    assert is_cluster(rc)
    assert sorted(n.port for n in rc.get_primaries()) == sorted(cluster.ports)
    assert cluster.url == f"redis://127.0.0.1:{cluster.ports[0]}/0"


def test_keys_in_different_slots_land_on_different_nodes_and_read_back(
    cluster: ValkeyCluster, rc: redis.RedisCluster
) -> None:
    ranges = slot_ranges(3)
    by_node: dict[int, str] = {}
    for i in range(1000):
        key = f"spread:{i}"
        by_node.setdefault(rc.get_node_from_key(key).port, key)
    assert sorted(by_node) == sorted(cluster.ports)  # each master holds some of them
    for port, key in by_node.items():
        assert rc.set(key, key.encode())
        assert rc.get(key) == key.encode()
        assert node(port).get(key) == key.encode()  # on that node itself
        # the slots were split evenly, in the order of the nodes
        first, last = ranges[cluster.ports.index(port)]
        assert first <= rc.keyslot(key) <= last
    assert rc.delete(*by_node.values()) == 3  # one DEL over three nodes


def test_a_single_server_url_still_gives_a_plain_client(tmp_path: Path) -> None:
    srv = redis_server(tmp_path / "redis", fsync="no")
    try:
        client = redis_client(f"redis://127.0.0.1:{srv.port}/0")
        assert type(client) is redis.Redis
        assert not is_cluster(client)
        client.close()
    finally:
        srv.stop()


def test_a_command_whose_reply_timed_out_is_sent_once(
    cluster: ValkeyCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[bytes] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def spy(
        self: redis.connection.AbstractConnection, command: object, *a: object, **kw: object
    ) -> None:
        sent.append(b"".join(command) if isinstance(command, list) else bytes(command))
        send(self, command, *a, **kw)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", spy)
    rc = redis_client(cluster.url, socket_timeout=0.3)
    with pytest.raises(redis.exceptions.TimeoutError):
        rc.blpop("once:queue", 1)  # its answer comes after 1 s
    assert sum(b"BLPOP" in s for s in sent) == 1
    rc.close()


def test_a_pipeline_whose_reply_timed_out_runs_each_command_once(
    cluster: ValkeyCluster,
) -> None:
    # redis-py 8.1 sends the INCR again, already run, whatever the client's retry (a timeout on
    # the BLPOP after it replaces its answer): infra/connections._SendOnce
    rc = redis_client(cluster.url, socket_timeout=0.3)
    pipe = rc.pipeline(transaction=False)
    pipe.incr("{once}count")
    pipe.blpop("{once}queue", 1)
    with pytest.raises(redis.exceptions.TimeoutError):
        pipe.execute()
    assert rc.get("{once}count") == b"1"
    rc.delete("{once}count")
    rc.close()


def test_moved_is_followed_by_a_command_and_by_a_pipeline(
    cluster: ValkeyCluster, rc: redis.RedisCluster
) -> None:
    for key in ("{moved-1}k", "{moved-2}k"):
        slot, was = rc.keyslot(key), rc.get_node_from_key(key).port
        now = next(p for p in cluster.ports if p != was)
        give_slot(cluster, slot, now)  # rc still thinks it is `was`'s: the node answers MOVED
        try:
            if key == "{moved-1}k":
                assert rc.set(key, b"v")
            else:
                assert rc.pipeline(transaction=False).set(key, b"v").get(key).execute() == [
                    True,
                    b"v",
                ]
            assert node(now).get(key) == b"v"
            assert rc.get_node_from_key(key).port == now
        finally:
            rc.delete(key)
            give_slot(cluster, slot, was)


def test_ask_is_followed_by_a_command_and_by_a_pipeline(
    cluster: ValkeyCluster, rc: redis.RedisCluster
) -> None:
    key1, key2 = "{asked}1", "{asked}2"
    slot, was = rc.keyslot(key1), rc.get_node_from_key(key1).port
    to = next(p for p in cluster.ports if p != was)
    was_id, to_id = (node(p).execute_command("CLUSTER", "MYID") for p in (was, to))
    # the slot half-way to `to`: `was` answers ASK for a key it does not hold
    node(to).execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", was_id)
    node(was).execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", to_id)
    try:
        assert rc.set(key1, b"1")
        assert rc.pipeline(transaction=False).set(key2, b"2").execute() == [True]
        give_slot(cluster, slot, to)  # the migration done: `to` answers for the slot
        assert node(to).mget(key1, key2) == [b"1", b"2"]
    finally:
        rc.delete(key1, key2)
        give_slot(cluster, slot, was)


def test_a_cluster_stops_cleanly(tmp_path: Path) -> None:
    with ValkeyCluster(tmp_path, masters=2) as c:
        procs = [n.proc for n in c.nodes]
        ports = c.ports
        client = redis_client(c.url)
        assert client.set("k", b"v")
        client.close()
    assert c.nodes == []
    assert [p.returncode for p in procs if p is not None] == [0, 0]  # shut down, not killed
    for port in ports:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
