"""Citizen reports over HTTP, for anyone (no account, no session): a proof-of-work challenge,
the report itself (multipart: the form's fields and up to 3 `photo` files) and its progress by
tracking code. Thin adapters over services/reports.py.

No CSRF token: nothing here acts with a visitor's authority (there is none), and each report
already needs a one-use challenge, solved, from an address under its hourly limit.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from dashboard.api_errors import form_body
from dashboard.context import app_context
from services import reports as service
from services.errors import Refused
from services.reports import CitizenReport

bp = Blueprint("reports_api", __name__, url_prefix="/api/v1/reports")


@bp.get("/challenge")
def challenge() -> Any:
    return jsonify(service.challenge(app_context())), 200, {"Cache-Control": "no-store"}


@bp.post("")
def submit() -> Any:
    ctx = app_context()
    cap = ctx.settings.report_max_bytes
    size = request.content_length
    if size is not None and size > cap:  # before reading the body
        raise Refused(413, f"a report may be at most {cap / 2**20:.0f} MiB with its photos")
    if not (request.mimetype or "").startswith(("multipart/form-data", "application/x-www")):
        raise Refused(415, "send the report as multipart/form-data (a form with its photos)")
    files = request.files.getlist("photo")
    if set(request.files) - {"photo"}:
        raise Refused(422, "files go in the field `photo`")
    body = form_body(CitizenReport)
    photos = [(f.read(cap + 1), f.filename or "photo") for f in files]
    if sum(len(data) for data, _ in photos) > cap:
        raise Refused(413, f"a report may be at most {cap / 2**20:.0f} MiB with its photos")
    made = service.submit(ctx, body, photos, request.remote_addr or "unknown")
    return jsonify(made), 201


@bp.get("/<code>")
def track(code: str) -> Any:
    return jsonify(service.progress(app_context(), code[:64])), 200, {"Cache-Control": "no-store"}
