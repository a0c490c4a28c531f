"""Overdue incidents raise an alert for the duty chief, once per missed deadline, naming the
level the case escalates to (community -> sub-district -> district, one step per miss), as the
bureau's three-level response asks. The worker runs this every few seconds."""

from __future__ import annotations

import redis

from domain import incidents as model
from ingest.ops import RaiseAlert
from store import incidents, keys


def overdue_alerts(r: redis.Redis, now_ms: int) -> list[RaiseAlert]:
    rules = model.load_rules()
    out = []
    for inc in incidents.listing(r, open_only=True):
        missed = model.record_deadlines_missed(inc, rules, now_ms)
        if not missed:
            continue
        level = model.escalated_level(model.BASE_LEVEL, len(missed))
        for clock in missed:  # deterministic ids: each miss is raised once, however often run
            out.append(RaiseAlert(
                alert_id=f"overdue:{inc['id']}:{clock}", ts=now_ms,
                fields={"kind": "incident_overdue",
                        "severity": "critical" if len(missed) > 1 else "warning",
                        "source": inc["id"], "name": inc["id"], "lon": inc.get("lon"),
                        "lat": inc.get("lat"), "clock": clock, "escalated_to": level.value,
                        "message": f"{inc['id']}: {clock} deadline missed; escalated to the "
                                   f"{level.value} level"}))
    if not out:
        return out
    # raised already (or raised and closed by a chief): not again, and not counted as a
    # duplicate message every few seconds either
    pipe = r.pipeline(transaction=False)
    for a in out:
        pipe.exists(keys.alert(a.alert_id))
    return [a for a, seen in zip(out, pipe.execute(), strict=True) if not seen]
