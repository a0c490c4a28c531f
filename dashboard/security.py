"""The login and role gate in front of every route, CSRF for Dash's POSTs, security headers.

One `before_request` gate sees every request: anonymous requests get 401 JSON on `/_dash*`,
`/api/*` and anything else that is not a page, and a redirect to the login page for pages; signed-in
requests are checked against the roles of the callback (`/_dash-update-component`) or the route
(`view.roles`). Whatever has no role rule is refused (fail closed). `/api/*` also accepts an API
token (`Authorization: Bearer`, dashboard/auth.py), checked against the same `view.roles`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import dash
from flask import Flask, Response, current_app, jsonify, redirect, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect, generate_csrf
from werkzeug.exceptions import HTTPException

from config.settings import Settings
from dashboard import api_methods, auth, roles

# Open to anonymous requests: the health probe, the sign-in form (POST /logout of a session
# that already ended must still answer) and a wall screen's one-time sign-in link.
PUBLIC_ENDPOINTS = frozenset({"health.healthz", "auth.login", "auth.logout", "wall_pages.enter"})
# For anyone, and no CSRF token either: citizen reports (dashboard/reports_api.py says why)
OPEN_ENDPOINTS = frozenset(
    {"reports_api.challenge", "reports_api.submit", "reports_api.track"}
    | {"report_pages.form", "report_pages.script", "report_pages.track"}
    # the phone pages' maps: Leaflet's files, the basemap, their script (dashboard/phone_map.py)
    | {"phone_map.leaflet_file", "phone_map.basemap", "phone_map.script"}
)
CALLBACK_ENDPOINT_SUFFIX = "_dash-update-component"
FIELD_HOME = "/field"  # where field staff are sent from the console's pages
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def secret_key(settings: Settings) -> str:
    """SECRET_KEY, or one generated once into DATA_DIR/secret_key (0600) and shared by workers."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = Path(settings.data_dir) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)  # atomic: of racing workers, the first one's key wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


class _SessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure when COOKIE_SECURE is set or the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:  # type: ignore[override]
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def tile_source(url: str) -> str | None:
    """The CSP source of a map tile URL template (`{s}` subdomains become a wildcard)."""
    u = urlparse(url)
    if not url or not u.hostname:
        return None
    host = u.netloc.split("@")[-1].replace("{s}", "*")
    return f"{u.scheme}://{host}"


def content_security_policy(app: dash.Dash, img_sources: tuple[str, ...] = ()) -> str:
    # Scripts: own files plus the hash of Dash's one inline bootstrap script; no eval anywhere.
    # Styles: Dash components and plotly inject <style> elements and style attributes, which
    # CSP cannot tell from an attack without nonces Dash does not support: 'unsafe-inline' there.
    scripts = " ".join(["'self'", *app.csp_hashes()])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            # img-src: plus the origin of MAP_TILES_URL when one is set (map tiles are images).
            " ".join(["img-src 'self' data: blob:", *img_sources]),
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _refuse(status: int, message: str) -> Response:
    resp = jsonify({"error": message})
    resp.status_code = status
    return resp


def _refuse_api() -> Response:
    # RFC 6750: name the scheme that works, and say whether a presented token was refused
    if auth.bearer_token(request) is None:
        resp = _refuse(401, "sign in first (POST /login) or send Authorization: Bearer <token>")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="ecocommand"'
    else:
        resp = _refuse(401, "invalid, revoked or malformed API token")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="ecocommand", error="invalid_token"'
    return resp


def _protect(csrf: CSRFProtect) -> Response | None:
    """The CSRF check (raises CSRFError: 400). flask-wtf looks for the token among the form's
    field names and fails with a 500 on a multipart part that has none (`key.endswith`):
    such a body is refused here, before it gets there."""
    if any(not isinstance(name, str) for name in request.form):
        return _refuse(400, "a form part without a name")
    csrf.protect()
    return None


def _is_page(path: str) -> bool:
    return not path.startswith(("/_", "/api/", "/assets/", "/static/"))


def _gate(
    app: dash.Dash, dash_endpoints: frozenset[str], assets_blueprint: str, csrf: CSRFProtect
) -> Response | None:
    endpoint = request.endpoint or ""
    unsafe = request.method not in SAFE_METHODS
    if endpoint in OPEN_ENDPOINTS and request.method != "OPTIONS":
        return None
    if endpoint in PUBLIC_ENDPOINTS:
        return _protect(csrf) if unsafe else None  # the sign-in form too
    if not current_user.is_authenticated:
        return _anonymous(request.path)
    if unsafe and not current_user.via_token:
        # A cookie is sent by the browser on its own, so a cookie-authenticated write needs the
        # CSRF token; an API token is sent only by a program that holds it: nothing to forge.
        refused = _protect(csrf)
        if refused is not None:
            return refused
    role = current_user.role
    if endpoint.endswith(CALLBACK_ENDPOINT_SUFFIX) and endpoint in dash_endpoints:
        return _check_callback(app, role)
    if request.path.startswith("/api/"):
        return _check_api(endpoint, dash_endpoints, role)
    if role not in roles.VIEWERS and endpoint in dash_endpoints:  # field staff: not the console
        if request.method == "GET" and _is_page(request.path):
            return redirect(FIELD_HOME)
        return _refuse(403, f"role {role!r} uses the field app ({FIELD_HOME})")
    if endpoint in dash_endpoints or request.blueprint == assets_blueprint:
        return None  # pages, layout, dependencies, bundles: any signed-in role
    view = current_app.view_functions.get(endpoint) if endpoint else None
    if view is None:
        return None  # 404 / 405 from Flask itself
    return _check_view_roles(view, role)


def _open_path() -> bool:
    """Whether an open route serves this path (with any method)."""
    adapter = current_app.create_url_adapter(request)
    for method in api_methods.ROUTE_METHODS:
        try:
            rule, _args = adapter.match(method=method, return_rule=True)  # type: ignore[union-attr]
        except HTTPException:
            continue
        if rule.endpoint in OPEN_ENDPOINTS:
            return True
    return False


def _anonymous(path: str) -> Response:
    if path.startswith("/api/") and _open_path():
        return api_methods.answer()  # OPTIONS, or a method the open route does not take
    if request.method == "GET" and _is_page(path):
        return redirect(f"/login?next={quote(request.full_path.rstrip('?'), safe='/')}")
    if path.startswith("/api/"):
        return _refuse_api()
    return _refuse(401, "sign in first (POST /login)")  # before CSRF: 401 whatever it sends


def _check_callback(app: dash.Dash, role: str) -> Response | None:
    """A POST to /_dash-update-component: the callback's rule must name the role (no rule:
    nobody); a callback that runs in the browser has nothing to run here."""
    body = request.get_json(silent=True)
    output = body.get("output") if isinstance(body, dict) else None
    if not isinstance(output, str):
        return _refuse(400, "not a Dash callback request")
    if role not in roles.allowed_roles(app, output):
        return _refuse(403, f"role {role!r} may not call this callback")
    if app.callback_map.get(output, {}).get("callback") is None:
        return _refuse(400, "this callback runs in the browser")
    return None


def _check_api(endpoint: str, dash_endpoints: frozenset[str], role: str) -> Response | None:
    view = current_app.view_functions.get(endpoint) if endpoint else None
    if view is None or endpoint in dash_endpoints or request.method == "OPTIONS":
        # no API route for this method (none, or Dash's catch-all): 405 with the path's own
        # methods, or 404; OPTIONS lists them (Flask's answer would add the pages' GET)
        return api_methods.answer()
    return _check_view_roles(view, role)


def _check_view_roles(view: Any, role: str) -> Response | None:
    allowed = getattr(view, "roles", None)
    if not allowed or role not in allowed:
        return _refuse(403, f"role {role!r} may not use this route")
    return None


def _headers(resp: Response, csp: str, settings: Settings) -> Response:
    # a view may have set a stricter one of its own (evidence files: sandbox, nothing loads)
    resp.headers.setdefault("Content-Security-Policy", csp)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Referrer-Policy"] = "same-origin"  # CSRF's HTTPS referrer check needs it
    resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.is_secure:
        resp.headers["Strict-Transport-Security"] = "max-age=31536000"
    # not on a 503: the store is down, and reading the signed-in user would need it again
    if resp.status_code != 503 and current_user.is_authenticated and not current_user.via_token:
        # Dash's renderer sends this cookie back as X-CSRFToken on its POSTs; refreshed on every
        # response so a wall screen polling for hours never holds an expired token. Not for API
        # token requests: generate_csrf would write the session and so set a session cookie.
        resp.set_cookie(
            "_csrf_token",
            generate_csrf(),
            samesite="Strict",
            httponly=False,
            secure=settings.cookie_secure or request.is_secure,
            path="/",
        )
    return resp


def install(server: Flask, app: dash.Dash, settings: Settings) -> None:
    """Session cookie settings, the gate, CSRF and headers. Call after every page registered."""
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        # The cookie only names a server-side session, whose own expiry decides (SESSION_HOURS,
        # a wall screen's WALL_SESSION_DAYS): it must outlive the longest of them.
        PERMANENT_SESSION_LIFETIME=int(
            max(settings.session_hours * 3600, settings.wall_session_days * 86_400)
        ),
        WTF_CSRF_TIME_LIMIT=int(settings.session_hours * 3600),
        # The cookie is sent again only when the session changed. Refreshed on every response
        # (Flask's default for a permanent session), a slow request begun before a change (the
        # language switch) answered after it and put the old session back in the browser.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    server.session_interface = _SessionInterface()
    dash_endpoints = frozenset(app.routes)
    assets_blueprint = app.config.routes_pathname_prefix.replace("/", "_").replace(".", "_")
    assets_blueprint += "dash_assets"
    # The gate runs CSRF itself (after authentication: an anonymous POST is 401 whatever it
    # carries, and API-token requests need none), so Flask-WTF's own hook stays off.
    server.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf = CSRFProtect(server)
    server.before_request_funcs.setdefault(None, []).insert(
        0, lambda: _gate(app, dash_endpoints, assets_blueprint, csrf)
    )
    tiles = tile_source(settings.map_tiles_url)
    csp = content_security_policy(app, (tiles,) if tiles else ())
    server.after_request(lambda resp: _headers(resp, csp, settings))
