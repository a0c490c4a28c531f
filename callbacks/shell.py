"""The router and the shared header: which page the URL shows (if the role may see it), the
page links and the title in the chosen language."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import dash
from dash import Input, Output, State, dcc
from flask_login import current_user

from dashboard import roles
from dashboard.i18n import lang_of, t
from layouts.shell import Ids, Page, no_access, not_found


def query(search: Any) -> dict[str, str]:
    """`?a=1&b=2` as a dict; anything odd (not a string, repeated keys) keeps the first value."""
    if not isinstance(search, str):
        return {}
    out: dict[str, str] = {}
    for k, v in parse_qsl(search.lstrip("?")[:2000]):
        out.setdefault(k, v)
    return out


def register(app: dash.Dash, pages: list[Page]) -> None:
    by_path = {p.path: p for p in pages}

    @roles.callback(
        app,
        Output(Ids.CONTENT, "children"),
        Output(Ids.SLOT, "children"),
        Output(Ids.PAGE, "className"),
        Input(Ids.URL, "pathname"),
        Input(Ids.URL, "search"),
        State(Ids.LANG, "value"),
        roles=roles.VIEWERS,
    )
    def route(pathname: Any, search: Any, lang_value: Any) -> tuple[Any, ...]:
        lang = lang_of(lang_value)
        page = by_path.get(pathname if isinstance(pathname, str) else "/")
        if page is None:
            return not_found(lang), [], "ec-page"
        if current_user.role not in page.roles:
            return no_access(lang), [], "ec-page"
        params = query(search)
        wall = page.wall and params.get("wall") == "1"
        return (page.content(params), page.header(params), "ec-page ec-wall" if wall else "ec-page")

    @roles.callback(
        app,
        Output(Ids.TITLE, "children"),
        Output(Ids.NAV, "children"),
        Input(Ids.LANG, "value"),
        Input(Ids.URL, "pathname"),
        roles=roles.VIEWERS,
    )
    def header(lang_value: Any, pathname: Any) -> tuple[Any, ...]:
        lang = lang_of(lang_value)
        links = [
            dcc.Link(
                t(p.label, lang),
                href=p.path,
                className="ec-nav-link ec-nav-current" if p.path == pathname else "ec-nav-link",
            )
            for p in pages
            if current_user.role in p.roles
        ]
        return t("app.title", lang), links
