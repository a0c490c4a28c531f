"""What the ingest handlers ask the store to do: plain values, no Redis.

Handlers turn a message into a list of these; the worker writes a whole batch of them in one
pipeline and acknowledges the messages only after it succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from store.keys import EntityKind


@dataclass(frozen=True, slots=True)
class Observation:
    """A position or reading: deduped by identity, kept in history, latest wins by (ts, seq)."""

    kind: EntityKind
    entity_id: str
    ts: int
    seq: int
    identity: str
    state: dict[str, str | int | float]
    track: dict[str, str | int | float]
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True, slots=True)
class FieldUpdate:
    """Profile or status fields replacing older ones, ordered by their own time field."""

    kind: EntityKind
    entity_id: str
    order_field: str
    ts: int
    event_type: str
    fields: dict[str, str | int | float]
    lon: float | None = None  # a profile that places the entity (a sensor) also sets its GEO entry
    lat: float | None = None
    # The entity's secondary GEO indexes (keys.unit_geo_facet) when the update changes them;
    # None leaves them as they are.
    geo_facets: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class RaiseAlert:
    """An alert with a deterministic id, so a redelivered message raises it once."""

    alert_id: str
    ts: int
    fields: dict[str, str | int | float]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    topic: str
    raw: bytes
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Ignored:
    """A valid message, or part of one, that carries nothing the product uses (an AIS type it
    does not read, the centre's own notice to a unit): counted under its reason, never written.
    It exists so that every message is accounted for (ingest/accounting.py)."""

    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AisFragment:
    """One part of a multi-part AIS message that arrived without its other parts."""

    group_key: str
    index: int
    total: int
    line: str
    source: str
    received_ms: int


@dataclass(frozen=True, slots=True)
class TaskUpdate:
    """A unit's report on its task (ack, arrived, handled): moves its incident's state. `ts` is
    the device's claim, `received_ms` the server's receipt (domain/report_times.py decides)."""

    unit_id: str
    incident_id: str
    action: str
    ts: int
    seq: int
    received_ms: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class PatrolLogSubmission:
    """A patrol log to check against the unit's track once the batch is written."""

    unit_id: str
    ts: int
    from_ms: int
    to_ms: int
    places: tuple[str, ...]
    note: str = ""


Op = Observation | FieldUpdate | RaiseAlert | DeadLetter | TaskUpdate | PatrolLogSubmission


@dataclass(slots=True)
class Outcome:
    """What a batch did: per operation, in the order given, "applied", "duplicate", "stale" or
    "deadletter" (ingest/accounting.py turns these into one outcome per message)."""

    verdicts: list[str] = field(default_factory=list)
    alerts: int = 0
    deadletter: dict[str, int] = field(default_factory=dict)

    def count(self, verdict: str) -> int:
        return self.verdicts.count(verdict)
