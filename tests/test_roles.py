"""Roles on the server: every callback has a rule, and a direct POST of every callback as anonymous
and as each role gets what the role table says; `/api/*` is gated; security headers everywhere."""

from __future__ import annotations

from typing import Any

import dash
import pytest
import redis
from dash import Input, Output
from flask import Blueprint, Flask, jsonify

from config.settings import Settings
from dashboard import roles
from store import users
from tests.helpers import (
    PASSWORD,
    callback_body,
    client,
    make_app,
    post_callback,
    signed_in,
    wall_signed_in,
)


def add_test_callbacks(server: Flask) -> None:
    """One dispatcher-only callback (so the matrix meets a 403) and one with no rule at all."""
    app: dash.Dash = server.extensions["dash"]

    @roles.callback(
        app,
        Output("test-dispatch", "children"),
        Input("test-go", "n_clicks"),
        roles=roles.DISPATCHERS,
    )
    def dispatch(_n: int | None) -> str:
        return "dispatched"

    @app.callback(Output("test-unruled", "children"), Input("test-go2", "n_clicks"))
    def unruled(_n: int | None) -> str:
        return "should never run"


def test_every_registered_callback_has_a_role_rule(server: Flask) -> None:
    app: dash.Dash = server.extensions["dash"]
    assert app.callback_map, "no callbacks registered?"
    missing = [out for out in app.callback_map if not roles.allowed_roles(app, out)]
    assert not missing, f"callbacks with no role rule: {missing}"
    deps = signed_in(server, "admin").get("/_dash-dependencies").get_json()
    assert {d["output"] for d in deps} <= set(roles.rules(app))


def test_the_walk_finds_a_callback_without_a_rule_and_the_gate_refuses_it(server: Flask) -> None:
    add_test_callbacks(server)
    app: dash.Dash = server.extensions["dash"]
    assert [o for o in app.callback_map if not roles.allowed_roles(app, o)] == [
        "test-unruled.children"
    ]
    body = callback_body(
        {
            "output": "test-unruled.children",
            "state": [],
            "inputs": [{"id": "test-go2", "property": "n_clicks"}],
        }
    )
    assert post_callback(signed_in(server, "admin"), body).status_code == 403  # fail closed


def test_role_matrix_every_callback_as_anonymous_and_each_role(server: Flask) -> None:
    add_test_callbacks(server)
    app: dash.Dash = server.extensions["dash"]
    admin = signed_in(server, "admin")
    deps = [
        d
        for d in admin.get("/_dash-dependencies").get_json()
        if roles.allowed_roles(app, d["output"])
    ]
    assert len(deps) >= 2
    sessions = {role: signed_in(server, role) for role in roles.ROLES}
    sessions[roles.WALL] = wall_signed_in(server)  # a wall screen's session: no account
    seen = set()
    for dep in deps:
        body = callback_body(dep)
        assert post_callback(client(server), body).status_code == 401, dep["output"]
        allowed = roles.allowed_roles(app, dep["output"])
        # 204: allowed, and the callback found nothing to do (no button was clicked); 400: a
        # callback that runs in the browser (Dash's page title) has nothing to run on the server
        done = {400} if dep.get("clientside_function") else {200, 204}
        for role, c in sessions.items():
            status = post_callback(c, body).status_code
            expected = done if role in allowed else {403}
            assert status in expected, (dep["output"], role, status)
            seen.add(status)
    assert seen == {200, 204, 400, 403}


def _freshness(c: Any) -> dict[str, Any]:
    """The live map's freshness callback: any role, and it always answers."""
    (dep,) = [d for d in c.get("/_dash-dependencies").get_json() if "map-freshness" in d["output"]]
    return dep


def test_dash_posts_need_the_csrf_token(server: Flask) -> None:
    c = signed_in(server, "operator")
    dep = _freshness(c)
    assert post_callback(c, callback_body(dep), csrf=False).status_code == 400
    assert post_callback(c, callback_body(dep)).status_code == 200


def test_callback_roles_must_come_from_the_table(server: Flask) -> None:
    app: dash.Dash = server.extensions["dash"]
    for bad in (set(), {"boss"}, {"operator", "root"}):
        with pytest.raises(ValueError, match="roles"):
            roles.callback(app, Output("x", "children"), Input("y", "n_clicks"), roles=bad)


@pytest.mark.parametrize(
    "path",
    [
        "/_dash-layout",
        "/_dash-dependencies",
        "/_favicon.ico",
        "/_dash-component-suites/dash/deps/react@18.3.1.min.js",
        "/api/v1/anything",
        "/api/v1/units",
        "/assets/x.js",
    ],
)
def test_anonymous_requests_to_dash_and_api_routes_are_refused(server: Flask, path: str) -> None:
    resp = client(server).get(path)
    assert resp.status_code == 401 and resp.get_json()["error"]


def test_anonymous_pages_redirect_to_login(server: Flask) -> None:
    resp = client(server).get("/some/page?x=1")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")


def test_api_routes_check_their_roles_and_fail_closed(settings: Settings, r: redis.Redis) -> None:
    for role in roles.ROLES:
        users.create_user(r, role, role, PASSWORD)
    server = make_app(settings)
    bp = Blueprint("test_api", __name__, url_prefix="/api/v1")

    def kpis() -> Any:
        return jsonify({"ok": True})

    def unruled() -> Any:
        return jsonify({"ok": True})

    kpis.roles = roles.ANALYSTS  # type: ignore[attr-defined]
    bp.add_url_rule("/analysts-only", view_func=kpis)  # a stub route, not the real KPIs
    bp.add_url_rule("/unruled", view_func=unruled)
    server.register_blueprint(bp)
    for role in roles.ROLES:
        c = signed_in(server, role)
        assert c.get("/api/v1/analysts-only").status_code == (
            200 if role in roles.ANALYSTS else 403
        )
        assert c.get("/api/v1/unruled").status_code == 403
        assert c.get("/api/v1/nosuch").status_code == 404
    assert client(server).get("/api/v1/analysts-only").status_code == 401


def _check_headers(resp: Any) -> None:
    csp = resp.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self' 'sha256-" in csp and "'unsafe-inline'" not in csp.split(";")[1]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "same-origin"


def test_security_headers_on_every_response(server: Flask) -> None:
    anon, operator = client(server), signed_in(server, "operator")
    for c in (anon, operator):
        for path in ("/", "/login", "/healthz", "/_dash-layout", "/api/v1/x", "/nosuch"):
            _check_headers(c.get(path))
    _check_headers(post_callback(operator, callback_body(_freshness(operator))))
