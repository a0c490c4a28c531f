"""Units' reports on their tasks (`units/{id}/task`): acknowledged, arrived, handled.

The handler is pure like the others; `apply` then moves each incident through the same atomic
transition the dispatchers use, checked against the incident's state at that moment and only
for a unit that is on the incident. A repeated report (at-least-once delivery) finds the
incident already past that state and changes nothing.

Several workers (a shared subscription, the inbox's consumers) may get one unit's reports out
of order: "handled" applied before the "arrived" another worker holds would find the incident
en route and be lost as stale. A report that needs a step not taken yet is tried again at the
end of its batch and, for a while (`Patience`), until another worker applied the step; if it
never comes, it counts as before.

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


class Patience:
    """How long a worker waits for the reports that early ones follow: up to EARLY_WAIT_S a
    batch (all its early reports together), and not at all for a unit whose early report
    waited in vain in the last QUIET_S (a phone that sends "handled" for a step it never
    reports cannot stall the worker, whose other messages wait meanwhile)."""

    QUIET_S = 60.0

    def __init__(self, wait_s: float = EARLY_WAIT_S) -> None:
        self.wait_s = wait_s
        self.in_vain: dict[str, float] = {}  # unit -> when its wait ended in vain (monotonic)

    def may_wait(self, unit_id: str) -> bool:
        ended = self.in_vain.get(unit_id)
        return ended is None or time.monotonic() - ended > self.QUIET_S

    def waited_in_vain(self, units: set[str]) -> None:
        now = time.monotonic()
        self.in_vain = {u: t for u, t in self.in_vain.items() if now - t <= self.QUIET_S}
        self.in_vain.update(dict.fromkeys(units, now))


def _moves(
    r: redis.Redis, updates: list[TaskUpdate], patience: Patience | None
) -> list[incidents.Outcome]:
    """Each report moved once; the early ones again at the end of the batch (the report they
    follow may be later in it) and, while another worker may be applying it, again every
    EARLY_POLL_S until the batch's patience runs out."""
    outs = [_move(r, u) for u in updates]
    early = [i for i, u in enumerate(updates) if _early(u, outs[i])]
    deadline = time.monotonic() + (patience.wait_s if patience else 0.0)  # after the batch
    while early:
        for i in early:
            outs[i] = _move(r, updates[i])
        early = [i for i in early if _early(updates[i], outs[i])]
        waiting = [i for i in early if patience and patience.may_wait(updates[i].unit_id)]
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(EARLY_POLL_S)
    if patience and early:
        patience.waited_in_vain({updates[i].unit_id for i in early})
    return outs


def apply(
    r: redis.Redis,
    updates: list[tuple[TaskUpdate, str, bytes]],
    patience: Patience | None = None,
) -> list[str | DeadLetter]:
    """Apply each report; per report, what it came to (ingest/accounting.py): "applied", a
    "duplicate" (the incident is already in the state it reports: a redelivery or a repeat),
    "stale" (the incident has moved past it, or never reached the step an early report
    follows), or a dead letter for a report on an incident the unit is not on."""
    outs = _moves(r, [u for u, _t, _raw in updates], patience)
    results: list[str | DeadLetter] = []
    for (u, topic, raw), out in zip(updates, outs, strict=True):
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
                r,
                actor,
                "incident.reported",
                u.incident_id,
                target,
                u.received_ms,
                u.unit_id,
                out.event,
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
