"""Writes the ingest worker's operations to Redis, a batch per pipeline."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from store import keys, slots
from store.ops import (
    AisFragment,
    DeadLetter,
    FieldUpdate,
    Observation,
    Op,
    Outcome,
    RaiseAlert,
)
from store.scripts import ADD_FRAGMENT, APPLY_BATCH, PLACE, SWEEP_FRAGMENTS

RAW_KEEP_BYTES = 1024  # dead-letter entries keep the start of the payload, enough to diagnose
SEEN_KEEP = 2000  # identities remembered per entity: ~3 h of 5 s reports
FRAGMENT_WAIT_MS = 120_000  # parts of one AIS message come within seconds; 2 min is generous
FRAGMENT_TTL_S = 900  # safety net if no worker sweeps
# batches (each up to a few hundred entities' written fields): a minute or more at full rate, for
# pictures catching up; one further behind reads everything again
LIVE_CHANGES_KEEP = 1_000
# the script's answers: 1 written as latest, 0 already had it (a redelivery), 2 older than held
_VERDICT = {1: "applied", 0: "duplicate", 2: "stale"}
# operations per script call: a call blocks Redis while it runs (~15-30 us an operation), so a
# full batch is cut in a few calls that other clients can pass between
CALL_MAX = 200
_KIND = {"unit": 1, "vessel": 2, "sensor": 3}
# the shared keys the batch scripts place entities in, in their order (store/scripts._PLACE_FN)
_SHARED_KEYS = [
    keys.VERSION,
    keys.OVERLAYS_VERSION,
    keys.ALERTS_OPEN,
    keys.ALERTS,
    *(keys.geo(k) for k in _KIND),
    *(keys.index(k) for k in _KIND),
    keys.GEO_FACETS,
    keys.GEO_AT,
]
_PLACE_WIDTH = 8  # values per entity in APPLY_BATCH's answer and PLACE's arguments


def _pairs(d: Mapping[str, str | int | float | None]) -> list[str]:
    """field, value, field, value ... as the strings Redis is to hold: what redis-py would have
    sent for each (str() of a number is its repr, as redis-py's; a str enum's text is its
    value); None is left out, and anything else refused, as redis-py refuses it."""
    out: list[str] = []
    for k, v in d.items():
        t = type(v)
        if t is float or t is int:
            out += (k, str(v))
        elif isinstance(v, str):
            out += (k, v)
        elif v is not None:
            raise TypeError(f"{k}: a value Redis cannot hold as given ({v!r})")
    return out


class LiveStore:
    def __init__(self, client: redis.Redis, history_ms: int, deadletter_maxlen: int) -> None:
        self.r = client
        self.history_ms = history_ms
        self.deadletter_maxlen = deadletter_maxlen
        self._batch = client.register_script(APPLY_BATCH)
        self._fragment = client.register_script(ADD_FRAGMENT)
        self._sweep = client.register_script(SWEEP_FRAGMENTS)
        self._place_script = client.register_script(PLACE)
        self.cluster = slots.is_cluster(client)

    def write(self, ops: list[Op], now_ms: int) -> Outcome:
        """Apply every op and return what each came to (`send`, then its outcome)."""
        return self.send(ops, now_ms).outcome()

    def send(self, ops: list[Op], now_ms: int) -> PendingWrite:
        """Send the writes of every op, reading no answer yet: Redis runs them while the caller
        goes on (the worker handles its next batch). The writes are in script calls of at most
        `CALL_MAX` operations (store/scripts.APPLY_BATCH), the dead letters beside. On one node
        the calls go in one pipeline and each places what it applied in the shared indexes
        itself. On a cluster a call holds one shard's operations and goes to the shard's node (a
        pipeline per node); once they have answered, one step in the shared slot places what
        they applied (store/scripts.PLACE). Raises on a Redis error, as `PendingWrite.outcome`
        does: then nothing may be acked."""
        return PendingWrite(self, ops, now_ms)

    def _send(self, ops: list[Op], now_ms: int) -> _Sending:
        minid = max(0, now_ms - self.history_ms)  # a stream id is never negative
        pipes = slots.NodePipelines(self.r)
        calls = []  # (the operations' places in `ops`, the pipeline, the call's place in it)
        for tag, chunk in self._calls(ops):
            pipe = pipes.of(tag)
            calls.append(([i for i, _op in chunk], pipe, len(pipe)))
            self._queue_writes(pipe, tag, [op for _i, op in chunk], minid)
        deadletter: dict[str, int] = {}
        shared = pipes.of(keys.SHARED_TAG)
        for op in ops:
            if isinstance(op, DeadLetter):
                self._queue_deadletter(shared, op)
                deadletter[op.reason] = deadletter.get(op.reason, 0) + 1
        for reason, n in deadletter.items():
            shared.hincrby(keys.DEADLETTER_COUNTS, reason, n)
        return _Sending(pipes.send(), calls, deadletter)

    def _outcome(self, ops: list[Op], sending: _Sending) -> Outcome:
        """The answers of what `_send` sent; on a cluster, their second step. The dead letters
        are counted here per reason (each entry); what each message came to is counted by
        `count_messages`, once the worker knows all its operations' verdicts."""
        results = sending.sent.answers()
        verdicts: list[int | None] = [None] * len(ops)
        places: list[Any] = []
        for positions, pipe, at in sending.calls:
            answered, to_place = results[id(pipe)][at]
            places += to_place
            for i, v in zip(positions, answered, strict=True):
                verdicts[i] = int(v)
        self._place(places)
        out = Outcome(deadletter=sending.deadletter)
        for op, v in zip(ops, verdicts, strict=True):
            if v is None:
                out.verdicts.append("deadletter")
                continue
            out.alerts += isinstance(op, RaiseAlert) and v == 1
            out.verdicts.append(_VERDICT[v])
        return out

    def _calls(self, ops: list[Op]) -> list[tuple[str, list[tuple[int, Op]]]]:
        """The script calls for these operations (dead letters aside), each with its group's
        tag: on one node every operation is in the shared group; on a cluster an entity's in its
        shard's, an alert's in the shared one (its keys are there)."""
        groups: dict[str, list[tuple[int, Op]]] = {}
        for i, op in enumerate(ops):
            if isinstance(op, DeadLetter):
                continue
            tag = (
                keys.shard(op.entity_id)
                if self.cluster and not isinstance(op, RaiseAlert)
                else keys.SHARED_TAG
            )
            groups.setdefault(tag, []).append((i, op))
        return [
            (tag, chunk[j : j + CALL_MAX])
            for tag, chunk in groups.items()
            for j in range(0, len(chunk), CALL_MAX)
        ]

    def _place(self, places: list[Any]) -> None:
        """The cluster's second step: one PLACE call per `CALL_MAX` entities, in one pipeline."""
        if not places:
            return
        pipe = slots.pipeline(self.r, keys.SHARED_TAG)
        step = CALL_MAX * _PLACE_WIDTH
        for j in range(0, len(places), step):
            self._place_script(keys=_SHARED_KEYS, args=places[j : j + step], client=pipe)
        pipe.execute()

    def count_messages(
        self,
        outcomes: dict[str, int],
        ignored: dict[str, int],
        changed: Mapping[str, list[dict[str, Any]] | None] | None = None,
        also: Callable[[redis.client.Pipeline], None] | None = None,
    ) -> None:
        """Count a batch's messages by what each came to, in one transaction, so the identity
        received = applied + duplicate + stale + deadletter + ignored holds at every instant.
        Called after the batch's writes and before its acks: a worker dying between the two
        leaves the messages uncounted, and their redelivery counts them (as duplicates).
        `changed` (per entity, "unit:U-1", the field groups written to its hash, or None: read
        it back; store/live_changes.py) goes to the live-changes stream in the same step; a batch
        lost between its writes and this is caught by the pictures' periodic full rebuild.
        `also` queues the batch's other closing writes in the same step (the vessel watch's
        marks): a round trip fewer a batch."""
        pipe = self.r.pipeline(transaction=True)
        if also is not None:
            also(pipe)
        if changed:
            pipe.xadd(
                keys.LIVE_CHANGES,
                {"v": orjson.dumps(changed)},
                maxlen=LIVE_CHANGES_KEEP,
                approximate=True,
            )
        pipe.hincrby(keys.MESSAGE_OUTCOMES, "received", sum(outcomes.values()))
        for outcome, n in outcomes.items():
            if n:
                pipe.hincrby(keys.MESSAGE_OUTCOMES, outcome, n)
        for reason, n in ignored.items():
            pipe.hincrby(keys.IGNORED_COUNTS, reason, n)
        pipe.execute()

    def _queue_writes(
        self, pipe: redis.client.Pipeline, tag: str, ops: list[Op], minid: int
    ) -> None:
        """One APPLY_BATCH call for these operations of one group (none of them a dead
        letter); the shared group's call places what it applies itself. The operations go as
        one JSON argument: redis-py packs each argument in Python, ~0.3 us apiece, and an
        operation had ~35 of them (measured on the benchmark's mix: 12.5 us an operation to
        build and pack them, 5.6 as JSON)."""
        inline = tag == keys.SHARED_TAG
        ks = [keys.ingest_stats(tag), keys.events(tag), *(_SHARED_KEYS if inline else ())]
        encoded: list[list[Any]] = []
        for op in ops:
            if isinstance(op, Observation):
                ks += keys.live_keys(op.kind, op.entity_id)
                encoded.append(
                    [
                        "o",
                        _KIND[op.kind],
                        op.entity_id,
                        str(op.ts),
                        str(op.seq),
                        op.identity,
                        "" if op.lon is None else str(op.lon),
                        "" if op.lat is None else str(op.lat),
                        _pairs(op.state),
                        _pairs(op.track),
                    ]
                )
            elif isinstance(op, FieldUpdate):
                ks.append(keys.state(op.kind, op.entity_id))
                encoded.append(
                    [
                        "f",
                        _KIND[op.kind],
                        op.entity_id,
                        op.order_field,
                        str(op.ts),
                        op.event_type,
                        "" if op.lon is None else str(op.lon),
                        "" if op.lat is None else str(op.lat),
                        "-" if op.geo_facets is None else " ".join(op.geo_facets),
                        _pairs(op.fields),
                    ]
                )
            elif isinstance(op, RaiseAlert):
                ks.append(keys.alert(op.alert_id))
                encoded.append(["a", op.alert_id, str(op.ts), _pairs(op.fields)])
            else:  # pragma: no cover - a new op type must be wired here
                raise TypeError(f"unknown op {op!r}")
        self._batch(
            keys=ks, args=[minid, SEEN_KEEP, int(inline), orjson.dumps(encoded)], client=pipe
        )

    def _queue_deadletter(self, pipe: redis.client.Pipeline, op: DeadLetter) -> None:
        pipe.xadd(
            keys.DEADLETTER,
            {
                "reason": op.reason,
                "topic": op.topic[:256],
                "detail": op.detail[:500],
                "size": len(op.raw),
                "raw": op.raw[:RAW_KEEP_BYTES],
            },
            maxlen=self.deadletter_maxlen,
            approximate=True,
        )

    def add_fragments(self, frags: list[AisFragment], now_ms: int) -> list[list[str]]:
        """Store parts of multi-part AIS messages; returns, per part, its group once complete."""
        pipe = slots.pipeline(self.r, keys.SHARED_TAG)
        for f in frags:
            self._fragment(
                keys=[keys.ais_fragments(f.group_key), keys.AIS_FRAGMENTS_PENDING],
                args=[
                    f.index,
                    f.total,
                    f.line,
                    now_ms + FRAGMENT_WAIT_MS,
                    f.group_key,
                    FRAGMENT_TTL_S,
                ],
                client=pipe,
            )
        return [[x.decode() if isinstance(x, bytes) else x for x in res] for res in pipe.execute()]

    def sweep_fragments(self, now_ms: int, limit: int = 500) -> list[tuple[str, list[str]]]:
        """Remove and return the groups whose missing parts did not come in time."""
        flat = self._sweep(
            keys=[keys.AIS_FRAGMENTS_PENDING], args=[now_ms, limit, *keys.ais_fragments_affixes()]
        )
        out, i = [], 0
        while i < len(flat):
            group, n = flat[i].decode(), int(flat[i + 1])
            out.append((group, [x.decode() for x in flat[i + 2 : i + 2 + n]]))
            i += 2 + n
        return out

    def heartbeat(self, fields: dict[str, str | int | float], day: str | None = None) -> None:
        """The worker's heartbeat; with `day` (local, YYYYMMDD), that day is marked as one the
        system ran (keys.RAN_DAYS, its first beat kept)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(keys.HEARTBEAT, mapping=fields)
        if day is not None:
            pipe.hsetnx(keys.RAN_DAYS, day, fields.get("ts_ms", 0))
        pipe.execute()


@dataclass(slots=True)
class _Sending:
    sent: slots.Sent
    calls: list[tuple[list[int], redis.client.Pipeline, int]]
    deadletter: dict[str, int]


class PendingWrite:
    """A batch's writes, sent; `outcome()` reads what they came to. If reading fails (Redis
    gone), the next `outcome()` sends them again, as the worker's retry of a whole write always
    did: an operation that ran the first time answers as a duplicate (its dead letters are kept
    a second time)."""

    def __init__(self, store: LiveStore, ops: list[Op], now_ms: int) -> None:
        self.store, self.ops, self.now_ms = store, ops, now_ms
        self._sending: _Sending | None = store._send(ops, now_ms)

    def outcome(self) -> Outcome:
        sending, self._sending = self._sending, None
        if sending is None:
            sending = self.store._send(self.ops, self.now_ms)
        return self.store._outcome(self.ops, sending)
