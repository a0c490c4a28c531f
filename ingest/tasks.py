"""Units' reports on their tasks (`units/{id}/task`): acknowledged, arrived, handled.

The handler is pure like the others; `apply` then moves each incident through the same atomic
transition the dispatchers use, checked against the incident's state at that moment and only
for a unit that is on the incident. A repeated report (at-least-once delivery) finds the
incident already past that state and changes nothing.
"""

from __future__ import annotations

import logging

import redis

from domain.incidents import State, allowed_from
from domain.payloads import TaskReport
from ingest.context import HandlerContext, check_device, validate_payload
from store import incidents
from store.ops import DeadLetter, Op, TaskUpdate

log = logging.getLogger("ecocommand.ingest")

ACTION_TARGET = {"ack": State.EN_ROUTE, "arrived": State.ON_SCENE, "handled": State.HANDLED}


def handle_task(unit_id: str, payload: bytes, ctx: HandlerContext) -> list[Op]:
    report: TaskReport = validate_payload(TaskReport, payload)
    check_device(report.unit_id, unit_id)
    return [
        TaskUpdate(
            report.unit_id, report.incident_id, report.action, report.ts, report.seq, report.note
        )
    ]


def apply(r: redis.Redis, updates: list[tuple[TaskUpdate, str, bytes]]) -> list[DeadLetter]:
    """Apply each report; the ones naming an incident the unit is not on are dead letters."""
    dead = []
    for u, topic, raw in updates:
        target = ACTION_TARGET[u.action]
        out = incidents.transition(
            r,
            u.incident_id,
            target.value,
            [s.value for s in allowed_from(target)],
            by=u.unit_id,
            at_ms=u.ts,
            reason=u.note,
            extra={"report": u.action, "seq": str(u.seq)},
            release=target == State.HANDLED,
            member=u.unit_id,
        )
        if out.code in (incidents.Code.NO_SUCH, incidents.Code.NOT_ON_INCIDENT):
            dead.append(
                DeadLetter(
                    "task_not_assigned",
                    topic,
                    raw,
                    f"{u.unit_id} is not on incident {u.incident_id[:64]}",
                )
            )
        elif not out.ok:
            log.info(
                "task report %s from %s on %s ignored: incident is %s",
                u.action,
                u.unit_id,
                u.incident_id,
                out.detail,
            )
    return dead
