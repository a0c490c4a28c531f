"""The admin's device list in a real browser (issue 17): a device from before creation times were
kept (none stored, or one in seconds, or the 1 an old script wrote) shows "—", never a day in
January 1970; a device added now shows its day."""

from __future__ import annotations

import datetime as dt

import redis
from selenium import webdriver

from domain.vocab import LOCAL_TZ
from layouts.admin_devices import PATH, Ids
from store import devices, keys
from tests.helpers import console_errors, page_text, sign_in, wait_for


def _legacy(r: redis.Redis, device_id: str, created: str | None) -> None:
    """A roster entry as older releases left it: the fields they wrote, nothing more."""
    fields = {"kind": "unit", "secret": "", "revoked_ms": "0", "source": "cli"}
    if created is not None:
        fields["created_ms"] = created
    r.hset(keys.device(device_id), mapping=fields)
    r.sadd(keys.DEVICES, device_id)


def test_devices_with_no_creation_time_show_a_dash_not_1970(
    r: redis.Redis, web: str, browser: webdriver.Chrome
) -> None:
    _legacy(r, "U-DP-701", None)
    _legacy(r, "U-DP-702", "1700000000")  # seconds, not ms
    devices.add(r, "U-DP-703", "unit", 1, source="cli", by="cli:test")
    now = dt.datetime.now(LOCAL_TZ)
    devices.add(r, "U-DP-704", "unit", int(now.timestamp() * 1000), source="cli", by="cli:test")
    sign_in(browser, web, r, "admin", "boss")
    browser.get(web + PATH)
    table = f"#{Ids.TABLE}"
    wait_for(lambda: "U-DP-704" in page_text(browser, table), 15, "the roster")
    rows = {
        line.split()[0]: line
        for line in page_text(browser, table).splitlines()
        if line.startswith("U-DP-")
    }
    assert "1970" not in page_text(browser, table)
    for legacy in ("U-DP-701", "U-DP-702", "U-DP-703"):
        assert "—" in rows[legacy], rows[legacy]
    assert now.strftime("%Y-%m-%d") in rows["U-DP-704"], rows["U-DP-704"]
    assert not console_errors(browser)
