"""The map benchmark's pushed path: the stream a page reads (/_stream/live, bytes and updates
per second while the picture moves) and the server's work per update, measured in this process
on a picture of its own against the same Redis (services/picture.py), beside the polling path's
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

BASELINE_READS = 10
OVERLAY_LAYERS = {"alerts", "incidents"}


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


def _feed_loop(settings: Settings, redis_url: str, seconds: float, out: Any) -> None:
    """In a process of its own (as a web process's picture thread, with a GIL of its own):
    the picture kept current as the server keeps it (each step waits for the next batch), each
    update timed from the moment ingest announced its first change (the changes stream's
    entry id: Redis' clock, on this machine) to the moment it is ready for the streams; then
    the baseline, the polling path's whole read, on a picture of its own, with the picture
    still moving."""
    feed = PictureFeed(build(settings.model_copy(update={"redis_url": redis_url})))
    baseline_feed = PictureFeed(build(settings.model_copy(update={"redis_url": redis_url})))
    t0 = time.perf_counter()
    feed.step()
    first_ms = (time.perf_counter() - t0) * 1000
    updates: list[float] = []
    cpu: list[float] = []
    sizes: list[float] = []
    overlays: list[bool] = []  # the update carried alerts or incidents (re-read whole)
    baseline: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        c0 = time.thread_time()
        update = feed.step()
        if update is not None and update.announced_ms is not None:
            updates.append(time.time() * 1000 - update.announced_ms)
            cpu.append((time.thread_time() - c0) * 1000)
            sizes.append(sum(len(x) for x in update.changed.values()))
            overlays.append(bool(OVERLAY_LAYERS & (update.changed.keys() | update.gone.keys())))
    for _ in range(BASELINE_READS):  # after the window: it would hold the picture up
        t0 = time.perf_counter()
        orjson.dumps(baseline_feed._read_all())  # the polling path: everything, every time
        baseline.append((time.perf_counter() - t0) * 1000)
    out.put(
        {
            "first_picture_ms": round(first_ms, 1),
            "update_ms": _pct(updates),
            "update_cpu_ms": _pct(cpu),
            "update_features": _pct(sizes),
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
    ready to send), its CPU time and size, and the baseline (see _feed_loop)."""
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
