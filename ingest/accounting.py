"""Every message accounted for: each one the worker receives comes to exactly one outcome, so
received = applied + duplicate + stale + deadletter + ignored holds in the counters
(docs/architecture.md, "Every message accounted for").

A message can turn into several operations (a position and a status, a payload of many AIS
sentences), and they can fare differently. The message's outcome is the best of theirs:
applied if anything of it was written as new (an AIS part kept for its group counts: it is
written, and completes its message later), else duplicate (a redelivery), else stale (older
than what is held), else deadletter (all of it refused; the dead-letter stream holds each
refused part with its reason), else ignored (valid, nothing we use) under the first reason
given. A message whose handler gave nothing at all is ignored as `nothing_to_apply`, so even a
handler's oversight shows in the counters rather than vanishing.
"""

from __future__ import annotations

from collections import Counter

APPLIED, DUPLICATE, STALE, DEADLETTER, IGNORED = (
    "applied",
    "duplicate",
    "stale",
    "deadletter",
    "ignored",
)
OUTCOMES = (APPLIED, DUPLICATE, STALE, DEADLETTER, IGNORED)
NOTHING = "nothing_to_apply"


class Ledger:
    """What each message of one batch came to, by its position in the batch."""

    def __init__(self, size: int) -> None:
        self._verdicts: list[list[str]] = [[] for _ in range(size)]
        self._ignored: list[list[str]] = [[] for _ in range(size)]

    def note(self, message: int, verdict: str) -> None:
        self._verdicts[message].append(verdict)

    def ignore(self, message: int, reason: str) -> None:
        self._ignored[message].append(reason)

    def outcome(self, message: int) -> tuple[str, str | None]:
        """The message's outcome, and for an ignored message its reason."""
        verdicts = self._verdicts[message]
        for outcome in (APPLIED, DUPLICATE, STALE, DEADLETTER):
            if outcome in verdicts:
                return outcome, None
        reasons = self._ignored[message]
        return IGNORED, reasons[0] if reasons else NOTHING

    def tally(self) -> tuple[dict[str, int], dict[str, int]]:
        """Messages per outcome (every outcome present, zeros included), ignored per reason."""
        outcomes: Counter[str] = Counter({o: 0 for o in OUTCOMES})
        ignored: Counter[str] = Counter()
        for i in range(len(self._verdicts)):
            outcome, reason = self.outcome(i)
            outcomes[outcome] += 1
            if reason is not None:
                ignored[reason] += 1
        return dict(outcomes), dict(ignored)
