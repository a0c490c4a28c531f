"""Issue 19: two ingest workers behind one MQTT 5 shared subscription on mosquitto. In the
middle of a QoS 1 stream one is killed (SIGKILL) and started again with the same client id,
then the other, then the first again; afterwards every message is applied exactly once, and
both workers took part in each of their lives.

Why it can fail: mosquitto hands each message of a `$share` group to one member and keeps the
QoS 1 messages that member has not acknowledged (and, while it is away, the ones it routes to
it) in that member's session. A worker that came back under a new client id, or that resumed
its session with clean start on (paho's default for MQTT 5), or whose session expired at once
(no Session Expiry Interval), would never see them: fewer than N applied (observed: 1,687 and
702 of 5,000 lost with one kill). A worker that acknowledged before its write loses what it
held when killed (observed in one run of two with one kill: hence three kills). One that wrote
twice would show a track of two entries.

Which worker acknowledged what is read from mosquitto's own log (`log_type all`): the workers
themselves cannot tell it apart in Redis."""

from __future__ import annotations

import itertools
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

from embedded.processes import ServerProcess, mosquitto
from ingest.worker import BATCH_MAX
from store import keys, reader
from tests.helpers import ROOT, wait_for

N = 10_000
RATE = 700  # messages/s: a ~14 s stream, so the kills and the restarts (2-7 s) fall inside it
GROUP = "ingest"
A, B = "two-workers-a", "two-workers-b"  # their MQTT_CLIENT_IDs
# SIGKILL, each restarted at once with its client id: one worker, then the other, then the
# first again. Three kills, each landing on a worker busy with a batch, give a worker that
# acknowledged before writing more than one chance to lose what it held.
KILLS = ((0.15, A), (0.45, B), (0.75, A))
STARTS = {c: 1 + sum(1 for _, v in KILLS if v == c) for c in (A, B)}
TS = 1_764_300_000_000
UNIT = "U-TW{:05d}"  # one unit per message: no position can be older than another (stale)


def logged_mosquitto(data_dir: Path) -> tuple[ServerProcess, Path]:
    """mosquitto as the tests run it, logging every packet to a file."""
    log = data_dir / "mosquitto.log"
    return mosquitto(data_dir, log=log), log


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


def connects(log_text: str, client_id: str) -> list[re.Match[str]]:
    """mosquitto's line for each CONNECT of the client, with its (protocol, clean start, ...)."""
    return list(re.finditer(rf"New client connected from \S+ as {client_id} \(([^)]*)\)", log_text))


def test_two_workers_killed_and_restarted_apply_every_message_once(
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
        killed_at = []
        lives = dict.fromkeys((A, B), 1)
        for share, victim in KILLS:
            # a worker killed while it starts tests nothing: first its session, then the kill
            wait_for(lambda v=victim: _connected(mlog, v, lives[v]), 30, f"{victim} connected")
            wait_for(lambda share=share: stream.sent >= share * N, 30, f"{share:.0%} published")
            lives[victim] += 1
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            killed_at.append(stream.sent)
            workers[victim] = start_worker(redis_srv.port, broker.port, victim, data)
        stream.join(60)
        assert not stream.is_alive(), "the stream did not finish"
        assert all(0 < n < N for n in killed_at), "each kill must fall inside the stream"
        for c in (A, B):  # every restart connected again
            wait_for(lambda c=c: _connected(mlog, c, STARTS[c]), 30, f"{c} connected")
        wait_for(lambda: set(stream.mids) <= stream.acked, 30, "every PUBACK to the publisher")
        try:
            wait_for(lambda: r.scard(keys.index("unit")) >= N, 60, "every message applied")
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

        m = _messages(r)
        parts = m["applied"] + m["duplicate"] + m["stale"] + m["deadletter"] + m["ignored"]
        assert m["received"] == parts, m
        assert m["stale"] == m["deadletter"] == m["ignored"] == 0, m
        assert m["received"] >= N, m  # redeliveries count as received
        # Not applied == N: a worker killed after a batch's write and before its count (two
        # steps today, docs/architecture.md "Every message accounted for") leaves the batch
        # uncounted, and its redelivery counts it as duplicates (seen: 9,500 applied and 503
        # duplicates; 9,978 and 28). At most one batch per kill; the tracks above show that
        # nothing was written twice. Make it `m["applied"] == N` once the write and the count
        # are one atomic step.
        assert N - len(KILLS) * BATCH_MAX <= m["applied"] <= N, m
        _each_session_resumed(mlog.read_text(errors="replace"), data)
    finally:
        if stream is not None:
            stream.close()
        for w in workers.values():
            w.kill()
            w.wait()
        broker.stop()


def _connected(mlog: Path, client_id: str, times: int) -> bool:
    return len(connects(mlog.read_text(errors="replace"), client_id)) >= times


def _messages(r: redis.Redis) -> dict[str, int]:
    return reader.ingest_stats(r)["messages"]


def _each_session_resumed(text: str, data: Path) -> None:
    """Both workers took part in every life; each came back over MQTT 5 (p5) with clean start
    off (c0) and found its session; after its last restart, a worker received what it had not
    acknowledged and what mosquitto queued for it while away, and acknowledged it."""
    for c in (A, B):
        lives = connects(text, c)
        assert all(m.group(1).startswith("p5, c0") for m in lives), [m.group(1) for m in lives]
        bounds = [m.start() for m in lives] + [len(text)]
        acks = [acks_by(text[a:b], c) for a, b in itertools.pairwise(bounds)]
        assert all(n > 0 for n in acks), f"{c} acknowledged nothing in a life: {acks}"
        log = (data / f"{c}.log").read_text()
        assert log.count("session present: True") == STARTS[c] - 1, f"{c}: session not resumed"


def _explain(r: redis.Redis, data: Path, mlog: Path) -> str:
    stats = reader.ingest_stats(r)
    logs = {p.name: p.read_text(errors="replace")[-1500:] for p in data.glob("*.log")}
    dropped = mlog.read_text(errors="replace").count("dropped")
    return f"stats {stats['messages']}; mosquitto lines with 'dropped': {dropped}; logs {logs}"
