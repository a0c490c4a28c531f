"""The API tokens page's callbacks (admins only): issue a token to an account (shown once),
revoke one by id or all of them, and the account's tokens by id and date. Each act calls the
service function `users token` calls, with the signed-in admin as the audit actor."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from dashboard import roles, viewer
from dashboard.context import app_context
from dashboard.i18n import t
from layouts.admin_tokens import Ids
from services import accounts
from views.admin import done, error_text, refused, secret_box, tokens_table


def _bump(count: Any) -> int:
    return (count if isinstance(count, int) else 0) + 1


@roles.page_callback(
    Output(Ids.SECRET, "children"),
    Output(Ids.ISSUED, "data"),
    Input(Ids.ISSUE, "n_clicks"),
    State(Ids.ACCOUNT, "value"),
    State(Ids.ISSUED, "data"),
    prevent_initial_call=True,
    roles=roles.ADMINS,
)
def issue(clicks: Any, name: Any, count: Any) -> tuple[Any, Any]:
    """A new token for the account, shown here once (only its digest is kept)."""
    if not clicks:
        raise PreventUpdate
    lang = viewer.lang()
    if not isinstance(name, str) or not name:
        return refused(t("admin.error.missing", lang)), no_update
    try:
        tid, token = accounts.new_token(
            app_context().redis, name, accounts.actor_of(current_user.name)
        )
    except ValueError as e:
        return refused(error_text(e, lang)), no_update
    rows = [(t("admin.col.name", lang), name), (t("admin.col.token_id", lang), tid)]
    rows.append((t("admin.tokens.token", lang), token))
    return secret_box(lang, t("admin.tokens.issued", lang), rows), _bump(count)


@roles.page_callback(
    Output(Ids.MESSAGE, "children"),
    Output(Ids.REVOKED, "data"),
    Input(Ids.REVOKE, "n_clicks"),
    Input(Ids.REVOKE_ALL, "n_clicks"),
    State(Ids.ACCOUNT, "value"),
    State(Ids.TOKEN, "value"),
    State(Ids.REVOKED, "data"),
    prevent_initial_call=True,
    roles=roles.ADMINS,
)
def revoke(_one: Any, _all: Any, name: Any, token_id: Any, count: Any) -> tuple[Any, Any]:
    """Revokes the chosen token, or every token of the account: refused at their next use."""
    which = dash.ctx.triggered_id
    if which not in (Ids.REVOKE, Ids.REVOKE_ALL) or not any(
        item.get("value") for item in dash.ctx.triggered
    ):
        raise PreventUpdate
    lang = viewer.lang()
    one = which == Ids.REVOKE
    if not isinstance(name, str) or not name or (one and not isinstance(token_id, str)):
        return refused(t("admin.error.missing", lang)), no_update
    r, by = app_context().redis, accounts.actor_of(current_user.name)
    try:
        if one:
            accounts.revoke_token(r, name, token_id, by)
            said = t("admin.tokens.done_revoke", lang).format(id=token_id, name=name)
        else:
            n = accounts.revoke_tokens(r, name, by)
            said = t("admin.tokens.done_revoke_all", lang).format(n=n, name=name)
    except ValueError as e:
        return refused(error_text(e, lang)), no_update
    return done(said), _bump(count)


@roles.page_callback(
    Output(Ids.TABLE, "children"),
    Output(Ids.ACCOUNT, "options"),
    Output(Ids.TOKEN, "options"),
    Output(Ids.TOKEN, "value"),
    Input(Ids.ACCOUNT, "value"),
    Input(Ids.ISSUED, "data"),
    Input(Ids.REVOKED, "data"),
    roles=roles.ADMINS,
)
def listing(name: Any, _issued: Any, _revoked: Any) -> tuple[Any, ...]:
    """The accounts to choose from and the chosen one's tokens (ids and dates, never a token)."""
    lang, r = viewer.lang(), app_context().redis
    names = [{"label": u["name"], "value": u["name"]} for u in accounts.list_accounts(r)]
    if not isinstance(name, str) or name not in {o["value"] for o in names}:
        return tokens_table([], lang), names, [], None
    held = accounts.tokens(r, name)
    choices = [{"label": x["id"], "value": x["id"]} for x in held]
    return tokens_table(held, lang), names, choices, None


def register(app: dash.Dash) -> None:
    roles.wire(app, issue, revoke, listing)
