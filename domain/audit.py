"""The audit log's rules (全程留痕): what an entry is, how entries are chained, how a chain's
head is signed, and how a stored chain is checked. Pure: no Redis, no files.

An entry says who (actor: `user:NAME`, `device:ID`, `cli:OSUSER`, `system`) did what (action)
to what (object: `incident:ID`, `unit:ID`, `user:NAME`, ...) at the server's time, with the
SHA-256 of what changed (`digest`) and the hash of the entry before it (`prev`); its own
`hash` is the SHA-256 of all of that. Changing, removing, inserting or reordering an entry
breaks a link; rewriting a whole chain is caught by a signed head (Ed25519) kept elsewhere.

Entries live in chains, one per retention class: `record` (case, dispatch and account acts,
kept 5 years) and `access` (sign-ins and reads of personal data, kept 1 year).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.vocab import local_day

GENESIS = "0" * 64  # the `prev` of a chain's first entry
DAY_GRACE_MS = 10 * 60_000  # as the KPI day close: writers of the day before midnight are done


def closing_day(now_ms: int) -> str:
    """The day the head signer calls today at `now_ms`: the days before it are closed (a day
    head signed) and pruned by their retention counted from it."""
    return local_day(now_ms - DAY_GRACE_MS)


def days_before(day: str, n: int) -> str:
    """The day (YYYYMMDD) `n` days before `day`: with the signer's today and a chain's
    retention, the first day the chain must still hold (older ones are pruned)."""
    d = dt.datetime.strptime(day, "%Y%m%d").date() - dt.timedelta(days=n)
    return d.strftime("%Y%m%d")


class Chain(StrEnum):
    RECORD = "record"  # what was done: kept for the case-file period
    ACCESS = "access"  # who came in and who looked at personal data: kept shorter


# Every action an entry may name, with its chain. A service writes only these names (a test
# walks docs/architecture.md's action table and finds each one in the log).
ACTIONS: dict[str, Chain] = {
    **dict.fromkeys(
        (
            "incident.opened",
            "incident.assigned",
            "incident.unit_taken",  # a unit taken for more urgent work, on the incident it left
            "incident.moved",  # triaged, closed, rejected, transferred, ...
            "incident.reported",  # a unit's own report: en route, arrived, handled
            "incident.note",
            "incident.evidence",
            "alert.acknowledged",
            "alert.dismissed",
            "alert.closed",  # by the incident it became
            "patrol_log.submitted",
            "place.owner_reassigned",
            "account.created",
            "account.token_created",
            "account.tokens_revoked",
            "account.token_revoked",  # one token, by its id
            "account.role_changed",
            "account.disabled",  # its sessions and tokens stop at their next request
            "account.enabled",
            "wall.issued",  # a wall screen's session, issued by an admin for a named screen
            "wall.revoked",
            "device.added",
            "device.revoked",
            "audit.head_break",  # the signer saw the chain shorter than it was: see docs
            "personal.phones_erased",  # retention: callers' numbers past their keep time
            "message.sent",  # a duty chief to a unit
            "message.reply",  # an officer to the centre
            "message.read",  # the officer's phone showed it (first time)
        ),
        Chain.RECORD,
    ),
    **dict.fromkeys(
        (
            "account.signed_in",
            "account.sign_in_failed",
            "account.signed_out",
            "wall.signed_in",  # the screen opened its one-time link
            "personal.phone_read",
            "personal.track_read",
        ),
        Chain.ACCESS,
    ),
}
ENTRY_FIELDS = ("seq", "ts", "actor", "action", "object", "digest", "prev")


def canonical(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8 (orjson)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_of(change: Mapping[str, Any]) -> str:
    return sha256(canonical(dict(change)))


def entry_hash(entry: Mapping[str, Any]) -> str:
    return sha256(canonical({k: entry.get(k) for k in ENTRY_FIELDS}))


def seal(
    seq: int, prev: str, ts: int, actor: str, action: str, obj: str, digest: str
) -> dict[str, Any]:
    """A new entry linked to `prev`, with its hash."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    e: dict[str, Any] = {
        "seq": seq,
        "ts": ts,
        "actor": actor,
        "action": action,
        "object": obj,
        "digest": digest,
        "prev": prev,
    }
    e["hash"] = entry_hash(e)
    return e


# --- signed heads ---------------------------------------------------------------------------


def head_message(head: Mapping[str, Any]) -> bytes:
    """What a signature covers: the chain, the entry's seq and hash, when, and what kind of head
    (`periodic`, `day` = the last entry of a closed day, `break` = the signer saw a rewind)."""
    fields = ("chain", "seq", "hash", "ts", "day", "kind", "note")
    return canonical({k: head.get(k) for k in fields})


def sign_head(key: Ed25519PrivateKey, head: Mapping[str, Any]) -> dict[str, Any]:
    sig = key.sign(head_message(head))
    return {**head, "sig": base64.b64encode(sig).decode()}


def head_signature_ok(public: Ed25519PublicKey, head: Mapping[str, Any]) -> bool:
    try:
        public.verify(base64.b64decode(str(head.get("sig", ""))), head_message(head))
    except (InvalidSignature, ValueError):
        return False
    return True


# --- checking a stored chain ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Break:
    """The first place where a stored chain is not what was written: what happened to which
    entry (`seq`; `position` in the list read, for an entry that should not be there)."""

    what: str  # changed | removed | inserted | reordered | unreadable | head
    seq: int | None
    position: int
    detail: str

    def __str__(self) -> str:
        where = f"entry {self.seq}" if self.seq is not None else f"position {self.position}"
        return f"{where} {self.what}: {self.detail}"


def _seq(e: Mapping[str, Any]) -> int | None:
    s = e.get("seq")
    return s if isinstance(s, int) and not isinstance(s, bool) else None


def _extraneous(entries: Sequence[Mapping[str, Any]], i: int, expected: int) -> Break:
    """Entry i should not be here and the chain goes on right after it: inserted, or a genuine
    entry moved here from further on (its own hash and link hold, its seq comes once)."""
    e = entries[i]
    s = _seq(e)
    genuine = entry_hash(e) == e.get("hash") and sum(1 for x in entries if _seq(x) == s) == 1
    linked = genuine and any(
        _seq(x) == (s or 0) - 1 and x.get("hash") == e.get("prev") for x in entries
    )
    if linked and s is not None and s > expected:
        return Break("reordered", s, i, f"found before entry {expected}")
    return Break("inserted", s, i, f"not part of the chain (expected entry {expected} here)")


def _misplaced(entries: Sequence[Mapping[str, Any]], i: int, expected: int, running: str) -> Break:
    nxt = entries[i + 1] if i + 1 < len(entries) else None
    if nxt is not None and _seq(nxt) == expected and nxt.get("prev") == running:
        return _extraneous(entries, i, expected)
    where = [j for j, x in enumerate(entries) if _seq(x) == expected]
    if not where:
        return Break(
            "removed", expected, i, f"missing between entries {expected - 1} and {_seq(entries[i])}"
        )
    return Break("reordered", expected, where[0], f"found at position {where[0]}, expected {i}")


def first_break(
    entries: Sequence[Mapping[str, Any]], start_seq: int, start_prev: str
) -> Break | None:
    """Walk `entries` as stored; the chain must go on from (start_seq - 1, start_prev)."""
    expected, running = start_seq, start_prev
    for i, e in enumerate(entries):
        if _seq(e) is None:
            return Break("unreadable", None, i, "not an audit entry")
        if _seq(e) != expected:
            return _misplaced(entries, i, expected, running)
        if entry_hash(e) != e.get("hash"):
            return Break("changed", expected, i, "its content does not match its hash")
        if e.get("prev") != running:
            if i + 1 < len(entries) and _seq(entries[i + 1]) == expected:
                return _extraneous(entries, i, expected)  # a second entry {expected} follows
            before = entries[i - 1] if i else None
            if before is not None and entry_hash(before) == before.get("hash"):
                return Break("changed", expected - 1, i - 1, "re-hashed: the next link is broken")
            return Break("changed", expected, i, "its link to the entry before is broken")
        expected, running = expected + 1, str(e["hash"])
    return None
