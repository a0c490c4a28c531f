"""Placeholder home page until the live map lands: live counts of the data plane."""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html


class Ids(StrEnum):
    COUNTS = "home-counts"
    TICK = "home-tick"


def layout() -> html.Div:
    return html.Div(
        [
            html.H1("生态综合执法指挥中心 · ecocommand"),
            html.P("数据平面运行中 (data plane running); the live map comes next."),
            html.Pre(id=Ids.COUNTS, style={"fontSize": "28px"}),
            dcc.Interval(id=Ids.TICK, interval=2000),
            html.A("/healthz", href="/healthz"),
        ],
        style={"fontFamily": "sans-serif", "margin": "2em"},
    )
