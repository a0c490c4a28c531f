"""Alerts: an operator or duty chief acknowledges one, a duty chief dismisses one with a reason or
opens the incident it suggests. The live map's feed and the alerts API both call these."""

from __future__ import annotations

from typing import Any

from domain.incidents import ALERT_INCIDENT_TYPE, SEVERITY_PRIORITY, Source, suggests_incident
from domain.vocab import ALERT_DISMISS_REASONS
from services import audit, incidents
from services.context import AppContext
from services.errors import Refused
from store import alerts, snapshots

GONE = "that alert is no longer open"


def _history_ms(ctx: AppContext) -> int:
    return int(ctx.settings.history_hours * 3_600_000)


def acknowledge(ctx: AppContext, alert_id: str, by: str) -> bool:
    """True when this call acknowledged it, False when it was acknowledged already."""
    done = alerts.acknowledge(ctx.redis, alert_id, by, ctx.now_ms(), _history_ms(ctx))
    if done == alerts.Outcome.NOT_OPEN:
        raise Refused(409, GONE)
    if done == alerts.Outcome.DONE:
        audit.record(ctx, audit.user(by), "alert.acknowledged", f"alert:{alert_id}", {})
    return done == alerts.Outcome.DONE


def dismiss(ctx: AppContext, alert_id: str, reason: str, by: str) -> bool:
    """Close an alert without an incident, for one of ALERT_DISMISS_REASONS."""
    if reason not in ALERT_DISMISS_REASONS:
        raise Refused(422, f"reason: one of {', '.join(ALERT_DISMISS_REASONS)}")
    done = alerts.close(ctx.redis, alert_id, by, ctx.now_ms(), _history_ms(ctx), reason=reason)
    if done == alerts.Outcome.NOT_OPEN:
        raise Refused(409, GONE)
    if done == alerts.Outcome.DONE:
        change = {"reason": reason}
        audit.record(ctx, audit.user(by), "alert.dismissed", f"alert:{alert_id}", change)
    return done == alerts.Outcome.DONE


def open_incident(ctx: AppContext, alert_id: str, by: str) -> dict[str, Any]:
    """Open the incident an alert suggests (its place, type and urgency) and close the alert
    with the incident's id as the reason."""
    found = snapshots.open_alerts(ctx.redis, limit=1000)
    alert = next((a for a in found if a.get("id") == alert_id), None)
    if alert is None or not suggests_incident(alert):
        raise Refused(409, "that alert is no longer open, or suggests no incident")
    body = incidents.NewIncident(
        type=ALERT_INCIDENT_TYPE[alert["kind"]],
        source=Source.SENSOR_ALERT,
        priority=int(SEVERITY_PRIORITY.get(alert.get("severity"), 2)),
        lat=alert["lat"],
        lon=alert["lon"],
        description=str(alert.get("message") or "")[:2000],
        alert_id=alert_id,
    )
    incident = incidents.open_incident(ctx, body, by)
    # the incident stands even if someone closed the alert meanwhile
    reason = f"incident {incident['id']}"
    done = alerts.close(ctx.redis, alert_id, by, ctx.now_ms(), _history_ms(ctx), reason=reason)
    if done == alerts.Outcome.DONE:
        audit.record(ctx, audit.user(by), "alert.closed", f"alert:{alert_id}", {"reason": reason})
    return incident
