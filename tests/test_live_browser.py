"""The pushed live picture in a real browser (issue: the live picture): a unit's open popup
stays open through five updates and shows each new value, and a page whose session is ended in
another tab loses its stream and goes to the sign-in page."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
import requests
from selenium import webdriver
from selenium.webdriver.common.by import By

from ingest.worker import written_fields
from layouts.map import Ids
from store.ops import FieldUpdate, Observation
from store.writer import LiveStore
from tests.helpers import click_marker, sign_in, wait_for

pytestmark = pytest.mark.browser
NOW = int(time.time() * 1000)
NAME = "<img src=x onerror=alert(1)>巡查艇七号"  # a device's text: shown as text, never markup


def _move(store: LiveStore, uid: str, seq: int, speed: float) -> None:
    lon, lat = 114.45 + seq / 1000, 22.60
    state = {"lat": lat, "lon": lon, "ts": NOW + seq, "seq": seq, "speed_kmh": speed}
    ops: list[Any] = [
        Observation("unit", uid, NOW + seq, seq, str(seq), state, {"ts": NOW + seq}, lon, lat),
        FieldUpdate("unit", uid, "profile_ts", NOW, "unit_profile", {"name": NAME}),
    ]
    out = store.write(ops, NOW)
    store.count_messages({"applied": 1}, {}, written_fields(ops, out.verdicts))


def _popup(browser: webdriver.Chrome) -> str | None:
    """The open live popup's text, else None."""
    return browser.execute_script("return window.ecocommand.map.live.popupText()")


def test_an_open_popup_stays_open_through_updates_and_a_signed_out_page_leaves(
    r: redis.Redis, web: str, browser: webdriver.Chrome
) -> None:
    store = LiveStore(r, 3_600_000, 1000)
    _move(store, "U-P", 1, 10.0)
    sign_in(browser, web, r, role="operator", name="duty")
    wait_for(
        lambda: browser.execute_script(
            "var l = window.ecocommand && window.ecocommand.map.live;"
            "return !!(l && l.item('units', 'U-P'));"
        ),
        30,
        "the unit's marker",
    )
    click_marker(browser, "units", "U-P")
    wait_for(lambda: _popup(browser) is not None, 10, "the popup the click opens")
    assert NAME in (_popup(browser) or "")  # the markup shows as text...
    assert not browser.execute_script(
        "return document.querySelectorAll('.leaflet-popup img').length"
    )
    for step in range(2, 7):  # five updates
        _move(store, "U-P", step, 10.0 + step)
        wait_for(
            lambda s=step: f"{10.0 + s:.1f} km/h" in (_popup(browser) or ""),
            10,
            f"update {step} in the open popup",
        )
    drawn = browser.execute_script("return window.ecocommand.map.drawn['U-P']")
    assert abs(drawn["lng"] - (114.45 + 6 / 1000)) < 1e-9  # and it moved with them

    # another tab signs the same session out: this page's stream ends and it goes to sign in
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    requests.post(
        f"{web}/logout",
        cookies=cookies,
        headers={"X-CSRFToken": cookies["_csrf_token"]},
        timeout=10,
    )
    wait_for(lambda: "/login" in browser.current_url, 15, "the page to leave for the sign-in")


def _seen(browser: webdriver.Chrome) -> dict[str, Any]:
    """Where U-P's marker is on the screen, and the map's size as Leaflet measured it against
    its box's."""
    return browser.execute_script(
        "var live = window.ecocommand.map.live, map = live.layers.units.on._map;"
        "var p = live.containerPoint('units', 'U-P'), c = map.getContainer();"
        "var box = c.getBoundingClientRect();"
        "return {x: box.left + p.x, y: box.top + p.y, measured: [map.getSize().x, map.getSize().y],"
        " box: [c.clientWidth, c.clientHeight]};"
    )


def _banner_shown(browser: webdriver.Chrome) -> bool:
    return browser.execute_script(
        "var b = document.getElementById(arguments[0]); return !!b && !b.hidden", Ids.BANNER
    )


def test_markers_keep_their_place_on_the_screen_when_the_map_box_changes(
    r: redis.Redis, web: str, browser: webdriver.Chrome
) -> None:
    """The stale banner going and the entity list folding resize the map: Leaflet measures it
    again at once (markers are drawn where they are seen) and each marker stays where it was on
    the screen, so a click aimed at it as the box changes still lands on it."""
    store = LiveStore(r, 3_600_000, 1000)
    _move(store, "U-P", 1, 10.0)
    sign_in(browser, web, r, role="operator", name="duty")
    wait_for(lambda: _banner_shown(browser), 15, "the stale banner (no heartbeat yet)")
    wait_for(
        lambda: browser.execute_script("return !!window.ecocommand.map.live.item('units', 'U-P')"),
        30,
        "the unit's marker",
    )
    before = wait_for(
        lambda: (s := _seen(browser))["measured"] == s["box"] and s, 5, "the map measured"
    )

    now = int(time.time() * 1000)
    store.heartbeat({"ts_ms": now, "last_message_ms": now, "broker_connected": 1})
    wait_for(lambda: not _banner_shown(browser), 15, "the banner gone with fresh data")
    # Leaflet is told in the next frame (a ResizeObserver), not in the same task as the
    # banner's change: wait for the box to grow and the map to have measured it
    taller = wait_for(
        lambda: (
            (s := _seen(browser))["box"][1] > before["box"][1] and s["measured"] == s["box"] and s
        ),
        5,
        "the taller map, measured",
    )
    assert abs(taller["x"] - before["x"]) <= 1 and abs(taller["y"] - before["y"]) <= 1

    browser.find_element(By.CSS_SELECTOR, ".ec-entities-toggle").click()  # the list folds
    wider = wait_for(
        lambda: (
            (s := _seen(browser))["box"][0] > taller["box"][0] and s["measured"] == s["box"] and s
        ),
        5,
        "the wider map, measured",
    )
    assert abs(wider["x"] - before["x"]) <= 1 and abs(wider["y"] - before["y"]) <= 1
    click_marker(browser, "units", "U-P")
    wait_for(lambda: _popup(browser) is not None, 10, "the popup the click opens")
