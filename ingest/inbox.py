"""The worker's side of the embedded broker's hand-off (embedded/inbox.py): read stream:inbox
with a consumer group, acknowledge (XACK, then XDEL) after the batch's write.

A worker killed mid-batch leaves its entries pending under its consumer name (MQTT_CLIENT_ID);
it reads them first when it starts again. Entries a worker left pending for longer than
CLAIM_IDLE_MS (it never came back) are claimed by another worker of the group. Either way a
message is applied again at most, and the store's identity check keeps it once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import redis

from infra.connections import redis_client
from store import keys
from store.codec import text

log = logging.getLogger("ecocommand.ingest")

READ_COUNT = 500
READ_BLOCK_MS = 500
CLAIM_IDLE_MS = 60_000
CLAIM_EVERY_S = 10.0

Entry = tuple[bytes, str, bytes, int]  # stream id, topic, payload, broker's receive time (ms)


def ensure_group(r: redis.Redis) -> None:
    try:
        r.xgroup_create(keys.INGEST_INBOX, keys.INGEST_INBOX_GROUP, id="0", mkstream=True)
    except redis.exceptions.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


def _entries(reply: list) -> list[Entry]:
    out = []
    for entry_id, fields in reply:
        if not fields:  # deleted while pending: nothing left to apply
            continue
        out.append(
            (
                entry_id,
                text(fields.get(b"t")),
                fields.get(b"p") or b"",
                int(fields.get(b"ms") or 0),
            )
        )
    return out


def reader_client(url: str) -> redis.Redis:
    """A client of its own (its reads block), that never retries a command by itself
    (infra/connections.no_retry): a read retried after a lost reply would leave the first
    read's entries pending unseen (see InboxReader.run). On a cluster, one to the cluster."""
    return redis_client(url)


class InboxReader:
    """Reads entries for this consumer; `deliver` gets each batch (it may block while the
    worker is behind, which is the back-pressure). The worker hands back the ids it is done
    with (`done_with`); they are acknowledged in the same round trip as the next read, so the
    worker's loop never waits for an acknowledgement (an entry acknowledged late is at worst
    read again after a crash, and the store drops the copy)."""

    def __init__(self, r: redis.Redis, consumer: str, deliver: Callable[[list[Entry]], None]):
        self.r = r
        self.consumer = consumer
        self.deliver = deliver
        # own pending entries (from before a restart) are read first, page after page
        self.backlog_from: str | None = "0"
        self.last_claim = 0.0
        self.done: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    def done_with(self, entry_ids: list[bytes]) -> None:
        """Called by the worker after the entries' write (any thread)."""
        for entry_id in entry_ids:
            self.done.put(entry_id)

    def _take_done(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self.done.get_nowait())
            except queue.Empty:
                return out

    def flush(self) -> None:
        """At the worker's stop: acknowledge what it is done with."""
        acknowledge(self.r, self._take_done())

    def read_once(self) -> int:
        """One read; the number of entries delivered."""
        got = self._read(">" if self.backlog_from is None else self.backlog_from)
        if time.monotonic() - self.last_claim >= CLAIM_EVERY_S:
            self.last_claim = time.monotonic()
            got += self._claim()
        if got:
            self.deliver(got)
        return len(got)

    def _read(self, start: str) -> list[Entry]:
        done = self._take_done()
        pipe = self.r.pipeline(transaction=False)
        if done:
            pipe.xack(keys.INGEST_INBOX, keys.INGEST_INBOX_GROUP, *done)
            pipe.xdel(keys.INGEST_INBOX, *done)
        pipe.xreadgroup(
            keys.INGEST_INBOX_GROUP,
            self.consumer,
            {keys.INGEST_INBOX: start},
            count=READ_COUNT,
            block=None if start == "0" else READ_BLOCK_MS,
        )
        try:
            reply = pipe.execute()[-1]
        except redis.exceptions.RedisError:
            self.done_with(done)  # acknowledged with a later read (XACK twice is harmless)
            raise
        raw = reply[0][1] if reply else []
        if start != ">":
            self.backlog_from = text(raw[-1][0]) if raw else None
        return _entries(raw)

    def _claim(self) -> list[Entry]:
        _next, claimed, *_ = self.r.xautoclaim(
            keys.INGEST_INBOX,
            keys.INGEST_INBOX_GROUP,
            self.consumer,
            min_idle_time=CLAIM_IDLE_MS,
            count=READ_COUNT,
        )
        return _entries(claimed)

    def run(self, stop: threading.Event, on_error: Callable[[Exception], None]) -> None:
        while not stop.is_set():
            try:
                self.read_once()
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
                # Redis may have run the read and lost only its reply: those entries are now
                # pending under this consumer, and a read of new entries (">") never returns
                # them. Read this consumer's pending ones again (a copy is dropped by the store).
                self.backlog_from = "0"
                on_error(e)
                stop.wait(1.0)
            except redis.exceptions.ResponseError as e:
                if "NOGROUP" not in str(e):
                    raise
                # the stream was deleted (a flushed or replaced Redis): start a new group
                log.warning("inbox: no consumer group any more; creating it again")
                ensure_group(self.r)
                self.backlog_from = "0"


def acknowledge(r: redis.Redis, entry_ids: list[bytes]) -> None:
    """Done with these entries: acknowledged to the group and removed from the stream."""
    if entry_ids:
        pipe = r.pipeline(transaction=False)
        pipe.xack(keys.INGEST_INBOX, keys.INGEST_INBOX_GROUP, *entry_ids)
        pipe.xdel(keys.INGEST_INBOX, *entry_ids)
        pipe.execute()
