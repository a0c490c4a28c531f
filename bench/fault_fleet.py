"""The devices of `python run.py bench faults` (bench/faults.py) and their steady QoS 1 stream.

The harness adds `devices` unit devices to the roster (store.devices, source "cli"; mosquitto as
started by embedded.processes lets anyone in and ignores the credentials) and publishes from one
paho client per device (user name = device id, its secret, persistent session), `rate` messages
per second each: {"unit_id", "seq", "ts", "lat", "lon"} with ts = t0 + seq. A message counts as
acknowledged only once its PUBACK arrived (on_publish; each device stays below 65,535 messages,
so a packet id names one message), and every publish() return code is checked.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import redis

from bench.fault_stack import Plan
from domain.clock import system_ms
from store import devices as roster

UNIT_PREFIX = "U-FAULT"
LAT, LON = 22.55, 114.45  # Dapeng peninsula
MAX_PER_DEVICE = 60_000  # below paho's 65,535 packet ids


class Device:
    """One unit on its own paho client; `mids[seq]` is the packet id of message `seq` (None if
    publish() refused it), `pub_ms[seq]` when it was handed to paho."""

    def __init__(self, device_id: str, secret: str, port: int) -> None:
        self.id, self.port = device_id, port
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=device_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        c.username_pw_set(device_id, secret)
        c.max_queued_messages_set(0)  # no limit: a refusal would be a loss of our own making
        c.reconnect_delay_set(0.1, 2)
        c.on_publish = self._on_publish
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        self.client = c
        self.acked: set[int] = set()  # packet ids whose PUBACK arrived
        self.mids: list[int | None] = []
        self.pub_ms: list[int] = []
        self.rc: Counter[str] = Counter()  # publish() return codes
        self.connected = False
        self.connects = 0
        self.refusals: list[str] = []

    # paho's thread (no lock of ours: paho calls on_publish holding its own message lock)
    def _on_publish(self, _c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        self.acked.add(mid)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self.refusals.append(str(rc))
            return
        self.connected = True
        self.connects += 1

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        self.connected = False

    def publish(self, topic: str, seq: int, t0: int) -> None:
        doc = {"unit_id": self.id, "seq": seq, "ts": t0 + seq, "lat": LAT, "lon": LON + seq / 1e5}
        info = self.client.publish(topic, orjson.dumps(doc), qos=1)
        self.pub_ms.append(system_ms())
        self.rc[mqtt.error_string(info.rc)] += 1
        # NO_CONN: paho keeps the message and sends it once connected again
        ok = info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)
        self.mids.append(info.mid if ok else None)

    def acked_seqs(self) -> set[int]:
        acked = set(self.acked)
        return {s for s, mid in enumerate(self.mids) if mid is not None and mid in acked}

    def published(self) -> int:
        return sum(mid is not None for mid in self.mids)


class Fleet:
    def __init__(self, ids_secrets: list[tuple[str, str]], port: int, plan: Plan) -> None:
        self.devices = [Device(i, s, port) for i, s in ids_secrets]
        self.plan = plan
        self.t0 = system_ms()  # ts = t0 + seq: distinct per seq, one identity per message
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._stream, name="fault-stream", daemon=True)
        self.started = 0.0

    def connect(self, timeout: float = 30.0) -> None:
        for d in self.devices:
            d.client.connect_async("127.0.0.1", d.port, keepalive=30)
            d.client.loop_start()
        deadline = time.monotonic() + timeout
        while not all(d.connected for d in self.devices):
            if time.monotonic() > deadline:
                bad = {d.id: d.refusals[-3:] for d in self.devices if not d.connected}
                raise RuntimeError(f"devices not connected after {timeout:.0f} s: {bad}")
            time.sleep(0.1)

    def start(self) -> None:
        self.started = time.monotonic()
        self.thread.start()

    def _stream(self) -> None:
        tick, seq = 1.0 / self.plan.rate, 0
        topics = [f"{self.plan.prefix}/units/{d.id}/position" for d in self.devices]
        while not self.stop.is_set() and seq < MAX_PER_DEVICE:
            for d, topic in zip(self.devices, topics, strict=True):
                d.publish(topic, seq, self.t0)
            seq += 1
            self.stop.wait(max(0.0, self.started + seq * tick - time.monotonic()))

    def end_stream(self) -> None:
        self.stop.set()
        self.thread.join(30)

    def first_last_ms(self) -> tuple[int, int]:
        return (
            min(d.pub_ms[0] for d in self.devices if d.pub_ms),
            max(d.pub_ms[-1] for d in self.devices if d.pub_ms),
        )

    def all_acked(self) -> bool:
        return all(len(d.acked_seqs()) == d.published() for d in self.devices)

    def close(self) -> None:
        for d in self.devices:
            with contextlib.suppress(Exception):
                d.client.disconnect()
                d.client.loop_stop()


def provision(r: redis.Redis, n: int) -> list[tuple[str, str]]:
    return [
        (f"{UNIT_PREFIX}{i:03d}", roster.add(r, f"{UNIT_PREFIX}{i:03d}", "unit", system_ms()))
        for i in range(n)
    ]
