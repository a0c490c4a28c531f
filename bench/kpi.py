"""`python run.py bench kpi [--out FILE] [incidents=20000 days=30 units=2000 runs=10 seed=1]`

The KPI page's computation for a period of `days` days: about `incidents` simulated incidents
(simulator.history, imported as past incidents), the closed-day rows and visited places of
`units` units (a fleet of that size: more kinds and departments visiting), then
dashboard.kpi_api.kpi_report (what the page and GET /api/v1/kpis answer) timed `runs` times,
for the whole district and with a department and sub-district filter, and as the first request
of a web process (no incident cached yet: store.kpi_days keeps final incidents, which never
change). The raw baseline measured in the same run: reading every record the figures come from
with no cache and no computation (incident records, visited places per day, closed-day rows,
sensor readings). Target: p95 under 1 s.

Unless REDIS_URL is set, a fresh Redis is started under DATA_DIR/bench; a given REDIS_URL
database is flushed first, so point it at a scratch one.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import random
import statistics
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
import redis

from config.settings import Settings
from dashboard.kpi_api import kpi_report, local_days
from domain.coverage_places import load_coverage
from domain.geo import load_geography
from domain.vocab import Department, UnitKind
from embedded.processes import redis_server
from simulator import history
from store import coverage, kpi_days

DEFAULTS = {"incidents": 20_000, "days": 30, "units": 2000, "runs": 10, "seed": 1}
TARGET_P95_MS = 1000.0
DAY_MS = 86_400_000


def _options(opts: dict[str, str]) -> dict[str, int]:
    unknown = set(opts) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    out = dict(DEFAULTS)
    for k, v in opts.items():
        try:
            out[k] = int(v)
        except ValueError:
            raise ValueError(f"option {k} must be an integer, not {v!r}") from None
        if out[k] < 1:
            raise ValueError(f"option {k} must be at least 1")
    return out


def _fleet(n: int, rng: random.Random) -> list[history.FleetUnit]:
    kinds, depts = [k.value for k in UnitKind], [d.value for d in Department]
    return [history.FleetUnit(f"K-{i:05d}", rng.choice(depts), kinds[i % len(kinds)])
            for i in range(n)]


def _stats(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return {"p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1), "max_ms": round(max(ms), 1),
            "runs": len(ms)}


def _raw_reads(r: redis.Redis, from_ms: int, to_ms: int) -> None:
    """Every record the figures come from, read with no cache and no computation."""
    days = local_days(from_ms, to_ms)
    kpi_days.forget_cached_incidents()
    kpi_days.incident_records(r)
    coverage.daily_visited(r, days)
    kpi_days.stored_days(r, days)
    kpi_days.sensor_readings(r, from_ms)


def measure(r: redis.Redis, o: dict[str, int]) -> dict[str, Any]:
    rng = random.Random(o["seed"])
    geo, cov = load_geography(), load_coverage()
    now = time.time_ns() // 1_000_000
    fleet = _fleet(o["units"], rng)
    started = time.perf_counter()
    made = history.fill(r, geo, fleet, o["days"], now, o["seed"],
                        per_day=o["incidents"] / (o["days"] + 1))
    history.fill_days(r, geo, fleet, o["days"], now, o["seed"])
    populate_s = time.perf_counter() - started
    from_ms = now - o["days"] * DAY_MS
    timed: dict[str, list[float]] = {"district": [], "filtered": [], "raw_reads": [],
                                     "first_request": []}
    answer: dict[str, Any] = {}
    for _ in range(o["runs"]):  # interleaved: the same load for all of them
        _raw_reads(r, from_ms, now)  # also empties the cache: the next call starts cold
        kpi_days.forget_cached_incidents()
        t = time.perf_counter()
        kpi_report(r, cov, from_ms, now, None, None, now)
        timed["first_request"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        answer = kpi_report(r, cov, from_ms, now, None, None, now)
        timed["district"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        kpi_report(r, cov, from_ms, now, "eco_environment", "nanao", now)
        timed["filtered"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        _raw_reads(r, from_ms, now)
        timed["raw_reads"].append((time.perf_counter() - t) * 1000)
        kpi_days.incident_records(r)  # warm again for the next round's filtered call
    stats = {k: _stats(v) for k, v in timed.items()}
    overall = answer["handling_rate"]["overall"]
    return {
        "data": {"incidents_in_redis": made["new"], "incidents_in_period": answer["incidents"]["n"],
                 "days": o["days"], "fleet_units": o["units"],
                 "closed_days": len(answer["closed_days"]), "populate_s": round(populate_s, 1)},
        "page": stats["district"], "page_filtered": stats["filtered"],
        "page_first_request_in_a_process": stats["first_request"],
        "baseline_raw_reads": stats["raw_reads"],
        "ratio_p95_to_baseline": round(stats["district"]["p95_ms"]
                                       / stats["raw_reads"]["p95_ms"], 2),
        "figures": {"handling_rate": overall["rate"], "received": overall["n"],
                    "response_intervals": answer["response_times"]["intervals"]},
        "targets": {"p95_ms": TARGET_P95_MS,
                    "met": max(stats["district"]["p95_ms"],
                               stats["filtered"]["p95_ms"]) < TARGET_P95_MS},
    }


def main(out: Path, settings: Settings, opts: dict[str, str]) -> None:
    o = _options(opts)
    server = None
    if settings.redis_url:
        r = redis.Redis.from_url(settings.redis_url)
        r.flushdb()
    else:
        server = redis_server(settings.data_dir / "bench" / "kpi-redis")
        r = redis.Redis(port=server.port)
        r.flushall()
    try:
        results = measure(r, o)
        info = r.info("server")
    finally:
        r.close()
        if server is not None:
            server.stop()
    doc = {"benchmark": "kpi", "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "options": o, "results": results,
           "versions": {"python": platform.python_version(),
                        "redis_server": info.get("redis_version"),
                        "redis_py": metadata.version("redis"),
                        "pandas": metadata.version("pandas")},
           "host": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    p = results["page"]
    print(f"KPI page over {results['data']['incidents_in_period']:,} incidents and "
          f"{o['days']} days: p50 {p['p50_ms']} ms, p95 {p['p95_ms']} ms (target < "
          f"{TARGET_P95_MS:.0f}); raw reads p95 {results['baseline_raw_reads']['p95_ms']} ms; "
          f"report: {out}")
