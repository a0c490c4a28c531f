"""The accounts page's callbacks (admins only; every one refuses the other roles on the server):
create an account, change its role, disable or enable it, and the table. Each act calls the
service function the `users` command calls, with the signed-in admin as the audit actor."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from dashboard import roles, viewer
from dashboard.context import app_context
from dashboard.i18n import t
from layouts.admin_accounts import Ids
from services import accounts, devices
from views.admin import accounts_table, done, error_text, refused

OFFICER = "officer"


def actor() -> str:
    return accounts.actor_of(current_user.name)


def _texts(*values: Any) -> bool:
    return all(isinstance(v, str) and v for v in values)


def _bump(count: Any) -> int:
    return (count if isinstance(count, int) else 0) + 1


@roles.page_callback(
    Output(Ids.CREATE_MESSAGE, "children"),
    Output(Ids.CREATED, "data"),
    Output(Ids.PASSWORD, "value"),
    Output(Ids.PASSWORD2, "value"),
    Input(Ids.CREATE, "n_clicks"),
    State(Ids.NAME, "value"),
    State(Ids.ROLE, "value"),
    State(Ids.UNIT, "value"),
    State(Ids.PASSWORD, "value"),
    State(Ids.PASSWORD2, "value"),
    State(Ids.CREATED, "data"),
    prevent_initial_call=True,
    roles=roles.ADMINS,
)
def create(
    clicks: Any, name: Any, role: Any, unit: Any, password: Any, again: Any, count: Any
) -> tuple[Any, ...]:
    """A new account with its role and first password (asked twice); the passwords are
    emptied from the form whatever the answer."""
    if not clicks:
        raise PreventUpdate
    lang = viewer.lang()
    if not _texts(name, role, password, again):
        return refused(t("admin.error.missing", lang)), no_update, "", ""
    if password != again:
        return refused(t("admin.error.mismatch", lang)), no_update, "", ""
    bound = unit if role == OFFICER and isinstance(unit, str) and unit else None
    try:
        accounts.add_user(app_context().redis, name.strip(), role, password, actor(), bound)
    except ValueError as e:
        return refused(error_text(e, lang)), no_update, "", ""
    said = t("admin.accounts.created", lang).format(name=name.strip(), role=t(f"role.{role}", lang))
    return done(said), _bump(count), "", ""


ACTS = {Ids.CHANGE_ROLE: "role", Ids.DISABLE: "disable", Ids.ENABLE: "enable"}


@roles.page_callback(
    Output(Ids.EDIT_MESSAGE, "children"),
    Output(Ids.CHANGED, "data"),
    Input(Ids.CHANGE_ROLE, "n_clicks"),
    Input(Ids.DISABLE, "n_clicks"),
    Input(Ids.ENABLE, "n_clicks"),
    State(Ids.EDIT_NAME, "value"),
    State(Ids.EDIT_ROLE, "value"),
    State(Ids.EDIT_UNIT, "value"),
    State(Ids.CHANGED, "data"),
    prevent_initial_call=True,
    roles=roles.ADMINS,
)
def change(
    _role: Any, _disable: Any, _enable: Any, name: Any, role: Any, unit: Any, count: Any
) -> tuple[Any, Any]:
    """The chosen account's new role, or disabled / enabled (its sessions and tokens stop or
    work again from their next request)."""
    act = ACTS.get(dash.ctx.triggered_id)  # type: ignore[call-overload]
    if act is None or not any(item.get("value") for item in dash.ctx.triggered):
        raise PreventUpdate
    lang = viewer.lang()
    if not _texts(name) or (act == "role" and not _texts(role)):
        return refused(t("admin.error.missing", lang)), no_update
    r = app_context().redis
    try:
        if act == "role":
            bound = unit if role == OFFICER and isinstance(unit, str) and unit else None
            accounts.set_role(r, name, role, bound, actor())
        elif act == "disable":
            accounts.disable(r, name, actor())
        else:
            accounts.enable(r, name, actor())
    except ValueError as e:
        return refused(error_text(e, lang)), no_update
    return done(t(f"admin.accounts.done_{act}", lang).format(name=name)), _bump(count)


@roles.page_callback(
    Output(Ids.TABLE, "children"),
    Output(Ids.EDIT_NAME, "options"),
    Output(Ids.UNIT, "options"),
    Output(Ids.EDIT_UNIT, "options"),
    Input(Ids.CREATED, "data"),
    Input(Ids.CHANGED, "data"),
    roles=roles.ADMINS,
)
def listing(_created: Any, _changed: Any) -> tuple[Any, ...]:
    """The accounts (never a password hash) and the units an officer may be bound to."""
    lang, r = viewer.lang(), app_context().redis
    found = accounts.list_accounts(r)
    names = [{"label": u["name"], "value": u["name"]} for u in found]
    units = [
        {"label": d["id"], "value": d["id"]}
        for d in devices.roster(r)
        if d["kind"] == "unit" and d["active"]
    ]
    return accounts_table(found, lang), names, units, units


def register(app: dash.Dash) -> None:
    roles.wire(app, create, change, listing)
