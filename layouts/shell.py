"""The frame around every page: one header (title, page links, a slot the page fills with its own
live figures, language switch, sign-out) and the page's content below it.

The app factory lists the pages (`Page`); the router (callbacks/shell.py) renders one from the
URL and checks the page's roles on the server, like every callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dash import dcc, html
from flask import has_request_context
from flask_wtf.csrf import generate_csrf

from dashboard.i18n import DEFAULT_LANG, LANGS, t


class Ids(StrEnum):
    URL = "url"
    PAGE = "shell-page"
    TITLE = "shell-title"
    NAV = "shell-nav"
    SLOT = "shell-slot"
    CONTENT = "shell-content"
    LANG = "shell-lang"
    LOGOUT = "shell-logout"


@dataclass(frozen=True)
class Page:
    path: str
    label: str  # translation key of its link
    roles: frozenset[str]  # who may open it (its callbacks check their own roles too)
    content: Callable[[dict[str, str]], Any]  # query parameters -> the page's body
    header: Callable[[dict[str, str]], Any]  # query parameters -> what goes in the header slot
    wall: bool = False  # has a wall-screen variant at ?wall=1


def both(key: str) -> str:
    """A label in both languages, for the few places a callback cannot restyle."""
    return " · ".join(dict.fromkeys(t(key, lang) for lang in LANGS))


def logout_form() -> html.Form:
    # A plain form POST (not a callback) so the browser follows the redirect to /login; the
    # layout is built per request, so the token is this session's (Dash also builds the layout
    # once at start to validate it, outside any request).
    token = generate_csrf() if has_request_context() else ""
    return html.Form(
        [
            dcc.Input(type="hidden", name="csrf_token", value=token),
            html.Button(both("logout"), id=Ids.LOGOUT, type="submit", className="ec-button"),
        ],
        action="/logout",
        method="post",
    )


def layout() -> html.Div:
    return html.Div(
        [
            dcc.Location(id=Ids.URL, refresh=False),
            html.Header(
                [
                    html.H1(t("app.title"), id=Ids.TITLE, className="ec-title"),
                    html.Nav(id=Ids.NAV, className="ec-nav"),
                    html.Div(id=Ids.SLOT, className="ec-slot"),
                    html.Div(
                        [
                            dcc.RadioItems(
                                id=Ids.LANG,
                                options=[
                                    {"label": "中文", "value": "zh"},
                                    {"label": "English", "value": "en"},
                                ],
                                value=DEFAULT_LANG,
                                inline=True,
                                persistence=True,
                                persistence_type="local",
                                className="ec-lang",
                            ),
                            logout_form(),
                        ],
                        className="ec-side",
                    ),
                ],
                className="ec-header",
            ),
            html.Div(id=Ids.CONTENT, className="ec-content"),
        ],
        id=Ids.PAGE,
        className="ec-page",
    )


def no_access(lang: str) -> html.Div:
    return html.Div(t("page.no_access", lang), className="ec-no-access", role="alert")


def not_found(lang: str) -> html.Div:
    return html.Div(t("page.not_found", lang), className="ec-no-access", role="alert")
