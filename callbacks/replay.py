"""The replay page's one callback (layouts/replay.py): load what was chosen through
`services.replay.replay` and put it in the page for assets/replay.js to play. Every console
role may call it; an officer's track (a unit, an incident's units) only duty chiefs, leaders and
admins, as GET /api/v1/units/{id}/track."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, html
from flask_login import current_user

from dashboard import roles, viewer
from dashboard.context import app_context
from dashboard.i18n import t
from layouts.replay import Ids
from services import personal, replay
from services.errors import Refused
from views.replay import payload, summary


@roles.page_callback(
    Output(Ids.DATA, "children"),
    Output(Ids.MESSAGE, "children"),
    Input(Ids.LOAD, "n_clicks"),
    State(Ids.KIND, "value"),
    State(Ids.IDENT, "value"),
    State(Ids.FROM, "value"),
    State(Ids.TO, "value"),
    roles=roles.CONSOLE,
)
def load(_clicks: Any, kind: Any, ident: Any, start: Any, end: Any) -> tuple[str, str]:
    """The replay chosen (also when the page opens with one in its URL); nothing yet: the hint."""
    lang = viewer.lang()
    if not isinstance(ident, str) or not ident.strip() or not isinstance(kind, str):
        return "", t("replay.hint", lang)
    if kind != "vessel" and viewer.current().role not in roles.PERSONAL_READERS:
        return "", t("replay.not_allowed", lang)
    ctx = app_context()
    start = start if isinstance(start, str) and start else None
    end = end if isinstance(end, str) and end else None
    try:
        window = (
            None if start is None and end is None else personal.window(start, end, ctx.now_ms())
        )
        rep = replay.replay(ctx, kind, ident, window, current_user.name)
    except Refused as e:
        return "", t("replay.refused", lang).format(why=e.message)
    return payload(rep, lang), summary(rep, ctx.settings.archive_days, lang)


@roles.page_callback(
    Output(Ids.CHOICES, "children"),
    Input(Ids.KIND, "value"),
    roles=roles.CONSOLE,
)
def offer(kind: Any) -> list[html.Option]:
    """The ids the id field offers for the kind chosen (officers' units only to those who may
    replay them)."""
    if not isinstance(kind, str) or (
        kind != "vessel" and viewer.current().role not in roles.PERSONAL_READERS
    ):
        return []
    return [html.Option(label, value=ident) for ident, label in replay.choices(app_context(), kind)]


def register(app: dash.Dash) -> None:
    roles.wire(app, load, offer)
