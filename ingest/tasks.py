"""Units' reports on their tasks (`units/{id}/task`): acknowledged, arrived, handled.

The handler is pure like the others; `apply` then moves each incident through the same atomic
transition the dispatchers use, checked against the incident's state at that moment and only
for a unit that is on the incident. A repeated report (at-least-once delivery) finds the
incident already past that state and changes nothing.

Several workers (a shared subscription, the inbox's consumers) may get one unit's reports out
of order: "handled" applied before the "arrived" another worker holds would find the incident
en route and be lost as stale. A report that needs a step not taken yet waits for it, briefly
(EARLY_WAIT_S; only such a report waits, and only its worker), then counts as before.

The event time is the server's receipt of the report; the device's own time is its claim,
taken only when the unit's track supports it (domain/report_times.py). Both are kept in the
timeline entry, and the incident counts the times taken from a track and the claims refused.
"""

from __future__ import annotations

import logging
import time

import redis

from domain import report_times
from domain.incidents import State, allowed_from, before_its_turn
from domain.payloads import TaskReport
from ingest.accounting import APPLIED, DUPLICATE, STALE
from ingest.context import HandlerContext, check_device, validate_payload
from store import incident_audit, incidents, patrol_logs
from store.ops import DeadLetter, Op, TaskUpdate

log = logging.getLogger("ecocommand.ingest")

ACTION_TARGET = {"ack": State.EN_ROUTE, "arrived": State.ON_SCENE, "handled": State.HANDLED}
# The report before an early one is applied by another worker within milliseconds (`bench
# field`: a phone's report applied p95 16.7 ms); half a second covers a busy one.
EARLY_WAIT_S = 0.5
EARLY_POLL_S = 0.02


def handle_task(unit_id: str, payload: bytes, ctx: HandlerContext) -> list[Op]:
    report: TaskReport = validate_payload(TaskReport, payload)
    check_device(report.unit_id, unit_id)
    return [
        TaskUpdate(
            report.unit_id,
            report.incident_id,
            report.action,
            report.ts,
            report.seq,
            ctx.received_ms,
            report.note,
        )
    ]


def _scene(r: redis.Redis, incident_id: str) -> report_times.Scene | None:
    rec = incidents.read(r, incident_id) or {}
    if rec.get("lon") is None or rec.get("lat") is None:
        return None  # no incident, or one without a place: no track can support a claim
    return report_times.Scene(rec["lon"], rec["lat"], rec.get("at_assigned"))


def event_time(r: redis.Redis, u: TaskUpdate) -> report_times.EventTime:
    """The report's event time; the unit's track is read only for a claim well before receipt."""
    scene, track = None, []
    if report_times.needs_track(u.ts, u.received_ms):
        scene = _scene(r, u.incident_id)
        if scene is not None:
            window = report_times.track_window(u.action, u.ts)
            track = patrol_logs.unit_track(r, u.unit_id, *window)
    return report_times.event_time(u.action, u.ts, u.received_ms, scene, track)


def _move(r: redis.Redis, u: TaskUpdate) -> incidents.Outcome:
    target = ACTION_TARGET[u.action]
    when = event_time(r, u)
    return incidents.transition(
        r,
        u.incident_id,
        target.value,
        [s.value for s in allowed_from(target)],
        by=u.unit_id,
        at_ms=when.at_ms,
        reason=u.note,
        extra={"report": u.action, "seq": str(u.seq), **when.extra()},
        release=target == State.HANDLED,
        member=u.unit_id,
        count=when.counter,
    )


def _early(u: TaskUpdate, out: incidents.Outcome) -> bool:
    """Refused because the incident has not reached the step this report follows (yet)."""
    if out.code != incidents.Code.NOT_ALLOWED:
        return False
    try:
        return before_its_turn(ACTION_TARGET[u.action], State(out.detail))
    except ValueError:
        return False


def _move_in_turn(r: redis.Redis, u: TaskUpdate) -> incidents.Outcome:
    """`_move`, and again while the report is early and the report before it may come."""
    out = _move(r, u)
    deadline = time.monotonic() + EARLY_WAIT_S
    while _early(u, out) and time.monotonic() < deadline:
        time.sleep(EARLY_POLL_S)
        out = _move(r, u)
    return out


def apply(r: redis.Redis, updates: list[tuple[TaskUpdate, str, bytes]]) -> list[str | DeadLetter]:
    """Apply each report; per report, what it came to (ingest/accounting.py): "applied", a
    "duplicate" (the incident is already in the state it reports: a redelivery or a repeat),
    "stale" (the incident has moved past it), or a dead letter for a report on an incident
    the unit is not on."""
    results: list[str | DeadLetter] = []
    for u, topic, raw in updates:
        out = _move_in_turn(r, u)
        target = ACTION_TARGET[u.action].value
        if out.code in (incidents.Code.NO_SUCH, incidents.Code.NOT_ON_INCIDENT):
            results.append(
                DeadLetter(
                    "task_not_assigned",
                    topic,
                    raw,
                    f"{u.unit_id} is not on incident {u.incident_id[:64]}",
                )
            )
        elif out.ok:  # the unit's own act: recorded as the event it wrote
            actor = f"device:{u.unit_id}"
            incident_audit.record_event(
                r, actor, "incident.reported", u.incident_id, target, u.received_ms, u.unit_id
            )
            results.append(APPLIED)
        else:
            log.info(
                "task report %s from %s on %s not applied: incident is %s",
                u.action,
                u.unit_id,
                u.incident_id,
                out.detail,
            )
            results.append(DUPLICATE if out.detail == target else STALE)
    return results
