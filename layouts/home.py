"""Placeholder home page until the live map lands: live counts of the data plane."""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html
from flask import has_request_context
from flask_wtf.csrf import generate_csrf


class Ids(StrEnum):
    COUNTS = "home-counts"
    TICK = "home-tick"
    LOGOUT = "home-logout"


def logout_form() -> html.Form:
    # A plain form POST (not a callback) so the browser follows the redirect to /login;
    # the layout is built per request, so the token is this session's (Dash also builds it once
    # at start to validate it, outside any request).
    token = generate_csrf() if has_request_context() else ""
    return html.Form(
        [dcc.Input(type="hidden", name="csrf_token", value=token),
         html.Button("退出 · Sign out", id=Ids.LOGOUT, type="submit")],
        action="/logout", method="post", style={"float": "right"})


def layout() -> html.Div:
    return html.Div(
        [
            logout_form(),
            html.H1("生态综合执法指挥中心 · ecocommand"),
            html.P("数据平面运行中 (data plane running); the live map comes next."),
            html.Pre(id=Ids.COUNTS, style={"fontSize": "28px"}),
            dcc.Interval(id=Ids.TICK, interval=2000),
            html.A("/healthz", href="/healthz"),
        ],
        style={"fontFamily": "sans-serif", "margin": "2em"},
    )
