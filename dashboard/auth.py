"""Sign-in: a plain Flask form (CSRF-protected), flask-login backed by sessions in Redis.

The id flask-login keeps in the signed cookie is the server-side session id, not the user name:
loading the user looks that session up in Redis, so logout (which deletes it) ends the session for
every copy of the cookie.

`/api/*` also takes `Authorization: Bearer <token>` (store/users.py's API tokens), judged per
request: no session is opened and no cookie is set for it. Pages and Dash's endpoints never look
at the header, so they stay session + CSRF only.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, request, session
from flask.wrappers import Request
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from dashboard import sign_in_page
from dashboard.context import app_context
from dashboard.i18n import t
from dashboard.viewer import LANG_KEY
from services import accounts
from services.accounts import Throttled
from services.errors import Refused

bp = Blueprint("auth", __name__)


class User(UserMixin):
    def __init__(self, sid: str, account: accounts.Account, via_token: bool = False) -> None:
        self.sid, self.account, self.via_token = sid, account, via_token
        self.name, self.role = account.name, account.role

    def get_id(self) -> str:
        return self.sid


def _user(found: accounts.Account | None, sid: str = "", via_token: bool = False) -> User | None:
    return User(sid, found, via_token) if found else None


def bearer_token(req: Request) -> str | None:
    """The credentials of an `Authorization: Bearer` header on an `/api/` path ("" if the scheme
    comes without them); None when no bearer token is presented there. Other schemes (a proxy's
    Basic, say) are no token: the session cookie still counts then."""
    if not req.path.startswith("/api/"):
        return None
    scheme, _, credentials = req.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def load_user(sid: str) -> User | None:
    if bearer_token(request) is not None:
        return None  # a request presenting a token is judged by the token alone
    return _user(accounts.session_account(app_context(), sid), sid)


def load_user_from_token(req: Request) -> User | None:
    # flask-login asks this only when no session user was found; nothing here touches the session
    token = bearer_token(req)
    if not token:
        return None
    return _user(accounts.token_account(app_context(), token), via_token=True)


def _page(
    status: int,
    message: str = "",
    username: str = "",
    next_url: str = "/",
    headers: dict[str, str] | None = None,
) -> Any:
    # autoescaped: the name typed is shown back as text, never as markup
    html = sign_in_page.login_page(sign_in_page.lang(), message, username[:64], next_url)
    return html, status, headers or {}


def _safe_next(value: str | None) -> str:
    """Only a path on this site, judged as a browser reads it: browsers drop tabs and line
    breaks anywhere in a URL and take a backslash for a slash, so "/", a tab, "/evil.example"
    is `//evil.example`, another host. Other control characters are refused (a line break
    would otherwise reach the Location header)."""
    if not isinstance(value, str):
        return "/"
    path = re.sub(r"[\t\n\r]", "", value).replace("\\", "/")
    parts = urlsplit(path)
    if (
        not path.startswith("/")
        or path.startswith("//")
        or parts.scheme
        or parts.netloc
        or any(ord(c) < 32 or ord(c) == 127 for c in path)
    ):
        return "/"
    return path


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return _page(200, next_url=next_url)
    name = request.form.get("username", "")
    password = request.form.get("password", "")
    try:
        sid = accounts.sign_in(
            app_context(),
            name,
            password,
            request.remote_addr or "unknown",
            session.get("_user_id", ""),
        )
    except Throttled as e:
        wait = t("login.throttled_wait", sign_in_page.lang()).format(s=e.wait_s)
        return _page(429, wait, name, next_url, {"Retry-After": str(e.wait_s)})
    except Refused:
        return _page(401, t("login.failed", sign_in_page.lang()), name, next_url)
    start_session(sid)
    return redirect(next_url)


def start_session(sid: str) -> None:
    """The browser's session is now `sid`'s: a fresh cookie session (nothing of the anonymous
    one survives but the language chosen on the sign-in page)."""
    lang = session.get(LANG_KEY)
    session.clear()
    if lang:
        session[LANG_KEY] = lang
    session.permanent = True
    login_user(_user(accounts.session_account(app_context(), sid), sid))


@bp.post("/logout")
def logout() -> Any:
    accounts.sign_out(app_context(), session.get("_user_id", ""))
    if current_user.is_authenticated:
        logout_user()
    session.clear()
    return redirect("/login")


def install(server: Flask) -> None:
    manager = LoginManager()
    manager.init_app(server)
    manager.user_loader(load_user)
    manager.request_loader(load_user_from_token)
    server.register_blueprint(bp)
