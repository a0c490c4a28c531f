"""The pages, as Dash Pages: the app factory calls `register()`, and Dash's router builds a page
each time it is opened by calling its layout with the URL's query parameters. A page is built for
the signed-in user's role and language (layouts/shell.py frames it); a role the page is not for
gets the refusal, an unknown path the 404 page.

`dash.page_registry` is one per process, and tests build several apps in one process: registering
is idempotent (the same module names, paths and module-level functions every time) and holds
nothing of any app. A layout reads its app's settings and clock from the request it answers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import partial
from typing import Any

import dash
from dash import html
from dash.development.base_component import Component

from dashboard import roles
from dashboard.i18n import t
from dashboard.viewer import Viewer, current
from layouts import (
    admin_accounts,
    admin_devices,
    admin_tokens,
    admin_walls,
    coverage,
    dispatch,
    history,
    kpis,
    replay,
    shell,
    trail,
)
from layouts import map as live_map
from layouts.shell import Page

PAGES: tuple[Page, ...] = (
    # a wall screen's session (role wall) sees only this page, always as its wall screen
    Page(
        "pages.map",
        "/",
        "nav.map",
        roles.VIEWERS,
        live_map.body,
        live_map.slot,
        wall=True,
    ),
    # everyone signed in may look (operators view incidents); acting is for duty chiefs
    Page(
        "pages.dispatch",
        "/dispatch",
        "nav.dispatch",
        roles.CONSOLE,
        dispatch.body,
        dispatch.slot,
    ),
    Page(  # reached from /dispatch (a link above its queue): the header has no room for more
        "pages.history",
        history.PATH,
        "nav.history",
        roles.DISPATCHERS | roles.ANALYSTS,
        history.body,
        history.slot,
        nav=False,
    ),
    Page(
        "pages.coverage",
        "/coverage",
        "nav.coverage",
        roles.CONSOLE,
        coverage.body,
        coverage.slot,
    ),
    Page(
        "pages.kpis",
        "/kpis",
        "nav.kpis",
        roles.KPI_VIEWERS,
        kpis.body,
        kpis.slot,
        wall=True,
    ),
    # tracks and an incident's course played back (复盘): every console role (vessels; officers'
    # tracks for duty chiefs, leaders and admins). Reached from the live map's detail panels
    # (/replay?unit=, ?vessel=): one more header link overflows an admin's English header at 1366
    Page(
        "pages.replay",
        "/replay",
        "nav.replay",
        roles.CONSOLE,
        replay.body,
        replay.slot,
        nav=False,
    ),
    # the audit log's trails: leaders and admins only (refused here for the others, as /kpis)
    Page(
        "pages.trail",
        "/trail",
        "nav.trail",
        roles.ANALYSTS,
        trail.body,
        trail.slot,
    ),
    # administration: admins only; one link in the header, the section's own links on its pages
    Page(
        "pages.admin_accounts",
        admin_accounts.PATH,
        "nav.admin",
        roles.ADMINS,
        admin_accounts.body,
        admin_accounts.slot,
    ),
    Page(
        "pages.admin_tokens",
        admin_tokens.PATH,
        "admin.nav.tokens",
        roles.ADMINS,
        admin_tokens.body,
        admin_tokens.slot,
        nav=False,
    ),
    Page(
        "pages.admin_devices",
        admin_devices.PATH,
        "admin.nav.devices",
        roles.ADMINS,
        admin_devices.body,
        admin_devices.slot,
        nav=False,
    ),
    Page(
        "pages.admin_walls",
        admin_walls.PATH,
        "admin.nav.walls",
        roles.ADMINS,
        admin_walls.body,
        admin_walls.slot,
        nav=False,
    ),
)
# Dash's router shows the page whose module name ends in "not_found_404" for an unknown path.
NOT_FOUND = "pages.not_found_404"
NOT_FOUND_PATH = "/404"


def render(page: Page, **query: Any) -> html.Div:
    """The layout of `page` for the viewer asking, with the URL's query parameters."""
    viewer = current()
    if viewer.role not in page.roles:
        return shell.frame(viewer, PAGES, page.path, shell.no_access(viewer.lang))
    params = shell.params(query)
    if viewer.role == roles.WALL:  # nobody at a wall screen to use the controls
        params["wall"] = "1"
    return shell.frame(
        viewer,
        PAGES,
        page.path,
        page.body(viewer, params),
        page.slot(viewer, params),
        wall=page.wall and shell.is_wall(params),
    )


def not_found(**_query: Any) -> html.Div:
    viewer = current()
    return shell.frame(viewer, PAGES, None, shell.not_found(viewer.lang))


def title(label: str, **_path: Any) -> str:
    """The browser tab's title, in the viewer's language."""
    lang = current().lang
    return f"{t(label, lang)} · {t('app.title', lang)}"


# one layout and one title function per page, made once: registering again gives Dash the same
# objects, so the registry's entries stay equal whichever app registers them
LAYOUTS = {p.module: partial(render, p) for p in PAGES}
TITLES = {p.module: partial(title, p.label) for p in PAGES} | {
    NOT_FOUND: partial(title, "page.not_found")
}


def _registered(module: str, layout: Any) -> bool:
    return dash.page_registry.get(module, {}).get("layout") is layout


def register() -> None:
    """Registers every page once per process: a second app finds them there and changes nothing
    (so a registry that a running app reads is never rewritten under it)."""
    for page in PAGES:
        if not _registered(page.module, LAYOUTS[page.module]):
            dash.register_page(
                page.module,
                path=page.path,
                name=page.label,
                title=TITLES[page.module],
                description="",
                layout=LAYOUTS[page.module],
            )
    if not _registered(NOT_FOUND, not_found):
        dash.register_page(
            NOT_FOUND,
            path=NOT_FOUND_PATH,
            name="page.not_found",
            title=TITLES[NOT_FOUND],
            description="",
            layout=not_found,
        )


def _components(node: Any) -> Iterator[Component]:
    if isinstance(node, list | tuple):
        for child in node:
            yield from _components(child)
    elif isinstance(node, Component):
        yield node
        yield from _components(getattr(node, "children", None))


def skeleton(layouts: Any) -> html.Div:
    """One bare copy (no children) of each component with an id in these layouts: what Dash
    checks callbacks against, without the basemaps' GeoJSON that would otherwise go into the
    HTML of every page."""
    kept: dict[str, Component] = {}
    for c in _components(layouts):
        ident = getattr(c, "id", None)
        key = json.dumps(ident, sort_keys=True) if isinstance(ident, dict) else str(ident)
        if ident is None or key in kept:
            continue
        kept[key] = copy.copy(c)
        if hasattr(c, "children"):
            kept[key].children = None
    return html.Div(list(kept.values()))


def _variants(page: Page) -> list[dict[str, str]]:
    return [{}, {"wall": "1"}] if page.wall else [{}]


def validation_layout(app_layout: Any) -> html.Div:
    """Every component of every page as each role has it (and its wall screen), the frame and the
    app's own layout, for Dash to check each callback against at start."""
    built: list[Any] = [app_layout, shell.frame(Viewer(roles.ADMIN), PAGES, None, [])]
    for page in PAGES:
        for role in sorted(page.roles):
            for params in _variants(page):
                built += [page.body(Viewer(role), params), page.slot(Viewer(role), params)]
    return skeleton(built)
