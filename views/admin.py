"""Builders the admin pages share (layouts/admin_*.py, callbacks/admin_*.py): the pages' own
links, form fields, the tables of accounts, tokens, devices and wall screens, the box that shows
a secret once with its QR code, and a refusal in the reader's language.

Nothing here reads anything: the tables are built from what the service functions answered, and
what they answered never holds a password hash, a token, a device's secret or a session id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import segno
from dash import dcc, html

from dashboard.i18n import t
from domain.vocab import LOCAL_TZ
from services.errors import Invalid

# (path, label) of the admin pages, in the order of their links
PAGES = (
    ("/admin", "admin.nav.accounts"),
    ("/admin/tokens", "admin.nav.tokens"),
    ("/admin/devices", "admin.nav.devices"),
    ("/admin/walls", "admin.nav.walls"),
)
ACCOUNT_ROLES = ("operator", "dispatcher", "leader", "admin", "officer")


# Before this, a time is no time: a legacy roster entry has no creation time (0) or one in
# seconds, which would read as a day in January 1970.
FIRST_PLAUSIBLE_MS = 946_684_800_000  # 2000-01-01


def local(ms: Any) -> str:
    """An instant in Shenzhen time (UTC+8), to the minute; "—" for none."""
    if not isinstance(ms, int | float) or ms < FIRST_PLAUSIBLE_MS:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def subnav(lang: str, current: str) -> html.Nav:
    return html.Nav(
        [
            dcc.Link(
                t(label, lang),
                href=path,
                className="ec-admin-tab ec-admin-tab-current"
                if path == current
                else "ec-admin-tab",
            )
            for path, label in PAGES
        ],
        className="ec-admin-tabs",
    )


def field(label: str, control: Any, wide: bool = False) -> html.Label:
    return html.Label(
        [html.Span(label, className="ec-filter-label"), control],
        className="ec-field ec-admin-field-wide" if wide else "ec-field",
    )


def text_input(ident: str, placeholder: str = "", kind: str = "text", size: int = 64) -> dcc.Input:
    return dcc.Input(
        id=ident,
        type=kind,
        value="",
        maxLength=size,
        placeholder=placeholder,
        autoComplete="new-password" if kind == "password" else "off",
        className="ec-input",
    )


def dropdown(ident: str, options: list[dict[str, Any]], value: Any = None) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=ident, options=options, value=value, clearable=False, className="ec-admin-select"
    )


def button(ident: str, label: str, danger: bool = False) -> html.Button:
    kind = "ec-button ec-admin-danger" if danger else "ec-button ec-primary"
    return html.Button(label, id=ident, className=kind, n_clicks=0)


def page(lang: str, path: str, forms: list[Any], listing: html.Section, *more: Any) -> html.Div:
    """An admin page: the tabs, its forms beside the list of what they act on (and `more`, such
    as a refresh timer)."""
    return html.Div(
        [
            subnav(lang, path),
            html.Div(
                [html.Div(forms, className="ec-admin-forms"), listing], className="ec-admin-grid"
            ),
            *more,
        ],
        className="ec-admin-page",
    )


def section(title: str, *children: Any) -> html.Section:
    return html.Section([html.H3(title, className="ec-admin-h"), *children], className="ec-card")


def role_options(lang: str, roles: Iterable[str] = ACCOUNT_ROLES) -> list[dict[str, str]]:
    return [{"label": t(f"role.{r}", lang), "value": r} for r in roles]


def error_text(error: Exception, lang: str) -> str:
    """A refusal in the reader's language when the table names it, else the service's words."""
    if isinstance(error, Invalid):
        key = f"admin.error.{error.key}"
        said = t(key, lang)
        if said != key:
            return said.format(**error.params)
    return str(error)


def done(text: str) -> html.Div:
    return html.Div(text, className="ec-admin-done", role="status")


def refused(text: str) -> html.Div:
    return html.Div(text, className="ec-admin-refused", role="alert")


def qr_image(data: str, alt: str) -> html.Img:
    """The QR code of `data` as an SVG image (segno: no Pillow; the data stays in this
    answer, nothing is written anywhere)."""
    uri = segno.make(data, error="m").svg_data_uri(scale=5, border=2, dark="#14202e")
    return html.Img(src=uri, alt=alt, className="ec-admin-qr")


def secret_box(
    lang: str, title: str, rows: list[tuple[str, str]], qr: html.Img | None = None
) -> html.Div:
    """What is shown once: name and value rows (copyable), an optional QR code, and the
    warning that it is never shown again."""
    lines = [
        html.Div(
            [html.Span(k, className="ec-admin-secret-k"), html.Code(v, className="ec-admin-code")],
            className="ec-admin-secret-row",
        )
        for k, v in rows
    ]
    return html.Div(
        [
            html.Div(title, className="ec-admin-secret-title"),
            html.Div(
                [
                    html.Div(lines, className="ec-admin-secret-lines"),
                    *([qr] if qr is not None else []),
                ],
                className="ec-admin-secret-body",
            ),
            html.Div(t("admin.shown_once", lang), className="ec-admin-once"),
        ],
        className="ec-admin-secret",
        role="status",
    )


def table(head: list[str], rows: list[list[Any]], empty: str) -> Any:
    if not rows:
        return html.P(empty, className="ec-feed-empty")
    return html.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in head])),
            html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows]),
        ],
        className="ec-trail-table ec-admin-table",
    )


def badge(text: str, kind: str) -> html.Span:
    return html.Span(text, className=f"ec-badge ec-badge-{kind}")


def accounts_table(rows: list[Mapping[str, Any]], lang: str) -> Any:
    head = [t(f"admin.col.{c}", lang) for c in ("name", "role", "unit", "tokens", "created")]
    head.append(t("admin.col.state", lang))
    body = [
        [
            html.Span(u["name"], className="ec-admin-name"),
            t(f"role.{u.get('role')}", lang),
            u.get("unit") or "—",
            str(u.get("tokens", 0)),
            local(int(u.get("created_ms") or 0)),
            badge(t("admin.state.disabled", lang), "broken")
            if int(u.get("disabled_ms") or 0)
            else badge(t("admin.state.enabled", lang), "ok"),
        ]
        for u in rows
    ]
    return table(head, body, t("admin.none", lang))


def tokens_table(rows: list[Mapping[str, Any]], lang: str) -> Any:
    head = [t("admin.col.token_id", lang), t("admin.col.created", lang)]
    body = [[html.Code(r["id"]), local(int(r.get("created_ms") or 0))] for r in rows]
    return table(head, body, t("admin.tokens.none", lang))


def devices_table(rows: list[Mapping[str, Any]], lang: str) -> Any:
    head = [t(f"admin.col.{c}", lang) for c in ("device", "kind", "state", "created", "revoked")]
    head.append(t("admin.col.source", lang))
    body = [
        [
            html.Code(d["id"]),
            t(f"admin.kind.{d['kind']}", lang),
            badge(t("admin.state.active", lang), "ok")
            if d["active"]
            else badge(t("admin.state.revoked", lang), "muted"),
            local(d["created_ms"]),
            local(d["revoked_ms"]),
            d.get("source") or "—",
        ]
        for d in rows
    ]
    return table(head, body, t("admin.devices.none", lang))


WALL_BADGE = {"active": "ok", "waiting": "pending", "revoked": "muted"}


def walls_table(rows: list[Mapping[str, Any]], lang: str) -> Any:
    cols = ("screen", "state", "issued", "by", "signed_in", "until")
    head = [t(f"admin.col.{c}", lang) for c in cols]
    body = []
    for w in rows:
        state = w["state"]
        until = w["expires_ms"] if w["signed_in_ms"] else w["link_until_ms"]
        body.append(
            [
                html.Span(w["screen"], className="ec-admin-name"),
                badge(t(f"admin.wall.{state}", lang), WALL_BADGE.get(state, "broken")),
                local(w["issued_ms"]),
                str(w["by"]).removeprefix("user:"),
                local(w["signed_in_ms"]),
                local(w["revoked_ms"] or until),
            ]
        )
    return table(head, body, t("admin.walls.none", lang))
