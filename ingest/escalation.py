"""Overdue incidents raise an alert for the duty chief, once per missed deadline, naming the
level the case escalates to (community -> sub-district -> district, one step per miss), as the
bureau's three-level response asks. The worker runs this every few seconds."""

from __future__ import annotations

import redis

from domain import incidents as model
from store import alerts, incidents
from store.ops import RaiseAlert


def overdue_alerts(r: redis.Redis, now_ms: int, rules: model.DispatchRules) -> list[RaiseAlert]:
    out = []
    for inc in incidents.listing(r, open_only=True):
        missed = model.record_deadlines_missed(inc, rules, now_ms)
        if not missed:
            continue
        level = model.escalated_level(model.BASE_LEVEL, len(missed))
        for clock in missed:  # deterministic ids: each miss is raised once, however often run
            out.append(
                RaiseAlert(
                    alert_id=f"overdue:{inc['id']}:{clock}",
                    ts=now_ms,
                    fields={
                        "kind": "incident_overdue",
                        "severity": "critical" if len(missed) > 1 else "warning",
                        "source": inc["id"],
                        "name": inc["id"],
                        "lon": inc.get("lon"),
                        "lat": inc.get("lat"),
                        "clock": clock,
                        "escalated_to": level.value,
                        "message": f"{inc['id']}: {clock} deadline missed; escalated to the "
                        f"{level.value} level",
                    },
                )
            )
    return alerts.not_raised(r, out)
