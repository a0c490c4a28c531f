"""Placeholder home page callbacks."""

from __future__ import annotations

import dash
from dash import Input, Output
from flask import current_app

from dashboard import roles
from layouts.home import Ids
from store import reader


def register(app: dash.Dash) -> None:
    @roles.callback(app, Output(Ids.COUNTS, "children"), Input(Ids.TICK, "n_intervals"),
                    roles=roles.VIEWERS)
    def show_counts(_n: int | None) -> str:
        r = current_app.extensions["redis"]
        c = reader.counts(r)
        m = reader.ingest_stats(r)["messages"]
        return (f"units {c['units']}   vessels {c['vessels']}   sensors {c['sensors']}   "
                f"open alerts {c['open_alerts']}\nmessages {m['received']}   "
                f"dead-lettered {m['deadletter']}")
