"""What people do with alerts: an operator acknowledges one, a duty chief closes one.

Each action is one Lua script (store/scripts.py), so two people clicking at once cannot both
"win", and each is recorded with who and when in the events stream. The page shows the outcome;
roles are checked by the caller (the Dash callback), not here.
"""

from __future__ import annotations

from enum import IntEnum

import redis

from store import keys
from store.ops import RaiseAlert
from store.scripts import ACK_ALERT, CLOSE_ALERT

MAX_REASON = 200


class Outcome(IntEnum):
    NOT_OPEN = 0
    DONE = 1
    ALREADY = 2


def _keys(alert_id: str) -> list[str]:
    return [keys.alert(alert_id), keys.ALERTS_OPEN, keys.EVENTS, keys.OVERLAYS_VERSION]


def acknowledge(r: redis.Redis, alert_id: str, user: str, now_ms: int, history_ms: int) -> Outcome:
    res = r.register_script(ACK_ALERT)(
        keys=_keys(alert_id), args=[alert_id, user, now_ms, max(0, now_ms - history_ms)]
    )
    return Outcome(int(res))


def close(
    r: redis.Redis, alert_id: str, user: str, now_ms: int, history_ms: int, reason: str = ""
) -> Outcome:
    res = r.register_script(CLOSE_ALERT)(
        keys=_keys(alert_id),
        args=[alert_id, user, now_ms, max(0, now_ms - history_ms), reason[:MAX_REASON]],
    )
    return Outcome(int(res))


def not_raised(r: redis.Redis, alerts: list[RaiseAlert]) -> list[RaiseAlert]:
    """The alerts never raised before (an alert raised, or raised and closed since, is not
    raised again, nor counted as a duplicate message every few seconds)."""
    if not alerts:
        return alerts
    pipe = r.pipeline(transaction=False)
    for a in alerts:
        pipe.exists(keys.alert(a.alert_id))
    return [a for a, seen in zip(alerts, pipe.execute(), strict=True) if not seen]
