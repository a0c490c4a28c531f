"""Who is looking: the signed-in user's role and the language they chose.

Pages are built for a viewer when they are opened (a layout is a function of the role and the
language), and callbacks answer in the viewer's language. The language is kept in the user's
Flask session, set by the header's switch (callbacks/shell.py); Chinese until then. It is read on
the server, never taken from a callback's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import has_request_context, session
from flask_login import current_user

from dashboard.i18n import DEFAULT_LANG, LANGS, lang_of

LANG_KEY = "lang"  # in the Flask session


@dataclass(frozen=True)
class Viewer:
    role: str | None  # None: nobody signed in (Dash building a layout of its own accord)
    lang: str = DEFAULT_LANG


def current() -> Viewer:
    """The viewer of the request being answered (outside a request: nobody, in Chinese)."""
    if not has_request_context():
        return Viewer(None)
    role = getattr(current_user, "role", None) if current_user.is_authenticated else None
    return Viewer(role, lang_of(session.get(LANG_KEY)))


def lang() -> str:
    return current().lang


def choose_lang(value: object) -> bool:
    """Keeps a language the user chose in their session; False if it is not one of LANGS or is
    the one they have already (nothing to change)."""
    if value not in LANGS or value == lang():
        return False
    session[LANG_KEY] = value
    return True
