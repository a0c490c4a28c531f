"""The shared frame: the router shows a page only to the roles it names, unknown paths say so,
and query strings from the address bar are parsed defensively."""

from __future__ import annotations

import redis
from flask.testing import FlaskClient

from callbacks.shell import query
from config.settings import Settings
from dashboard import roles
from layouts.shell import Ids as Shell
from store import users
from tests.test_auth import PASSWORD, make_app
from tests.test_roles import signed_in


def test_query_strings_are_parsed_defensively() -> None:
    assert query("?wall=1&x=2") == {"wall": "1", "x": "2"}
    assert query("?wall=1&wall=0") == {"wall": "1"}  # the first wins
    assert query(None) == {} and query(["wall=1"]) == {} and query("") == {}
    assert query("?" + "a=1&" * 5000) == {"a": "1"}  # long input is cut, not choked on


def _route(c: FlaskClient, pathname: object, search: object = "") -> dict:
    body = {
        "output": f"..{Shell.CONTENT}.children...{Shell.SLOT}.children...{Shell.PAGE}.className..",
        "outputs": [
            {"id": Shell.CONTENT, "property": "children"},
            {"id": Shell.SLOT, "property": "children"},
            {"id": Shell.PAGE, "property": "className"},
        ],
        "changedPropIds": [f"{Shell.URL}.pathname"],
        "inputs": [
            {"id": Shell.URL, "property": "pathname", "value": pathname},
            {"id": Shell.URL, "property": "search", "value": search},
        ],
        "state": [{"id": Shell.LANG, "property": "value", "value": "en"}],
    }
    resp = c.post(
        "/_dash-update-component",
        json=body,
        headers={"X-CSRFToken": c.get_cookie("_csrf_token").value},
    )
    assert resp.status_code == 200, resp.data
    return resp.get_json()["response"]


def test_the_router_renders_pages_and_the_wall_variant(settings: Settings, r: redis.Redis) -> None:
    users.create_user(r, "duty", roles.OPERATOR, PASSWORD)
    c = signed_in(make_app(settings), "duty")
    out = _route(c, "/")
    assert "map-map" in str(out[Shell.CONTENT]) and out[Shell.PAGE]["className"] == "ec-page"
    wall = _route(c, "/", "?wall=1")
    assert wall[Shell.PAGE]["className"] == "ec-page ec-wall"
    assert "No such page" in str(_route(c, "/nosuch"))
    assert "map-map" in str(_route(c, None)[Shell.CONTENT])  # before the URL is known
