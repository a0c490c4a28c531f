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

Every simulated device is a broker identity of its own (issue 12): at start `run()` adds each
unit, AIS shore receiver and sensor to the roster in Redis as the simulator's
(simulator/identities.py) and publishes each message through the connection of the device its
topic names (simulator/links.py), so it needs Redis as well as the broker.

Citizen reports and hotline tickets come too (simulator/reports.py): the first 30-90 s after the
start, then about 4 an hour times `rate`, each opened as an incident to verify with a tracking
code (`ReportLine`). They go into Redis, not through the broker, so they come whether or not the
devices are connected.
"""

from __future__ import annotations

import heapq
import logging
import math
import random
import threading
import time
from collections.abc import Collection

import orjson
import paho.mqtt.client as mqtt
import redis
from pydantic import BaseModel

from config.settings import Settings
from domain.clock import system_ms
from domain.geo import Geography, load_geography
from domain.payloads import TaskReport, UnitPosition
from services import context
from services.errors import Refused
from services.reports import open_report
from simulator import reports, tasks
from simulator.identities import provision, roster_client
from simulator.links import DeviceLinks
from simulator.sensors import SensorNetwork
from simulator.units import UnitFleet
from simulator.vessels import RECEIVERS, VesselFleet

log = logging.getLogger("ecocommand.simulator")

Message = tuple[str, bytes, bool]  # topic, payload, retain
_MAX_WAIT_S = 0.2  # upper bound on one sleep, so `stop` is noticed quickly
# At start the simulation waits up to this long after the first device has connected for the
# others, so the opening profiles and vessel identities reach the broker together; then it goes
# on with those that have.
START_GRACE_S = 5.0


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

    def devices(self) -> list[tuple[str, str]]:
        """(kind, id) of every broker identity the simulation publishes as: its units, the AIS
        shore receivers (the vessels are heard through them) and its sensors."""
        return (
            [("unit", u.unit_id) for u in self.units.units]
            + [("ais", rx) for rx in RECEIVERS]
            + [("sensor", s.sensor_id) for s in self.sensors.sensors]
        )

    def profile_messages(self, now_ms: int, only: Collection[str] | None = None) -> list[Message]:
        """Retained profiles of every unit and sensor, or of those whose ids are in `only`
        (sent at start and after a device reconnects)."""
        p = self.prefix
        units = [u for u in self.units.units if only is None or u.unit_id in only]
        sensors = [s for s in self.sensors.sensors if only is None or s.sensor_id in only]
        out = [
            (f"{p}/units/{u.unit_id}/profile", encode(self.units.profile(u, now_ms)), True)
            for u in units
        ]
        out += [
            (f"{p}/sensors/{s.sensor_id}/profile", encode(self.sensors.profile(s, now_ms)), True)
            for s in sensors
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


class _Traffic:
    """The simulation's side of the loop: steps it while devices are connected and hands each
    message to the connection of the device it is published as."""

    def __init__(self, sim: Simulation, links: DeviceLinks) -> None:
        self.sim, self.links = sim, links
        self.grace_end: float | None = None  # START_GRACE_S after the first device connects
        self.sent = self.failed = self.skipped = self.steps = 0
        self.next_log = time.monotonic() + 60

    def advancing(self) -> bool:
        """While any device is connected: nothing is queued for a broker that is away, since
        stale positions are worth nothing. The first step waits for all of them (or the grace
        period); a device that is down meanwhile misses its messages (counted as skipped)."""
        up, links = self.links.up, self.links
        if self.steps or not up or up == links.total:
            return up > 0
        if self.grace_end is None:
            self.grace_end = time.monotonic() + START_GRACE_S
        return time.monotonic() >= self.grace_end

    def wait_s(self) -> float:
        due = self.sim.next_due_ms()
        if not self.advancing() or due is None or not self.steps:
            return _MAX_WAIT_S
        return min(max((due - system_ms()) / 1000, 0.0), _MAX_WAIT_S)

    def turn(self) -> None:
        """Notices in, then whatever is due out, with the profiles of devices that have just
        (re)connected (the first step carries every profile)."""
        if not self.advancing():
            return
        now_ms = system_ms()
        while self.links.notices:
            topic, payload = self.links.notices.popleft()
            try:
                if self.sim.on_dispatch(payload, now_ms, topic):
                    log.info("a unit took the dispatch notice on %s", topic)
            except Exception:  # a bug must not stop the traffic: say so and go on
                log.exception("dispatch notice on %s failed", topic)
        fresh = self.links.take_fresh()
        due = self.sim.next_due_ms()
        if self.steps and not fresh and (due is None or due > now_ms):
            return
        batch = self.sim.step(now_ms)
        if self.steps and fresh:
            batch = self.sim.profile_messages(now_ms, only=fresh) + batch
        elif not self.steps and self.links.up < self.links.total:
            log.warning("starting with %d of %d devices connected", self.links.up, self.links.total)
        self.steps += 1
        for topic, payload, retain in batch:
            rc = self.links.publish(topic, payload, retain)
            if rc is None:  # its device is offline (or not ours): not sent, not queued
                self.skipped += 1
            elif rc == mqtt.MQTT_ERR_SUCCESS:
                self.sent += 1
            else:  # MQTT_ERR_QUEUE_SIZE (dropped), or NO_CONN (queued until reconnect)
                self.failed += 1
        if time.monotonic() >= self.next_log:
            log.info("%s", self.summary())
            self.next_log += 60

    def summary(self) -> str:
        return (
            f"published {self.sent} messages; {self.failed} not sent at once; "
            f"{self.skipped} skipped (device offline or not ours)"
        )


class ReportLine:
    """Citizen reports and hotline tickets as they come in (simulator/reports.py), each opened
    through services.reports.open_report: the incident, its tracking code and its audit entry
    are the ones a real report gets. The public endpoint's defences (proof of work, the
    per-address and hourly limits) are left out on purpose: they keep strangers on the network
    out, and the simulator is a part of the trusted deployment, not a stranger."""

    def __init__(
        self, ctx: context.AppContext, seed: int, start_ms: int, rate: float = 1.0
    ) -> None:
        self.ctx = ctx
        # times and contents from generators of their own: a new description does not move
        # when the reports come
        self._due = reports.due_times(random.Random(f"{seed}:report_times"), start_ms, rate)
        self._rng = random.Random(f"{seed}:reports")
        self.next_ms = next(self._due)
        self.opened = self.failed = 0

    def turn(self, now_ms: int) -> dict | None:
        """The report due by now_ms, opened: its {"code", "track_url"}; None if none was due or
        it could not be opened (logged, not raised: the traffic goes on)."""
        if now_ms < self.next_ms:
            return None
        while self.next_ms <= now_ms:  # after a stall one report, not a burst of missed ones
            self.next_ms = next(self._due)
        f = reports.make_report(self._rng, self.ctx.geo, self.ctx.rules)
        try:
            out = open_report(
                self.ctx, f.type, f.lat, f.lon, f.description, f.phone, [], source=f.source
            )
        except (redis.exceptions.RedisError, Refused) as e:
            self.failed += 1
            log.warning("%s (%s) not opened, skipped: %s", f.source.value, f.type.value, e)
            return None
        except Exception:  # a bug must not stop the traffic: say so and go on
            self.failed += 1
            log.exception("%s (%s) not opened, skipped", f.source.value, f.type.value)
            return None
        self.opened += 1
        log.info(
            "%s: %s at %.5f,%.5f, tracking code %s",
            f.source.value,
            f.type.value,
            f.lat,
            f.lon,
            out["code"],
        )
        return out


def _report_line(settings: Settings, seed: int, rate: float) -> ReportLine | None:
    """The report line, or None (logged) if its context cannot be built: the traffic runs
    without reports rather than not at all."""
    try:
        ctx = context.build(settings)
    except Exception as e:
        log.warning("no citizen reports or hotline tickets: %s", e)
        return None
    line = ReportLine(ctx, seed, system_ms(), rate)
    log.info(
        "citizen reports and hotline tickets: about %.1f an hour, the first in %d s",
        reports.MEAN_PER_HOUR * rate,
        (line.next_ms - system_ms()) // 1000,
    )
    return line


def run(
    settings: Settings,
    rate: float = 1.0,
    stop: threading.Event | None = None,
    seed: int | None = None,
    client_id: str | None = None,
) -> None:
    """Publish simulated traffic until `stop` is set (returns within ~2 s of it), and answer
    the centre's dispatch notices as the units they name.

    Each device connects as itself, with the secret provisioned at this start, under the client
    id `{client_id}-{device id}` (`client_id` defaults to "sim"). The simulation advances only
    while devices are connected; a device that is away misses its reports, and its retained
    profile is published again when it is back. Unreachable if Redis is not there in 5 s.
    """
    stop = stop or threading.Event()
    sim = Simulation(settings.topic_prefix, rate=rate, seed=seed)
    r = roster_client(settings.effective_redis_url, stop)
    if r is None:
        return
    try:
        identities = provision(r, sim.devices(), system_ms())
    finally:
        r.close()
    links = DeviceLinks(
        settings.effective_mqtt_url, settings.topic_prefix, identities, base=client_id or "sim"
    )
    log.info(
        "simulating %d units, %d vessels, %d sensors (rate %s, seed %s) as %d devices on %s:%s",
        len(sim.units.units),
        len(sim.vessels.vessels),
        len(sim.sensors.sensors),
        rate,
        sim.seed,
        links.total,
        links.host,
        links.port,
    )
    if not identities:
        log.warning("no device to publish as: every simulated id belongs to someone else")
    traffic = _Traffic(sim, links)
    line = _report_line(settings, sim.seed, rate)
    try:
        while not stop.is_set():
            links.service(traffic.wait_s())  # at most _MAX_WAIT_S: reports are on time too
            traffic.turn()
            if line is not None:
                line.turn(system_ms())
    finally:
        links.close()
        opened = f"; {line.opened} reports opened, {line.failed} not" if line else ""
        if line is not None:
            line.ctx.redis.close()
        log.info("simulator stopped: %s%s", traffic.summary(), opened)
