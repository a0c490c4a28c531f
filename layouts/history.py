"""The incident history page at `/history` (duty chiefs, leaders, admins): the incidents that
ended (closed, rejected, transferred) searched by type, state, sub-district, unit, words and the
days they were opened, newest first, a page at a time; a row opens the incident's whole record,
as /dispatch shows an open one (views/dispatch.detail_view: the case file and its timeline).

A thin adapter: the query is services/incident_history.search (GET /api/v1/incidents asks the
same); the answers come from callbacks/history.py. `/history?unit=U-1` opens filtered by a unit.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from dashboard.context import app_context
from dashboard.i18n import options, t
from dashboard.viewer import Viewer
from domain.incidents import IncidentType
from domain.vocab import Subdistrict
from services.incident_history import ENDED, communities

PATH = "/history"


class Ids(StrEnum):
    TYPE = "history-type"
    STATE = "history-state"
    SUBDISTRICT = "history-subdistrict"
    COMMUNITY = "history-community"
    UNIT = "history-unit"
    TEXT = "history-text"
    FROM = "history-from"
    TO = "history-to"
    PREV = "history-prev"
    NEXT = "history-next"
    OFFSET = "history-offset"  # store: the first match shown
    SUMMARY = "history-summary"
    RESULTS = "history-results"
    RECORD = "history-record"


def _field(label: str, control: object, cls: str = "") -> html.Label:
    return html.Label(
        [html.Span(label, className="ec-filter-label"), control],
        className=f"ec-field {cls}".strip(),
    )


def _dropdown(ident: Ids, choices: list[dict[str, object]], lang: str, multi: bool = False):
    return dcc.Dropdown(id=ident, options=choices, multi=multi, placeholder=t("filter.all", lang))


def _text(ident: Ids, placeholder: str, value: str = "") -> dcc.Input:
    return dcc.Input(
        id=ident,
        type="text",
        value=value,
        placeholder=placeholder,
        debounce=True,  # asked when the typing stops, not at every key
        maxLength=80,
        className="ec-input",
    )


def _day(ident: Ids) -> dcc.Input:
    return dcc.Input(id=ident, type="date", className="ec-input")


def query_form(lang: str, unit: str, communities: list[str]) -> html.Div:
    return html.Div(
        [
            _field(
                t("history.type", lang),
                _dropdown(Ids.TYPE, options("incident.type", list(IncidentType), lang), lang),
                "ec-history-wide",
            ),
            _field(
                t("history.state", lang),
                _dropdown(Ids.STATE, options("incident.state", ENDED, lang), lang, multi=True),
                "ec-history-wide",
            ),
            _field(
                t("history.subdistrict", lang),
                _dropdown(Ids.SUBDISTRICT, options("subdistrict", list(Subdistrict), lang), lang),
            ),
            _field(
                t("history.community", lang),
                _dropdown(Ids.COMMUNITY, [{"label": c, "value": c} for c in communities], lang),
            ),
            _field(t("history.unit", lang), _text(Ids.UNIT, "U-DP-F01", unit)),
            _field(t("history.text", lang), _text(Ids.TEXT, t("history.text_hint", lang))),
            _field(t("history.from", lang), _day(Ids.FROM), "ec-history-date"),
            _field(t("history.to", lang), _day(Ids.TO), "ec-history-date"),
        ],
        className="ec-history-query",
    )


def slot(_viewer: Viewer, _params: dict[str, str]) -> list[html.Div]:
    return []


def body(viewer: Viewer, params: dict[str, str]) -> html.Div:
    lang = viewer.lang
    pager = html.Div(
        [
            html.Button(t("history.prev", lang), id=Ids.PREV, className="ec-button"),
            html.Div(id=Ids.SUMMARY, className="ec-history-summary", role="status"),
            html.Button(t("history.next", lang), id=Ids.NEXT, className="ec-button"),
        ],
        className="ec-history-pager",
    )
    return html.Div(
        [
            html.H2(t("history.title", lang), className="ec-feed-title"),
            query_form(lang, params.get("unit", "")[:80], communities(app_context())),
            html.Div(
                [
                    html.Div(
                        [pager, html.Ol(id=Ids.RESULTS, className="ec-history-rows")],
                        className="ec-history-list",
                    ),
                    html.Div(
                        html.P(t("history.pick", lang), className="ec-feed-empty"),
                        id=Ids.RECORD,
                        className="ec-history-record",
                    ),
                ],
                className="ec-history-main",
            ),
            dcc.Store(id=Ids.OFFSET, data=0),
        ],
        className="ec-history-page",
    )
