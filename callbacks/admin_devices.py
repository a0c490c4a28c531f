"""The devices page's callbacks (admins only): add a field device (credentials and QR code
shown once), revoke one, and the roster. Each act calls the service function `devices add` /
`devices revoke` calls, with the signed-in admin as the audit actor."""

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
from layouts.admin_devices import Ids
from services import accounts, devices
from views.admin import devices_table, done, error_text, qr_image, refused, secret_box


def _bump(count: Any) -> int:
    return (count if isinstance(count, int) else 0) + 1


@roles.page_callback(
    Output(Ids.SECRET, "children"),
    Output(Ids.ADDED, "data"),
    Output(Ids.DEVICE, "value"),
    Input(Ids.ADD, "n_clicks"),
    State(Ids.DEVICE, "value"),
    State(Ids.KIND, "value"),
    State(Ids.ADDED, "data"),
    prevent_initial_call=True,
    roles=roles.ADMINS,
)
def add(clicks: Any, device_id: Any, kind: Any, count: Any) -> tuple[Any, ...]:
    """A new field device: its user name and password, shown once with the QR code a phone
    scans (the secret is kept only as its hash)."""
    if not clicks:
        raise PreventUpdate
    lang, ctx = viewer.lang(), app_context()
    if not isinstance(device_id, str) or not device_id.strip() or kind not in devices.FIELD_KINDS:
        return refused(t("admin.error.missing", lang)), no_update, no_update
    ident = device_id.strip()
    by = accounts.actor_of(current_user.name)
    try:
        secret = devices.add(ctx.redis, ident, kind, ctx.now_ms(), by)
    except ValueError as e:
        return refused(error_text(e, lang)), no_update, no_update
    broker = devices.broker_for_devices(ctx.settings, request.host)
    rows = [
        (t("admin.devices.username", lang), ident),
        (t("admin.devices.password", lang), secret),
        (t("admin.devices.broker", lang), broker),
    ]
    scan = devices.enrolment(ctx.settings, request.host, ident, kind, secret)
    qr = qr_image(
        scan, t(f"admin.devices.qr_{'owntracks' if kind == 'owntracks' else 'mqtt'}", lang)
    )
    title = t("admin.devices.added", lang).format(id=ident, kind=t(f"admin.kind.{kind}", lang))
    return secret_box(lang, title, rows, qr), _bump(count), ""


@roles.page_callback(
    Output(Ids.MESSAGE, "children"),
    Output(Ids.REVOKED, "data"),
    Input(Ids.REVOKE, "n_clicks"),
    State(Ids.REVOKE_ID, "value"),
    State(Ids.REVOKED, "data"),
    prevent_initial_call=True,
    roles=roles.ADMINS,
)
def revoke(clicks: Any, device_id: Any, count: Any) -> tuple[Any, Any]:
    """Revokes the chosen device: the broker refuses it from now on."""
    if not clicks:
        raise PreventUpdate
    lang, ctx = viewer.lang(), app_context()
    if not isinstance(device_id, str) or not device_id:
        return refused(t("admin.error.missing", lang)), no_update
    try:
        devices.revoke(ctx.redis, device_id, ctx.now_ms(), accounts.actor_of(current_user.name))
    except ValueError as e:
        return refused(error_text(e, lang)), no_update
    return done(t("admin.devices.done_revoke", lang).format(id=device_id)), _bump(count)


@roles.page_callback(
    Output(Ids.TABLE, "children"),
    Output(Ids.REVOKE_ID, "options"),
    Output(Ids.REVOKE_ID, "value"),
    Input(Ids.ADDED, "data"),
    Input(Ids.REVOKED, "data"),
    roles=roles.ADMINS,
)
def listing(_added: Any, _revoked: Any) -> tuple[Any, ...]:
    """The roster (never a hash); the active field devices are the ones to revoke here."""
    lang, rows = viewer.lang(), devices.roster(app_context().redis)
    choices = [
        {"label": f"{d['id']} · {t('admin.kind.' + str(d['kind']), lang)}", "value": d["id"]}
        for d in rows
        if d["active"] and d["kind"] in devices.FIELD_KINDS
    ]
    return devices_table(rows, lang), choices, None


def register(app: dash.Dash) -> None:
    roles.wire(app, add, revoke, listing)
