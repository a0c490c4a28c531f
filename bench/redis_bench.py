"""The frame of the benchmarks that need only Redis (dispatch, coverage, kpi): their options, a
fresh Redis (or REDIS_URL's database, flushed), and the JSON report with versions and host."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import statistics
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
import redis

from config.settings import Settings
from embedded.processes import redis_server

Number = int | float


def options(
    opts: dict[str, str],
    defaults: dict[str, Number],
    may_be_zero: tuple[str, ...] = (),
    fractional: tuple[str, ...] = (),
) -> dict[str, Number]:
    """KEY=VALUE options over the defaults: known keys, finite numbers, positive unless named
    in may_be_zero, whole unless named in fractional; whole numbers come back as int (the
    report shows 120, not 120.0)."""
    unknown = set(opts) - set(defaults)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; known: {sorted(defaults)}")
    out = dict(defaults)
    for k, v in opts.items():
        try:
            f = float(v)
            if not math.isfinite(f):
                raise ValueError
        except ValueError:
            raise ValueError(f"option {k} must be a number, not {v!r}") from None
        if f <= 0 and k not in may_be_zero:
            raise ValueError(f"option {k} must be positive")
        if not f.is_integer() and k not in fractional:
            raise ValueError(f"option {k} must be a whole number")
        out[k] = int(f) if f.is_integer() else f
    return out


def stats(ms: list[float], digits: int = 2) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return {
        "p50_ms": round(q[49], digits),
        "p95_ms": round(q[94], digits),
        "max_ms": round(max(ms), digits),
        "runs": len(ms),
    }


def run(
    name: str,
    out: Path,
    settings: Settings,
    o: dict[str, Number],
    measure: Callable[[redis.Redis, dict[str, Number]], dict[str, Any]],
    packages: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Measure on a fresh Redis and write the report; returns its results."""
    load = [round(x, 2) for x in os.getloadavg()]
    server = None
    if settings.redis_url:
        r = redis.Redis.from_url(settings.redis_url)
        r.flushdb()
    else:
        server = redis_server(settings.data_dir / "bench" / f"{name}-redis")
        r = redis.Redis(port=server.port)
        r.flushall()
    try:
        results = measure(r, o)
        info = r.info("server")
    finally:
        r.close()
        if server is not None:
            server.stop()
    doc = {
        "benchmark": name,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "options": o,
        "results": results,
        "versions": {
            "python": platform.python_version(),
            "redis_server": info.get("redis_version"),
            "redis_py": metadata.version("redis"),
            **{p: metadata.version(p) for p in packages},
        },
        "host": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_at_start": load,
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return results
