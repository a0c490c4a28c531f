"""The ingest benchmark's workload: a seeded, realistic mix of messages, and its publisher.

Mix (by message): ~60 % unit positions, ~25 % AIS NMEA (type 1/18 positions, ~5 % of them two-line
type 5 static reports), ~12 % sensor readings, ~3 % invalid (malformed JSON, out-of-range
coordinates) that the worker must dead-letter. Everything but the time is generated up front;
each valid message's `ts` (or AIS tag-block `c:` time, in ms) is stamped when it is published, so
latency = (Redis time of its track entry) - ts.

    python -m bench.workload --url mqtt://127.0.0.1:1883 --n 100000 --summary out.json

runs the publisher: it generates, connects, prints "ready", waits for a line on stdin, publishes
QoS 1 with a bounded window of unacknowledged messages, and writes a JSON summary.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from pyais.encode import encode_dict

from bench.baseline import raw_track_key
from domain.clock import system_ms
from infra.connections import broker_address, mqtt_client
from store import keys

TS_MARK = b"1111111111111"  # 13 digits like a ms timestamp; replaced by the publish time
STATIC_PREFIX = "static:"  # worker_key of a type 5: its record is a vessel_static event
JSON, NMEA, RAW = 0, 1, 2

RECEIVERS = ("rx-kuichong", "rx-dapeng", "rx-nanao")
DEPARTMENTS = ("EE", "WA", "FO", "AG", "LI", "MF", "FM")
STATUSES = ("available", "dispatched", "en_route", "on_scene")
SENSOR_PARAMS = {  # name -> (low, high) of realistic seawater readings
    "pH": (7.9, 8.3),
    "dissolved_oxygen": (5.5, 8.0),
    "COD": (0.5, 2.5),
    "inorganic_nitrogen_as_N": (0.05, 0.35),
    "active_phosphate_as_P": (0.005, 0.03),
    "petroleum": (0.005, 0.05),
}
# Bounding box of Dapeng / Daya Bay (lon, lat).
LON, LAT = (114.30, 114.65), (22.45, 22.72)

# Cumulative shares of the mix.
P_UNIT, P_AIS, P_SENSOR = 0.60, 0.85, 0.97  # the remaining 3 % is invalid
P_AIS_STATIC = 0.05  # of AIS messages: type 5 (two lines)
P_STATUS = 0.2  # of unit positions: also carry a status


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    form: int  # JSON: parts = (before ts, after ts); NMEA: parts = lines; RAW: parts = (payload,)
    parts: tuple[bytes, ...]
    kind: str  # unit_position, ais_position, ais_static, sensor_reading, invalid_*
    worker_key: str | None  # the worker's track key ("static:<mmsi>" for type 5); None = invalid
    baseline_key: str | None  # the track key the raw baseline writes; None = nothing useful

    def payload(self, ms: int) -> bytes:
        if self.form == JSON:
            return self.parts[0] + str(ms).encode() + self.parts[1]
        if self.form == NMEA:
            tag = tag_block(ms)
            return b"\n".join(tag + line for line in self.parts)
        return self.parts[0]


def tag_block(ms: int) -> bytes:
    """`\\c:<ms>*hh\\`: the AIS module reads c: values > 1e11 as milliseconds."""
    body = b"c:%d" % ms
    cs = 0
    for ch in body:
        cs ^= ch
    return b"\\%s*%02X\\" % (body, cs)


def _json_template(doc: dict[str, Any]) -> tuple[bytes, bytes]:
    before, after = orjson.dumps({**doc, "ts": int(TS_MARK)}).split(TS_MARK)
    return before, after


@dataclass
class _Mover:
    ident: str
    lon: float
    lat: float
    course: float
    speed: float
    seq: int = 0

    def step(self, rng: random.Random, scale: float) -> None:
        # A random walk inside the bay: distinct coordinates for every report.
        self.course = (self.course + rng.uniform(-25, 25)) % 360
        rad = math.radians(self.course)
        d = scale * rng.uniform(0.3, 1.0)
        self.lon = min(max(self.lon + d * math.sin(rad), LON[0]), LON[1])
        self.lat = min(max(self.lat + d * math.cos(rad), LAT[0]), LAT[1])
        self.seq += 1


def _movers(rng: random.Random, ids: list[str], speed: tuple[float, float]) -> list[_Mover]:
    return [
        _Mover(i, rng.uniform(*LON), rng.uniform(*LAT), rng.uniform(0, 360), rng.uniform(*speed))
        for i in ids
    ]


def generate(
    n: int,
    units: int = 3000,
    seed: int = 1,
    prefix: str = "ecocommand",
    vessels: int = 400,
    sensors: int = 240,
) -> list[Message]:
    """`n` messages of the mix, the same for the same arguments."""
    rng = random.Random(seed)
    dept = [rng.choice(DEPARTMENTS) for _ in range(units)]
    unit_pool = _movers(rng, [f"U-{dept[i]}-{i:04d}" for i in range(units)], (0.0, 60.0))
    vessel_pool = _movers(
        rng, [str(rng.choice((412, 413, 414)) * 1_000_000 + i) for i in range(vessels)], (2.0, 18.0)
    )
    class_a = [v for i, v in enumerate(vessel_pool) if i % 10 < 7]  # the rest is class B
    class_a_set = {v.ident for v in class_a}
    sensor_seq = dict.fromkeys((f"S-{i:03d}" for i in range(sensors)), 0)
    sensor_ids = list(sensor_seq)
    static_next = 0
    seq_id = 0
    out: list[Message] = []
    for _ in range(n):
        x = rng.random()
        if x < P_UNIT:
            out.append(_unit_position(rng, rng.choice(unit_pool), prefix))
        elif x < P_AIS:
            rx = rng.choice(RECEIVERS)
            topic = f"{prefix}/ais/{rx}/nmea"
            if rng.random() < P_AIS_STATIC:
                # Round robin over class A vessels: one vessel's reports are far apart, so two
                # never share a publish millisecond (that would make them one report).
                v = class_a[static_next % len(class_a)]
                static_next += 1
                seq_id = seq_id % 9 + 1
                lines = encode_dict(
                    _type5(rng, v),
                    talker_id="AI",
                    sentence_type="VDM",
                    radio_channel=rng.choice("AB"),
                    seq_id=seq_id,
                )
                out.append(
                    Message(
                        topic,
                        NMEA,
                        tuple(s.encode() for s in lines),
                        "ais_static",
                        STATIC_PREFIX + v.ident,
                        raw_track_key(rx),
                    )
                )
            else:
                v = rng.choice(vessel_pool)
                v.step(rng, 0.0008)
                msg = {
                    "mmsi": int(v.ident),
                    "lat": round(v.lat, 5),
                    "lon": round(v.lon, 5),
                    "speed": round(v.speed, 1),
                    "course": round(v.course, 1) % 360,
                    "heading": int(v.course),
                    "second": rng.randrange(60),
                    "accuracy": 1,
                }
                if v.ident in class_a_set:
                    msg |= {"type": 1, "status": 0, "turn": 0}
                else:
                    msg |= {"type": 18, "cs": True, "dsc": True, "band": True, "msg22": True}
                (line,) = encode_dict(
                    msg, talker_id="AI", sentence_type="VDM", radio_channel=rng.choice("AB")
                )
                out.append(
                    Message(
                        topic,
                        NMEA,
                        (line.encode(),),
                        "ais_position",
                        keys.track("vessel", v.ident),
                        raw_track_key(rx),
                    )
                )
        elif x < P_SENSOR:
            sid = rng.choice(sensor_ids)
            sensor_seq[sid] += 1
            values = {k: round(rng.uniform(lo, hi), 4) for k, (lo, hi) in SENSOR_PARAMS.items()}
            doc = {"sensor_id": sid, "seq": sensor_seq[sid], "values": values}
            track = keys.track("sensor", sid)
            out.append(
                Message(
                    f"{prefix}/sensors/{sid}/reading",
                    JSON,
                    _json_template(doc),
                    "sensor_reading",
                    track,
                    track,
                )
            )
        else:
            out.append(_invalid(rng, rng.choice(unit_pool), prefix))
    return out


def _unit_doc(rng: random.Random, u: _Mover) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "unit_id": u.ident,
        "seq": u.seq,
        "lat": round(u.lat, 6),
        "lon": round(u.lon, 6),
        "speed_kmh": round(u.speed * rng.uniform(0.5, 1.0), 1),
        "course": round(u.course, 1) % 360,
        "accuracy_m": round(rng.uniform(3, 15), 1),
    }
    if rng.random() < P_STATUS:
        doc["status"] = rng.choice(STATUSES)
    return doc


def _unit_position(rng: random.Random, u: _Mover, prefix: str) -> Message:
    u.step(rng, 0.0005)
    track = keys.track("unit", u.ident)
    return Message(
        f"{prefix}/units/{u.ident}/position",
        JSON,
        _json_template(_unit_doc(rng, u)),
        "unit_position",
        track,
        track,
    )


def _invalid(rng: random.Random, u: _Mover, prefix: str) -> Message:
    u.step(rng, 0.0005)
    topic = f"{prefix}/units/{u.ident}/position"
    doc = _unit_doc(rng, u)
    if rng.random() < 2 / 3:  # a truncated document, as a flaky uplink delivers it
        before, after = _json_template(doc)
        whole = before + b"1764300000000" + after
        return Message(
            topic, RAW, (whole[: rng.randrange(10, len(whole) - 1)],), "invalid_json", None, None
        )
    if rng.random() < 0.5:
        doc["lat"] = round(rng.uniform(90.5, 180.0), 6)  # lat/lon swapped or corrupt
    else:
        doc["lon"] = round(rng.uniform(180.5, 400.0), 6)
    return Message(topic, JSON, _json_template(doc), "invalid_coordinates", None, None)


def _type5(rng: random.Random, v: _Mover) -> dict[str, Any]:
    bow, stern = rng.randint(10, 150), rng.randint(5, 40)
    port = rng.randint(3, 15)
    return {
        "type": 5,
        "mmsi": int(v.ident),
        "ais_version": 0,
        "imo": 9_000_000 + int(v.ident) % 10**6,
        "callsign": f"BV{int(v.ident) % 10000:04d}",
        "shipname": f"YUE DA {int(v.ident) % 1000}",
        "ship_type": rng.choice((30, 52, 60, 70, 80)),
        "to_bow": bow,
        "to_stern": stern,
        "to_port": port,
        "to_starboard": port,
        "epfd": 1,
        "month": 12,
        "day": 1,
        "hour": rng.randrange(24),
        "minute": rng.randrange(60),
        "draught": round(rng.uniform(2, 12), 1),
        "destination": "YANTIAN",
        "dte": False,
    }


def expectations(messages: list[Message]) -> dict[str, Any]:
    """What a lossless subscriber leaves in Redis: records per key, for worker and baseline."""
    return {
        "messages": len(messages),
        "valid": sum(m.worker_key is not None for m in messages),
        "invalid": sum(m.worker_key is None for m in messages),
        "mix": dict(Counter(m.kind for m in messages)),
        "worker_keys": dict(Counter(m.worker_key for m in messages if m.worker_key)),
        "baseline_keys": dict(
            Counter(m.baseline_key for m in messages if m.worker_key and m.baseline_key)
        ),
    }


# --- the publisher --------------------------------------------------------------------------


class Publisher:
    """QoS 1 publisher driven from one thread (no paho network thread: no GIL hand-offs).

    At most `window` messages are unacknowledged at any time; every publish() result is checked
    (paho refuses messages past 65,535 queued with MQTT_ERR_QUEUE_SIZE)."""

    def __init__(self, url: str, client_id: str, window: int) -> None:
        self.window = window
        self.acked = 0
        self.sent = 0
        self.client = mqtt_client(url, client_id, persistent=False)
        self.client.max_inflight_messages_set(window)
        self.client.on_publish = self._on_publish
        a = broker_address(url)
        self.client.connect(a.host, a.port, keepalive=60)
        deadline = time.monotonic() + 10
        while not self.client.is_connected():
            if time.monotonic() > deadline:
                raise RuntimeError("publisher could not connect to the broker")
            self._loop(0.05)

    def _on_publish(self, *_a: Any) -> None:
        self.acked += 1

    def _loop(self, timeout: float) -> None:
        rc = self.client.loop(timeout=timeout)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publisher lost the broker: {mqtt.error_string(rc)}")

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        self.sent += 1
        if self.sent - self.acked >= self.window:
            while self.sent - self.acked >= self.window:
                self._loop(0.01)
        elif self.sent % 64 == 0:
            self._loop(0)  # read PUBACKs before the window fills, so the broker never blocks

    def wait(self, gap: float) -> None:
        """Pass `gap` seconds serving the connection (a paced publisher's sleep)."""
        end = time.perf_counter() + gap
        while (left := end - time.perf_counter()) > 0.0002:
            self._loop(min(left, 0.05))

    def drain(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.acked < self.sent:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.sent - self.acked} messages never acknowledged")
            self._loop(0.01)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop(0.1)


def run(
    messages: list[Message], url: str, client_id: str, rate: float, window: int, go: Any = None
) -> dict[str, Any]:
    """Publish `messages` (as fast as possible if `rate` is 0) and return what happened."""
    pub = Publisher(url, client_id, window)
    if go is not None:
        go()
    cpu0, t0 = time.process_time(), time.perf_counter()
    first_ms = system_ms()
    max_behind = 0.0
    for i, m in enumerate(messages):
        if rate:
            due = t0 + i / rate
            ahead = due - time.perf_counter()
            if ahead > 0.0002:
                pub.wait(ahead)
            else:
                max_behind = max(max_behind, -ahead)
        pub.publish(m.topic, m.payload(system_ms()))
    last_publish_ms = system_ms()
    pub.drain()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    pub.close()
    return {
        "published": pub.sent,
        "acked": pub.acked,
        "first_publish_ms": first_ms,
        "last_publish_ms": last_publish_ms,
        "last_ack_ms": system_ms(),
        "publish_rate": round(pub.sent / max(elapsed, 1e-9), 1),
        "max_behind_schedule_ms": round(max_behind * 1000, 1),
        "cpu_s": round(cpu, 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.workload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", required=True)
    p.add_argument("--client-id", default="bench-publisher")
    p.add_argument("--prefix", default="ecocommand")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--units", type=int, default=3000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rate", type=float, default=0.0, help="messages/s; 0 = as fast as possible")
    p.add_argument("--window", type=int, default=1000, help="unacknowledged messages at most")
    p.add_argument("--summary", type=Path, required=True)
    p.add_argument("--wait-go", action="store_true", help="print ready, wait for a stdin line")
    a = p.parse_args(argv)
    messages = generate(a.n, a.units, a.seed, a.prefix)
    summary = expectations(messages)

    def go() -> None:
        print("ready", flush=True)
        sys.stdin.readline()

    summary["publisher"] = run(
        messages, a.url, a.client_id, a.rate, a.window, go if a.wait_go else None
    )
    a.summary.write_bytes(orjson.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
