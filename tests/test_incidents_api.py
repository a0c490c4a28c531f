"""The incidents API over HTTP with a real Redis: duty chiefs act, others only read, bodies are
validated, refusals say why, and the state machine and unit booking hold through the API."""

from __future__ import annotations

import time

import orjson
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings
from dashboard import roles
from ingest import units
from ingest.context import HandlerContext
from store import users
from store.writer import LiveStore
from tests.test_api import SPEC
from tests.test_auth import PASSWORD, client, make_app
from tests.test_roles import signed_in


def _check(body: object, path: str, method: str = "get", status: str = "200") -> None:
    """The answer matches what docs/openapi.yaml promises for that route."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    registry = Registry().with_resource("urn:spec", Resource.opaque(SPEC))
    ref = SPEC["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"][
        "$ref"
    ]
    errors = list(
        Draft202012Validator({"$ref": "urn:spec" + ref}, registry=registry).iter_errors(body)
    )
    assert not errors, errors[:3]


NEW = {
    "type": "illegal_logging",
    "priority": 1,
    "lat": 22.52,
    "lon": 114.54,
    "description": "七娘山 盗伐",
}


@pytest.fixture
def server(settings: Settings, r: redis.Redis) -> Flask:
    for role in roles.ROLES:
        users.create_user(r, role, role, PASSWORD)
    return make_app(settings)


def _post(c: FlaskClient, path: str, body: object, csrf: bool = True) -> tuple[int, dict]:
    cookie = c.get_cookie("_csrf_token")
    headers = {"X-CSRFToken": cookie.value} if csrf and cookie else {}
    resp = c.post(path, data=orjson.dumps(body), headers=headers, content_type="application/json")
    return resp.status_code, resp.get_json(silent=True) or {}


def _unit(
    r: redis.Redis,
    unit_id: str,
    kind: str,
    lat: float,
    lon: float,
    department: str = "forestry",
    skills: tuple[str, ...] = (),
) -> None:
    now = time.time_ns() // 1_000_000
    store, ctx = LiveStore(r, 3_600_000, 1000), HandlerContext(received_ms=now)
    store.write(
        units.handle_profile(
            unit_id,
            orjson.dumps(
                {
                    "unit_id": unit_id,
                    "ts": now,
                    "name": unit_id,
                    "department": department,
                    "kind": kind,
                    "level": "community",
                    "skills": list(skills),
                }
            ),
            ctx,
        ),
        now,
    )
    store.write(
        units.handle_position(
            unit_id,
            orjson.dumps(
                {
                    "unit_id": unit_id,
                    "seq": 1,
                    "ts": now,
                    "lat": lat,
                    "lon": lon,
                    "status": "available",
                }
            ),
            ctx,
        ),
        now,
    )


def test_open_read_list_as_the_roles_allow(server: Flask) -> None:
    chief, operator = signed_in(server, "dispatcher"), signed_in(server, "operator")
    assert _post(client(server), "/api/v1/incidents", NEW)[0] == 401
    assert _post(operator, "/api/v1/incidents", NEW)[0] == 403
    assert _post(signed_in(server, "leader"), "/api/v1/incidents", NEW)[0] == 403
    assert _post(chief, "/api/v1/incidents", NEW, csrf=False)[0] == 400  # a cookie needs CSRF
    status, inc = _post(chief, "/api/v1/incidents", NEW)
    assert status == 201, inc
    assert (inc["state"], inc["domain"], inc["departments"], inc["subdistrict"]) == (
        "reported",
        "land",
        ["forestry"],
        "nanao",
    )
    assert [t["to"] for t in inc["timeline"]] == ["reported"]
    _check(inc, "/api/v1/incidents", "post", "201")
    listed = operator.get("/api/v1/incidents?state=reported").get_json()
    _check(listed, "/api/v1/incidents")
    assert [i["id"] for i in listed["items"]] == [inc["id"]]
    assert operator.get("/api/v1/incidents?state=closed").get_json()["count"] == 0
    assert operator.get("/api/v1/incidents?state=bogus").status_code == 422
    assert operator.get(f"/api/v1/incidents/{inc['id']}").get_json()["id"] == inc["id"]
    assert operator.get("/api/v1/incidents/INC-nope").status_code == 404


@pytest.mark.parametrize(
    "bad",
    [
        {**NEW, "type": "piracy"},
        {**NEW, "lat": "22.5"},
        {**NEW, "lat": 95.0},
        {**NEW, "lat": 40.0, "lon": -74.0},  # valid coordinates, far outside the area
        {**NEW, "priority": 0},
        {**NEW, "description": "x" * 5000},
        {**NEW, "evidence": ["a"] * 50},
        {**NEW, "surprise": True},
        {k: v for k, v in NEW.items() if k != "lat"},
        [NEW],
        "not json",
    ],
)
def test_bad_bodies_are_refused_with_a_reason(server: Flask, r: redis.Redis, bad: object) -> None:
    chief = signed_in(server, "dispatcher")
    status, body = _post(chief, "/api/v1/incidents", bad)
    assert status in (400, 422) and body["error"], (status, body)
    assert r.zcard("idx:incidents") == 0  # nothing half-written


def test_candidates_assign_and_the_state_machine(server: Flask, r: redis.Redis) -> None:
    _unit(r, "FO-CAR", "vehicle", 22.50, 114.57)  # Nan'ao, by road
    _unit(r, "FO-FOOT", "foot", 22.52, 114.545)  # a few hundred metres away on foot
    _unit(r, "FO-BOAT", "boat", 22.49, 114.49, department="fishery_maritime")  # at sea
    _unit(r, "EE-CAR", "vehicle", 22.53, 114.53, department="eco_environment")  # wrong dept
    chief = signed_in(server, "dispatcher")
    inc = _post(chief, "/api/v1/incidents", NEW)[1]
    found = chief.get(f"/api/v1/incidents/{inc['id']}/candidates").get_json()["items"]
    assert [c["unit_id"] for c in found] == ["FO-FOOT", "FO-CAR"]  # land forestry units by ETA
    assert all(c["eta_s"] > 0 and not c["stale"] for c in found)
    _check(
        chief.get(f"/api/v1/incidents/{inc['id']}/candidates").get_json(),
        "/api/v1/incidents/{incident_id}/candidates",
    )

    path = f"/api/v1/incidents/{inc['id']}"
    assert _post(signed_in(server, "operator"), path + "/assign", {"units": ["FO-CAR"]})[0] == 403
    status, body = _post(chief, path + "/transition", {"to": "on_scene"})
    assert status == 409 and "reported cannot become on_scene" in body["error"]
    assert _post(chief, path + "/transition", {"to": "rejected"})[1]["error"].endswith(
        "needs a reason"
    )
    status, body = _post(chief, path + "/assign", {"units": ["FO-CAR"]})
    assert status == 200 and body["state"] == "assigned" and body["durable"] is True
    other = _post(chief, "/api/v1/incidents", {**NEW, "priority": 2})[1]
    status, body = _post(chief, f"/api/v1/incidents/{other['id']}/assign", {"units": ["FO-CAR"]})
    assert status == 409 and body["unit"] == "FO-CAR"  # no double booking
    assert _post(chief, path + "/assign", {"units": []})[0] == 422
    for target in ("en_route", "on_scene", "handled", "closed"):
        status, body = _post(chief, path + "/transition", {"to": target})
        assert status == 200 and body["state"] == target, body
    assert [t["to"] for t in body["timeline"]] == [
        "reported",
        "assigned",
        "en_route",
        "on_scene",
        "handled",
        "closed",
    ]
    _check(body, "/api/v1/incidents/{incident_id}/transition", "post")
    _check(chief.get(path).get_json(), "/api/v1/incidents/{incident_id}")


def test_an_api_token_writes_without_csrf(server: Flask, r: redis.Redis) -> None:
    _id, token = users.create_token(r, "dispatcher")
    c = client(server)
    resp = c.post(
        "/api/v1/incidents",
        data=orjson.dumps(NEW),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 201 and "Set-Cookie" not in resp.headers
    _id, op_token = users.create_token(r, "operator")
    resp = c.post(
        "/api/v1/incidents",
        data=orjson.dumps(NEW),
        content_type="application/json",
        headers={"Authorization": f"Bearer {op_token}"},
    )
    assert resp.status_code == 403
