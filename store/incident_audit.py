"""An incident's own record in the audit log: each timeline event and note, as stored (with its
stream id), is one entry's digest; the incident's timeline is checked against them. Used by
the services (the duty chiefs' acts) and by the ingest worker (the units' reports)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import redis

from domain import audit
from store import audit as log
from store import incidents

EVENT_ACTIONS = (
    "incident.opened",
    "incident.assigned",
    "incident.unit_taken",
    "incident.moved",
    "incident.reported",
    "incident.note",
    "incident.evidence",
)


def event_change(entry_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """What an incident entry's digest covers: the stored event (or note) with its stream id."""
    return {"id": entry_id, **{k: v for k, v in fields.items() if k != "id"}}


def record_event(
    r: redis.Redis,
    actor: str,
    action: str,
    incident_id: str,
    to_state: str,
    now_ms: int,
    by: str,
    event_id: str = "",
) -> None:
    """Record the timeline event the act just wrote: the one its script named (`event_id`),
    else the newest one into `to_state` by `by` (an incident's opening, its only event). Two
    acts at once on one incident, by two chiefs or by one in two tabs, each record their own
    event, not both the newer one (which would put one's name to the other's act and leave an
    event unrecorded)."""
    event = (
        incidents.event(r, incident_id, event_id)
        if event_id
        else incidents.latest_event(r, incident_id, to_state, by)
    )
    if event is not None:
        log.append(r, actor, action, f"incident:{incident_id}", event_change(*event), now_ms)


def record_note(
    r: redis.Redis, actor: str, action: str, incident_id: str, entry_id: str, now_ms: int
) -> None:
    note = incidents.note(r, incident_id, entry_id)
    if note is not None:
        change = event_change(entry_id, note)
        log.append(r, actor, action, f"incident:{incident_id}", change, now_ms)


def timeline_check(r: redis.Redis, incident_id: str) -> dict[str, Any]:
    """Whether the incident's timeline and notes are what the audit log recorded: every stored
    event has its entry, every entry its event. `status`: verified | differs | not_recorded
    (an incident from before the audit log, or imported history)."""
    entries = log.trail(r, audit.Chain.RECORD.value, f"incident:{incident_id}")
    recorded = Counter(e.get("digest") for e in entries if e.get("action") in EVENT_ACTIONS)
    stored = Counter(
        audit.digest_of(event_change(i, f)) for i, f in incidents.raw_events(r, incident_id)
    )
    if not recorded:
        return {"status": "not_recorded", "events": sum(stored.values())}
    bad = sum(1 for e in entries if audit.entry_hash(e) != e.get("hash"))
    return {
        "status": "verified" if recorded == stored and not bad else "differs",
        "events": sum(stored.values()),
        "not_in_record": sum((stored - recorded).values()),
        "missing_from_timeline": sum((recorded - stored).values()),
        "entries_changed": bad,
    }
