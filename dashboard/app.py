"""The app factory: builds the Flask server, the Dash app on it with its pages (Dash Pages,
layouts/pages.py), and registers every callback."""

from __future__ import annotations

from pathlib import Path

import dash
from dash import html
from flask import Flask

from callbacks import admin_accounts, admin_devices, admin_tokens, admin_walls
from callbacks import coverage as coverage_callbacks
from callbacks import dispatch as dispatch_callbacks
from callbacks import history as history_callbacks
from callbacks import kpis as kpi_callbacks
from callbacks import map as map_callbacks
from callbacks import replay as replay_callbacks
from callbacks import shell as shell_callbacks
from callbacks import trail as trail_callbacks
from config.settings import Settings, get_settings
from dashboard import (
    api,
    api_errors,
    audit_api,
    auth,
    context,
    coverage_api,
    field_api,
    field_pages,
    incidents_api,
    kpi_api,
    live_stream,
    messages_api,
    personal_api,
    phone_map,
    proxies,
    report_pages,
    reports_api,
    roles,
    security,
    tracks_api,
    wall_pages,
)
from dashboard.health import bp as health_bp
from domain import evidence
from domain.clock import Clock, system_ms
from layouts import pages
from services import field
from services.context import build as build_context

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
CALLBACKS = (
    shell_callbacks,
    map_callbacks,
    dispatch_callbacks,
    history_callbacks,
    coverage_callbacks,
    kpi_callbacks,
    trail_callbacks,
    replay_callbacks,
    admin_accounts,
    admin_tokens,
    admin_devices,
    admin_walls,
)


def create_app(settings: Settings | None = None, clock: Clock = system_ms) -> Flask:
    """The web app. `clock` is the legal clock of every action (a test fixes it)."""
    settings = settings or get_settings()
    server = Flask(__name__)
    server.config["SETTINGS"] = settings
    # the pushed stream (dashboard/live_stream.py) must not wait in a compressor's buffer
    server.config["COMPRESS_STREAMS"] = False
    server.config["SECRET_KEY"] = security.secret_key(settings)
    # The largest upload and some room: one evidence file base64-encoded as the console's
    # upload sends it, or a phone's finding with its most photos, each the largest accepted
    # (a finding refused whole for its size would be dropped by the phone, photos and all).
    largest = max(evidence.MAX_BYTES * 4 // 3, field.MAX_PHOTOS * evidence.MAX_BYTES)
    server.config["MAX_CONTENT_LENGTH"] = largest + 1024 * 1024
    context.install(server, build_context(settings, clock))
    for bp in (
        health_bp,
        api.bp,
        incidents_api.bp,
        coverage_api.bp,
        kpi_api.bp,
        audit_api.bp,
        personal_api.bp,
        tracks_api.bp,
        live_stream.bp,
        reports_api.bp,
        report_pages.bp,
        field_api.bp,
        field_pages.bp,
        phone_map.bp,
        messages_api.bp,
        wall_pages.bp,
    ):
        server.register_blueprint(bp)
    auth.install(server)
    proxies.install(server, settings.trusted_proxy_networks)  # the client's own address
    api_errors.install(server)  # a service's refusal is JSON on every route
    # enable_mcp=False: an environment variable could otherwise expose every callback.
    # assets_folder: the project's committed assets/ (map.js, map.css), wherever the app runs from.
    # pages_folder="": the pages are registered below, nothing is imported for its side effects.
    app = dash.Dash(
        __name__,
        server=server,
        title="ecocommand",
        update_title=None,
        assets_folder=str(ASSETS_DIR),
        # assets/workers/: scripts for Web Workers (the live board's drawing), served from
        # /assets/workers/ but not run in the page; assets/public/: the citizen's and the officer's
        # pages' files, served by dashboard/report_pages.py and field_pages.py, never the console's
        assets_path_ignore=["workers", "public"],
        use_pages=True,
        pages_folder="",
        suppress_callback_exceptions=False,
        enable_mcp=False,
        compress=True,  # flask-compress: layouts and callbacks (MB of JSON) compressed
    )
    pages.register()
    app.layout = html.Div(dash.page_container, className="ec-app")
    for module in CALLBACKS:
        module.register(app)
    _start_dash(server, app)
    # every component of every page for every role, so Dash can check each callback against them
    with server.app_context():  # layouts may read the app's clock
        app.validation_layout = pages.validation_layout(app.layout)
    security.install(server, app, settings)  # last: the CSP hashes every inline script
    server.extensions["dash"] = app  # for tests and tools that walk the callbacks
    return server


def _start_dash(server: Flask, app: dash.Dash) -> None:
    """Dash finishes its setup on the first request: its script paths, and with pages its router
    callback and the inline script that titles the browser tab. Done here, before any request:
    the gate needs a role rule for the router (every signed-in role: each page checks its own),
    the CSP the hash of that script; and Dash marks its setup done *before* doing it, so a
    gunicorn worker whose first requests are the browser's parallel script fetches would answer
    some of them 500 ("not a registered library")."""
    before = set(app.callback_map)
    with server.test_request_context("/"):
        server.preprocess_request()
    for output in set(app.callback_map) - before:
        if "_pages_" not in output:  # anything else Dash adds is unknown: no rule, refused
            continue
        roles.allow(app, output, roles.VIEWERS)
