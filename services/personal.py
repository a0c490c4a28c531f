"""Who may read what of personal data (issue 13), and each such read recorded in the audit log:

- a citizen's phone number on an incident (a hotline report): the incident's detail, listing
  and pages show it masked (`services.incidents`); `reporter_phone` reveals it (duty chiefs,
  leaders, admins: the routes and callbacks check the role) and writes `personal.phone_read`.
  `erase_old_phones` removes numbers of incidents opened more than PERSONAL_PHONE_KEEP_DAYS ago.
- an officer's track (every unit is crewed by named officers): `unit_track` answers a window of
  the unit's positions (Redis and the archive: services/tracks.py, ARCHIVE_DAYS); a read that
  reaches before today (local day) writes `personal.track_read`, a read within today does not.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from domain import personal as rules
from domain.vocab import LOCAL_TZ
from services import audit, tracks
from services.context import AppContext
from services.errors import Refused
from store import personal

UNIT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
HOUR_MS = 3_600_000
MAX_WINDOW_MS = 31 * 86_400_000


def _incident_id(incident_id: str) -> str:
    if not incident_id or len(incident_id) > 64:
        raise Refused(404, f"no incident {incident_id[:64]!r}")
    return incident_id


# --- citizens' phone numbers ----------------------------------------------------------------


def has_reporter_phone(ctx: AppContext, incident_id: str) -> bool:
    """Whether a number is kept on the incident (nothing is revealed, nothing recorded)."""
    _exists, phone = personal.reporter_phone(ctx.redis, _incident_id(incident_id))
    return bool(phone)


def reporter_phone(ctx: AppContext, incident_id: str, by: str) -> dict[str, Any]:
    """The reporter's number, recorded as read by `by` (`personal.phone_read`)."""
    exists, phone = personal.reporter_phone(ctx.redis, _incident_id(incident_id))
    if not exists:
        raise Refused(404, f"no incident {incident_id[:64]!r}")
    if not phone:
        keep = ctx.settings.personal_phone_keep_days
        raise Refused(
            404, f"no phone number on this incident (none given, or erased after {keep} days)"
        )
    obj = f"incident:{incident_id}"
    audit.record(ctx, audit.user(by), "personal.phone_read", obj, {"incident": incident_id})
    return {"incident_id": incident_id, "reporter_phone": phone}


def erase_old_phones(ctx: AppContext) -> int:
    """Remove the numbers of incidents opened more than PERSONAL_PHONE_KEEP_DAYS ago; returns
    how many were removed."""
    keep = ctx.settings.personal_phone_keep_days
    return personal.erase_old_phones(ctx.redis, ctx.now_ms(), keep)


# --- officers' tracks -----------------------------------------------------------------------


def _instant(text: str | None, name: str) -> int | None:
    """Epoch ms, or an ISO date/time (local UTC+8 when it names no zone)."""
    if text is None or text == "":
        return None
    if text.isdigit() and len(text) <= 15:
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text[:40])
    except ValueError:
        raise Refused(422, f"{name}: epoch ms or an ISO date/time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=LOCAL_TZ)
    return int(when.timestamp() * 1000)


def window(from_arg: str | None, to_arg: str | None, now_ms: int) -> tuple[int, int]:
    """A track query's window [from, to): by default the last hour (to = now)."""
    to_ms = _instant(to_arg, "to")
    to_ms = now_ms if to_ms is None else to_ms
    from_ms = _instant(from_arg, "from")
    from_ms = to_ms - HOUR_MS if from_ms is None else from_ms
    if from_ms >= to_ms:
        raise Refused(422, "from must be before to")
    if to_ms - from_ms > MAX_WINDOW_MS:
        raise Refused(422, "at most 31 days at a time")
    return from_ms, to_ms


def unit_track(ctx: AppContext, unit_id: str, from_ms: int, to_ms: int, by: str) -> dict[str, Any]:
    """The unit's positions in [from_ms, to_ms), oldest first. A read reaching before today
    (local day) is recorded as `personal.track_read` by `by`."""
    if UNIT_ID.fullmatch(unit_id or "") is None:
        raise Refused(404, f"no unit {unit_id[:64]!r}")
    if from_ms >= to_ms:
        raise Refused(422, "from must be before to")
    now = ctx.now_ms()
    # what Redis holds and the archive keeps, merged (services/tracks.py)
    points, truncated, archived = tracks.points(ctx, "unit", unit_id, from_ms, to_ms)
    if not points and not personal.unit_exists(ctx.redis, unit_id):
        raise Refused(404, f"no unit {unit_id[:64]!r}")
    recorded = rules.track_read_is_recorded(from_ms, now)
    if recorded:
        change = {"from_ms": from_ms, "to_ms": to_ms}
        audit.record(ctx, audit.user(by), "personal.track_read", f"unit:{unit_id}", change)
    return {
        "unit_id": unit_id,
        "from_ms": from_ms,
        "to_ms": to_ms,
        "points": points,
        "count": len(points),
        "truncated": truncated,
        "archived": archived,
        "kept_from_ms": tracks.kept_from_ms(ctx),
        "recorded": recorded,
        "generated_ms": now,
    }
