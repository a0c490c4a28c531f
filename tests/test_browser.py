"""The pages in a real browser (Debian's chromium through chromedriver): sign in through the form,
the pages render live data through CSRF-protected callbacks and log no console errors (CSP
violations included)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

from config.settings import Settings
from dashboard.app import create_app
from layouts.map import Ids
from store import users
from store.writer import LiveStore
from tests.conftest import wait_for

CHROME_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1600,1000"]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in [*CHROME_FLAGS, f"--user-data-dir={tmp_path / 'chrome'}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
    yield driver
    driver.quit()


def _serve(settings: Settings) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def web(settings: Settings) -> Iterator[str]:
    yield from _serve(settings)


DEAD_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # discard port: nothing listens


@pytest.fixture
def web_with_dead_tiles(settings: Settings) -> Iterator[str]:
    yield from _serve(settings.model_copy(update={"map_tiles_url": DEAD_TILES}))


def _write_live_data(r: redis.Redis) -> None:
    """Three units (two available, one on scene), a vessel, a sensor with a critical alert."""
    from ingest import sensors, units, vessels
    from ingest.context import HandlerContext

    now = time.time_ns() // 1_000_000
    store = LiveStore(r, 3_600_000, 1000)
    ctx = HandlerContext(received_ms=now)
    for i, status in enumerate(("available", "available", "on_scene")):
        store.write(units.handle_profile(f"U-{i}", orjson.dumps(
            {"unit_id": f"U-{i}", "ts": now, "name": f"巡查{i}组", "department": "forestry",
             "kind": "foot", "level": "community"}), ctx), now)
        store.write(units.handle_position(f"U-{i}", orjson.dumps(
            {"unit_id": f"U-{i}", "seq": 1, "ts": now, "lat": 22.6 - i * 0.02,
             "lon": 114.45 + i * 0.03, "speed_kmh": 4.0, "status": status}), ctx), now)
    store.write(vessels.handle_nmea(
        "rx", b"!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C", ctx), now)
    profile = {"sensor_id": "S-1", "ts": now, "name": "近岸1", "kind": "seawater",
               "water_class": "I", "lat": 22.52, "lon": 114.52}
    store.write(sensors.handle_profile("S-1", orjson.dumps(profile), ctx), now)
    alerting = HandlerContext(received_ms=now, sensor_profile=lambda _s: profile)
    store.write(sensors.handle_reading("S-1", orjson.dumps(
        {"sensor_id": "S-1", "seq": 1, "ts": now, "values": {"COD": 9.0}}), alerting), now)


def _sign_in(browser: webdriver.Chrome, web: str, r: redis.Redis) -> None:
    users.create_user(r, "duty", "operator", "correct horse battery")
    browser.get(web + "/")  # anonymous: sent to the sign-in form
    wait_for(lambda: "/login" in browser.current_url, 10, "the sign-in page")
    browser.find_element(By.ID, "username").send_keys("duty")
    browser.find_element(By.ID, "password").send_keys("correct horse battery")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def _text(browser: webdriver.Chrome, css: str) -> str:
    found = browser.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def _banner_shown(browser: webdriver.Chrome) -> bool:
    found = browser.find_elements(By.ID, Ids.BANNER)
    return bool(found) and found[0].is_displayed()


def test_live_map_shows_markers_counts_staleness_and_switches_language(
        r: redis.Redis, web: str, browser: webdriver.Chrome, tmp_path: Path) -> None:
    _write_live_data(r)
    _sign_in(browser, web, r)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-container"), 15,
             "the leaflet map")
    # the counts arrive through /_dash-update-component POSTs: CSRF header and role check pass
    wait_for(lambda: _text(browser, ".ec-count-units .ec-count-value") == "3", 15,
             "the live unit count")
    assert _text(browser, ".ec-status-available .ec-count-value") == "2"
    assert _text(browser, ".ec-status-on_scene .ec-count-value") == "1"
    assert _text(browser, ".ec-count-vessels .ec-count-value") == "1"
    assert _text(browser, ".ec-count-alerts .ec-count-value") == "1"
    # markers are canvas circles (preferCanvas + pointToLayer from assets/map.js), not DOM icons
    assert browser.find_elements(By.CSS_SELECTOR, ".leaflet-overlay-pane canvas")
    assert not browser.find_elements(By.CSS_SELECTOR, ".leaflet-marker-icon")
    # the layer switcher lists the local basemap and the live layers
    browser.save_screenshot("/tmp/map.png")
    control = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-layers"
                                   ).get_attribute("textContent") or ""
    assert "陆地" in control and "巡查力量" in control and "船舶" in control
    # no heartbeat yet: the stale banner and the tiles note (no MAP_TILES_URL) show
    wait_for(lambda: _banner_shown(browser), 10, "the stale-data banner")
    assert "30" in browser.find_element(By.ID, Ids.BANNER).text
    assert browser.find_element(By.ID, Ids.TILES_NOTE).is_displayed()
    store = LiveStore(r, 3_600_000, 1000)
    store.heartbeat({"ts_ms": time.time_ns() // 1_000_000, "pid": 1, "broker_connected": 1})
    wait_for(lambda: not _banner_shown(browser), 10, "the banner hidden by a fresh heartbeat")
    assert "数据接入心跳" in browser.find_element(By.ID, Ids.FRESHNESS).text
    assert _text(browser, ".ec-title") == "生态综合执法指挥中心"  # zh-CN by default
    browser.find_element(By.XPATH, f"//*[@id='{Ids.LANG}']//label[contains(., 'English')]"
                         ).click()
    wait_for(lambda: _text(browser, ".ec-title") == "Ecological Enforcement Command Centre",
             10, "the English title")
    wait_for(lambda: _text(browser, ".ec-count-units .ec-count-label") == "Units", 10,
             "English count labels")
    store.heartbeat({"ts_ms": time.time_ns() // 1_000_000, "pid": 1, "broker_connected": 1})
    time.sleep(2.5)  # one more tick with the English labels and a fresh heartbeat
    browser.save_screenshot("/tmp/map.png")
    browser.save_screenshot(str(tmp_path / "map.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"
              or "Content Security Policy" in e["message"]]
    assert not errors, errors
    browser.find_element(By.ID, Ids.LOGOUT).click()  # a plain form POST with its CSRF token
    wait_for(lambda: "/login" in browser.current_url, 10, "back at the sign-in page")
    browser.get(web + "/")
    wait_for(lambda: "/login" in browser.current_url, 10, "signed out for good")


def test_unreachable_tiles_show_the_note_over_the_local_basemap(
        r: redis.Redis, web_with_dead_tiles: str, browser: webdriver.Chrome) -> None:
    import urllib.request

    with urllib.request.urlopen(web_with_dead_tiles + "/login") as resp:
        csp = resp.headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: http://127.0.0.1:9;" in csp  # the tile origin only
    _sign_in(browser, web_with_dead_tiles, r)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-tile-container"), 15,
             "the tile layer")
    # hidden while tiles are configured; assets/map.js shows it on the first failed tile
    wait_for(lambda: browser.find_element(By.ID, Ids.TILES_NOTE).is_displayed(), 15,
             "the tiles-unavailable note")
    assert browser.find_elements(By.CSS_SELECTOR, ".leaflet-overlay-pane canvas")  # basemap
