"""The frame around every page: one header (title, the links of the pages this role may open, a
slot the page fills with its own live figures, the language switch, sign-out) and the page's body
below it.

A page is built on the server each time it is opened, for one viewer (dashboard/viewer.py): every
label is in the viewer's language, and a control the role may not use is not in the page at all.
The pages are Dash Pages (layouts/pages.py); Dash's router calls a page's layout with the URL's
query parameters, which `params` takes in defensively.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dash import dcc, html
from flask import has_request_context
from flask_wtf.csrf import generate_csrf

from dashboard.i18n import t
from dashboard.viewer import Viewer

MAX_PARAMS = 20  # query parameters a page looks at; the rest of a long URL is ignored
MAX_PARAM_CHARS = 200
LANGUAGES = (("zh", "中文"), ("en", "English"))  # each in its own language


class Ids(StrEnum):
    PAGE = "shell-page"
    TITLE = "shell-title"
    NAV = "shell-nav"
    SLOT = "shell-slot"
    CONTENT = "shell-content"
    LANG = "shell-lang"
    RELOAD = "shell-reload"  # reloads the page once the language is switched
    LOGOUT = "shell-logout"
    SOUND = "shell-sound"  # the alert sound on or off (assets/sound.js)
    DOWN = "shell-down"  # assets/down.js shows it while the server cannot answer


Build = Callable[[Viewer, dict[str, str]], Any]


@dataclass(frozen=True)
class Page:
    module: str  # its key in dash.page_registry
    path: str
    label: str  # translation key of its link and title
    roles: frozenset[str]  # who may open it (its callbacks check their own roles too)
    body: Build  # (viewer, query parameters) -> the page's body
    slot: Build  # (viewer, query parameters) -> what goes in the header's slot
    wall: bool = False  # has a wall-screen variant at ?wall=1
    nav: bool = True  # has a link of its own in the header (else reached from a page that has)


def params(query: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters as Dash's router passes them (a repeated key comes as a list): strings
    only, the first of repeated values, a few short ones."""
    out: dict[str, str] = {}
    for key, value in list(query.items())[:MAX_PARAMS]:
        first = value[0] if isinstance(value, list) and value else value
        if isinstance(key, str) and isinstance(first, str):
            out[key] = first[:MAX_PARAM_CHARS]
    return out


def is_wall(params: Mapping[str, str]) -> bool:
    return params.get("wall") == "1"


def _current(path: str, current: str | None) -> bool:
    """Whether the page at `current` is `path`, or one of its section's (/admin/devices)."""
    if current is None:
        return False
    return current == path or (path != "/" and current.startswith(f"{path}/"))


def nav(viewer: Viewer, pages: Iterable[Page], current: str | None) -> list[dcc.Link]:
    """Links to the pages this role may open (those with a link of their own); the current
    one, or its section's, marked."""
    return [
        dcc.Link(
            t(p.label, viewer.lang),
            href=p.path,
            className="ec-nav-link ec-nav-current" if _current(p.path, current) else "ec-nav-link",
        )
        for p in pages
        if viewer.role in p.roles and p.nav
    ]


def lang_switch(lang: str) -> dcc.RadioItems:
    # the choice is kept in the session (callbacks/shell.py), then the page is built again
    return dcc.RadioItems(
        id=Ids.LANG,
        options=[{"label": name, "value": code} for code, name in LANGUAGES],
        value=lang,
        inline=True,
        className="ec-lang",
    )


def sound_button(lang: str) -> html.Button:
    """Turns the alert sound on or off in this browser (assets/sound.js shows which it is and
    plays it; browsers play sound only after a click). One word and a sign, the rest in its
    tooltip: the header has no room for more at 1366 px (and a wall's browser may lack emoji)."""
    return html.Button(
        "× " + t("sound.word", lang),
        id=Ids.SOUND,
        type="button",
        title=t("sound.enable", lang),
        className="ec-button ec-sound",
        **{
            "aria-label": t("sound.enable", lang),
            "aria-pressed": "false",
            "data-word": t("sound.word", lang),
            "data-on": t("sound.on", lang),
            "data-off": t("sound.enable", lang),
            "data-alert": t("sound.alert", lang),
            "data-incident": t("sound.incident", lang),
            "data-overdue": t("sound.overdue", lang),
        },
    )


def logout_form(lang: str) -> html.Form:
    # A plain form POST (not a callback) so the browser follows the redirect to /login. The page
    # is built per request, so the token is this session's (outside a request, for Dash's
    # validation layout, there is none).
    token = generate_csrf() if has_request_context() else ""
    return html.Form(
        [
            dcc.Input(type="hidden", name="csrf_token", value=token),
            html.Button(t("logout", lang), id=Ids.LOGOUT, type="submit", className="ec-button"),
        ],
        action="/logout",
        method="post",
    )


def header(viewer: Viewer, pages: Iterable[Page], current: str | None, slot: Any) -> html.Header:
    return html.Header(
        [
            html.H1(
                [
                    html.Span(t("app.title", viewer.lang), className="ec-title-full"),
                    html.Span(t("app.title_short", viewer.lang), className="ec-title-short"),
                ],
                id=Ids.TITLE,
                title=t("app.title", viewer.lang),
                className="ec-title",
            ),
            html.Nav(nav(viewer, pages, current), id=Ids.NAV, className="ec-nav"),
            html.Div(slot, id=Ids.SLOT, className="ec-slot"),
            html.Div(
                [sound_button(viewer.lang), lang_switch(viewer.lang), logout_form(viewer.lang)],
                className="ec-side",
            ),
            dcc.Location(id=Ids.RELOAD, refresh=True),
        ],
        className="ec-header",
    )


def frame(
    viewer: Viewer,
    pages: Iterable[Page],
    current: str | None,
    body: Any,
    slot: Any = (),
    wall: bool = False,
) -> html.Div:
    """A whole page: the header and the body (`wall`: the dark wall-screen variant)."""
    return html.Div(
        [
            down_banner(viewer.lang),
            header(viewer, pages, current, list(slot)),
            html.Div(body, id=Ids.CONTENT, className="ec-content"),
        ],
        id=Ids.PAGE,
        className="ec-page ec-wall" if wall else "ec-page",
    )


def down_banner(lang: str) -> html.Div:
    """Said on every page while the server cannot answer its updates: the data store is down
    (the server answers 503) or the server itself cannot be reached. No callback can say it
    (each needs the server and the data store), so assets/down.js watches the page's update
    requests and shows it, with the text here in the reader's language, until one succeeds."""
    return html.Div(
        id=Ids.DOWN,
        className="ec-banner",
        role="alert",
        hidden=True,
        **{"data-store": t("page.down_store", lang), "data-web": t("page.down_web", lang)},
    )


def no_access(lang: str) -> html.Div:
    return html.Div(t("page.no_access", lang), className="ec-no-access", role="alert")


def not_found(lang: str) -> html.Div:
    return html.Div(t("page.not_found", lang), className="ec-no-access", role="alert")
