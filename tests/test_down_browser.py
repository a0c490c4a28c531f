"""Redis stopped under a running web app (issue: hardening): the API answers a JSON 503 naming
the part, the live map in a real browser says the data store is down within the stale banner's
threshold, and both recover by themselves when Redis is back."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis
import requests
from selenium import webdriver

from config.settings import Settings
from dashboard.map_data import STALE_AFTER_S
from embedded.processes import ServerProcess, redis_server
from store import users
from tests.helpers import make_app, page_text, serve_app, sign_in, wait_for

pytestmark = pytest.mark.browser


def _banner(browser: webdriver.Chrome) -> str:
    """The what-is-down banner's text while it shows, else ''."""
    return browser.execute_script(
        "var b = document.getElementById('shell-down');"
        "return b && !b.hidden && b.offsetHeight > 0 ? b.innerText : '';"
    )


def test_with_redis_stopped_the_api_says_503_and_the_map_says_so_then_both_recover(
    tmp_path: Path, broker: ServerProcess, browser: webdriver.Chrome
) -> None:
    store = redis_server(tmp_path / "redis")  # its own: the session's Redis stays up
    r = redis.Redis(port=store.port)
    settings = Settings(
        redis_url=f"redis://127.0.0.1:{store.port}/0",
        mqtt_url=f"mqtt://127.0.0.1:{broker.port}",
        mqtt_client_id=f"test-ingest-{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path / "var",
        _env_file=None,
    )
    site = serve_app(make_app(settings))
    web = next(site)
    try:
        sign_in(browser, web, r, role="operator", name="duty")
        users.create_user(r, "api", "operator", "an API password")
        _, token = users.create_token(r, "api")
        api = {"Authorization": f"Bearer {token}"}
        wait_for(lambda: page_text(browser, "#map-freshness"), 30, "the live map")
        assert requests.get(f"{web}/api/v1/units", headers=api, timeout=10).status_code == 200
        assert _banner(browser) == ""

        store.stop()
        resp = requests.get(f"{web}/api/v1/units", headers=api, timeout=30)
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
        assert resp.headers["Content-Type"].startswith("application/json")
        assert "data store" in resp.json()["error"]
        text = wait_for(lambda: _banner(browser), STALE_AFTER_S, "the banner")
        assert "Redis" in text  # it names the part that is down

        store.start()  # the same port and data folder: as a restarted server
        wait_for(lambda: _banner(browser) == "", 60, "the banner to go by itself")
        assert requests.get(f"{web}/api/v1/units", headers=api, timeout=10).status_code == 200
    finally:
        site.close()
        store.stop()
