"""A wall screen's one-time sign-in: `/wall/enter?code=...`, the link an admin's page shows
when issuing a wall session (services/walls.py).

Opening the link shows which screen it is for and one button; only the POST (with the form's
CSRF token) uses the code. So a chat app or a mail scanner that fetches the link to preview it
cannot use it up, and a page elsewhere cannot sign a browser in as a screen behind its back.
The screen then goes to the live map's wall view, signed in for WALL_SESSION_DAYS.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, session
from flask_login import current_user

from dashboard import auth, sign_in_page
from dashboard.context import app_context
from dashboard.i18n import t
from services import walls
from services.errors import Refused

bp = Blueprint("wall_pages", __name__)

PATH = "/wall/enter"
WALL_HOME = "/?wall=1"


def _page(status: int, code: str, screen: str = "", message: str = "") -> Any:
    lang = sign_in_page.lang()
    note = ""
    if screen and current_user.is_authenticated and not current_user.via_token:
        note = t("wall.enter_replaces", lang)  # this browser's own sign-in would end
    days = app_context().settings.wall_session_days
    html = sign_in_page.render(
        lang,
        t("wall.enter_title", lang),
        t("wall.enter_sub", lang).format(days=days),
        sign_in_page.WALL_FORM,
        {"screen": screen, "code": code, "submit": t("wall.enter_submit", lang)},
        {"code": code},
        message,
        note,
    )
    return html, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.route(PATH, methods=["GET", "POST"])
def enter() -> Any:
    code = request.values.get("code", "")
    code = code if isinstance(code, str) and len(code) <= 64 else ""
    if request.method == "GET":
        screen = walls.waiting_screen(app_context(), code)
        if screen is None:
            return _page(403, code, message=t("wall.enter_bad", sign_in_page.lang()))
        return _page(200, code, screen)
    try:
        sid, _screen = walls.enter(
            app_context(), code, request.remote_addr or "unknown", session.get("_user_id", "")
        )
    except Refused:
        return _page(403, code, message=t("wall.enter_bad", sign_in_page.lang()))
    auth.start_session(sid)
    return redirect(WALL_HOME)
