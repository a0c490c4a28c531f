"""The live picture every map page's stream reads (dashboard/live_stream.py), built once for
the whole deployment and relayed by every web process.

One web process builds: it holds a lease in Redis, keeps the picture current
(services/picture.py) and publishes each update's bytes (store/picture_stream.py). Every web
process, that one included, relays: it reads the updates as they come and holds the last few
minutes of them for streams that resume, and the whole picture for those that start. So the
picture's CPU is spent once, not once per gunicorn worker beside the others on the same cores,
and a browser that reconnects to another process or host resumes from the updates it missed.

A relay applies the updates to its whole picture only when a stream asks for it (a page that
opens), not on every update. When the builder stops (its process ended, or it could not renew
the lease for LEASE_S), another process takes the lease and starts numbering anew: the relays
take its first picture, and each page gets the whole picture once.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from typing import Any

import orjson
import redis
from redis.lock import Lock

from domain import picture as pic
from services.context import AppContext
from services.errors import STORE_DOWN
from services.picture import PictureFeed, Sent, Update, changed_in_place, settle, whole_body
from store import picture_stream
from store.picture_stream import Entry, Whole

log = logging.getLogger(__name__)

KEEP_UPDATES = 300  # about five minutes at one update a second: a reconnect resumes from these
READ_WAIT_MS = 1000  # how long one read of the picture stream waits for the next update
LEASE_S = 5.0  # a builder that has not renewed its lease for this long is replaced
RENEW_EVERY_S = 1.0
ASK_AFTER_S = 1.0  # a relay waiting this long for a kept whole picture asks the builder for one
WHOLE_EVERY_S = 60.0  # how often the builder keeps the whole picture for relays that start
# updates held unapplied at most (applied when a page opens): about a minute at one a second
APPLY_AFTER = 60
OVERLAYS = frozenset({"alerts", "incidents"})


def _meta(update: Update, cpu_ms: float) -> dict[str, Any]:
    """What an update's entry says of its making (bench map reads it; so may an operator)."""
    return {
        "announced_ms": update.announced_ms,
        "cpu_ms": round(cpu_ms, 3),
        "records": sum(len(layer) for layer in update.changed.values()),
        "overlays": bool(OVERLAYS & (update.changed.keys() | update.gone.keys())),
    }


class Builder:
    """Builds the picture while this process holds the lease; otherwise waits to take it."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def run(self, stop: threading.Event) -> None:
        lease = picture_stream.builder_lease(self.ctx.redis, LEASE_S)
        while not stop.is_set():
            try:
                # the lease holds the builder's numbering: relays take a kept picture only
                # from the builder that holds it (not a previous run's, kept in Redis)
                token = secrets.token_hex(4)
                if lease.acquire(token=token):
                    try:
                        self._build(lease, token, stop)
                    finally:
                        self._let_go(lease)
                else:
                    stop.wait(RENEW_EVERY_S)
            except redis.exceptions.LockError:
                log.warning("the live picture's lease went to another process")
            except STORE_DOWN:
                stop.wait(1.0)  # the pages' banner says so; try again
            except Exception:  # not ours to mend (a Redis refusal, a bug): said, built again
                # from Redis under a new numbering, so no page is left with a picture that stopped
                log.exception("the live picture's builder failed; building again")
                stop.wait(1.0)

    @staticmethod
    def _let_go(lease: Lock) -> None:
        try:
            lease.release()
        except (redis.exceptions.LockError, *STORE_DOWN):
            pass  # expired, taken, or Redis down: it lapses by itself

    def _build(self, lease: Lock, token: str, stop: threading.Event) -> None:
        r, feed = self.ctx.redis, PictureFeed(self.ctx, token)
        feed.step()  # the first picture
        entry = picture_stream.mark_first(r, feed.token, feed.seq, feed.whole())
        renewed = kept = time.monotonic()
        while not stop.is_set():
            try:
                wanted = False
                if time.monotonic() - renewed >= RENEW_EVERY_S:
                    lease.reacquire()  # LockNotOwnedError: another process builds now
                    renewed = time.monotonic()
                    wanted = picture_stream.whole_wanted(r)
                c0 = time.thread_time()
                update = feed.step(READ_WAIT_MS)
                if update is not None:
                    cpu_ms = (time.thread_time() - c0) * 1000
                    entry = picture_stream.publish(
                        r, feed.token, update.since, update.seq, update.body, _meta(update, cpu_ms)
                    )
                if wanted or time.monotonic() - kept >= WHOLE_EVERY_S:
                    whole = Whole(feed.token, feed.seq, entry, feed.whole())
                    picture_stream.keep_whole(r, whole)
                    kept = time.monotonic()
            except STORE_DOWN:
                # the same picture goes on when Redis is back (with the lease, unless it lapsed
                # meanwhile and another process builds: then reacquire says so)
                stop.wait(1.0)


class PictureRelay:
    """This process's copy of the deployment's picture, for its pages' streams; `run` keeps it
    current (and runs the Builder beside it)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.token = ""  # the builder's numbering
        self.seq = -1
        self.updates: deque[Sent] = deque(maxlen=KEEP_UPDATES)
        self.changed = threading.Condition()
        self._layers: dict[str, pic.Layer] = {}
        self._unapplied: list[bytes] = []  # updates not yet applied to _layers
        self._last = "0-0"  # the picture stream read up to here
        self._lost = True  # no picture yet, or updates missed: take the whole picture
        self._tried: tuple[str, int, str] | None = None  # the last whole picture taken
        self._hole = False  # updates were missed: the builder is asked for a whole picture
        self._asked = 0.0  # when this relay began waiting for a whole picture, or last asked

    # -- what streams ask ------------------------------------------------------------------
    def whole(self) -> tuple[str, int, bytes]:
        """The builder's token, the picture's number and the whole picture as streams send it."""
        with self.changed:
            self._apply()
            return self.token, self.seq, whole_body(self.seq, self.ctx.now_ms(), self._layers)

    def _apply(self) -> None:
        """The updates not yet applied, applied to the whole picture (under the lock)."""
        for body in self._unapplied:
            u = orjson.loads(body)
            for name in u["changed"].keys() | u["gone"].keys():
                held = self._layers.setdefault(name, {})
                changed_in_place(held, u["changed"].get(name, {}), u["gone"].get(name, []))
        self._unapplied = []

    def ready(self, timeout_s: float) -> bool:
        """Whether a picture is taken, waiting up to `timeout_s` for one."""
        with self.changed:
            return self.changed.wait_for(lambda: self.seq >= 0, timeout_s)

    def after(self, token: str, seq: int) -> list[Sent] | None:
        """The updates from picture `seq` of `token` on, in order ([] when it is current); None
        when they are not held (another builder's numbering, or too old): the whole picture."""
        with self.changed:
            if token != self.token:
                return None
            if seq == self.seq:
                return []
            held = list(self.updates)
        for i, u in enumerate(held):
            if u.since == seq:
                return held[i:]
        return None

    def wait(self, token: str, seq: int, timeout_s: float) -> list[Sent] | None:
        """`after(token, seq)`, waiting up to `timeout_s` for something new."""
        with self.changed:
            if token == self.token and seq == self.seq:
                self.changed.wait(timeout_s)
        return self.after(token, seq)

    # -- keeping it current ----------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        builder = threading.Thread(
            target=Builder(self.ctx).run, args=(stop,), name="picture-builder", daemon=True
        )
        builder.start()
        while not stop.is_set():
            try:
                self.step()
            except STORE_DOWN:
                stop.wait(1.0)
            except Exception:  # a Redis refusal, a bug: said, and the whole picture taken again
                log.exception("the live picture's relay failed; taking the whole picture")
                self._lost = True
                stop.wait(1.0)
        # whoever waits for this thread to end waits for the builder to give its lease back
        builder.join(READ_WAIT_MS / 1000 + 1.0)

    def step(self, wait_ms: int = READ_WAIT_MS) -> int:
        """One read: takes the updates published since the last (waiting up to `wait_ms`), or
        the whole picture when it has none or missed some. Gives how many updates it took."""
        if self._lost:
            taken = self._take_whole()
        else:
            self._last, entries = picture_stream.read(self.ctx.redis, self._last, wait_ms)
            taken = self._take(entries)
        if self._hole:  # the kept whole picture is older than the hole: ask for one now
            picture_stream.want_whole(self.ctx.redis)
            self._hole = False
        return taken

    def _take_whole(self) -> int:
        """Takes the kept whole picture and the updates after it; one it took already only when
        it is kept again (a new builder's, not kept yet; or one asked for after a hole)."""
        r = self.ctx.redis
        head = picture_stream.whole_head(r)
        whole = picture_stream.whole(r) if head is not None and head != self._tried else None
        if whole is None:
            # no builder yet, the one asked for not kept yet, or a picture of a builder that
            # no longer holds the lease (a previous run's): the new one's comes shortly; a
            # relay still waiting after a while asks for it (at most once a second)
            now = time.monotonic()
            if now - self._asked >= ASK_AFTER_S:
                if self._asked > 0:
                    picture_stream.want_whole(r)
                self._asked = now
            time.sleep(0.25)
            return 0
        self._tried, self._asked = (whole.token, whole.seq, whole.entry), 0.0
        last, entries = picture_stream.after(r, whole.entry)
        layers = orjson.loads(whole.body)["layers"]
        with self.changed:
            self.token, self.seq, self._layers = whole.token, whole.seq, layers
            self._unapplied, self._last, self._lost = [], last, False
            self.updates.clear()
            self.changed.notify_all()  # ready() waits for this
        settle()  # the picture is held for minutes: out of the collector's view
        return self._take(entries)

    def _take(self, entries: list[Entry]) -> int:
        """Takes the updates that follow the picture held, in order. A new builder's mark, or a
        hole in the numbering, sends it back to the whole picture; updates of another builder
        (one that lost its lease and does not know yet) are not ours."""
        fresh: list[Sent] = []
        seq = self.seq
        for e in entries:
            if e.body is None:
                if e.token != self.token:
                    self._lost = True  # a new builder: take its whole picture
                    break
                continue  # our own first picture, held already
            if e.token != self.token or e.seq <= seq:
                continue
            if e.since != seq:
                self._lost = self._hole = True  # updates trimmed before they were read
                break
            fresh.append(Sent(e.since, e.seq, e.body))
            seq = e.seq
        if fresh:
            with self.changed:
                self.updates.extend(fresh)
                self._unapplied.extend(u.body for u in fresh)
                self.seq = seq
                self.changed.notify_all()
                if len(self._unapplied) >= APPLY_AFTER:
                    self._apply()  # with no page opening, they would pile up
        return len(fresh)
