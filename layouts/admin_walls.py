"""The admin's wall screens page at `/admin/walls` (admins only): issue a session for a named
screen (指挥大厅主屏), which shows a one-time sign-in link and its QR code to open on that screen's
browser; the wall sessions with their state (waiting for the screen, signed in until, ended,
revoked); revoking one ends its session at once (services/walls.py). Callbacks:
callbacks/admin_walls.py.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from dashboard.i18n import t
from dashboard.viewer import Viewer
from views.admin import button, dropdown, field, page, section, text_input

PATH = "/admin/walls"
LOOK_MS = 5000  # how often the list looks again (a screen signing in shows without a click)


class Ids(StrEnum):
    SCREEN = "wall-screen-name"
    ISSUE = "wall-issue"
    ISSUED = "wall-issued"  # store: bumped by each wall session issued
    LINK = "wall-link"  # the one-time sign-in link and its QR code, shown once
    REVOKE_ID = "wall-revoke-id"
    REVOKE = "wall-revoke"
    REVOKED = "wall-revoked"  # store: bumped by each revocation
    MESSAGE = "wall-message"
    TABLE = "wall-table"
    TICK = "wall-tick"


def slot(_viewer: Viewer, _params: dict[str, str]) -> list[html.Div]:
    return []


def body(viewer: Viewer, _params: dict[str, str]) -> html.Div:
    lang = viewer.lang
    issue = section(
        t("admin.walls.issue", lang),
        html.Div(
            [
                field(
                    t("admin.field.screen", lang),
                    text_input(Ids.SCREEN, t("admin.walls.screen_example", lang), size=40),
                    wide=True,
                ),
                button(Ids.ISSUE, t("admin.walls.issue_go", lang)),
            ],
            className="ec-admin-form",
        ),
        html.P(t("admin.walls.hint", lang), className="ec-muted"),
        html.Div(id=Ids.LINK),
        dcc.Store(id=Ids.ISSUED, data=0),
    )
    revoke = section(
        t("admin.walls.revoke", lang),
        html.Div(
            [
                field(t("admin.field.wall", lang), dropdown(Ids.REVOKE_ID, []), wide=True),
                button(Ids.REVOKE, t("admin.walls.revoke_go", lang), danger=True),
            ],
            className="ec-admin-form",
        ),
        html.Div(id=Ids.MESSAGE),
        dcc.Store(id=Ids.REVOKED, data=0),
    )
    listing = section(t("admin.walls.list", lang), html.Div(id=Ids.TABLE))
    return page(lang, PATH, [issue, revoke], listing, dcc.Interval(id=Ids.TICK, interval=LOOK_MS))
