"""The embedded broker (embedded/broker.py) with real clients: only roster identities connect,
each publishes and subscribes only on its own topics, refusals are counted, a revoked device
is dropped, and a client gets the retained messages of its own subscriptions only."""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import redis

from config.settings import Settings
from domain.clock import system_ms
from embedded.processes import ServerProcess
from store import devices, keys, reader
from tests.helpers import Publisher, client, make_app, subscribe, wait_for

PREFIX = "ecocommand"


def _device(r: redis.Redis, device_id: str, kind: str = "unit") -> tuple[str, str]:
    return device_id, devices.add(r, device_id, kind, system_ms())


class Conn:
    """A paho client whose CONNACK, SUBACKs and disconnects are recorded."""

    def __init__(self, port: int, auth: tuple[str, str] | None, client_id: str) -> None:
        self.connack: list[Any] = []
        self.subacks: list[list[int]] = []
        self.dropped = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if auth:
            c.username_pw_set(*auth)
        c.on_connect = lambda _c, _u, _f, rc, _p: self.connack.append(rc)
        c.on_disconnect = lambda *_a: self.dropped.set()
        c.on_subscribe = lambda _c, _u, _m, codes, _p: self.subacks.append(
            [code.value for code in codes]
        )
        c.reconnect_delay_set(5, 5)  # a refused client retries rarely: its refusals stay few
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c
        wait_for(lambda: self.connack, 10, "a CONNACK")

    @property
    def accepted(self) -> bool:
        return not self.connack[0].is_failure

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def refused(r: redis.Redis, identity: str, reason: str) -> int:
    return reader.broker_refusals(r).get(identity, {}).get(reason, 0)


def test_anonymous_and_wrong_passwords_are_refused_and_counted(
    amqtt: ServerProcess, r: redis.Redis
) -> None:
    unit, _secret = _device(r, "U-A1")
    anonymous = Conn(amqtt.port, None, "anon-1")
    wrong = Conn(amqtt.port, (unit, "not-the-secret"), "wrong-1")
    stranger = Conn(amqtt.port, ("U-NOBODY", "guess"), "stranger-1")
    for c in (anonymous, wrong, stranger):
        assert not c.accepted
        c.close()
    assert str(anonymous.connack[0]) == "Not authorized"
    assert str(wrong.connack[0]) == "Bad user name or password"
    wait_for(lambda: refused(r, "anonymous", "anonymous") >= 1, 10, "the anonymous refusal")
    wait_for(lambda: refused(r, unit, "bad_password") >= 1, 10, "the bad password")
    # names outside the roster all count as "unknown": guessing cannot grow the counts' hash
    wait_for(lambda: refused(r, "unknown", "unknown_identity") >= 1, 10, "the stranger")
    assert "U-NOBODY" not in reader.broker_refusals(r)


def test_healthz_shows_the_refusals_to_an_operator(
    amqtt: ServerProcess, r: redis.Redis, settings: Settings
) -> None:
    web = _device(r, "web", "service")
    Conn(amqtt.port, None, "anon-2").close()
    wait_for(lambda: refused(r, "anonymous", "anonymous") >= 1, 10, "the refusal counted")
    app = make_app(settings, mqtt_url=f"mqtt://{web[0]}:{web[1]}@127.0.0.1:{amqtt.port}")
    body = client(app).get("/healthz").get_json()
    assert body["broker"]["ok"] is True  # the web app's probe signs in with its own account
    assert body["broker"]["refused"]["anonymous"] == {"anonymous": 1}
    assert body["broker"]["refused_total"] == 1
    assert body["ingest"]["inbox"] == 0


def test_a_device_publishes_and_subscribes_only_on_its_own_topics(
    amqtt: ServerProcess, r: redis.Redis
) -> None:
    me, other = _device(r, "U-B1"), _device(r, "U-B2")
    ingest = _device(r, "ingest", "service")
    seen: list[str] = []
    worker = subscribe(
        amqtt.port, [f"{PREFIX}/units/#"], lambda m: seen.append(m.topic), auth=ingest
    )
    pub = Publisher(amqtt.port, auth=me)
    pub.publish(f"{PREFIX}/units/U-B2/position", b'{"forged": true}')  # acknowledged, dropped
    pub.publish(f"{PREFIX}/units/U-B2/dispatch", b"{}")  # nor the centre's notices
    pub.publish(f"{PREFIX}/sensors/S-1/reading", b"{}")  # nor another kind's branch
    pub.publish(f"{PREFIX}/units/U-B1/position", b'{"mine": true}')
    wait_for(lambda: f"{PREFIX}/units/U-B1/position" in seen, 10, "its own position")
    wait_for(lambda: refused(r, me[0], "publish_denied") >= 3, 10, "three refusals counted")
    assert seen == [f"{PREFIX}/units/U-B1/position"]
    # the inbox holds only what was accepted for the worker
    inbox = [e[1][b"t"].decode() for e in r.xrange(keys.INGEST_INBOX)]
    assert inbox == [f"{PREFIX}/units/U-B1/position"]

    snoop = Conn(amqtt.port, me, "snoop-1")
    snoop.client.subscribe(f"{PREFIX}/units/+/dispatch", qos=1)
    snoop.client.subscribe(f"{PREFIX}/units/U-B1/dispatch", qos=1)
    wait_for(lambda: len(snoop.subacks) == 2, 10, "two SUBACKs")
    assert snoop.subacks == [[0x80], [1]]  # the wildcard refused, its own notices granted
    wait_for(lambda: refused(r, me[0], "subscribe_denied") >= 1, 10, "the refusal counted")
    other_pub = Publisher(amqtt.port, auth=other)
    other_pub.publish(f"{PREFIX}/units/U-B2/position", b"{}")
    for c in (pub, other_pub, snoop):
        c.close()
    worker.loop_stop()
    worker.disconnect()


def test_a_device_cannot_take_over_another_ones_session(
    amqtt: ServerProcess, r: redis.Redis
) -> None:
    a, b = _device(r, "U-C1"), _device(r, "U-C2")
    first = Conn(amqtt.port, a, "unit-U-C1")
    thief = Conn(amqtt.port, b, "unit-U-C1")  # B presents A's client id
    assert first.accepted and not thief.accepted
    assert not first.dropped.wait(1.0)  # a wait on purpose: A is not kicked off
    wait_for(lambda: refused(r, b[0], "client_id_taken") >= 1, 10, "the refusal counted")
    for c in (first, thief):
        c.close()


def test_a_revoked_device_is_dropped_and_refused_within_10_s(
    amqtt: ServerProcess, r: redis.Redis
) -> None:
    unit = _device(r, "U-D1")
    conn = Conn(amqtt.port, unit, "unit-U-D1")
    assert conn.accepted
    assert devices.revoke(r, unit[0], system_ms())
    assert conn.dropped.wait(10), "still connected 10 s after the revocation"
    again = Conn(amqtt.port, unit, "unit-U-D1-again")
    assert not again.accepted
    wait_for(lambda: refused(r, unit[0], "revoked") >= 1, 10, "the refusal counted")
    for c in (conn, again):
        c.close()


def test_a_new_client_gets_only_the_retained_messages_it_subscribed_to(
    amqtt: ServerProcess, r: redis.Redis
) -> None:
    u1, u2 = _device(r, "U-E1"), _device(r, "U-E2")
    ingest = _device(r, "ingest", "service")
    for unit in (u1, u2):
        pub = Publisher(amqtt.port, auth=unit)
        pub.publish(f"{PREFIX}/units/{unit[0]}/profile", b"{}", retain=True)
        pub.close()
    # the worker's account holds a wildcard subscription
    got: list[str] = []
    worker = subscribe(
        amqtt.port, [f"{PREFIX}/units/+/profile"], lambda m: got.append(m.topic), auth=ingest
    )
    wait_for(lambda: len(got) >= 2, 5, "the two retained profiles")
    assert sorted(got) == [f"{PREFIX}/units/U-E1/profile", f"{PREFIX}/units/U-E2/profile"]
    mine: list[str] = []
    unit = subscribe(
        amqtt.port, [f"{PREFIX}/units/U-E1/dispatch"], lambda m: mine.append(m.topic), auth=u1
    )
    # a sleep on purpose: what is tested is that nothing arrives (amqtt replayed other
    # clients' retained messages on connect, in no order with the SUBACK to wait for)
    time.sleep(1.5)
    assert mine == []
    for c in (worker, unit):
        c.loop_stop()
        c.disconnect()
