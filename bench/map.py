"""`python run.py bench map [--out FILE] [units=5000 vessels=3000 sensors=200 seconds=60 ...]`

Measures the live map page with a district-sized picture live: `units` units, `vessels` vessels
and `sensors` sensors, published over MQTT through the real ingest worker (bench/map_traffic.py:
the simulator's own fleets) and kept moving at the simulator's reporting rates, one batch a
second. A fresh mosquitto and Redis are started (unless MQTT_URL / REDIS_URL are set: then that
Redis database is flushed, so point it at a scratch one), the worker (`run.py ingest`) and the
web app (`run.py web`: gunicorn, as deployed) run as their own processes.

* callback: the map refresh callback (the one whose outputs include `map-counts.children`: the
  header's counts, the alerts and incidents; units, vessels and sensors are pushed over
  /_stream/live and drawn in place by assets/live.js, so they reach the browser's figures below
  but not this one), POSTed
  `calls` times by a signed-in requests.Session with a null version State, which forces a full
  answer: request time p50/p95/max on loopback, bytes (raw and gzip-compressed). Raw baseline,
  interleaved with it: the same data straight from Redis (the pipelined HGETALL over each index's
  members that store/snapshots.py does, and the open alerts) serialised with orjson, in this
  process. Also the "nothing changed" answer (the version State as the page sends it).
* browser (headless Chromium, 1920x1080, bench/map_browser.py): on `/`, once every marker is
  drawn and after a warm-up (half of `seconds`, 5-30 s) with the picture moving, the main
  thread's blocking time (long tasks beyond 50 ms, Total Blocking Time's definition) and busy
  time (a Chrome trace) per second over `seconds`, against the same page for the same time with
  the mover paused (the idle baseline); the JS heap at the start and the end of the window.
  Publish -> pixel: `samples` times a QoS 1 position of one probe unit (published once the PUBACK
  is in), until the page has drawn its marker there: drawn time - publish time. The wall-screen
  variant (`/?wall=1`, in a tab of its own: the map page's tab closed) gets the same warm-up,
  window and heap figures; then it stays open with the picture moving for `heap_minutes`, its
  heap (after a forced GC) sampled every 15 s (at least 21 samples), and a least-squares line
  over the samples of the last 80 % of that run (the last 8 of 10 minutes) gives its rise in MB
  (bench/map_heap.py: browser.wall_heap).
* pushed (bench/map_stream.py): one signed-in stream read for `seconds` (bytes and updates per
  second) while this process steps a picture of its own (server time per update against
  reading the whole picture); then `pages` streams at once (bench/map_pages.py), each from a
  session of its own signed in through the form, each holding its whole picture, read for
  `seconds` with the picture moving: the CPU of the whole web app (gunicorn master and workers)
  per wall second (cores), and per stream the updates, bytes per second and whether its
  updates formed one unbroken chain from its picture (pushed.pages).

Options (KEY=VALUE): units (5000), vessels (3000), sensors (200), seconds (60: each browser
window and each stream window), samples (20), calls (50), seed (1), pages (50: concurrent
streams), heap_minutes (10.0: the wall screen's heap run). The phases are in
bench/map_measure.py, the report in bench/map_report.py; logs of the worker and the web app go
to DATA_DIR/bench/map-logs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
import redis
import requests

from bench import map_pages, map_report, map_stream
from bench.common import (
    ROOT,
    Servers,
    host_load,
    log_tail,
    redis_persistence,
    server_versions,
    stop_process,
    subscriber,
)
from bench.map_measure import PROBE_ID, USER, Options, browser_phase, measure_callback
from bench.map_traffic import Mover, Traffic, publish_all
from config.settings import Settings
from embedded.processes import free_port
from store import keys, users

DEFAULTS: dict[str, Any] = {
    "units": 5000,
    "vessels": 3000,
    "sensors": 200,
    "seconds": 60.0,
    "samples": 20,
    "calls": 50,
    "seed": 1,
    "pages": 50,
    "heap_minutes": 10.0,
}
MINIMUM = {
    "units": 2,
    "vessels": 1,
    "sensors": 1,
    "seconds": 1.0,
    "samples": 1,
    "calls": 1,
    "pages": 1,
    "heap_minutes": 0.1,
}
KINDS = ("unit", "vessel", "sensor")


def parse_options(opts: dict[str, str]) -> Options:
    unknown = set(opts) - set(DEFAULTS)
    if unknown:
        raise ValueError(
            f"unknown map benchmark option(s) {sorted(unknown)}; known: {', '.join(DEFAULTS)}"
        )
    values: dict[str, Any] = {}
    for k, default in DEFAULTS.items():
        raw = opts.get(k)
        try:
            values[k] = type(default)(raw) if raw is not None else default
        except ValueError:
            raise ValueError(f"option {k}={raw!r} is not a {type(default).__name__}") from None
        if k in MINIMUM and values[k] < MINIMUM[k]:
            raise ValueError(f"option {k} must be at least {MINIMUM[k]}")
    return Options(**values)


# --- processes ------------------------------------------------------------------------------


@contextlib.contextmanager
def web_app(
    servers: Servers, settings: Settings, data_dir: Path, log: Path
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python run.py web` (gunicorn, as deployed) on a free port; yields (base URL, process)."""
    port = free_port()
    env = dict(os.environ) | {
        "REDIS_URL": servers.redis_url,
        "MQTT_URL": servers.mqtt_url,
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "DATA_DIR": str(data_dir),
        "TOPIC_PREFIX": settings.topic_prefix,
        "HISTORY_HOURS": str(settings.history_hours),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "run.py", "web"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the web app exited with {proc.returncode}:\n{log_tail(log)}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web app did not answer within 90 s:\n{log_tail(log)}")
            time.sleep(0.2)
        yield base, proc
    finally:
        stop_process(proc)


def _alive(procs: dict[str, subprocess.Popen]) -> None:
    for name, p in procs.items():
        if p.poll() is not None:
            raise RuntimeError(f"the {name} exited with {p.returncode} during the benchmark")


def populate(
    servers: Servers, traffic: Traffic, o: Options, procs: dict[str, subprocess.Popen]
) -> dict[str, Any]:
    """Publishes the population through the worker; waits until Redis has every position."""
    t0 = time.monotonic()
    published = publish_all(servers.mqtt_url, traffic.population())
    want = {"unit": o.units, "vessel": o.vessels, "sensor": o.sensors}
    deadline = time.monotonic() + 60 + published / 500
    while True:
        have = {k: servers.r.zcard(keys.geo(k)) for k in KINDS}
        if all(have[k] >= want[k] for k in KINDS):
            break
        _alive(procs)
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {have} of {want} located in Redis after publishing {published} messages"
            )
        time.sleep(0.2)
    return {
        "units": servers.r.scard(keys.index("unit")),
        "vessels": servers.r.scard(keys.index("vessel")),
        "sensors": servers.r.scard(keys.index("sensor")),
        "located": have,
        "open_alerts": servers.r.zcard(keys.ALERTS_OPEN),
        "messages": published,
        "seconds": round(time.monotonic() - t0, 1),
        "mix": traffic.mix,
    }


def located_ids(r: redis.Redis) -> list[str]:
    """The feature ids the map must draw: every entity with a position."""
    return [x.decode() for k in KINDS for x in r.zrange(keys.geo(k), 0, -1)]


# --- the run --------------------------------------------------------------------------------


def measure_pushed(
    base: str,
    password: str,
    settings: Settings,
    redis_url: str,
    o: Options,
    roots: dict[str, int | None],
    mover: Mover,
) -> dict[str, Any]:
    """The stream a page reads and the server's work per update, over the same `seconds`; then
    `pages` streams at once and the web app's CPU over another `seconds`."""
    feed: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: feed.update(map_stream.measure_feed(settings, redis_url, o.seconds)),
        daemon=True,
    )
    worker.start()
    stream = map_stream.measure_stream(base, USER, password, o.seconds)
    worker.join(o.seconds + 120)
    pages = map_pages.measure_pages(base, USER, password, o.pages, o.seconds, roots, mover)
    return {"stream": stream, "feed": feed, "pages": pages}


def main(out: Path, settings: Settings, opts: dict[str, str]) -> None:
    """Run the benchmark and write its JSON report to `out` (options: see the module doc)."""
    if settings.web_tls_cert is not None:
        # its web app inherits the settings; the figures are of the app on plain loopback HTTP
        raise ValueError("bench map serves its web app over plain HTTP: unset WEB_TLS_CERT/KEY")
    o = parse_options(opts)
    load_avg = host_load()
    work = settings.data_dir / "bench" / "map-run"
    logs = settings.data_dir / "bench" / "map-logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    password = secrets.token_urlsafe(18)
    try:
        with Servers(settings, work, "servers") as servers, contextlib.ExitStack() as stack:
            versions = server_versions(servers) | {
                pkg: metadata.version(pkg)
                for pkg in (
                    "dash",
                    "dash-leaflet",
                    "dash-extensions",
                    "flask",
                    "gunicorn",
                    "selenium",
                )
            }
            persistence = redis_persistence(servers.r)
            traffic = Traffic(
                settings.topic_prefix, o.units, o.vessels, o.sensors, o.seed, PROBE_ID
            )
            worker = stack.enter_context(
                subscriber("worker", servers, settings, logs / "worker.log")
            )
            base, web = stack.enter_context(
                web_app(servers, settings, work / "web", logs / "web.log")
            )
            procs = {"ingest worker": worker, "web app": web}
            population = populate(servers, traffic, o, procs)
            ids = located_ids(servers.r)
            users.create_user(servers.r, USER, "operator", password)
            mover = Mover(traffic, servers.mqtt_url)
            mover.start()

            def stop_mover() -> None:
                mover.stop.set()
                mover.join(timeout=10)

            stack.callback(stop_mover)
            roots = {
                "web": web.pid,
                "ingest": worker.pid,
                "bench": os.getpid(),
                **{k: p.pid for k, p in servers.processes().items() if p},
            }
            cb, callback, baseline = measure_callback(base, servers.r, o, mover, password)
            pushed = measure_pushed(base, password, settings, servers.redis_url, o, roots, mover)
            _alive(procs)
            b = browser_phase(
                base,
                ids,
                cb,
                callback["unchanged"]["bytes"],
                servers,
                settings,
                o,
                mover,
                password,
                work,
                roots,
                stack,
                versions,
            )
            _alive(procs)
            mover.check()
            report = map_report.build(
                dataclasses.asdict(o),
                settings,
                versions,
                persistence,
                population,
                mover.stats(),
                callback,
                baseline,
                pushed,
                b,
                load_avg,
                round(time.monotonic() - started, 1),
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    map_report.show(report, out)
