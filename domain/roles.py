"""The design's role table: who may do what, as sets that routes, callbacks and services name."""

from __future__ import annotations

OPERATOR, DISPATCHER, LEADER, ADMIN = "operator", "dispatcher", "leader", "admin"
ROLES: tuple[str, ...] = (OPERATOR, DISPATCHER, LEADER, ADMIN)  # the console's roles
# Field staff (patrol officers, grid workers, segment chiefs): an account bound to one unit of
# the device roster, which sees only its own tasks on /field, never the console.
OFFICER = "officer"
ACCOUNT_ROLES: tuple[str, ...] = (*ROLES, OFFICER)
FIELD_STAFF = frozenset({OFFICER})

# The design's role table as sets a callback or route names explicitly.
VIEWERS = frozenset(ROLES)  # live map, alerts, incidents: everyone signed in
ACKNOWLEDGERS = frozenset({OPERATOR, DISPATCHER})  # acknowledge alerts
DISPATCHERS = frozenset({DISPATCHER})  # create, triage, assign, close incidents
ANALYSTS = frozenset({LEADER, ADMIN})  # KPIs and traces
ADMINS = frozenset({ADMIN})  # users, roles, geography, thresholds
KPI_VIEWERS = ANALYSTS | DISPATCHERS  # the KPI page: leaders and admins; duty chiefs may view
