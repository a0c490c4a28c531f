"""Wall screens' sessions: issued by an admin for a named screen (指挥大厅主屏), opened once by
that screen's browser through a one-time link, long-lived (WALL_SESSION_DAYS), revoked at once.

A wall session has the role `wall` (domain/roles.py): it opens the live map's wall screen and
acts on nothing. Its session is an ordinary server-side session whose user is `wall:{id}`
(store/walls.py), so every request and the live stream check it as they check any session: a
revoked wall's next request is refused and its stream ends within a second. Issuing, the screen's
sign-in and revoking are each in the audit log (object `wall:{id}`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from services import accounts
from services.context import AppContext
from services.errors import Invalid, Refused
from store import audit as audit_log
from store import walls as store

MAX_SCREEN = 40  # characters of a screen's name


@dataclass(frozen=True, slots=True)
class Issued:
    """A wall session just issued: the one-time code is in `path`, shown only now."""

    id: str
    screen: str
    path: str  # /wall/enter?code=...: the one-time sign-in link, relative to the web app
    link_until_ms: int


def clean_screen(screen: object) -> str:
    """A screen's name as typed, trimmed: 1-40 characters, no control characters."""
    name = " ".join(screen.split()) if isinstance(screen, str) else ""
    if not 0 < len(name) <= MAX_SCREEN or any(
        unicodedata.category(c).startswith("C") for c in name
    ):
        raise Invalid("screen", f"a screen's name has 1-{MAX_SCREEN} characters", max=MAX_SCREEN)
    return name


def issue(ctx: AppContext, screen: object, by: str) -> Issued:
    """A wall session for the named screen, waiting for the screen to open its link within
    WALL_LINK_MINUTES."""
    name = clean_screen(screen)
    link_s = ctx.settings.wall_link_minutes * 60
    now = ctx.now_ms()
    wall_id, code = store.issue(ctx.redis, name, by, now, link_s)
    days = ctx.settings.wall_session_days
    change = {"screen": name, "link_minutes": ctx.settings.wall_link_minutes, "days": days}
    audit_log.append(ctx.redis, by, "wall.issued", f"{store.PREFIX}{wall_id}", change, now)
    return Issued(wall_id, name, f"/wall/enter?code={code}", now + link_s * 1000)


def waiting_screen(ctx: AppContext, code: str) -> str | None:
    """The name of the screen a one-time code is for, while it is usable (the page that asks
    the screen to confirm); the code is used only by `enter`."""
    wall = store.waiting(ctx.redis, code or "")
    return wall.screen if wall else None


def enter(ctx: AppContext, code: str, addr: str, old_sid: str = "") -> tuple[str, str]:
    """The screen's browser uses its one-time code: (the new session id, the screen's name).
    The browser's earlier session, if any, ends. Refused(403) for a code that is malformed,
    used, expired or revoked."""
    ttl_s = int(ctx.settings.wall_session_days * 86_400)
    opened = store.redeem(ctx.redis, code or "", ctx.now_ms(), ttl_s)
    if opened is None:
        raise Refused(403, "this sign-in link is used, expired or revoked: issue a new one")
    wall, sid = opened
    accounts.sign_out(ctx, old_sid)
    change = {"addr": addr, "screen": wall.screen}
    audit_log.append(ctx.redis, wall.ref, "wall.signed_in", wall.ref, change, ctx.now_ms())
    return sid, wall.screen


def revoke(ctx: AppContext, wall_id: str, by: str) -> None:
    """Ends a wall session now (or its unused link). Invalid if there is no such wall session
    or it was revoked already."""
    before = store.revoke(ctx.redis, wall_id if isinstance(wall_id, str) else "", by, ctx.now_ms())
    if before is None:
        raise Invalid("no_wall", f"no wall session {wall_id!r} to revoke", id=wall_id)
    change = {"screen": before.screen, "was_signed_in": bool(before.sid)}
    audit_log.append(ctx.redis, by, "wall.revoked", before.ref, change, ctx.now_ms())


def state(w: store.Wall, now_ms: int) -> str:
    """revoked | active (its session lives) | ended (expired or signed out) | waiting (the
    link is not used yet) | unused (the link expired unused)."""
    if w.revoked_ms:
        return "revoked"
    if w.sid:
        return "active" if w.session_live else "ended"
    return "waiting" if now_ms < w.link_until_ms else "unused"


def listing(ctx: AppContext) -> list[dict[str, Any]]:
    """The wall sessions, newest first, with their state: never a code or a session id."""
    now = ctx.now_ms()
    return [
        {
            "id": w.id,
            "screen": w.screen,
            "by": w.by,
            "issued_ms": w.issued_ms,
            "link_until_ms": w.link_until_ms,
            "signed_in_ms": w.signed_in_ms,
            "expires_ms": w.expires_ms,
            "revoked_ms": w.revoked_ms,
            "revoked_by": w.revoked_by,
            "state": state(w, now),
        }
        for w in store.listing(ctx.redis)
    ]
