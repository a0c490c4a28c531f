"""Coverage page callbacks. `refresh` answers the page's query (window, unit kinds, departments)
through `services.coverage.report`, the same answer as the API, and fills the figures, the
sub-district table and the trend; it sends nothing new while that answer is unchanged. When it
changes, its signature moves and the map layers and the blind-spot list follow, drawn from the
same answer (kept for them per app, rebuilt if another process answers).

Reading is for every signed-in role; reassigning a place's responsible person is for admins, whose
page alone has the form."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import dash
import orjson
from dash import Input, Output, State, dcc, no_update
from dash.exceptions import PreventUpdate
from flask import current_app
from flask_login import current_user

from dashboard import roles, viewer
from dashboard.context import app_context
from dashboard.i18n import t
from domain.vocab import Department, UnitKind
from layouts.coverage import Ids
from services import coverage as service
from services.coverage import WINDOWS
from services.errors import Refused
from views.coverage import (
    blind_spots_csv,
    figures_view,
    logs_view,
    subdistricts_view,
    table_rows,
    trend_figure,
)
from views.coverage_map import (
    PRESENCE_COLOURS,
    legend_view,
    local_stamp,
    place_layers,
    presence_layers,
)

LOGS_SHOWN = 20
SIGNATURE_BUCKET_MS = 360_000  # "x.x hours ago" moves every 6 minutes: redraw at least that often
ANSWERS_KEPT = 32  # answers kept per app for the map and list that follow a refresh
_ANSWERS = "ecocommand.coverage_answers"  # in server.extensions


def _pick(values: Any, known: set[str]) -> list[str]:
    if not isinstance(values, list):
        return []
    return sorted({v for v in values if isinstance(v, str) and v in known})


def query(window: Any, kinds: Any, departments: Any) -> tuple[str, list[str], list[str]]:
    """The page's choices, with anything forged or stale dropped (none chosen: all)."""
    return (
        window if window in WINDOWS else "today",
        _pick(kinds, {k.value for k in UnitKind}),
        _pick(departments, {d.value for d in Department}),
    )


def signature(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


@dataclass(frozen=True)
class Answer:
    """One answer to the page's query: the report, last visits and owners, at `now`."""

    query: tuple[str, list[str], list[str]]  # window, unit kinds, departments
    report: dict[str, Any]
    last: dict[str, Any]
    owners: dict[str, str]
    now: int
    lang: str

    @property
    def window(self) -> str:
        return self.query[0]

    def signature(self) -> str:
        """Moves when anything the page shows moves (the "hours ago" every few minutes)."""
        rep = self.report
        return signature(
            *self.query,
            self.lang,
            self.now // SIGNATURE_BUCKET_MS,
            *(rep[k] for k in ("figures", "requirement_met", "blind_spots", "trend", "presence_s")),
            self.last,
            self.owners,
        )


def answer(window: Any, kinds: Any, departments: Any) -> Answer:
    ctx = app_context()
    asked = query(window, kinds, departments)
    now = ctx.now_ms()
    rep = service.report(ctx.redis, ctx.coverage, *asked, now)
    last = service.last_visits(ctx, *asked[1:])
    return Answer(asked, rep, last, service.owners(ctx), now, viewer.lang())


class Answers:
    """The last answers by signature, so the callbacks that follow a refresh draw the same one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kept: OrderedDict[str, Answer] = OrderedDict()

    def keep(self, sig: str, ans: Answer) -> None:
        with self.lock:
            self.kept[sig] = ans
            while len(self.kept) > ANSWERS_KEPT:
                self.kept.popitem(last=False)

    def get(self, sig: Any, window: Any, kinds: Any, departments: Any) -> Answer:
        with self.lock:
            found = self.kept.get(sig) if isinstance(sig, str) else None
        return found or answer(window, kinds, departments)  # another process made it: again


def answers() -> Answers:
    return current_app.extensions.setdefault(_ANSWERS, Answers())


@roles.page_callback(
    Output(Ids.UPDATED, "children"),
    Output(Ids.RANGE, "children"),
    Output(Ids.SIGNATURE, "data"),
    Output(Ids.FIGURES, "children"),
    Output(Ids.SUBDISTRICTS, "children"),
    Output(Ids.LEGEND, "children"),
    Output(Ids.TREND, "figure"),
    Input(Ids.TICK, "n_intervals"),
    Input(Ids.WINDOW, "value"),
    Input(Ids.KINDS, "value"),
    Input(Ids.DEPARTMENTS, "value"),
    Input(Ids.CHANGED, "data"),
    State(Ids.SIGNATURE, "data"),
    roles=roles.VIEWERS,
)
def refresh(
    _n: Any, window: Any, kinds: Any, departments: Any, _changed: Any, seen: Any
) -> tuple[Any, ...]:
    """The query's answer: the clock and range every time, the figures when they changed."""
    ans = answer(window, kinds, departments)
    rep, lang = ans.report, ans.lang
    stamp = (
        t("coverage.updated", lang).format(time=local_stamp(ans.now, seconds=True)[11:19]),
        t("coverage.range", lang).format(
            start=local_stamp(rep["from_ms"]), end=local_stamp(rep["to_ms"])
        ),
    )
    sig = ans.signature()
    if sig == seen:
        return (*stamp, *[no_update] * 5)
    answers().keep(sig, ans)
    return (
        *stamp,
        sig,
        figures_view(rep["figures"], rep["requirement_met"], lang),
        subdistricts_view(rep["figures"], lang),
        legend_view(ans.window, lang),
        trend_figure(rep["trend"], lang),
    )


FOLLOWS = (
    Input(Ids.SIGNATURE, "data"),
    State(Ids.WINDOW, "value"),
    State(Ids.KINDS, "value"),
    State(Ids.DEPARTMENTS, "value"),
)


@roles.page_callback(
    *[Output(f"{Ids.PRESENCE}-{i}", "data") for i in range(len(PRESENCE_COLOURS))],
    *FOLLOWS,
    prevent_initial_call=True,
    roles=roles.VIEWERS,
)
def draw_presence(sig: Any, window: Any, kinds: Any, departments: Any) -> list[Any]:
    """The heatmap of the refresh's answer: one layer per colour class."""
    ans = answers().get(sig, window, kinds, departments)
    return presence_layers(ans.report["presence_s"], ans.window)


@roles.page_callback(
    Output(Ids.GRID, "data"),
    Output(Ids.BLIND, "data"),
    Output(Ids.COAST_OK, "data"),
    Output(Ids.COAST_BLIND, "data"),
    *FOLLOWS,
    prevent_initial_call=True,
    roles=roles.VIEWERS,
)
def draw_places(sig: Any, window: Any, kinds: Any, departments: Any) -> tuple[Any, ...]:
    """Every place with its tooltip: patrolled cells, blind cells, coast segments either way."""
    ans = answers().get(sig, window, kinds, departments)
    rep = ans.report
    blind = [s["id"] for s in rep["blind_spots"]]
    places = place_layers(
        app_context().coverage, ans.owners, ans.last, blind, rep["presence_s"], ans.now, ans.lang
    )
    return places["grid"], places["blind"], places["coast_ok"], places["coast_blind"]


@roles.page_callback(
    Output(Ids.TABLE_TITLE, "children"),
    Output(Ids.TABLE, "data"),
    *FOLLOWS,
    prevent_initial_call=True,
    roles=roles.VIEWERS,
)
def list_blind_spots(sig: Any, window: Any, kinds: Any, departments: Any) -> tuple[Any, ...]:
    ans = answers().get(sig, window, kinds, departments)
    spots = ans.report["blind_spots"]
    return (
        t("coverage.blind_spots", ans.lang).format(n=len(spots)),
        table_rows(spots, ans.lang),
    )


@roles.page_callback(
    Output(Ids.LOGS, "children"),
    Input(Ids.TICK, "n_intervals"),
    roles=roles.VIEWERS,
)
def logs(_n: Any) -> list[Any]:
    """The latest patrol logs their tracks do not support."""
    found = service.recent_logs(app_context(), flagged_only=True)[:LOGS_SHOWN]
    return logs_view(found, app_context().coverage.places, viewer.lang())


@roles.page_callback(
    Output(Ids.DOWNLOAD, "data"),
    Input(Ids.CSV, "n_clicks"),
    State(Ids.WINDOW, "value"),
    State(Ids.KINDS, "value"),
    State(Ids.DEPARTMENTS, "value"),
    prevent_initial_call=True,
    roles=roles.VIEWERS,
)
def download(clicks: Any, window_value: Any, kinds_value: Any, departments_value: Any) -> Any:
    """The blind spots of the page's query as CSV."""
    if not clicks:
        raise PreventUpdate
    window, kinds, departments = query(window_value, kinds_value, departments_value)
    ctx = app_context()
    rep = service.window_report(ctx, window, kinds, departments)
    name = f"blind-spots-{local_stamp(ctx.now_ms(), seconds=True)[:16].replace(':', '')}.csv"
    return dcc.send_string(
        blind_spots_csv(rep["blind_spots"], viewer.lang()), name, type="text/csv"
    )


@roles.page_callback(
    Output(Ids.REASSIGN_PLACE, "options"),
    Input(Ids.REASSIGN_NOTE, "children"),
    roles=roles.ADMINS,
)
def reassign_places(_note: Any) -> list[dict[str, str]]:
    """The places an admin may reassign, each with its responsible person (again after each)."""
    ctx, lang = app_context(), viewer.lang()
    owners = service.owners(ctx)
    return [
        {
            "label": f"{p.label} · {t('coverage.place.' + p.kind, lang)} · {owners[p.id]}",
            "value": p.id,
        }
        for p in ctx.coverage.places.values()
    ]


@roles.page_callback(
    Output(Ids.REASSIGN_NOTE, "children"),
    Output(Ids.REASSIGN_OWNER, "value"),
    Output(Ids.CHANGED, "data"),
    Input(Ids.REASSIGN_SAVE, "n_clicks"),
    State(Ids.REASSIGN_PLACE, "value"),
    State(Ids.REASSIGN_OWNER, "value"),
    prevent_initial_call=True,
    roles=roles.ADMINS,
)
def reassign(clicks: Any, place_id: Any, owner: Any) -> tuple[Any, ...]:
    if not clicks:
        raise PreventUpdate
    lang = viewer.lang()
    try:
        out = service.reassign_owner(app_context(), place_id, owner, current_user.name)
    except Refused:
        return t("coverage.reassign.invalid", lang), no_update, no_update
    done = t("coverage.reassign.done", lang).format(place=out["label"], owner=out["owner"])
    return done, "", app_context().now_ms()  # the owners changed: the page draws them


def register(app: dash.Dash) -> None:
    roles.wire(
        app,
        refresh,
        draw_presence,
        draw_places,
        list_blind_spots,
        logs,
        download,
        reassign_places,
        reassign,
    )
