"""The coverage page's figures, tables, CSV, trend chart and patrol-log list, built from
`services.coverage.report` and `services.coverage.recent_logs`. Pure: no callbacks, no Redis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from dash import html

from dashboard.i18n import t
from domain.coverage_places import PLACE_KINDS, Place
from domain.vocab import Subdistrict
from views import csv_export
from views.coverage_map import local_stamp

# Place kind -> accent colour of its figure and trend line (none is the map's red or green).
KIND_COLOURS = {"land": "#b35806", "coast": "#6a3d9a", "sea": "#1f5fa8"}
NEAR_TARGET = 90.0  # % from which a figure is shown as close to the 100% target (amber)


def _percent(f: Mapping[str, Any]) -> str:
    return "—" if f.get("percent") is None else f"{f['percent']:.0f}%"


def level_class(percent: float | None) -> str:
    """How a figure reads against the 100% target: met, near, low (or none: nothing to cover)."""
    if percent is None:
        return "ec-cov-none"
    if percent >= 100:
        return "ec-cov-met"
    return "ec-cov-near" if percent >= NEAR_TARGET else "ec-cov-low"


def figures_view(
    figures: Mapping[str, Any], met_now: Mapping[str, Any], lang: str
) -> list[html.Div]:
    """The district's three figures, large: %, covered of total, the target, met now."""
    out = []
    for kind in PLACE_KINDS:
        f, m = figures["district"][kind], met_now["district"][kind]
        out.append(
            html.Div(
                [
                    html.Div(t(f"coverage.figure.{kind}", lang), className="ec-cov-figure-label"),
                    html.Div(_percent(f), className="ec-cov-figure-value"),
                    html.Div(
                        t("coverage.places", lang).format(covered=f["covered"], total=f["total"]),
                        className="ec-cov-figure-count",
                    ),
                    html.Div(
                        [
                            html.Span(t("coverage.target", lang), className="ec-cov-target"),
                            html.Span(
                                t("coverage.met_now", lang).format(
                                    covered=m["covered"], total=m["total"]
                                )
                            ),
                        ],
                        className="ec-cov-figure-foot",
                    ),
                ],
                className=f"ec-cov-figure ec-cov-figure-{kind} {level_class(f.get('percent'))}",
                style={"borderTopColor": KIND_COLOURS[kind]},
            )
        )
    return out


def subdistricts_view(figures: Mapping[str, Any], lang: str) -> html.Table:
    """Per sub-district and place kind: % and covered / total, in a compact table."""
    head = html.Tr(
        [html.Th(t("coverage.subdistrict", lang))]
        + [html.Th(t(f"coverage.place.{k}", lang)) for k in PLACE_KINDS]
    )
    rows = []
    for sd in Subdistrict:
        kinds = figures.get(sd.value)
        if not kinds:
            continue
        rows.append(
            html.Tr(
                [html.Th(t(f"subdistrict.{sd.value}", lang), scope="row")]
                + [
                    html.Td(
                        [
                            html.Span(_percent(kinds[k]), className="ec-cov-cell-value"),
                            html.Span(
                                f"{kinds[k]['covered']}/{kinds[k]['total']}",
                                className="ec-cov-cell-count",
                            ),
                        ],
                        className=level_class(kinds[k].get("percent")),
                    )
                    for k in PLACE_KINDS
                ]
            )
        )
    return html.Table(
        [html.Caption(t("coverage.by_subdistrict", lang)), html.Thead(head), html.Tbody(rows)],
        className="ec-cov-table",
    )


TABLE_COLUMNS = (
    "place",
    "kind",
    "subdistrict",
    "owner",
    "last_visit",
    "hours_since",
    "requirement_h",
)


def table_columns(lang: str) -> list[dict[str, Any]]:
    names = {
        "place": "coverage.col.place",
        "kind": "coverage.col.kind",
        "subdistrict": "coverage.col.subdistrict",
        "owner": "coverage.col.owner",
        "last_visit": "coverage.col.last_visit",
        "hours_since": "coverage.col.hours_since",
        "requirement_h": "coverage.col.requirement",
    }
    return [
        {
            "id": c,
            "name": t(names[c], lang),
            "type": "numeric" if c in ("hours_since", "requirement_h") else "text",
        }
        for c in TABLE_COLUMNS
    ]


def page_order(spots: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Never visited first, then the longest unvisited, then by label (a reader's order; the
    API's last key is the id, which for h3 cells reads as noise)."""
    return sorted(
        spots, key=lambda s: (s["last_visit_ms"] is not None, s["last_visit_ms"] or 0, s["label"])
    )


def table_rows(spots: list[Mapping[str, Any]], lang: str) -> list[dict[str, Any]]:
    """The blind spots as table rows; `last_visit` sorts as text in time order (MM-DD HH:MM)."""
    return [
        {
            "id": s["id"],
            "place": s["label"],
            "kind": t(f"coverage.place.{s['kind']}", lang),
            "subdistrict": t(f"subdistrict.{s['subdistrict']}", lang),
            "owner": s["owner"],
            "last_visit": local_stamp(s["last_visit_ms"]) or t("coverage.never", lang),
            "hours_since": s["hours_since"],
            "requirement_h": s["requirement_h"],
        }
        for s in page_order(spots)
    ]


CSV_HEADERS = (
    "field.id",
    "coverage.col.place",
    "coverage.col.kind",
    "coverage.col.subdistrict",
    "coverage.col.community",
    "coverage.col.owner",
    "coverage.col.requirement",
    "coverage.col.last_visit",
    "coverage.col.hours_since",
    "coverage.col.last_unit",
)


def blind_spots_csv(spots: list[Mapping[str, Any]], lang: str) -> str:
    """The blind spots as CSV (views/csv_export.py), with the responsible person, the last visit
    (local time, ISO 8601) and the last unit."""
    rows = [
        (
            s["id"],
            s["label"],
            t(f"coverage.place.{s['kind']}", lang),
            t(f"subdistrict.{s['subdistrict']}", lang),
            s.get("community") or "",
            s["owner"],
            s["requirement_h"],
            local_stamp(s["last_visit_ms"], seconds=True) or t("coverage.never", lang),
            "" if s["hours_since"] is None else s["hours_since"],
            s.get("last_unit") or "",
        )
        for s in page_order(spots)
    ]
    return csv_export.write([t(k, lang) for k in CSV_HEADERS], rows)


def trend_figure(trend: list[Mapping[str, Any]], lang: str) -> go.Figure:
    """Land, coast and sea % per day for the district, with the 100% target dashed."""
    days = [d["day"] for d in trend]
    fig = go.Figure()
    for kind in PLACE_KINDS:
        fig.add_trace(
            go.Scatter(
                x=days,
                y=[d["figures"]["district"][kind]["percent"] for d in trend],
                name=t(f"coverage.figure.{kind}", lang),
                mode="lines+markers",
                line={"color": KIND_COLOURS[kind], "width": 3},
                marker={"size": 8},
                hovertemplate="%{x}: %{y:.0f}%<extra>%{fullData.name}</extra>",
            )
        )
    fig.add_hline(
        y=100,
        line={"color": "#1a9641", "dash": "dash", "width": 2},
        annotation_text=t("coverage.target", lang),
        annotation_position="top left",
        annotation_font={"size": 14, "color": "#14461f"},
    )
    fig.update_layout(
        margin={"l": 48, "r": 12, "t": 12, "b": 36},
        height=270,
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
        font={"size": 15, "color": "#14202e"},
        legend={"orientation": "h", "y": -0.18, "x": 0},
        yaxis={"range": [0, 109], "ticksuffix": "%", "gridcolor": "#e3e8ee"},
        xaxis={"type": "category", "gridcolor": "#e3e8ee"},
    )
    return fig


def _reason(check: Mapping[str, Any], lang: str) -> str:
    flag = str(check.get("flag"))
    text = t(f"coverage.flag.{flag}", lang)
    if flag == "too_brief":
        text = text.format(s=round(float(check.get("longest_stay_s") or 0)))
    return text


def logs_view(logs: list[Mapping[str, Any]], places: Mapping[str, Place], lang: str) -> list[Any]:
    """Flagged patrol logs, newest first: who, which window, and each unsupported claim."""
    flagged = [g for g in logs if g.get("flagged")]
    if not flagged:
        return [html.P(t("coverage.logs.none", lang), className="ec-feed-empty")]
    items = []
    for g in flagged:
        claims = [
            html.Li(
                [
                    html.Strong(
                        places[c["place_id"]].label
                        if c.get("place_id") in places
                        else str(c.get("place_id"))
                    ),
                    f" — {_reason(c, lang)}",
                ]
            )
            for c in g.get("checks", [])
            if c.get("flag") != "ok"
        ]
        items.append(
            html.Li(
                [
                    html.Div(
                        [
                            html.Span(
                                t("coverage.logs.head", lang).format(
                                    unit=g["unit_id"],
                                    start=local_stamp(g["from_ms"]),
                                    end=local_stamp(g["to_ms"]),
                                    by=g.get("by") or "—",
                                )
                            ),
                            html.Span(
                                t("coverage.logs.flagged", lang).format(n=g["flagged"]),
                                className="ec-late",
                            ),
                        ],
                        className="ec-alert-head",
                    ),
                    html.Ul(claims, className="ec-cov-claims"),
                ],
                className="ec-alert-item ec-severity-warning",
            )
        )
    return [html.Ol(items, className="ec-feed-list")]
