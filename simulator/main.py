"""The traffic simulator: a pure, seeded `Simulation` of units, vessels and sensors, and `run()`
that publishes it to the MQTT broker in real time.

    python run.py simulate [--rate 1.0] [--seed 42]

`rate` multiplies the messages per second. Units and vessels are multiplied by floor(rate)
(at least 1): more entities, with new ids; the remaining factor (rate / floor(rate), or rate
itself below 1) shortens their reporting intervals. So rate 10 gives ten times the units and
vessels at the usual intervals; rate 2.5 doubles them and reports 1.25x as often; rate 0.5 keeps
them and reports half as often. The 11 water-quality sensors are fixed monitoring points, so they
report `rate` times as often instead.

Rate never speeds up time: positions, reaction and handling times and speeds stay real, so the
centre's timings (ETAs, deadlines) hold at any rate. Units answer the centre's dispatch notices
(`units/{id}/dispatch`) as simulator/tasks.py describes.
"""

from __future__ import annotations

import heapq
import logging
import math
import queue
import random
import re
import threading
import time
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from pydantic import BaseModel

from config.settings import Settings
from domain.clock import system_ms
from domain.geo import Geography, load_geography
from domain.payloads import TaskReport, UnitPosition
from infra.connections import broker_address, mqtt_client
from simulator import tasks
from simulator.sensors import SensorNetwork
from simulator.units import UnitFleet
from simulator.vessels import VesselFleet

log = logging.getLogger("ecocommand.simulator")

Message = tuple[str, bytes, bool]  # topic, payload, retain
QOS = 1
_MAX_WAIT_S = 0.2  # upper bound on one sleep, so `stop` is noticed quickly


def encode(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump(mode="json", exclude_none=True))


class Simulation:
    """Entities plus a time-ordered heap of their next reports. No I/O: `step(now_ms)` returns
    the messages due by now_ms. Same seed and same sequence of `step` times: same messages."""

    def __init__(
        self,
        prefix: str = "ecocommand",
        *,
        rate: float = 1.0,
        seed: int | None = None,
        start_ms: int | None = None,
        geography: Geography | None = None,
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be > 0")
        self.prefix = prefix
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**63)
        self.multiplier = max(1, int(rate))
        scale = self.multiplier / rate
        geo = geography or load_geography()
        start = system_ms() if start_ms is None else start_ms
        # One generator per concern, so e.g. adding a sensor does not reshuffle every vessel.
        self.rng = random.Random(f"{self.seed}:schedule")
        self.units = UnitFleet(
            geo, random.Random(f"{self.seed}:units"), self.multiplier, scale, start_ms=start
        )
        self.vessels = VesselFleet(
            geo, random.Random(f"{self.seed}:vessels"), self.multiplier, scale
        )
        self.sensors = SensorNetwork(geo, random.Random(f"{self.seed}:sensors"), 1 / rate)
        self._heap: list[tuple[int, int, str, int]] = []
        self._order = 0
        self._unit_due: dict[int, tuple[int, int]] = {}  # unit index -> its live (order, due)
        self._started = False
        # First reports spread over one interval, so the start is not one burst.
        for i, u in enumerate(self.units.units):
            self._push(start + self.rng.randint(0, self.units.next_interval_ms(u)), "unit", i)
        for i, v in enumerate(self.vessels.vessels):
            self._push(start + self.rng.randint(0, self.vessels.next_position_ms(v)), "ais_pos", i)
            self._push(start + self.vessels.next_static_ms(), "ais_static", i)
        for i, _ in enumerate(self.sensors.sensors):
            self._push(start + self.rng.randint(0, self.sensors.next_interval_ms()), "sensor", i)

    def _push(self, due_ms: int, kind: str, index: int) -> None:
        self._order += 1
        if kind == "unit":  # one live schedule per unit: an earlier entry made stale is skipped
            self._unit_due[index] = (self._order, due_ms)
        heapq.heappush(self._heap, (due_ms, self._order, kind, index))

    def on_dispatch(self, payload: bytes, now_ms: int, topic: str | None = None) -> bool:
        """A notice from the centre (from `topic`, whose unit id must match, if given). True if
        a unit took it; anything malformed or repeated is logged or ignored, never raised."""
        topic_unit = topic.rsplit("/", 2)[-2] if topic and topic.count("/") >= 2 else None
        notice = tasks.parse(payload, topic_unit)
        u = self.units.dispatch(notice, now_ms) if notice else None
        if u is None or u.task is None:
            return False
        i = self.units.units.index(u)
        # the acknowledgement must not wait for a next report scheduled later than it
        if u.task.until_ms < self._unit_due.get(i, (0, math.inf))[1]:
            self._push(u.task.until_ms, "unit", i)
        return True

    def next_due_ms(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def profile_messages(self, now_ms: int) -> list[Message]:
        """Retained profiles of every unit and sensor (sent at start and after a reconnect)."""
        p = self.prefix
        out = [
            (f"{p}/units/{u.unit_id}/profile", encode(self.units.profile(u, now_ms)), True)
            for u in self.units.units
        ]
        out += [
            (f"{p}/sensors/{s.sensor_id}/profile", encode(self.sensors.profile(s, now_ms)), True)
            for s in self.sensors.sensors
        ]
        return out

    def step(self, now_ms: int) -> list[Message]:
        """Everything due by now_ms: on the first call also the profiles and all static AIS."""
        out: list[Message] = []
        ais: list[tuple[str, list[str]]] = []
        if not self._started:
            self._started = True
            out += self.profile_messages(now_ms)
            for v in self.vessels.vessels:
                ais += self.vessels.static(v, now_ms)
        p = self.prefix
        while self._heap and self._heap[0][0] <= now_ms:
            _, order, kind, i = heapq.heappop(self._heap)
            if kind == "unit" and self._unit_due.get(i, (None,))[0] != order:
                continue  # replaced by an earlier report (a dispatch notice came in)
            # The next report counts from now, not from the due time: no catch-up bursts
            # after a stall.
            if kind == "unit":
                u = self.units.units[i]
                for m in self.units.report(u, now_ms):
                    leaf = (
                        "position"
                        if isinstance(m, UnitPosition)
                        else "task"
                        if isinstance(m, TaskReport)
                        else "status"
                    )
                    out.append((f"{p}/units/{u.unit_id}/{leaf}", encode(m), False))
                self._push(self.units.next_report_ms(u, now_ms), kind, i)
            elif kind == "ais_pos":
                v = self.vessels.vessels[i]
                ais += self.vessels.position(v, now_ms)
                self._push(now_ms + self.vessels.next_position_ms(v), kind, i)
            elif kind == "ais_static":
                ais += self.vessels.static(self.vessels.vessels[i], now_ms)
                self._push(now_ms + self.vessels.next_static_ms(), kind, i)
            else:
                s = self.sensors.sensors[i]
                reading = self.sensors.reading(s, now_ms)
                out.append((f"{p}/sensors/{s.sensor_id}/reading", encode(reading), False))
                self._push(now_ms + self.sensors.next_interval_ms(), kind, i)
        for rx, text in self.vessels.pack(ais, now_ms):
            out.append((f"{p}/ais/{rx}/nmea", text.encode("ascii"), False))
        return out


def client_id_for(prefix: str) -> str:
    """One stable id per topic prefix: the broker keeps the session (and the notices it queues
    while the simulator is away) for the next connection under the same id. Two simulators on
    one broker and prefix would take the id from each other: run one, or give each its own."""
    return ("ecocommand-sim-" + re.sub(r"[^A-Za-z0-9_.-]", "_", prefix))[:64]


class _Link:
    """A paho-mqtt 2 client that reconnects with back-off and says when it is connected."""

    def __init__(self, settings: Settings, stop: threading.Event, client_id: str) -> None:
        # paho's network thread -> the simulation loop: (topic, payload) of dispatch notices
        self.notices: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self.notice_filter = f"{settings.topic_prefix}/units/+/dispatch"
        a = broker_address(settings.effective_mqtt_url)
        self.host, self.port = a.host, a.port
        self.stop = stop
        self.connected = threading.Event()
        self.reconnected = threading.Event()  # set on every (re)connect; cleared by the reader
        # persistent: QoS 1 notices published while the link is down are queued by the broker
        c = mqtt_client(settings.effective_mqtt_url, client_id, persistent=True)
        c.connect_timeout = 1.0  # loop_stop() waits for a pending connect: keep stopping prompt
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(50_000)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        # only notices: amqtt was seen delivering retained profiles to `units/+/dispatch`
        c.on_message = lambda _c, _u, m: (
            self.notices.put((m.topic, m.payload)) if m.topic.endswith("/dispatch") else None
        )
        self.client = c

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("broker %s:%s refused the connection: %s", self.host, self.port, reason)
            return
        log.info("connected to %s:%s", self.host, self.port)
        # the units listen for the centre's dispatch notices (again on every connect: a broker
        # that lost the session, or a first connect, has no subscription)
        self.client.subscribe(self.notice_filter, qos=QOS)
        self.connected.set()
        self.reconnected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        if not self.stop.is_set():
            log.warning("lost %s:%s (%s); reconnecting with back-off", self.host, self.port, reason)

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run(
    settings: Settings,
    rate: float = 1.0,
    stop: threading.Event | None = None,
    seed: int | None = None,
    client_id: str | None = None,
) -> None:
    """Publish simulated traffic until `stop` is set (returns within ~2 s of it), and answer
    the centre's dispatch notices as the units they name.

    The simulation advances only while connected: nothing is queued for a broker that is away,
    since stale positions are worth nothing; entities jump to where they are on reconnect, and
    the retained profiles are published again then.
    """
    stop = stop or threading.Event()
    sim = Simulation(settings.topic_prefix, rate=rate, seed=seed)
    link = _Link(settings, stop, client_id or client_id_for(settings.topic_prefix))
    log.info(
        "simulating %d units, %d vessels, %d sensors (rate %s, seed %s) to %s:%s",
        len(sim.units.units),
        len(sim.vessels.vessels),
        len(sim.sensors.sensors),
        rate,
        sim.seed,
        link.host,
        link.port,
    )
    link.start()
    sent = failed = steps = 0
    next_log = time.monotonic() + 60
    try:
        while not stop.is_set():
            if not link.connected.is_set():
                stop.wait(_MAX_WAIT_S)
                continue
            now_ms = system_ms()
            while not link.notices.empty():
                topic, payload = link.notices.get_nowait()
                try:
                    if sim.on_dispatch(payload, now_ms, topic):
                        log.info("a unit took the dispatch notice on %s", topic)
                except Exception:  # a bug must not stop the traffic: say so and go on
                    log.exception("dispatch notice on %s failed", topic)
            batch = sim.step(now_ms)
            if link.reconnected.is_set():
                link.reconnected.clear()
                if steps:  # the first step already carries the profiles
                    batch = sim.profile_messages(now_ms) + batch
            steps += 1
            for topic, payload, retain in batch:
                info = link.client.publish(topic, payload, qos=QOS, retain=retain)
                if info.rc == mqtt.MQTT_ERR_SUCCESS:
                    sent += 1
                else:  # MQTT_ERR_QUEUE_SIZE (dropped), or NO_CONN (queued until reconnect)
                    failed += 1
            if time.monotonic() >= next_log:
                log.info("published %d messages; %d not sent at once", sent, failed)
                next_log += 60
            due = sim.next_due_ms()
            wait = _MAX_WAIT_S if due is None else (due - system_ms()) / 1000
            stop.wait(min(max(wait, 0.0), _MAX_WAIT_S))
    finally:
        link.close()
        log.info("simulator stopped: published %d messages; %d not sent at once", sent, failed)
