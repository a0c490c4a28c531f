"""The audit trail's parts as components: the overall status badge with what it means, an
incident's timeline check, and the table of entries (time in UTC+8, chain, actor, action,
object, short digest, each entry's status). Pure: built from `services.trail` answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import dcc, html

from dashboard.i18n import t
from domain.vocab import LOCAL_TZ

KINDS = ("incident", "unit", "user", "device", "alert", "place", "wall")  # as services.trail
BADGE_CLASS = {
    "verified": "ec-badge ec-badge-ok",
    "pending": "ec-badge ec-badge-pending",
    "unchecked": "ec-badge ec-badge-pending",
    "broken": "ec-badge ec-badge-broken",
    "empty": "ec-badge ec-badge-muted",
    # an incident's timeline check
    "differs": "ec-badge ec-badge-broken",
    "not_recorded": "ec-badge ec-badge-muted",
}
DIGEST_CHARS = 12


def local_stamp(ms: Any) -> str:
    """`YYYY-MM-DD HH:MM:SS` in UTC+8."""
    if not isinstance(ms, int) or isinstance(ms, bool):
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


def kind_options(lang: str) -> list[dict[str, str]]:
    return [{"label": t(f"trail.kind.{k}", lang), "value": k} for k in KINDS]


def split_ref(ref: Any) -> tuple[str | None, str]:
    """A `kind:id` from the URL as the page's two inputs (an unknown kind: none chosen)."""
    kind, _, ident = str(ref or "").partition(":")
    return (kind, ident[:64]) if kind in KINDS else (None, "")


def badge(status: str, lang: str, prefix: str = "trail.status") -> html.Span:
    return html.Span(
        t(f"{prefix}.{status}", lang),
        className=BADGE_CLASS.get(status, "ec-badge ec-badge-muted"),
        **{"data-status": status},
    )


def status_view(rep: dict[str, Any], lang: str) -> list[Any]:
    """The overall status as a badge, what it means, how far each chain is signed and the
    problems found."""
    status = rep["status"]
    chains = rep.get("chains", {})
    signed = {c: (chains.get(c) or {}).get("signed_seq", 0) for c in ("record", "access")}
    notes = [
        html.Div(t("trail.summary", lang).format(n=rep["count"], **signed), className="ec-muted")
    ]
    if any((c or {}).get("signatures") == "unchecked" for c in chains.values()):
        notes.append(html.Div(t("trail.signatures_unchecked", lang), className="ec-muted"))
    if rep.get("truncated"):
        notes.append(html.Div(t("trail.truncated", lang), className="ec-muted"))
    explain = t(f"trail.explain.{status}", lang).format(s=rep.get("sign_every_s", ""))
    out: list[Any] = [
        html.Div(
            [badge(status, lang), html.Span(f"{rep['ref']} · {explain}", className="ec-trail-ref")],
            className="ec-trail-head",
        ),
        *notes,
    ]
    if rep.get("problems"):
        out.append(
            html.Details(
                [
                    html.Summary(t("trail.problems", lang)),
                    html.Ul([html.Li(p) for p in rep["problems"]], className="ec-trail-problems"),
                ],
                open=True,
                className="ec-trail-problem-box",
            )
        )
    return out


def timeline_check_view(check: dict[str, Any] | None, lang: str) -> list[Any]:
    """An incident's timeline against the audit log (the trail page)."""
    if not check:
        return []
    status = str(check.get("status"))
    return [
        html.Div(
            [t("trail.timeline", lang), badge(status, lang, "trail.timeline")],
            className="ec-trail-timeline",
        )
    ]


def dispatch_check_view(check: dict[str, Any], lang: str, trail_link: str | None) -> list[Any]:
    """The dispatch page's line under the timeline: verified / differs / not recorded, and for
    leaders and admins a link to the incident's whole trail."""
    status = str(check.get("status"))
    parts: list[Any] = [badge(status, lang, "dispatch.check")]
    if trail_link:
        parts.append(dcc.Link(t("dispatch.check.trail", lang), href=trail_link))
    return [html.Div(parts, className="ec-check")]


def _cell_status(e: dict[str, Any], lang: str) -> html.Td:
    shown: list[Any] = [badge(str(e.get("status")), lang)]
    if e.get("problem"):
        shown.append(html.Div(str(e["problem"]), className="ec-trail-problem"))
    return html.Td(shown)


def _row(e: dict[str, Any], lang: str) -> html.Tr:
    action = str(e.get("action") or "—")
    digest = str(e.get("digest") or "")
    return html.Tr(
        [
            html.Td(local_stamp(e.get("ts")), className="ec-nowrap"),
            html.Td(f"{t('trail.chain.' + str(e.get('chain')), lang)} #{e.get('seq') or '?'}"),
            html.Td(str(e.get("actor") or "—")),
            html.Td(html.Span(t(f"audit.action.{action}", lang), title=action)),
            html.Td(str(e.get("object") or "—")),
            html.Td(html.Code(digest[:DIGEST_CHARS] or "—", title=digest)),
            _cell_status(e, lang),
        ],
        className="ec-trail-broken" if e.get("status") == "broken" else None,
    )


COLUMNS = ("time", "chain", "actor", "action", "object", "digest", "status")


def entries_table(entries: list[dict[str, Any]], lang: str) -> html.Table:
    return html.Table(
        [
            html.Thead(html.Tr([html.Th(t(f"trail.col.{c}", lang)) for c in COLUMNS])),
            html.Tbody([_row(e, lang) for e in entries]),
        ],
        className="ec-trail-table",
    )
