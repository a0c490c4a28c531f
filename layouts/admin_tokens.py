"""The admin's API tokens page at `/admin/tokens` (admins only): choose an account, issue it a
token (shown once, in full, here and nowhere else: Redis keeps only its SHA-256), and revoke one
of its tokens by id or all of them. Callbacks: callbacks/admin_tokens.py, through the service
functions of `users token` / `users tokens`.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from dashboard.i18n import t
from dashboard.viewer import Viewer
from views.admin import button, dropdown, field, page, section

PATH = "/admin/tokens"


class Ids(StrEnum):
    ACCOUNT = "tok-account"
    ISSUE = "tok-issue"
    ISSUED = "tok-issued"  # store: bumped by each token issued
    SECRET = "tok-secret"  # the new token, shown once
    TOKEN = "tok-token"
    REVOKE = "tok-revoke"
    REVOKE_ALL = "tok-revoke-all"
    REVOKED = "tok-revoked"  # store: bumped by each revocation
    MESSAGE = "tok-message"
    TABLE = "tok-table"


def slot(_viewer: Viewer, _params: dict[str, str]) -> list[html.Div]:
    return []


def body(viewer: Viewer, _params: dict[str, str]) -> html.Div:
    lang = viewer.lang
    issue = section(
        t("admin.tokens.issue", lang),
        html.Div(
            [
                field(t("admin.field.account", lang), dropdown(Ids.ACCOUNT, [])),
                button(Ids.ISSUE, t("admin.tokens.issue_go", lang)),
            ],
            className="ec-admin-form",
        ),
        html.P(t("admin.tokens.hint", lang), className="ec-muted"),
        html.Div(id=Ids.SECRET),
        dcc.Store(id=Ids.ISSUED, data=0),
    )
    revoke = section(
        t("admin.tokens.revoke", lang),
        html.Div(
            [
                field(t("admin.field.token", lang), dropdown(Ids.TOKEN, [])),
                button(Ids.REVOKE, t("admin.tokens.revoke_go", lang), danger=True),
                button(Ids.REVOKE_ALL, t("admin.tokens.revoke_all", lang), danger=True),
            ],
            className="ec-admin-form",
        ),
        html.Div(id=Ids.MESSAGE),
        dcc.Store(id=Ids.REVOKED, data=0),
    )
    listing = section(t("admin.tokens.list", lang), html.Div(id=Ids.TABLE))
    return page(lang, PATH, [issue, revoke], listing)
