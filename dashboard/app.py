"""The app factory: builds the Flask server, the Dash app on it, and registers every page."""

from __future__ import annotations

from pathlib import Path

import dash
from flask import Flask

from callbacks import coverage as coverage_callbacks
from callbacks import dispatch as dispatch_callbacks
from callbacks import kpis as kpi_callbacks
from callbacks import map as map_callbacks
from callbacks import shell as shell_callbacks
from config.settings import Settings, get_settings
from dashboard import api, auth, context, coverage_api, incidents_api, kpi_api, security
from dashboard.health import bp as health_bp
from dashboard.roles import KPI_VIEWERS, VIEWERS
from domain import evidence
from domain.clock import Clock, system_ms
from layouts import coverage as coverage_layout
from layouts import dispatch as dispatch_layout
from layouts import kpis as kpi_layout
from layouts import map as map_layout
from layouts import shell
from services.context import build as build_context

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


def create_app(settings: Settings | None = None, clock: Clock = system_ms) -> Flask:
    """The web app. `clock` is the legal clock of every action (a test fixes it)."""
    settings = settings or get_settings()
    server = Flask(__name__)
    server.config["SETTINGS"] = settings
    server.config["SECRET_KEY"] = security.secret_key(settings)
    # The largest evidence file, base64-encoded as the page's upload sends it, and some room.
    server.config["MAX_CONTENT_LENGTH"] = evidence.MAX_BYTES * 4 // 3 + 1024 * 1024
    context.install(server, build_context(settings, clock))
    server.register_blueprint(health_bp)
    server.register_blueprint(api.bp)
    server.register_blueprint(incidents_api.bp)
    server.register_blueprint(coverage_api.bp)
    server.register_blueprint(kpi_api.bp)
    auth.install(server)
    # enable_mcp=False: an environment variable could otherwise expose every callback.
    # assets_folder: the project's committed assets/ (map.js, map.css), wherever the app runs from.
    app = dash.Dash(
        __name__,
        server=server,
        title="ecocommand",
        update_title=None,
        assets_folder=str(ASSETS_DIR),
        suppress_callback_exceptions=False,
        enable_mcp=False,
    )
    pages = [
        shell.Page("/", "nav.map", VIEWERS, map_layout.content, map_layout.header_slot, wall=True),
        # everyone signed in may look (operators view incidents); acting is for duty chiefs
        shell.Page(
            "/dispatch",
            "nav.dispatch",
            VIEWERS,
            dispatch_layout.content,
            dispatch_layout.header_slot,
        ),
        shell.Page(
            "/coverage",
            "nav.coverage",
            VIEWERS,
            coverage_layout.content,
            coverage_layout.header_slot,
        ),
        shell.Page(
            "/kpis", "nav.kpis", KPI_VIEWERS, kpi_layout.content, kpi_layout.header_slot, wall=True
        ),
    ]
    app.layout = shell.layout
    # every page's components, so Dash can check each callback against them at start
    with server.app_context():  # layouts may read the app's clock
        app.validation_layout = dash.html.Div(
            [shell.layout()] + [part({}) for p in pages for part in (p.content, p.header)]
        )
    shell_callbacks.register(app, pages)
    map_callbacks.register(app)
    dispatch_callbacks.register(app)
    coverage_callbacks.register(app)
    kpi_callbacks.register(app)
    security.install(server, app, settings)  # last: the CSP hashes every inline script
    # Dash registers its script paths lazily in a before_request hook that marks itself done
    # *before* doing the work: a gunicorn worker whose first requests are the browser's parallel
    # script fetches then answers some of them 500 ("not a registered library"). Doing that
    # setup here, before any request, closes the race.
    app._setup_server()
    server.extensions["dash"] = app  # for tests and tools that walk the callbacks
    return server
