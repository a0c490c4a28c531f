"""The pages and their frame: Dash Pages builds a page for the signed-in role and language when it
is opened (a role a page is not for gets the refusal, an unknown path the 404 page); switching the
language keeps it in the session; the page registry holds nothing of any one app; and each role's
page is whole for every callback it can fire, and inside the validation layout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import dash
import redis
from dash.development.base_component import Component
from flask import Flask
from flask.testing import FlaskClient
from flask_login import login_user
from plotly.utils import PlotlyJSONEncoder

from callbacks.shell import here
from config.settings import Settings
from dashboard import roles
from dashboard.auth import User
from layouts import pages
from layouts.shell import Ids as Shell
from layouts.shell import params
from services.accounts import Account
from store import users
from tests.helpers import PASSWORD, make_app, post_callback, routed_page, signed_in


def test_query_parameters_are_taken_in_defensively() -> None:
    assert params({"wall": "1", "x": "2"}) == {"wall": "1", "x": "2"}
    assert params({"wall": ["1", "0"]}) == {"wall": "1"}  # a repeated key: the first wins
    assert params({"a": 3, "b": None, "c": [], 4: "x"}) == {}
    assert params({"a": "x" * 10_000}) == {"a": "x" * 200}  # long input is cut, not choked on
    assert len(params({f"k{i}": "v" for i in range(5000)})) == 20
    assert here("/kpis", "?wall=1") == "/kpis?wall=1"
    for odd in (None, "", "kpis", "//evil.example", "/\\evil.example", ["/"]):
        assert here(odd, "?x=1") == "/?x=1", odd
    assert here("/", "x=1") == "/" and here("/", None) == "/"


def _switch(c: FlaskClient, lang: object, pathname: str = "/", search: str = "") -> Any:
    body = {
        "output": f"{Shell.RELOAD}.href",
        "outputs": {"id": Shell.RELOAD, "property": "href"},
        "changedPropIds": [f"{Shell.LANG}.value"],
        "inputs": [{"id": Shell.LANG, "property": "value", "value": lang}],
        "state": [
            {"id": Shell.RELOAD, "property": "pathname", "value": pathname},
            {"id": Shell.RELOAD, "property": "search", "value": search},
        ],
    }
    return post_callback(c, body)


def test_the_router_builds_pages_for_the_role_and_the_wall_variant(
    settings: Settings, r: redis.Redis
) -> None:
    users.create_user(r, "duty", roles.OPERATOR, PASSWORD)
    c = signed_in(make_app(settings), "duty")
    page = routed_page(c, "/")
    assert "map-map" in page and '"ec-page"' in page and "态势地图" in page
    assert "map-ack-note" in page and "map-close-note" not in page  # acknowledges, never closes
    assert '"ec-page ec-wall"' in routed_page(c, "/", "?wall=1")
    assert "map-ack-note" not in routed_page(c, "/", "?wall=1")  # nobody acts on a wall screen
    assert "没有这个页面" in routed_page(c, "/nosuch") and "没有这个页面" in routed_page(c, None)
    kpis = routed_page(c, "/kpis")
    assert "您的角色无权查看此页面" in kpis and "kpi-tiles" not in kpis
    assert "nav.kpis" not in kpis and "效能指标" not in kpis  # no link to it either


def test_the_language_is_kept_in_the_session_and_the_page_reloads_in_it(
    settings: Settings, r: redis.Redis
) -> None:
    users.create_user(r, "boss", roles.LEADER, PASSWORD)
    c = signed_in(make_app(settings), "boss")
    assert "效能指标" in routed_page(c, "/kpis")  # Chinese by default
    resp = _switch(c, "en", "/kpis", "?wall=1&period=30d")
    assert resp.status_code == 200
    # a relative address: the browser reloads the page it is on, built again in English
    assert resp.get_json()["response"][Shell.RELOAD]["href"] == "/kpis?wall=1&period=30d"
    page = routed_page(c, "/kpis", "?wall=1")
    assert "Enforcement performance report" in page and "Live map" in page and "效能" not in page
    assert _switch(c, "en").status_code == 204  # already English: nothing to reload
    assert _switch(c, "fr").status_code == 204 and _switch(c, ["zh"]).status_code == 204
    assert "Enforcement performance report" in routed_page(c, "/kpis")
    assert _switch(c, "zh").status_code == 200 and "效能指标" in routed_page(c, "/kpis")


def _page_as(server: Flask, page: pages.Page, role: str, **query: str) -> Component:
    """`page` as Dash's router builds it for a user with `role`."""
    with server.test_request_context("/"):
        login_user(User("test-session", Account(role, role)))
        return pages.render(page, **query)


def test_pages_register_once_per_process_and_keep_nothing_of_an_app(
    settings: Settings,
) -> None:
    tiles_a, tiles_b = "https://a.example/{z}/{x}/{y}.png", "https://b.example/{z}/{x}/{y}.png"
    first = make_app(settings, map_tiles_url=tiles_a)
    entries = {k: dict(v) for k, v in dash.page_registry.items()}
    second = make_app(settings, map_tiles_url=tiles_b)
    assert set(dash.page_registry) == {p.module for p in pages.PAGES} | {pages.NOT_FOUND}
    assert {k: dict(v) for k, v in dash.page_registry.items()} == entries  # the same again
    home = pages.PAGES[0]
    assert tiles_a in str(_page_as(first, home, roles.OPERATOR)) and tiles_b not in str(
        _page_as(first, home, roles.OPERATOR)
    )
    assert tiles_b in str(_page_as(second, home, roles.OPERATOR))


# -- every role's page is whole for the callbacks it can fire --------------------------------


def _ids(node: Any) -> Iterator[str]:
    """The ids of a layout, as Dash's dependencies name them (a pattern id as sorted JSON)."""
    if isinstance(node, list | tuple):
        for child in node:
            yield from _ids(child)
        return
    if not isinstance(node, Component):
        return
    ident = getattr(node, "id", None)
    if isinstance(ident, dict):
        yield json.dumps(ident, sort_keys=True, separators=(",", ":"))
    elif ident is not None:
        yield str(ident)
    for prop in node._prop_names:  # children, and components held in other props
        yield from _ids(getattr(node, prop, None))


def _parts(spec: str) -> list[str]:
    """The component ids of a dependency string `id.prop` or `..a.p...b.q..` (@hash removed)."""
    specs = spec.strip(".").split("...") if spec.startswith("..") else [spec]
    return [s.split("@", 1)[0].rsplit(".", 1)[0] for s in specs]


def _wild(ident: str) -> bool:
    return ident.startswith("{") and '["ALL"]' in ident.replace(" ", "")


def _variants(page: pages.Page) -> list[dict[str, str]]:
    return [{}, {"wall": "1"}] if page.wall else [{}]


def test_every_callback_a_page_can_fire_finds_all_it_needs_and_allows_the_role(
    server: Flask,
) -> None:
    """The browser calls a callback when one of its inputs is on the page (or, with only pattern
    inputs, when its outputs are): then every input, state and output must be on the page (or
    the renderer logs an error), and the role must be allowed (or the server answers 403)."""
    app: dash.Dash = server.extensions["dash"]
    deps = [
        (d["output"], [i["id"] for i in d["inputs"]], [s["id"] for s in d["state"]])
        for d in app._callback_list
    ]
    shell_ids = set(_ids(app.layout))
    checked = 0
    for page in pages.PAGES:
        for role in sorted(page.roles):
            for query in _variants(page):
                on_page = shell_ids | set(_ids(_page_as(server, page, role, **query)))
                for output, inputs, state in deps:
                    outs = [o for o in _parts(output) if not _wild(o)]
                    plain = [i for i in inputs if not _wild(i)]
                    live = any(i in on_page for i in plain) if plain else set(outs) <= on_page
                    if not live:
                        continue
                    where = (page.path, role, query, output)
                    assert set(plain + outs) <= on_page, where
                    assert {s for s in state if not _wild(s)} <= on_page, where
                    assert role in roles.allowed_roles(app, output), where
                    checked += 1
    assert checked > 50


def test_the_validation_layout_holds_every_component_of_every_page_for_every_role(
    server: Flask,
) -> None:
    app: dash.Dash = server.extensions["dash"]
    valid = set(_ids(app.validation_layout))
    for page in pages.PAGES:
        for role in page.roles:
            for query in _variants(page):
                missing = set(_ids(_page_as(server, page, role, **query))) - valid
                assert not missing, (page.path, role, query, missing)
    # ids only: no basemap in every page's HTML
    assert len(json.dumps(app.validation_layout, cls=PlotlyJSONEncoder)) < 100_000
