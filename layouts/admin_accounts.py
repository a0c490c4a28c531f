"""The admin's accounts page at `/admin` (admins only): create an account with a role (an
officer's with its unit) and a first password; change an account's role; disable or enable it.
The table of accounts comes from `services.accounts.list_accounts` (never a password hash).

Built for the viewer when opened; the table and the choices are filled by
callbacks/admin_accounts.py as the page opens and after every act, each act through the service
function the `users` command uses, recorded in the audit log with the admin as its actor.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from dashboard.i18n import t
from dashboard.viewer import Viewer
from views.admin import button, dropdown, field, page, role_options, section, text_input

PATH = "/admin"


class Ids(StrEnum):
    NAME = "acct-name"
    ROLE = "acct-role"
    UNIT = "acct-unit"
    PASSWORD = "acct-password"
    PASSWORD2 = "acct-password2"
    CREATE = "acct-create"
    CREATED = "acct-created"  # store: bumped by each account created
    CREATE_MESSAGE = "acct-create-message"
    EDIT_NAME = "acct-edit-name"
    EDIT_ROLE = "acct-edit-role"
    EDIT_UNIT = "acct-edit-unit"
    CHANGE_ROLE = "acct-change-role"
    DISABLE = "acct-disable"
    ENABLE = "acct-enable"
    CHANGED = "acct-changed"  # store: bumped by each change
    EDIT_MESSAGE = "acct-edit-message"
    TABLE = "acct-table"


def create_form(lang: str) -> html.Section:
    return section(
        t("admin.accounts.create", lang),
        html.Div(
            [
                field(t("admin.field.name", lang), text_input(Ids.NAME, "wang.li")),
                field(
                    t("admin.field.role", lang), dropdown(Ids.ROLE, role_options(lang), "operator")
                ),
                field(t("admin.field.unit", lang), dropdown(Ids.UNIT, [])),
                field(
                    t("admin.field.password", lang), text_input(Ids.PASSWORD, "", "password", 1024)
                ),
                field(
                    t("admin.field.password2", lang),
                    text_input(Ids.PASSWORD2, "", "password", 1024),
                ),
                button(Ids.CREATE, t("admin.accounts.create_go", lang)),
            ],
            className="ec-admin-form",
        ),
        html.P(t("admin.accounts.create_hint", lang), className="ec-muted"),
        html.Div(id=Ids.CREATE_MESSAGE),
        dcc.Store(id=Ids.CREATED, data=0),
    )


def edit_form(lang: str) -> html.Section:
    return section(
        t("admin.accounts.edit", lang),
        html.Div(
            [
                field(t("admin.field.account", lang), dropdown(Ids.EDIT_NAME, [])),
                field(t("admin.field.role", lang), dropdown(Ids.EDIT_ROLE, role_options(lang))),
                field(t("admin.field.unit", lang), dropdown(Ids.EDIT_UNIT, [])),
                button(Ids.CHANGE_ROLE, t("admin.accounts.change_role", lang)),
                button(Ids.DISABLE, t("admin.accounts.disable", lang), danger=True),
                button(Ids.ENABLE, t("admin.accounts.enable", lang)),
            ],
            className="ec-admin-form",
        ),
        html.Div(id=Ids.EDIT_MESSAGE),
        dcc.Store(id=Ids.CHANGED, data=0),
    )


def slot(_viewer: Viewer, _params: dict[str, str]) -> list[html.Div]:
    return []


def body(viewer: Viewer, _params: dict[str, str]) -> html.Div:
    lang = viewer.lang
    listing = section(t("admin.accounts.list", lang), html.Div(id=Ids.TABLE))
    return page(lang, PATH, [create_form(lang), edit_form(lang)], listing)
