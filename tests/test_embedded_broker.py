"""The embedded broker (amqtt, embedded/broker.py) with real clients: a client gets the retained
messages of its own subscriptions only, as MQTT requires, however many others are connected."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from embedded.processes import ServerProcess, amqtt_broker


@pytest.fixture(scope="module")
def amqtt() -> Iterator[ServerProcess]:
    srv = amqtt_broker()
    yield srv
    srv.stop()


def _client(port: int, topics: list[str], clean: bool = True) -> tuple[mqtt.Client, list[str]]:
    got: list[str] = []
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", clean_session=clean
    )
    c.on_message = lambda _c, _u, m: got.append(m.topic)
    c.connect("127.0.0.1", port)
    c.loop_start()
    for t in topics:
        c.subscribe(t, qos=1)
    return c, got


def test_a_new_client_gets_only_the_retained_messages_it_subscribed_to(
    amqtt: ServerProcess,
) -> None:
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-pub")
    pub.connect("127.0.0.1", amqtt.port)
    pub.loop_start()
    for unit in ("U-1", "U-2"):
        pub.publish(f"ec/units/{unit}/profile", b"{}", qos=1, retain=True).wait_for_publish(5)
    # another client (as the ingest worker does) holds a wildcard subscription
    worker, worker_got = _client(amqtt.port, ["ec/units/+/profile"], clean=False)
    deadline = time.monotonic() + 5
    while len(worker_got) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(worker_got) == ["ec/units/U-1/profile", "ec/units/U-2/profile"]

    unit, unit_got = _client(amqtt.port, ["ec/units/U-1/dispatch"])
    mine, mine_got = _client(amqtt.port, ["ec/units/U-2/profile"])
    time.sleep(1.5)  # what would arrive, has
    assert unit_got == []  # before the fix: both profiles, retained for someone else's filter
    assert mine_got == ["ec/units/U-2/profile"]
    for c in (pub, worker, unit, mine):
        c.loop_stop()
        c.disconnect()
