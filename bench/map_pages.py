"""The map benchmark's room of map pages: `pages` concurrent readers of /_stream/live, each on a
session of its own signed in through the form (as that many wall screens and desks), read for
`seconds` with the picture moving about once a second, while the CPU time (user + system) of
the whole web app (`run.py web`: the gunicorn master and every worker) is measured over the same
window: cores = CPU seconds / wall seconds.

Each reader splits its stream into events and keeps, per stream, the bytes and `update` events
received and whether the updates form one chain: the first update starts from the picture's
`seq` (`since` == that seq), each later one from the previous one's `seq`. A `picture` event
after the first is the server's reset after a gap (a reader too far behind): counted, and the
chain goes on from it. Only the head of each event's JSON is read (`since` and `seq` come first),
so 50 readers in this process stay cheap beside the server they measure.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from bench.map_http import WebClient
from bench.map_measure import CpuMeter, tree
from bench.map_traffic import Mover

PATH = "/_stream/live"
SIGN_IN_THREADS = 2  # in flight at once: far below the sign-in throttle's counts
PICTURE_TIMEOUT_S = 120.0  # for every stream's whole picture, once all are signed in
READ_TIMEOUT_S = 60.0  # between two reads of a stream (the server sends a keepalive every 15 s)
HEAD_BYTES = 200  # where an event's `since` and `seq` are looked for before parsing it whole
_SINCE = re.compile(rb'"since":\s*(\d+)')
_SEQ = re.compile(rb'"seq":\s*(\d+)')


class Reader(threading.Thread):
    """One page's stream: its events counted and its chain of updates checked."""

    def __init__(self, client: WebClient) -> None:
        super().__init__(name="bench-map-page", daemon=True)
        self.client = client
        self.bytes = 0
        self.updates = 0
        self.resets = 0  # pictures after the first
        self.breaks = 0  # updates that did not start from the picture held
        self.seq: int | None = None  # of the picture held
        self.pictured = threading.Event()  # the whole first picture arrived
        self.ended = threading.Event()  # the reader stopped, for whatever reason
        self.done = threading.Event()  # asked to stop
        self.error: str | None = None

    def run(self) -> None:
        try:
            self._read()
        except Exception as e:
            if not self.done.is_set():
                self.error = f"{type(e).__name__}: {e}"[:300]
        finally:
            self.ended.set()

    def _read(self) -> None:
        url = f"{self.client.base}{PATH}"
        # On a fresh connection: gunicorn closes a keep-alive one idle for 2 s (signing in 50
        # sessions takes longer), and a request sent on it as it closes is reset; a browser
        # sends such a request again, requests does not (one page of 50 lost so, once).
        self.client.s.close()
        with self.client.s.get(url, stream=True, timeout=(10, READ_TIMEOUT_S)) as resp:
            if resp.status_code != 200:
                self.error = f"{PATH} answered {resp.status_code}: {resp.text[:200]}"
                return
            buf = bytearray()
            for chunk in resp.iter_content(chunk_size=None):
                self.bytes += len(chunk)
                start = max(0, len(buf) - 1)
                buf += chunk
                end = buf.find(b"\n\n", start)
                while end >= 0:
                    self._event(buf, end)
                    del buf[: end + 2]
                    end = buf.find(b"\n\n")
                if self.done.is_set() or self.error:
                    return
        if not self.done.is_set():
            self.error = "the stream ended"

    def _event(self, buf: bytearray, end: int) -> None:
        """The event in buf[:end] (its lines: `event:`, `id:`, `data:`; or a comment)."""
        at = buf.find(b"data:", 0, end)
        if at < 0:
            return  # retry: or a keepalive comment
        kind = b""
        for line in bytes(buf[:at]).split(b"\n"):
            if line.startswith(b"event:"):
                kind = line[6:].strip()
        if kind == b"bye":
            self.error = "the server said bye: " + bytes(buf[at + 5 : end]).decode(errors="replace")
        elif kind in (b"picture", b"update"):
            since, seq = _numbers(buf, at + 5, end)
            self._chain(kind == b"picture", since, seq)

    def _chain(self, picture: bool, since: int | None, seq: int | None) -> None:
        if picture:
            if self.seq is not None:
                self.resets += 1
            self.seq = seq
            self.pictured.set()
            return
        if self.seq is None or since is None or since != self.seq:
            self.breaks += 1
        self.seq = seq
        self.updates += 1


def _numbers(buf: bytearray, start: int, end: int) -> tuple[int | None, int | None]:
    """`since` and `seq` of the event's JSON, from its head (orjson keeps the keys' order:
    they come before the records), else from the whole of it."""
    head = bytes(buf[start : min(end, start + HEAD_BYTES)])
    since, seq = _SINCE.search(head), _SEQ.search(head)
    if seq is not None and (since is not None or b'"picture"' in head):
        return (int(since[1]) if since else None), int(seq[1])
    data = orjson.loads(bytes(buf[start:end]))
    return data.get("since"), data.get("seq")


def _spread(values: list[float], digits: int = 0) -> dict[str, float | None]:
    if not values:
        return {"min": None, "median": None, "max": None}
    fix: Callable[[float], float] = lambda v: round(v, digits) if digits else round(v)  # noqa: E731
    return {
        "min": fix(min(values)),
        "median": fix(statistics.median(values)),
        "max": fix(max(values)),
    }


def _sign_in(base: str, user: str, password: str, pages: int) -> list[WebClient]:
    def one(_: int) -> WebClient:
        client = WebClient(base)
        client.sign_in(user, password)
        return client

    with ThreadPoolExecutor(SIGN_IN_THREADS) as pool:
        return list(pool.map(one, range(pages)))


def _open(readers: list[Reader]) -> None:
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + PICTURE_TIMEOUT_S
    for reader in readers:
        while not (reader.pictured.is_set() or reader.ended.is_set()):
            if time.monotonic() > deadline:
                break
            reader.pictured.wait(0.2)


def _stop(readers: list[Reader]) -> None:
    for reader in readers:
        reader.done.set()
    deadline = time.monotonic() + 20  # each returns at its next event (one a second or so)
    for reader in readers:
        reader.join(max(0.0, deadline - time.monotonic()))
    for reader in readers:
        reader.client.s.close()


def measure_pages(
    base: str,
    user: str,
    password: str,
    pages: int,
    seconds: float,
    roots: dict[str, int | None],
    mover: Mover,
) -> dict[str, Any]:
    """`pages` signed-in streams, each holding its whole picture, read for `seconds`; the CPU
    of each part in `roots` ("web": the web app's pid) over the same window."""
    t0 = time.monotonic()
    readers = [Reader(c) for c in _sign_in(base, user, password, pages)]
    signed_in_s = time.monotonic() - t0
    try:
        _open(readers)
        opened_s = time.monotonic() - t0 - signed_in_s
        opened = sum(r.pictured.is_set() for r in readers)
        cpu = CpuMeter(roots)
        before = [(r.bytes, r.updates) for r in readers]
        web0 = {p.pid for p in tree(roots["web"])}
        batches, c0 = mover.batches, cpu.snapshot()
        time.sleep(seconds)
        c1, batches = cpu.snapshot(), mover.batches - batches
        web1 = {p.pid for p in tree(roots["web"])}
        after = [(r.bytes, r.updates) for r in readers]
        span = c1[0] - c0[0]
    finally:
        _stop(readers)
    mover.check()
    cores = CpuMeter.cores(c0, c1)
    updates = [b[1] - a[1] for a, b in zip(before, after, strict=True)]
    rates = [(b[0] - a[0]) / span for a, b in zip(before, after, strict=True)]
    errors = [r.error for r in readers if r.error]
    in_order = not errors and opened == pages and all(r.breaks == 0 for r in readers)
    return {
        "pages": pages,
        "opened": opened,
        "seconds": round(span, 2),
        "sign_in_s": round(signed_in_s, 1),
        "pictures_s": round(opened_s, 1),
        "mover_batches_per_s": round(batches / span, 2),
        "web_cores": cores["web"],
        "web_processes": len(web1),
        "web_processes_kept": web0 == web1,  # a process gone meanwhile takes its CPU time along
        "cpu_cores": cores,
        "updates": _spread(updates),
        "updates_per_s": _spread([u / span for u in updates], 2),
        "bytes_per_s": _spread(rates),
        "in_order": in_order,
        "all_got_updates": opened == pages and min(updates, default=0) > 0,
        "breaks": sum(r.breaks for r in readers),
        "resets": sum(r.resets for r in readers),
        "errors": errors[:5],
        "error_count": len(errors),
    }
