"""The replay page (issue 18, acceptance 3) in real headless Chromium: a unit's simulated track
of the last hour, played at x60, moves its marker along the track, and the slider's time is the
track's time (at a point's time the marker is on that point). An incident replays its units and
its timeline events as they happen; operators may replay vessels only. Screenshots at 1920x1080
and 1366x768 in zh and en."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
from pathlib import Path

import orjson
import pytest
import redis
from selenium import webdriver
from selenium.webdriver.common.by import By

from domain.geo import Geography
from domain.incidents import State, Timeline, Transition
from domain.vocab import LOCAL_TZ
from ingest import units as unit_handlers
from ingest.context import HandlerContext
from layouts.replay import Ids
from layouts.shell import Ids as Shell
from simulator.units import UnitFleet
from store import incidents
from store.writer import LiveStore
from tests.helpers import console_errors, page_text, screen, seed_one_of_each, sign_in, wait_for

SHOTS = Path("/tmp")
UNIT = "U-FM-001"  # a patrol boat of the demo fleet
STEP_MS = 30_000


def simulated_last_hour(r: redis.Redis, geo: Geography, now: int) -> list[list[float]]:
    """The boat's patrol over the last hour as the simulator moves it, written as the worker
    writes positions; its points as [ts, lat, lon]."""
    fleet = UnitFleet(geo, random.Random(3), start_ms=now - 3_600_000)
    boat = fleet.by_id[UNIT]
    store, points = LiveStore(r, 24 * 3_600_000, 1000), []
    for seq, ts in enumerate(range(now - 3_570_000, now, STEP_MS)):
        fleet._move(boat, ts)
        fleet._decide(boat, ts)
        lat, lon = round(boat.pos[1], 6), round(boat.pos[0], 6)
        body = {"unit_id": UNIT, "seq": seq, "ts": ts, "lat": lat, "lon": lon}
        ops = unit_handlers.handle_position(UNIT, orjson.dumps(body), HandlerContext(ts))
        store.write(ops, ts)
        points.append([ts, lat, lon])
    return points


def expected(points: list[list[float]], t: float) -> tuple[float, float]:
    if t <= points[0][0]:
        return points[0][1], points[0][2]
    for a, b in itertools.pairwise(points):
        if a[0] <= t <= b[0]:
            f = (t - a[0]) / (b[0] - a[0])
            return a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f
    return points[-1][1], points[-1][2]


def local(ms: float) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


SAMPLE = """
var s = window.ecocommand.replay.state, m = window.ecocommand.replay.markers();
var input = document.querySelector('#replay-slider input');
return {t: s.t, playing: s.playing, slider: input ? Number(input.value) : null,
        min: input ? Number(input.min) : null, max: input ? Number(input.max) : null,
        shown: document.getElementById('replay-time').textContent, marker: m[arguments[0]] || null};
"""


def sample(browser: webdriver.Chrome) -> dict:
    return browser.execute_script(SAMPLE, UNIT)


def offered(browser: webdriver.Chrome) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#replay-choices option'), o => o.value)"
    )


def loaded(browser: webdriver.Chrome) -> bool:
    return bool(
        browser.execute_script("return (window.ecocommand.replay || {state: {}}).state.loaded")
    )


def test_a_unit_replayed_at_x60_moves_along_its_track_on_the_slider_time(
    browser: webdriver.Chrome, web: str, r: redis.Redis, geo: Geography
) -> None:
    now = int(time.time() * 1000)
    points = simulated_last_hour(r, geo, now)
    sign_in(browser, web, r, "dispatcher")
    browser.get(f"{web}/replay?unit={UNIT}")
    wait_for(lambda: loaded(browser), 20, "the track loaded")
    wait_for(lambda: UNIT in offered(browser), 10, "the units offered to pick")
    first = sample(browser)
    assert first["min"] <= points[0][0] and first["max"] >= points[-1][0]  # the last hour
    assert first["slider"] == points[0][0] and first["marker"] == pytest.approx(points[0][1:])

    browser.find_element(By.ID, "replay-speed-60").click()
    browser.find_element(By.ID, Ids.PLAY).click()
    seen = []
    for _ in range(6):
        time.sleep(1.5)  # sampling the animation as it runs, not waiting for an event
        s = sample(browser)
        seen.append(s)
        # the marker is where the track is at the slider's time, and the time shown is it
        assert s["marker"] == pytest.approx(expected(points, s["slider"]), abs=2e-5)
        assert s["shown"] == local(s["slider"])
    times = [s["slider"] for s in seen]
    assert times == sorted(times) and times[-1] - times[0] > 5 * 60_000  # x60: minutes a second
    assert len({tuple(s["marker"]) for s in seen}) == len(seen)  # it moved along

    browser.find_element(By.ID, Ids.PLAY).click()  # pause; then the slider to points' times
    for ts, lat, lon in (points[10], points[57], points[-1]):
        browser.execute_script(
            "var i = document.querySelector('#replay-slider input'); i.value = arguments[0];"
            "i.dispatchEvent(new Event('input'));",
            ts,
        )
        s = sample(browser)
        assert s["slider"] == ts and s["marker"] == pytest.approx([lat, lon], abs=1e-9)
        assert s["shown"] == local(ts) and s["playing"] is False
    assert console_errors(browser) == []


def incident_of_the_last_hour(r: redis.Redis, now: int) -> str:
    at = now - 50 * 60_000
    steps = [
        Transition(None, State.REPORTED, "hotline", at),
        Transition(State.REPORTED, State.TRIAGED, "chief", at + 120_000),
        Transition(State.TRIAGED, State.ASSIGNED, "chief", at + 240_000, extra={"units": UNIT}),
        Transition(State.ASSIGNED, State.EN_ROUTE, UNIT, at + 300_000, "收到，前往现场"),
        Transition(State.EN_ROUTE, State.ON_SCENE, UNIT, at + 1_500_000),
    ]
    fields = {"type": "illegal_fishing", "source": "hotline", "priority": 2, "domain": "sea",
              "lat": 22.55, "lon": 114.55, "departments": "fishery_maritime", "units": UNIT,
              "released_units": "", "description": "非法捕捞"}  # fmt: skip
    assert incidents.import_history(r, "INC-RPL-0001", fields, Timeline(steps)).ok
    return "INC-RPL-0001"


def test_replay_page_incident_and_roles_in_both_languages_and_sizes(
    browser: webdriver.Chrome, web: str, r: redis.Redis, geo: Geography
) -> None:
    now = int(time.time() * 1000)
    simulated_last_hour(r, geo, now)
    incident = incident_of_the_last_hour(r, now)
    sign_in(browser, web, r, "dispatcher")
    browser.get(f"{web}/replay?incident={incident}")
    wait_for(lambda: loaded(browser), 20, "the incident loaded")
    events = browser.find_elements(By.CSS_SELECTOR, f"#{Ids.EVENTS} li")
    assert len(events) == 5 and not any(e.is_displayed() for e in events[1:])
    # the slider past the arrival: every event has happened, shown in order
    browser.execute_script(
        "var i = document.querySelector('#replay-slider input'); i.value = i.max;"
        "i.dispatchEvent(new Event('input'));"
    )
    shown = page_text(browser, f"#{Ids.EVENTS}")
    assert shown.index("已上报") < shown.index("已派遣") < shown.index("到达现场")
    browser.save_screenshot(str(SHOTS / "replay-incident-zh.png"))
    # where the track doubles back, no time label covers another; a label hidden so keeps its dot
    labels = browser.execute_script(
        "return Array.from(document.querySelectorAll('.ec-replay-tick')).map(function (e) {"
        "  var b = e.getBoundingClientRect();"
        "  return [b.left, b.top, b.right, b.bottom, getComputedStyle(e).visibility]; });"
    )
    drawn = [b for b in labels if b[4] != "hidden"]
    assert drawn, labels
    for i, a in enumerate(drawn):
        for b in drawn[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)

    for lang, want in (("zh", "轨迹复盘"), ("en", "Track replay")):
        if lang == "en":
            browser.find_element(
                By.XPATH, f"//*[@id='{Shell.LANG}']//label[contains(., 'English')]"
            ).click()
            wait_for(lambda: "Track replay" in page_text(browser, ".ec-replay-page"), 15, "English")
        for width, height in ((1920, 1080), (1366, 768)):
            screen(browser, width, height)
            browser.get(f"{web}/replay?unit={UNIT}")
            wait_for(lambda: loaded(browser), 20, "loaded")
            assert want in page_text(browser, ".ec-replay-page")
            browser.execute_script("window.ecocommand.replay.seek(arguments[0])", now - 1_800_000)
            browser.save_screenshot(str(SHOTS / f"replay-{lang}-{width}x{height}.png"))
            wide = browser.execute_script("return document.documentElement.scrollWidth")
            assert wide <= width, (lang, width, wide)
    assert console_errors(browser) == []


def test_operators_replay_vessels_not_officers(
    browser: webdriver.Chrome, web: str, r: redis.Redis, geo: Geography
) -> None:
    now = int(time.time() * 1000)
    simulated_last_hour(r, geo, now)
    seed_one_of_each(r)  # a unit U-1 and the vessel 366053209 among others
    sign_in(browser, web, r, "operator")
    browser.get(f"{web}/replay?unit={UNIT}")
    wait_for(lambda: page_text(browser, f"#{Ids.MESSAGE}"), 15, "the page")
    assert not loaded(browser)
    assert "车" not in page_text(browser, f"#{Ids.KIND}")
    assert page_text(browser, f"#{Ids.KIND}").strip() == "船舶"
    wait_for(lambda: "366053209" in offered(browser), 10, "the vessels offered")
    assert UNIT not in offered(browser) and "U-1" not in offered(browser)  # no officers
