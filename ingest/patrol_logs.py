"""Patrol logs over MQTT (`units/{id}/patrol-log`): validated like every payload, then, after
the batch is written (so the track holds the latest positions), checked against the unit's
track and kept with their flags (store/patrol_logs.py). A redelivered log is kept once."""

from __future__ import annotations

import redis

from domain.coverage import PatrolClaim
from domain.coverage_places import CoverageGeography
from domain.payloads import PatrolLog
from ingest.accounting import APPLIED, DUPLICATE
from ingest.context import HandlerContext, check_device, validate_payload
from store import keys, patrol_logs
from store.ops import Op, PatrolLogSubmission

SEEN_KEEP_S = 8 * 86_400


def handle_patrol_log(unit_id: str, payload: bytes, ctx: HandlerContext) -> list[Op]:
    log: PatrolLog = validate_payload(PatrolLog, payload)
    check_device(log.unit_id, unit_id)
    return [PatrolLogSubmission(log.unit_id, log.ts, log.from_ms, log.to_ms, log.places, log.note)]


def apply(r: redis.Redis, geo: CoverageGeography, logs: list[PatrolLogSubmission]) -> list[str]:
    """Check and keep each new log; per log, "applied" or "duplicate" (redelivered)."""
    results = []
    for log in logs:
        if not r.set(keys.patrol_log_seen(log.unit_id, log.ts), 1, nx=True, ex=SEEN_KEEP_S):
            results.append(DUPLICATE)  # redelivered: checked already
            continue
        kind = r.hget(keys.state("unit", log.unit_id), "kind")
        claim = PatrolClaim(
            log.unit_id, log.from_ms, log.to_ms, log.places, kind.decode() if kind else None
        )
        checks = patrol_logs.check(r, geo, claim)
        patrol_logs.save(r, claim, checks, by=log.unit_id, source="mqtt", note=log.note)
        results.append(APPLIED)
    return results
