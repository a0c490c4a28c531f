"""The map benchmark's browser side: headless Chromium through chromedriver (as the browser tests
drive it), signed in through the form, with a script injected before any page script runs that

* keeps a PerformanceObserver on 'longtask' (blocking = sum of (duration - 50 ms): Total
  Blocking Time's definition), and
* records every POST to /_dash-update-component (its `output`, start, end, status, length), so
  the page's real poll interval and how many polls brought new data are known (Dash answers
  "nothing changed" with 200 and an empty response: a poll brought data when its answer is longer
  than that).

Main-thread busy time comes from a Chrome trace of the window, taken over the DevTools protocol
on the page's own target (chromedriver's debuggerAddress): Tracing.start/end around exactly the
window, categories `toplevel` and `disabled-by-default-devtools.timeline`; busy = union of the
top-level task events on the page renderer's main thread (CrRendererMain): `RunTask` (what
DevTools' performance panel counts) and, in case a build lacks it, `toplevel`'s
`ThreadControllerImpl::RunTask` and `BlinkScheduler_PerformMicrotaskCheckpoint` (the task that runs
the page's script after a fetch answers is only the latter in `toplevel`).

Where a marker is drawn is read from `window.ecocommand.map.drawn[id] = {lat, lng, t}`
(assets/map.js): the position each marker was last drawn at and when (Date.now()).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1920,1080",
    # a hidden or occluded headless page must not be throttled: it is the wall
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
TRACE_CATEGORIES = ["toplevel", "disabled-by-default-devtools.timeline"]
TASK_NAMES = frozenset(
    {"RunTask", "ThreadControllerImpl::RunTask", "BlinkScheduler_PerformMicrotaskCheckpoint"}
)
LONG_TASK_MS = 50.0

HOOK_JS = """
(function () {
  var b = window.__bench = {longtasks: [], calls: [], observer: null};
  try {
    new PerformanceObserver(function (list) {
      list.getEntries().forEach(function (e) { b.longtasks.push([e.startTime, e.duration]); });
    }).observe({type: 'longtask', buffered: true});
    b.observer = 'longtask';
  } catch (e) { b.observer = 'unavailable: ' + e; }
  var original = window.fetch;
  window.fetch = function (input, init) {
    var url = typeof input === 'string' ? input : (input && input.url) || '';
    if (url.indexOf('_dash-update-component') < 0) { return original.apply(this, arguments); }
    var rec = {t0: performance.now(), output: ''};
    try { rec.output = JSON.parse(init.body).output; } catch (e) { /* not ours to judge */ }
    b.calls.push(rec);
    return original.apply(this, arguments).then(function (r) {
      rec.t1 = performance.now(); rec.status = r.status;
      var n = parseInt(r.headers.get('content-length'), 10);
      rec.bytes = isNaN(n) ? null : n;
      return r;
    }, function (e) { rec.t1 = performance.now(); rec.status = 0; throw e; });
  };
})();
"""


def start(profile: Path) -> Any:
    """A chromedriver session with the hook installed for every document."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise RuntimeError(
            "the map benchmark drives Chromium through selenium: "
            "pip install -e '.[test]' (or selenium>=4.20)"
        ) from None
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            raise RuntimeError(f"{path} not found: apt-get install chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in [*CHROME_FLAGS, f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(30)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK_JS})
    return driver


def versions(driver: Any) -> dict[str, str | None]:
    caps = driver.capabilities
    chromedriver = (caps.get("chrome") or {}).get("chromedriverVersion", "")
    return {
        "chromium": caps.get("browserVersion"),
        "chromedriver": chromedriver.split(" ")[0] or None,
    }


def wait_for(predicate: Any, timeout: float, what: str, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


def sign_in(driver: Any, base: str, name: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/")
    wait_for(lambda: "/login" in driver.current_url, 30, "the sign-in form")
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: "/login" not in driver.current_url, 30, "the map page after signing in")


def missing(driver: Any, ids: list[str]) -> int:
    """How many of ids have no marker drawn (-1: the map's script is not there yet)."""
    return driver.execute_script(
        "var m = window.ecocommand && window.ecocommand.map;"
        "if (!m || !m.drawn) { return -1; }"
        "var d = m.drawn; return arguments[0].filter(function (i) { return !(i in d); }).length;",
        ids,
    )


def open_page(driver: Any, url: str, ids: list[str], timeout: float) -> float:
    """Opens url and waits until every id is drawn; returns the seconds that took."""
    t0 = time.monotonic()
    driver.get(url)
    wait_for(
        lambda: missing(driver, ids) == 0, timeout, f"{len(ids)} markers drawn at {url}", step=0.25
    )
    return time.monotonic() - t0


def drawn(driver: Any, ident: str) -> dict[str, float] | None:
    return driver.execute_script(
        "var m = window.ecocommand && window.ecocommand.map;"
        "return m && m.drawn[arguments[0]] || null;",
        ident,
    )


def heap_mb(driver: Any) -> float:
    """Used JS heap after a forced garbage collection, in MB."""
    driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    return driver.execute_cdp_cmd("Runtime.getHeapUsage", {})["usedSize"] / 2**20


def severe_console(driver: Any) -> list[str]:
    with contextlib.suppress(Exception):
        return [
            e["message"][:300]
            for e in driver.get_log("browser")
            if e["level"] == "SEVERE" or "Content Security Policy" in e["message"]
        ]
    return []


# --- the trace --------------------------------------------------------------------------------


class Tracer:
    """A Chrome trace of the page over the DevTools protocol (its own websocket to the page
    target, beside chromedriver's)."""

    def __init__(self, driver: Any) -> None:
        import websocket  # websocket-client: a dependency of selenium

        addr = driver.capabilities["goog:chromeOptions"]["debuggerAddress"]
        with urllib.request.urlopen(f"http://{addr}/json", timeout=10) as resp:
            targets = json.load(resp)
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            raise RuntimeError("no page target to trace")
        self.ws = websocket.create_connection(
            pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self.events: list[dict[str, Any]] = []
        self.done = threading.Event()
        self.error: str | None = None
        self._reader: threading.Thread | None = None

    def _call(self, ident: int, method: str, params: dict[str, Any]) -> None:
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))

    def start(self) -> None:
        self._call(
            1,
            "Tracing.start",
            {
                "traceConfig": {
                    "includedCategories": TRACE_CATEGORIES,
                    "excludedCategories": ["*"],
                    "recordMode": "recordAsMuchAsPossible",
                },
                "transferMode": "ReportEvents",
            },
        )
        reply = json.loads(self.ws.recv())
        if "error" in reply:
            raise RuntimeError(f"Tracing.start: {reply['error']}")
        # Nothing arrives until Tracing.end: the reader waits as long as the window lasts
        # (stop() bounds the wait for the data instead).
        self.ws.settimeout(None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                m = json.loads(self.ws.recv())
                if m.get("method") == "Tracing.dataCollected":
                    self.events += m["params"]["value"]
                elif m.get("method") == "Tracing.tracingComplete":
                    return
                elif "error" in m:
                    self.error = str(m["error"])
                    return
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.done.set()

    def stop(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        self._call(2, "Tracing.end", {})
        if not self.done.wait(timeout):
            self.error = self.error or f"trace not complete after {timeout:g} s"
        with contextlib.suppress(Exception):
            self.ws.close()
        if self.error:
            raise RuntimeError(self.error)
        return self.events


def _renderer_main(events: list[dict[str, Any]]) -> tuple[int, int] | None:
    """(pid, tid) of the traced page's renderer main thread."""
    names = {
        (e["pid"], e["tid"]): e.get("args", {}).get("name")
        for e in events
        if e.get("ph") == "M" and e.get("name") == "thread_name"
    }
    pids: list[int] = []
    for e in events:
        if e.get("name") == "TracingStartedInBrowser":
            frames = e.get("args", {}).get("data", {}).get("frames", [])
            pids += [
                f["processId"] for f in frames if f.get("isOutermostMainFrame") and "processId" in f
            ]
    for pid in pids:
        for (p, tid), name in names.items():
            if p == pid and name == "CrRendererMain":
                return p, tid
        return pid, pid  # Linux: a process's main thread id is its pid
    mains = [k for k, v in names.items() if v == "CrRendererMain"]
    return mains[0] if len(mains) == 1 else None


def busy(events: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Main-thread busy time (union of top-level tasks) and blocking time (sum over tasks of
    duration - 50 ms) of the page's renderer, per second of the window."""
    main = _renderer_main(events)
    if main is None:
        raise RuntimeError("the page's renderer main thread is not in the trace")
    spans: list[tuple[float, float]] = []
    for e in events:
        if (
            e.get("ph") == "X"
            and e.get("name") in TASK_NAMES
            and (e["pid"], e["tid"]) == main
            and "dur" in e
        ):
            spans.append((e["ts"] / 1000, (e["ts"] + e["dur"]) / 1000))
    merged: list[list[float]] = []  # nested and duplicate events count once
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    durations = [b - a for a, b in merged]
    total = sum(durations)
    blocking = sum(d - LONG_TASK_MS for d in durations if d > LONG_TASK_MS)
    return {
        "tasks": len(durations),
        "busy_ms_per_s": round(total / seconds, 1),
        "blocking_ms_per_s": round(blocking / seconds, 1),
        "long_tasks": sum(d > LONG_TASK_MS for d in durations),
        "longest_task_ms": round(max(durations, default=0.0), 1),
        "events": len(events),
    }


# --- a measuring window ---------------------------------------------------------------------


def live_stats(driver: Any) -> dict[str, dict[str, float]]:
    """assets/live.js's own count of its main-thread time: per kind (draw, update, picture)."""
    got = driver.execute_script(
        "var l = window.ecocommand && window.ecocommand.map && window.ecocommand.map.live;"
        "return l && l.stats ? JSON.parse(JSON.stringify(l.stats)) : {};"
    )
    return got if isinstance(got, dict) else {}


def window(
    driver: Any, seconds: float, refresh_output: str, nochange_bytes: int, trace: bool = True
) -> dict[str, Any]:
    """`seconds` of the open page: long tasks, the trace, and the refresh callback's polls (an
    update: an answer longer than the `nochange_bytes` of a "nothing changed" one)."""
    n_calls = driver.execute_script("return window.__bench.calls.length")
    live_before = live_stats(driver)
    tracer, trace_error = None, None
    if trace:
        try:
            tracer = Tracer(driver)
            tracer.start()
        except Exception as e:
            tracer, trace_error = None, f"{type(e).__name__}: {e}"
    t0 = driver.execute_script("return performance.now()")
    time.sleep(seconds)
    t1 = driver.execute_script("return performance.now()")
    live_after = live_stats(driver)
    events: list[dict[str, Any]] = []
    if tracer is not None:
        try:
            events = tracer.stop()
        except Exception as e:
            trace_error = f"{type(e).__name__}: {e}"
    got = driver.execute_script(
        "var b = window.__bench;"
        "return {observer: b.observer, calls: b.calls.slice(arguments[0]),"
        "        longtasks: b.longtasks};",
        n_calls,
    )
    span = (t1 - t0) / 1000
    long_tasks = [d for s, d in got["longtasks"] if t0 <= s < t1]
    polls = [c for c in got["calls"] if c.get("output") == refresh_output and t0 <= c["t0"] < t1]
    updates = [
        c
        for c in polls
        if c.get("status") == 200 and (c.get("bytes") is None or c["bytes"] > nochange_bytes)
    ]
    blocking = sum(d - LONG_TASK_MS for d in long_tasks if d > LONG_TASK_MS)
    out: dict[str, Any] = {
        "seconds": round(span, 2),
        "polls": len(polls),
        "updates": len(updates),
        "updates_per_s": round(len(updates) / span, 2),
        "poll_request_ms_p50": _median([c["t1"] - c["t0"] for c in updates if "t1" in c]),
        "longtask": {
            "observer": got["observer"],
            "count": len(long_tasks),
            "blocking_ms_per_s": round(blocking / span, 1),
            "busy_ms_per_s": round(sum(long_tasks) / span, 1),
            "longest_ms": round(max(long_tasks, default=0.0), 1),
        },
    }
    out["live"] = {
        kind: {
            "count": n,
            "ms_per_s": round((s["ms"] - live_before.get(kind, {}).get("ms", 0.0)) / span, 1),
            "longest_ms_ever": round(s["max"], 1),
        }
        for kind, s in live_after.items()
        if (n := s["n"] - live_before.get(kind, {}).get("n", 0))
    }
    if updates:
        out["longtask"]["blocking_ms_per_update"] = round(blocking / len(updates), 1)
    if trace_error is None and tracer is not None:
        try:
            out["trace"] = busy(events, span)
        except Exception as e:
            trace_error = f"{type(e).__name__}: {e}"
    if trace_error is not None:
        out["trace"] = {"error": trace_error}
    return out


def poll_interval_ms(driver: Any, refresh_output: str) -> float | None:
    """The page's poll interval as observed: the median gap between refresh callback calls."""
    starts = [
        c["t0"]
        for c in driver.execute_script("return window.__bench.calls")
        if c.get("output") == refresh_output
    ]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    return _median(gaps)


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[len(v) // 2], 1)
