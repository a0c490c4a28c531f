"""What the coverage page's map draws, as plain GeoJSON: presence hexagons split into classes of a
sequential colour scale (one layer per class, see layouts/coverage.py), the place grid with
tooltips, blind cells and coast segments visited or blind; the layers' styles and the legend.
Pure: no Dash callbacks, no Redis."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from functools import lru_cache
from html import escape
from itertools import pairwise
from typing import Any

import h3
from dash import html
from shapely.geometry import mapping

from dashboard.i18n import t
from domain.coverage_places import CoverageGeography, Place
from domain.vocab import LOCAL_TZ

FeatureCollection = dict[str, Any]
# Lower bounds (hours) of the presence classes after the first, per window: a class means about
# the same share of the window whichever is chosen (one unit for a whole hour is the top class of
# the last hour; two units all day, of 7 days).
PRESENCE_BREAKS_H: dict[str, tuple[float, ...]] = {
    "hour": (0.1, 0.25, 0.5, 1.0),
    "today": (0.5, 1.0, 2.0, 4.0),
    "7d": (2.0, 4.0, 8.0, 16.0),
}
COORD_DECIMALS = 5  # ~1 m, as the coverage files

# Layer styles (static per layer: the colour of a presence class is its layer's, so no browser
# style function is needed). Blind coast segments are dashed as well as red, for colour-blind eyes.
GRID_STYLE = {"color": "#5f6f7f", "weight": 0.7, "opacity": 0.7, "fillOpacity": 0}
BLIND_STYLE = {
    "color": "#d7191c",
    "weight": 3,
    "opacity": 0.95,
    "fillColor": "#d7191c",
    "fillOpacity": 0.06,
}
COAST_OK_STYLE = {"color": "#1a9641", "weight": 5, "opacity": 0.95}
COAST_BLIND_STYLE = {"color": "#d7191c", "weight": 5, "opacity": 0.95, "dashArray": "10 6"}
# Sequential, light to dark (ColorBrewer YlGnBu without its palest step, which vanishes on the
# basemap's land colour); one GeoJSON layer per class.
PRESENCE_COLOURS = ("#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494")


def presence_style(colour: str) -> dict[str, object]:
    return {"color": colour, "weight": 0.5, "fillColor": colour, "fillOpacity": 0.7}


def _collection(features: list[dict[str, Any]]) -> FeatureCollection:
    return {"type": "FeatureCollection", "features": features}


def presence_class(hours: float, window: str) -> int:
    """The colour class (0 = palest) of a hexagon with this much presence in the window."""
    return sum(1 for b in PRESENCE_BREAKS_H[window] if hours >= b)


def hexagon(cell: str) -> dict[str, Any]:
    """An h3 cell as a GeoJSON polygon (lon/lat, closed ring)."""
    ring = [
        [round(lng, COORD_DECIMALS), round(lat, COORD_DECIMALS)]
        for lat, lng in h3.cell_to_boundary(cell)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def presence_layers(presence_s: Mapping[str, float], window: str) -> list[FeatureCollection]:
    """One FeatureCollection per colour class (PRESENCE_COLOURS order); odd cell ids are skipped."""
    classes: list[list[dict[str, Any]]] = [[] for _ in PRESENCE_COLOURS]
    for cell, seconds in sorted(presence_s.items()):
        if seconds <= 0 or not h3.is_valid_cell(cell):
            continue
        hours = seconds / 3600
        classes[presence_class(hours, window)].append(
            {
                "type": "Feature",
                "geometry": hexagon(cell),
                "properties": {"id": f"presence:{cell}", "hours": round(hours, 2)},
            }
        )
    return [_collection(f) for f in classes]


def legend_rows(window: str) -> list[tuple[str, str]]:
    """(colour, label in hours) per presence class, palest first."""
    breaks = PRESENCE_BREAKS_H[window]
    labels = [f"< {breaks[0]:g}"]
    labels += [f"{lo:g} – {hi:g}" for lo, hi in pairwise(breaks)]
    labels.append(f"≥ {breaks[-1]:g}")
    return list(zip(PRESENCE_COLOURS, labels, strict=True))


def legend_view(window: str, lang: str) -> list[Any]:
    def swatch(style: dict[str, Any], cls: str) -> html.Span:
        return html.Span(
            className=f"ec-cov-swatch {cls}",
            style={
                "borderColor": style["color"],
                "borderStyle": "dashed" if style.get("dashArray") else "solid",
            },
        )

    classes = [
        html.Span(
            [html.Span(className="ec-cov-swatch", style={"background": c}), label],
            className="ec-cov-legend-item",
        )
        for c, label in legend_rows(window)
    ]
    return [
        html.Div(
            [html.Strong(t("coverage.legend.presence", lang)), *classes],
            className="ec-cov-legend-row",
        ),
        html.Div(
            [
                html.Span(
                    [swatch(BLIND_STYLE, "ec-cov-swatch-cell"), t("coverage.legend.blind", lang)],
                    className="ec-cov-legend-item",
                ),
                html.Span(
                    [
                        swatch(COAST_OK_STYLE, "ec-cov-swatch-line"),
                        t("coverage.legend.coast_ok", lang),
                    ],
                    className="ec-cov-legend-item",
                ),
                html.Span(
                    [
                        swatch(COAST_BLIND_STYLE, "ec-cov-swatch-line"),
                        t("coverage.legend.coast_blind", lang),
                    ],
                    className="ec-cov-legend-item",
                ),
            ],
            className="ec-cov-legend-row",
        ),
    ]


def _rounded(c: Any) -> Any:
    if isinstance(c, float):
        return round(c, COORD_DECIMALS)
    return [_rounded(x) for x in c]


@lru_cache(maxsize=4)
def geometries(geo: CoverageGeography) -> dict[str, dict[str, Any]]:
    """Place id -> GeoJSON geometry, converted once per process (the places never change)."""
    out = {}
    for pid, g in geo.geoms.items():
        m = mapping(g)
        out[pid] = {"type": m["type"], "coordinates": _rounded(m["coordinates"])}
    return out


def place_cell(place: Place) -> str | None:
    """The h3 cell a land or sea place is, when it is one (surveyed polygons are not)."""
    cell = place.id.removeprefix("sea-") if place.kind == "sea" else place.id
    return cell if place.kind != "coast" and h3.is_valid_cell(cell) else None


def local_stamp(ms: int | None, seconds: bool = False) -> str:
    """A time in the district's time zone: `11-05 14:03`, or in full for files."""
    if ms is None:
        return ""
    d = dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ)
    return d.isoformat(timespec="seconds") if seconds else d.strftime("%m-%d %H:%M")


def last_visit_text(last_ms: int | None, now_ms: int, lang: str) -> str:
    if last_ms is None:
        return t("coverage.never", lang)
    ago = t("coverage.hours_ago", lang).format(hours=f"{(now_ms - last_ms) / 3_600_000:.1f}")
    return f"{local_stamp(last_ms)} ({ago})"


def tooltip(
    place: Place,
    owner: str,
    last_ms: int | None,
    now_ms: int,
    lang: str,
    presence_h: float | None = None,
) -> str:
    """The tooltip of a place (HTML: Leaflet shows it as markup, so every value is escaped)."""
    lines = [
        f"<b>{escape(place.label)}</b> · {escape(t('coverage.place.' + place.kind, lang))}"
        f" · {escape(t('subdistrict.' + place.subdistrict, lang))}",
        f"{escape(t('coverage.owner', lang))}: {escape(owner)}",
        f"{escape(t('coverage.last_visit', lang))}: "
        f"{escape(last_visit_text(last_ms, now_ms, lang))}",
    ]
    if presence_h:
        lines.append(escape(t("coverage.presence", lang).format(hours=f"{presence_h:.1f}")))
    return "<br>".join(lines)


def place_layers(
    geo: CoverageGeography,
    owners: Mapping[str, str],
    last: Mapping[str, int],
    blind_ids: Iterable[str],
    presence_s: Mapping[str, float],
    now_ms: int,
    lang: str,
) -> dict[str, FeatureCollection]:
    """The grid (every land and sea cell), blind cells, and coast segments visited / blind."""
    blind = set(blind_ids)
    shapes = geometries(geo)
    layers: dict[str, list[dict[str, Any]]] = {
        "grid": [],
        "blind": [],
        "coast_ok": [],
        "coast_blind": [],
    }
    for pid, place in geo.places.items():
        cell = place_cell(place)
        seconds = presence_s.get(cell, 0.0) if cell else 0.0
        feature = {
            "type": "Feature",
            "geometry": shapes[pid],
            "properties": {
                "id": pid,
                "tooltip": tooltip(
                    place, owners.get(pid, place.owner), last.get(pid), now_ms, lang, seconds / 3600
                ),
            },
        }
        if place.kind == "coast":
            layers["coast_blind" if pid in blind else "coast_ok"].append(feature)
        else:
            layers["blind" if pid in blind else "grid"].append(feature)
    return {k: _collection(v) for k, v in layers.items()}
