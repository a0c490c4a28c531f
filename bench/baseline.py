"""The raw baseline the ingest worker is measured against: what a bare subscriber costs.

A paho-mqtt 2 QoS 1 subscriber (persistent session, paho's automatic acks) whose main thread
drains the message queue in batches like the worker and writes each batch in one redis-py
pipeline: JSON payloads are orjson-decoded into HSET state + GEOADD + XADD track; NMEA payloads
are written as raw text (HSET + XADD), not decoded. No validation, no dedupe, no Lua.

    python -m bench.baseline --mqtt mqtt://127.0.0.1:1883 --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import queue
import signal
import sys
import threading
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import redis

from domain.clock import system_ms
from store import keys

BATCH_MAX = 500  # as the worker
HISTORY_MS = 24 * 3_600_000
KINDS = {"units": "unit", "sensors": "sensor"}


def raw_track_key(receiver: str) -> str:
    """Stream of the raw NMEA payloads of one receiver (the baseline does not decode AIS)."""
    return f"raw:{{{receiver}}}:track"


def raw_state_key(receiver: str) -> str:
    return f"raw:{{{receiver}}}"


def _scalars(doc: dict[str, Any]) -> dict[str, Any]:
    """Flat fields for HSET/XADD: nested `values` become `v.<name>`, None is left out."""
    out: dict[str, Any] = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            for vk, vv in v.items():
                out[f"v.{vk}"] = vv
        elif isinstance(v, bool):
            out[k] = int(v)
        elif v is not None and not isinstance(v, list):
            out[k] = v
    return out


class Baseline:
    def __init__(self, mqtt_url: str, redis_url: str, client_id: str, prefix: str) -> None:
        from infra.connections import connect_mqtt, mqtt_client  # URL parsing, same options

        self.prefix = prefix
        self.stop = threading.Event()
        self.inbox: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self.r = redis.Redis.from_url(redis_url)
        # auto-ack; stock paho: the bare library, not our bulk reads and acks (infra/mqtt_bulk.py)
        self.client = mqtt_client(mqtt_url, client_id, persistent=True, stock=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self._connect = lambda: connect_mqtt(self.client, mqtt_url)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if not rc.is_failure:
            client.subscribe([(f"{self.prefix}/{t}/#", 1) for t in ("units", "sensors", "ais")])

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put((msg.topic, msg.payload))

    def _take_batch(self) -> list[tuple[str, bytes]]:
        try:
            batch = [self.inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(batch) < BATCH_MAX:
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def write(self, batch: list[tuple[str, bytes]]) -> None:
        now = system_ms()
        minid = now - HISTORY_MS
        pipe = self.r.pipeline(transaction=False)
        for topic, payload in batch:
            parts = topic.split("/")
            if len(parts) < 4:
                continue
            if parts[1] == "ais":
                pipe.hset(raw_state_key(parts[2]), mapping={"raw": payload, "received_ms": now})
                pipe.xadd(raw_track_key(parts[2]), {"raw": payload}, minid=minid, approximate=True)
                continue
            kind = KINDS.get(parts[1])
            if kind is None:
                continue
            try:
                doc = orjson.loads(payload)
            except orjson.JSONDecodeError:
                pipe.xadd(
                    keys.DEADLETTER,
                    {"reason": "json_malformed", "topic": topic, "raw": payload[:1024]},
                )
                continue
            if not isinstance(doc, dict):
                continue
            fields = _scalars(doc)
            if not fields:
                continue
            ident = parts[2]
            pipe.hset(keys.state(kind, ident), mapping={**fields, "received_ms": now})
            lon, lat = doc.get("lon"), doc.get("lat")
            if isinstance(lon, int | float) and isinstance(lat, int | float):
                pipe.geoadd(keys.geo(kind), (lon, lat, ident))
            pipe.xadd(keys.track(kind, ident), fields, minid=minid, approximate=True)
        pipe.hincrby(keys.MESSAGE_OUTCOMES, "received", len(batch))
        # Out-of-range coordinates make GEOADD fail; a baseline does not care.
        pipe.execute(raise_on_error=False)

    def run(self) -> None:
        self._connect()
        self.client.loop_start()
        try:
            while not self.stop.is_set():
                batch = self._take_batch()
                if batch:
                    self.write(batch)
        finally:
            self.client.disconnect()
            self.client.loop_stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.baseline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mqtt", required=True)
    p.add_argument("--redis", required=True)
    p.add_argument("--client-id", default="bench-baseline")
    p.add_argument("--prefix", default="ecocommand")
    a = p.parse_args(argv)
    b = Baseline(a.mqtt, a.redis, a.client_id, a.prefix)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: b.stop.set())
    b.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
