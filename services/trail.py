"""The trail of one incident, unit, account, device, alert or place in the audit log, with its
verification status (the `/trail` page and GET /api/v1/audit/trail, for leaders and admins), and
an incident's timeline check (the dispatch page, when an incident is opened).

Each entry of the trail, in both chains (record and access), is checked on its own:

- its own hash recomputes (`domain.audit.entry_hash`);
- its link holds: the entry stored just before it in its chain is entry seq-1 and its hash is
  this entry's `prev` (for the first kept entry: GENESIS, or the signed day head of seq-1);
- so does the link after it: the entry stored next is seq+1 and names this entry's hash (the
  newest entry: the chain's head key names it), so an entry changed and sealed again with a
  fresh hash shows on its own trail, not only in a walk of the whole chain;
- it is where its ref's list says, and about the ref;
- it is covered by a signed head (seq <= the newest signed head of its chain), and agrees with
  a signed head of its own seq if there is one.

Heads are checked against the public key in DATA_DIR/audit/ when this host has it (the worker
writes it there); a head whose signature fails breaks the trail. Overall: `verified` (every entry
intact and signed), `pending` (intact, the newest not yet signed: heads are signed every
AUDIT_SIGN_EVERY_S), `unchecked` (intact and covered by heads whose signatures this host cannot
check: it has no public key), `broken` (`problems` says which entries and why), `empty` (no
entries).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from domain import audit
from services.context import AppContext
from services.errors import Refused
from store import audit as log
from store import audit_keys, audit_reads, incident_audit

KINDS = ("incident", "unit", "user", "device", "alert", "place", "wall")
ID_PATTERN = r"[A-Za-z0-9_.:@-]{1,64}"
REF_RE = re.compile(rf"({'|'.join(KINDS)}):({ID_PATTERN})")
LIMIT = 1000  # newest entries per chain
MAX_PROBLEMS = 20


def parse_ref(ref: object) -> str:
    """`kind:id` with a known kind and an id of at most 64 plain characters, else 422."""
    if not isinstance(ref, str) or REF_RE.fullmatch(ref) is None:
        raise Refused(
            422,
            f"ref: kind:id with kind one of {', '.join(KINDS)} and an id of 1 to 64 letters, "
            "digits or _ . : @ -",
        )
    return ref


def make_ref(kind: object, ident: object) -> str:
    """The ref of a kind and an id as typed (spaces around the id dropped)."""
    return parse_ref(f"{kind}:{str(ident or '').strip()}")


# --- heads ----------------------------------------------------------------------------------


def _public_key(ctx: AppContext) -> Any | None:
    path = audit_keys.folder(Path(ctx.settings.data_dir)) / audit_keys.PUBLIC
    try:
        return audit_keys.public_key(path) if path.exists() else None
    except ValueError:
        return None


class Heads:
    """A chain's signed heads as the trail needs them: the newest one, the hashes signed for
    the trail's entries and the entries just before them, and what is wrong with them. Only
    those heads' signatures are checked (a chain has thousands of heads)."""

    def __init__(self, heads: list[dict[str, Any]], public: Any | None, seqs: set[int]) -> None:
        self.problem: str | None = None
        self.signatures = "unchecked" if public is None else "verified"
        usable = [h for h in heads if isinstance(h.get("seq"), int)]
        newest = max(usable, key=lambda h: h["seq"], default=None)
        near = seqs | {s - 1 for s in seqs}
        wanted = [h for h in usable if h["seq"] in near or h is newest]
        if public is not None:
            forged = [h for h in wanted if not audit.head_signature_ok(public, h)]
            if forged:
                self.signatures = "bad"
                self.problem = f"the head signed for entry {forged[0]['seq']} has a bad signature"
        breaks = [h for h in usable if h.get("kind") == "break"]
        if breaks and self.problem is None:
            note = breaks[-1].get("note")
            self.problem = f"the signer found the chain shorter than it had seen: {note}"
        self.signed_seq = newest["seq"] if newest else 0
        self.signed_ts = newest.get("ts") if newest else None
        self.by_seq = {h["seq"]: str(h.get("hash")) for h in wanted}


# --- one entry ------------------------------------------------------------------------------


def _link(e: dict[str, Any], loc: audit_reads.Located, heads: Heads) -> bool | None:
    """Whether the entry before it is entry seq-1 with the hash this one names; None when that
    entry was pruned and no signed head anchors it."""
    seq = e.get("seq")
    if not isinstance(seq, int):
        return False
    if seq == 1:
        return e.get("prev") == audit.GENESIS and loc.before is None
    if loc.before is not None:
        return loc.before.get("seq") == seq - 1 and loc.before.get("hash") == e.get("prev")
    if loc.first_kept:
        anchor = heads.by_seq.get(seq - 1)
        return None if anchor is None else anchor == e.get("prev")
    return False


def _linked_after(e: dict[str, Any], loc: audit_reads.Located, newest: log.Head) -> bool:
    """Whether the entry after it names it (or, the newest, the head key does). `newest` was
    read before the entries: an entry appended since has nothing after it yet."""
    seq = e.get("seq")
    if loc.after is None:
        appended_since = isinstance(seq, int) and seq > newest.seq
        return appended_since or (newest.seq, newest.hash) == (seq, e.get("hash"))
    after = seq + 1 if isinstance(seq, int) else None
    return loc.after.get("seq") == after and loc.after.get("prev") == e.get("hash")


def _problems(
    e: dict[str, Any], loc: audit_reads.Located, ref: str, heads: Heads, newest: log.Head
) -> list[str]:
    out = []
    if ref not in (e.get("actor"), e.get("object")):
        out.append(f"the entry at day {loc.day} position {loc.idx} is not about {ref}: moved")
    if audit.entry_hash(e) != e.get("hash"):
        out.append("changed: its content does not match its hash")
    if _link(e, loc, heads) is False:
        out.append("its link to the entry before it is broken (changed, removed or inserted)")
    if not _linked_after(e, loc, newest):
        out.append("the entry after it does not name it (changed and sealed again, or removed)")
    signed = heads.by_seq.get(e.get("seq"))  # type: ignore[arg-type]
    if signed is not None and signed != e.get("hash"):
        out.append("it differs from the head signed for it")
    return out


def _entry(
    chain: str, loc: audit_reads.Located, ref: str, heads: Heads, newest: log.Head
) -> dict[str, Any]:
    e = loc.entry
    if e is None or "unreadable" in e:
        what = "nothing is stored there" if e is None else "what is stored there is unreadable"
        return {
            "chain": chain,
            "day": loc.day,
            **dict.fromkeys((*audit.ENTRY_FIELDS, "hash")),
            "hash_ok": False,
            "link_ok": False,
            "signed": False,
            "status": "broken",
            "problem": f"day {loc.day} position {loc.idx}: {what}",
        }
    problems = _problems(e, loc, ref, heads, newest)
    seq = e.get("seq")
    signed = isinstance(seq, int) and seq <= heads.signed_seq
    # a head is only as good as its signature: with no public key here, none was checked
    covered = "unchecked" if heads.signatures == "unchecked" else "verified"
    return {
        "chain": chain,
        "day": loc.day,
        **{k: e.get(k) for k in (*audit.ENTRY_FIELDS, "hash")},
        "hash_ok": audit.entry_hash(e) == e.get("hash"),
        "link_ok": _link(e, loc, heads),
        "signed": signed,
        "status": "broken" if problems else covered if signed else "pending",
        "problem": "; ".join(problems) or None,
    }


# --- the trail ------------------------------------------------------------------------------


def _chain(ctx: AppContext, chain: str, ref: str, public: Any | None) -> tuple[list, dict]:
    newest = log.head(ctx.redis, chain)  # first: see _linked_after
    located, total, gone = audit_reads.trail_located(ctx.redis, chain, ref, LIMIT)
    seqs = {x.entry["seq"] for x in located if x.entry and isinstance(x.entry.get("seq"), int)}
    heads = Heads(log.signed_heads(ctx.redis, chain), public, seqs)
    heads.problem = heads.problem or _gone_inside_retention(ctx, chain, gone)
    entries = [_entry(chain, loc, ref, heads, newest) for loc in located]
    summary = {
        "entries": total,
        "shown": len(entries),
        "head_seq": newest.seq,
        "signed_seq": heads.signed_seq,
        "signed_ts": heads.signed_ts,
        "signatures": heads.signatures,
        "problem": heads.problem,
    }
    return entries, summary


def _gone_inside_retention(ctx: AppContext, chain: str, gone: list[str]) -> str | None:
    """Entries of days no longer kept are pruned history when those days are past the chain's
    retention; a day inside it was deleted."""
    keep = ctx.settings.audit_keep_days[chain]
    since = audit.days_before(audit.closing_day(ctx.now_ms()), keep)
    inside = [d for d in gone if d >= since]
    return (
        f"the entries of day {inside[-1]} are gone, inside the {keep} days kept" if inside else None
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _status(entries: list[dict[str, Any]], problems: list[str]) -> str:
    if problems:
        return "broken"
    if not entries:
        return "empty"
    if not all(e["signed"] for e in entries):
        return "pending"
    return "unchecked" if any(e["status"] == "unchecked" for e in entries) else "verified"


def _refs(ref: str) -> list[str]:
    """A unit's trail is also its device's: a unit reports under its roster identity (the same
    id), so its own acts (task reports, patrol logs over MQTT) name `device:ID`."""
    kind, _, ident = ref.partition(":")
    return [ref, f"device:{ident}"] if kind == "unit" else [ref]


def trail(ctx: AppContext, ref: str) -> dict[str, Any]:
    """The entries of `ref` in both chains, oldest first, each with its status; the overall
    status and what is wrong; for an incident, its timeline checked against the log."""
    ref = parse_ref(ref)
    public = _public_key(ctx)
    entries: list[dict[str, Any]] = []
    chains: dict[str, Any] = {}
    seen: set[tuple[str, Any]] = set()
    for chain in audit.Chain:
        for one in _refs(ref):
            found, summary = _chain(ctx, chain.value, one, public)
            chains.setdefault(chain.value, summary)
            entries += [e for e in found if (chain.value, e.get("seq")) not in seen]
            seen |= {(chain.value, e.get("seq")) for e in found}
    entries.sort(key=lambda e: (_int(e.get("ts")), e["chain"], _int(e.get("seq"))))
    problems = [f"{c}: {s['problem']}" for c, s in chains.items() if s["problem"]]
    problems += [
        f"{e['chain']} entry {e['seq'] if e['seq'] is not None else '?'}: {e['problem']}"
        for e in entries
        if e["status"] == "broken"
    ]
    out: dict[str, Any] = {
        "ref": ref,
        "status": _status(entries, problems),
        "problems": problems[:MAX_PROBLEMS],
        "entries": entries,
        "count": len(entries),
        "truncated": any(s["entries"] > s["shown"] for s in chains.values()),
        "chains": chains,
        "sign_every_s": ctx.settings.audit_sign_every_s,
        "generated_ms": ctx.now_ms(),
    }
    kind, _, ident = ref.partition(":")
    if kind == "incident":
        out["timeline"] = incident_audit.timeline_check(ctx.redis, ident)
    return out


def timeline_check(ctx: AppContext, incident_id: str) -> dict[str, Any]:
    """Whether the incident's timeline and notes are what the audit log recorded:
    `status` verified | differs | not_recorded (store/incident_audit.py)."""
    return incident_audit.timeline_check(ctx.redis, incident_id[:64])
