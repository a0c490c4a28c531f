"""Finding things on the live map and hearing what is new (issue 17, acceptance 3), in a real
browser: an operator types part of a vessel's name, picks it, and the map centres on it (and
follows it as it moves), and finds a sub-district by its name; after "enable sound", a new
critical alert plays the alert sound (the audio's play() promise resolved) and a new incident
too; muted, nothing plays."""

from __future__ import annotations

import time

import orjson
import redis
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from ingest import vessels
from ingest.context import HandlerContext
from ingest.worker import written_fields
from layouts.map import Ids
from layouts.shell import Ids as Shell
from store.ops import RaiseAlert
from store.writer import LiveStore
from tests.helpers import console_errors, open_hotline_incident, sign_in, wait_for

MMSI = 412440890


def _vessel(
    r: redis.Redis, lat: float, lon: float, name: str | None = None, mmsi: int = MMSI
) -> None:
    """A vessel's AIS-catcher report (a position, and its name and call sign when given),
    written and announced as the worker does."""
    now = time.time_ns() // 1_000_000
    ctx = HandlerContext(received_ms=now)
    reports = [
        {
            "class": "AIS",
            "type": 1,
            "mmsi": mmsi,
            "rxuxtime": now / 1000,
            "lat": lat,
            "lon": lon,
            "speed": 6.0,
            "course": 90.0,
            "heading": 90,
            "status": 0,
        }
    ]
    if name:
        reports.append(
            {
                "class": "AIS",
                "type": 5,
                "mmsi": mmsi,
                "rxuxtime": now / 1000,
                "shipname": name,
                "callsign": "BVZK8",
                "shiptype": 30,
            }
        )
    store = LiveStore(r, 3_600_000, 1000)
    ops = [o for rep in reports for o in vessels.handle_aiscatcher("rx", orjson.dumps(rep), ctx)]
    out = store.write(ops, now)
    store.count_messages({"applied": len(ops)}, {}, written_fields(ops, out.verdicts))


def _critical(r: redis.Redis, alert_id: str) -> None:
    now = time.time_ns() // 1_000_000
    alert = RaiseAlert(
        alert_id=alert_id,
        ts=now,
        fields={
            "kind": "water_quality",
            "severity": "critical",
            "source": "S-9",
            "name": "近岸9",
            "lat": 22.5,
            "lon": 114.5,
            "message": "COD 9 (class I <= 2)",
        },
    )
    LiveStore(r, 3_600_000, 1000).write([alert], now)


def _centre(browser: webdriver.Chrome) -> tuple[float, float]:
    v = browser.execute_script("return window.ecocommand.map.live.view();")
    (s, w), (n, e) = v["bounds"]
    return (s + n) / 2, (w + e) / 2


def _played(browser: webdriver.Chrome, kind: str) -> list[dict]:
    return [
        p
        for p in browser.execute_script("return window.ecocommand.sound.played;") or []
        if p["kind"] == kind
    ]


def test_an_operator_finds_a_vessel_by_part_of_its_name_and_hears_a_critical_alert(
    r: redis.Redis, web: str, browser: webdriver.Chrome
) -> None:
    _vessel(r, 22.47, 114.62, "YUE DAPENG 88")
    sign_in(browser, web, r, "operator", "duty")
    browser.get(web + "/")
    wait_for(
        lambda: browser.execute_script(
            "var l = window.ecocommand && window.ecocommand.map.live;"
            "return !!(l && l.records.vessels && l.records.vessels[arguments[0]]"
            " && l.records.vessels[arguments[0]].name);",
            str(MMSI),
        ),
        15,
        "the named vessel in the page's picture",
    )
    box = browser.find_element(By.ID, Ids.SEARCH)
    box.send_keys("dapeng")
    hit = f"#{Ids.SEARCH_HITS} .ec-search-hit"
    vessel = f"{hit}[data-layer='vessels']"  # places named 大鹏 (dapeng-01...) are found too
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, vessel), 5, "the vessel")
    assert "YUE DAPENG 88" in browser.find_element(By.CSS_SELECTOR, vessel).text
    browser.find_element(By.CSS_SELECTOR, f"{vessel} span").click()
    lat, lon = _centre(browser)
    assert abs(lat - 22.47) < 0.002 and abs(lon - 114.62) < 0.002, (lat, lon)
    assert "YUE DAPENG 88" in browser.execute_script(
        "return window.ecocommand.map.live.popupText();"
    )

    # followed: picked with its "follow" button, the map keeps it centred as it sails
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys("BVZK")  # its call sign
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, hit), 5, "a hit by call sign")
    browser.find_element(By.CSS_SELECTOR, f"{hit} .ec-search-follow").click()
    _vessel(r, 22.47, 114.64)
    wait_for(lambda: abs(_centre(browser)[1] - 114.64) < 0.002, 10, "the map following it")

    # a place: the sub-district of 葵涌, by its name; the map goes there (nothing to follow)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys("葵涌")
    place = f"{hit}[data-layer='place:subdistrict']"
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, place), 5, "the sub-district")
    assert not browser.find_elements(By.CSS_SELECTOR, f"{place} .ec-search-follow")
    browser.find_element(By.CSS_SELECTOR, f"{place} span").click()
    lat, lon = _centre(browser)
    assert abs(lat - 22.63) < 0.002 and abs(lon - 114.43) < 0.002, (lat, lon)

    # the sound: off until asked for; on, a new critical alert and a new incident play it
    _critical(r, "wq:S-9:1:1")
    wait_for(lambda: _played(browser, "alert"), 10, "the alert heard (muted)")
    assert _played(browser, "alert")[0]["error"] == "muted"
    browser.find_element(By.ID, Shell.SOUND).click()  # a real click: the browser allows sound
    assert browser.find_element(By.ID, Shell.SOUND).get_attribute("aria-pressed") == "true"
    _critical(r, "wq:S-9:1:2")
    wait_for(lambda: len(_played(browser, "alert")) == 2, 10, "the second alert")
    wait_for(lambda: _played(browser, "alert")[1]["ok"] is not None, 10, "play() settled")
    assert _played(browser, "alert")[1]["ok"] is True, _played(browser, "alert")
    open_hotline_incident(r)
    wait_for(lambda: [p for p in _played(browser, "incident") if p["ok"]], 10, "the incident")

    # the choice is kept: after a reload the button still says the sound is on
    browser.refresh()
    wait_for(
        lambda: (
            browser.find_elements(By.ID, Shell.SOUND)
            and browser.find_element(By.ID, Shell.SOUND).get_attribute("aria-pressed") == "true"
        ),
        10,
        "the choice kept",
    )
    box = browser.find_element(By.ID, Ids.SEARCH)
    box.send_keys("zzzz-nothing" + Keys.ENTER)
    assert not [e for e in browser.find_elements(By.CSS_SELECTOR, hit) if e.is_displayed()]
    assert not console_errors(browser)


def test_vessel_labels_do_not_overlap(r: redis.Redis, web: str, browser: webdriver.Chrome) -> None:
    """Issue 17, defect 13: six named vessels moored side by side; at zoom 13 and closer their
    labels would be drawn over each other: one is shown, the others wait for more room."""
    for i in range(6):
        _vessel(r, 22.47 + i * 0.00005, 114.62, f"YUE DAPENG {i}", mmsi=MMSI + 1 + i)
    sign_in(browser, web, r, "operator", "duty")
    browser.get(web + "/")
    wait_for(
        lambda: browser.execute_script(
            "var l = window.ecocommand && window.ecocommand.map.live;"
            "return !!(l && l.records.vessels && Object.keys(l.records.vessels).length >= 6"
            " && l.focus('vessels', arguments[0], false));",
            str(MMSI + 1),
        ),
        15,
        "the vessels, and the map on them at zoom 14",
    )
    labels = "return window.ecocommand.map.live.labels || null;"
    wait_for(
        lambda: (browser.execute_script(labels) or {}).get("hidden", 0) >= 5, 10, "labels placed"
    )
    assert browser.execute_script(labels)["shown"] >= 1
    assert not console_errors(browser)
