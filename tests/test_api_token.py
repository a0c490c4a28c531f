"""Per-user API tokens against a real Redis: `Authorization: Bearer` on `/api/*` only, with the
account's role, no session and no cookie; refused when wrong, revoked or the account is gone;
stored only as SHA-256; the `users token` command."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
import redis
from flask import Blueprint, Flask, jsonify

from config.settings import Settings
from dashboard import roles, users_cli
from store import keys, users
from tests.helpers import (
    PASSWORD,
    client,
    login,
    make_app,
    run_users,
    schema_validator,
    seed_one_of_each,
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def redis_dump(r: redis.Redis) -> bytes:
    """Every key and value in Redis, to look for a secret in."""
    out = []
    for key in r.scan_iter():
        kind = r.type(key).decode()
        value: Any = {
            "hash": r.hgetall,
            "string": r.get,
            "set": r.smembers,
            "zset": lambda k: r.zrange(k, 0, -1),
            "list": lambda k: r.lrange(k, 0, -1),
            "stream": r.xrange,
        }[kind](key)
        out.append(repr((key, value)).encode())
    return b"\n".join(out)


def assert_refused(resp: Any, presented: bool = True, session: bool = False) -> None:
    assert resp.status_code == 401, resp.status_code
    assert resp.get_json()["error"]
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert ('error="invalid_token"' in challenge) is presented
    if not session:  # a browser's own session cookie is refreshed as on any request
        assert "Set-Cookie" not in resp.headers


def test_a_token_reads_the_api_without_a_session_or_cookie(
    chief_server: Flask, r: redis.Redis
) -> None:
    seed_one_of_each(r)
    _tid, token = users.create_token(r, "chief")
    c = client(chief_server)
    for path in ("/api/v1/units", "/api/v1/vessels", "/api/v1/sensors", "/api/v1/alerts"):
        resp = c.get(path, headers=bearer(token))
        assert resp.status_code == 200, (path, resp.get_json())
        assert not list(schema_validator(path).iter_errors(resp.get_json()))
        assert "Set-Cookie" not in resp.headers  # neither session nor _csrf_token
    assert c.get_cookie("session") is None and c.get_cookie("_csrf_token") is None
    assert not list(r.scan_iter(keys.session("*")))  # no server-side session either
    # the scheme name is case-insensitive (RFC 7235); the token needs its header on every request
    assert c.get("/api/v1/units", headers={"Authorization": f"bearer {token}"}).status_code == 200
    assert_refused(c.get("/api/v1/units"), presented=False)


def test_a_token_acts_with_its_accounts_role(settings: Settings, r: redis.Redis) -> None:
    server = make_app(settings)
    bp = Blueprint("test_token_api", __name__, url_prefix="/api/v1")

    def kpis() -> Any:
        return jsonify({"ok": True})

    def unruled() -> Any:
        return jsonify({"ok": True})

    kpis.roles = roles.ANALYSTS  # type: ignore[attr-defined]
    bp.add_url_rule("/analysts-only", view_func=kpis)  # a stub route, not the real KPIs
    bp.add_url_rule("/unruled", view_func=unruled)  # no roles: nobody, token or not
    server.register_blueprint(bp)
    for role in roles.ROLES:
        users.create_user(r, role, role, PASSWORD)
        token = users.create_token(r, role)[1]
        c = client(server)
        assert c.get("/api/v1/analysts-only", headers=bearer(token)).status_code == (
            200 if role in roles.ANALYSTS else 403
        )
        assert c.get("/api/v1/unruled", headers=bearer(token)).status_code == 403
        assert c.get("/api/v1/nosuch", headers=bearer(token)).status_code == 404


MALFORMED = [
    "Bearer",
    "Bearer ",
    "Basic Y2hpZWY6cGFzc3dvcmQ=",
    "Bearer " + "A" * 100_000,
    "Bearer 令牌令牌",
    "Bearer é" + "x" * 60,
    "Bearer eco_0000000g_" + "a" * 43,
    "Bearer eco_00000000_" + "a" * 43,
    "Token abc",
    "Bearer\ttab",
]


@pytest.mark.parametrize("header", MALFORMED, ids=range(len(MALFORMED)))
def test_wrong_or_malformed_tokens_are_refused_with_a_bearer_challenge(
    chief_server: Flask, r: redis.Redis, header: str
) -> None:
    users.create_token(r, "chief")
    resp = client(chief_server).get("/api/v1/units", headers={"Authorization": header})
    # other schemes are no token at all: a plain challenge, without error="invalid_token"
    assert_refused(resp, presented=header.partition(" ")[0].lower() == "bearer")


def test_a_tokens_digest_or_a_near_miss_is_no_token(chief_server: Flask, r: redis.Redis) -> None:
    _tid, token = users.create_token(r, "chief")
    digest = hashlib.sha256(token.encode()).hexdigest()
    c = client(chief_server)
    for wrong in (
        digest,
        token[:-1],
        token + "x",
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        " " + token + " x",
    ):
        assert_refused(c.get("/api/v1/units", headers=bearer(wrong)))
    assert c.get("/api/v1/units", headers=bearer(token)).status_code == 200


def test_revoking_ends_every_token_of_the_account_only(chief_server: Flask, r: redis.Redis) -> None:
    users.create_user(r, "li", "operator", PASSWORD)
    first, second = users.create_token(r, "chief")[1], users.create_token(r, "chief")[1]
    other = users.create_token(r, "li")[1]
    assert {t["id"] for t in users.list_tokens(r, "chief")} == {first[4:12], second[4:12]}
    c = client(chief_server)
    assert c.get("/api/v1/units", headers=bearer(second)).status_code == 200
    assert users.revoke_tokens(r, "chief") == 2
    for token in (first, second):
        assert_refused(c.get("/api/v1/units", headers=bearer(token)))
    assert users.list_tokens(r, "chief") == []
    assert len(list(r.scan_iter(keys.api_token("*")))) == 1  # li's
    assert c.get("/api/v1/units", headers=bearer(other)).status_code == 200


def test_a_record_left_behind_by_a_revocation_is_inert(chief_server: Flask, r: redis.Redis) -> None:
    token = users.create_token(r, "chief")[1]
    r.delete(keys.user_tokens("chief"))  # as if revoke stopped half-way, after the index
    assert_refused(client(chief_server).get("/api/v1/units", headers=bearer(token)))


@pytest.mark.parametrize("change", ["delete", "role", "recreate"])
def test_tokens_end_with_the_account_or_its_role(
    chief_server: Flask, r: redis.Redis, change: str
) -> None:
    token = users.create_token(r, "chief")[1]
    c = client(chief_server)
    assert c.get("/api/v1/units", headers=bearer(token)).status_code == 200
    if change == "role":
        r.hset(keys.user("chief"), "role", "boss")
    else:
        r.delete(keys.user("chief"))
        if change == "recreate":  # a new account given the old name inherits nothing
            r.srem(keys.USERS, "chief")
            users.create_user(r, "chief", "dispatcher", PASSWORD)
    assert_refused(c.get("/api/v1/units", headers=bearer(token)))


def test_a_token_opens_nothing_but_the_api(chief_server: Flask, r: redis.Redis) -> None:
    token = users.create_token(r, "chief")[1]
    c = client(chief_server)
    resp = c.post(
        "/_dash-update-component",
        headers=bearer(token),
        json={
            "output": "x.children",
            "outputs": {"id": "x", "property": "children"},
            "inputs": [],
            "state": [],
            "changedPropIds": [],
        },
    )
    assert resp.status_code == 401 and "WWW-Authenticate" not in resp.headers
    assert c.get("/_dash-layout", headers=bearer(token)).status_code == 401
    page = c.get("/", headers=bearer(token))
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    assert "Set-Cookie" not in page.headers


def test_with_a_session_the_presented_token_still_decides(
    chief_server: Flask, r: redis.Redis
) -> None:
    c = client(chief_server)
    assert login(c, "chief").status_code == 302
    assert c.get("/api/v1/units").status_code == 200
    # a proxy's Basic credentials are no token: the session counts
    assert c.get("/api/v1/units", headers={"Authorization": "Basic eDp5"}).status_code == 200
    assert_refused(c.get("/api/v1/units", headers=bearer("eco_wrong")), session=True)


# The command line


def test_users_token_prints_it_once_and_stores_only_its_digest(
    settings: Settings, r: redis.Redis, chief_server: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    users_cli.token(settings, "chief")
    out, err = capsys.readouterr()
    token = out.strip()
    assert out == token + "\n" and users.TOKEN_RE.fullmatch(token)
    tid = token[4:12]
    assert tid in err and token not in err
    dump = redis_dump(r)
    assert token.encode() not in dump and token[13:].encode() not in dump  # nor its secret part
    assert hashlib.sha256(token.encode()).hexdigest().encode() in dump
    assert client(chief_server).get("/api/v1/units", headers=bearer(token)).status_code == 200

    users_cli.token(settings, "chief")
    second = capsys.readouterr().out.strip()
    assert second != token
    users_cli.tokens(settings, "chief")
    listing = capsys.readouterr().out
    assert tid in listing and second[4:12] in listing and token not in listing
    users_cli.show(settings)
    assert "2 API tokens" in capsys.readouterr().out

    users_cli.token(settings, "chief", revoke=True)
    out, err = capsys.readouterr()
    assert out == "" and "2 API tokens of chief revoked" in err
    for t in (token, second):
        assert_refused(client(chief_server).get("/api/v1/units", headers=bearer(t)))


@pytest.mark.parametrize(
    ("name", "error"),
    [("nobody", "no user 'nobody'"), ("a b", "a user name has"), ("x" * 500, "a user name has")],
)
def test_users_token_refuses_unknown_or_bad_names(
    settings: Settings, r: redis.Redis, name: str, error: str
) -> None:
    for call in (
        lambda: users_cli.token(settings, name),
        lambda: users_cli.token(settings, name, revoke=True),
        lambda: users_cli.tokens(settings, name),
    ):
        with pytest.raises(ValueError, match=error):
            call()
    assert not list(r.scan_iter(keys.api_token("*")))


def test_run_py_users_token(settings: Settings, r: redis.Redis, chief_server: Flask) -> None:
    env = {
        **os.environ,
        "REDIS_URL": settings.effective_redis_url,
        "MQTT_URL": settings.effective_mqtt_url,
    }
    made = run_users("token", "chief", env=env, stdin="")
    assert made.returncode == 0, (made.returncode, made.stdout, made.stderr)
    token = made.stdout.strip()
    assert made.stdout.count("\n") == 1 and users.TOKEN_RE.fullmatch(token)
    assert token not in made.stderr and token.encode() not in redis_dump(r)
    assert client(chief_server).get("/api/v1/units", headers=bearer(token)).status_code == 200
    listed = run_users("tokens", "chief", env=env, stdin="")
    assert listed.returncode == 0 and token[4:12] in listed.stdout and token not in listed.stdout
    for args, error in [
        (("token", "nobody"), "error: no user 'nobody'"),
        (("token", "a b", "--revoke"), "error: a user name has"),
    ]:
        bad = run_users(*args, env=env, stdin="")
        assert bad.returncode == 2 and bad.stdout == "", (bad.returncode, bad.stdout, bad.stderr)
        assert bad.stderr.strip().startswith(error) and bad.stderr.count("\n") == 1
    revoked = run_users("token", "chief", "--revoke", env=env, stdin="")
    assert revoked.returncode == 0 and revoked.stdout == "", (revoked.returncode, revoked.stderr)
    assert_refused(client(chief_server).get("/api/v1/units", headers=bearer(token)))
