"""When a local day closes, the worker keeps what Redis will not hold raw for long (unit status
changes and sensor readings are trimmed after HISTORY_HOURS): the day's units on duty per hour
and water-quality day rows (store/kpi_days.py), once, a little after midnight so that late
messages are in. Recomputable from the raw data while it is kept: delete the day's row.
It also builds the day's incident tables (store/kpi_incident_days.py), which a KPI request
would otherwise build the first time it covers the day."""

from __future__ import annotations

import datetime as dt
import os
import socket

import redis

from domain import kpis
from domain.incidents import DispatchRules, load_rules
from domain.kpi_frames import day_bounds_ms
from domain.vocab import LOCAL_TZ
from store import kpi_days, kpi_incident_days

GRACE_MS = 10 * 60_000  # late messages of the day before midnight + this


def day_to_close(now_ms: int) -> str | None:
    """Yesterday (local), once its grace time has passed."""
    day = dt.datetime.fromtimestamp((now_ms - GRACE_MS) / 1000, LOCAL_TZ).date()
    yesterday = day - dt.timedelta(days=1)
    return yesterday.strftime("%Y%m%d")


def close_day(r: redis.Redis, day: str, now_ms: int, rules: DispatchRules | None = None) -> bool:
    """Store the day's rows unless it was closed already, or the system did not run that day
    (no worker's heartbeat: its figures are "no data", not an empty day, and a simulated
    history may still fill it); True when it wrote them."""
    if kpi_days.is_closed(r, day) or day not in kpi_days.ran_days(r, [day]):
        return False
    if not kpi_days.claim_close(r, day, f"{socket.gethostname()}:{os.getpid()}"):
        return False  # another worker is closing it
    if kpi_days.is_closed(r, day):
        return False  # closed between the first look and the claim
    start, end = day_bounds_ms(day)
    on_duty = kpis.units_on_duty_by_hour(kpi_days.status_events(r, start, end), start, end)
    readings, profiles = kpi_days.sensor_readings(r, start)
    water = kpis.water_quality(readings, profiles)["breaches_by_day"]
    water = water[water["day"] == day]
    kpi_days.store_day(r, day, kpi_days.frame_rows(on_duty), kpi_days.frame_rows(water), now_ms)
    kpi_incident_days.build_day(r, day, now_ms, rules or load_rules())
    return True
