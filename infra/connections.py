"""Connections to the broker and to Redis, with the clear errors a user needs when they fail."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import redis
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from redis.backoff import NoBackoff
from redis.cluster import ClusterPipeline, PipelineStrategy
from redis.retry import Retry

from infra.mqtt_bulk import BulkClient


class Unreachable(Exception):
    """A server that is not there: the message says what to start or set."""


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def broker_address(url: str) -> BrokerAddress:
    u = urlparse(url)
    tls = u.scheme == "mqtts"
    return BrokerAddress(
        u.hostname or "127.0.0.1", u.port or (8883 if tls else 1883), tls, u.username, u.password
    )


def redacted(url: str) -> str:
    """The URL without its password, for logs and the console."""
    u = urlparse(url)
    if u.password is None:
        return url
    return u._replace(netloc=u.netloc.replace(f":{u.password}@", ":***@", 1)).geturl()


# The worker's receive window over MQTT 5: at most this many QoS 1 messages in flight towards
# it, what our mosquitto configuration gives any client (max_inflight_messages 1000). Said
# explicitly: by the standard, an MQTT 5 client that says nothing allows 65,535 (mosquitto
# then keeps its own setting; EMQX takes the smaller of the two), and what is in flight to a
# worker that dies is redelivered.
RECEIVE_MAXIMUM = 1000


@dataclass(frozen=True)
class Session5:
    """An MQTT 5 session the broker keeps for `expiry_s` seconds after a disconnect (a kill
    included): a client coming back with the same client id within that time gets every QoS 1
    message it had not acknowledged, and what was queued for it meanwhile."""

    expiry_s: int


def mqtt_client(
    url: str,
    client_id: str,
    *,
    persistent: bool,
    manual_ack: bool = False,
    session5: Session5 | None = None,
    stock: bool = False,
) -> BulkClient:
    """A paho client, not yet connected. `persistent` keeps the broker-side session (and its
    queued QoS 1 messages) across disconnects. With `session5` it speaks MQTT 5 (connect it with
    connect_mqtt, which sends clean start off and the session's expiry); otherwise MQTT 3.1.1,
    which the embedded broker (amqtt 0.12.1) and every device speak: amqtt answers an MQTT 5
    CONNECT with "unsupported protocol version". It reads and acknowledges in bulk
    (infra/mqtt_bulk.py) unless `stock` asks for paho as it comes (the benchmark's baseline)."""
    a = broker_address(url)
    if session5 is not None:
        c: BulkClient = _Client5(
            session5,
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=manual_ack,
            stock=stock,
        )
    else:
        c = BulkClient(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent,
            protocol=mqtt.MQTTv311,
            manual_ack=manual_ack,
            stock=stock,
        )
    if a.username:
        c.username_pw_set(a.username, a.password)
    if a.tls:
        c.tls_set()
    c.reconnect_delay_set(min_delay=1, max_delay=30)
    return c


class _Client5(BulkClient):
    """A paho MQTT 5 client that remembers its session's options: paho takes clean start and
    the CONNECT properties at connect(), not when the client is made."""

    def __init__(self, session: Session5, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = session


def _connect_properties(session: Session5) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session.expiry_s
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    return props


def connect_mqtt(c: mqtt.Client, url: str, wait_s: float = 5.0) -> None:
    """Connects (paho then reconnects by itself with the same options). An MQTT 5 session is
    resumed, never started clean: paho's default, clean start on the first connect, would
    discard the messages a killed worker left unacknowledged in it."""
    a = broker_address(url)
    options: dict[str, Any] = (
        {"clean_start": False, "properties": _connect_properties(c.session)}
        if isinstance(c, _Client5)
        else {}
    )
    deadline = time.monotonic() + wait_s
    while True:
        try:
            c.connect(a.host, a.port, keepalive=30, **options)
            return
        except (TimeoutError, OSError) as e:
            if time.monotonic() > deadline:
                raise Unreachable(
                    f"cannot reach the MQTT broker at {a.host}:{a.port} ({e.strerror or e}): "
                    "start it (e.g. `mosquitto -p PORT`) or set MQTT_URL=mqtt://host:port"
                ) from None
            time.sleep(0.3)


def broker_reachable(url: str, timeout: float = 1.0) -> bool:
    """A real MQTT 3.1.1 CONNECT/CONNACK round trip (a bare TCP probe makes brokers log errors)."""
    a = broker_address(url)
    if a.tls or a.username:
        return _handshake_accepted(url, timeout)
    client_id = f"ecocommand-probe-{os.getpid()}".encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x05" + len(client_id).to_bytes(2, "big") + client_id
    try:
        with socket.create_connection((a.host, a.port), timeout=timeout) as s:
            s.sendall(bytes([0x10, len(body)]) + body)
            ack = s.recv(4)
            s.sendall(b"\xe0\x00")  # DISCONNECT
            return len(ack) == 4 and ack[0] == 0x20 and ack[3] == 0
    except OSError:
        return False


def _handshake_accepted(url: str, timeout: float) -> bool:
    """With TLS or credentials, paho does the handshake; reachable means CONNACK "accepted" (a
    wrong secret is a broker that refuses us, not a healthy one)."""
    a = broker_address(url)
    c = mqtt_client(url, f"ecocommand-probe-{os.getpid()}", persistent=False)
    accepted: list[bool] = []
    c.on_connect = lambda _c, _u, _f, rc, _p: accepted.append(not rc.is_failure)
    try:
        c.connect(a.host, a.port, keepalive=5)
    except OSError:
        return False
    deadline = time.monotonic() + max(timeout, 1.0)
    while not accepted and time.monotonic() < deadline:
        c.loop(timeout=0.1)
    c.disconnect()
    return bool(accepted) and accepted[0]


def no_retry() -> Retry:
    """For every Redis client of ours. redis-py 8.1's `Redis(...)` sends a command again, up
    to 10 times, after a timeout or a dropped connection (its `from_url` happens to make
    clients that do not; said here so that no change in how a client is made brings it back):
    a reply lost after the server ran the command runs it twice. A script that appends to the
    audit chain, moves an incident, takes a note or counts a message would then do so twice,
    or answer as if refused (its own first run changed what it checks). Without it the caller
    sees the error, and each has its own answer to it: the worker's batch is delivered again
    and deduplicated, a web request answers 503 and is sent again by its user."""
    return Retry(NoBackoff(), 0)


# What a command of ours reaches: one server, or a Valkey/Redis Cluster (redis_client decides).
RedisClient = redis.Redis | redis.RedisCluster


def is_cluster(client: RedisClient) -> bool:
    """A cluster client, or one of its pipelines: keys in different slots may be on different
    servers, so a script or a MULTI/EXEC may only touch keys of one slot."""
    return isinstance(client, redis.RedisCluster)


def redis_client(
    url: str,
    wait_s: float = 5.0,
    *,
    socket_timeout: float = 10.0,
    socket_connect_timeout: float = 3.0,
) -> RedisClient:
    """A checked Redis connection; raises Unreachable with what to do when there is none. A
    redis.RedisCluster when the server at `url` runs in cluster mode (it finds the other nodes
    itself), a redis.Redis otherwise; either sends no command twice (no_retry)."""
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_connect_timeout,
        "health_check_interval": 15,
        "decode_responses": False,
    }
    client = redis.Redis.from_url(url, retry=no_retry(), **options)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            client.ping()
            if not _cluster_enabled(client):
                return client
            cluster = _cluster_client(url, options)
            client.close()
            return cluster
        except redis.exceptions.BusyLoadingError:
            time.sleep(0.3)  # the server is loading its AOF: it will answer soon
        except (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            redis.exceptions.RedisClusterException,  # a cluster with slots not yet covered
        ) as e:
            if time.monotonic() > deadline:
                u = urlparse(url)  # host and port only: the URL may hold a password
                raise Unreachable(
                    f"cannot reach Redis at {u.hostname}:{u.port or 6379} ({e}): "
                    "start redis-server or set REDIS_URL=redis://host:port/0"
                ) from None
            time.sleep(0.3)


def _cluster_enabled(client: redis.Redis) -> bool:
    try:
        return client.info("cluster").get("cluster_enabled") == 1
    except redis.exceptions.ResponseError:  # INFO refused (an ACL) or unknown: not a cluster
        return False


def _cluster_client(url: str, options: dict[str, Any]) -> redis.RedisCluster:
    """The cluster's client, once every master answers. `retry=no_retry()`: redis-py 8.1's
    RedisCluster otherwise sends a command again, up to 10 times, after a timeout or a dropped
    connection (its `cluster_error_retry_attempts` is the same count, deprecated, and ignored
    when `retry` is given), like a single node's client. MOVED, ASK and TRYAGAIN are followed
    whatever `retry` says: the node refused the command, it did not run it. Its nodes' own
    clients never retry (redis-py makes them so)."""
    cluster = _Cluster.from_url(url, retry=no_retry(), **options)
    try:
        cluster.ping(target_nodes=redis.RedisCluster.PRIMARIES)
    except BaseException:
        cluster.close()
        raise
    return cluster


class _Cluster(redis.RedisCluster):
    """redis-py's cluster client, whose pipelines keep no_retry()'s promise too (_SendOnce).

    Unlike redis.Redis's, its pipeline() is not a MULTI/EXEC transaction unless asked for
    (`transaction=True`, keys of one slot only); its default stays so, as its own multi-key
    commands (DEL or MGET of keys in several slots) rely on it."""

    def pipeline(self, transaction: bool | None = None, shard_hint: Any = None) -> ClusterPipeline:
        pipe = super().pipeline(transaction, shard_hint)
        if not transaction:
            pipe._execution_strategy = _SendOnce(pipe)
        return pipe


class _SendOnce(PipelineStrategy):
    """A cluster pipeline without MULTI/EXEC that sends each command once. redis-py 8.1's sends
    every command of a node whose reply timed out or whose connection dropped again, one by
    one, whatever the client's `retry` says, those already answered included (a timeout
    replaces their answers with the error): an INCR before a slow command ran twice. Here they
    keep the error. A command refused with MOVED, ASK or TRYAGAIN did not run: it is sent again,
    where the cluster says. (Private parts of redis-py, pinned at 8.1.0: the tests check it.)"""

    REFUSED = (
        redis.exceptions.MovedError,
        redis.exceptions.AskError,
        redis.exceptions.TryAgainError,
    )

    def _send_cluster_commands(
        self, stack: list[Any], raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        super()._send_cluster_commands(stack, raise_on_error=False, allow_redirections=False)
        for c in stack:
            if allow_redirections and isinstance(c.result, self.REFUSED):
                try:
                    c.result = self._pipe.parent_execute_command(*c.args, **c.options)
                except redis.exceptions.RedisError as e:
                    c.result = e
        if raise_on_error:
            self._raise_first_error(stack, time.monotonic())
        return [c.result for c in sorted(stack, key=lambda c: c.position)]
