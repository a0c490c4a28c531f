"""`python run.py users ...`: accounts from the command line, and the demo's seeded accounts.

A password is never an argument (it would sit in the shell history and the process list): it is
asked twice on a terminal, or read as one line from stdin for scripts. A new API token is printed
once, alone on stdout so scripts can capture it; Redis keeps only its SHA-256.
"""

from __future__ import annotations

import getpass
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TextIO

import redis

from config.settings import Settings
from dashboard.roles import ROLES
from ingest.connections import redis_client
from store import users


def read_password(stdin: TextIO = sys.stdin) -> str:
    if stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def add(settings: Settings, name: str, role: str, stdin: TextIO = sys.stdin) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if not users.valid_name(name):
        raise ValueError("a user name has 1-64 letters, digits, '.', '_', '@' or '-'")
    password = read_password(stdin)
    users.check_password(password)
    users.create_user(redis_client(settings.effective_redis_url, wait_s=0), name, role, password)
    print(f"user {name} ({role}) created")


def show(settings: Settings) -> None:
    r = redis_client(settings.effective_redis_url, wait_s=0)
    for u in users.list_users(r):
        print(f"{u['name']:<24} {u['role']:<12} {len(users.list_tokens(r, u['name']))} API tokens")


def _existing(r: redis.Redis, name: str) -> None:
    if not users.valid_name(name):
        raise ValueError("a user name has 1-64 letters, digits, '.', '_', '@' or '-'")
    if users.get_user(r, name) is None:
        raise ValueError(f"no user {name!r}")


def token(settings: Settings, name: str, revoke: bool = False) -> None:
    """A new API token for the account on stdout (its id on stderr), or revokes all of them."""
    r = redis_client(settings.effective_redis_url, wait_s=0)
    _existing(r, name)
    if revoke:
        print(f"{users.revoke_tokens(r, name)} API tokens of {name} revoked", file=sys.stderr)
        return
    tid, secret = users.create_token(r, name)
    print(secret, flush=True)
    print(f"API token {tid} for {name}: shown only now, keep it safe", file=sys.stderr)


def tokens(settings: Settings, name: str) -> None:
    """The account's API tokens by id and creation time, never the tokens."""
    r = redis_client(settings.effective_redis_url, wait_s=0)
    _existing(r, name)
    for t in users.list_tokens(r, name):
        made = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(t["created_ms"] or 0) / 1000))
        print(f"{t['id']}  created {made}")


def seed_demo(r: redis.Redis, data_dir: Path) -> list[tuple[str, str, str]]:
    """One account per role, named after it, for the demo. Passwords are made on first start and
    kept in DATA_DIR/demo_accounts.txt (0600); existing accounts are never reset."""
    path = data_dir / "demo_accounts.txt"
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _role, password = [*line.split("\t"), "", ""][:3]
            known[name] = password
    out = []
    for role in ROLES:
        if users.get_user(r, role) is None:
            known[role] = secrets.token_urlsafe(12)
            users.create_user(r, role, role, known[role])
        out.append((role, role, known.get(role, "(set earlier, unchanged)")))
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when an older file had looser bits
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{n}\t{role}\t{p}\n" for n, role, p in out)
    return out
