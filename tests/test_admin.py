"""The admin pages on the server (issue 17, defect 12): only admins get them; every other role,
and a wall screen, gets the refusal and a 403 for every forged callback post, which changes
nothing; hostile values never give a 500. The service functions behind them: a role change,
disabling (its sessions and tokens refused at once), one token revoked, the last administrator
kept, and account listings that never hold a password hash."""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
from typing import Any

import dash
import pytest
import redis
from flask import Flask

from config.settings import Settings
from dashboard import roles
from layouts.admin_accounts import Ids as Accounts
from layouts.admin_devices import Ids as Devices
from layouts.admin_tokens import Ids as Tokens
from layouts.admin_walls import Ids as Walls
from services import accounts
from services.errors import Invalid
from store import audit as log
from store import devices, keys, users
from tests.helpers import (
    PASSWORD,
    callback_body,
    client,
    login,
    post_callback,
    routed_page,
    run_users,
    signed_in,
    wall_signed_in,
)

ADMIN_PATHS = ("/admin", "/admin/tokens", "/admin/devices", "/admin/walls")
ADMIN_IDS = ("acct-", "tok-", "dev-", "wall-")


# sessions and audit entries: what signing in writes (store/keys.py: every key under its tag)
_SIGN_INS = (b"{g}session:", b"{g}audit:")


def _admin_deps(c: Any) -> list[dict[str, Any]]:
    deps = [
        d
        for d in c.get("/_dash-dependencies").get_json()
        if d["output"].lstrip(".").startswith(ADMIN_IDS)
    ]
    assert len(deps) == 12, [d["output"] for d in deps]  # 3 callbacks on each of 4 pages
    return deps


def _clicked(dep: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The body of `dep` as if its buttons were clicked with these form values."""
    body = callback_body(dep)
    for item in [*body["inputs"], *body["state"]]:
        if item["property"] == "n_clicks":
            item["value"] = 1
        elif item["id"] in values:
            item["value"] = values[item["id"]]
    body["changedPropIds"] = [f"{i['id']}.n_clicks" for i in body["inputs"]][:1]
    return body


FORM = {
    Accounts.NAME: "mole",
    Accounts.ROLE: "admin",
    Accounts.PASSWORD: PASSWORD,
    Accounts.PASSWORD2: PASSWORD,
    Accounts.EDIT_NAME: "operator",
    Accounts.EDIT_ROLE: "admin",
    Tokens.ACCOUNT: "admin",
    Devices.DEVICE: "U-MOLE",
    Devices.KIND: "unit",
    Walls.SCREEN: "mole's screen",
}


def test_only_admins_get_the_admin_pages_and_their_callbacks(server: Flask, r: redis.Redis) -> None:
    app: dash.Dash = server.extensions["dash"]
    admin = signed_in(server, "admin")
    deps = _admin_deps(admin)
    assert all(roles.allowed_roles(app, d["output"]) == roles.ADMINS for d in deps)
    for path in ADMIN_PATHS:
        page = routed_page(admin, path)
        assert "ec-admin-page" in page and "系统管理" in page, path
    others = {role: signed_in(server, role) for role in roles.ROLES if role != roles.ADMIN}
    others[roles.WALL] = wall_signed_in(server)
    before = {k for k in r.scan_iter() if not k.startswith(_SIGN_INS)}
    for role, c in others.items():
        for path in ADMIN_PATHS:
            page = routed_page(c, path)
            assert "您的角色无权查看此页面" in page and "ec-admin-page" not in page, (role, path)
            assert "acct-" not in page and "系统管理" not in page, (role, path)
        for dep in deps:  # forged posts, buttons "clicked" with a whole form: refused
            assert post_callback(c, _clicked(dep, FORM)).status_code == 403, (role, dep["output"])
        assert "系统管理" not in routed_page(c, "/")  # no link to it either
    for dep in deps:
        assert post_callback(client(server), callback_body(dep)).status_code == 401
    after = {k for k in r.scan_iter() if not k.startswith(_SIGN_INS)}
    assert after == before  # nothing was created
    assert users.get_user(r, "mole") is None and devices.get(r, "U-MOLE") is None
    assert users.get_user(r, "operator")["role"] == "operator"  # type: ignore[index]


HOSTILE: list[Any] = [None, 7, ["admin"], {"$ne": 1}, "x" * 5000, "<b>x</b>", "a{b}", ""]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_values_in_the_admin_callbacks_never_give_a_server_error(
    server: Flask, r: redis.Redis, value: Any
) -> None:
    admin = signed_in(server, "admin")
    for dep in _admin_deps(admin):
        body = _clicked(dep, dict.fromkeys(FORM, value))
        resp = post_callback(admin, body)
        assert resp.status_code in (200, 204), (dep["output"], value, resp.data[:300])
        assert "Traceback" not in resp.get_data(as_text=True)
    # no account and no device was made of them, and every role is as it was
    assert {(u["name"], u["role"]) for u in users.list_users(r)} == {(n, n) for n in roles.ROLES}
    assert devices.roster(r) == []


def test_roles_change_disable_and_the_last_admin(server: Flask, r: redis.Redis) -> None:
    c = signed_in(server, "operator")
    _tid, token = users.create_token(r, "operator")
    assert c.get("/_dash-layout").status_code == 200
    assert client(server).get("/api/v1/units", headers={"Authorization": f"Bearer {token}"})
    accounts.disable(r, "operator", by="user:admin")
    # refused at the next request: the session and the token
    assert c.get("/_dash-layout").status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert client(server).get("/api/v1/units", headers=bearer).status_code == 401
    assert login(client(server), "operator").status_code == 401
    accounts.enable(r, "operator", by="user:admin")
    assert client(server).get("/api/v1/units", headers=bearer).status_code == 200
    assert login(client(server), "operator").status_code == 302
    # a role change applies from the next request
    leader = signed_in(server, "leader")
    assert "您的角色无权查看此页面" not in routed_page(leader, "/trail")
    accounts.set_role(r, "leader", "operator", by="user:admin")
    assert "您的角色无权查看此页面" in routed_page(leader, "/trail")
    # no one changes or disables themself, and the last administrator stays one
    with pytest.raises(Invalid) as e:
        accounts.set_role(r, "admin", "operator", by="user:admin")
    assert e.value.key == "self"
    with pytest.raises(Invalid) as e:
        accounts.disable(r, "admin", by="cli:root")
    assert e.value.key == "last_admin"
    with pytest.raises(Invalid) as e:
        accounts.set_role(r, "dispatcher", "officer", by="user:admin")  # an officer needs a unit
    assert e.value.key == "unit"
    users.create_user(r, "admin2", "admin", PASSWORD)
    accounts.set_role(r, "admin", "leader", by="user:admin2")
    assert users.get_user(r, "admin")["role"] == "leader"  # type: ignore[index]


def test_one_token_is_revoked_by_its_id(r: redis.Redis) -> None:
    accounts.add_user(r, "wu", "operator", PASSWORD)
    first, one = accounts.new_token(r, "wu")
    _second, two = accounts.new_token(r, "wu")
    accounts.revoke_token(r, "wu", first, by="user:admin")
    assert users.verify_token(r, one) is None and users.verify_token(r, two) == "wu"
    assert [t["id"] for t in accounts.tokens(r, "wu")] == [_second]
    for bad in (first, "zzzzzzzz", "", "../x"):
        with pytest.raises(Invalid):
            accounts.revoke_token(r, "wu", bad)


def test_account_listings_never_hold_a_password_hash(r: redis.Redis) -> None:
    accounts.add_user(r, "wu", "operator", PASSWORD)
    assert "hash" in users.get_user(r, "wu")  # type: ignore[operator]  # kept to check passwords
    listed = accounts.list_accounts(r)
    assert listed and all("hash" not in u for u in listed)
    assert "argon2" not in json.dumps(listed) and "argon2" not in json.dumps(users.list_users(r))
    assert r.hget(keys.user("wu"), "hash").startswith(b"$argon2id$")  # type: ignore[union-attr]


def test_the_users_command_changes_roles_disables_and_revokes_one_token(
    settings: Settings, r: redis.Redis
) -> None:
    env = {
        **os.environ,
        "REDIS_URL": settings.effective_redis_url,
        "MQTT_URL": settings.effective_mqtt_url,
    }
    users.create_user(r, "wu", "operator", PASSWORD)
    users.create_user(r, "admin", "admin", PASSWORD)
    keep, _ = users.create_token(r, "wu")
    gone, _ = users.create_token(r, "wu")
    for args in (
        ("role", "wu", "leader"),
        ("disable", "wu"),
        ("token", "wu", "--revoke", "--id", gone),
    ):
        out = run_users(*args, env=env, stdin="")
        assert out.returncode == 0, (args, out.stderr)
    assert users.get_user(r, "wu")["role"] == "leader"  # type: ignore[index]
    assert [t["id"] for t in users.list_tokens(r, "wu")] == [keep]
    listing = run_users("list", env=env, stdin="").stdout
    assert "wu" in listing and "disabled" in listing and "argon2" not in listing
    assert run_users("enable", "wu", env=env, stdin="").returncode == 0
    assert not users.get_user(r, "wu").get("disabled_ms")  # type: ignore[union-attr]
    refused = run_users("disable", "admin", env=env, stdin="")  # the last administrator
    assert refused.returncode == 2 and "last administrator" in refused.stderr
    actions = [e["action"] for _d, e in log.entries(r, "record")]
    assert {"account.role_changed", "account.disabled", "account.enabled"} <= set(actions)
    assert "account.token_revoked" in actions


def test_a_new_device_s_qr_code_holds_what_its_phone_needs(settings: Settings) -> None:
    from domain.devices import enrolment_uri
    from services.devices import broker_for_devices

    secret = "s3cr-t_X"
    assert enrolment_uri("unit", "U-DP-901", secret, "mqtt://10.1.2.3:1883") == (
        "mqtt://U-DP-901:s3cr-t_X@10.1.2.3:1883"
    )
    link = enrolment_uri("owntracks", "li", secret, "mqtts://mqtt.example.org:8883")
    assert link.startswith("owntracks:///config?inline=")
    inline = urllib.parse.unquote(link.split("inline=", 1)[1])
    config = json.loads(base64.b64decode(inline))
    assert config == {
        "_type": "configuration",
        "mode": 0,
        "host": "mqtt.example.org",
        "port": 8883,
        "tls": True,
        "auth": True,
        "username": "li",
        "password": secret,
        "deviceId": "phone",
    }
    # where devices reach the broker: never the web app's own MQTT credentials
    embedded = settings.model_copy(update={"mqtt_url": None})
    assert broker_for_devices(embedded, "192.168.1.20:8050") == "mqtt://192.168.1.20:1883"
    external = settings.model_copy(update={"mqtt_url": "mqtts://web:pw@127.0.0.1:8883"})
    assert broker_for_devices(external, "ops.example.org") == "mqtts://ops.example.org:8883"
    named = settings.model_copy(update={"device_broker_url": "mqtt://broker.example.org:1884"})
    assert broker_for_devices(named, "x") == "mqtt://broker.example.org:1884"
    with pytest.raises(ValueError, match="DEVICE_BROKER_URL"):
        Settings(device_broker_url="mqtt://user:pw@broker:1883", _env_file=None)
