"""The embedded default's path: broker -> stream:inbox -> worker (ingest/inbox.py), with a real
broker, a real worker and Redis. Only roster devices create anything; a worker that stops
before acknowledging reads its entries again; acknowledged entries leave the stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import orjson
import paho.mqtt.client as mqtt
import pytest
import redis

from config.settings import Settings
from domain.clock import system_ms
from embedded.processes import ServerProcess
from ingest.inbox import InboxReader, acknowledge, ensure_group
from ingest.worker import IngestWorker
from store import devices, keys, reader
from tests.helpers import Publisher, wait_for

TS = 1_764_300_000_000


def position(unit: str, seq: int) -> bytes:
    doc = {"unit_id": unit, "seq": seq, "ts": TS + seq, "lat": 22.55, "lon": 114.5}
    return orjson.dumps(doc)


@pytest.fixture
def inbox_worker(settings: Settings, amqtt: ServerProcess, r: redis.Redis) -> Iterator[None]:
    """The worker as `python run.py` starts it: the ingest account, reading the inbox."""
    secret = devices.add(r, "ingest", "service", system_ms(), source="supervisor")
    s = settings.model_copy(
        update={
            "mqtt_url": f"mqtt://ingest:{secret}@127.0.0.1:{amqtt.port}",
            "ingest_source": "inbox",
        }
    )
    w = IngestWorker(s, threading.Event())
    t = threading.Thread(target=w.run, daemon=True)
    t.start()
    wait_for(lambda: w.connected, 10, "the worker connected")
    yield
    w.stop.set()
    t.join(10)


def test_only_roster_devices_create_units(
    inbox_worker: None, amqtt: ServerProcess, r: redis.Redis
) -> None:
    unit = ("U-IN-1", devices.add(r, "U-IN-1", "unit", system_ms()))
    # refused at CONNECT: no PUBACK ever comes (AssertionError), or paho already saw the broker
    # close the connection when the publish was asked of it (RuntimeError: not connected)
    with pytest.raises((AssertionError, RuntimeError)):
        stranger = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="phantom")
        stranger.connect("127.0.0.1", amqtt.port)
        stranger.loop_start()
        info = stranger.publish("ecocommand/units/U-PHANTOM/position", position("U-PHANTOM", 1), 1)
        try:
            wait_for(info.is_published, 3, "a PUBACK for the phantom")
        finally:
            stranger.loop_stop()
    pub = Publisher(amqtt.port, auth=unit)
    pub.publish("ecocommand/units/U-IN-1/position", position("U-IN-1", 1))
    # the payload names another unit than the topic: dead-lettered, not a unit
    pub.publish("ecocommand/units/U-IN-1/position", position("U-IN-2", 2))
    pub.close()
    wait_for(lambda: reader.entity(r, "unit", "U-IN-1"), 10, "the device's unit")
    wait_for(lambda: r.xlen(keys.INGEST_INBOX) == 0, 10, "the inbox emptied")
    assert r.smembers(keys.index("unit")) == {b"U-IN-1"}
    assert reader.ingest_stats(r)["deadletter_by_reason"]  # the mismatch, with its reason


def test_entries_not_acknowledged_are_read_again_after_a_restart(r: redis.Redis) -> None:
    ensure_group(r)
    for seq in range(5):
        r.xadd(keys.INGEST_INBOX, {"t": "ecocommand/units/U-1/position", "p": b"{}", "ms": seq})
    got: list[list] = []
    first = InboxReader(r, "worker-a", got.append)
    first.read_once()  # the pending page (empty: nothing delivered before)
    first.read_once()  # the new entries
    assert [len(b) for b in got] == [5]
    # the worker dies before its write: a new start under the same name reads them again
    again: list[list] = []
    second = InboxReader(r, "worker-a", again.append)
    second.read_once()
    assert [e[3] for e in again[0]] == [0, 1, 2, 3, 4]
    second.done_with([e[0] for e in again[0][:3]])  # the worker wrote three of them
    second.read_once()  # acknowledged with the next read
    assert r.xlen(keys.INGEST_INBOX) == 2
    acknowledge(r, [e[0] for e in again[0][3:]])
    assert r.xlen(keys.INGEST_INBOX) == 0
    third: list[list] = []
    InboxReader(r, "worker-a", third.append).read_once()
    assert third == []


class LosesOneReply:
    """A Redis client whose first read with entries runs, then loses its reply, as a connection
    cut mid-reply does: the entries are pending under the consumer, unseen."""

    def __init__(self, r: redis.Redis) -> None:
        self.r, self.lost = r, False

    def __getattr__(self, name: str):
        return getattr(self.r, name)

    def pipeline(self, **kwargs):
        return _LosingPipeline(self, self.r.pipeline(**kwargs))


class _LosingPipeline:
    def __init__(self, owner: LosesOneReply, pipe) -> None:
        self.owner, self.pipe = owner, pipe

    def __getattr__(self, name: str):
        return getattr(self.pipe, name)

    def execute(self):
        replies = self.pipe.execute()
        read = replies[-1]
        if read and read[0][1] and not self.owner.lost:
            self.owner.lost = True
            raise redis.exceptions.ConnectionError("the reply was lost")
        return replies


def test_entries_whose_read_reply_was_lost_are_read_again(r: redis.Redis) -> None:
    ensure_group(r)
    got: list[list] = []
    reader = InboxReader(LosesOneReply(r), "worker-b", got.append)  # type: ignore[arg-type]
    stop = threading.Event()
    t = threading.Thread(target=reader.run, args=(stop, lambda _e: None), daemon=True)
    t.start()
    for seq in range(3):
        r.xadd(keys.INGEST_INBOX, {"t": "ecocommand/units/U-1/position", "p": b"{}", "ms": seq})
    try:
        wait_for(lambda: sum(len(b) for b in got) >= 3, 10, "the entries read again")
    finally:
        stop.set()
        t.join(5)
    assert sorted(e[3] for b in got for e in b) == [0, 1, 2]
