"""The wall screens page's callbacks (admins only): issue a wall session for a named screen
(its one-time sign-in link and QR code shown once), revoke one (its session ends at once), and
the list, looked at again every few seconds. Each act is a service function of services/walls.py
with the signed-in admin as the audit actor."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, no_update
from dash.exceptions import PreventUpdate
from flask import request
from flask_login import current_user

from dashboard import roles, viewer
from dashboard.context import app_context
from dashboard.i18n import t
from layouts.admin_walls import Ids
from services import accounts, walls
from views.admin import done, error_text, local, qr_image, refused, secret_box, walls_table

OPEN_STATES = ("waiting", "active")  # what there is to revoke


def _bump(count: Any) -> int:
    return (count if isinstance(count, int) else 0) + 1


@roles.page_callback(
    Output(Ids.LINK, "children"),
    Output(Ids.ISSUED, "data"),
    Output(Ids.SCREEN, "value"),
    Input(Ids.ISSUE, "n_clicks"),
    State(Ids.SCREEN, "value"),
    State(Ids.ISSUED, "data"),
    prevent_initial_call=True,
    roles=roles.ADMINS,
)
def issue(clicks: Any, screen: Any, count: Any) -> tuple[Any, ...]:
    """A wall session for the named screen: its one-time link, to open on that screen within
    WALL_LINK_MINUTES (shown once: only the code's digest is kept)."""
    if not clicks:
        raise PreventUpdate
    lang, ctx = viewer.lang(), app_context()
    try:
        made = walls.issue(ctx, screen, accounts.actor_of(current_user.name))
    except ValueError as e:
        return refused(error_text(e, lang)), no_update, no_update
    link = request.host_url.rstrip("/") + made.path
    rows = [
        (t("admin.col.screen", lang), made.screen),
        (t("admin.walls.link", lang), link),
        (t("admin.walls.link_until", lang), local(made.link_until_ms)),
    ]
    title = t("admin.walls.issued", lang).format(days=ctx.settings.wall_session_days)
    return (
        secret_box(lang, title, rows, qr_image(link, t("admin.walls.qr", lang))),
        _bump(count),
        "",
    )


@roles.page_callback(
    Output(Ids.MESSAGE, "children"),
    Output(Ids.REVOKED, "data"),
    Input(Ids.REVOKE, "n_clicks"),
    State(Ids.REVOKE_ID, "value"),
    State(Ids.REVOKED, "data"),
    prevent_initial_call=True,
    roles=roles.ADMINS,
)
def revoke(clicks: Any, wall_id: Any, count: Any) -> tuple[Any, Any]:
    """Ends the chosen wall session now: its screen's next request goes to the sign-in page and
    its live stream ends within a second."""
    if not clicks:
        raise PreventUpdate
    lang = viewer.lang()
    if not isinstance(wall_id, str) or not wall_id:
        return refused(t("admin.error.missing", lang)), no_update
    try:
        walls.revoke(app_context(), wall_id, accounts.actor_of(current_user.name))
    except ValueError as e:
        return refused(error_text(e, lang)), no_update
    return done(t("admin.walls.done_revoke", lang)), _bump(count)


@roles.page_callback(
    Output(Ids.TABLE, "children"),
    Output(Ids.REVOKE_ID, "options"),
    Input(Ids.ISSUED, "data"),
    Input(Ids.REVOKED, "data"),
    Input(Ids.TICK, "n_intervals"),
    roles=roles.ADMINS,
)
def listing(_issued: Any, _revoked: Any, _tick: Any) -> tuple[Any, Any]:
    """The wall sessions with their state; those waiting or signed in may be revoked."""
    lang, found = viewer.lang(), walls.listing(app_context())
    choices = [
        {"label": f"{w['screen']} · {t('admin.wall.' + w['state'], lang)}", "value": w["id"]}
        for w in found
        if w["state"] in OPEN_STATES
    ]
    return walls_table(found, lang), choices


def register(app: dash.Dash) -> None:
    roles.wire(app, issue, revoke, listing)
