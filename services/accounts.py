"""Accounts: who is signed in (by session or API token), signing in with throttling, signing out,
and the administration the `users` command does (accounts, API tokens, the demo accounts).

Passwords and tokens are judged by store/users.py (argon2id hashes, SHA-256 of tokens); this
module decides what a sign-in attempt means and what the person is told.
"""

from __future__ import annotations

import getpass
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from domain.clock import system_ms
from domain.roles import ACCOUNT_ROLES, ADMIN, OFFICER, ROLES, WALL
from services.context import AppContext
from services.errors import Invalid, Refused
from store import audit as audit_log
from store import devices as roster
from store import users
from store import walls as wall_store

ADDRESS_FACTOR = 4  # several people sign in from the command centre's one address
NAME_RULE = "a user name has 1-64 letters, digits, '.', '_', '@' or '-'"


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: str
    unit: str | None = None  # an officer's unit (device id in the roster); None for the console


class Throttled(Refused):
    """Too many failed sign-ins from this account or address: wait `wait_s` seconds."""

    def __init__(self, wait_s: int) -> None:
        super().__init__(429, f"too many failed sign-ins: try again in {wait_s} s")
        self.wait_s = wait_s


def account(ctx: AppContext, name: str | None) -> Account | None:
    """The account, if it exists, holds a role and is not disabled (else None)."""
    u = users.get_user(ctx.redis, name) if name else None
    if u is None or u.get("role") not in ACCOUNT_ROLES or int(u.get("disabled_ms") or 0):
        return None
    return Account(name, u["role"], u.get("unit") or None)  # type: ignore[arg-type]


def session_account(ctx: AppContext, sid: str) -> Account | None:
    """Who is signed in under this session: an account, or a wall screen (services/walls.py)
    whose session was not revoked; None once it ended."""
    name = users.session_user(ctx.redis, sid)
    if name and name.startswith(wall_store.PREFIX):
        wall = wall_store.active(ctx.redis, name.removeprefix(wall_store.PREFIX), sid)
        return Account(wall.ref, WALL) if wall else None
    return account(ctx, name)


def actor_of(name: str) -> str:
    """The audit actor of a session's holder: `user:NAME`, or a wall screen's `wall:ID`."""
    return name if name.startswith(wall_store.PREFIX) else f"user:{name}"


def token_account(ctx: AppContext, token: str) -> Account | None:
    return account(ctx, users.verify_token(ctx.redis, token))


def sign_in(ctx: AppContext, name: str, password: str, addr: str, old_sid: str = "") -> str:
    """A new session id for a correct name and password; the old session ends. Raises
    Throttled while this address, or this account from this address, must wait; Refused(401)
    when wrong. The check and the count are one atomic step (store/users.py), so parallel
    attempts get at most LOGIN_MAX_FAILURES password checks."""
    r, settings = ctx.redis, ctx.settings
    name_ok = name if users.valid_name(name) else "(invalid)"
    admitted = users.admit(
        r,
        name_ok,
        addr,
        settings.login_max_failures,
        settings.login_max_failures * ADDRESS_FACTOR,
        settings.login_lockout_s,
    )
    if not isinstance(admitted, users.Admission):
        raise Throttled(admitted)
    who = account(ctx, name) if name_ok == name and users.verify(r, name, password) else None
    if who is None:
        known = name if name_ok == name and users.get_user(r, name) else "(unknown)"
        audit_log.append(
            r,
            f"addr:{addr}",
            "account.sign_in_failed",
            f"user:{known}",
            {"addr": addr},
            ctx.now_ms(),
        )
        raise Refused(401, "wrong user name or password")
    users.release(r, admitted)
    sign_out(ctx, old_sid)
    sid = users.start_session(r, who.name, int(settings.session_hours * 3600))
    actor = f"user:{who.name}"
    audit_log.append(r, actor, "account.signed_in", actor, {"addr": addr}, ctx.now_ms())
    return sid


def sign_out(ctx: AppContext, sid: str) -> None:
    name = users.session_user(ctx.redis, sid) if sid else None
    users.end_session(ctx.redis, sid)
    if name:
        actor = actor_of(name)
        audit_log.append(ctx.redis, actor, "account.signed_out", actor, {}, ctx.now_ms())


# --- administration (the `users` command) ---------------------------------------------------


def _existing(r: redis.Redis, name: str) -> dict[str, str]:
    if not users.valid_name(name):
        raise Invalid("name", NAME_RULE)
    found = users.get_user(r, name)
    if found is None:
        raise Invalid("no_user", f"no user {name!r}", name=name)
    return found


def cli_actor() -> str:
    """Who runs an administration command: the machine account (the CLI has no sign-in)."""
    return f"cli:{getpass.getuser()}"


def _record(r: redis.Redis, actor: str, action: str, name: str, change: dict[str, Any]) -> None:
    audit_log.append(r, actor, action, f"user:{name}", change, system_ms())


def add_user(
    r: redis.Redis, name: str, role: str, password: str, by: str = "", unit: str | None = None
) -> None:
    """An account; an officer's is bound to `unit`, an active unit device of the roster."""
    check_role(r, role, unit)
    if not users.valid_name(name):
        raise Invalid("name", NAME_RULE)
    try:
        users.check_password(password)
    except ValueError as e:
        raise Invalid("password", str(e), min=users.MIN_PASSWORD) from None
    if users.get_user(r, name) is not None:
        raise Invalid("exists", f"user {name!r} already exists", name=name)
    users.create_user(r, name, role, password, unit=unit)
    change = {"role": role, **({"unit": unit} if unit else {})}
    _record(r, by or cli_actor(), "account.created", name, change)


def check_role(r: redis.Redis, role: str, unit: str | None) -> None:
    """ValueError unless `role` is known and `unit` fits it: an officer needs an active unit
    device (what the field app sends is sent under that device's identity); no one else has one."""
    if role not in ACCOUNT_ROLES:
        raise Invalid("role", f"unknown role {role!r}: one of {', '.join(ACCOUNT_ROLES)}")
    if role != OFFICER:
        if unit:
            raise Invalid("unit_not_officer", "only an officer is bound to a unit")
        return
    device = roster.get(r, unit) if unit else None
    if device is None or not device.active or device.kind != "unit":
        raise Invalid(
            "unit",
            f"an officer needs --unit, an active unit of the device roster (not {unit!r}): "
            "python run.py devices add ID --kind unit",
        )


def list_accounts(r: redis.Redis) -> list[dict[str, Any]]:
    """Every account with its role, unit, whether it is disabled and how many API tokens it
    holds; never a password hash (store/users.list_users leaves it out)."""
    return [{**u, "tokens": len(users.list_tokens(r, u["name"]))} for u in users.list_users(r)]


def _keeps_an_admin(r: redis.Redis, name: str) -> None:
    """Invalid if `name` is the last enabled admin: nobody could administer accounts then."""
    others = [
        u
        for u in users.list_users(r)
        if u["role"] == ADMIN and u["name"] != name and not int(u.get("disabled_ms") or 0)
    ]
    if not others:
        raise Invalid("last_admin", f"{name} is the last administrator: make another one first")


def set_role(r: redis.Redis, name: str, role: str, unit: str | None = None, by: str = "") -> None:
    """Gives an account another role (an officer's with its unit). Its sessions and tokens act
    with the new role from their next request. An admin cannot change their own role, and the
    last administrator keeps theirs."""
    before = _existing(r, name)
    check_role(r, role, unit)
    if by == f"user:{name}":
        raise Invalid("self", "you cannot change your own role")
    if before.get("role") == ADMIN and role != ADMIN:
        _keeps_an_admin(r, name)
    users.set_role(r, name, role, unit)
    change = {"from": before.get("role", ""), "role": role, **({"unit": unit} if unit else {})}
    _record(r, by or cli_actor(), "account.role_changed", name, change)


def disable(r: redis.Redis, name: str, by: str = "") -> None:
    """Disables an account: its sessions and API tokens are refused from their next request
    (the live map's stream ends within a second). Kept, with its audit trail; `enable` undoes
    it. Not one's own, and not the last administrator."""
    before = _existing(r, name)
    if by == f"user:{name}":
        raise Invalid("self", "you cannot disable your own account")
    if before.get("role") == ADMIN:
        _keeps_an_admin(r, name)
    if users.set_disabled(r, name, system_ms()):
        _record(r, by or cli_actor(), "account.disabled", name, {})


def enable(r: redis.Redis, name: str, by: str = "") -> None:
    _existing(r, name)
    if users.set_disabled(r, name, 0):
        _record(r, by or cli_actor(), "account.enabled", name, {})


def new_token(r: redis.Redis, name: str, by: str = "") -> tuple[str, str]:
    """(token id, the token): the token is shown once and kept only as its hash."""
    _existing(r, name)
    tid, token = users.create_token(r, name)
    _record(r, by or cli_actor(), "account.token_created", name, {"token_id": tid})
    return tid, token


def revoke_token(r: redis.Redis, name: str, token_id: str, by: str = "") -> None:
    """Revokes one of the account's API tokens, by its id (`users tokens NAME` lists them)."""
    _existing(r, name)
    if not users.revoke_token(r, name, token_id):
        raise Invalid("no_token", f"{name} has no API token {token_id!r}", id=token_id)
    _record(r, by or cli_actor(), "account.token_revoked", name, {"token_id": token_id})


def revoke_tokens(r: redis.Redis, name: str, by: str = "") -> int:
    _existing(r, name)
    n = users.revoke_tokens(r, name)
    _record(r, by or cli_actor(), "account.tokens_revoked", name, {"revoked": n})
    return n


def tokens(r: redis.Redis, name: str) -> list[dict[str, Any]]:
    _existing(r, name)
    return users.list_tokens(r, name)


def seed_demo(
    r: redis.Redis, data_dir: Path, officer_unit: str | None = None
) -> list[tuple[str, str, str]]:
    """One account per role, named after it, for the demo (and an officer bound to
    `officer_unit`, when given). Passwords are made on first start and kept in
    DATA_DIR/demo_accounts.txt (0600); existing accounts are never reset."""
    path = data_dir / "demo_accounts.txt"
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _role, password = [*line.split("\t"), "", ""][:3]
            known[name] = password
    out = []
    seeded: list[tuple[str, str | None]] = [(role, None) for role in ROLES]
    if officer_unit:
        seeded.append((OFFICER, officer_unit))
    for role, unit in seeded:
        if users.get_user(r, role) is None:
            known[role] = secrets.token_urlsafe(12)
            users.create_user(r, role, role, known[role], unit=unit)
            change = {"role": role, **({"unit": unit} if unit else {})}
            _record(r, "system:demo", "account.created", role, change)
        out.append((role, role, known.get(role, "(set earlier, unchanged)")))
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when an older file had looser bits
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{n}\t{role}\t{p}\n" for n, role, p in out)
    return out
