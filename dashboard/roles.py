"""The role table and role-checked Dash callbacks.

Any callback can be called by a direct POST to `/_dash-update-component`, whatever the page shows,
so each callback is registered together with the set of roles allowed to call it, and the gate in
`dashboard/security.py` refuses a call whose output has no rule (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import dash

# the role table lives in the domain (services check it too); named here for the page modules
from domain.roles import (
    ACKNOWLEDGERS,
    ADMIN,
    ADMINS,
    ANALYSTS,
    CONSOLE,
    CONSOLE_ROLES,
    DISPATCHER,
    DISPATCHERS,
    KPI_VIEWERS,
    LEADER,
    OPERATOR,
    ROLES,
    VIEWERS,
    WALL,
)

# citizens' phone numbers and officers' past tracks: duty chiefs, leaders, admins; never
# operators (they see live positions only); each read is recorded (services/personal.py)
PERSONAL_READERS = DISPATCHERS | ANALYSTS

__all__ = [
    "ACKNOWLEDGERS",
    "ADMIN",
    "ADMINS",
    "ANALYSTS",
    "CONSOLE",
    "CONSOLE_ROLES",
    "DISPATCHER",
    "DISPATCHERS",
    "KPI_VIEWERS",
    "LEADER",
    "OPERATOR",
    "PERSONAL_READERS",
    "ROLES",
    "VIEWERS",
    "WALL",
    "allow",
    "allowed_roles",
    "callback",
    "page_callback",
    "rules",
    "wire",
]

_RULES = "ecocommand_callback_roles"  # key in server.extensions: one table per app
F = TypeVar("F", bound=Callable[..., Any])


def rules(app: dash.Dash) -> dict[str, frozenset[str]]:
    """Allowed roles per callback, keyed like `app.callback_map` (the `output` Dash posts)."""
    return app.server.extensions.setdefault(_RULES, {})


def _checked(roles: Iterable[str]) -> frozenset[str]:
    allowed = frozenset(roles)
    unknown = allowed - set(CONSOLE_ROLES)
    if not allowed or unknown:
        raise ValueError(
            f"a callback needs a non-empty set of roles from {CONSOLE_ROLES}, not {sorted(allowed)}"
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


@dataclass(frozen=True)
class Wiring:
    """A page callback's dependencies and roles, kept with its function until an app wires it."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    roles: frozenset[str]


_WIRING = "dash_wiring"  # attribute of a function marked by page_callback


def page_callback(*args: Any, roles: Iterable[str], **kwargs: Any) -> Callable[[F], F]:
    """Marks a module-level function as a callback with these dependencies (`Output`, `Input`,
    `State`, `prevent_initial_call`...) and roles, for `wire` to register in an app. The
    function itself is returned unchanged: it stays a plain function, testable on its own."""
    wiring = Wiring(args, kwargs, _checked(roles))

    def mark(function: F) -> F:
        setattr(function, _WIRING, wiring)
        return function

    return mark


def wire(app: dash.Dash, *functions: Callable[..., Any]) -> None:
    """Registers functions marked by `page_callback` as role-checked callbacks of `app`."""
    for function in functions:
        w: Wiring = getattr(function, _WIRING)
        callback(app, *w.args, roles=w.roles, **w.kwargs)(function)


def allow(app: dash.Dash, output: str, roles: Iterable[str]) -> None:
    """A rule for a callback Dash registers itself (the page router), which no wrapper sees."""
    if output not in app.callback_map:
        raise KeyError(f"no callback {output!r} to allow")
    rules(app)[output] = _checked(roles)


def allowed_roles(app: dash.Dash, output: str) -> frozenset[str]:
    """Roles allowed to call the callback with this output; empty if it has no rule."""
    return rules(app).get(output, frozenset())
