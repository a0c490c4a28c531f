"""Wall screens' sessions in Redis: an admin issues one for a named screen, the screen opens its
one-time link and gets a session of its own, and revoking it ends that session at once.

A wall screen has no account and no password. Its record (`wall:{id}`) keeps the screen's name,
who issued it and when, the SHA-256 of the one-time code until the screen uses it, and then the
session it opened (`session:{sid}`, whose user is `wall:{id}`). The code itself is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace

import redis

from store import keys, users
from store.codec import text

PREFIX = "wall:"  # a session's user is `wall:{id}`; account names never hold a ':'
CODE_RE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
ID_RE = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True, slots=True)
class Wall:
    id: str
    screen: str
    by: str
    issued_ms: int
    link_until_ms: int  # the one-time link works until then, if not used
    signed_in_ms: int  # when the screen used it (0: not yet)
    expires_ms: int  # when its session ends by itself (0: not signed in yet)
    revoked_ms: int
    revoked_by: str
    sid: str  # the session it opened: never shown
    session_live: bool = False  # its session still exists (not expired or signed out)

    @property
    def ref(self) -> str:
        return f"{PREFIX}{self.id}"


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def issue(r: redis.Redis, screen: str, by: str, now_ms: int, link_s: int) -> tuple[str, str]:
    """A new wall session for `screen`: (its id, the one-time code). The code opens it within
    `link_s` seconds, once; only its digest is kept."""
    code = secrets.token_urlsafe(32)
    digest = _digest(code)
    record = {
        "screen": screen,
        "by": by,
        "issued_ms": now_ms,
        "link_until_ms": now_ms + link_s * 1000,
        "link": digest,
    }
    wall_id = secrets.token_hex(4)
    while not r.hsetnx(keys.wall(wall_id), "issued_ms", now_ms):  # a clash is rare
        wall_id = secrets.token_hex(4)
    pipe = r.pipeline(transaction=False)  # three slots
    pipe.hset(keys.wall(wall_id), mapping=record)
    pipe.zadd(keys.WALLS, {wall_id: now_ms})
    pipe.set(keys.wall_link(digest), wall_id, ex=link_s)
    pipe.execute()
    return wall_id, code


def _int(h: dict[str, str], field: str) -> int:
    return int(h.get(field) or 0)


def get(r: redis.Redis, wall_id: str) -> Wall | None:
    if not ID_RE.fullmatch(wall_id):
        return None
    h = {text(k): text(v) for k, v in r.hgetall(keys.wall(wall_id)).items()}
    if not h.get("screen"):
        return None
    return Wall(
        wall_id,
        h["screen"],
        h.get("by", ""),
        _int(h, "issued_ms"),
        _int(h, "link_until_ms"),
        _int(h, "signed_in_ms"),
        _int(h, "expires_ms"),
        _int(h, "revoked_ms"),
        h.get("revoked_by", ""),
        h.get("sid", ""),
    )


def waiting(r: redis.Redis, code: str) -> Wall | None:
    """The wall a one-time code would open, without using it (None: not usable)."""
    if not CODE_RE.fullmatch(code):
        return None
    found = r.get(keys.wall_link(_digest(code)))
    wall = get(r, text(found)) if found else None
    return None if wall is None or wall.revoked_ms else wall


def redeem(r: redis.Redis, code: str, now_ms: int, ttl_s: int) -> tuple[Wall, str] | None:
    """Uses a one-time code: (the wall, the new session id), or None if the code is malformed,
    unknown, used, expired or its wall revoked. GETDEL makes it one use however many try."""
    if not CODE_RE.fullmatch(code):
        return None
    found = r.getdel(keys.wall_link(_digest(code)))
    wall = get(r, text(found)) if found else None
    if wall is None or wall.revoked_ms:
        return None
    sid = users.start_session(r, f"{PREFIX}{wall.id}", ttl_s)
    pipe = r.pipeline(transaction=True)
    pipe.hset(
        keys.wall(wall.id),
        mapping={"sid": sid, "signed_in_ms": now_ms, "expires_ms": now_ms + ttl_s * 1000},
    )
    pipe.hdel(keys.wall(wall.id), "link")
    pipe.execute()
    if get(r, wall.id).revoked_ms:  # type: ignore[union-attr]  # revoked meanwhile: not opened
        users.end_session(r, sid)
        return None
    return wall, sid


def active(r: redis.Redis, wall_id: str, sid: str) -> Wall | None:
    """The wall whose session `sid` is, if it is not revoked (the caller found the session)."""
    wall = get(r, wall_id)
    if wall is None or wall.revoked_ms or not wall.sid:
        return None
    return wall if hmac.compare_digest(wall.sid, sid) else None


def revoke(r: redis.Redis, wall_id: str, by: str, now_ms: int) -> Wall | None:
    """Revokes a wall session: its session ends and its unused link stops working. Returns the
    record as it was, or None if there is no such wall or it was revoked already."""
    wall = get(r, wall_id)
    if wall is None or wall.revoked_ms:
        return None
    link = r.hget(keys.wall(wall_id), "link")
    r.hset(keys.wall(wall_id), mapping={"revoked_ms": now_ms, "revoked_by": by})
    pipe = r.pipeline(transaction=False)  # other slots: after the mark, which already refuses
    if wall.sid:
        pipe.delete(keys.session(wall.sid))
    if link:
        pipe.delete(keys.wall_link(text(link)))
    pipe.execute()
    return wall


def listing(r: redis.Redis, limit: int = 200) -> list[Wall]:
    """The newest `limit` wall sessions, newest first, each with whether its session lives."""
    ids = [text(i) for i in r.zrevrange(keys.WALLS, 0, limit - 1)]
    walls = [w for w in (get(r, i) for i in ids) if w]
    pipe = r.pipeline(transaction=False)
    for w in walls:
        pipe.exists(keys.session(w.sid or "-"))  # no sid yet: a key that is never there
    live = pipe.execute()
    return [replace(w, session_live=bool(x)) for w, x in zip(walls, live, strict=True)]
