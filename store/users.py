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
from dataclasses import dataclass
from functools import cache

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from domain.clock import system_ms
from store import keys
from store.scripts import LOGIN_ADMIT, LOGIN_RELEASE

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


def create_user(
    r: redis.Redis, name: str, role: str, password: str, unit: str | None = None
) -> None:
    """Creates an account (an officer's bound to `unit`); ValueError if the name is taken or
    not acceptable."""
    if not valid_name(name):
        raise ValueError("a user name has 1-64 letters, digits, '.', '_', '@' or '-'")
    check_password(password)
    record = {
        "role": role,
        "hash": _HASHER.hash(password),
        "created_ms": str(system_ms()),
        **({"unit": unit} if unit else {}),
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


SECRET_FIELDS = frozenset({"hash"})  # never leaves this module but to check a password


def public(u: dict[str, str]) -> dict[str, str]:
    """An account's record without its password hash: what a listing may show."""
    return {k: v for k, v in u.items() if k not in SECRET_FIELDS}


def list_users(r: redis.Redis) -> list[dict[str, str]]:
    """Every account (name, role, unit, created_ms, disabled_ms...), never a password hash."""
    names = sorted(n.decode() for n in r.smembers(keys.USERS))
    return [public(u) for u in (get_user(r, n) for n in names) if u]


def set_role(r: redis.Redis, name: str, role: str, unit: str | None) -> dict[str, str]:
    """Gives an existing account another role (and an officer's unit, or none); returns the
    record as it was. ValueError if there is no such account."""
    before = get_user(r, name)
    if before is None:
        raise ValueError(f"no user {name!r}")
    pipe = r.pipeline(transaction=True)
    pipe.hset(keys.user(name), "role", role)
    if unit:
        pipe.hset(keys.user(name), "unit", unit)
    else:
        pipe.hdel(keys.user(name), "unit")
    pipe.execute()
    return public(before)


def set_disabled(r: redis.Redis, name: str, disabled_ms: int) -> bool:
    """Disables an account from `disabled_ms` (0: enables it again); False if it was already
    so. A disabled account's sessions and tokens are refused at their next request."""
    u = get_user(r, name)
    if u is None:
        raise ValueError(f"no user {name!r}")
    if bool(int(u.get("disabled_ms") or 0)) == bool(disabled_ms):
        return False
    if disabled_ms:
        r.hset(keys.user(name), "disabled_ms", str(disabled_ms))
    else:
        r.hdel(keys.user(name), "disabled_ms")
    return True


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
    pipe = r.pipeline(transaction=True)
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


# Throttling: per client address, and per account from each address. An account under attack
# (as many failures from anywhere as one address may make) slows every address that has failed
# on it, but not an address that has not: its owner signing in from elsewhere gets in at once.
# Locks are short at first, grow with every further failure and are capped, so a duty chief who
# mistypes is slowed, never locked out for good.


@dataclass(frozen=True, slots=True)
class Admission:
    """An attempt admitted to a password check (counted as a failure until `release`)."""

    name: str
    addr: str
    addr_locked_by_it: bool


def _admit(r: redis.Redis, keys_: list[str], max_failures: int, cap_s: int) -> tuple[int, int]:
    window = max(FAILURE_WINDOW_S, cap_s)
    admitted, value = r.register_script(LOGIN_ADMIT)(
        keys=keys_, args=[max_failures, window, BASE_LOCK_S, cap_s]
    )
    return int(admitted), int(value)


def admit(
    r: redis.Redis, name: str, addr: str, max_failures: int, addr_max: int, cap_s: int
) -> Admission | int:
    """Admit one sign-in attempt, counting it, or the seconds to wait. `name` is a valid user
    name (whether or not the account exists: the answer must not tell)."""
    ok, addr_value = _admit(
        r, [keys.login_failures("addr", addr), keys.login_lock("addr", addr)], addr_max, cap_s
    )
    if not ok:
        return addr_value
    pair = [
        keys.login_failures("account", name, addr),
        keys.login_lock("account", name, addr),
        keys.login_failures("account", name),
    ]
    ok, wait = _admit(r, pair, max_failures, cap_s)
    if not ok:
        _take_back_address(r, addr, bool(addr_value))  # not checked: not this address's failure
        return wait
    return Admission(name, addr, bool(addr_value))


def _take_back_address(r: redis.Redis, addr: str, locked_by_it: bool) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.decr(keys.login_failures("addr", addr))
    if locked_by_it:
        pipe.delete(keys.login_lock("addr", addr))
    pipe.execute()


def release(r: redis.Redis, a: Admission) -> None:
    """A correct password: the attempt was no failure. Its address takes it back; the account's
    record from this address is cleared, and that address's failures leave the account's."""
    _take_back_address(r, a.addr, a.addr_locked_by_it)
    r.register_script(LOGIN_RELEASE)(
        keys=[
            keys.login_failures("account", a.name, a.addr),
            keys.login_lock("account", a.name, a.addr),
            keys.login_failures("account", a.name),
        ]
    )


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
    pipe = r.pipeline(transaction=True)
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


def revoke_token(r: redis.Redis, name: str, tid: str) -> bool:
    """Revokes one API token of the account by its id; False if it holds none by that id."""
    digest = r.hget(keys.user_tokens(name), tid) if re.fullmatch(r"[0-9a-f]{8}", tid) else None
    if digest is None:
        return False
    pipe = r.pipeline(transaction=False)  # two slots; the index goes first (verify_token)
    pipe.hdel(keys.user_tokens(name), tid)
    pipe.delete(keys.api_token(digest.decode()))
    pipe.execute()
    return True


def revoke_tokens(r: redis.Redis, name: str) -> int:
    """Revokes every API token of the account; returns how many there were."""
    digests = r.hvals(keys.user_tokens(name))
    pipe = r.pipeline(transaction=False)  # keys in several slots; the index goes first
    pipe.delete(keys.user_tokens(name))
    for d in digests:
        pipe.delete(keys.api_token(d.decode()))
    pipe.execute()
    return len(digests)
