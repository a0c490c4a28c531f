"""The map benchmark's JSON report and its printed summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil

from bench.common import ratio, report_header

# the live-picture issue's goals, at 5,000 units + 3,000 vessels + 200 sensors
TARGET_UPDATE_SERVER_MS = 20.0
TARGET_BYTES_PER_S = 100_000
TARGET_BLOCKING_MS_PER_S = 100.0
TARGET_PIXEL_MS = 1000.0
TARGET_HEAP_GROWTH_MB = 2.0
TARGET_WEB_CORES = 1.0  # the whole web app (gunicorn master + workers) ...
TARGET_PAGES = 50  # ... serving this many map pages at once
TARGET_HEAP_MINUTES = 10.0  # the wall screen's run the heap target is about
IDLE_FLOOR_MS_PER_S = 1.0  # an idle figure below this makes a ratio meaningless: null

NOTES = [
    "callback times are request times of a requests.Session on loopback (server work + HTTP); "
    "the baseline runs in the measuring process",
    "blocking = sum over long tasks of (duration - 50 ms) per second of the window "
    "(PerformanceObserver 'longtask'); busy = union of the top-level task events of the page's "
    "renderer main thread in a Chrome trace of the same window (trace.blocking_ms_per_s: the "
    "same sum over its tasks); both are measured while the trace runs",
    "browser.*.active.live = assets/live.js's own main-thread time in the window, per kind: "
    "draw (the board, once per animation frame at most), update (applying a pushed update), "
    "picture (a whole picture)",
    "blocking_ms_per_s_at_1_update_s = the larger of the two pages' blocking per second while "
    "the mover moves the picture once a second (units, vessels and sensors are pushed; the "
    "page still polls counts, alerts and incidents)",
    "pushed.feed: the updates the web app published, its one picture builder's "
    "(services/picture_relay.py: one web process builds, every web process relays), read "
    "from the picture stream as a relay reads them; update_ms = from the moment ingest "
    "announced the first change an update carries (its live-changes entry id) to the moment "
    "the builder published it for the relays (its picture-stream entry id), both Redis' clock "
    "on this machine: the wait for the builder, reading the changed entities, making the "
    "change, serialising and publishing (update_cpu_ms: the builder's CPU time for it, as it "
    "recorded it; update_features: records changed per update; update_ms_with_overlays: the "
    "updates that carried alerts or incidents, which the picture reads again whole when their "
    "version moved, beside the other updates'); first_picture_ms: a new builder's first "
    "read; baseline_whole_picture_ms = reading and serialising the whole picture, what every "
    "poll did before (the polling path), measured in the same run right after the window (in "
    "it, it would take CPU from what is measured)",
    "pushed.stream.bytes_per_s = what one page's stream carried per second after its whole "
    "picture, with the picture moving once a second (bytes_per_s_at_1_update_s)",
    "pushed.pages: `pages` streams at once, each on a session of its own signed in through "
    "the form, each past its whole picture, read for `seconds` with the picture moving; "
    "web_cores = CPU time (user + system) of the web app's process tree (gunicorn master and "
    "workers) / wall time of that window (cpu_cores: every part, 'bench' being this process "
    "with its readers); in_order = no stream failed and every stream's updates formed one "
    "chain (the first update's since = its picture's seq, then each since = the previous seq; "
    "a later picture event is a reset after a gap, counted in resets); bytes_per_s and "
    "updates per stream as min/median/max",
    "browser.wall_heap: after its window the wall page stays open with the picture moving for "
    "heap_minutes, its heap sampled (after a forced GC) every every_s; wall_heap_growth_mb_10min"
    " = slope x span of a least-squares line over the samples in the last 80 % of that run "
    "(the last 8 of 10 minutes); fit.largest_step_mb = the largest change between two samples "
    "in that span (one step that size can carry the line); redrawn = markers drawn anew since "
    "the previous sample",
    "each page runs warmup_s with the picture moving before its window; heap figures are taken "
    "after forced garbage collections; MB/hour extrapolates one window's growth (noisy over "
    "short windows); page.heap.marks also spans the idle window and the probes",
]


def blocking(w: dict[str, Any]) -> float | None:
    """Blocking ms/s of a window: the long-task figure, else the trace's."""
    lt = w["longtask"]
    if str(lt.get("observer", "")).startswith("longtask"):
        return lt["blocking_ms_per_s"]
    return w.get("trace", {}).get("blocking_ms_per_s")


def pages_figures(
    o: dict[str, Any], pages: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, bool], list[str]]:
    """The room of map pages: summary, target and notes."""
    met = pages["web_cores"] < TARGET_WEB_CORES and pages["in_order"] and pages["all_got_updates"]
    notes = []
    if o["pages"] < TARGET_PAGES:
        met = False
        notes.append(f"pages={o['pages']} < {TARGET_PAGES}: web_under_1_core_at_50_pages is false")
    summary = {
        "web_cores_at_50_pages": pages["web_cores"],
        "pages_in_order": pages["in_order"],
        "pages_bytes_per_s_median": pages["bytes_per_s"]["median"],
        "pages_updates_min": pages["updates"]["min"],
    }
    return summary, {"web_under_1_core_at_50_pages": met}, notes


def heap_figures(
    o: dict[str, Any], heap: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, bool], list[str]]:
    """The wall screen's long run: summary, target and notes."""
    rise = heap["fit"]["rise_mb"]
    met = rise is not None and rise < TARGET_HEAP_GROWTH_MB
    notes = []
    if o["heap_minutes"] < TARGET_HEAP_MINUTES:
        met = False
        notes.append(
            f"heap_minutes={o['heap_minutes']:g} < {TARGET_HEAP_MINUTES:g}: "
            "wall_heap_growth_under_2mb_10min is false"
        )
    if not heap["redrawn_min"]:
        notes.append("the wall page redrew no marker between some heap samples")
    summary = {
        "wall_heap_growth_mb_10min": None if rise is None else round(rise, 2),
        "wall_heap_slope_mb_per_min": heap["fit"]["slope_mb_per_min"],
    }
    return summary, {"wall_heap_growth_under_2mb_10min": met}, notes


def idle_ratio(active: float | None, idle: float | None) -> float | None:
    if active is None or idle is None or idle < IDLE_FLOOR_MS_PER_S:
        return None
    return round(active / idle, 2)


def build(
    options: dict[str, Any],
    settings: Any,
    versions: dict[str, Any],
    persistence: str,
    population: dict[str, Any],
    mover: dict[str, Any],
    callback: dict[str, Any],
    baseline: dict[str, Any],
    pushed: dict[str, Any],
    b: dict[str, Any],
    load_avg: list[float],
    run_seconds: float,
) -> dict[str, Any]:
    page, wall, pixel = b["page"], b["wall"], b["publish_to_pixel"]
    active, idle = page["active"], page["idle"]
    notes = list(NOTES)
    per = [x for x in (blocking(active), blocking(wall["active"])) if x is not None]
    at_1_update_s = max(per) if per else None
    update_ms = pushed["feed"].get("update_ms", {})
    with_overlays = pushed["feed"].get("update_ms_with_overlays", {})
    entities_only = pushed["feed"].get("update_ms_units_vessels_sensors_only", {})
    whole_ms = pushed["feed"].get("baseline_whole_picture_ms", {})
    p2p = pixel["publish_to_pixel_ms"]
    for name, w in (("page", active), ("idle page", idle), ("wall", wall["active"])):
        if "error" in w.get("trace", {}):
            notes.append(
                f"{name}: trace unavailable ({w['trace']['error']}); the long-task "
                "figures stand alone"
            )
    if blocking(idle) is not None and blocking(idle) < IDLE_FLOOR_MS_PER_S:  # type: ignore[operator]
        notes.append(
            "the idle page had (almost) no long tasks: blocking_active_over_idle is "
            "null; busy_active_over_idle (trace) compares the two windows"
        )
    trace = active.get("trace", {})
    pages_s, pages_t, pages_n = pages_figures(options, pushed["pages"])
    heap_s, heap_t, heap_n = heap_figures(options, b["wall_heap"])
    notes += pages_n + heap_n
    return {
        **report_header("map", load_avg, memory_mb=round(psutil.virtual_memory().total / 2**20)),
        "versions": versions,
        "servers": {
            "broker": "given by MQTT_URL" if settings.mqtt_url else "started: mosquitto",
            "redis": ("given by REDIS_URL" if settings.redis_url else "started: embedded Valkey")
            + f"; {persistence}",
            "web": "python run.py web (gunicorn)",
            "ingest": "python run.py ingest",
            "tiles": "MAP_TILES_URL" if settings.map_tiles_url else "none (local basemap)",
        },
        "options": options,
        "population": population,
        "mover": mover,
        "callback": callback,
        "baseline": baseline,
        "pushed": pushed,
        "browser": b,
        "ratio": {
            "callback_p50": ratio(callback["request_ms"]["p50"], baseline["ms"]["p50"]),
            "callback_p95": ratio(callback["request_ms"]["p95"], baseline["ms"]["p95"]),
            "callback_bytes": ratio(callback["bytes"], baseline["bytes"]),
            "blocking_active_over_idle": idle_ratio(blocking(active), blocking(idle)),
            "busy_active_over_idle": idle_ratio(
                trace.get("busy_ms_per_s"), idle.get("trace", {}).get("busy_ms_per_s")
            ),
            "publish_to_pixel_p50_over_poll_interval": ratio(p2p["p50"], page["poll_interval_ms"]),
            "update_server_p95_over_whole_picture_p95": ratio(
                update_ms.get("p95"), whole_ms.get("p95")
            ),
        },
        "summary": {
            "update_server_p95_ms": update_ms.get("p95"),
            "update_server_whole_picture_p95_ms": whole_ms.get("p95"),
            "update_server_with_overlays_p95_ms": with_overlays.get("p95"),
            "update_server_units_vessels_sensors_only_p95_ms": entities_only.get("p95"),
            "bytes_per_s_at_1_update_s": pushed["stream"]["bytes_per_s"],
            "stream_updates_per_s": pushed["stream"]["updates_per_s"],
            "stream_picture_bytes": pushed["stream"]["picture_bytes"],
            **heap_s,
            **pages_s,
            "callback_p50_ms": callback["request_ms"]["p50"],
            "callback_p95_ms": callback["request_ms"]["p95"],
            "callback_bytes": callback["bytes"],
            "callback_bytes_gzip": callback["bytes_gzip"],
            "baseline_p50_ms": baseline["ms"]["p50"],
            "page_updates_per_s": active["updates_per_s"],
            "page_blocking_ms_per_s": blocking(active),
            "page_idle_blocking_ms_per_s": blocking(idle),
            "page_busy_ms_per_s": trace.get("busy_ms_per_s"),
            "page_idle_busy_ms_per_s": idle.get("trace", {}).get("busy_ms_per_s"),
            "wall_updates_per_s": wall["active"]["updates_per_s"],
            "wall_blocking_ms_per_s": blocking(wall["active"]),
            "wall_busy_ms_per_s": wall["active"].get("trace", {}).get("busy_ms_per_s"),
            "blocking_ms_per_s_at_1_update_s": at_1_update_s,
            "publish_to_pixel_p50_ms": p2p["p50"],
            "publish_to_pixel_p95_ms": p2p["p95"],
            "probes_lost": pixel["lost"],
            "page_others_cores": active["cpu_cores"].get("others"),
            "wall_others_cores": wall["active"]["cpu_cores"].get("others"),
            "page_heap_growth_mb": active["heap"]["growth_mb"],
            "page_heap_mb_per_hour": active["heap"]["mb_per_hour"],
            "page_heap_mb_per_hour_over_run": page["heap"]["mb_per_hour_active_start_to_end"],
            "wall_heap_growth_mb": wall["active"]["heap"]["growth_mb"],
            "wall_heap_mb_per_hour": wall["active"]["heap"]["mb_per_hour"],
        },
        "targets": {
            "update_server_p95_under_20ms": update_ms.get("p95") is not None
            and update_ms["p95"] < TARGET_UPDATE_SERVER_MS,
            "bytes_under_100kb_per_s_at_1_update_s": pushed["stream"]["bytes_per_s"]
            < TARGET_BYTES_PER_S,
            "blocking_under_100ms_per_s_at_1_update_s": at_1_update_s is not None
            and at_1_update_s < TARGET_BLOCKING_MS_PER_S,
            "publish_to_pixel_p95_under_1s": p2p["p95"] is not None
            and p2p["p95"] < TARGET_PIXEL_MS,
            **heap_t,
            **pages_t,
            "probes_lost_zero": pixel["lost"] == 0,
        },
        "notes": notes,
        "run_seconds": run_seconds,
    }


def show(report: dict[str, Any], out: Path) -> None:
    o, s, r, t = report["options"], report["summary"], report["ratio"], report["targets"]
    print(
        f"map benchmark: {o['units']} units, {o['vessels']} vessels, {o['sensors']} sensors; "
        f"{report['mover']['messages_per_s']:g} msg/s moving them -> {out}"
    )
    print(
        f"callback   p50 {s['callback_p50_ms']} ms, p95 {s['callback_p95_ms']} ms, "
        f"{s['callback_bytes']:,} B ({s['callback_bytes_gzip']:,} B gzip); raw baseline p50 "
        f"{s['baseline_p50_ms']} ms (x{r['callback_p50']})"
    )
    print(
        f"page /     {s['page_updates_per_s']} updates/s: blocking "
        f"{s['page_blocking_ms_per_s']} ms/s (idle {s['page_idle_blocking_ms_per_s']}), busy "
        f"{s['page_busy_ms_per_s']} ms/s (idle {s['page_idle_busy_ms_per_s']}, "
        f"x{r['busy_active_over_idle']}); heap {s['page_heap_growth_mb']:+} MB in the window; "
        f"other processes {s['page_others_cores']} cores"
    )
    print(
        f"wall       {s['wall_updates_per_s']} updates/s: blocking "
        f"{s['wall_blocking_ms_per_s']} ms/s, busy {s['wall_busy_ms_per_s']} ms/s; heap "
        f"{s['wall_heap_growth_mb']:+} MB in the window; other processes "
        f"{s['wall_others_cores']} cores"
    )
    print(f"blocking at 1 update/s: {s['blocking_ms_per_s_at_1_update_s']} ms/s")
    print(
        f"pushed     update p95 {s['update_server_p95_ms']} ms (whole picture p95 "
        f"{s['update_server_whole_picture_p95_ms']} ms); stream {s['bytes_per_s_at_1_update_s']:,}"
        f" B/s, {s['stream_updates_per_s']} updates/s; picture {s['stream_picture_bytes']:,} B"
    )
    p, h = report["pushed"]["pages"], report["browser"]["wall_heap"]
    print(
        f"pages      {p['opened']}/{p['pages']} streams at once: web app {p['web_cores']} cores "
        f"(gunicorn master + workers); per stream {p['updates_per_s']['median']} updates/s, "
        f"{p['bytes_per_s']['median']:,} B/s (min {p['bytes_per_s']['min']:,}, max "
        f"{p['bytes_per_s']['max']:,}); in order {p['in_order']}, resets {p['resets']}"
    )
    fit = h["fit"]
    print(
        f"wall heap  {h['minutes']:g} min, {len(h['samples'])} samples: "
        f"{h['start_mb']} -> {h['end_mb']} MB; line over the last "
        f"{fit['to_s'] - fit['from_s']:.0f} s: {fit['slope_mb_per_min']} MB/min, rise "
        f"{s['wall_heap_growth_mb_10min']} MB"
    )
    print(
        f"publish->pixel p50 {s['publish_to_pixel_p50_ms']} ms, p95 "
        f"{s['publish_to_pixel_p95_ms']} ms, lost {s['probes_lost']} "
        f"(page polls every {report['browser']['page']['poll_interval_ms']} ms)"
    )
    print("targets: " + ", ".join(f"{k}={v}" for k, v in t.items()))
