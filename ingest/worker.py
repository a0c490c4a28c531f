"""The ingest worker: MQTT in, Redis out, acknowledged only after the write succeeded.

paho's network thread only queues messages; this thread takes them in batches, turns each into
store operations, writes the batch in one pipeline, and then acknowledges every message of it
(`manual_ack`). A crash anywhere before the ack leaves the message with the broker, which
redelivers it; the store's identity check makes the replay harmless.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import redis

from config.settings import Settings
from domain.coverage_places import load_coverage
from domain.geo import load_geography
from domain.water_quality import check_standards
from ingest import day_close, escalation, patrol_logs, tasks, vessels
from ingest.connections import connect_mqtt, mqtt_client, redis_client
from ingest.context import HandlerContext
from ingest.coverage import coverage_positions, due_warnings, grid_resolution
from ingest.notices import NoticePublisher
from ingest.ops import AisFragment, DeadLetter, Op, PatrolLogSubmission, TaskUpdate
from ingest.router import Router, subscriptions
from ingest.units import load_owntracks_map
from store import coverage
from store.dispatch import reindex_units
from store.reader import sensor_profile
from store.writer import LiveStore

log = logging.getLogger("ecocommand.ingest")

BATCH_MAX = 500
HEARTBEAT_EVERY_S = 1.0
NOTICES_EVERY_S = 0.25
PROFILE_TTL_S = 30.0
REDIS_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.ReadOnlyError,
)


@dataclass(frozen=True, slots=True)
class Received:
    generation: int  # the connection it came on: acks never cross a reconnect
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_ms: int


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class IngestWorker:
    def __init__(self, settings: Settings, stop: threading.Event | None = None) -> None:
        self.settings = settings
        self.stop = stop or threading.Event()
        self.inbox: queue.SimpleQueue[Received] = queue.SimpleQueue()
        self.generation = 0
        self.connected = False
        self.router = Router(settings.topic_prefix, settings.max_payload_bytes)
        self.owntracks = load_owntracks_map(settings.owntracks_map)
        self.geography = load_geography()
        self.coverage = load_coverage()
        check_standards()
        self._profiles: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self.redis = redis_client(settings.effective_redis_url)
        self.recorder = coverage.CoverageRecorder(
            self.redis, self.coverage, grid_resolution(self.coverage)
        )
        self.store = LiveStore(
            self.redis, int(settings.history_hours * 3_600_000), settings.deadletter_maxlen
        )
        self.client = mqtt_client(
            settings.effective_mqtt_url, settings.mqtt_client_id, persistent=True, manual_ack=True
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.processed = 0
        self.last_message_ms = 0

    # paho's thread -------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.warning("broker refused the connection: %s", rc)
            return
        self.generation += 1
        self.connected = True
        client.subscribe(
            [
                (t, 1)
                for t in subscriptions(self.settings.topic_prefix, self.settings.mqtt_share_group)
            ]
        )
        log.info("connected to the broker (session present: %s)", _f.session_present)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connected = False
        log.warning("disconnected from the broker (%s); paho reconnects with back-off", rc)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        received = now_ms()
        self.last_message_ms = received  # for the pages' "no data for 30 s" banner
        self.inbox.put(
            Received(self.generation, msg.mid, msg.qos, msg.topic, msg.payload, received)
        )

    # sensor profiles, for judging readings ------------------------------------------------
    def _sensor_profile(self, sensor_id: str) -> dict[str, Any] | None:
        hit = self._profiles.get(sensor_id)
        if hit and time.monotonic() - hit[0] < PROFILE_TTL_S:
            return hit[1]
        profile = self._retry(lambda: sensor_profile(self.redis, sensor_id))
        self._profiles[sensor_id] = (time.monotonic(), profile)
        return profile

    def _remember_sensor(self, sensor_id: str, profile: dict[str, Any]) -> None:
        self._profiles[sensor_id] = (time.monotonic(), profile)

    # this thread ---------------------------------------------------------------------------
    def _retry(self, fn: Any) -> Any:
        """Run a Redis step until it succeeds: ingest waits for Redis rather than drop data."""
        delay = 0.2
        while True:
            try:
                return fn()
            except REDIS_ERRORS as e:
                if self.stop.is_set():
                    raise
                log.warning("Redis unavailable (%s); retrying in %.1f s", e, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _take_batch(self) -> list[Received]:
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

    def process(self, batch: list[Received]) -> None:
        ctx = HandlerContext(
            received_ms=batch[0].received_ms,
            owntracks_units=self.owntracks,
            sensor_profile=self._sensor_profile,
            remember_sensor=self._remember_sensor,
            zones_at=self.geography.zones_at,
        )
        ops: list[Op] = []
        fragments: list[tuple[AisFragment, str]] = []
        reports: list[tuple[TaskUpdate, str, bytes]] = []
        logs: list[PatrolLogSubmission] = []
        for m in batch:
            ctx.received_ms = m.received_ms
            for item in self.router.handle(m.topic, m.payload, ctx):
                if isinstance(item, AisFragment):
                    fragments.append((item, m.topic))
                elif isinstance(item, TaskUpdate):
                    reports.append((item, m.topic, m.payload))
                elif isinstance(item, PatrolLogSubmission):
                    logs.append(item)
                else:
                    ops.append(item)
        if fragments:
            groups = self._retry(
                lambda: self.store.add_fragments([f for f, _ in fragments], now_ms())
            )
            for (frag, topic), lines in zip(fragments, groups, strict=True):
                if lines:
                    ctx.topic, ctx.received_ms = topic, frag.received_ms
                    ops += [
                        o
                        for o in vessels.completed_group_ops(lines, frag.source, ctx)
                        if not isinstance(o, AisFragment)
                    ]
        self._retry(lambda: self.store.write(ops, now_ms(), received=len(batch)))
        moves = coverage_positions(ops)
        if moves:  # after the write: the units' profiles and statuses are in Redis
            self._retry(lambda: self.recorder.record(moves))
        if reports:  # after the batch: a unit's position before its "arrived" report
            self._retry(lambda: self.store.write(tasks.apply(self.redis, reports), now_ms()))
        if logs:  # likewise: a log is checked against a track that holds this batch
            self._retry(lambda: patrol_logs.apply(self.redis, self.coverage, logs))
        for m in batch:
            if m.qos > 0 and m.generation == self.generation:
                self.client.ack(m.mid, m.qos)
        self.processed += len(batch)

    def _sweep_fragments(self) -> None:
        """Dead-letter the parts of AIS messages whose other parts never arrived."""
        expired = self.store.sweep_fragments(now_ms())
        if expired:
            self.store.write(
                [
                    DeadLetter(
                        "ais_incomplete",
                        "",
                        "\n".join(lines).encode(),
                        f"group {group}: {len(lines)} part(s), the rest never came",
                    )
                    for group, lines in expired
                ],
                now_ms(),
            )

    def _heartbeat(self) -> None:
        self.store.heartbeat(
            {
                "ts_ms": now_ms(),
                "pid": os.getpid(),
                "broker_connected": int(self.connected),
                "processed": self.processed,
                "backlog": self.inbox.qsize(),
                "last_message_ms": self.last_message_ms,
            }
        )

    def _check_durability(self) -> None:
        try:
            aof = self.redis.config_get("append*")
        except redis.exceptions.ResponseError:
            return  # CONFIG is often disabled on managed Redis: nothing to check
        aof = {
            str(k, "ascii") if isinstance(k, bytes) else k: str(v, "ascii")
            if isinstance(v, bytes)
            else v
            for k, v in aof.items()
        }
        if aof.get("appendonly") != "yes" or aof.get("appendfsync") != "always":
            log.warning(
                "Redis runs without `appendonly yes` + `appendfsync always`: a Redis "
                "crash can lose up to a second of messages already acknowledged"
            )

    def run(self) -> None:
        self._check_durability()
        moved = reindex_units(self.redis)
        if moved:
            log.info("put %d units into the dispatch indexes", moved)
        notices = NoticePublisher(self.redis, self.client, self.settings.topic_prefix)
        connect_mqtt(self.client, self.settings.effective_mqtt_url)
        self.client.loop_start()
        last_beat = last_notices = 0.0
        try:
            while not self.stop.is_set():
                batch = self._take_batch()
                if batch:
                    self.process(batch)
                if self.connected and time.monotonic() - last_notices >= NOTICES_EVERY_S:
                    try:
                        notices.publish_due()
                        last_notices = time.monotonic()
                    except REDIS_ERRORS:
                        pass  # as for the heartbeat: the batch retry loop reports it
                if time.monotonic() - last_beat >= HEARTBEAT_EVERY_S:
                    try:
                        self._heartbeat()
                        self._sweep_fragments()
                        overdue = escalation.overdue_alerts(self.redis, now_ms())
                        overdue += due_warnings(self.redis, self.coverage, now_ms())
                        day = day_close.day_to_close(now_ms())
                        if day and day_close.close_day(self.redis, day, now_ms()):
                            log.info("closed the day %s: KPI rows stored", day)
                        if overdue:
                            self.store.write(overdue, now_ms())
                        last_beat = time.monotonic()
                    except REDIS_ERRORS:
                        pass  # the next batch's retry loop reports Redis being away
        finally:
            with contextlib.suppress(*REDIS_ERRORS):
                self.recorder.flush()  # the heatmap seconds summed since the last write
            self.client.disconnect()
            self.client.loop_stop()
