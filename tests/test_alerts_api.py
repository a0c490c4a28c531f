"""The alert actions and the owner reassignment over the API: the same services the live map's
feed and the coverage page call, the same roles, the same refusals."""

from __future__ import annotations

import orjson
import redis
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings
from dashboard import roles
from domain.coverage_places import load_coverage
from store import coverage, incidents, keys, snapshots, users
from store.ops import RaiseAlert
from store.writer import LiveStore
from tests.helpers import CELL, PASSWORD, assert_matches_spec, client, make_app, post_json
from tests.helpers import signed_in as signed_in_as

HOUR_MS = 3_600_000


def _app(settings: Settings, r: redis.Redis) -> Flask:
    for role in roles.ROLES:
        users.create_user(r, role, role, PASSWORD)
    return make_app(settings)


def _raise(r: redis.Redis, alert_id: str, kind: str = "water_quality") -> str:
    ts = 1_764_300_000_000
    fields = {"kind": kind, "severity": "critical", "source": "S-1", "name": "近岸1",
              "lat": 22.55, "lon": 114.5, "message": "COD 9 (class I <= 2)"}  # fmt: skip
    LiveStore(r, HOUR_MS, 1000).write([RaiseAlert(alert_id=alert_id, ts=ts, fields=fields)], ts)
    return alert_id


def _put(c: FlaskClient, path: str, body: object) -> tuple[int, dict]:
    cookie = c.get_cookie("_csrf_token")
    headers = {"X-CSRFToken": cookie.value} if cookie else {}
    resp = c.put(path, data=orjson.dumps(body), headers=headers, content_type="application/json")
    return resp.status_code, resp.get_json(silent=True) or {}


def test_acknowledge_as_the_roles_allow_once(settings: Settings, r: redis.Redis) -> None:
    server, a = _app(settings, r), _raise(r, "wq:S-1:1:1")
    path = f"/api/v1/alerts/{a}/acknowledge"
    assert post_json(client(server), path, {})[0] == 401
    for role in ("leader", "admin"):
        assert post_json(signed_in_as(server, role), path, {})[0] == 403
    status, body = post_json(signed_in_as(server, "operator"), path, {})
    assert status == 200 and body == {"id": a, "acknowledged": True, "already": False}
    assert_matches_spec(body, "/api/v1/alerts/{alert_id}/acknowledge", "post")
    status, body = post_json(signed_in_as(server, "dispatcher"), path, {})
    assert status == 200 and body["already"] is True
    (alert,) = snapshots.open_alerts(r)
    assert alert["ack_by"] == "operator"  # the first one, recorded
    assert (
        post_json(signed_in_as(server, "operator"), "/api/v1/alerts/nope/acknowledge", {})[0] == 409
    )


def test_dismiss_needs_a_known_reason_and_a_duty_chief(settings: Settings, r: redis.Redis) -> None:
    server, a = _app(settings, r), _raise(r, "wq:S-1:1:2")
    path = f"/api/v1/alerts/{a}/dismiss"
    assert post_json(signed_in_as(server, "operator"), path, {"reason": "duplicate"})[0] == 403
    chief = signed_in_as(server, "dispatcher")
    assert post_json(chief, path, {"reason": "=cmd|' /C calc'!A0"})[0] == 422
    assert post_json(chief, path, ["duplicate"])[0] == 400
    assert snapshots.open_alerts(r)  # nothing closed by the refusals
    status, body = post_json(chief, path, {"reason": "duplicate"})
    assert status == 200 and body["closed"] is True and snapshots.open_alerts(r) == []
    assert r.hget(keys.alert(a), "close_reason") == b"duplicate"
    assert post_json(chief, path, {"reason": "duplicate"})[0] == 409  # gone


def test_an_alert_becomes_the_incident_it_suggests(settings: Settings, r: redis.Redis) -> None:
    server, a = _app(settings, r), _raise(r, "wq:S-1:1:3")
    path = f"/api/v1/alerts/{a}/incident"
    assert post_json(signed_in_as(server, "operator"), path, {})[0] == 403
    status, inc = post_json(signed_in_as(server, "dispatcher"), path, {})
    assert status == 201, inc
    assert_matches_spec(inc, "/api/v1/alerts/{alert_id}/incident", "post", "201")
    assert (inc["type"], inc["source"], inc["priority"]) == ("water_pollution", "sensor_alert", 1)
    assert incidents.read(r, inc["id"])["alert_id"] == a
    assert snapshots.open_alerts(r) == []  # closed, naming the incident
    assert r.hget(keys.alert(a), "close_reason") == f"incident {inc['id']}".encode()
    assert post_json(signed_in_as(server, "dispatcher"), path, {})[0] == 409


def test_only_admins_reassign_an_owner_and_it_is_kept(settings: Settings, r: redis.Redis) -> None:
    server = _app(settings, r)
    path = f"/api/v1/coverage/places/{CELL}/owner"
    for role in ("operator", "dispatcher", "leader"):
        assert _put(signed_in_as(server, role), path, {"owner": "李四"})[0] == 403
    admin = signed_in_as(server, "admin")
    for bad in ({"owner": ""}, {"owner": "x" * 41}, {"owner": "a\nb"}):
        assert _put(admin, path, bad)[0] == 422, bad
    assert _put(admin, path, {"name": "李四"})[0] == 400
    assert _put(admin, "/api/v1/coverage/places/nowhere/owner", {"owner": "李四"})[0] == 404
    status, body = _put(admin, path, {"owner": " 李四 "})
    assert status == 200 and body["owner"] == "李四" and body["place_id"] == CELL
    assert_matches_spec(body, "/api/v1/coverage/places/{place_id}/owner", "put")
    assert r.hget(keys.COVERAGE_OWNERS, CELL) == "李四".encode()
    (event,) = [f for _id, f in r.xrange(keys.EVENTS) if f[b"type"] == b"coverage_owner"]
    assert event[b"by"] == b"admin"
    assert coverage.owners(r, load_coverage())[CELL] == "李四"  # what warnings and the page name
