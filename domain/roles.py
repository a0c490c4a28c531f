"""The design's role table: who may do what, as sets that routes, callbacks and services name."""

from __future__ import annotations

OPERATOR, DISPATCHER, LEADER, ADMIN = "operator", "dispatcher", "leader", "admin"
ROLES: tuple[str, ...] = (OPERATOR, DISPATCHER, LEADER, ADMIN)

# The design's role table as sets a callback or route names explicitly.
VIEWERS = frozenset(ROLES)  # live map, alerts, incidents: everyone signed in
ACKNOWLEDGERS = frozenset({OPERATOR, DISPATCHER})  # acknowledge alerts
DISPATCHERS = frozenset({DISPATCHER})  # create, triage, assign, close incidents
ANALYSTS = frozenset({LEADER, ADMIN})  # KPIs and traces
ADMINS = frozenset({ADMIN})  # users, roles, geography, thresholds
KPI_VIEWERS = ANALYSTS | DISPATCHERS  # the KPI page: leaders and admins; duty chiefs may view
