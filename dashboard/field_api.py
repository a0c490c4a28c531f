"""The officer's phone over HTTPS (thin adapters over services/field.py): what the phone shows
(`GET /api/v1/field`), unit messages in the MQTT schema (`POST /api/v1/field/{kind}`),
photos into a case file (`POST /api/v1/field/evidence`), a finding on patrol as a new incident
(`POST /api/v1/field/finding`), and `GET /_stream/field`, which pushes
the unit's task as server-sent events the moment it changes.

Every write carries an `Idempotency-Key` header and the session's CSRF token, like the
console's writes: the cookie is the officer's authority, so a forged cross-site form must
not use it."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
from flask import Blueprint, Response, jsonify, request, session
from flask_login import current_user
from werkzeug.routing import BaseConverter

from dashboard.api_errors import form_body
from dashboard.background import per_app
from dashboard.context import app_context
from dashboard.live_stream import KEEPALIVE_S, RETRY_MS
from domain.roles import FIELD_STAFF
from services import accounts, field_beat
from services import field as service
from services.context import AppContext
from services.errors import STORE_DOWN, Refused
from services.field_wake import Waker

bp = Blueprint("field_api", __name__)


class UnitMessageKind(BaseConverter):
    """`/api/v1/field/<unitmsg:kind>`: only the kinds a phone may send, so the route never
    shadows the field API's other paths (`/api/v1/field/beat` answers GET only)."""

    regex = "|".join(re.escape(k) for k in service.KINDS)


# before the routes: a blueprint's deferred functions run in the order they were recorded
bp.record_once(lambda state: state.app.url_map.converters.update(unitmsg=UnitMessageKind))

STREAM_PATH = "/_stream/field"
WAKE_S = 1.0  # the longest before a stream looks again (a signed-out session, a state change)


def _route(rule: str, view: Any, methods: tuple[str, ...]) -> None:
    view.roles = FIELD_STAFF  # checked by dashboard.security's gate
    bp.add_url_rule(rule, view_func=view, methods=list(methods))


def me_view() -> Any:
    return jsonify(service.current(app_context(), current_user.account)), 200, _NO_STORE


def send_view(kind: str) -> Any:
    out = service.send(
        app_context(),
        current_user.account,
        kind,
        request.get_data(cache=False),
        request.headers.get("Idempotency-Key"),
    )
    return jsonify(out), 202 if out["outcome"] == "queued" else 200


def evidence_view() -> Any:
    if set(request.files) - {"photo"}:
        raise Refused(422, "photos go in the field `photo`")
    caption = request.form.get("caption", "")
    incident_id = request.form.get("incident_id", "")
    if len(caption) > 500 or not incident_id:
        raise Refused(422, "incident_id is required; caption: at most 500 characters")
    photos = [(f.filename or "photo", f.read()) for f in request.files.getlist("photo")]
    out = service.add_photos(
        app_context(),
        current_user.account,
        incident_id[:64],
        caption,
        photos,
        request.headers.get("Idempotency-Key"),
    )
    return jsonify(out), 201 if out["outcome"] == "taken" else 200


def finding_view() -> Any:
    if set(request.files) - {"photo"}:
        raise Refused(422, "photos go in the field `photo`")
    finding = form_body(service.Finding)
    photos = [(f.filename or "photo", f.read()) for f in request.files.getlist("photo")]
    out = service.report_finding(
        app_context(),
        current_user.account,
        finding,
        photos,
        request.headers.get("Idempotency-Key"),
    )
    return jsonify(out), 201 if out["outcome"] == "opened" else 200


def reply_view() -> Any:
    body = _json_object()
    out = service.reply(
        app_context(),
        current_user.account,
        str(body.get("text") or ""),
        request.headers.get("Idempotency-Key"),
    )
    return jsonify(out), 201 if out["outcome"] == "sent" else 200


def read_view() -> Any:
    ids = _json_object().get("ids")
    if not isinstance(ids, list):
        raise Refused(422, "ids: a list of message ids")
    return jsonify(service.read(app_context(), current_user.account, ids))


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused(422, "send a JSON object")
    return body


def beat_view() -> Any:
    return jsonify(field_beat.beat(app_context(), current_user.account)), 200, _NO_STORE


def ended_view(incident_id: str) -> Any:
    out = service.task_ended(app_context(), current_user.account, incident_id)
    return jsonify(out), 200, _NO_STORE


_NO_STORE = {"Cache-Control": "no-store"}
_route("/api/v1/field", me_view, ("GET",))
_route("/api/v1/field/beat", beat_view, ("GET",))
_route("/api/v1/field/ended/<incident_id>", ended_view, ("GET",))
_route("/api/v1/field/evidence", evidence_view, ("POST",))
_route("/api/v1/field/finding", finding_view, ("POST",))
_route("/api/v1/field/reply", reply_view, ("POST",))
_route("/api/v1/field/read", read_view, ("POST",))
_route("/api/v1/field/<unitmsg:kind>", send_view, ("POST",))


def _account(ctx: AppContext, sid: str) -> accounts.Account | bool | None:
    """The session's account now; True while the store is down (not the session's fault)."""
    try:
        return accounts.session_account(ctx, sid)
    except STORE_DOWN:
        return True


def _waker() -> Waker:
    """This process's waker, its thread started on first use."""
    return per_app("field-wake", lambda: Waker(app_context()))


def _events(ctx: AppContext, sid: str, account: accounts.Account, waker: Waker) -> Iterator[bytes]:
    unit = account.unit or ""
    woken = waker.listen(unit)
    try:
        yield from _updates(ctx, sid, account, woken)
    finally:  # the phone went away (or signed out): nothing left to wake
        waker.forget(unit, woken)


def _updates(
    ctx: AppContext, sid: str, account: accounts.Account, woken: threading.Event
) -> Iterator[bytes]:
    yield b"retry: %d\n\n" % RETRY_MS
    seen_version, sent, quiet_since = None, b"", time.monotonic()
    while True:
        now = _account(ctx, sid)
        if now is None or (now is not True and now != account):
            yield b'event: bye\ndata: {"reason": "signed_out"}\n\n'
            return
        try:
            version = service.changes(ctx, account.unit or "")
            if version != seen_version:
                body = orjson.dumps(service.current(ctx, account))
                seen_version = version
                if body != sent:
                    yield b"event: task\ndata: %s\n\n" % body
                    sent, quiet_since = body, time.monotonic()
        except STORE_DOWN:
            pass  # the phone keeps what it has; the next wake tries again
        except Refused as e:  # the unit's device was revoked meanwhile
            yield b"event: bye\ndata: %s\n\n" % orjson.dumps({"reason": e.message})
            return
        if time.monotonic() - quiet_since > KEEPALIVE_S:
            yield b": keepalive\n\n"
            quiet_since = time.monotonic()
        woken.wait(WAKE_S)  # an assignment or a message wakes it at once; else once a second
        woken.clear()


def stream_view() -> Response:
    ctx = app_context()
    account = current_user.account
    service.unit_of(ctx, account)  # 403 before the stream opens
    body = _events(ctx, session.get("_user_id", ""), account, _waker())
    headers = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
    return Response(body, mimetype="text/event-stream", headers=headers)


_route(STREAM_PATH, stream_view, ("GET",))
