"""`python run.py devices export --mosquitto DIR` drives Debian's real mosquitto: the files it
writes, then the broker started with DIR/mosquitto.conf as is, probed with real paho clients:
who may connect, publish and subscribe where, and what a revocation does after a SIGHUP."""

from __future__ import annotations

import base64
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import redis

from domain.devices import hash_secret, mosquitto_acl, verify_secret
from embedded.processes import ServerProcess, free_port, mosquitto_binary
from store import devices as roster
from tests.helpers import add_device, run_devices, wait_for

PREFIX = "ecocommand"
NOT_AUTHORISED = "Not authorized"  # CONNACK return code 5 of MQTT 3.1.1, as paho names it


def export(redis_port: int, directory: Path, port: int) -> subprocess.CompletedProcess:
    out = run_devices(redis_port, "export", "--mosquitto", str(directory), "--port", str(port))
    assert out.returncode == 0, out.stderr
    return out


class Client:
    """A paho client (MQTT 3.1.1) that records what the broker answers: CONNACKs, SUBACKs,
    messages and disconnections, each waited for with a timeout."""

    def __init__(self, port: int, user: str | None, password: str | None) -> None:
        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{user}-{uuid.uuid4().hex[:8]}"
        )
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.reconnect_delay_set(0.2, 1)
        self.cond = threading.Condition()
        self.connacks: list[Any] = []
        self.subacks: dict[int, list[Any]] = {}
        self.messages: list[tuple[str, bytes]] = []
        self.disconnects = 0
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_message = self._on_message
        self.c.on_disconnect = self._on_disconnect
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _record(self, fn: Any) -> None:
        with self.cond:
            fn()
            self.cond.notify_all()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self._record(lambda: self.connacks.append(rc))

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[Any], _p: Any) -> None:
        self._record(lambda: self.subacks.__setitem__(mid, codes))

    def _on_message(self, _c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        self._record(lambda: self.messages.append((m.topic, m.payload)))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        def count() -> None:
            self.disconnects += 1

        self._record(count)

    def wait(self, predicate: Any, what: str, timeout: float = 10.0) -> None:
        with self.cond:
            assert self.cond.wait_for(predicate, timeout), f"timed out waiting for {what}"

    def first_connack(self) -> str:
        self.wait(lambda: self.connacks, "a CONNACK")
        return self.connacks[0].getName()

    def subscribe(self, topic_filter: str) -> list[int]:
        """The SUBACK's return codes: 1 granted QoS 1, 128 (0x80) refused."""
        result, mid = self.c.subscribe(topic_filter, qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS
        self.wait(lambda: mid in self.subacks, f"the SUBACK of {topic_filter}")
        return [code.value for code in self.subacks[mid]]

    def publish(self, topic: str, payload: bytes) -> None:
        """Publishes at QoS 1 and waits for the PUBACK (which mosquitto sends even for a
        publish its ACL drops: MQTT 3.1.1 has no way to refuse one)."""
        info = self.c.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published()

    def received(self, topic: str, payload: bytes) -> None:
        self.wait(lambda: (topic, payload) in self.messages, f"{topic} {payload!r}")

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def connack(port: int, user: str | None, password: str | None) -> str:
    """The answer to one CONNECT with these credentials."""
    c = Client(port, user, password)
    try:
        return c.first_connack()
    finally:
        c.close()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    """Collects the test's clients and closes them at the end."""
    made: list[Client] = []
    yield made
    for c in made:
        c.close()


def start_mosquitto(directory: Path, port: int) -> ServerProcess:
    """Debian's mosquitto on the exported configuration, unchanged."""
    return ServerProcess(
        [mosquitto_binary(), "-c", str(directory / "mosquitto.conf")], port, "mosquitto"
    ).start()


# -- the files ---------------------------------------------------------------------------------


def test_mosquitto_passwd_and_the_roster_write_the_same_hash(tmp_path: Path) -> None:
    """The roster's hash is what mosquitto_passwd writes, so the password file needs no secret."""
    passwd = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwd), "U-1", "s3cret"], check=True, timeout=10
    )
    name, stored = passwd.read_text().strip().split(":", 1)
    assert name == "U-1" and re.fullmatch(
        r"\$7\$101\$[A-Za-z0-9+/=]{16}\$[A-Za-z0-9+/=]{88}", stored
    )
    assert verify_secret("s3cret", stored) and not verify_secret("s3cret!", stored)
    salt = base64.b64decode(stored.split("$")[3])
    assert hash_secret("s3cret", salt) == stored


def test_export_writes_active_devices_only(
    r: redis.Redis, redis_srv: ServerProcess, tmp_path: Path
) -> None:
    add_device(redis_srv.port, "U-1", "unit")
    add_device(redis_srv.port, "S-1", "sensor")
    add_device(redis_srv.port, "wang", "owntracks")
    add_device(redis_srv.port, "ingest", "service")
    add_device(redis_srv.port, "web", "service")
    # ':' cannot stand in a password file's `name:hash` line: such an id is never added
    assert run_devices(redis_srv.port, "add", "rx:1", "--kind", "ais").returncode == 2
    assert run_devices(redis_srv.port, "revoke", "S-1").returncode == 0
    target = tmp_path / "a" / "mq"  # made by the export

    out = export(redis_srv.port, target, 18830)

    d = target.resolve()
    active = ["U-1", "ingest", "wang", "web"]
    passwords = (d / "passwords").read_text().splitlines()
    assert passwords == [f"{i}:{roster.get(r, i).secret_hash}" for i in active]
    assert (d / "passwords").stat().st_mode & 0o777 == 0o600
    assert (d / "acl").stat().st_mode & 0o777 == 0o600
    blocks = {}
    for block in (d / "acl").read_text().split("\n\n")[1:]:
        user, *lines = block.strip().splitlines()
        blocks[user.removeprefix("user ")] = lines
    assert blocks == {i: mosquitto_acl(roster.get(r, i).kind, i, PREFIX) for i in active}
    assert blocks["web"] == [] and blocks["ingest"] == ["topic readwrite #"]
    assert not [
        line
        for line in (d / "acl").read_text().split("\nuser ", 1)[0].splitlines()
        if line.startswith(("topic", "pattern"))
    ], "no rule may stand before the first user (it would apply to anonymous clients)"

    conf = (d / "mosquitto.conf").read_text().splitlines()
    for line in [
        "listener 18830",
        "allow_anonymous false",
        f"password_file {d}/passwords",
        f"acl_file {d}/acl",
        "persistence true",
        f"persistence_location {d}/",
        "max_queued_messages 1000000",
        f"include_dir {d}/conf.d",
    ]:
        assert line in conf
    assert [x for x in conf if x.startswith("autosave_interval ")]
    assert [x for x in conf if x.startswith("max_inflight_messages ")]
    if os.geteuid() == 0:
        assert "user root" in conf  # root's folder: Debian's 'mosquitto' could not read it
    else:
        assert not [x for x in conf if x.startswith("user ")]
    assert (d / "conf.d").is_dir()

    assert f"wrote {d}/passwords (4 active identities, mode 0600)" in out.stdout
    assert f"start:  mosquitto -c {d}/mosquitto.conf" in out.stdout
    assert "$7$" not in out.stdout


# -- the broker --------------------------------------------------------------------------------


def test_mosquitto_applies_the_roster_and_a_revocation(
    r: redis.Redis, redis_srv: ServerProcess, tmp_path: Path, clients: list[Client]
) -> None:
    secret = {
        "U-1": add_device(redis_srv.port, "U-1", "unit"),
        "U-2": add_device(redis_srv.port, "U-2", "unit"),
        "ingest": add_device(redis_srv.port, "ingest", "service"),
        "web": add_device(redis_srv.port, "web", "service"),
    }
    port, d = free_port(), tmp_path / "mq"
    export(redis_srv.port, d, port)
    broker = start_mosquitto(d, port)
    try:
        assert connack(port, None, None) == NOT_AUTHORISED  # anonymous
        assert connack(port, "U-1", secret["U-1"] + "x") == NOT_AUTHORISED
        assert connack(port, "U-1", secret["U-2"]) == NOT_AUTHORISED  # another device's
        assert connack(port, "nobody", secret["U-1"]) == NOT_AUTHORISED
        assert connack(port, "web", secret["web"]) == "Success"  # connects (a health probe)

        ingest = Client(port, "ingest", secret["ingest"])
        u1 = Client(port, "U-1", secret["U-1"])
        clients += [ingest, u1]
        assert ingest.first_connack() == u1.first_connack() == "Success"
        assert ingest.subscribe(f"{PREFIX}/#") == [1]

        # a unit publishes under its own id; under another unit's id mosquitto still PUBACKs
        # (MQTT 3.1.1 cannot refuse a publish) but delivers nothing. One publisher's messages
        # reach a subscriber in order, so once the second one is in, the first one never will.
        u1.publish(f"{PREFIX}/units/U-2/position", b"forged")
        u1.publish(f"{PREFIX}/units/U-1/position", b"own")
        ingest.received(f"{PREFIX}/units/U-1/position", b"own")
        assert (f"{PREFIX}/units/U-2/position", b"forged") not in ingest.messages

        # A unit subscribing to every unit's dispatch notices, or to everything: mosquitto
        # 2.0.11's acl_file GRANTS both (SUBACK QoS 1, not 0x80: it checks `topic read` when it
        # delivers, not when one subscribes; the dynamic-security plugin refuses with 0x80), and
        # delivers only what the unit may read: its own notices.
        assert u1.subscribe(f"{PREFIX}/units/+/dispatch") == [1]
        assert u1.subscribe("#") == [1]
        ingest.publish(f"{PREFIX}/units/U-2/dispatch", b"for U-2")
        ingest.publish(f"{PREFIX}/units/U-1/dispatch", b"for U-1")
        u1.received(f"{PREFIX}/units/U-1/dispatch", b"for U-1")
        assert [m for m in u1.messages if m[0] != f"{PREFIX}/units/U-1/dispatch"] == []

        # its own dispatch topic, subscribed exactly
        u1b = Client(port, "U-1", secret["U-1"])
        clients.append(u1b)
        assert u1b.first_connack() == "Success"
        assert u1b.subscribe(f"{PREFIX}/units/U-1/dispatch") == [1]
        ingest.publish(f"{PREFIX}/units/U-1/dispatch", b"again")
        u1b.received(f"{PREFIX}/units/U-1/dispatch", b"again")

        # revoke U-1, export again, SIGHUP: mosquitto re-reads the files and DISCONNECTS the
        # connections of U-1 already open (observed with 2.0.11: it re-checks every connected
        # client on reload); paho's automatic reconnects are then refused
        assert run_devices(redis_srv.port, "revoke", "U-1").returncode == 0
        export(redis_srv.port, d, port)
        broker.proc.send_signal(signal.SIGHUP)
        for c in (u1, u1b):
            c.wait(lambda c=c: c.disconnects >= 1, "the revoked U-1 to be disconnected")
            c.wait(
                lambda c=c: len(c.connacks) >= 2 and c.connacks[-1].getName() == NOT_AUTHORISED,
                "U-1's reconnect to be refused",
            )
        wait_for(lambda: connack(port, "U-1", secret["U-1"]) == NOT_AUTHORISED, 10, "U-1 refused")
        # the others are untouched: ingest kept its connection and its subscription
        assert ingest.disconnects == 0
        u2 = Client(port, "U-2", secret["U-2"])
        clients.append(u2)
        assert u2.first_connack() == "Success"
        u2.publish(f"{PREFIX}/units/U-2/position", b"still here")
        ingest.received(f"{PREFIX}/units/U-2/position", b"still here")
    finally:
        broker.stop()


def test_the_exported_broker_runs_as_the_folders_owner(
    r: redis.Redis, redis_srv: ServerProcess, clients: list[Client]
) -> None:
    """As root, the export names the folder's owner in a `user` line and hands it the files:
    given to Debian's 'mosquitto' account, the broker drops to it, and still reads the files
    again on SIGHUP. Run as anyone else, there is no `user` line and no change of user."""
    ingest_secret = add_device(redis_srv.port, "ingest", "service")
    unit_secret = add_device(redis_srv.port, "U-1", "unit")
    # under /tmp, not pytest's folder: that one is 0700 root, which 'mosquitto' cannot cross
    d = Path(tempfile.mkdtemp(prefix="ecocommand-mq-", dir="/tmp"))
    owner = pwd.getpwnam("mosquitto") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    broker = None
    try:
        os.chown(d, owner.pw_uid, owner.pw_gid)
        port = free_port()
        out = export(redis_srv.port, d, port)
        conf = (d / "mosquitto.conf").read_text().splitlines()
        if os.geteuid() == 0:
            assert "user mosquitto" in conf and "runs as mosquitto" in out.stdout
        else:
            assert not [x for x in conf if x.startswith("user ")]
        for name in ("passwords", "acl", "mosquitto.conf", "conf.d"):
            assert (d / name).stat().st_uid == owner.pw_uid, name

        broker = start_mosquitto(d, port)
        ingest = Client(port, "ingest", ingest_secret)
        clients.append(ingest)
        assert ingest.first_connack() == "Success"  # it could read its password file
        status = Path(f"/proc/{broker.proc.pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{owner.pw_uid}\s", status, re.M), status

        assert run_devices(redis_srv.port, "revoke", "U-1").returncode == 0
        export(redis_srv.port, d, port)
        broker.proc.send_signal(signal.SIGHUP)  # re-read as that account
        wait_for(lambda: connack(port, "U-1", unit_secret) == NOT_AUTHORISED, 10, "U-1 refused")
        assert connack(port, "ingest", ingest_secret) == "Success"
        assert broker.proc.poll() is None
    finally:
        if broker:
            broker.stop()
        shutil.rmtree(d, ignore_errors=True)
