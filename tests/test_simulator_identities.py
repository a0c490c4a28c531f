"""The simulator's broker identities (issue 12): one roster device per simulated unit, AIS
receiver and sensor, each publishing only under its own topics through its own connection."""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
import redis

from config.settings import Settings
from domain import devices as rules
from embedded.processes import ServerProcess, free_port, mosquitto, mosquitto_binary
from simulator import tasks
from simulator.identities import Identity, device_for, provision
from simulator.links import DeviceLinks, client_id_for
from simulator.main import Simulation, run
from store import devices as roster
from tests.helpers import dispatch_notice, subscribe, wait_for

T0 = 1_800_000_000_000
SEED, RATE = 41, 1.9  # below 2: the units of rate 1, reporting about twice as often
PREFIX = "ecocommand"


def _expected() -> set[tuple[str, str]]:
    return set(Simulation(PREFIX, rate=RATE, seed=SEED, start_ms=T0).devices())


@contextmanager
def _running(settings: Settings) -> Iterator[threading.Thread]:
    """run() in a thread, stopped (and checked to have stopped) at the end."""
    stop = threading.Event()
    kwargs = {"rate": RATE, "stop": stop, "seed": SEED, "client_id": _base()}
    t = threading.Thread(target=run, args=(settings,), kwargs=kwargs, daemon=True)
    t.start()
    try:
        yield t
    finally:
        stop.set()
        t.join(timeout=10)
        assert not t.is_alive(), "run() did not stop"


def _base() -> str:
    # a client id base of its own: the session broker keeps the units' sessions between tests
    return f"t{uuid.uuid4().hex[:6]}"


def _simulators(r: redis.Redis) -> dict[str, roster.Device]:
    return {d.id: d for d in roster.roster(r) if d.source == "simulator"}


def _notice(unit_id: str, lon: float, lat: float) -> bytes:
    ts = int(time.time() * 1000)
    return dispatch_notice(unit_id, lon, lat, incident="INC-ID-1", ts=ts, kind="illegal_dumping")


# -- which device a message is published as -----------------------------------------------------


def test_every_message_is_published_as_a_device_allowed_to_publish_it() -> None:
    """Whatever the simulation publishes (profiles, positions, statuses, task reports, AIS,
    readings) names a device it provisions, and the broker's rules let that device publish it."""
    sim = Simulation(PREFIX, rate=2.5, seed=SEED, start_ms=T0)
    devices = set(sim.devices())
    assert len(devices) == len(sim.units.units) + 3 + len(sim.sensors.sensors)
    unit = sim.units.units[0]
    messages = sim.step(T0)
    for t in range(T0 + 1_000, T0 + 20 * 60_000, 2_000):
        if t == T0 + 5_000:  # a real task: ack, arrived, handled reports on .../task
            assert sim.on_dispatch(_notice(unit.unit_id, *unit.home), t)
        messages += sim.step(t)
    messages += sim.profile_messages(T0, only={unit.unit_id, sim.sensors.sensors[0].sensor_id})
    used: set[tuple[str, str]] = set()
    leaves: set[str] = set()
    for topic, _payload, _retain in messages:
        device = device_for(topic, PREFIX)
        assert device in devices, topic
        assert rules.publish_allowed(*device, topic, PREFIX), (device, topic)
        used.add(device)
        leaves.add(topic.rsplit("/", 1)[1])
    assert used == devices  # every device publishes, none is provisioned for nothing
    assert leaves >= {"profile", "position", "status", "task", "nmea", "reading"}
    # each unit's connection subscribes to one filter, allowed to it; other devices to none
    links = DeviceLinks("mqtt://127.0.0.1:9", PREFIX, [Identity(i, k, "x") for k, i in devices])
    try:
        for link in links.links.values():
            kind, device_id = link.ident.kind, link.ident.device_id
            if kind == "unit":
                assert rules.subscribe_allowed(kind, device_id, link.dispatch or "", PREFIX)
            else:
                assert link.dispatch is None
    finally:
        links.close(wait_s=0)


def test_device_for_names_the_topic_owner() -> None:
    assert device_for("ecocommand/units/U-EE-001/position", "ecocommand") == ("unit", "U-EE-001")
    assert device_for("ecocommand/ais/rx-nanao/nmea", "ecocommand") == ("ais", "rx-nanao")
    assert device_for("ecocommand/sensors/WQ-FW-01/reading", "ecocommand") == (
        "sensor",
        "WQ-FW-01",
    )
    assert device_for("owntracks/wang/phone", "ecocommand") == ("owntracks", "wang")
    for topic in (
        "other/units/U-1/position",  # another prefix
        "ecocommand/units/U-1",
        "ecocommand/units/U-1/position/x",
        "ecocommand/vessels/1/position",
        "ecocommand/units//position",
        "owntracks/wang",
        "",
    ):
        assert device_for(topic, "ecocommand") is None, topic


def test_client_ids_are_stable_short_and_distinct() -> None:
    assert client_id_for("U-EE-001") == "sim-U-EE-001"
    assert client_id_for("U-EE-001", "t1") == "t1-U-EE-001"
    long_a, long_b = "A" * 63 + "1", "A" * 63 + "2"
    ids = {client_id_for(x) for x in ("a:b", "a_b", long_a, long_b)}
    assert len(ids) == 4
    assert all(len(i) <= 64 and i.replace("-", "").replace("_", "").isalnum() for i in ids)
    assert client_id_for(long_a) == client_id_for(long_a)


# -- the roster --------------------------------------------------------------------------------


def test_run_provisions_every_simulated_device(
    settings: Settings, r: redis.Redis, broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets: dict[str, str] = {}
    add = roster.add

    def recording_add(*args: Any, **kw: Any) -> str:
        secret = add(*args, **kw)
        secrets[args[1]] = secret
        return secret

    monkeypatch.setattr(roster, "add", recording_add)
    expected = _expected()
    with _running(settings):
        found = wait_for(
            lambda: len(s := _simulators(r)) == len(expected) and s, 30, "every device provisioned"
        )
    assert {(d.kind, d.id) for d in found.values()} == expected
    for d in found.values():
        assert d.active and d.source == "simulator"
        assert rules.verify_secret(secrets[d.id], d.secret_hash), d.id
    # the secrets are kept in memory only: Redis holds their hashes, nothing more
    stored = b" ".join(v for k in r.keys("*") if r.type(k) == b"hash" for v in r.hvals(k))
    assert stored and not any(s.encode() in stored for s in secrets.values())


def test_provision_renews_its_own_devices_and_skips_anyone_elses(
    r: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    admin = roster.add(r, "U-EE-001", "unit", T0, source="cli")
    roster.add(r, "rx-dapeng", "sensor", T0, source="simulator")  # an id now of another kind
    wanted = [("unit", "U-EE-001"), ("unit", "U-EE-002"), ("ais", "rx-dapeng"), ("ais", "rx-nanao")]
    with caplog.at_level(logging.WARNING, "ecocommand.simulator"):
        first = provision(r, wanted, T0)
        second = provision(r, wanted, T0 + 1)
    assert [i.device_id for i in first] == ["U-EE-002", "rx-nanao"]
    assert "skipping device U-EE-001" in caplog.text and "skipping device rx-dapeng" in caplog.text
    for old, new in zip(first, second, strict=True):
        assert old.device_id == new.device_id and old.secret != new.secret  # renewed at start
        d = roster.get(r, new.device_id)
        assert d is not None and d.source == "simulator"
        assert rules.verify_secret(new.secret, d.secret_hash)
        assert not rules.verify_secret(old.secret, d.secret_hash)
    kept = roster.get(r, "U-EE-001")
    assert (
        kept is not None and kept.source == "cli" and rules.verify_secret(admin, kept.secret_hash)
    )
    assert all(i.secret not in repr(i) for i in first)


def test_an_administrators_device_is_skipped_not_taken(
    settings: Settings, r: redis.Redis, broker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    expected = _expected()
    taken = sorted(i for k, i in expected if k == "unit")[0]
    other = sorted(i for k, i in expected if k == "unit")[1]
    admin_secret = roster.add(r, taken, "unit", T0, source="cli")
    got: queue.Queue[str] = queue.Queue()
    topics = [f"{PREFIX}/units/{taken}/#", f"{PREFIX}/units/{other}/profile"]
    sub = subscribe(broker.port, topics, lambda m: None if m.retain else got.put(m.topic))
    try:
        with caplog.at_level(logging.INFO, "ecocommand.simulator"), _running(settings) as t:
            wait_for(lambda: len(_simulators(r)) == len(expected) - 1, 30, "the other devices")
            assert got.get(timeout=30) == f"{PREFIX}/units/{other}/profile"  # it runs
            assert t.is_alive()
    finally:
        sub.disconnect()
        sub.loop_stop()
    assert f"skipping device {taken} (unit)" in caplog.text
    d = roster.get(r, taken)
    assert d is not None and d.source == "cli" and d.kind == "unit"
    assert rules.verify_secret(admin_secret, d.secret_hash)  # its secret still works
    assert got.empty()  # nothing was published as the administrator's device


# -- against a broker that checks every identity -----------------------------------------------


class _Observer:
    """A client logged in as the ingest service (it may read everything), collecting what
    devices publish (replays of retained messages aside)."""

    def __init__(self, port: int, secret: str) -> None:
        self.seen: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.subscribed = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"obs-{uuid.uuid4().hex[:6]}")
        c.username_pw_set(rules.ALL_READER, secret)
        c.on_connect = lambda c, _u, _f, rc, _p: None if rc.is_failure else c.subscribe("#", 1)
        c.on_subscribe = lambda *_a: self.subscribed.set()
        c.on_message = lambda _c, _u, m: None if m.retain else self.seen.put((m.topic, m.payload))
        c.connect_async("127.0.0.1", port)
        c.loop_start()
        self.client = c

    def wait_for(self, done: Callable[[str, bytes], bool], timeout: float) -> list[str]:
        """Topics seen until `done(topic, payload)` holds for one of them."""
        topics, deadline = [], time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; saw {len(topics)} messages"
            topic, payload = self.seen.get(timeout=left)
            topics.append(topic)
            if done(topic, payload):
                return topics

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _enforcing_mosquitto(directory: Path) -> ServerProcess:
    """mosquitto refusing anonymous clients, with a password file and an ACL (empty for now)."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "passwords").write_text("")
    (directory / "acl").write_text("")
    user = "user root\n" if os.geteuid() == 0 else ""
    (directory / "mosquitto.conf").write_text(
        user + f"listener {port} 127.0.0.1\n"
        "allow_anonymous false\n"
        f"password_file {directory / 'passwords'}\n"
        f"acl_file {directory / 'acl'}\n"
        "log_dest none\n"
    )
    argv = [mosquitto_binary(), "-c", str(directory / "mosquitto.conf")]
    return ServerProcess(argv, port, "mosquitto").start()


def _export(srv: ServerProcess, directory: Path, r: redis.Redis, observer_secret: str) -> None:
    """The roster as mosquitto's password and ACL files (the rules of domain/devices.py), plus
    the observer; SIGHUP makes mosquitto read them again."""
    active = [d for d in roster.roster(r) if d.active]
    passwords = [f"{d.id}:{d.secret_hash}" for d in active]
    passwords.append(f"{rules.ALL_READER}:{rules.hash_secret(observer_secret)}")
    acl = [f"user {rules.ALL_READER}", *rules.mosquitto_acl("service", rules.ALL_READER, PREFIX)]
    for d in active:
        acl += ["", f"user {d.id}", *rules.mosquitto_acl(d.kind, d.id, PREFIX)]
    (directory / "passwords").write_text("\n".join(passwords) + "\n")
    (directory / "acl").write_text("\n".join(acl) + "\n")
    assert srv.proc is not None
    srv.proc.send_signal(signal.SIGHUP)


def test_every_device_logs_in_as_itself_and_stays_in_its_topics(
    settings: Settings, r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under mosquitto with a password file and an ACL made from the roster (a device may
    publish only under its own topics; a denied publication is dropped), every simulated
    device is heard, and a unit takes a notice on its own dispatch topic."""
    monkeypatch.setattr(tasks, "REACTION_MS", {p: (300, 600) for p in (1, 2, 3)})
    srv = _enforcing_mosquitto(tmp_path / "mosquitto")
    secret = rules.new_secret()
    expected = _expected()
    unit = Simulation(PREFIX, rate=RATE, seed=SEED).units.units[0]
    settings = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{srv.port}"})
    try:
        with _running(settings):
            wait_for(lambda: len(_simulators(r)) == len(expected), 30, "every device provisioned")
            # the devices were refused until now (no passwords yet): they retry with back-off
            _export(srv, tmp_path / "mosquitto", r, secret)
            observer = _Observer(srv.port, secret)
            try:
                assert observer.subscribed.wait(15), "the observer was not let in"
                heard: set[tuple[str, str] | None] = set()

                def all_heard(topic: str, _payload: bytes) -> bool:
                    heard.add(device_for(topic, PREFIX))
                    return heard >= expected

                topics = observer.wait_for(all_heard, 60)
                assert heard == expected  # and nothing that is no device's
                for topic in topics:
                    kind, device_id = device_for(topic, PREFIX) or ("", "")
                    assert rules.publish_allowed(kind, device_id, topic, PREFIX), topic
                observer.client.publish(
                    rules.dispatch_topic(PREFIX, unit.unit_id),
                    _notice(unit.unit_id, *unit.home),
                    qos=1,
                )

                def acked(topic: str, payload: bytes) -> bool:
                    return topic == f"{PREFIX}/units/{unit.unit_id}/task" and (
                        orjson.loads(payload)["action"] == "ack"
                    )

                observer.wait_for(acked, 30)
            finally:
                observer.close()
    finally:
        srv.stop()


def _each_arrives(got: queue.Queue[str], topics: list[str], timeout: float) -> None:
    """Every topic arrives at least once (a profile may come twice: a device that reconnects
    sends it again, and so may its regular schedule)."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while not set(topics) <= seen:
        seen.add(got.get(timeout=max(0.1, deadline - time.monotonic())))


def test_devices_reconnect_after_a_broker_restart_and_send_their_profiles_again(
    settings: Settings, r: redis.Redis, tmp_path: Path
) -> None:
    srv = mosquitto(tmp_path / "mosquitto")  # its own: this one is restarted
    settings = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{srv.port}"})
    sim = Simulation(PREFIX, rate=RATE, seed=SEED)
    topics = [f"{PREFIX}/units/{sim.units.units[0].unit_id}/profile"]
    topics.append(f"{PREFIX}/sensors/{sim.sensors.sensors[0].sensor_id}/profile")
    got: queue.Queue[str] = queue.Queue()
    # a persistent session: what is published while it reconnects is kept for it
    sub = subscribe(srv.port, topics, lambda m: None if m.retain else got.put(m.topic), False)
    try:
        with _running(settings):
            _each_arrives(got, topics, 30)
            srv.restart()
            while not got.empty():  # what came before the restart
                got.get_nowait()
            _each_arrives(got, topics, 60)
    finally:
        sub.disconnect()
        sub.loop_stop()
        srv.stop()
