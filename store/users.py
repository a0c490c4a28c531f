"""Accounts, server-side sessions and login throttling, all in Redis (web workers keep no state).

Passwords are argon2id hashes (argon2-cffi's defaults, RFC 9106 low-memory profile). A session is
an opaque random id whose record expires in Redis; the browser's signed cookie holds only that id,
so deleting the record ends the session everywhere at once. API tokens (for integrations calling
`/api/*`) are kept only as SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from functools import cache

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from domain.clock import system_ms
from store import keys

# Letters of any script, digits and a few separators: never braces (hash tags) or spaces.
NAME_RE = re.compile(r"^[\w.@-]{1,64}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # refuse absurd inputs before hashing them
FAILURE_WINDOW_S = 900  # failures are remembered this long after the last one
BASE_LOCK_S = 30  # first lock; doubles with each further failure up to the cap

_HASHER = PasswordHasher()  # argon2id by default


@cache
def _dummy_hash() -> str:
    # verified against when the account does not exist, so timing does not reveal names
    return _HASHER.hash(secrets.token_hex(16))


def valid_name(name: str) -> bool:
    return bool(NAME_RE.fullmatch(name))


def check_password(password: str) -> None:
    """Raises ValueError saying why a new password is not acceptable."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password must have at most {MAX_PASSWORD} characters")


def create_user(r: redis.Redis, name: str, role: str, password: str) -> None:
    """Creates an account; ValueError if the name is taken or not acceptable."""
    if not valid_name(name):
        raise ValueError("a user name has 1-64 letters, digits, '.', '_', '@' or '-'")
    check_password(password)
    record = {
        "role": role,
        "hash": _HASHER.hash(password),
        "created_ms": str(system_ms()),
    }
    if not r.hsetnx(keys.user(name), "role", role):
        raise ValueError(f"user {name!r} already exists")
    r.hset(keys.user(name), mapping=record)
    r.sadd(keys.USERS, name)


def get_user(r: redis.Redis, name: str) -> dict[str, str] | None:
    if not valid_name(name):
        return None
    d = r.hgetall(keys.user(name))
    if not d:
        return None
    return {"name": name, **{k.decode(): v.decode() for k, v in d.items()}}


def list_users(r: redis.Redis) -> list[dict[str, str]]:
    names = sorted(n.decode() for n in r.smembers(keys.USERS))
    return [u for u in (get_user(r, n) for n in names) if u]


def verify(r: redis.Redis, name: str, password: str) -> dict[str, str] | None:
    """The account if the password is right, else None (same work whether it exists or not)."""
    u = get_user(r, name) if len(password) <= MAX_PASSWORD else None
    try:
        _HASHER.verify(u["hash"] if u else _dummy_hash(), password[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if u is None:
        return None
    if _HASHER.check_needs_rehash(u["hash"]):  # parameters raised since it was stored
        r.hset(keys.user(name), "hash", _HASHER.hash(password))
    return u


# Sessions


def start_session(r: redis.Redis, name: str, ttl_s: int) -> str:
    sid = secrets.token_urlsafe(32)
    pipe = r.pipeline()
    pipe.hset(keys.session(sid), mapping={"user": name, "created_ms": str(system_ms())})
    pipe.expire(keys.session(sid), ttl_s)
    pipe.execute()
    return sid


def session_user(r: redis.Redis, sid: str) -> str | None:
    """The name signed in under this session id, or None if it ended or expired."""
    if not sid or len(sid) > 128:
        return None
    name = r.hget(keys.session(sid), "user")
    return name.decode() if name else None


def end_session(r: redis.Redis, sid: str) -> None:
    if sid:
        r.delete(keys.session(sid))


# Throttling: per account and per client address. Locks are short at first, grow with every
# further failure and are capped, so a duty chief who mistypes is slowed, never locked out for good.


def throttled(r: redis.Redis, kind: str, ident: str) -> int:
    """Seconds until logins for this account or address are accepted again (0: now)."""
    ttl = r.ttl(keys.login_lock(kind, ident))
    return max(0, int(ttl))


def record_failure(r: redis.Redis, kind: str, ident: str, max_failures: int, cap_s: int) -> int:
    """Counts a failure; locks once there are max_failures. Returns the lock in seconds (or 0)."""
    pipe = r.pipeline()
    pipe.incr(keys.login_failures(kind, ident))
    pipe.expire(keys.login_failures(kind, ident), max(FAILURE_WINDOW_S, cap_s))
    n = pipe.execute()[0]
    if n < max_failures:
        return 0
    lock_s = min(BASE_LOCK_S * 2 ** min(n - max_failures, 16), cap_s)
    r.set(keys.login_lock(kind, ident), "1", ex=max(1, lock_s))
    return lock_s


def clear_failures(r: redis.Redis, kind: str, ident: str) -> None:
    r.delete(keys.login_failures(kind, ident), keys.login_lock(kind, ident))


# API tokens: `eco_<id>_<secret>`. The id (public, 8 hex) names a token in listings; the secret has
# 256 bits from `secrets`, so a plain SHA-256 of the whole token cannot be brute-forced: no argon2
# needed (it would also cost every API request tens of ms). Redis holds only the digest.

TOKEN_RE = re.compile(r"eco_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(r: redis.Redis, name: str) -> tuple[str, str]:
    """A new API token for an existing account: (id, token). The token is not stored, only its
    digest: show it once."""
    u = get_user(r, name)
    if u is None:
        raise ValueError(f"no user {name!r}")
    tid = secrets.token_hex(4)
    while r.hexists(keys.user_tokens(name), tid):  # ids are per account; a clash is rare
        tid = secrets.token_hex(4)
    token = f"eco_{tid}_{secrets.token_urlsafe(32)}"
    digest = _digest(token)
    pipe = r.pipeline()
    # account_ms ties the token to this account, not to a later one given the same name
    pipe.hset(
        keys.api_token(digest),
        mapping={
            "user": name,
            "id": tid,
            "created_ms": str(system_ms()),
            "account_ms": u.get("created_ms", ""),
        },
    )
    pipe.hset(keys.user_tokens(name), tid, digest)
    pipe.execute()
    return tid, token


def verify_token(r: redis.Redis, token: str) -> str | None:
    """The account name an API token belongs to, or None if it is malformed, unknown, revoked or
    its account is gone. The caller still checks the account's role."""
    if not TOKEN_RE.fullmatch(token):  # also bounds the length and keeps to ASCII
        return None
    digest = _digest(token)
    rec = {k.decode(): v.decode() for k, v in r.hgetall(keys.api_token(digest)).items()}
    name = rec.get("user", "")
    u = get_user(r, name) if name else None
    if u is None or u.get("created_ms", "") != rec.get("account_ms"):
        return None
    # The account's index decides: revoking deletes it first, so a record left behind is inert.
    listed = r.hget(keys.user_tokens(name), rec.get("id", ""))
    return name if listed and hmac.compare_digest(listed, digest.encode()) else None


def list_tokens(r: redis.Redis, name: str) -> list[dict[str, str]]:
    """The account's tokens as id and created_ms, oldest first; never the tokens themselves."""
    out = []
    for tid, digest in r.hgetall(keys.user_tokens(name)).items():
        created = r.hget(keys.api_token(digest.decode()), "created_ms")
        out.append({"id": tid.decode(), "created_ms": created.decode() if created else ""})
    return sorted(out, key=lambda t: (int(t["created_ms"] or 0), t["id"]))


def revoke_tokens(r: redis.Redis, name: str) -> int:
    """Revokes every API token of the account; returns how many there were."""
    digests = r.hvals(keys.user_tokens(name))
    pipe = r.pipeline(transaction=False)  # keys in several slots; the index goes first
    pipe.delete(keys.user_tokens(name))
    for d in digests:
        pipe.delete(keys.api_token(d.decode()))
    pipe.execute()
    return len(digests)
