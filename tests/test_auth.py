"""Sign-in against a real Redis: argon2id hashes, CSRF on the form, fresh sessions, logout that
ends the session on the server, throttling per account and per address, the `users` command,
hostile input."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from config.settings import Settings
from services.accounts import seed_demo
from store import devices, keys, users
from tests.helpers import PASSWORD, client, login, make_app, run_users, wait_for


def set_cookie(resp, name: str) -> str:
    return next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith(f"{name}="))


def sid_of(c: FlaskClient) -> str | None:
    with c.session_transaction() as s:
        return s.get("_user_id")


def test_login_stores_an_argon2id_hash_and_opens_a_server_side_session(
    chief_server: Flask, r: redis.Redis
) -> None:
    assert users.get_user(r, "chief")["hash"].startswith("$argon2id$")  # type: ignore[index]
    c = client(chief_server)
    resp = login(c, "chief", next_url="/?x=1")
    assert resp.status_code == 302 and resp.headers["Location"] == "/?x=1"
    cookie = set_cookie(resp, "session")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    sid = sid_of(c)
    assert sid and r.hget(keys.session(sid), "user") == b"chief"
    assert 0 < r.ttl(keys.session(sid)) <= 12 * 3600
    assert c.get("/").status_code == 200
    assert c.get("/_dash-layout").status_code == 200


def test_a_request_that_changes_nothing_leaves_the_session_cookie_alone(
    chief_server: Flask,
) -> None:
    """A page's requests run in parallel: one begun before the language switch and answered
    after it must not send the browser its older session (with the old language) back."""
    c = client(chief_server)
    login(c, "chief")
    assert c.get("/").status_code == 200
    resp = c.get("/_dash-layout")
    assert resp.status_code == 200
    assert not [h for h in resp.headers.getlist("Set-Cookie") if h.startswith("session=")]


EVIL_NEXT = [
    "//evil.example/",
    "https://evil.example/",
    "/\\evil",
    "/\t/evil.example",  # browsers drop the tab: //evil.example
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    "/\\\\evil.example",
    "/\x00/x",
]


@pytest.mark.parametrize("next_url", EVIL_NEXT)
def test_login_never_redirects_to_another_site(chief_server: Flask, next_url: str) -> None:
    assert login(client(chief_server), "chief", next_url=next_url).headers["Location"] == "/"


def test_login_returns_to_a_page_of_this_site(chief_server: Flask) -> None:
    out = login(client(chief_server), "chief", next_url="/kpis?period=30d")
    assert out.headers["Location"] == "/kpis?period=30d"


def test_wrong_password_and_unknown_user_are_refused_alike(chief_server: Flask) -> None:
    c = client(chief_server)
    a, b = login(c, "chief", "wrong password!"), login(c, "nobody", PASSWORD)
    assert a.status_code == b.status_code == 401
    assert "用户名或密码错误" in a.get_data(as_text=True)  # in the reader's language: Chinese first
    assert 'role="alert"' in a.get_data(as_text=True)
    assert c.get("/login?lang=en").status_code == 200  # the page's language switch
    english = login(c, "chief", "wrong password!").get_data(as_text=True)
    assert "Wrong user name or password" in english and "用户名或密码错误" not in english
    assert sid_of(c) is None and c.get("/_dash-layout").status_code == 401


def test_login_without_or_with_a_forged_csrf_token_is_refused(chief_server: Flask) -> None:
    c = client(chief_server)
    c.get("/login")
    data = {"username": "chief", "password": PASSWORD}
    assert c.post("/login", data=data).status_code == 400
    assert c.post("/login", data={**data, "csrf_token": "forged"}).status_code == 400
    assert sid_of(c) is None


def test_a_form_part_without_a_name_is_refused_not_a_server_error(chief_server: Flask) -> None:
    """flask-wtf's token lookup fails on a multipart part with no name (found by schemathesis
    on the evidence upload): the gate answers 400 before the lookup, signed in or not."""
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{boundary}--\r\n"
    ).encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    c = client(chief_server)
    c.get("/login")
    assert c.post("/login", data=body, headers=headers).status_code == 400
    login(c, "chief")
    for path in ("/api/v1/incidents/INC-1/evidence", "/api/v1/incidents"):
        assert c.post(path, data=body, headers=headers).status_code == 400


def test_cookies_are_secure_over_https_or_when_configured(
    settings: Settings, r: redis.Redis
) -> None:
    users.create_user(r, "chief", "dispatcher", PASSWORD)
    over_https = client(make_app(settings))
    # over HTTPS Flask-WTF also wants a same-origin Referer, which browsers send
    resp = login(
        over_https,
        "chief",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},
    )
    assert "Secure" in set_cookie(resp, "session")
    configured = client(make_app(settings, cookie_secure=True))
    resp = login(configured, "chief")
    assert "Secure" in set_cookie(resp, "session")
    csrf_cookie = set_cookie(resp, "_csrf_token")
    assert "Secure" in csrf_cookie and "SameSite=Strict" in csrf_cookie
    assert "HttpOnly" not in csrf_cookie  # Dash's renderer must read it


def test_login_starts_a_fresh_session_and_ends_the_previous_one(
    chief_server: Flask, r: redis.Redis
) -> None:
    c = client(chief_server)
    with c.session_transaction() as s:  # whatever an attacker planted before login
        s["planted"] = "x"
    login(c, "chief")
    first = sid_of(c)
    with c.session_transaction() as s:
        assert "planted" not in s
    login(c, "chief")
    second = sid_of(c)
    assert first and second and first != second
    assert not r.exists(keys.session(first)) and r.exists(keys.session(second))


def test_logout_ends_the_session_on_the_server(chief_server: Flask, r: redis.Redis) -> None:
    c = client(chief_server)
    login(c, "chief")
    sid = sid_of(c)
    stolen = c.get_cookie("session").value  # type: ignore[union-attr]
    token = c.get_cookie("_csrf_token").value  # type: ignore[union-attr]
    assert c.post("/logout").status_code == 400  # CSRF-protected
    resp = c.post("/logout", headers={"X-CSRFToken": token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    assert not r.exists(keys.session(sid))  # type: ignore[arg-type]
    replay = client(chief_server)
    replay.set_cookie("session", stolen)
    assert replay.get("/_dash-layout").status_code == 401
    assert replay.get("/").status_code == 302


def test_session_ends_when_its_record_expires_or_the_account_goes(
    chief_server: Flask, r: redis.Redis
) -> None:
    c = client(chief_server)
    login(c, "chief")
    r.delete(keys.user("chief"))
    assert c.get("/_dash-layout").status_code == 401


def test_an_account_s_failures_slow_the_addresses_that_failed_not_its_owner_elsewhere(
    settings: Settings, r: redis.Redis
) -> None:
    users.create_user(r, "chief", "dispatcher", PASSWORD)
    server = make_app(settings, login_max_failures=3, login_lockout_s=1)
    for i in range(3):  # from three addresses: the account is now under attack
        assert login(client(server, f"10.0.0.{i}"), "chief", "not the password").status_code == 401
    resp = login(client(server, "10.0.0.2"), "chief")  # the last to fail waits, right or not
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "1"
    assert "登录失败次数过多，请 1 秒后再试" in resp.get_data(as_text=True)
    # an address that failed before: one more check, then it waits too
    assert login(client(server, "10.0.0.0"), "chief", "not the password").status_code == 401
    assert login(client(server, "10.0.0.0"), "chief").status_code == 429
    # the owner from an address that has not failed gets in at once
    assert login(client(server, "10.0.1.1"), "chief").status_code == 302
    lock = keys.login_lock("account", "chief", "10.0.0.2")
    wait_for(lambda: not r.exists(lock), 5, "the lock (1 s) to expire in Redis")
    assert login(client(server, "10.0.0.2"), "chief").status_code == 302


def test_one_address_gets_the_configured_number_of_checks_then_waits(
    settings: Settings, r: redis.Redis
) -> None:
    users.create_user(r, "chief", "dispatcher", PASSWORD)
    server = make_app(settings, login_max_failures=3, login_lockout_s=1)
    for _ in range(2):
        assert login(client(server, "10.0.0.9"), "chief", "typo").status_code == 401
    assert login(client(server, "10.0.0.9"), "chief").status_code == 302  # in: typos forgiven
    # the owner's own typos left the account's count: two more do not lock it
    for _ in range(2):
        assert login(client(server, "10.0.0.9"), "chief", "typo").status_code == 401
    assert login(client(server, "10.0.0.9"), "chief").status_code == 302
    for _ in range(3):
        assert login(client(server, "10.0.0.9"), "chief", "typo").status_code == 401
    assert login(client(server, "10.0.0.9"), "chief").status_code == 429


def test_failed_logins_throttle_the_address_across_accounts_then_unlock(
    settings: Settings, r: redis.Redis
) -> None:
    users.create_user(r, "chief", "dispatcher", PASSWORD)
    server = make_app(settings, login_max_failures=2, login_lockout_s=1)
    for i in range(8):  # 4x the per-account limit from one address, a different name each
        assert login(client(server, "10.9.9.9"), f"guess{i}", PASSWORD).status_code == 401
    assert login(client(server, "10.9.9.9"), "chief").status_code == 429
    assert login(client(server, "10.9.9.8"), "chief").status_code == 302  # others unaffected
    lock = keys.login_lock("addr", "10.9.9.9")
    wait_for(lambda: not r.exists(lock), 5, "the address's lock (1 s) to expire in Redis")
    assert login(client(server, "10.9.9.9"), "chief").status_code == 302


def test_lock_grows_with_each_failure_but_is_capped(r: redis.Redis) -> None:
    lock = keys.login_lock("account", "x", "10.0.0.1")
    locks = []
    for _ in range(12):
        assert isinstance(users.admit(r, "x", "10.0.0.1", 3, 1000, 900), users.Admission)
        locks.append(max(0, r.ttl(lock)))
        r.delete(lock)  # as if the lock had run out
    assert locks[:2] == [0, 0] and locks[2:7] == [30, 60, 120, 240, 480]
    assert set(locks[7:]) == {900}


HOSTILE = [
    "<script>alert('x')</script>",
    "' OR '1'='1' --",
    '"><img src=x onerror=alert(1)>',
    "管理员",
    "chief ",
    "",
    "{chief}",
    "a" * 10_000,
    "\u202echief",
    "chief\x00",
]


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_user_names_are_refused_and_shown_escaped(chief_server: Flask, name: str) -> None:
    resp = login(client(chief_server), name)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 401
    assert "<script>alert" not in page and "<img src=x" not in page
    if name and name.isprintable():
        assert str(escape(name[:64])) in page


def test_users_add_reads_the_password_from_stdin(settings: Settings, r: redis.Redis) -> None:
    env = {
        **os.environ,
        "REDIS_URL": settings.effective_redis_url,
        "MQTT_URL": settings.effective_mqtt_url,
    }
    out = run_users("add", "王队长", "--role", "dispatcher", env=env, stdin=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    assert users.verify(r, "王队长", PASSWORD)["role"] == "dispatcher"  # type: ignore[index]
    assert PASSWORD not in out.stdout + out.stderr
    for args, stdin, error in [
        (("add", "short", "--role", "operator"), "tooshort\n", "at least 10 characters"),
        (("add", "empty", "--role", "operator"), "", "at least 10 characters"),
        (("add", "boss", "--role", "boss"), PASSWORD, "unknown role 'boss'"),
        (("add", "王队长", "--role", "operator"), PASSWORD, "already exists"),
        (("add", "a b", "--role", "operator"), PASSWORD, "a user name has"),
    ]:
        bad = run_users(*args, env=env, stdin=stdin)
        assert bad.returncode == 2 and error in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr
    assert users.get_user(r, "王队长")["role"] == "dispatcher"  # type: ignore[index]
    listing = run_users("list", env=env, stdin="")
    assert "王队长" in listing.stdout and "dispatcher" in listing.stdout


def test_demo_accounts_are_seeded_once_and_kept(
    settings: Settings, r: redis.Redis, tmp_path: Path
) -> None:
    first = seed_demo(r, tmp_path)
    assert [role for _n, role, _p in first] == ["operator", "dispatcher", "leader", "admin"]
    again = seed_demo(r, tmp_path)
    assert again == first
    assert stat.S_IMODE((tmp_path / "demo_accounts.txt").stat().st_mode) == 0o600
    name, _role, password = first[3]
    assert users.verify(r, name, password)["role"] == "admin"  # type: ignore[index]
    assert login(client(make_app(settings)), name, password).status_code == 302
    # the demo's field officer, once its unit is in the roster (python run.py seeds both)
    devices.add(r, "U-DP-F01", "unit", 0, source="demo")
    with_officer = seed_demo(r, tmp_path, officer_unit="U-DP-F01")
    assert with_officer[:4] == first and with_officer[4][:2] == ("officer", "officer")
    assert users.get_user(r, "officer")["unit"] == "U-DP-F01"  # type: ignore[index]


def test_secret_key_is_generated_once_with_mode_0600(settings: Settings) -> None:
    make_app(settings)
    path = settings.data_dir / "secret_key"
    key = path.read_text()
    assert len(key) >= 40 and stat.S_IMODE(path.stat().st_mode) == 0o600
    make_app(settings)
    assert path.read_text() == key
