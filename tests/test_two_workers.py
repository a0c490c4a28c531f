"""Issue 19: two ingest workers behind one MQTT 5 shared subscription on mosquitto. One is
killed (SIGKILL) in the middle of a QoS 1 stream and started again with the same client id;
afterwards every message is applied exactly once, and both workers took part.

Why it can fail: mosquitto hands each message of a `$share` group to one member and keeps the
QoS 1 messages that member has not acknowledged (and, while it is away, the ones it routes to
it) in that member's session. A worker that came back under a new client id, or that resumed
its session with clean start on (paho's default for MQTT 5), or whose session expired at once
(no Session Expiry Interval), would never see them: fewer than N applied. A worker that
acknowledged before its write would lose what it held when killed. One that wrote twice
would show a track of two entries.

Which worker acknowledged what is read from mosquitto's own log (`log_type all`): the workers
themselves cannot tell it apart in Redis."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import redis

from embedded.processes import ServerProcess, free_port, mosquitto_binary
from store import keys, reader
from tests.helpers import ROOT, wait_for

N = 5_000
RATE = 500  # messages/s: a ~10 s stream, so the kill and the restart fall inside it
GROUP = "ingest"
A, B = "two-workers-a", "two-workers-b"  # MQTT_CLIENT_ID: the killed one and the other
TS = 1_764_300_000_000
UNIT = "U-TW{:05d}"  # one unit per message: no position can be older than another (stale)


def logged_mosquitto(data_dir: Path) -> tuple[ServerProcess, Path]:
    """mosquitto as embedded.processes.mosquitto() configures it (persistence, queues large
    enough), logging every packet to a file: who was sent and who acknowledged what."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), data_dir / "mosquitto.log"
    conf = data_dir / "mosquitto.conf"
    conf.write_text(
        ("user root\n" if os.geteuid() == 0 else "") + f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {data_dir.resolve()}/\n"
        "autosave_interval 1\n"
        "max_queued_messages 1000000\n"
        "max_inflight_messages 1000\n"
        f"log_dest file {log}\n"
        "log_type all\n"
    )
    srv = ServerProcess([mosquitto_binary(), "-c", str(conf)], port, "mosquitto").start()
    return srv, log


def start_worker(redis_port: int, mqtt_port: int, client_id: str, data: Path) -> subprocess.Popen:
    env = dict(
        os.environ,
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        MQTT_URL=f"mqtt://127.0.0.1:{mqtt_port}",
        MQTT_CLIENT_ID=client_id,
        MQTT_SHARE_GROUP=GROUP,
        INGEST_SOURCE="mqtt",
        DATA_DIR=str(data),  # one host's folder, shared by its two workers
    )
    with (data / f"{client_id}.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "ingest"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def subscribed(log: Path, client_id: str, times: int = 1) -> bool:
    """mosquitto has taken the client's `times`-th SUBSCRIBE (it logs it before the SUBACK)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return text.count(f"Received SUBSCRIBE from {client_id}") >= times


class Stream(threading.Thread):
    """N distinct unit positions at QoS 1, paced, each PUBACK counted."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="two-workers-pub")
        self.client.max_queued_messages_set(0)
        self.acked: set[int] = set()
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.mids: list[int] = []

    def run(self) -> None:
        start = time.monotonic()
        for i in range(N):
            doc = {"unit_id": UNIT.format(i), "seq": 1, "ts": TS + i, "lat": 22.55, "lon": 114.5}
            info = self.client.publish(
                f"ecocommand/units/{UNIT.format(i)}/position", orjson.dumps(doc), qos=1
            )
            assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
            self.mids.append(info.mid)
            ahead = start + (i + 1) / RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    @property
    def sent(self) -> int:
        return len(self.mids)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def acks_by(log_text: str, client_id: str) -> int:
    return log_text.count(f"Received PUBACK from {client_id} ")


def test_two_workers_one_killed_and_restarted_apply_every_message_once(
    r: redis.Redis, redis_srv: ServerProcess, tmp_path: Path
) -> None:
    broker, mlog = logged_mosquitto(tmp_path / "mosquitto")
    data = tmp_path / "var"
    data.mkdir()
    workers = {c: start_worker(redis_srv.port, broker.port, c, data) for c in (A, B)}
    stream: Stream | None = None
    try:
        for c in (A, B):
            wait_for(lambda c=c: subscribed(mlog, c), 30, f"{c} to subscribe")
        time.sleep(0.5)  # a SUBACK follows its SUBSCRIBE line: let both groups form first
        stream = Stream(broker.port)
        stream.start()
        wait_for(lambda: stream.sent >= N // 4, 30, "a quarter published")
        workers[A].send_signal(signal.SIGKILL)
        workers[A].wait()
        killed_at = stream.sent
        workers[A] = start_worker(redis_srv.port, broker.port, A, data)
        stream.join(60)
        assert not stream.is_alive(), "the stream did not finish"
        restarted_at = _second_connect_position(mlog)
        wait_for(lambda: set(stream.mids) <= stream.acked, 30, "every PUBACK to the publisher")

        def applied() -> int:
            return reader.ingest_stats(r)["messages"]["applied"]

        try:
            wait_for(lambda: applied() >= N, 60, "every message applied")
        except AssertionError:
            raise AssertionError(_explain(r, data, mlog)) from None
        # on purpose: what is tested is that nothing more arrives; a redelivery applied again
        # would show up now
        time.sleep(1.0)

        tracks = r.pipeline(transaction=False)
        for i in range(N):
            tracks.xlen(keys.track("unit", UNIT.format(i)))
        lengths = tracks.execute()
        assert [i for i, n in enumerate(lengths) if n != 1] == [], "lost or written twice"

        m = reader.ingest_stats(r)["messages"]
        parts = m["applied"] + m["duplicate"] + m["stale"] + m["deadletter"] + m["ignored"]
        assert m["received"] == parts, m
        assert m["applied"] == N, m
        assert m["stale"] == m["deadletter"] == m["ignored"] == 0, m
        assert m["duplicate"] == m["received"] - N, m  # redeliveries, and only those

        text = mlog.read_text(errors="replace")
        connects = re.findall(rf"New client connected from \S+ as {A} \(([^)]*)\)", text)
        assert len(connects) == 2, connects
        # MQTT 5 (p5), the session resumed (clean start off: c0), an expiry asked for
        assert all(c.startswith("p5, c0") for c in connects), connects
        before, after = text[:restarted_at], text[restarted_at:]
        assert acks_by(before, A) > 0 and acks_by(text, B) > 0, "each worker took part"
        # the restarted worker got its session back: what it had not acknowledged, and what
        # mosquitto queued for it while it was away, came to it and was acknowledged by it
        assert acks_by(after, A) > 0, "the restarted worker acknowledged nothing"
        assert 0 < killed_at < N, "the kill must fall inside the stream"
        assert "session present: True" in (data / f"{A}.log").read_text(), "session not resumed"
    finally:
        if stream is not None:
            stream.close()
        for w in workers.values():
            w.kill()
            w.wait()
        broker.stop()


def _second_connect_position(log: Path) -> int:
    """Where, in mosquitto's log, the restarted worker connected."""

    def found() -> int:
        text = log.read_text(errors="replace")
        hits = [m.start() for m in re.finditer(rf"New client connected from \S+ as {A} ", text)]
        return hits[1] if len(hits) > 1 else 0

    return wait_for(found, 30, "the restarted worker to connect")


def _explain(r: redis.Redis, data: Path, mlog: Path) -> str:
    stats = reader.ingest_stats(r)
    logs = {p.name: p.read_text(errors="replace")[-1500:] for p in data.glob("*.log")}
    dropped = mlog.read_text(errors="replace").count("dropped")
    return f"stats {stats['messages']}; mosquitto lines with 'dropped': {dropped}; logs {logs}"
