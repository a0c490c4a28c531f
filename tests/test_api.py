"""The JSON API answers what docs/openapi.yaml promises, to signed-in users only."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from openapi_spec_validator import validate

from config.settings import Settings
from dashboard import roles
from store import users
from tests.helpers import (
    PASSWORD,
    SPEC,
    client,
    login,
    make_app,
    schema_validator,
    seed_one_of_each,
    signed_in,
)


def test_the_openapi_document_is_valid() -> None:
    validate(SPEC)


@pytest.mark.parametrize(
    "path", ["/api/v1/units", "/api/v1/vessels", "/api/v1/sensors", "/api/v1/alerts"]
)
def test_every_route_answers_its_schema_to_every_role(
    settings: Settings, r: redis.Redis, path: str
) -> None:
    seed_one_of_each(r)
    for role in roles.ROLES:
        users.create_user(r, role, role, PASSWORD)
    server = make_app(settings)
    assert client(server).get(path).status_code == 401
    for role in roles.ROLES:
        c = client(server)
        assert login(c, role).status_code == 302
        resp = c.get(path)
        assert resp.status_code == 200, (role, resp.status_code)
        body: dict[str, Any] = resp.get_json()
        errors = list(schema_validator(path).iter_errors(body))
        assert not errors, [e.message for e in errors]
        assert body["count"] == len(body["items"]) == 1


def test_the_api_says_unavailable_in_json_while_redis_does_not_answer(
    server: Any, r: redis.Redis
) -> None:
    """Redis paused past the app's 2 s socket timeout: a 503 the client can read and retry,
    never a 500 HTML page."""
    c = signed_in(server, "dispatcher")
    assert c.get("/api/v1/incidents").status_code == 200
    r.client_pause(4000, all=True)
    resp = c.get("/api/v1/incidents")
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
    assert "unavailable" in resp.get_json()["error"]
    r.execute_command("CLIENT", "UNPAUSE")
    assert c.get("/api/v1/incidents").status_code == 200
