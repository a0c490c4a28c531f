"""The embedded broker (amqtt, embedded/broker.py) with real clients: a client gets the retained
messages of its own subscriptions only, as MQTT requires, however many others are connected."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt

from embedded.processes import ServerProcess
from tests.helpers import subscribe, wait_for


def _client(port: int, topics: list[str], clean: bool = True) -> tuple[mqtt.Client, list[str]]:
    """A client subscribed to `topics` (SUBACK received); the topics of what arrives."""
    got: list[str] = []
    c = subscribe(port, topics, lambda m: got.append(m.topic), clean_session=clean)
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
    wait_for(lambda: len(worker_got) >= 2, 5, "the two retained profiles")
    assert sorted(worker_got) == ["ec/units/U-1/profile", "ec/units/U-2/profile"]

    unit, unit_got = _client(amqtt.port, ["ec/units/U-1/dispatch"])
    mine, mine_got = _client(amqtt.port, ["ec/units/U-2/profile"])
    wait_for(lambda: mine_got, 5, "the retained profile of its own subscription")
    # a sleep on purpose: what is tested is that nothing else arrives (the bug replayed other
    # clients' retained messages on connect, in no order with the SUBACK to wait for)
    time.sleep(1.5)
    assert unit_got == []  # before the fix: both profiles, retained for someone else's filter
    assert mine_got == ["ec/units/U-2/profile"]
    for c in (pub, worker, unit, mine):
        c.loop_stop()
        c.disconnect()
