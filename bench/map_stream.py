"""The map benchmark's pushed path: the stream a page reads (/_stream/live, bytes and updates
per second while the picture moves) and the server's work per update, measured in this process
on a picture of its own against the same Redis (services/picture.py), beside the polling path's
work measured in the same run: reading and serialising the whole picture, which is what every
poll did before (the baseline)."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson

from bench.map_http import WebClient
from config.settings import Settings
from services.context import build
from services.picture import PictureFeed

STEP_EVERY_S = 0.25  # how often the measured picture looks for changes (without waiting)
BASELINE_EVERY_S = 2.0


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


def measure_feed(settings: Settings, redis_url: str, seconds: float) -> dict[str, Any]:
    """The server's time per update (a picture's step that found changes), and the baseline."""
    feed = PictureFeed(build(settings.model_copy(update={"redis_url": redis_url})))
    t0 = time.perf_counter()
    feed.step()
    first_ms = (time.perf_counter() - t0) * 1000
    updates: list[float] = []
    baseline: list[float] = []
    deadline = time.monotonic() + seconds
    next_baseline = time.monotonic()
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        if feed.step(wait_ms=0) is not None:
            updates.append((time.perf_counter() - t0) * 1000)
        if time.monotonic() >= next_baseline:
            t0 = time.perf_counter()
            orjson.dumps(feed._read_all())  # the polling path: everything, every time
            baseline.append((time.perf_counter() - t0) * 1000)
            next_baseline = time.monotonic() + BASELINE_EVERY_S
        time.sleep(STEP_EVERY_S)
    return {
        "first_picture_ms": round(first_ms, 1),
        "update_ms": _pct(updates),
        "baseline_whole_picture_ms": _pct(baseline),
        "features": {name: len(layer) for name, layer in feed.layers.items()},
    }
