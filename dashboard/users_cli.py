"""`python run.py users ...`: accounts from the command line, and the demo's seeded accounts.

A password is never an argument (it would sit in the shell history and the process list): it is
asked twice on a terminal, or read as one line from stdin for scripts. A new API token is printed
once, alone on stdout so scripts can capture it; Redis keeps only its SHA-256.
"""

from __future__ import annotations

import getpass
import sys
import time
from typing import Any, TextIO

from config.settings import Settings
from infra.connections import redis_client
from services import accounts, data_layout


def read_password(stdin: TextIO = sys.stdin) -> str:
    if stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def _redis(settings: Settings) -> Any:
    r = redis_client(settings.effective_redis_url, wait_s=0)
    data_layout.ensure(r)  # an older version's data is renamed before an account is written
    return r


def add(
    settings: Settings, name: str, role: str, stdin: TextIO = sys.stdin, unit: str | None = None
) -> None:
    r = _redis(settings)
    accounts.check_role(r, role, unit)  # before asking for a password
    accounts.add_user(r, name, role, read_password(stdin), unit=unit)
    print(f"user {name} ({role}{f', unit {unit}' if unit else ''}) created")


def show(settings: Settings) -> None:
    for u in accounts.list_accounts(_redis(settings)):
        unit = f"unit {u['unit']:<12} " if u.get("unit") else ""
        off = "  disabled" if int(u.get("disabled_ms") or 0) else ""
        print(f"{u['name']:<24} {u['role']:<12} {unit}{u['tokens']} API tokens{off}")


def role(settings: Settings, name: str, new_role: str, unit: str | None = None) -> None:
    accounts.set_role(_redis(settings), name, new_role, unit)
    print(f"user {name} is now {new_role}{f', unit {unit}' if unit else ''}")


def disable(settings: Settings, name: str, off: bool = True) -> None:
    """Disables the account (its sessions and tokens are refused from their next request), or
    enables it again."""
    r = _redis(settings)
    if off:
        accounts.disable(r, name)
    else:
        accounts.enable(r, name)
    print(f"user {name} {'disabled' if off else 'enabled'}")


def token(settings: Settings, name: str, revoke: bool = False, token_id: str | None = None) -> None:
    """A new API token for the account on stdout (its id on stderr), or revokes one of them
    (`token_id`) or all of them."""
    r = _redis(settings)
    if revoke and token_id:
        accounts.revoke_token(r, name, token_id)
        print(f"API token {token_id} of {name} revoked", file=sys.stderr)
        return
    if revoke:
        print(f"{accounts.revoke_tokens(r, name)} API tokens of {name} revoked", file=sys.stderr)
        return
    tid, secret = accounts.new_token(r, name)
    print(secret, flush=True)
    print(f"API token {tid} for {name}: shown only now, keep it safe", file=sys.stderr)


def tokens(settings: Settings, name: str) -> None:
    """The account's API tokens by id and creation time, never the tokens."""
    for t in accounts.tokens(_redis(settings), name):
        made = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(t["created_ms"] or 0) / 1000))
        print(f"{t['id']}  created {made}")
