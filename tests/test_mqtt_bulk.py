"""Bulk reads of MQTT packets (infra/mqtt_bulk.py): every message whole and in order, whatever
the packets' sizes and where the socket's reads cut them; nothing of one connection read as the
next one's."""

from __future__ import annotations

import random
import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from embedded.processes import ServerProcess
from infra.connections import connect_mqtt, mqtt_client
from infra.mqtt_bulk import CHUNK, BulkClient
from tests.helpers import wait_for


def _publish_packet(topic: str, payload: bytes) -> bytes:
    """A QoS 0 PUBLISH as it comes over the wire."""
    body = len(topic).to_bytes(2, "big") + topic.encode() + payload
    n, length = len(body), bytearray()
    while True:
        n, digit = divmod(n, 128)
        length.append(digit | (0x80 if n else 0))
        if not n:
            break
    return bytes([0x30]) + bytes(length) + body


def _reader() -> tuple[BulkClient, list[tuple[str, bytes]]]:
    c = BulkClient(mqtt.CallbackAPIVersion.VERSION2, client_id="reads-test")
    got: list[tuple[str, bytes]] = []
    c.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    return c, got


@pytest.fixture
def wire() -> tuple[socket.socket, socket.socket]:
    ours, broker_end = socket.socketpair()
    ours.setblocking(False)
    yield ours, broker_end
    ours.close()
    broker_end.close()


def test_one_read_takes_every_packet_the_socket_holds_and_waits_for_the_rest(wire) -> None:
    ours, broker_end = wire
    c, got = _reader()
    c._sock = ours
    packets = [_publish_packet(f"t/{i}", bytes([i]) * (i * 50)) for i in range(5)]
    broker_end.sendall(b"".join(packets[:3]) + packets[3][:7])  # the fourth cut in its header
    assert c.loop_read() == mqtt.MQTT_ERR_SUCCESS
    assert got == [(f"t/{i}", bytes([i]) * (i * 50)) for i in range(3)]
    broker_end.sendall(packets[3][7:] + packets[4])
    assert c.loop_read() == mqtt.MQTT_ERR_SUCCESS
    assert got == [(f"t/{i}", bytes([i]) * (i * 50)) for i in range(5)]


def test_a_packet_larger_than_a_read_arrives_whole(wire) -> None:
    ours, broker_end = wire
    c, got = _reader()
    c._sock = ours
    big = random.Random(3).randbytes(5 * CHUNK + 17)
    packet = _publish_packet("big", big)
    sender = threading.Thread(target=broker_end.sendall, args=(packet,))
    sender.start()  # more than the socket buffers: sent while it is read
    while not got:
        c.loop_read()
    sender.join()
    assert got == [("big", big)]


def test_nothing_read_from_one_connection_is_served_on_the_next(wire) -> None:
    ours, broker_end = wire
    c, _ = _reader()
    c._sock = ours
    broker_end.sendall(b"abc")
    assert c._sock_recv(1) == b"a"  # "bc" left in the buffer when the connection is replaced
    fresh, fresh_broker = socket.socketpair()
    fresh.setblocking(False)
    try:
        c._sock = fresh
        fresh_broker.sendall(b"xyz")
        assert c._sock_recv(2) == b"xy"
        assert c._sock_recv(5) == b"z"
        with pytest.raises(BlockingIOError):
            c._sock_recv(1)
    finally:
        fresh.close()
        fresh_broker.close()


def test_thousands_of_messages_of_every_size_over_mosquitto_arrive_whole_and_in_order(
    broker: ServerProcess,
) -> None:
    """A real broker, packets of every length encoding (1 to 3 bytes), some larger than the
    read buffer, sent as fast as paho can."""
    url = f"mqtt://127.0.0.1:{broker.port}"
    rng = random.Random(7)
    sizes = [0, 1, 127, 128, 16_383, 16_384, CHUNK - 5, CHUNK + 5, 3 * CHUNK]
    sizes += [rng.choice((rng.randrange(40, 400), rng.randrange(400, 9000))) for _ in range(3000)]
    sent = [(f"reads/{i % 7}", rng.randbytes(n)) for i, n in enumerate(sizes)]
    got: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    sub = mqtt_client(url, f"reads-{uuid.uuid4().hex[:8]}", persistent=False)
    assert isinstance(sub, BulkClient)
    sub.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe("reads/#", qos=1)
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    connect_mqtt(sub, url)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    try:
        assert subscribed.wait(10), "no SUBACK"
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        infos = [pub.publish(topic, payload, qos=1) for topic, payload in sent]
        for info in infos:
            info.wait_for_publish(timeout=30)
        wait_for(lambda: len(got) >= len(sent), timeout=60, what="every message")
        assert got == sent
    finally:
        pub.disconnect()
        pub.loop_stop()
        sub.disconnect()
        sub.loop_stop()


def test_messages_acknowledged_together_are_not_delivered_again_and_the_rest_are(
    broker: ServerProcess,
) -> None:
    """ack_all's one write of PUBACKs is what the broker takes for each message's own: after a
    reconnect of the same session, only the messages left unacknowledged come again."""
    url = f"mqtt://127.0.0.1:{broker.port}"
    client_id = f"acks-{uuid.uuid4().hex[:8]}"
    got: list[mqtt.MQTTMessage] = []
    subscribed = threading.Event()

    def session() -> mqtt.Client:
        c = mqtt_client(url, client_id, persistent=True, manual_ack=True)
        c.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe("acks/#", qos=1)
        c.on_subscribe = lambda *_a: subscribed.set()
        c.on_message = lambda _c, _u, m: got.append(m)
        connect_mqtt(c, url)
        c.loop_start()
        assert subscribed.wait(10), "no SUBACK"
        return c

    sub = session()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    try:
        for i in range(50):
            pub.publish(f"acks/{i}", str(i), qos=1).wait_for_publish(10)
        wait_for(lambda: len(got) == 50, what="50 messages")
        sub.ack_all([m.mid for m in got[:30]])
        wait_for(lambda: not sub.want_write(), what="the PUBACKs written")
        sub.disconnect()
        sub.loop_stop()
        first, got[:] = list(got), []
        subscribed.clear()
        sub = session()
        wait_for(lambda: len(got) >= 20, what="the 20 unacknowledged again")
        time.sleep(0.5)  # anything acknowledged would come back within this too
        assert sorted(m.payload for m in got) == sorted(m.payload for m in first[30:])
        assert all(m.dup for m in got)
    finally:
        pub.disconnect()
        pub.loop_stop()
        sub.disconnect()
        sub.loop_stop()
