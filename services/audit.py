"""The audit log as the application uses it: record an act, check a chain (`audit verify`),
export the public key and the signed heads (`audit export`), and the trail of one incident,
unit or account with its verification status (the trail page and API).

Recording is the last step of every state-changing service function, after the change is
written: an act that was refused leaves no entry, and an entry always describes a change that
happened. (A process that dies between the two leaves a change without its entry; the timeline
check below shows it as "not in the record".)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from domain import audit
from services.context import AppContext
from store import audit as log
from store import audit_keys, incident_audit


def user(name: str) -> str:
    """The audit actor of an act by `name`: an account's name (no colon: store/users.NAME_RE),
    or an actor that is not an account, already named by its kind ("citizen:<tracking code>")."""
    return name if ":" in name else f"user:{name}"


def record(ctx: AppContext, actor: str, action: str, obj: str, change: Mapping[str, Any]) -> None:
    log.append(ctx.redis, actor, action, obj, change, ctx.now_ms())


def incident_event(
    ctx: AppContext, by: str, action: str, incident_id: str, to_state: str, event_id: str = ""
) -> None:
    """Record the timeline event a user's act just wrote: `event_id`, as its script named it
    (else the newest into `to_state` by `by`)."""
    incident_audit.record_event(
        ctx.redis, user(by), action, incident_id, to_state, ctx.now_ms(), by, event_id
    )


def incident_note(ctx: AppContext, by: str, action: str, incident_id: str, entry_id: str) -> None:
    incident_audit.record_note(ctx.redis, user(by), action, incident_id, entry_id, ctx.now_ms())


# --- checking whole chains (`audit verify`) -------------------------------------------------


@dataclass
class ChainReport:
    chain: str
    entries: int = 0
    days: list[str] = field(default_factory=list)
    heads: int = 0
    problem: str | None = None
    broken: audit.Break | None = None  # the first entry found not as written
    where: tuple[str, int] | None = None  # its day and index in that day's list

    @property
    def ok(self) -> bool:
        return self.problem is None


def _day_head(heads: list[dict[str, Any]], first_day: str) -> dict[str, Any] | None:
    """The last signed day head before `first_day` (None: there is none)."""
    before = [h for h in heads if h.get("kind") == "day" and str(h.get("day")) < first_day]
    return max(before, key=lambda h: int(h["seq"])) if before else None


def _anchor(heads: list[dict[str, Any]], first_day: str) -> tuple[int, str] | None:
    """Where a chain read from `first_day` must start: after the last signed day head before
    that day (None: there is none)."""
    last = _day_head(heads, first_day)
    return None if last is None else (int(last["seq"]) + 1, str(last["hash"]))


def _after_day_head(
    r: redis.Redis, chain: str, head: dict[str, Any]
) -> list[tuple[str, int, dict]]:
    """The entries stored in a closed day after its day head's entry: a writer whose clock was
    still on that day appended them after the signer closed it (nothing when the head's entry
    is not there, which the walk then reports as a break)."""
    day = str(head.get("day"))
    found = log.day_entries(r, chain, day)
    at = [i for i, e in enumerate(found) if e.get("hash") == head.get("hash")]
    return [(day, i, e) for i, e in enumerate(found) if at and i > at[0]]


def _check_kept_since(
    report: ChainReport, heads: list[dict[str, Any]], kept: list[str], keep: tuple[int, str]
) -> None:
    """Days are deleted only past the chain's retention (the signer prunes the days before
    today - keep_days): the days before the first kept one, known by their signed day heads,
    must all be older than that. Deleting the oldest days would otherwise leave a chain that
    verifies from what is left. (Run just after midnight on a host whose clock is behind the
    signer's, it may name the day pruned that night: run it again.)"""
    keep_days, today = keep
    gone = _day_head(heads, kept[0] if kept else "99999999")  # the newest of the days gone
    if gone is None:
        return
    last, since = str(gone.get("day")), audit.days_before(today, keep_days)
    if last >= since:
        report.problem = (
            f"days up to {last} are gone, but this chain keeps {keep_days} days (from {since})"
        )


def _check_heads(
    report: ChainReport, heads: list[dict[str, Any]], hashes: dict[int, str], last: int
) -> None:
    first_day = report.days[0] if report.days else ""
    for h in sorted(heads, key=lambda h: int(h.get("seq", 0))):
        seq = int(h.get("seq", 0))
        if h.get("kind") == "break":
            report.problem = f"the signer found the chain shorter than it had seen: {h.get('note')}"
        elif seq in hashes and hashes[seq] != h.get("hash"):
            report.problem = f"entry {seq} differs from its head signed at {h.get('ts')}"
        elif seq > last and str(h.get("day")) >= first_day:
            report.problem = f"entries {last + 1}..{seq} removed: a head was signed at {seq}"
        if report.problem:
            return


def _check_listed(r: redis.Redis, report: ChainReport, listed: list[tuple[str, int, dict]]) -> None:
    """Every entry is in the trail of its object and of its actor: a trail (and an incident's
    timeline check) reads entries through those lists, so a pointer deleted together with
    what its entry recorded (a note) would hide both from them."""
    wanted = {
        (ref, f"{day}:{idx}"): e.get("seq")
        for day, idx, e in listed
        for ref in log.refs_of(e.get("object"), e.get("actor"))
    }
    first_day = listed[0][0] if listed else ""
    have = log.ref_pointers(r, report.chain, {ref for ref, _p in wanted}, first_day)
    for (ref, pointer), seq in wanted.items():
        if pointer not in have[ref]:
            day, _, idx = pointer.partition(":")
            report.problem = (
                f"entry {seq} (day {day}, position {idx}) is missing from the trail of {ref}"
            )
            return


def _heads(r: redis.Redis, chain: str, outside: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Redis' signed heads and the outside copies', once each."""
    found: dict[str, dict[str, Any]] = {}
    for h in (*log.signed_heads(r, chain), *outside):
        if h.get("chain") == chain:
            found.setdefault(audit.canonical(dict(h)).decode(), dict(h))
    return list(found.values())


def _start(r: redis.Redis, chain: str, heads: list[dict], from_day: str):
    """The days to read, where the chain must start, and the entries before the first day to
    read with them: from `from_day` when a signed day head anchors it (with what its day got
    after the head), else from the first kept day (anchored, or the chain's beginning)."""
    kept = log.days(r, chain)
    wanted = [d for d in kept if d >= from_day]
    head = _day_head(heads, wanted[0]) if wanted else None
    if head is not None:
        late = _after_day_head(r, chain, head) if str(head.get("day")) in kept else []
        return wanted, (int(head["seq"]) + 1, str(head["hash"])), late
    return kept, (_anchor(heads, kept[0]) if kept else None) or (1, audit.GENESIS), []


def verify_chain(
    r: redis.Redis,
    chain: str,
    public: Any,
    from_day: str = "",
    outside_heads: Iterable[Mapping[str, Any]] = (),
    kept: tuple[int, str] | None = None,
) -> ChainReport:
    """Signatures of the heads, then the links of the kept entries from `from_day`, then the
    entries against the heads and the head key against the last entry; with `kept` (the
    chain's retention in days, today YYYYMMDD), that no day inside it is gone."""
    report = ChainReport(chain)
    heads = _heads(r, chain, outside_heads)
    forged = [h for h in heads if not audit.head_signature_ok(public, h)]
    if forged:
        report.problem = f"the head signed for entry {forged[0].get('seq')} has a bad signature"
        return report
    report.heads = len(heads)
    report.days, (start_seq, start_prev), late = _start(r, chain, heads, from_day)
    if kept is not None:
        _check_kept_since(report, heads, log.days(r, chain), kept)
        if report.problem:
            return report
    listed = late + [
        (d, i, e) for d in report.days for i, e in enumerate(log.day_entries(r, chain, d))
    ]
    entries = [e for _d, _i, e in listed]
    report.entries = len(entries)
    found = audit.first_break(entries, start_seq, start_prev)
    if found is not None:
        day, idx, _e = listed[min(found.position, len(listed) - 1)]
        report.broken, report.where = found, (day, idx)
        report.problem = f"{found} (day {day}, position {idx})"
        return report
    hashes = {int(e["seq"]): str(e["hash"]) for e in entries}
    last = start_seq - 1 + len(entries)
    _check_heads(report, heads, hashes, last)
    if report.problem is None:
        _check_listed(r, report, listed)
    now = log.head(r, chain)
    if report.problem is None and entries and (now.seq, now.hash) != (last, hashes[last]):
        report.problem = f"the chain ends at entry {last} but its head says {now.seq}"
    return report


def verify(
    r: redis.Redis,
    data_dir: Path,
    from_day: str = "",
    heads_dir: Path | None = None,
    keep: tuple[Mapping[str, int], str] | None = None,
) -> list[ChainReport]:
    """Every chain, against the public key in DATA_DIR (or the export's) and the heads kept in
    Redis, in DATA_DIR and in an export; with `keep` (days kept per chain, today), that no
    day inside a chain's retention is gone."""
    folder = heads_dir or audit_keys.folder(data_dir)
    public = audit_keys.public_key(folder / audit_keys.PUBLIC)
    outside = audit_keys.read_heads(audit_keys.folder(data_dir) / audit_keys.HEADS)
    if heads_dir is not None:
        outside += audit_keys.read_heads(heads_dir / audit_keys.HEADS)
    return [
        verify_chain(r, c.value, public, from_day, outside, (keep[0][c], keep[1]) if keep else None)
        for c in audit.Chain
    ]


def export(r: redis.Redis, data_dir: Path, directory: Path) -> dict[str, int]:
    """Write the public key and every signed head (Redis' and the local copy's, once each) to
    `directory`, to keep elsewhere; returns the heads per chain."""
    directory.mkdir(parents=True, exist_ok=True)
    src = audit_keys.folder(data_dir)
    (directory / audit_keys.PUBLIC).write_bytes((src / audit_keys.PUBLIC).read_bytes())
    local = audit_keys.read_heads(src / audit_keys.HEADS)
    heads = [h for c in audit.Chain for h in _heads(r, c.value, local)]
    heads.sort(key=lambda h: (str(h.get("chain")), int(h.get("seq", 0))))
    (directory / audit_keys.HEADS).write_bytes(b"".join(audit.canonical(h) + b"\n" for h in heads))
    return dict(Counter(str(h.get("chain")) for h in heads))
