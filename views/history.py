"""The incident history's rows and summary as components. Pure: no callbacks, no Redis."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import html

from dashboard.i18n import t
from domain.vocab import LOCAL_TZ
from services.incident_history import Found

OPEN = "history-open"  # pattern id of a row: {"type": OPEN, "id": <incident id>}


def local(ms: Any) -> str:
    if not isinstance(ms, int) or ms <= 0:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def row(inc: dict[str, Any], lang: str, selected: bool) -> html.Li:
    units = inc.get("units_sent") or inc.get("units") or []
    place = inc.get("subdistrict")
    return html.Li(
        html.Button(
            [
                html.Div(
                    [
                        html.Span(str(inc.get("id")), className="ec-history-id"),
                        html.Span(t(f"incident.type.{inc.get('type')}", lang)),
                        html.Span(
                            t(f"incident.state.{inc.get('state')}", lang),
                            className=f"ec-history-state ec-history-{inc.get('state')}",
                        ),
                    ],
                    className="ec-alert-head",
                ),
                html.Div(
                    " · ".join(
                        [
                            local(inc.get("created_ms")),
                            t(f"subdistrict.{place}", lang) if place else "—",
                            ", ".join(str(u) for u in units) or "—",
                        ]
                    ),
                    className="ec-alert-message",
                ),
            ],
            id={"type": OPEN, "id": str(inc.get("id"))},
            className="ec-row-button",
        ),
        className="ec-alert-item" + (" ec-selected" if selected else ""),
    )


def rows_view(found: Found, lang: str, selected: Any = None) -> list[Any]:
    if not found.items:
        return [html.Li(t("history.none", lang), className="ec-feed-empty")]
    return [row(i, lang, i.get("id") == selected) for i in found.items]


def summary(found: Found, lang: str) -> str:
    if not found.total:
        return t("history.none", lang)
    first, last = found.offset + 1, min(found.offset + found.limit, found.total)
    text = t("history.summary", lang).format(first=first, last=last, total=found.total)
    return text + (" " + t("history.capped", lang) if found.capped else "")


def units_view(inc: dict[str, Any], lang: str) -> html.Div:
    units = inc.get("units_sent") or []
    return html.Div(
        f"{t('history.units_sent', lang)}: {', '.join(units) or '—'}", className="ec-alert-source"
    )
