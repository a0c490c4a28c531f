"""The design's role table: who may do what, as sets that routes, callbacks and services name."""

from __future__ import annotations

OPERATOR, DISPATCHER, LEADER, ADMIN = "operator", "dispatcher", "leader", "admin"
ROLES: tuple[str, ...] = (OPERATOR, DISPATCHER, LEADER, ADMIN)  # the console's accounts' roles
# A wall screen in the command centre (e.g. 指挥大厅主屏): no account and no password, but a
# session an admin issues for the named screen (services/walls.py), long-lived and revocable at
# once. It sees the live map's wall screen and acts on nothing.
WALL = "wall"
CONSOLE_ROLES: tuple[str, ...] = (*ROLES, WALL)  # who opens the console's pages
# Field staff (patrol officers, grid workers, segment chiefs): an account bound to one unit of
# the device roster, which sees only its own tasks on /field, never the console.
OFFICER = "officer"
ACCOUNT_ROLES: tuple[str, ...] = (*ROLES, OFFICER)
FIELD_STAFF = frozenset({OFFICER})

# The design's role table as sets a callback or route names explicitly.
CONSOLE = frozenset(ROLES)  # the console's people: every page that is not a wall screen's
VIEWERS = CONSOLE | {WALL}  # live map, alerts, incidents: every session of the console
ACKNOWLEDGERS = frozenset({OPERATOR, DISPATCHER})  # acknowledge alerts
DISPATCHERS = frozenset({DISPATCHER})  # create, triage, assign, close incidents
ANALYSTS = frozenset({LEADER, ADMIN})  # KPIs and traces
ADMINS = frozenset({ADMIN})  # users, roles, devices, wall screens, geography, thresholds
KPI_VIEWERS = ANALYSTS | DISPATCHERS  # the KPI page: leaders and admins; duty chiefs may view
