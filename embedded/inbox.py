"""The embedded broker's hand-off to the worker: each accepted message for the worker is written
to a Redis stream (stream:inbox) before the broker acknowledges it to its publisher.

So on the embedded default "acknowledged" means "in Redis", on disk with the embedded Valkey's
`appendfsync always`: a worker kill, a broker restart or a broker crash loses nothing the broker
acknowledged, and the worker reads the stream with a consumer group (ingest/inbox.py), so
several workers share it and a killed one's unacknowledged entries are read again. amqtt keeps
sessions in memory only and drops a QoS 1 message a subscriber has not acknowledged within 5 s,
so it could not carry that promise as a broker (docs/architecture.md, "The broker").

Writes are batched: publishes arriving while one pipeline is out wait for the next, so a busy
broker makes one round trip per batch, not per message. While Redis is away the batch is
retried and publishers wait for their PUBACK (their in-flight window is the back-pressure).
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis

from domain.clock import Clock, system_ms
from store import keys

log = logging.getLogger("ecocommand.broker")

BATCH_MAX = 1000


class Inbox:
    def __init__(self, r: aioredis.Redis, clock: Clock = system_ms) -> None:
        self.r = r
        self.clock = clock
        self.pending: list[tuple[dict[str, bytes | str | int], asyncio.Future[None]]] = []
        self.wake = asyncio.Event()
        self.written = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer())

    def put(self, topic: str, payload: bytes, identity: str) -> asyncio.Future[None]:
        """Queues a message (in arrival order: call before any await) and returns a future that
        is done once the message is in Redis."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = {"t": topic, "p": payload, "by": identity, "ms": self.clock()}
        self.pending.append((entry, done))
        self.wake.set()
        return done

    async def _writer(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.pending:
                batch, self.pending = self.pending[:BATCH_MAX], self.pending[BATCH_MAX:]
                await self._write(batch)

    async def _write(self, batch: list[tuple[dict, asyncio.Future[None]]]) -> None:
        delay = 0.1
        while True:
            try:
                pipe = self.r.pipeline(transaction=False)
                for entry, _ in batch:
                    pipe.xadd(keys.INGEST_INBOX, entry)
                await pipe.execute()
                break
            except (OSError, aioredis.RedisError) as e:
                # a write that timed out may have landed: written again, the worker's identity
                # check drops the copy
                log.warning("inbox: Redis unavailable (%s); retrying in %.1f s", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self.written += len(batch)
        for _, done in batch:
            if not done.done():
                done.set_result(None)

    async def drain(self, timeout: float) -> None:
        """At shutdown: wait until what was queued is written (publishers were not acked yet)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.pending and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
