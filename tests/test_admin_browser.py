"""The admin pages in a real browser (issue 17, defect 12): an admin creates an account and
changes its role, issues and revokes an API token, adds a device (its credentials and QR code
shown once) and revokes it, and issues a wall screen session, all from the pages; then every
act is found in the audit trail (read through the audit service) with the admin as its actor.
Screenshots of each page at 1920x1080 and 1366x768, in Chinese and English, go to /tmp."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import redis
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from config.settings import Settings
from domain import devices as device_rules
from layouts.admin_accounts import Ids as Accounts
from layouts.admin_devices import Ids as Devices
from layouts.admin_tokens import Ids as Tokens
from layouts.admin_walls import Ids as Walls
from services import trail
from services.context import build
from store import devices, users
from tests.helpers import (
    PASSWORD,
    console_errors,
    page_text,
    screen,
    sign_in,
    switch_language,
    wait_for,
)
from views.admin import qr_image

SHOTS = Path("/tmp")
SIZES = ((1920, 1080), (1366, 768))


NAV = ("系统管理", "Admin")  # the header link the language switch waits for


def choose(browser: webdriver.Chrome, dropdown: str, text: str) -> None:
    """Picks the option whose label holds `text` in a single dcc.Dropdown, as a user does."""
    option = (
        "//label[contains(concat(' ', @class, ' '), ' dash-dropdown-option ')]"
        f"[.//span[starts-with(normalize-space(.), '{text}')]]"
    )

    def opened() -> list:
        box = browser.find_elements(By.ID, dropdown)
        if box and not browser.find_elements(By.XPATH, option):
            box[0].click()
        return [e for e in browser.find_elements(By.XPATH, option) if e.is_displayed()]

    wait_for(opened, 10, f"the option {text} of {dropdown}")
    opened()[0].click()
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ESCAPE)


def type_into(browser: webdriver.Chrome, ident: str, text: str) -> None:
    box = wait_for(lambda: browser.find_elements(By.ID, ident), 10, ident)[0]
    box.clear()
    box.send_keys(text)


def click(browser: webdriver.Chrome, ident: str) -> None:
    browser.find_element(By.ID, ident).click()


def text_of(browser: webdriver.Chrome, ident: str) -> str:
    return page_text(browser, f"#{ident}")


def secret_values(browser: webdriver.Chrome, ident: str) -> list[str]:
    return [e.text for e in browser.find_elements(By.CSS_SELECTOR, f"#{ident} .ec-admin-code")]


def shoot_all(browser: webdriver.Chrome, web: str, path: str, ready: str) -> None:
    """Screenshots of one admin page in both languages at both sizes."""
    for lang in ("zh", "en"):
        for width, height in SIZES:
            screen(browser, width, height)
            browser.get(f"{web}{path}")
            switch_language(browser, lang, NAV)
            wait_for(lambda: page_text(browser, f"#{ready}").strip(), 15, f"{path} filled")
            slug = path.strip("/").replace("/", "-")
            browser.save_screenshot(str(SHOTS / f"{slug}-{lang}-{width}x{height}.png"))
            wide = browser.execute_script("return document.documentElement.scrollWidth")
            assert wide <= width, (path, lang, width, wide)
    switch_language(browser, "zh", NAV)


def test_an_admin_administers_from_the_pages_and_every_act_is_in_the_trail(
    r: redis.Redis, web: str, browser: webdriver.Chrome, settings: Settings
) -> None:
    screen(browser, 1366, 768)
    users.create_user(r, "admin2", "admin", PASSWORD)  # so that "boss" is not the last admin
    sign_in(browser, web, r, "admin", "boss")
    devices.add(r, "U-DP-301", "unit", 1, source="cli", by="cli:test")  # for an officer

    # accounts: create one as a duty chief, then make it a leader
    browser.get(web + "/admin")
    wait_for(lambda: "boss" in text_of(browser, Accounts.TABLE), 15, "the accounts")
    type_into(browser, Accounts.NAME, "wang")
    choose(browser, Accounts.ROLE, "值班长")
    type_into(browser, Accounts.PASSWORD, PASSWORD)
    type_into(browser, Accounts.PASSWORD2, PASSWORD)
    click(browser, Accounts.CREATE)
    wait_for(lambda: "wang" in text_of(browser, Accounts.CREATE_MESSAGE), 10, "created")
    wait_for(lambda: "wang" in text_of(browser, Accounts.TABLE), 10, "wang in the table")
    assert browser.find_element(By.ID, Accounts.PASSWORD).get_attribute("value") == ""
    assert users.get_user(r, "wang")["role"] == "dispatcher"  # type: ignore[index]
    choose(browser, Accounts.EDIT_NAME, "wang")
    choose(browser, Accounts.EDIT_ROLE, "领导")
    click(browser, Accounts.CHANGE_ROLE)
    wait_for(lambda: "wang" in text_of(browser, Accounts.EDIT_MESSAGE), 10, "role changed")
    assert users.get_user(r, "wang")["role"] == "leader"  # type: ignore[index]
    # an admin may not take away their own role
    choose(browser, Accounts.EDIT_NAME, "boss")
    click(browser, Accounts.DISABLE)
    wait_for(lambda: "自己" in text_of(browser, Accounts.EDIT_MESSAGE), 10, "refused")
    assert not users.get_user(r, "boss").get("disabled_ms")  # type: ignore[union-attr]

    # API tokens: issue one (shown once), then revoke it
    browser.get(web + "/admin/tokens")
    choose(browser, Tokens.ACCOUNT, "wang")
    click(browser, Tokens.ISSUE)
    wait_for(lambda: "eco_" in text_of(browser, Tokens.SECRET), 10, "the new token")
    token = next(v for v in secret_values(browser, Tokens.SECRET) if v.startswith("eco_"))
    assert users.verify_token(r, token) == "wang"
    tid = token.split("_")[1]
    wait_for(lambda: tid in text_of(browser, Tokens.TABLE), 10, "the token's id listed")
    choose(browser, Tokens.TOKEN, tid)
    click(browser, Tokens.REVOKE)
    wait_for(lambda: tid in text_of(browser, Tokens.MESSAGE), 10, "revoked")
    assert users.verify_token(r, token) is None
    browser.get(web + "/admin/tokens")  # shown once: never again
    wait_for(lambda: text_of(browser, Tokens.TABLE), 10, "the page again")
    assert token not in browser.page_source

    # devices: add one (credentials and QR code shown once), then revoke it
    browser.get(web + "/admin/devices")
    wait_for(lambda: "U-DP-301" in text_of(browser, Devices.TABLE), 15, "the roster")
    type_into(browser, Devices.DEVICE, "U-DP-901")
    click(browser, Devices.ADD)
    wait_for(lambda: "U-DP-901" in text_of(browser, Devices.SECRET), 10, "the credentials")
    _user, secret, broker = secret_values(browser, Devices.SECRET)
    stored = devices.get(r, "U-DP-901")
    assert stored and device_rules.verify_secret(secret, stored.secret_hash)
    assert broker.startswith("mqtt://127.0.0.1:")
    qr = browser.find_element(By.CSS_SELECTOR, f"#{Devices.SECRET} img.ec-admin-qr")
    scan = f"mqtt://U-DP-901:{secret}@{broker.removeprefix('mqtt://')}"  # what a device scans
    assert qr.get_attribute("src") == qr_image(scan, "").src
    assert qr.size["width"] >= 150
    browser.save_screenshot(str(SHOTS / "admin-devices-added-zh-1366x768.png"))
    browser.get(web + "/admin/devices")
    wait_for(lambda: "U-DP-901" in text_of(browser, Devices.TABLE), 10, "the roster again")
    assert secret not in browser.page_source
    choose(browser, Devices.REVOKE_ID, "U-DP-901")
    click(browser, Devices.REVOKE)
    wait_for(lambda: "U-DP-901" in text_of(browser, Devices.MESSAGE), 10, "revoked")
    assert not devices.get(r, "U-DP-901").active  # type: ignore[union-attr]

    # a wall screen session for a named screen: its one-time link, waiting for the screen
    browser.get(web + "/admin/walls")
    wait_for(lambda: text_of(browser, Walls.TABLE), 15, "the wall sessions")
    type_into(browser, Walls.SCREEN, "指挥大厅主屏")
    click(browser, Walls.ISSUE)
    wait_for(lambda: "/wall/enter?code=" in text_of(browser, Walls.LINK), 10, "the link")
    link = next(v for v in secret_values(browser, Walls.LINK) if "/wall/enter" in v)
    assert link.startswith(web + "/wall/enter?code=")
    assert browser.find_elements(By.CSS_SELECTOR, f"#{Walls.LINK} img.ec-admin-qr")
    wait_for(lambda: "等待屏幕登录" in text_of(browser, Walls.TABLE), 10, "waiting")
    browser.save_screenshot(str(SHOTS / "admin-walls-issued-zh-1366x768.png"))
    assert not console_errors(browser)

    # every act is in the audit trail, with the admin as its actor
    ctx = build(settings)

    def acts(ref: str) -> list[tuple[str, str]]:
        return [(e["action"], e["actor"]) for e in trail.trail(ctx, ref)["entries"]]

    assert ("account.created", "user:boss") in acts("user:wang")
    assert ("account.role_changed", "user:boss") in acts("user:wang")
    assert ("account.token_created", "user:boss") in acts("user:wang")
    assert ("account.token_revoked", "user:boss") in acts("user:wang")
    assert ("device.added", "user:boss") in acts("device:U-DP-901")
    assert ("device.revoked", "user:boss") in acts("device:U-DP-901")
    (wall,) = [e for e in trail.trail(ctx, "user:boss")["entries"] if e["action"] == "wall.issued"]
    assert wall["object"].startswith("wall:")
    assert ("wall.issued", "user:boss") in acts(wall["object"])
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["code"][0]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", code)
    # shown once means kept nowhere: no token, device secret or one-time code in Redis (the
    # audit log included), only their digests
    stored = everything_in(r)
    assert not [s for s in (token, secret, code) if s.encode() in stored]


def everything_in(r: redis.Redis) -> bytes:
    """Every key and value in Redis, as one blob to search."""
    out = []
    for key in r.scan_iter(count=1000):
        kind = r.type(key).decode()
        if kind == "string":
            out.append(r.get(key) or b"")
        elif kind == "hash":
            out += [b for kv in r.hgetall(key).items() for b in kv]
        elif kind == "list":
            out += r.lrange(key, 0, -1)
        elif kind in ("set", "zset"):
            out += list(r.smembers(key)) if kind == "set" else r.zrange(key, 0, -1)
        elif kind == "stream":
            out += [b for _id, f in r.xrange(key) for kv in f.items() for b in kv]
        out.append(key)
    return b"\n".join(out)


def test_screenshots_of_the_admin_pages(
    r: redis.Redis, web: str, browser: webdriver.Chrome
) -> None:
    """Each admin page in Chinese and English at 1920x1080 and 1366x768 (to look at), filled
    with a few rows; no console errors, nothing wider than the screen."""
    users.create_user(r, "wang", "dispatcher", PASSWORD)
    users.create_token(r, "wang")
    devices.add(r, "U-DP-301", "unit", 1_764_300_000_000, source="cli", by="cli:test")
    devices.add(r, "AIS-NA-1", "ais", 1_764_300_000_000, source="cli", by="cli:test")
    sign_in(browser, web, r, "admin", "boss")
    for path, ready in (
        ("/admin", Accounts.TABLE),
        ("/admin/tokens", Tokens.TABLE),
        ("/admin/devices", Devices.TABLE),
        ("/admin/walls", Walls.TABLE),
    ):
        shoot_all(browser, web, path, ready)
    assert not console_errors(browser)
