"""The role table and role-checked Dash callbacks.

Any callback can be called by a direct POST to `/_dash-update-component`, whatever the page shows,
so each callback is registered together with the set of roles allowed to call it, and the gate in
`dashboard/security.py` refuses a call whose output has no rule (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import dash

OPERATOR, DISPATCHER, LEADER, ADMIN = "operator", "dispatcher", "leader", "admin"
ROLES: tuple[str, ...] = (OPERATOR, DISPATCHER, LEADER, ADMIN)

# The design's role table as sets a callback or route names explicitly.
VIEWERS = frozenset(ROLES)  # live map, alerts, incidents: everyone signed in
ACKNOWLEDGERS = frozenset({OPERATOR, DISPATCHER})  # acknowledge alerts
DISPATCHERS = frozenset({DISPATCHER})  # create, triage, assign, close incidents
ANALYSTS = frozenset({LEADER, ADMIN})  # KPIs and traces
ADMINS = frozenset({ADMIN})  # users, roles, geography, thresholds
KPI_VIEWERS = ANALYSTS | DISPATCHERS  # the KPI page: leaders and admins; duty chiefs may view

_RULES = "ecocommand_callback_roles"  # key in server.extensions: one table per app


def rules(app: dash.Dash) -> dict[str, frozenset[str]]:
    """Allowed roles per callback, keyed like `app.callback_map` (the `output` Dash posts)."""
    return app.server.extensions.setdefault(_RULES, {})


def _checked(roles: Iterable[str]) -> frozenset[str]:
    allowed = frozenset(roles)
    unknown = allowed - set(ROLES)
    if not allowed or unknown:
        raise ValueError(
            f"a callback needs a non-empty set of roles from {ROLES}, not {sorted(allowed)}"
        )
    return allowed


def callback(
    app: dash.Dash, *args: Any, roles: Iterable[str], **kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`app.callback(*args, **kwargs)` that also records which roles may call it."""
    allowed = _checked(roles)
    before = set(app.callback_map)
    register = app.callback(*args, **kwargs)  # Dash adds the callback_map entry here
    for key in set(app.callback_map) - before:  # Dash's own key for this callback
        rules(app)[key] = allowed
    return register


def clientside_callback(app: dash.Dash, *args: Any, roles: Iterable[str], **kwargs: Any) -> None:
    """`app.clientside_callback` with a role rule, so the walk over every callback finds one."""
    allowed = _checked(roles)
    before = set(app.callback_map)
    app.clientside_callback(*args, **kwargs)
    for key in set(app.callback_map) - before:
        rules(app)[key] = allowed


def allowed_roles(app: dash.Dash, output: str) -> frozenset[str]:
    """Roles allowed to call the callback with this output; empty if it has no rule."""
    return rules(app).get(output, frozenset())
