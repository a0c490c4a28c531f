"""`python run.py bench field [--out FILE] [phones=50 tasks=60 actions=60 seed=1]`

The officer's phone, end to end, as deployed: Redis, mosquitto, `python run.py ingest` and
`python run.py web` (gunicorn), and `phones` officers each signed in with the field app's task
stream open (`/_stream/field`), each bound to an available unit of the roster.

- **Task to phone**: a duty chief assigns one of the units an incident (`assign_units`, as the
  dispatch page does); timed until that officer's stream delivers the task. Assignments come at
  random moments (the stream wakes once a second, so the phase matters). Baseline in the same
  run: the assignment readable in Redis (`unit:{u}:task`), by a 2 ms poll.
- **Action applied**: a phone sends "en route" (`POST /api/v1/field/task`, its session and
  idempotency key); timed until the incident is en route (the web app hands it to the worker
  through the inbox). Baseline in the same run: the same report appended to the inbox
  directly (what the embedded broker does for an MQTT message), until applied.

Reported: p50/p95/max of each, their baselines and ratios, the phones' streams lost, the web
app's CPU over the window, and `targets` (task on the phone p95 < 2 s; action applied p95 < 2 s;
nothing lost). Unless REDIS_URL/MQTT_URL are set, fresh servers run under DATA_DIR/bench.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import psutil
import requests

from bench.common import Servers, host_load, ratio, report_header, server_versions, subscriber
from bench.map import web_app
from bench.map_http import WebClient
from bench.redis_bench import stats
from config.settings import Settings
from domain.clock import system_ms
from ingest import units as unit_handlers
from ingest.context import HandlerContext
from services import accounts
from services import incidents as incident_service
from services.context import build
from services.incidents import Assignment, NewIncident
from store import devices, keys
from store.writer import LiveStore

DEFAULTS = {"phones": 50, "tasks": 60, "actions": 60, "seed": 1}
TARGET_MS = 2000.0
PASSWORD = "bench-officer-password"
WAIT_S = 15.0
NANAO = (114.5405, 22.5205)


class Phone(threading.Thread):
    """One officer's task stream: when each incident first reached it."""

    def __init__(self, client: WebClient) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.seen: dict[str, float] = {}
        self.opened = threading.Event()
        self.done = threading.Event()
        self.error = ""

    def run(self) -> None:
        try:
            with self.client.s.get(
                f"{self.client.base}/_stream/field", stream=True, timeout=60
            ) as resp:
                self.opened.set()
                for line in resp.iter_lines():
                    if self.done.is_set():
                        return
                    if line.startswith(b"data: {"):
                        task = orjson.loads(line[6:]).get("task") or {}
                        if task.get("incident_id"):
                            self.seen.setdefault(task["incident_id"], time.monotonic())
        except (requests.RequestException, ValueError) as e:
            if not self.done.is_set():
                self.error = repr(e)[:200]


def _units(r: Any, n: int, rng: random.Random) -> list[str]:
    """n available foot units near 南澳, each in the roster with an officer bound to it."""
    store, now = LiveStore(r, 3_600_000, 1000), system_ms()
    ctx, ops, ids = HandlerContext(received_ms=now), [], []
    for i in range(n):
        uid = f"F-{i:03d}"
        devices.add(r, uid, "unit", now, source="bench")
        profile = {"unit_id": uid, "ts": now, "name": uid, "department": "eco_environment",
                   "kind": "foot", "level": "community"}  # fmt: skip
        lon, lat = NANAO[0] + rng.uniform(-0.01, 0.01), NANAO[1] + rng.uniform(-0.01, 0.01)
        position = {"unit_id": uid, "seq": 1, "ts": now, "lat": lat, "lon": lon,
                    "status": "available"}  # fmt: skip
        ops += unit_handlers.handle_profile(uid, orjson.dumps(profile), ctx)
        ops += unit_handlers.handle_position(uid, orjson.dumps(position), ctx)
        accounts.add_user(r, f"officer{i}", "officer", PASSWORD, unit=uid)
        ids.append(uid)
    store.write(ops, now)
    return ids


def _until(check: Any, timeout: float = WAIT_S, every: float = 0.002) -> float | None:
    """Seconds until `check()` holds (None: it did not within `timeout`)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        time.sleep(every)
    return None


def _incident(ctx: Any, rng: random.Random) -> str:
    body = NewIncident(
        type="waste_dumping",
        lat=NANAO[1] + rng.uniform(-0.005, 0.005),
        lon=NANAO[0] + rng.uniform(-0.005, 0.005),
    )
    return incident_service.open_incident(ctx, body, "bench-chief")["id"]


def _tasks(ctx: Any, phones: list[Phone], units: list[str], rng: random.Random):
    """One assignment per unit: (task-to-phone ms, baseline ms, lost, incident per unit)."""
    to_phone, floor, lost, assigned = [], [], 0, []
    for phone, unit in zip(phones, units, strict=True):
        incident_id = _incident(ctx, rng)
        time.sleep(rng.uniform(0, 1.0))  # a random phase against the stream's wake
        t0 = time.monotonic()
        incident_service.assign_units(ctx, incident_id, Assignment(units=[unit]), "bench-chief")
        in_redis = _until(lambda: ctx.redis.hget(keys.unit_task(unit), "incident"))  # noqa: B023
        if _until(lambda: incident_id in phone.seen, every=0.005) is None:  # noqa: B023
            lost += 1
        else:
            to_phone.append((phone.seen[incident_id] - t0) * 1000)
        if in_redis is not None:
            floor.append(in_redis * 1000)
        assigned.append(incident_id)
    return to_phone, floor, lost, assigned


def _report(unit: str, incident_id: str) -> bytes:
    doc = {"unit_id": unit, "incident_id": incident_id, "action": "ack", "seq": 1,
           "ts": system_ms(), "note": ""}  # fmt: skip
    return orjson.dumps(doc)


def _en_route(ctx: Any, incident_id: str) -> float | None:
    return _until(lambda: ctx.redis.hget(keys.incident(incident_id), "state") == b"en_route")


def _send(c: WebClient, body: bytes) -> None:
    headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex,
               "X-CSRFToken": c.s.cookies.get("_csrf_token") or ""}  # fmt: skip
    c.s.post(
        f"{c.base}/api/v1/field/task", data=body, headers=headers, timeout=30
    ).raise_for_status()


def _actions(ctx: Any, clients: list[WebClient], units: list[str], assigned: list[str]):
    """Each unit reports "en route" on its task, alternately through the field API and straight
    into the inbox (the baseline), so both see the same load: (via web ms, direct ms, lost)."""
    via_web, direct, lost = [], [], 0
    prefix = ctx.settings.topic_prefix
    for k, (c, unit, incident_id) in enumerate(zip(clients, units, assigned, strict=True)):
        body = _report(unit, incident_id)
        t0 = time.monotonic()
        if k % 2 == 0:
            _send(c, body)
        else:
            entry = {
                "t": f"{prefix}/units/{unit}/task",
                "p": body,
                "by": "bench",
                "ms": system_ms(),
            }
            ctx.redis.xadd(keys.INGEST_INBOX, entry)
        if _en_route(ctx, incident_id) is None:
            lost += 1
            continue
        (via_web if k % 2 == 0 else direct).append((time.monotonic() - t0) * 1000)
    return via_web, direct, lost


def _sign_in(base: str, n: int) -> list[WebClient]:
    def one(i: int) -> WebClient:
        client = WebClient(base)
        client.sign_in(f"officer{i}", PASSWORD)
        return client

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(n)))


def _cpu(pid: int) -> float:
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return sum(sum(p.cpu_times()[:2]) for p in procs if p.is_running())


def measure(settings: Settings, servers: Servers, base: str, web_pid: int, o: dict[str, int]):
    rng = random.Random(o["seed"])
    ctx = build(settings.model_copy(update={"redis_url": servers.redis_url}))
    units = _units(servers.r, o["phones"], rng)
    clients = _sign_in(base, o["phones"])
    phones = [Phone(c) for c in clients]
    for p in phones:
        p.start()
    opened = sum(p.opened.wait(30) for p in phones)
    n = min(o["tasks"], o["phones"])
    cpu0, t0 = _cpu(web_pid), time.monotonic()
    to_phone, floor, lost_tasks, assigned = _tasks(ctx, phones[:n], units[:n], rng)
    via_web, direct, lost_actions = _actions(ctx, clients[:n], units[:n], assigned)
    web_cores = (_cpu(web_pid) - cpu0) / (time.monotonic() - t0)
    for p in phones:
        p.done.set()
    task, task_floor = stats(to_phone), stats(floor)
    action, action_floor = stats(via_web), stats(direct)
    lost = lost_tasks + lost_actions + sum(1 for p in phones if p.error)
    return {
        "phones": o["phones"],
        "streams_opened": opened,
        "task_to_phone": task,
        "baseline_assignment_in_redis": task_floor,
        "ratio_task_p95_to_baseline": ratio(task["p95_ms"], task_floor["p95_ms"]),
        "action_applied_via_field_api": action,
        "baseline_action_applied_via_inbox": action_floor,
        "ratio_action_p95_to_baseline": ratio(action["p95_ms"], action_floor["p95_ms"]),
        "lost": lost,
        "stream_errors": [p.error for p in phones if p.error][:5],
        "web_cores_during_window": round(web_cores, 3),
        "summary": {
            "task_to_phone_p95_ms": task["p95_ms"],
            "action_applied_p95_ms": action["p95_ms"],
        },
        "targets": {
            "task_to_phone_p95_under_2s": task["p95_ms"] < TARGET_MS,
            "action_applied_p95_under_2s": action["p95_ms"] < TARGET_MS,
            "nothing_lost": lost == 0 and opened == o["phones"],
        },
    }


def main(out: Path, settings: Settings, opts: dict[str, str]) -> None:
    o = {k: int(opts.get(k, v)) for k, v in DEFAULTS.items()}
    unknown = set(opts) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    load, work = host_load(), settings.data_dir / "bench" / "field-run"
    work.mkdir(parents=True, exist_ok=True)
    with (
        Servers(settings, work, "servers") as servers,
        subscriber("worker", servers, settings, work / "worker.log"),
        web_app(servers, settings, work / "web", work / "web.log") as (base, web),
    ):
        results = measure(settings, servers, base, web.pid, o)
        versions = server_versions(servers)
    doc = {**report_header("field", load), "options": o, **results, "versions": versions}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    t, a = results["task_to_phone"], results["action_applied_via_field_api"]
    print(
        f"field app, {o['phones']} phones: task on the phone p50 {t['p50_ms']} ms, p95 "
        f"{t['p95_ms']} ms (in Redis p95 {results['baseline_assignment_in_redis']['p95_ms']} ms); "
        f"action applied p50 {a['p50_ms']} ms, p95 {a['p95_ms']} ms (straight into the inbox "
        f"p95 {results['baseline_action_applied_via_inbox']['p95_ms']} ms); lost "
        f"{results['lost']}; targets: {results['targets']}; report: {out}"
    )
