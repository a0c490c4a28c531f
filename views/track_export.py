"""A track for the case file: GeoJSON (one LineString, the points' times beside it), GPX 1.1
(a track segment of trkpt with their time) and CSV (the project's one guarded writer). Pure:
from the track API's answer (services/tracks.py, services/personal.py) to text."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from views import csv_export

FORMATS = ("json", "geojson", "gpx", "csv")
GPX_NS = "http://www.topografix.com/GPX/1/1"
MEDIA = {
    "geojson": "application/geo+json",
    "gpx": "application/gpx+xml",
    "csv": "text/csv; charset=utf-8",
}
EXTRA = {"unit": ("speed_kmh", "course"), "vessel": ("sog_kn", "cog")}


def iso(ms: int) -> str:
    """UTC with milliseconds and a Z, as GPX wants its times."""
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def filename(kind: str, entity_id: str, from_ms: int, to_ms: int, fmt: str) -> str:
    """`track-unit-U-1-20261201T0000Z-20261201T0100Z.gpx` (ids are checked ASCII)."""

    def stamp(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y%m%dT%H%MZ")

    return f"track-{kind}-{entity_id}-{stamp(from_ms)}-{stamp(to_ms)}.{fmt}"


def geojson(kind: str, entity_id: str, track: Mapping[str, Any]) -> str:
    pts: Sequence[Mapping[str, Any]] = track["points"]
    coords = [[p["lon"], p["lat"]] for p in pts]
    geometry: dict[str, Any] | None = None
    if len(coords) >= 2:
        geometry = {"type": "LineString", "coordinates": coords}
    elif coords:
        geometry = {"type": "Point", "coordinates": coords[0]}
    props: dict[str, Any] = {
        "kind": kind,
        "id": entity_id,
        "from_ms": track["from_ms"],
        "to_ms": track["to_ms"],
        "times_ms": [p["ts"] for p in pts],  # one per coordinate, in order
        "times": [iso(p["ts"]) for p in pts],
    }
    for name in EXTRA[kind]:
        props[name] = [p.get(name) for p in pts]
    feature = {"type": "Feature", "geometry": geometry, "properties": props}
    return json.dumps({"type": "FeatureCollection", "features": [feature]}, ensure_ascii=False)


def gpx(kind: str, entity_id: str, track: Mapping[str, Any]) -> str:
    ET.register_namespace("", GPX_NS)
    root = ET.Element(f"{{{GPX_NS}}}gpx", {"version": "1.1", "creator": "ecocommand"})
    meta = ET.SubElement(root, f"{{{GPX_NS}}}metadata")
    ET.SubElement(meta, f"{{{GPX_NS}}}name").text = f"{kind} {entity_id}"
    ET.SubElement(meta, f"{{{GPX_NS}}}time").text = iso(track["generated_ms"])
    trk = ET.SubElement(root, f"{{{GPX_NS}}}trk")
    ET.SubElement(trk, f"{{{GPX_NS}}}name").text = f"{kind} {entity_id}"
    seg = ET.SubElement(trk, f"{{{GPX_NS}}}trkseg")
    for p in track["points"]:
        pt = ET.SubElement(
            seg, f"{{{GPX_NS}}}trkpt", {"lat": repr(p["lat"]), "lon": repr(p["lon"])}
        )
        ET.SubElement(pt, f"{{{GPX_NS}}}time").text = iso(p["ts"])
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def csv(kind: str, entity_id: str, track: Mapping[str, Any]) -> str:
    extra = EXTRA[kind]
    header = ["id", "time_utc", "ts_ms", "lat", "lon", *extra]
    rows = (
        [entity_id, iso(p["ts"]), p["ts"], p["lat"], p["lon"], *(p.get(n, "") for n in extra)]
        for p in track["points"]
    )
    return csv_export.write(header, rows)


WRITERS = {"geojson": geojson, "gpx": gpx, "csv": csv}


def render(kind: str, entity_id: str, track: Mapping[str, Any], fmt: str) -> tuple[str, str, str]:
    """(body, media type, download file name) of a track in one of the export formats."""
    body = WRITERS[fmt](kind, entity_id, track)
    name = filename(kind, entity_id, track["from_ms"], track["to_ms"], fmt)
    return body, MEDIA[fmt], name
