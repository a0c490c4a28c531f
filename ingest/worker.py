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
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
import redis

from config.settings import Settings
from domain.audit import Chain
from domain.clock import Clock, system_ms
from domain.coverage_places import load_coverage
from domain.geo import load_geography
from domain.incidents import load_rules
from domain.vocab import local_day
from domain.water_quality import check_standards
from infra.connections import Session5, connect_mqtt, mqtt_client, redis_client
from ingest import day_close, escalation, patrol_logs, tasks, vessel_watch, vessels
from ingest.accounting import APPLIED, DEADLETTER, Ledger
from ingest.archive import Archiver
from ingest.audit_signer import HeadSigner
from ingest.context import HandlerContext
from ingest.coverage import coverage_positions, due_warnings, grid_resolution
from ingest.inbox import Entry, InboxReader, ensure_group, reader_client
from ingest.notices import NoticePublisher
from ingest.router import Router, subscriptions
from ingest.units import load_owntracks_map
from store import audit as audit_log
from store import coverage, layout, personal
from store.dispatch import reindex_units
from store.ops import (
    AisFragment,
    DeadLetter,
    FieldUpdate,
    Ignored,
    Observation,
    Op,
    PatrolLogSubmission,
    TaskUpdate,
)
from store.reader import sensor_profile
from store.writer import LiveStore, PendingWrite

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


class Received(NamedTuple):  # a tuple: made ~0.6 us faster than a frozen dataclass, per message
    generation: int  # the connection it came on: acks never cross a reconnect
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_ms: int
    entry: bytes | None = None  # its stream:inbox id, when read from the embedded broker's inbox


@dataclass(slots=True)
class _Handled:
    """A batch's handler results, by when they can be applied: the operations with the batch's
    write, AIS parts once their group is complete, task reports and patrol logs after the
    write. Each keeps the batch position of its message, for the ledger of what each message
    came to."""

    batch: list[Received]
    ctx: HandlerContext
    ledger: Ledger
    ops: list[Op] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)  # per op, its message
    fragments: list[tuple[AisFragment, str, int]] = field(default_factory=list)
    reports: list[tuple[TaskUpdate, str, bytes]] = field(default_factory=list)
    report_owners: list[int] = field(default_factory=list)
    logs: list[PatrolLogSubmission] = field(default_factory=list)
    log_owners: list[int] = field(default_factory=list)

    def add(self, item: Op | AisFragment | Ignored, m: Received, i: int) -> None:
        if isinstance(item, Ignored):
            self.ledger.ignore(i, item.reason)
        elif isinstance(item, AisFragment):
            self.fragments.append((item, m.topic, i))
        elif isinstance(item, TaskUpdate):
            self.reports.append((item, m.topic, m.payload))
            self.report_owners.append(i)
        elif isinstance(item, PatrolLogSubmission):
            self.logs.append(item)
            self.log_owners.append(i)
        else:
            self.ops.append(item)
            self.owners.append(i)

    def noted(self, owners: list[int], verdicts: list[str]) -> None:
        for i, verdict in zip(owners, verdicts, strict=True):
            self.ledger.note(i, verdict)


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A batch whose writes are sent and not yet read: Redis runs them while the worker handles
    the next batch."""

    handled: _Handled
    write: PendingWrite


def written_fields(ops: list[Op], verdicts: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per entity whose live state the batch changed ("unit:U-1"), the field groups its applied
    writes put in its hash, in order, each led by the clock its script orders it by: what the
    pictures bring their copies up to date with (store/live_changes.py)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for op, verdict in zip(ops, verdicts, strict=False):
        if verdict != APPLIED:
            continue
        if isinstance(op, Observation):
            group = {"ts": op.ts, "seq": op.seq} | op.state
        elif isinstance(op, FieldUpdate):
            group = {op.order_field: op.ts} | op.fields
        else:
            continue
        if None in group.values():  # what the writer leaves out (store/writer._pairs)
            group = {k: v for k, v in group.items() if v is not None}
        out.setdefault(f"{op.kind}:{op.entity_id}", []).append(group)
    return out


class IngestWorker:
    def __init__(
        self, settings: Settings, stop: threading.Event | None = None, clock: Clock = system_ms
    ) -> None:
        self.clock = clock  # the server's clock: receive times, escalation, the day close
        self.settings = settings
        self.stop = stop or threading.Event()
        self.inbox: queue.SimpleQueue[Received] = queue.SimpleQueue()
        self.generation = 0
        self.connected = False
        self.router = Router(
            settings.topic_prefix, settings.max_payload_bytes, settings.ingest_max_future_s
        )
        self.owntracks = load_owntracks_map(settings.owntracks_map)
        self.geography = load_geography()
        self.coverage = load_coverage()
        self.rules = load_rules()  # config/dispatch.json: deadlines for escalation
        check_standards()
        self._profiles: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self.redis = redis_client(settings.effective_redis_url)
        layout.ensure(self.redis)  # data of an older version is renamed before we write
        self.recorder = coverage.CoverageRecorder(
            self.redis, self.coverage, grid_resolution(self.coverage)
        )
        self.patience = tasks.Patience()  # for a unit's reports another worker may be holding
        self.store = LiveStore(
            self.redis, int(settings.history_hours * 3_600_000), settings.deadletter_maxlen
        )
        # vessels that go dark, loiter or fish in the moratorium (config/vessel_rules.json)
        self.vessel_watch = vessel_watch.VesselWatch(self.redis, self.geography, settings, clock)
        # MQTT 5 for a member of a shared subscription (MQTT_SHARE_GROUP) on an external broker:
        # its slot's session then expires (MQTT_SESSION_EXPIRY_S) when the slot is given up. A
        # lone worker keeps a 3.1.1 persistent session, which resumes the same way: paho reads
        # each MQTT 5 message ~7 us slower (a Properties object built per message; docs/
        # deploy.md, 11). The embedded broker speaks 3.1.1 only and carries just the notices.
        shared = settings.ingest_source == "mqtt" and settings.mqtt_share_group is not None
        self.client = mqtt_client(
            settings.effective_mqtt_url,
            settings.mqtt_client_id,
            persistent=True,
            manual_ack=True,
            session5=Session5(settings.mqtt_session_expiry_s) if shared else None,
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.processed = 0
        self.last_message_ms = 0
        self._last_beat = self._last_notices = 0.0
        self.signer = HeadSigner(
            self.redis,
            settings.data_dir,
            every_s=settings.audit_sign_every_s,
            keep_days={Chain(c): n for c, n in settings.audit_keep_days.items()},
            clock=clock,
            key_file=settings.audit_signing_key,
        )
        # the hour before, to the track archive (Parquet), on a thread of its own
        self.archiver = Archiver(
            self.redis, settings.data_dir, settings.history_hours, settings.archive_days, clock
        )
        # The inbox holds the embedded broker's messages (INGEST_SOURCE=inbox) and, whatever the
        # source, what officers' phones send through the web app (store/field.py).
        self.reader = InboxReader(
            reader_client(settings.effective_redis_url), settings.mqtt_client_id, self._from_inbox
        )

    # paho's thread -------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.warning("broker refused the connection: %s", rc)
            return
        self.generation += 1
        self.connected = True
        if self.settings.ingest_source == "inbox":  # field messages come from the inbox; MQTT
            # carries the notices
            log.info("connected to the broker; reading field messages from the inbox")
            return
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
        received = self.clock()
        self.last_message_ms = received  # for the pages' "no data for 30 s" banner
        self.inbox.put(
            Received(self.generation, msg.mid, msg.qos, msg.topic, msg.payload, received)
        )

    # the inbox reader's thread ---------------------------------------------------------------
    def _from_inbox(self, entries: list[Entry]) -> None:
        for entry_id, topic, payload, received in entries:
            self.last_message_ms = received
            self.inbox.put(Received(0, 0, 1, topic, payload, received, entry_id))
        while self.inbox.qsize() > 4 * BATCH_MAX and not self.stop.is_set():
            time.sleep(0.02)  # the worker is behind: read no further ahead

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

    def _take_batch(self, wait: bool = True) -> list[Received]:
        """Up to BATCH_MAX messages; the first waited for (a while) only if `wait`."""
        try:
            batch = [self.inbox.get(timeout=0.2) if wait else self.inbox.get_nowait()]
        except queue.Empty:
            return []
        while len(batch) < BATCH_MAX:
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def process(self, batch: list[Received]) -> None:
        """Handle and write one batch, then acknowledge it."""
        self._finish(self._start(self._handle(batch)))

    def _handle(self, batch: list[Received]) -> _Handled:
        ctx = HandlerContext(
            received_ms=batch[0].received_ms,
            owntracks_units=self.owntracks,
            sensor_profile=self._sensor_profile,
            remember_sensor=self._remember_sensor,
            zones_at=self.geography.zones_at,
        )
        handled = _Handled(batch, ctx, Ledger(len(batch)))
        for i, m in enumerate(batch):
            ctx.received_ms = m.received_ms
            for item in self.router.handle(m.topic, m.payload, ctx):
                handled.add(item, m, i)
        # Its AIS parts completed with those kept in Redis: a round trip made here, before the
        # batch in flight is acknowledged, while paho's thread has little to read (after the
        # acks the broker sends the next messages, and paho's thread and this one would queue
        # for the interpreter lock at every wait).
        if handled.fragments:
            self._completed_groups(handled, ctx)
        return handled

    def _start(self, handled: _Handled) -> _InFlight:
        """The batch's writes sent."""
        return _InFlight(handled, self._retry(lambda: self.store.send(handled.ops, self.clock())))

    def _finish(self, flight: _InFlight) -> None:
        """What the batch's writes came to, the steps that follow them, its count, its acks."""
        handled = flight.handled
        out = self._retry(flight.write.outcome)
        handled.noted(handled.owners, out.verdicts)
        self._after_write(handled)
        # counted after every write and before the acks (LiveStore.count_messages says why),
        # with the vessel watch's marks of what was written
        changed = written_fields(handled.ops, out.verdicts)
        self._retry(
            lambda: self.store.count_messages(
                *handled.ledger.tally(),
                changed,
                also=lambda pipe: self.vessel_watch.note(handled.ops, out.verdicts, pipe),
            )
        )
        self._ack(handled.batch)
        self.processed += len(handled.batch)

    def _completed_groups(self, handled: _Handled, ctx: HandlerContext) -> None:
        """Add the operations of the multi-part AIS messages these parts complete, with the
        parts kept in Redis before; a group still missing parts stays there for a later batch
        (its part is written: the message counts as applied)."""
        fragments = handled.fragments
        groups = self._retry(
            lambda: self.store.add_fragments([f for f, _, _ in fragments], self.clock())
        )
        for (frag, topic, i), lines in zip(fragments, groups, strict=True):
            if not lines:
                handled.ledger.note(i, APPLIED)
                continue
            ctx.topic, ctx.received_ms = topic, frag.received_ms
            done: list[Op] = []
            for o in vessels.completed_group_ops(lines, frag.source, ctx):
                if isinstance(o, Ignored):
                    handled.ledger.ignore(i, o.reason)
                elif not isinstance(o, AisFragment):
                    done.append(o)
            raw = "\n".join(lines).encode()
            for op in self.router.within_clock(done, topic, raw, frag.received_ms):
                handled.ops.append(op)
                handled.owners.append(i)

    def _after_write(self, handled: _Handled) -> None:
        moves = coverage_positions(handled.ops)
        if moves:  # after the write: the units' profiles and statuses are in Redis
            self._retry(lambda: self.recorder.record(moves))
        if handled.reports:  # after the batch: a unit's position before its "arrived" report
            results = self._retry(lambda: self._apply_reports(handled.reports))
            verdicts = [DEADLETTER if isinstance(x, DeadLetter) else x for x in results]
            handled.noted(handled.report_owners, verdicts)
        if handled.logs:  # likewise: a log is checked against a track that holds this batch
            verdicts = self._retry(
                lambda: patrol_logs.apply(self.redis, self.coverage, handled.logs)
            )
            handled.noted(handled.log_owners, verdicts)

    def _apply_reports(
        self, reports: list[tuple[TaskUpdate, str, bytes]]
    ) -> list[str | DeadLetter]:
        results = tasks.apply(self.redis, reports, self.patience)
        dead = [x for x in results if isinstance(x, DeadLetter)]
        if dead:
            self.store.write(dead, self.clock())
        return results

    def _ack(self, batch: list[Received]) -> None:
        # A message from an earlier connection cannot be acknowledged on this one: the broker
        # redelivers it, and the store's identity check makes the replay harmless.
        entries = [m.entry for m in batch if m.entry is not None]
        if entries:
            self.reader.done_with(entries)
        self.client.ack_all(
            [
                m.mid
                for m in batch
                if m.entry is None and m.qos > 0 and m.generation == self.generation
            ]
        )

    def _sweep_fragments(self) -> None:
        """Dead-letter the parts of AIS messages whose other parts never arrived."""
        expired = self.store.sweep_fragments(self.clock())
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
                self.clock(),
            )

    def _erase_old_phones(self) -> None:
        """Personal data past its keep time (PERSONAL_PHONE_KEEP_DAYS), once per closed day;
        the erasure itself is an act of the record."""
        now, keep = self.clock(), self.settings.personal_phone_keep_days
        n = personal.erase_old_phones(self.redis, now, keep)
        if n:
            change = {"erased": n, "keep_days": keep}
            audit_log.append(
                self.redis, "system:retention", "personal.phones_erased", "incidents", change, now
            )
            log.info("erased %d callers' phone numbers past %d days", n, keep)

    def _heartbeat(self) -> None:
        now = self.clock()
        self.store.heartbeat(
            {
                "ts_ms": now,
                "pid": os.getpid(),
                "broker_connected": int(self.connected),
                "processed": self.processed,
                "backlog": self.inbox.qsize(),
                "last_message_ms": self.last_message_ms,
            },
            day=local_day(now),
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

    def _chores(self, notices: NoticePublisher) -> None:
        """The notices due, and once a second the heartbeat and the timed work."""
        if self.connected and time.monotonic() - self._last_notices >= NOTICES_EVERY_S:
            try:
                notices.publish_due()
                self._last_notices = time.monotonic()
            except REDIS_ERRORS:
                pass  # as for the heartbeat: the batch retry loop reports it
        if time.monotonic() - self._last_beat < HEARTBEAT_EVERY_S:
            return
        try:
            self._heartbeat()
            self._sweep_fragments()
            overdue = escalation.overdue_alerts(self.redis, self.clock(), self.rules)
            overdue += due_warnings(self.redis, self.coverage, self.clock())
            overdue += self.vessel_watch.tick(self.clock())
            day = day_close.day_to_close(self.clock())
            if day and day_close.close_day(self.redis, day, self.clock()):
                log.info("closed the day %s: KPI rows stored", day)
                self._erase_old_phones()
            self.signer.tick()
            self.archiver.tick()
            if overdue:
                self.store.write(overdue, self.clock())
            self._last_beat = time.monotonic()
        except REDIS_ERRORS:
            pass  # the next batch's retry loop reports Redis being away

    def run(self) -> None:
        self._check_durability()
        moved = reindex_units(self.redis)
        if moved:
            log.info("put %d units into the dispatch indexes", moved)
        notices = NoticePublisher(self.redis, self.client, self.settings.topic_prefix)
        connect_mqtt(self.client, self.settings.effective_mqtt_url)
        self.client.loop_start()
        ensure_group(self.redis)
        reading = threading.Thread(
            target=self.reader.run,
            args=(self.stop, lambda e: log.warning("inbox: Redis unavailable (%s)", e)),
            name="inbox-reader",
            daemon=True,
        )
        reading.start()
        flight: _InFlight | None = None
        try:
            while not self.stop.is_set():
                # Redis runs the batch in flight while the next one is handled. With no next
                # one waiting, the one in flight is finished at once: its acks, counts and
                # live changes are not held back for a batch that may not come.
                batch = self._take_batch(wait=flight is None)
                handled = self._handle(batch) if batch else None
                if flight is not None:
                    self._finish(flight)
                    flight = None
                self._chores(notices)  # with nothing in flight, as between two batches before
                if handled is not None:
                    flight = self._start(handled)
        finally:
            if flight is not None:
                with contextlib.suppress(*REDIS_ERRORS):
                    self._finish(flight)
            with contextlib.suppress(*REDIS_ERRORS):
                self.recorder.flush()  # the heatmap seconds summed since the last write
            self.client.disconnect()
            self.client.loop_stop()
            reading.join(timeout=2)  # it stops after its current read (500 ms at most)
            with contextlib.suppress(*REDIS_ERRORS):
                self.reader.flush()
