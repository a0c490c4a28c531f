"""The map benchmark's long run of the wall screen: the wall page (`/?wall=1`), past its warm-up
and its measuring window, stays open with the picture moving for `heap_minutes`, its JS heap
sampled every 15 s (more often in a short run: at least 21 samples) by
bench/map_browser.heap_mb (used heap after a garbage collection forced over the DevTools
protocol). A least-squares line over the samples in the last 80 % of the run (the last 8 of 10
minutes: the first 20 % is left to settle) gives the heap's slope; its rise over that span
(slope x span) is the growth figure. Each sample also counts the markers redrawn since the
previous one, to show the picture really moved on the page meanwhile.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

from bench import map_browser as browser
from bench.map_traffic import Mover

EVERY_S = 15.0  # the longest gap between two samples
MIN_SAMPLES = 20  # a short run samples more often to get at least this many
FIT_FROM = 0.2  # the fit covers the run from this fraction of it on

REDRAWN_JS = """
var m = window.ecocommand && window.ecocommand.map;
if (!m || !m.drawn) { return [null, Date.now()]; }
var n = 0, since = arguments[0];
for (var k in m.drawn) { if (m.drawn[k].t > since) { n++; } }
return [n, Date.now()];
"""


def intervals(minutes: float) -> int:
    """How many gaps the run is sampled over: one every EVERY_S at most, MIN_SAMPLES at least."""
    return max(MIN_SAMPLES, math.ceil(minutes * 60 / EVERY_S))


def fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Least-squares line (slope, intercept) through (t, y) points; None under two times."""
    n = len(points)
    if n < 2:
        return None
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var <= 0:
        return None
    slope = sum((t - mt) * (y - my) for t, y in points) / var
    return slope, my - slope * mt


def growth(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The line over the samples in the last (1 - FIT_FROM) of the run, and its rise."""
    end = samples[-1]["t_s"] if samples else 0.0
    start = FIT_FROM * end
    points = [(s["t_s"], s["mb"]) for s in samples if s["t_s"] >= start]
    line = fit(points)
    out: dict[str, Any] = {"from_s": round(start, 1), "to_s": end, "samples": len(points)}
    if line is None:
        return out | {"slope_mb_per_min": None, "rise_mb": None}
    steps = [b - a for (_, a), (_, b) in itertools.pairwise(points)]
    return out | {
        "slope_mb_per_min": round(line[0] * 60, 4),
        "rise_mb": round(line[0] * (end - start), 3),
        # one release or allocation this large between two samples can carry the whole line
        "largest_step_mb": round(max(steps, key=abs, default=0.0), 3),
    }


def run(driver: Any, minutes: float, mover: Mover) -> dict[str, Any]:
    """Samples the open page's heap for `minutes`, the mover running."""
    n = intervals(minutes)
    since = driver.execute_script(REDRAWN_JS, 0)[1]
    samples: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for i in range(n + 1):
        time.sleep(max(0.0, t0 + i * minutes * 60 / n - time.monotonic()))
        mover.check()
        at = time.monotonic() - t0
        mb = browser.heap_mb(driver)
        redrawn, since = driver.execute_script(REDRAWN_JS, since)
        samples.append({"t_s": round(at, 1), "mb": round(mb, 3), "redrawn": redrawn})
    mbs = [s["mb"] for s in samples]
    moved = [s["redrawn"] for s in samples[1:] if s["redrawn"] is not None]
    return {
        "minutes": minutes,
        "every_s": round(minutes * 60 / n, 1),
        "samples": samples,
        "start_mb": mbs[0],
        "end_mb": mbs[-1],
        "min_mb": min(mbs),
        "max_mb": max(mbs),
        "redrawn_min": min(moved, default=None),
        "fit": growth(samples),
    }
