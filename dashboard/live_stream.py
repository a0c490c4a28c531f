"""`GET /_stream/live`: the live picture pushed to a map page as server-sent events.

The first event is the whole picture (or, when the browser comes back with the `Last-Event-ID`
of a picture the relay still holds updates after, those updates: the picture is the
deployment's, services/picture_relay.py, so this holds whichever process or host the browser
lands on); then one `update` event per change, carrying only what changed. Each event's id is
`token:seq` (the builder's numbering), so EventSource's own reconnect resumes where it was.
A comment line every KEEPALIVE_S keeps proxies from closing an idle stream. The session is
checked at every wake (at least once a second): signed out or expired, the stream says `bye`
and ends. A process that stops ends its streams too (dashboard/serve.py), and their browsers
resume on another.

It holds one web thread for as long as the page is open: the gunicorn worker class and thread
count (dashboard/serve.py) decide how many screens a process serves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, request, session

from dashboard.background import per_app, stopping
from dashboard.context import app_context
from dashboard.roles import VIEWERS
from services import accounts
from services.context import AppContext
from services.errors import STORE_DOWN, Refused
from services.picture_relay import PictureRelay

bp = Blueprint("live_stream", __name__)

PATH = "/_stream/live"
WAKE_S = 1.0  # the longest a signed-out session keeps its stream
KEEPALIVE_S = 15.0
RETRY_MS = 2000  # how soon the browser reconnects after the stream ends
FIRST_PICTURE_S = 10.0  # a new process reads its first picture (Redis down: 503 meanwhile)


def feed() -> PictureRelay:
    """This process's relay of the picture, kept current by threads started on first use."""
    return per_app("picture", lambda: PictureRelay(app_context()))


def _event(kind: str, ident: str, body: bytes) -> bytes:
    return b"event: %s\nid: %s\ndata: %s\n\n" % (kind.encode(), ident.encode(), body)


def _resume_from(last: str | None) -> tuple[str, int] | None:
    """The picture the browser holds: its builder's token and number."""
    if not last or ":" not in last:
        return None
    token, _, seq = last.partition(":")
    return (token, int(seq)) if seq.isdigit() else None


def _signed_in(ctx: AppContext, sid: str) -> bool:
    try:
        return accounts.session_account(ctx, sid) is not None
    except STORE_DOWN:
        return True  # the store is down, not the session: the banner says so; keep waiting


def _events(
    pictures: PictureRelay, ctx: AppContext, sid: str, last: str | None, stop: threading.Event
) -> Iterator[bytes]:
    yield b"retry: %d\n\n" % RETRY_MS
    token, seq = _resume_from(last) or ("", -1)
    pending = pictures.after(token, seq) if token else None
    quiet_since = time.monotonic()
    while True:
        if pending is None:  # a new reader, or one too far behind: the whole picture
            token, seq, body = pictures.whole()
            yield _event("picture", f"{token}:{seq}", body)
        else:
            for u in pending:
                yield _event("update", f"{token}:{u.seq}", u.body)
                seq = u.seq
        if pending is None or pending:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_S:
            yield b": keepalive\n\n"
            quiet_since = time.monotonic()
        if not _signed_in(ctx, sid):
            yield b'event: bye\ndata: {"reason": "signed_out"}\n\n'
            return
        if stop.is_set():  # this process stops: the browser resumes on another (retry)
            return
        pending = pictures.wait(token, seq, WAKE_S)


@bp.get(PATH)
def live_stream() -> Response:
    pictures, ctx = feed(), app_context()
    if not pictures.ready(FIRST_PICTURE_S):
        raise Refused(503, "the live picture is not available yet: try again shortly")
    last = request.headers.get("Last-Event-ID") or request.args.get("last")
    stop = stopping(current_app._get_current_object())  # type: ignore[attr-defined]
    body = _events(pictures, ctx, session.get("_user_id", ""), last, stop)
    return Response(
        body,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
    )


live_stream.roles = VIEWERS  # type: ignore[attr-defined]  # checked by dashboard.security
