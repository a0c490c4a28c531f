"""The admin's devices page at `/admin/devices` (admins only): the broker's roster (ids, kinds,
active or revoked, when, by whom), adding a field device (its MQTT user name and password shown
once, with a QR code a phone scans: the OwnTracks app's own configuration link for an OwnTracks
user, the broker's mqtt:// URL with the credentials for any other device), and revoking one
(the embedded broker drops it within seconds). Callbacks: callbacks/admin_devices.py, through
the service functions of `devices add` / `devices revoke`.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from dashboard.i18n import t
from dashboard.viewer import Viewer
from services.devices import FIELD_KINDS
from views.admin import button, dropdown, field, page, section, text_input

PATH = "/admin/devices"


class Ids(StrEnum):
    DEVICE = "dev-id"
    KIND = "dev-kind"
    ADD = "dev-add"
    ADDED = "dev-added"  # store: bumped by each device added
    SECRET = "dev-secret"  # the new credentials and their QR code, shown once
    REVOKE_ID = "dev-revoke-id"
    REVOKE = "dev-revoke"
    REVOKED = "dev-revoked"  # store: bumped by each revocation
    MESSAGE = "dev-message"
    TABLE = "dev-table"


def kind_options(lang: str) -> list[dict[str, str]]:
    return [{"label": t(f"admin.kind.{k}", lang), "value": k} for k in FIELD_KINDS]


def slot(_viewer: Viewer, _params: dict[str, str]) -> list[html.Div]:
    return []


def body(viewer: Viewer, _params: dict[str, str]) -> html.Div:
    lang = viewer.lang
    add = section(
        t("admin.devices.add", lang),
        html.Div(
            [
                field(t("admin.field.device", lang), text_input(Ids.DEVICE, "U-DP-901")),
                field(t("admin.field.kind", lang), dropdown(Ids.KIND, kind_options(lang), "unit")),
                button(Ids.ADD, t("admin.devices.add_go", lang)),
            ],
            className="ec-admin-form",
        ),
        html.P(t("admin.devices.hint", lang), className="ec-muted"),
        html.Div(id=Ids.SECRET),
        dcc.Store(id=Ids.ADDED, data=0),
    )
    revoke = section(
        t("admin.devices.revoke", lang),
        html.Div(
            [
                field(t("admin.field.device", lang), dropdown(Ids.REVOKE_ID, [])),
                button(Ids.REVOKE, t("admin.devices.revoke_go", lang), danger=True),
            ],
            className="ec-admin-form",
        ),
        html.Div(id=Ids.MESSAGE),
        dcc.Store(id=Ids.REVOKED, data=0),
    )
    listing = section(t("admin.devices.list", lang), html.Div(id=Ids.TABLE))
    return page(lang, PATH, [add, revoke], listing)
