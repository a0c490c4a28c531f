"""The map benchmark's pushed path: the stream a page reads (/_stream/live, bytes and updates
per second while the picture moves) and the server's work per update, as the web app's builder
published it (services/picture_relay.py, store/picture_stream.py), beside the polling path's
work measured in the same run: reading and serialising the whole picture, which is what every
poll did before (the baseline)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import orjson

from bench.map_http import WebClient
from config.settings import Settings
from services.context import build
from services.picture import PictureFeed
from store import picture_stream
from store.keys import PICTURE

BASELINE_READS = 10


def _pct(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "p50": None, "p95": None, "max": None}
    s = sorted(values)
    pick = lambda q: round(s[min(len(s) - 1, int(q * len(s)))], 2)  # noqa: E731
    return {"count": len(s), "p50": pick(0.5), "p95": pick(0.95), "max": round(s[-1], 2)}


def measure_stream(base: str, user: str, password: str, seconds: float) -> dict[str, Any]:
    """One signed-in stream read for `seconds` after its whole picture arrived."""
    client = WebClient(base)
    client.sign_in(user, password)
    got = {"picture_bytes": 0, "bytes": 0, "updates": 0}
    opened, done = threading.Event(), threading.Event()

    def read() -> None:
        with client.s.get(f"{base}/_stream/live", stream=True, timeout=seconds + 60) as resp:
            for chunk in resp.iter_content(chunk_size=None):
                if not opened.is_set():
                    got["picture_bytes"] += len(chunk)
                    if b"event: picture" in chunk and chunk.endswith(b"\n\n"):
                        opened.set()
                    continue
                got["bytes"] += len(chunk)
                got["updates"] += chunk.count(b"event: update")
                if done.is_set():
                    return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    if not opened.wait(60):
        raise RuntimeError("the live stream sent no picture within 60 s")
    time.sleep(seconds)
    done.set()
    taken = dict(got)
    return {
        "seconds": seconds,
        "picture_bytes": taken["picture_bytes"],
        "updates": taken["updates"],
        "updates_per_s": round(taken["updates"] / seconds, 2),
        "bytes_per_s": round(taken["bytes"] / seconds),
    }


def _published(r: Any, seconds: float) -> list[picture_stream.Entry]:
    """The updates the web app's builder publishes over `seconds` (read as a relay reads them:
    one more relay beside the web processes')."""
    newest = r.xrevrange(PICTURE, count=1)
    last = newest[0][0].decode() if newest else "0-0"
    found: list[picture_stream.Entry] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        last, entries = picture_stream.read(r, last, 500)
        found += [e for e in entries if e.body is not None]
    return found


def _feed_loop(settings: Settings, redis_url: str, seconds: float, out: Any) -> None:
    """In a process of its own: the web app's updates over `seconds`, each timed from the
    moment ingest announced the first change it carries (its live-changes entry id) to the
    moment the builder published it for the relays (its picture-stream entry id): both Redis'
    clock. The builder's CPU and records per update are as it recorded them. Then, after the
    window (in it, they would take CPU from what is measured), a first picture as a new
    builder reads it and the baseline: the polling path's whole read, with the picture still
    moving."""
    ctx = build(settings.model_copy(update={"redis_url": redis_url}))
    published = [e for e in _published(ctx.redis, seconds) if e.meta.get("announced_ms")]
    updates = [float(e.published_ms - e.meta["announced_ms"]) for e in published]
    overlays = [bool(e.meta.get("overlays")) for e in published]
    feed = PictureFeed(ctx)
    t0 = time.perf_counter()
    feed.step()
    first_ms = (time.perf_counter() - t0) * 1000
    baseline: list[float] = []
    for _ in range(BASELINE_READS):
        t0 = time.perf_counter()
        orjson.dumps(feed._read_all())  # the polling path: everything, every time
        baseline.append((time.perf_counter() - t0) * 1000)
    out.put(
        {
            "first_picture_ms": round(first_ms, 1),
            "update_ms": _pct(updates),
            "update_cpu_ms": _pct([float(e.meta.get("cpu_ms", 0)) for e in published]),
            "update_features": _pct([float(e.meta.get("records", 0)) for e in published]),
            "update_ms_with_overlays": _pct(
                [u for u, o in zip(updates, overlays, strict=True) if o]
            ),
            "update_ms_units_vessels_sensors_only": _pct(
                [u for u, o in zip(updates, overlays, strict=True) if not o]
            ),
            "baseline_whole_picture_ms": _pct(baseline),
            "features": {name: len(layer) for name, layer in feed.layers.items()},
        }
    )


def measure_feed(settings: Settings, redis_url: str, seconds: float) -> dict[str, Any]:
    """The server's time per update (from ingest's announcement of a change to the update
    published for the relays), its CPU time and size, and the baseline (see _feed_loop)."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_feed_loop, args=(settings, redis_url, seconds, out), daemon=True)
    proc.start()
    try:
        return out.get(timeout=seconds + 180)
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
