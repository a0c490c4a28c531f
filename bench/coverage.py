"""`python run.py bench coverage [--out FILE] [units=2000 interval_s=5 hours=24 seed=1
sample_ticks=120 queries=20]`

Patrol coverage at the district's scale: `units` units (foot, vehicle, boat, drone of every
department, profiles written through the worker's store code) patrol for a simulated day,
reporting every `interval_s` seconds (2,000 x 17,280 = 34.6 million positions), each tick going
through the worker's own coverage step (store.coverage.CoverageRecorder: locate, visit
tracker, counters)
straight into Redis, not through the broker. Units random-walk at patrol speed and stay in their
medium (land units on land cells, boats on sea cells).

Reported:
- coverage: µs per position over the whole day, and visits made;
- ingest: on `sample_ticks` ticks, the worker's position write alone (the raw baseline) against
  the write followed by the coverage step, interleaved tick by tick: the throughput ratio says
  whether coverage halves ingest (target: ratio > 0.5);
- questions: the coverage report the page and the API answer (store + domain, as
  services.coverage.report) for the day window and for 7 days, with and without filters,
  p50/p95 over `queries` runs (targets 200 ms and 1 s). The 7-day questions read six more days
  of counters: copies of the simulated day under those days' keys (same size and shape);
- Redis memory of the counters.

Unless REDIS_URL is set, a fresh Redis (appendfsync always, as the embedded default) is started
under DATA_DIR/bench; a given REDIS_URL database is flushed first, so point it at a scratch one.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis

from bench import redis_bench
from config.settings import Settings
from domain.coverage_places import CoverageGeography, load_coverage
from domain.geo import load_geography
from domain.vocab import LOCAL_TZ, Department
from ingest import units as unit_handlers
from ingest.context import HandlerContext
from ingest.coverage import grid_resolution
from services.coverage import report
from store import coverage, keys
from store.writer import LiveStore

DEFAULTS: dict[str, float] = {
    "units": 2000,
    "interval_s": 5,
    "hours": 24,
    "seed": 1,
    "sample_ticks": 120,
    "queries": 20,
}
TARGETS_MS = {"day": 200.0, "7d": 1000.0}
KINDS = ("foot", "foot", "vehicle", "vehicle", "boat", "boat", "drone")
SPEED = {"foot": 1.2, "vehicle": 7.0, "boat": 6.0, "drone": 10.0}  # m/s, patrolling
M_PER_DEG = 111_320.0


class Fleet:
    """Units random-walking at patrol speed, each in its medium, as numpy arrays."""

    def __init__(self, n: int, cov: CoverageGeography, rng: random.Random) -> None:
        geo = load_geography()
        self.cov = cov
        self.ids = [f"C-{i:05d}" for i in range(n)]
        self.kind = [KINDS[i % len(KINDS)] for i in range(n)]
        self.department = [rng.choice(list(Department)).value for _ in range(n)]
        pts = [
            geo.random_sea_point(rng, "district") if k == "boat" else geo.random_land_point(rng)
            for k in self.kind
        ]
        self.lon = np.array([p[0] for p in pts])
        self.lat = np.array([p[1] for p in pts])
        self.heading = np.array([rng.uniform(0, 2 * math.pi) for _ in range(n)])
        self.speed = np.array([SPEED[k] for k in self.kind])
        self.sea = np.array([k == "boat" for k in self.kind])
        self.air = np.array([k == "drone" for k in self.kind])
        self.np_rng = np.random.default_rng(int(rng.random() * 2**32))

    def step(self, dt_s: float) -> None:
        self.heading += self.np_rng.normal(0, 0.35, self.heading.shape)
        d = self.speed * dt_s
        lat2 = self.lat + np.cos(self.heading) * d / M_PER_DEG
        lon2 = self.lon + np.sin(self.heading) * d / (M_PER_DEG * np.cos(np.radians(self.lat)))
        where = self.cov.locate_many(lon2, lat2)
        ok = np.where(
            self.sea,
            where.sea >= 0,
            np.where(self.air, (where.land >= 0) | (where.sea >= 0), where.land >= 0),
        )
        self.lon, self.lat = np.where(ok, lon2, self.lon), np.where(ok, lat2, self.lat)
        self.heading = np.where(ok, self.heading, self.heading + math.pi)  # turn back


def populate(r: redis.Redis, fleet: Fleet, t0: int) -> None:
    store, ctx, ops = LiveStore(r, 3_600_000, 1000), HandlerContext(received_ms=t0), []
    for uid, kind, department in zip(fleet.ids, fleet.kind, fleet.department, strict=True):
        ops += unit_handlers.handle_profile(
            uid,
            orjson.dumps(
                {
                    "unit_id": uid,
                    "ts": t0,
                    "name": uid,
                    "department": department,
                    "kind": kind,
                    "level": "community",
                }
            ),
            ctx,
        )
        ops += unit_handlers.handle_status(
            uid, orjson.dumps({"unit_id": uid, "ts": t0, "status": "available"}), ctx
        )
    store.write(ops, t0)


def _positions(fleet: Fleet, ts: int) -> list[coverage.UnitPosition]:
    return [
        coverage.UnitPosition(uid, ts, lon, lat)
        for uid, lon, lat in zip(fleet.ids, fleet.lon.tolist(), fleet.lat.tolist(), strict=True)
    ]


def _position_ops(fleet: Fleet, ts: int, seq: int) -> list[Any]:
    ctx = HandlerContext(received_ms=ts)
    ops = []
    for uid, lon, lat in zip(fleet.ids, fleet.lon.tolist(), fleet.lat.tolist(), strict=True):
        ops += unit_handlers.handle_position(
            uid,
            orjson.dumps(
                {"unit_id": uid, "seq": seq, "ts": ts, "lon": round(lon, 6), "lat": round(lat, 6)}
            ),
            ctx,
        )
    return ops


def _copy_day(r: redis.Redis, t0: int, days_back: int) -> None:
    """The simulated day's counters again under the keys of `days_back` days earlier."""
    shift = days_back * 86_400_000
    for h in range(24):
        src = keys.coverage_presence(coverage.utc_hour(t0 + h * 3_600_000))
        r.copy(
            src, keys.coverage_presence(coverage.utc_hour(t0 + h * 3_600_000 - shift)), replace=True
        )
    for name in (keys.coverage_day, keys.coverage_presence_day):
        r.copy(name(coverage.local_day(t0)), name(coverage.local_day(t0 - shift)), replace=True)


def measure(r: redis.Redis, o: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(int(o["seed"]))
    cov = load_coverage()
    res = grid_resolution(cov)
    step_ms = int(o["interval_s"] * 1000)
    ticks = int(o["hours"] * 3_600_000 // step_ms)
    # the simulated day is yesterday (local), so "today" at its end covers all of it
    today = dt.datetime.now(LOCAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    t0 = int((today - dt.timedelta(days=1)).timestamp() * 1000)
    fleet = Fleet(int(o["units"]), cov, rng)
    populate(r, fleet, t0 - 1000)

    # ingest with and without the coverage step, interleaved on the first ticks
    store = LiveStore(r, 3_600_000, 1000)
    recorder = coverage.CoverageRecorder(r, cov, res)  # as the worker's: heatmap flush 60 s
    write_s = with_s = 0.0
    n_sample = min(int(o["sample_ticks"]), ticks)
    for i in range(n_sample):
        ts = t0 + i * step_ms
        ops = _position_ops(fleet, ts, i + 1)
        start = time.perf_counter()
        store.write(ops, ts)
        if i % 2:
            recorder.record(_positions(fleet, ts))
            with_s += time.perf_counter() - start
        else:
            write_s += time.perf_counter() - start
        fleet.step(o["interval_s"])
    per_tick = len(fleet.ids)
    write_us = write_s / math.ceil(n_sample / 2) / per_tick * 1e6
    with_us = with_s / max(1, n_sample // 2) / per_tick * 1e6

    # the rest of the day through the coverage step alone
    visits, cov_s, started = 0, 0.0, time.perf_counter()
    for i in range(n_sample, ticks):
        ts = t0 + i * step_ms
        batch = _positions(fleet, ts)
        start = time.perf_counter()
        visits += len(recorder.record(batch))
        cov_s += time.perf_counter() - start
        fleet.step(o["interval_s"])
    recorder.flush()
    day_s = time.perf_counter() - started
    positions = (ticks - n_sample) * per_tick

    memory = r.info("memory")["used_memory"]
    now = t0 + ticks * step_ms - 1
    some_dept = fleet.department[0]
    questions: dict[str, list[float]] = {}
    for name, window, kinds, depts in (
        ("day", "today", [], []),
        ("day_foot", "today", ["foot"], []),
        ("day_department", "today", [], [some_dept]),
    ):
        questions[name] = _time(r, cov, window, kinds, depts, now, int(o["queries"]))
    for back in range(1, 7):
        _copy_day(r, t0, back)
    for name, kinds, depts in (("7d", [], []), ("7d_boat", ["boat"], [])):
        questions[name] = _time(r, cov, "7d", kinds, depts, now, int(o["queries"]))
    answer = report(r, cov, "today", [], [], now)
    fig = answer["figures"]["district"]
    return {
        "positions": {
            "units": per_tick,
            "ticks": ticks,
            "interval_s": o["interval_s"],
            "total": ticks * per_tick,
            "coverage_only_run_s": round(day_s, 1),
        },
        "coverage_step": {
            "us_per_position": round(cov_s / max(1, positions) * 1e6, 2),
            "positions": positions,
            "visits": visits,
        },
        "ingest_sample": {
            "ticks": n_sample,
            "write_only_us_per_position": round(write_us, 2),
            "write_and_coverage_us_per_position": round(with_us, 2),
            "throughput_ratio": round(write_us / with_us, 3),
        },
        "questions": {k: redis_bench.stats(v) for k, v in questions.items()},
        "day_figures": {k: v for k, v in fig.items()},
        "heatmap_hexagons": len(answer["presence_s"]),
        "redis_used_memory_mb": round(memory / 1e6, 1),
        "targets": {
            "ingest_not_halved": write_us / with_us > 0.5,
            "day_p95_ms": TARGETS_MS["day"],
            "day_met": max(
                redis_bench.stats(questions[k])["p95_ms"] for k in questions if k.startswith("day")
            )
            < TARGETS_MS["day"],
            "7d_p95_ms": TARGETS_MS["7d"],
            "7d_met": max(
                redis_bench.stats(questions[k])["p95_ms"] for k in questions if k.startswith("7d")
            )
            < TARGETS_MS["7d"],
        },
    }


def _time(
    r: redis.Redis,
    cov: CoverageGeography,
    window: str,
    kinds: list[str],
    departments: list[str],
    now: int,
    runs: int,
) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        report(r, cov, window, kinds, departments, now)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main(out: Path, settings: Settings, opts: dict[str, str]) -> None:
    results = redis_bench.run(
        "coverage",
        out,
        settings,
        redis_bench.options(
            opts, DEFAULTS, may_be_zero=("seed",), fractional=("interval_s", "hours")
        ),
        measure,
        ("h3",),
    )
    c, s, q = results["coverage_step"], results["ingest_sample"], results["questions"]
    print(
        f"coverage over {results['positions']['total']:,} positions: "
        f"{c['us_per_position']} us/position; ingest throughput with coverage "
        f"x{s['throughput_ratio']} of without; day question p95 {q['day']['p95_ms']} ms, "
        f"7 days p95 {q['7d']['p95_ms']} ms; report: {out}"
    )
