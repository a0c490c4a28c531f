"""Audit trail page callback: the ref chosen (kind and id) answered through
`services.trail.trail`, the answer GET /api/v1/audit/trail gives. For `roles.ANALYSTS` (leaders,
admins) only; the page refuses the others too."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, html

from dashboard import roles, viewer
from dashboard.context import app_context
from dashboard.i18n import t
from layouts.trail import Ids
from services import trail as service
from services.errors import Refused
from views.trail import entries_table, status_view, timeline_check_view


@roles.page_callback(
    Output(Ids.STATUS, "children"),
    Output(Ids.TIMELINE, "children"),
    Output(Ids.TABLE, "children"),
    Output(Ids.MESSAGE, "children"),
    Input(Ids.SHOW, "n_clicks"),
    Input(Ids.IDENT, "value"),
    State(Ids.KIND, "value"),
    roles=roles.ANALYSTS,
)
def lookup(_clicks: Any, ident: Any, kind: Any) -> tuple[Any, ...]:
    """The trail of the chosen ref, with its status; nothing asked yet: the hint."""
    lang = viewer.lang()
    if not isinstance(ident, str) or not ident.strip():
        return [], [], html.P(t("trail.hint", lang), className="ec-feed-empty"), ""
    try:
        rep = service.trail(app_context(), service.make_ref(kind, ident))
    except Refused:
        return [], [], [], t("trail.bad_ref", lang)
    return (
        status_view(rep, lang),
        timeline_check_view(rep.get("timeline"), lang),
        entries_table(rep["entries"], lang),
        "",
    )


def register(app: dash.Dash) -> None:
    roles.wire(app, lookup)
