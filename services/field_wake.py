"""Wakes the officers' task streams (dashboard/field_api.py) the moment their unit is assigned
or written to, instead of at their next once-a-second look: one thread per web process blocks
on Redis (the dispatch outbox, which the assignment writes in the same step, and the field wake
stream the messages write) and wakes the streams of the units named. A wake missed (the thread
was between two reads, or Redis was away) costs at most the stream's own second."""

from __future__ import annotations

import logging
import threading
import time

import redis

from services.context import AppContext
from store import field as field_store

log = logging.getLogger("ecocommand.web")

BLOCK_MS = 5000


class Waker:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.lock = threading.Lock()
        self.events: dict[str, list[threading.Event]] = {}

    def listen(self, unit: str) -> threading.Event:
        """An event set when `unit` is named; give it back with `forget`."""
        event = threading.Event()
        with self.lock:
            self.events.setdefault(unit, []).append(event)
        return event

    def forget(self, unit: str, event: threading.Event) -> None:
        with self.lock:
            waiting = self.events.get(unit, [])
            if event in waiting:
                waiting.remove(event)
            if not waiting:
                self.events.pop(unit, None)

    def run(self, stop: threading.Event) -> None:
        cursors, away = field_store.wake_cursors(), False
        while not stop.is_set():
            try:
                units = field_store.woken(self.ctx.redis, cursors, BLOCK_MS)
            except redis.RedisError as e:
                if not away:  # once per outage: the streams' own look covers it meanwhile
                    log.warning("field wake: Redis unavailable (%s); retrying every second", e)
                away = True
                time.sleep(1.0)
                continue
            if away:
                log.info("field wake: Redis is back")
                away = False
            with self.lock:
                for unit in units:
                    for event in self.events.get(unit, []):
                        event.set()
