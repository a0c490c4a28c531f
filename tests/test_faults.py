"""Crash tests: SIGKILL the worker and restart the broker in the middle of a QoS 1 stream;
afterwards every message is in Redis exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import redis

from config.settings import Settings
from embedded.processes import ServerProcess, mosquitto
from store import keys, reader
from tests.helpers import PASSWORD, ROOT, make_app, signed_in, wait_for

TS = 1_764_300_000_000
UNITS = 30
PER_UNIT = 100
TOTAL = UNITS * PER_UNIT


def start_worker(redis_port: int, mqtt_port: int, log: Path) -> subprocess.Popen:
    env = dict(
        os.environ,
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        MQTT_URL=f"mqtt://127.0.0.1:{mqtt_port}",
        MQTT_CLIENT_ID="fault-test-worker",
    )
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "ingest"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def tracked(client: redis.Redis) -> int:
    """Positions in the track streams of all units: each message once, if nothing was lost."""
    return sum(client.xlen(keys.track("unit", f"U-{u}")) for u in range(UNITS))


def worker_connected(r: redis.Redis, pid: int) -> bool:
    beat = reader.ingest_stats(r)["heartbeat"]
    return beat.get("pid") == str(pid) and beat.get("broker_connected") == "1"


class SlowPublisher(threading.Thread):
    """Publishes TOTAL positions at QoS 1 on a persistent session, riding out broker restarts."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"fault-pub-{time.monotonic_ns()}",
            clean_session=False,
        )
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect("127.0.0.1", port)
        self.acked: set[int] = set()
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.client.loop_start()
        self.sent = 0
        self.infos: list[mqtt.MQTTMessageInfo] = []

    def run(self) -> None:
        for seq in range(PER_UNIT):
            for u in range(UNITS):
                doc = {
                    "unit_id": f"U-{u}",
                    "seq": seq,
                    "ts": TS + seq * 1000,
                    "lat": 22.5 + seq / 1e4,
                    "lon": 114.4 + u / 1e3,
                }
                info = self.client.publish(
                    f"ecocommand/units/U-{u}/position", orjson.dumps(doc), qos=1
                )
                assert info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN), info.rc
                self.infos.append(info)
                self.sent += 1
                time.sleep(0.001)  # a slow stream on purpose: the faults must fall inside it

    def wait_all_acked(self, timeout: float) -> None:
        # PUBACKs counted in on_publish: paho's MessageInfo raises for messages queued while the
        # broker was down, which it still sends once the broker is back.
        wait_for(lambda: {i.mid for i in self.infos} <= self.acked, timeout, "every PUBACK")
        self.client.disconnect()
        self.client.loop_stop()


def test_sigkill_worker_and_broker_restart_lose_nothing_apply_nothing_twice(
    r: redis.Redis, redis_srv: ServerProcess, tmp_path: Path
) -> None:
    broker = mosquitto(tmp_path / "mosquitto")
    log = tmp_path / "worker.log"
    worker = start_worker(redis_srv.port, broker.port, log)
    try:
        wait_for(lambda: worker_connected(r, worker.pid), 15, "the worker to connect")
        pub = SlowPublisher(broker.port)
        pub.start()
        wait_for(lambda: pub.sent >= TOTAL // 4, 60, "a quarter published")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        killed_at = int(reader.ingest_stats(r)["messages"].get("received", 0))
        wait_for(lambda: pub.sent >= TOTAL // 2, 60, "half published")
        broker.restart()  # graceful: mosquitto saves the queued messages of the worker's session
        wait_for(lambda: pub.sent >= 3 * TOTAL // 4, 60, "three quarters published")
        worker = start_worker(redis_srv.port, broker.port, log)
        pub.join(120)
        pub.wait_all_acked(60)

        try:
            wait_for(lambda: tracked(r) >= TOTAL, 60, "every message in Redis")
        except AssertionError:
            n = tracked(r)
            missing = {
                u: sorted(
                    set(range(PER_UNIT))
                    - {(int(e["ts"]) - TS) // 1000 for e in reader.track(r, "unit", f"U-{u}", 1000)}
                )
                for u in range(3)
            }
            raise AssertionError(
                f"{n} of {TOTAL} in Redis; missing of U-0..2: {missing}; "
                f"stats {reader.ingest_stats(r)}; log: "
                f"{log.read_text()[-2000:]}"
            ) from None
        # a sleep on purpose: what is tested is that nothing more arrives; anything still being
        # redelivered would now show up as a second copy
        time.sleep(1.0)
        tracks = {u: reader.track(r, "unit", f"U-{u}", count=10 * PER_UNIT) for u in range(UNITS)}
        for u, entries in tracks.items():
            seqs = sorted(int(e["ts"]) for e in entries)
            assert seqs == [TS + s * 1000 for s in range(PER_UNIT)], f"U-{u} lost or doubled"
            assert reader.entity(r, "unit", f"U-{u}")["seq"] == str(PER_UNIT - 1)
        stats = reader.ingest_stats(r)
        assert 0 < killed_at < TOTAL, "the kill must fall inside the stream"
        assert stats["messages"]["received"] >= TOTAL  # redeliveries count as received
        assert stats["writes"]["applied"] + stats["writes"]["stale"] == TOTAL
    finally:
        worker.kill()
        worker.wait()
        broker.stop()


def test_sigkill_redis_mid_stream_loses_nothing(
    r: redis.Redis, broker: ServerProcess, tmp_path: Path
) -> None:
    """Redis dies (SIGKILL) and comes back on the same AOF: the worker waits, acknowledges
    nothing meanwhile, and every message ends up in Redis once."""
    from embedded.processes import redis_server

    own = redis_server(tmp_path / "redis")  # appendfsync always, as the embedded default
    client = redis.Redis(port=own.port)
    log = tmp_path / "worker.log"
    worker = start_worker(own.port, broker.port, log)
    try:
        wait_for(lambda: worker_connected(client, worker.pid), 15, "the worker to connect")
        pub = SlowPublisher(broker.port)
        pub.start()
        wait_for(lambda: pub.sent >= TOTAL // 3, 60, "a third published")
        own.stop(kill=True)
        # back once the worker has met the outage (it retries, acknowledging nothing meanwhile)
        wait_for(lambda: "Redis unavailable" in log.read_text(), 15, "the worker to meet it")
        own.start()
        pub.join(120)
        pub.wait_all_acked(60)

        wait_for(lambda: tracked(client) >= TOTAL, 60, "every message in Redis")
        time.sleep(1.0)  # on purpose, as above: no second copy arrives
        assert tracked(client) == TOTAL
        for u in range(UNITS):
            assert reader.entity(client, "unit", f"U-{u}")["seq"] == str(PER_UNIT - 1)
        assert "Redis unavailable" in log.read_text()  # the outage was inside the stream
    finally:
        worker.kill()
        worker.wait()
        own.stop()


def test_sigkill_redis_right_after_acknowledged_assignments_keeps_them(
    settings: Settings, tmp_path: Path
) -> None:
    """What a duty chief saw as "assigned" (HTTP 200) survives kill -9 of Redis at once after."""
    import orjson

    from embedded.processes import redis_server
    from store import incidents, users

    own = redis_server(tmp_path / "redis")  # appendfsync always, as the embedded default
    client = redis.Redis(port=own.port)
    try:
        users.create_user(client, "chief", "dispatcher", PASSWORD)
        c = signed_in(make_app(settings, redis_url=f"redis://127.0.0.1:{own.port}/0"), "chief")
        headers = {"X-CSRFToken": c.get_cookie("_csrf_token").value}
        acknowledged = {}
        for i in range(30):
            inc = c.post(
                "/api/v1/incidents",
                headers=headers,
                json={"type": "illegal_fishing", "priority": 1, "lat": 22.50, "lon": 114.56},
            ).get_json()
            resp = c.post(
                f"/api/v1/incidents/{inc['id']}/assign",
                headers=headers,
                data=orjson.dumps({"units": [f"B-{i}"]}),
                content_type="application/json",
            )
            assert resp.status_code == 200 and resp.get_json()["durable"] is True
            acknowledged[inc["id"]] = f"B-{i}"
        own.stop(kill=True)  # no shutdown, no save: only what the AOF already holds
        own.start()
        wait_for(lambda: _ping(client), 15, "Redis back")
        for incident_id, unit in acknowledged.items():
            record = incidents.read(client, incident_id)
            assert record["state"] == "assigned" and record["units"] == [unit]
            assert incidents.unit_task(client, unit)["incident"] == incident_id
        assert client.xlen(keys.OUTBOX) == len(acknowledged)  # every notice still to send
    finally:
        own.stop()


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.RedisError:
        return False
