"""Messages between the duty chiefs and units (`/dispatch`, the API) and the officer's phone
(services/field.py): a chief writes to a unit or a group of units, the phone shows it at once
and marks it read, the officer replies. Each message, each reply and each first reading is
recorded in the audit log (the record), beside the per-unit thread (store/messages.py)."""

from __future__ import annotations

import re
from typing import Any

from services import audit
from services.context import AppContext
from services.errors import Refused
from store import devices as roster
from store import messages, reader

MAX_TEXT = 500
MAX_UNITS = 20
THREAD = 30  # the messages a thread shows
ID_RE = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})$")
U64 = 2**64 - 1  # a stream id's parts (Redis refuses larger ones)


def _text(body: str) -> str:
    body = (body or "").strip()
    if not body or len(body) > MAX_TEXT:
        raise Refused(422, f"text: 1 to {MAX_TEXT} characters")
    return body


def _known(ctx: AppContext, unit_id: str) -> bool:
    device = roster.get(ctx.redis, unit_id)
    if device is not None:
        return device.active and device.kind == "unit"
    return reader.entity(ctx.redis, "unit", unit_id) is not None  # a unit without a roster entry


def to_units(ctx: AppContext, by: str, units: list[str], body: str) -> list[dict[str, Any]]:
    """One message to each of `units` (a group: the units on an incident, say)."""
    body = _text(body)
    chosen = list(dict.fromkeys(units))
    if not 1 <= len(chosen) <= MAX_UNITS:
        raise Refused(422, f"units: 1 to {MAX_UNITS}")
    unknown = [u for u in chosen if not _known(ctx, u)]
    if unknown:
        raise Refused(404, f"no unit {unknown[0][:64]!r}")
    at = ctx.now_ms()
    sent = []
    for unit in chosen:
        entry = messages.post(ctx.redis, unit, "to_unit", by, body, at)
        audit.record(
            ctx, audit.user(by), "message.sent", f"unit:{unit}", {"id": entry, "text": body}
        )
        sent.append({"unit": unit, "id": entry, "at_ms": at})
    return sent


def from_unit(ctx: AppContext, unit: str, officer: str, body: str) -> dict[str, Any]:
    body = _text(body)
    at = ctx.now_ms()
    entry = messages.post(ctx.redis, unit, "from_unit", officer, body, at)
    audit.record(
        ctx, audit.user(officer), "message.reply", f"unit:{unit}", {"id": entry, "text": body}
    )
    return {"unit": unit, "id": entry, "at_ms": at}


def mark_read(ctx: AppContext, unit: str, officer: str, ids: list[str]) -> list[str]:
    """The unit's incoming messages among `ids` marked read (the first time only)."""
    if len(ids) > THREAD * 4 or not all(_stream_id(i) for i in ids):
        raise Refused(422, "ids: message ids as the thread gives them")
    marked = messages.mark_read(ctx.redis, unit, ids, ctx.now_ms())
    for entry in marked:
        audit.record(ctx, audit.user(officer), "message.read", f"unit:{unit}", {"id": entry})
    return marked


def _stream_id(value: object) -> bool:
    m = ID_RE.match(value) if isinstance(value, str) else None
    return bool(m) and all(int(part) <= U64 for part in m.groups())  # type: ignore[union-attr]


def thread(ctx: AppContext, unit: str) -> list[dict[str, Any]]:
    return messages.thread(ctx.redis, unit, THREAD)


def last(ctx: AppContext, unit: str) -> str:
    return messages.last_id(ctx.redis, unit)
