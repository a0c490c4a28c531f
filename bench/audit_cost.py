"""What the audit log costs (issue 13), measured inside `bench dispatch`:

* the duty chief's acts (open an incident, triage it, assign the nearest unit, add a note),
  each through its service function as the API calls it, alternately with the audit log on and
  with `store.audit.append` replaced by a no-op: the difference of the medians is the log's
  cost per act, in the same run, on the same Redis;
* one append alone (read the head, seal, compare-and-set script) against the raw baseline of
  writing the same entry with one RPUSH.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from bench import redis_bench
from config.settings import Settings
from domain import audit
from domain.clock import system_ms
from domain.coverage_places import load_coverage
from domain.geo import Geography
from domain.incidents import DispatchRules, IncidentType
from domain.travel import TravelModel
from services import incidents
from services.context import AppContext
from store import audit as audit_log

ACTS = ("open", "triage", "assign", "note")


@contextlib.contextmanager
def _audit_off(off: bool) -> Iterator[None]:
    real = audit_log.append
    if off:
        audit_log.append = lambda *_a, **_k: {}  # type: ignore[assignment]
    try:
        yield
    finally:
        audit_log.append = real


def _one_incident(ctx: AppContext, rng: random.Random, times: dict[str, list[float]]) -> None:
    lon, lat = ctx.geo.random_land_point(rng)
    body = incidents.NewIncident(type=IncidentType.ILLEGAL_LOGGING, lon=lon, lat=lat)
    t = time.perf_counter()
    incident_id = incidents.open_incident(ctx, body, "bench-chief")["id"]
    times["open"].append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    incidents.move(ctx, incident_id, incidents.Move(to="triaged"), "bench-chief")
    times["triage"].append((time.perf_counter() - t) * 1000)
    free = incidents.candidates(ctx, incident_id)  # not timed: bench dispatch's own figure
    if free:
        t = time.perf_counter()
        assignment = incidents.Assignment(units=[free[0]["unit_id"]])
        incidents.assign_units(ctx, incident_id, assignment, "bench-chief")
        times["assign"].append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    incidents.add_note(ctx, incident_id, incidents.Note(text="现场核实"), "bench-chief")
    times["note"].append((time.perf_counter() - t) * 1000)


def _median(ms: list[float]) -> float:
    return round(statistics.median(ms), 3) if ms else 0.0


def dispatch_acts(
    r: redis.Redis,
    geo: Geography,
    travel: TravelModel,
    rules: DispatchRules,
    n: int,
    rng: random.Random,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), _env_file=None)
        ctx = AppContext(settings, r, geo, travel, load_coverage(), rules, system_ms)
        on: dict[str, list[float]] = {a: [] for a in ACTS}
        off: dict[str, list[float]] = {a: [] for a in ACTS}
        for i in range(2 * n):  # alternated, so both see the same load and the same Redis
            with _audit_off(i % 2 == 1):
                _one_incident(ctx, rng, off if i % 2 else on)
    per_act = {
        a: {
            "with_audit": redis_bench.stats(on[a]),
            "without_audit": redis_bench.stats(off[a]),
            "audit_cost_ms_median": round(_median(on[a]) - _median(off[a]), 3),
        }
        for a in ACTS
        if on[a] and off[a]
    }
    total_on = sum(_median(on[a]) for a in per_act)
    total_off = sum(_median(off[a]) for a in per_act)
    return {
        "incidents_each_way": n,
        "acts": per_act,
        "four_acts_median_ms": {"with_audit": round(total_on, 3), "without": round(total_off, 3)},
        "ratio_with_to_without": round(total_on / total_off, 3) if total_off else None,
        "entries_written": audit_log.head(r, audit.Chain.RECORD.value).seq,
    }


def append_cost(r: redis.Redis, n: int) -> dict[str, Any]:
    """One append against one RPUSH of the same entry (the least a durable list write costs)."""
    appended, raw = [], []
    for i in range(n):
        change = {"i": i, "to": "assigned"}
        t = time.perf_counter()
        entry = audit_log.append(r, "user:bench", "incident.moved", f"incident:B{i}", change, 1)
        appended.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        r.rpush("bench:audit:raw", audit.canonical(entry))
        raw.append((time.perf_counter() - t) * 1000)
    a, b = redis_bench.stats(appended, 3), redis_bench.stats(raw, 3)
    return {"append": a, "baseline_rpush": b, "ratio_p50": round(a["p50_ms"] / b["p50_ms"], 2)}
