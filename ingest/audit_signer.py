"""The ingest worker signs the audit chains' heads (domain/audit.py, store/audit.py).

- every AUDIT_SIGN_EVERY_S (default 5 min) a `periodic` head, when the chain has grown;
- after each local day ends (and a grace time for late writers), a `day` head: the day's last
  entry, the anchor from which a chain verifies once older days are pruned; then whole days
  older than the chain's retention are pruned (their day heads stay);
- a `break` head when the chain is shorter than it was: the signer looks at each chain's head
  every heartbeat and remembers the newest entry it has seen; if that entry is gone (the tail
  was deleted and the head rewound), it signs what it saw instead of carrying on. That is how a
  truncation after the last signed head is caught: at the next head, at most one period later.

Several workers may run: one takes each period's turn (a short lock in Redis). Each signed head
also goes to DATA_DIR/audit/heads.jsonl, outside Redis.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import redis

from domain import audit
from domain.clock import Clock
from store import audit as log
from store import audit_keys

log_ = logging.getLogger("ecocommand.audit")


class HeadSigner:
    def __init__(
        self,
        r: redis.Redis,
        data_dir: Path,
        *,
        every_s: int,
        keep_days: dict[audit.Chain, int],
        clock: Clock,
        key_file: Path | None = None,
    ) -> None:
        self.r, self.data_dir, self.clock = r, data_dir, clock
        self.key = audit_keys.signing_key(data_dir, key_file)
        self.every_ms = every_s * 1000
        self.keep_days = keep_days
        self.owner = f"{os.uname().nodename}:{os.getpid()}"
        self.seen: dict[str, log.Head] = {}
        self.signed_seq: dict[str, int] = {}
        self.next_ms = 0
        self.closed_before = ""  # the day up to which the ended days were signed and pruned

    def tick(self) -> None:
        """Called every heartbeat: watch the heads; sign when a period or a day is over."""
        now = self.clock()
        for chain in audit.Chain:
            self._watch(chain.value, now)
        if now >= self.next_ms:
            self.next_ms = now + self.every_ms
            for chain in audit.Chain:
                if log.take_signer_turn(self.r, chain.value, self.owner, self.every_ms - 1000):
                    self._periodic(chain.value, now)
        today = audit.closing_day(now)
        if today != self.closed_before:
            for chain in audit.Chain:
                self._close_days(chain, today)
            self.closed_before = today

    def _sign(self, chain: str, head: log.Head, kind: str, now: int, note: str = "") -> None:
        fields = {"chain": chain, "seq": head.seq, "hash": head.hash, "ts": now, "day": head.day}
        signed = audit.sign_head(self.key, {**fields, "kind": kind, "note": note or None})
        log.add_head(self.r, chain, signed)
        audit_keys.keep_head(self.data_dir, signed)
        self.signed_seq[chain] = head.seq

    def _watch(self, chain: str, now: int) -> None:
        head, seen = log.head(self.r, chain), self.seen.get(chain)
        if seen is not None and seen.seq and not self._still_there(chain, seen):
            note = f"entry {seen.seq} ({seen.hash[:16]}) was seen, the chain now ends at {head.seq}"
            log_.error("audit chain %s rewound: %s", chain, note)
            self._sign(chain, head, "break", now, note)
            self.seen[chain] = head
        elif seen is None or head.seq > seen.seq:
            self.seen[chain] = head

    def _still_there(self, chain: str, seen: log.Head) -> bool:
        entry = log.at(self.r, chain, seen.day, seen.idx)
        return entry is not None and entry.get("seq") == seen.seq and entry.get("hash") == seen.hash

    def _periodic(self, chain: str, now: int) -> None:
        head = log.head(self.r, chain)
        if head.seq and head.seq != self.signed_seq.get(chain):
            self._sign(chain, head, "periodic", now)

    def _close_days(self, chain: audit.Chain, today: str) -> None:
        """Sign the last entry of every ended day that has no day head at it yet, then prune.
        A day already closed is signed again when a writer whose clock lagged appended to it
        after its head: the newest day head of a day is where the next day's entries link
        from, also once the day is pruned (else the walk would miss the late entries)."""
        now = self.clock()
        closed: dict[str, int] = {}
        for h in log.signed_heads(self.r, chain.value):
            if h.get("kind") == "day" and isinstance(h.get("seq"), int):
                closed[str(h.get("day"))] = max(h["seq"], closed.get(str(h.get("day")), 0))
        for day in log.days(self.r, chain.value):
            if day >= today:
                continue
            last = log.last_of_day(self.r, chain.value, day)
            if last and isinstance(last[0].get("seq"), int) and last[0]["seq"] > closed.get(day, 0):
                e = last[0]
                self._sign(chain.value, log.Head(e["seq"], str(e["hash"]), day), "day", now)
                log_.info("audit chain %s: day %s closed at entry %s", chain, day, e["seq"])
        keep = self.keep_days[chain]
        gone = log.prune(
            self.r, chain.value, audit.days_before(today, keep), audit.days_before(today, 31)
        )
        if gone:
            log_.info("audit chain %s: pruned %d day(s) up to %s", chain, len(gone), gone[-1])
