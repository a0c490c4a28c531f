"""The map benchmark's measuring phases: the refresh callback over HTTP against its raw baseline,
and the browser windows (the page moving, the page idle, publish -> pixel probes, the wall
screen, then the wall screen's heap over `heap_minutes`: bench/map_heap.py). bench/map.py sets
up the processes and calls these in order."""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil
import redis
import requests

from bench import map_browser as browser
from bench import map_heap
from bench.common import Servers, host_busy, percentiles
from bench.map_http import Callback, WebClient, count_features, gzip_size, timed_baseline
from bench.map_traffic import Mover
from bench.workload import Publisher
from config.settings import Settings
from domain.clock import system_ms as now_ms
from store import keys

# The unit the probes move. bench.common.subscriber's readiness check already publishes
# positions of this unit; the benchmark gives it a profile and counts it as one of `units`.
PROBE_ID = "bench-probe"
USER = "bench-map"
WARMUP_CALLS = 4  # full answers before timing: each gunicorn worker's first call loads things
WARMUP_S = (5.0, 30.0)  # a page runs min(max(5, seconds / 2), 30) s before its window


@dataclass(frozen=True)
class Options:
    """The map benchmark's options: bench/map.py parses them (its module doc says what they are)
    and these phases read them."""

    units: int
    vessels: int
    sensors: int
    seconds: float
    samples: int
    calls: int
    seed: int
    pages: int
    heap_minutes: float


def warmup_s(seconds: float) -> float:
    return min(max(WARMUP_S[0], seconds / 2), WARMUP_S[1])


# --- CPU per part -----------------------------------------------------------------------------


def tree(pid: int | None) -> list[psutil.Process]:
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


class CpuMeter:
    """CPU cores used by each part over a window (the machine is small and shared): each root
    process with its children, except "bench" (this process, whose children are the others);
    "others": whatever else ran on the machine meanwhile (noise to know of: a busy CPU
    stretches the page's tasks)."""

    def __init__(self, roots: dict[str, int | None]) -> None:
        self.roots = roots

    def _procs(self, name: str, pid: int | None) -> list[psutil.Process]:
        return [psutil.Process()] if name == "bench" else tree(pid)

    def snapshot(self) -> tuple[float, dict[str, float]]:
        parts = {k: _cpu_s(self._procs(k, pid)) for k, pid in self.roots.items()}
        return time.monotonic(), {**parts, "host": host_busy()}

    @staticmethod
    def cores(
        a: tuple[float, dict[str, float]], b: tuple[float, dict[str, float]]
    ) -> dict[str, float]:
        span = max(b[0] - a[0], 1e-9)
        used = {k: (b[1][k] - a[1][k]) / span for k in a[1]}
        host = used.pop("host")
        used["others"] = max(0.0, host - sum(used.values()))
        return {k: round(v, 3) for k, v in used.items()}  # a few streams use a few ms a second


# --- the callback over HTTP -------------------------------------------------------------------


def _pct(values: list[float]) -> dict[str, Any]:
    p = percentiles([round(v, 2) for v in values])  # type: ignore[arg-type]
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in p.items()}


def _statuses(values: list[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in sorted(values):
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def measure_callback(
    base: str, r: redis.Redis, o: Options, mover: Mover, password: str
) -> tuple[Callback, dict[str, Any], dict[str, Any]]:
    """The "nothing changed" answer (mover paused), then `calls` full answers with the picture
    moving, each followed by the raw baseline."""
    client = WebClient(base)
    client.sign_in(USER, password)
    cb = Callback(client.get_json("/_dash-dependencies"), client.get_json("/_dash-layout"))
    tick = 0
    for _ in range(WARMUP_CALLS):
        tick += 1
        resp, _ms = client.post(cb.body(tick))
        if resp.status_code != 200:
            raise RuntimeError(
                f"the map refresh callback answered {resp.status_code}: {resp.text[:300]}"
            )
    seen = cb.state_from(resp.json())  # the version State as the page sends it back
    same_ms, same_status, same_bytes = [], [], []
    for _ in range(o.calls):
        tick += 1
        resp, ms = client.post(cb.body(tick, seen))
        same_ms.append(ms)
        same_status.append(resp.status_code)
        same_bytes.append(len(resp.content))
    mover.resume()
    time.sleep(1.5)
    full_ms, base_ms, sizes, base_sizes = [], [], [], []
    last: requests.Response | None = None
    data = b""
    for _ in range(o.calls):
        mover.check()
        tick += 1
        last, ms = client.post(cb.body(tick))
        if last.status_code != 200:
            raise RuntimeError(f"the map refresh callback answered {last.status_code}")
        full_ms.append(ms)
        sizes.append(len(last.content))
        data, bms = timed_baseline(r)
        base_ms.append(bms)
        base_sizes.append(len(data))
    assert last is not None
    callback = {
        "output": cb.output,
        "inputs_sent_null": cb.unset,
        "request_ms": _pct(full_ms),
        "bytes": max(sizes),
        "bytes_gzip": gzip_size(last.content),
        "served_content_encoding": last.headers.get("Content-Encoding"),
        "features": count_features(orjson.loads(last.content)),
        "unchanged": {
            "statuses": _statuses(same_status),
            "bytes": max(same_bytes),
            "request_ms": _pct(same_ms),
        },
    }
    baseline = {
        "what": "pipelined HGETALL of every unit, vessel and sensor + open alerts, "
        "decoded and orjson-serialised, in-process",
        "ms": _pct(base_ms),
        "bytes": max(base_sizes),
        "bytes_gzip": gzip_size(data),
    }
    return cb, callback, baseline


# --- the browser ------------------------------------------------------------------------------


class HeapLog:
    """JS heap after forced garbage collection, marked at moments of one page's life."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.t0 = time.monotonic()
        self.marks: list[dict[str, Any]] = []

    def mark(self, event: str) -> float:
        mb = browser.heap_mb(self.driver)
        self.marks.append(
            {"event": event, "at_s": round(time.monotonic() - self.t0, 1), "mb": round(mb, 2)}
        )
        return mb

    def rate(self, a: str, b: str) -> float | None:
        """MB/hour between two marks."""
        x = next(m for m in self.marks if m["event"] == a)
        y = next(m for m in self.marks if m["event"] == b)
        span = y["at_s"] - x["at_s"]
        return round((y["mb"] - x["mb"]) / span * 3600, 1) if span > 0 else None


def page_window(
    driver: Any,
    o: Options,
    output: str,
    nochange_bytes: int,
    cpu: CpuMeter,
    heap: HeapLog,
    name: str,
) -> dict[str, Any]:
    """Heap, `seconds` of long tasks and trace, heap again."""
    heap0 = heap.mark(f"{name} start")
    c0 = cpu.snapshot()
    w = browser.window(driver, o.seconds, output, nochange_bytes)
    w["cpu_cores"] = CpuMeter.cores(c0, cpu.snapshot())
    heap1 = heap.mark(f"{name} end")
    w["heap"] = {
        "start_mb": round(heap0, 2),
        "end_mb": round(heap1, 2),
        "growth_mb": round(heap1 - heap0, 2),
        "mb_per_hour": round((heap1 - heap0) / w["seconds"] * 3600, 1),
    }
    return w


def probe_latency(
    driver: Any, servers: Servers, settings: Settings, o: Options, poll_s: float
) -> dict[str, Any]:
    """`samples` times: a new position of the probe unit (QoS 1, PUBACK awaited), at a random
    phase of the page's poll, until its marker is drawn there."""
    rng = random.Random(f"{o.seed}:probes")
    pub = Publisher(servers.mqtt_url, f"bench-map-probe-{uuid.uuid4().hex[:8]}", 1)
    topic = f"{settings.topic_prefix}/units/{PROBE_ID}/position"
    state_key = keys.state("unit", PROBE_ID)
    timeout = max(30.0, 10 * poll_s)
    pixel, stored, lost = [], [], 0
    try:
        for i in range(o.samples):
            pub.wait(rng.uniform(0, poll_s))
            lat = round(22.56 + (i % 40) * 0.0015 + rng.uniform(0, 0.0005), 6)
            lon = round(114.40 + (i % 40) * 0.0025 + rng.uniform(0, 0.0005), 6)
            t_pub = now_ms()
            pub.publish(
                topic,
                orjson.dumps(
                    {
                        "unit_id": PROBE_ID,
                        "seq": 1_000_000 + i,
                        "ts": t_pub,
                        "lat": lat,
                        "lon": lon,
                        "speed_kmh": 4.0,
                        "status": "available",
                    }
                ),
            )
            pub.drain(30)
            in_redis: int | None = None
            deadline = time.monotonic() + timeout
            while True:
                if in_redis is None and servers.r.hget(state_key, "lat") == str(lat).encode():
                    in_redis = now_ms()
                d = browser.drawn(driver, PROBE_ID)
                if d and abs(d["lat"] - lat) < 1e-9 and abs(d["lng"] - lon) < 1e-9:
                    pixel.append(int(d["t"]) - t_pub)
                    if in_redis is not None:
                        stored.append(in_redis - t_pub)
                    break
                if time.monotonic() > deadline:
                    lost += 1
                    break
                time.sleep(0.02)
    finally:
        pub.close()
    return {
        "samples": o.samples,
        "lost": lost,
        "timeout_s": timeout,
        "publish_to_pixel_ms": percentiles(pixel),
        "publish_to_redis_ms": percentiles(stored),
    }


def fresh_tab(driver: Any) -> None:
    """Goes on in a new tab, the others closed, the hook installed there (it is per tab). A page
    left by navigating in the same tab stays in the renderer's JS heap for about a minute (seen
    with Chromium 156: ~10 MB of the map page inside the wall page's heap until then); a page of
    its own has a heap of its own from the start, as a wall screen's browser does."""
    old = driver.window_handles
    driver.switch_to.new_window("tab")
    new = driver.current_window_handle
    for handle in old:
        driver.switch_to.window(handle)
        driver.close()
    driver.switch_to.window(new)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": browser.HOOK_JS})


def _open(
    driver: Any, url: str, ids: list[str], mover: Mover, o: Options
) -> tuple[dict[str, Any], HeapLog]:
    """Opens a page, waits for every marker, lets it warm up with the picture moving."""
    load_s = browser.open_page(driver, url, ids, 120 + len(ids) / 50)
    heap = HeapLog(driver)
    heap.mark("loaded")
    time.sleep(warmup_s(o.seconds))
    mover.check()
    return {"load_s": round(load_s, 1), "warmup_s": warmup_s(o.seconds)}, heap


def browser_phase(
    base: str,
    ids: list[str],
    cb: Callback,
    nochange: int,
    servers: Servers,
    settings: Settings,
    o: Options,
    mover: Mover,
    password: str,
    work: Path,
    cpu_roots: dict[str, int | None],
    stack: contextlib.ExitStack,
    versions: dict[str, Any],
) -> dict[str, Any]:
    """`nochange`: the length of a "nothing changed" answer (a poll that brought no data)."""
    driver = browser.start(work / "chrome")
    stack.callback(driver.quit)
    versions.update(browser.versions(driver))
    service = getattr(driver.service, "process", None)
    cpu = CpuMeter({**cpu_roots, "browser": service.pid if service else None})
    browser.sign_in(driver, base, USER, password)
    out: dict[str, Any] = {"located": len(ids)}

    page, heap = _open(driver, f"{base}/", ids, mover, o)
    page = {"url": "/", **page}
    page["active"] = page_window(driver, o, cb.output, nochange, cpu, heap, "active")
    poll_ms = browser.poll_interval_ms(driver, cb.output) or 2000.0
    page["poll_interval_ms"] = poll_ms
    mover.pause()
    time.sleep(1.5 * poll_ms / 1000 + 1)  # the last change is drawn before the idle window
    page["idle"] = page_window(driver, o, cb.output, nochange, cpu, heap, "idle")
    mover.resume()
    out["publish_to_pixel"] = probe_latency(driver, servers, settings, o, poll_ms / 1000)
    out["publish_to_pixel"]["poll_interval_ms"] = poll_ms
    mover.check()
    heap.mark("after probes")
    page["heap"] = {
        "marks": heap.marks,
        "mb_per_hour_active_start_to_end": heap.rate("active start", "after probes"),
    }
    out["page"] = page

    fresh_tab(driver)  # the map page's heap is not counted as the wall's
    wall, heap = _open(driver, f"{base}/?wall=1", ids, mover, o)
    wall = {"url": "/?wall=1", **wall}
    wall["wall_mode_shown"] = bool(
        driver.execute_script("return !!document.querySelector('.ec-wall')")
    )
    wall["active"] = page_window(driver, o, cb.output, nochange, cpu, heap, "active")
    wall["poll_interval_ms"] = browser.poll_interval_ms(driver, cb.output)
    wall["heap"] = {"marks": heap.marks}
    out["wall"] = wall
    out["wall_heap"] = map_heap.run(driver, o.heap_minutes, mover)
    out["console_errors"] = browser.severe_console(driver)
    return out
