"""The pages in a real browser (Debian's chromium through chromedriver): sign in through the form,
the pages render live data through CSRF-protected callbacks and log no console errors (CSP
violations included)."""

from __future__ import annotations

import threading
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
from layouts.home import Ids
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


@pytest.fixture
def web(settings: Settings) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_home_page_shows_live_counts_without_console_errors(
        r: redis.Redis, web: str, browser: webdriver.Chrome, tmp_path: Path) -> None:
    from ingest import units
    from ingest.context import HandlerContext

    store = LiveStore(r, 3_600_000, 1000)
    for i in range(3):
        payload = orjson.dumps({"unit_id": f"U-{i}", "seq": 1, "ts": 1_764_300_000_000,
                                "lat": 22.6, "lon": 114.45})
        store.write(units.handle_position(f"U-{i}", payload, HandlerContext(received_ms=0)), 0)
    users.create_user(r, "duty", "operator", "correct horse battery")
    browser.get(web + "/")  # anonymous: sent to the sign-in form
    wait_for(lambda: "/login" in browser.current_url, 10, "the sign-in page")
    browser.find_element(By.ID, "username").send_keys("duty")
    browser.find_element(By.ID, "password").send_keys("correct horse battery")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # the counts arrive through /_dash-update-component POSTs: CSRF header and role check pass
    wait_for(lambda: any("units 3" in e.text for e in browser.find_elements(By.ID, Ids.COUNTS)),
             15, "the live counts")
    browser.save_screenshot(str(tmp_path / "home.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"
              or "Content Security Policy" in e["message"]]
    assert not errors, errors
    browser.find_element(By.ID, Ids.LOGOUT).click()  # a plain form POST with its CSRF token
    wait_for(lambda: "/login" in browser.current_url, 10, "back at the sign-in page")
    browser.get(web + "/")
    wait_for(lambda: "/login" in browser.current_url, 10, "signed out for good")
