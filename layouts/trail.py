"""The audit trail page at `/trail` (leaders and admins): choose a kind (incident, unit, account,
device, alert, place) and type an id; the page shows the overall verification status as a
badge, for an incident whether its timeline matches the log, and every entry of its trail
(time in UTC+8, chain, actor, action, object, short digest, status). `/trail?ref=kind:id` opens
with that ref filled in and shown (the dispatch page links there).

Built for the viewer when opened; the answer comes from one callback (callbacks/trail.py)
through `services.trail.trail`, the same answer as GET /api/v1/audit/trail.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from dashboard.i18n import t
from dashboard.viewer import Viewer
from views.trail import kind_options, split_ref


class Ids(StrEnum):
    TITLE = "trail-title"
    KIND = "trail-kind"
    IDENT = "trail-ident"
    SHOW = "trail-show"
    MESSAGE = "trail-message"
    STATUS = "trail-status"
    TIMELINE = "trail-timeline"
    TABLE = "trail-table"


def _field(label: str, control: object) -> html.Label:
    return html.Label(
        [html.Span(label, className="ec-filter-label"), control], className="ec-field"
    )


def query_form(lang: str, kind: str | None, ident: str) -> html.Div:
    return html.Div(
        [
            _field(
                t("trail.kind", lang),
                dcc.Dropdown(
                    id=Ids.KIND,
                    options=kind_options(lang),
                    value=kind or "incident",
                    clearable=False,
                    className="ec-filter ec-trail-kind",
                ),
            ),
            _field(
                t("trail.ident", lang),
                dcc.Input(
                    id=Ids.IDENT,
                    type="text",
                    value=ident,
                    maxLength=64,
                    debounce=True,
                    placeholder=t("trail.ident_placeholder", lang),
                    className="ec-input ec-trail-ident",
                ),
            ),
            html.Button(t("trail.show", lang), id=Ids.SHOW, className="ec-button ec-primary"),
        ],
        className="ec-trail-query",
    )


def slot(_viewer: Viewer, _params: dict[str, str]) -> list[html.Div]:
    return []


def body(viewer: Viewer, params: dict[str, str]) -> html.Div:
    lang = viewer.lang
    kind, ident = split_ref(params.get("ref"))
    return html.Div(
        [
            html.H2(t("trail.title", lang), id=Ids.TITLE, className="ec-feed-title"),
            query_form(lang, kind, ident),
            html.Div(id=Ids.MESSAGE, className="ec-trail-message", role="alert"),
            html.Div(id=Ids.STATUS, className="ec-trail-status", role="status"),
            html.Div(id=Ids.TIMELINE),
            html.Div(
                html.P(t("trail.hint", lang), className="ec-feed-empty"),
                id=Ids.TABLE,
                className="ec-trail-table-box",
            ),
        ],
        className="ec-trail-page",
    )
