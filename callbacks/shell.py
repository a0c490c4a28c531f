"""The shared header's one callback: switching the language keeps the choice in the session and
reloads the page, which the server then builds in the new language (pages are built per viewer:
layouts/pages.py). The page itself is routed by Dash Pages."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State
from dash.exceptions import PreventUpdate

from dashboard import roles, viewer
from layouts.shell import Ids

MAX_SEARCH = 2000


def here(pathname: Any, search: Any) -> str:
    """The page's own address as a path on this site (anything odd: the start page)."""
    path = pathname if isinstance(pathname, str) else "/"
    if not path.startswith("/") or path.startswith(("//", "/\\")):
        path = "/"
    query = search if isinstance(search, str) and search.startswith("?") else ""
    return path + query[:MAX_SEARCH]


@roles.page_callback(
    Output(Ids.RELOAD, "href"),
    Input(Ids.LANG, "value"),
    State(Ids.RELOAD, "pathname"),
    State(Ids.RELOAD, "search"),
    prevent_initial_call=True,
    roles=roles.VIEWERS,
)
def switch_language(value: Any, pathname: Any, search: Any) -> str:
    # a relative address differs from the browser's absolute one: the Location reloads the page
    if not viewer.choose_lang(value):
        raise PreventUpdate  # not a language, or the one the page is in already
    return here(pathname, search)


def register(app: dash.Dash) -> None:
    roles.wire(app, switch_language)
