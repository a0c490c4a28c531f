"""Wall screens' sessions (issue 17, acceptance point 4): an admin issues one for a named screen,
the screen's browser opens the one-time link and is signed in as that wall session (role
`wall`: the live map's wall screen, nothing that acts), for WALL_SESSION_DAYS; revoking it
refuses its next request and ends its live stream. Every step is in the audit log."""

from __future__ import annotations

import re
import threading

import dash
import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient
from selenium import webdriver
from selenium.webdriver.common.by import By

from config.settings import Settings
from dashboard import roles, security
from domain.audit import Chain
from services import accounts, walls
from services.context import AppContext, build
from services.errors import Invalid
from store import audit as log
from store import keys, users
from tests.helpers import (
    PASSWORD,
    ROOT,
    callback_body,
    client,
    console_errors,
    enter_wall,
    login,
    page_text,
    post_callback,
    post_json,
    routed_page,
    screen,
    wait_for,
    wall_signed_in,
)

SCREEN = "指挥大厅主屏"


@pytest.fixture
def ctx(settings: Settings, r: redis.Redis) -> AppContext:
    return build(settings)


def code_of(path: str) -> str:
    return path.split("code=", 1)[1]


def test_the_link_signs_the_screen_in_once_as_a_long_wall_session(
    server: Flask, ctx: AppContext, r: redis.Redis
) -> None:
    made = walls.issue(ctx, f"  {SCREEN} ", "user:admin")
    assert made.screen == SCREEN
    anyone = client(server)
    page = anyone.get(made.path)  # a link preview fetches the page: the code is not used
    assert page.status_code == 200 and SCREEN in page.get_data(as_text=True)
    assert anyone.get(made.path).status_code == 200
    c = client(server, "10.0.0.50")
    assert enter_wall(c, made.path).headers["Location"] == "/?wall=1"
    with c.session_transaction() as s:
        sid = s["_user_id"]
    assert r.hget(keys.session(sid), "user") == f"wall:{made.id}".encode()
    assert r.ttl(keys.session(sid)) > 29 * 86_400  # WALL_SESSION_DAYS (30), not SESSION_HOURS
    # once only: the link is used up, for this browser and any other
    again = client(server).get(made.path)
    assert again.status_code == 403 and "已使用" in again.get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', again.get_data(as_text=True))
    assert csrf is None  # nothing to press
    # the wall sees the live map as its wall screen, and no other page
    assert '"ec-page ec-wall"' in routed_page(c, "/")
    assert "map-ack-note" not in routed_page(c, "/")
    for path in ("/dispatch", "/coverage", "/kpis", "/trail", "/admin", "/admin/walls"):
        assert "您的角色无权查看此页面" in routed_page(c, path), path
    assert "nav.admin" not in routed_page(c, "/") and "系统管理" not in routed_page(c, "/")
    assert c.get("/field").status_code == 403
    states = {w["id"]: w["state"] for w in walls.listing(ctx)}
    assert states == {made.id: "active"}
    access = [e for _d, e in log.entries(r, Chain.ACCESS.value)]
    (signed,) = [e for e in access if e["action"] == "wall.signed_in"]
    assert signed["actor"] == f"wall:{made.id}" and signed["object"] == f"wall:{made.id}"


def test_a_bad_or_stale_code_is_refused_and_a_screen_name_is_checked(
    server: Flask, ctx: AppContext
) -> None:
    for code in ("", "x", "A" * 43, "<script>", "a" * 500):
        resp = client(server).get("/wall/enter", query_string={"code": code})
        assert resp.status_code == 403, code
        assert "<script>" not in resp.get_data(as_text=True)
    made = walls.issue(ctx, SCREEN, "user:admin")
    walls.revoke(ctx, made.id, "user:admin")  # revoked before the screen used it
    assert client(server).get(made.path).status_code == 403
    c = client(server)
    page = c.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    resp = c.post("/wall/enter", data={"csrf_token": csrf, "code": code_of(made.path)})
    assert resp.status_code == 403
    assert client(server).post("/wall/enter", data={"code": code_of(made.path)}).status_code == 400
    for bad in ("", " ", "x" * 41, "a\x00b", None, ["屏"]):
        with pytest.raises(Invalid):
            walls.issue(ctx, bad, "user:admin")


def acting_outputs(app: dash.Dash) -> list[str]:
    """The callbacks the action table (docs/architecture.md) names, by their Dash output."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("### Every action through one door", 1)[1].split("\n#", 1)[0]
    named = set(re.findall(r"`(callbacks\.[a-z_]+\.[a-z_]+)`", section))
    out = []
    for output, entry in app.callback_map.items():
        f = entry.get("callback")
        while f is not None and hasattr(f, "__wrapped__"):
            f = f.__wrapped__
        if f is not None and f"{f.__module__}.{f.__name__}" in named:
            out.append(output)
    assert len(out) == len(named), (named, out)
    return out


def test_the_wall_role_may_call_no_acting_callback_or_api(server: Flask, ctx: AppContext) -> None:
    app: dash.Dash = server.extensions["dash"]
    c = wall_signed_in(server)
    deps = c.get("/_dash-dependencies").get_json()
    acting = set(acting_outputs(app))
    seen = {200: 0, 403: 0}
    for dep in deps:
        allowed = roles.allowed_roles(app, dep["output"])
        status = post_callback(c, callback_body(dep)).status_code
        if dep["output"] in acting or roles.WALL not in allowed:
            assert status == 403, (dep["output"], status)
            seen[403] += 1
        elif not dep.get("clientside_function"):
            assert status in (200, 204), (dep["output"], status)
            seen[200] += 1
    assert seen[403] >= 20 and seen[200] >= 3  # the map's own reads answer; acting is refused
    assert acting and not any(roles.WALL in roles.allowed_roles(app, o) for o in acting)
    # every API route that acts (any method but GET), and the reads of personal data
    for rule in server.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint in security.OPEN_ENDPOINTS:
            continue  # citizen reports are open to anyone, no account needed
        for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"}):
            # a value each converter takes (a field message's kind is one of a few words)
            for value in ("x", "position"):
                path = re.sub(r"<(?:\w+:)?(\w+)>", value, rule.rule)
                status = c.open(path, method=method, json={}, headers=_csrf(c)).status_code
                if status != 404:
                    break
            assert status == 403, (method, rule.rule, status)
    for path in ("/api/v1/incidents/x/contact", "/api/v1/units/x/track", "/api/v1/kpis"):
        assert c.get(path).status_code == 403, path
    assert post_json(c, "/api/v1/messages", {"units": ["U-1"], "text": "x"})[0] == 403


def _csrf(c: FlaskClient) -> dict[str, str]:
    cookie = c.get_cookie("_csrf_token")
    return {"X-CSRFToken": cookie.value} if cookie else {}


def test_a_revoked_wall_is_refused_at_once_and_its_stream_ends(
    web: str, settings: Settings, r: redis.Redis
) -> None:
    ctx = build(settings)
    made = walls.issue(ctx, SCREEN, "user:admin")
    s = requests.Session()
    page = s.get(web + made.path, timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    resp = s.post(web + "/wall/enter", data={"csrf_token": csrf, "code": code_of(made.path)})
    assert resp.status_code == 200 and resp.url.endswith("/?wall=1")
    assert s.get(web + "/_dash-layout", timeout=10).status_code == 200
    events: list[str] = []
    opened = threading.Event()

    def read() -> None:
        with s.get(web + "/_stream/live", stream=True, timeout=30) as stream:
            for line in stream.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    events.append(line[7:])
                    opened.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert opened.wait(30) and events[0] == "picture"
    walls.revoke(ctx, made.id, "user:admin")
    reader.join(10)
    assert not reader.is_alive(), "the stream outlived the revoked wall session"
    assert events[-1] == "bye"
    assert s.get(web + "/_dash-layout", timeout=10).status_code == 401
    assert "/login" in s.get(web + "/?wall=1", timeout=10).url
    assert walls.listing(ctx)[0]["state"] == "revoked"
    record = [e for _d, e in log.entries(r, Chain.RECORD.value)]
    assert [(e["action"], e["object"]) for e in record if e["action"].startswith("wall.")] == [
        ("wall.issued", f"wall:{made.id}"),
        ("wall.revoked", f"wall:{made.id}"),
    ]


def test_a_wall_is_no_account(server: Flask, r: redis.Redis) -> None:
    with pytest.raises(Invalid):
        accounts.add_user(r, "screen1", roles.WALL, PASSWORD)
    users.create_user(r, "screen2", roles.WALL, PASSWORD)  # forged into the store directly
    assert login(client(server), "screen2").status_code == 401  # a wall has no password


@pytest.mark.browser
def test_the_screen_opens_its_link_shows_the_wall_and_goes_to_sign_in_once_revoked(
    web: str, settings: Settings, browser: webdriver.Chrome
) -> None:
    ctx = build(settings)
    made = walls.issue(ctx, SCREEN, "user:admin")
    screen(browser, 1920, 1080)
    browser.get(web + made.path)
    wait_for(lambda: SCREEN in page_text(browser, "#wall-screen"), 10, "the screen's name")
    browser.find_element(By.ID, "wall-enter").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".ec-page.ec-wall"), 20, "the wall")
    wait_for(lambda: "wall=1" in browser.current_url, 10, "the wall's address")
    assert browser.execute_script("return !!window.ecocommand && !!window.ecocommand.map")
    assert not browser.find_elements(By.ID, "map-ack-note")
    assert not console_errors(browser)
    browser.save_screenshot("/tmp/wall-screen-signed-in-1920x1080.png")
    walls.revoke(ctx, made.id, "user:admin")
    wait_for(lambda: "/login" in browser.current_url, 15, "the sign-in page")
    assert browser.find_element(By.ID, "username")
