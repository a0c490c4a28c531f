"""The web process's application context: stored on the Flask app by the factory, read here."""

from __future__ import annotations

from flask import Flask, current_app

from services.context import AppContext

_KEY = "ecocommand.context"


def install(server: Flask, ctx: AppContext) -> None:
    server.extensions[_KEY] = ctx


def app_context(server: Flask | None = None) -> AppContext:
    """The context of `server`, or of the app handling the current request."""
    return (server or current_app).extensions[_KEY]
