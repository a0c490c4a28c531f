"""The track API (issue 18): a unit's or vessel's track over a window is what Redis still holds
and what the archive keeps, one answer in time order with each stored position once; exported
as GeoJSON, GPX 1.1 and CSV with a download name. Units' tracks stay personal data (duty chiefs,
leaders, admins); vessels' are for every console role. Real Redis, real files, the real app."""

from __future__ import annotations

import csv
import io
import json
import time

import gpxpy
import redis
from flask import Flask

from config.settings import Settings
from store import archive, keys
from store.archive import HOUR_MS
from tests.helpers import assert_matches_spec, signed_in


def arrived(r: redis.Redis, kind: keys.EntityKind, entity_id: str, at_ms: int, **fields: object):
    r.sadd(keys.index(kind), entity_id)
    return r.xadd(keys.track(kind, entity_id), {"ts": at_ms, **fields}, id=f"{at_ms}-0")


def archived(settings: Settings, r: redis.Redis, kind: keys.EntityKind, rows: list[dict]) -> None:
    """Rows written to the archive as the worker writes an hour (one hour per row's arrival)."""
    base = archive.root(settings.data_dir)
    by_hour: dict[int, list[dict]] = {}
    for row in rows:
        by_hour.setdefault(archive.floor_hour(int(row["stream_id"].split("-")[0])), []).append(row)
    for hour, hour_rows in by_hour.items():
        archive.mark_written(r, kind, archive.write_hour(base, kind, hour, hour_rows))


def test_recent_and_archived_positions_make_one_track(
    server: Flask, settings: Settings, r: redis.Redis
) -> None:
    now = int(time.time() * 1000)
    old = [now - 30 * HOUR_MS + i * 600_000 for i in range(6)]  # only in the archive now
    both = [now - 2 * HOUR_MS + i * 600_000 for i in range(3)]  # archived and still in Redis
    fresh = [now - 10 * 60_000 + i * 60_000 for i in range(3)]  # in Redis only
    for at in both + fresh:
        arrived(r, "unit", "U-9", at, lat=22.55, lon=114.5, speed_kmh=5.0, course=90.0)
    rows = [
        {"entity_id": "U-9", "stream_id": f"{at}-0", "ts": at, "lat": 22.5, "lon": 114.4}
        for at in old + both
    ]
    rows += [{"entity_id": "U-OTHER", "stream_id": f"{old[0]}-0", "ts": old[0], "lat": 1, "lon": 1}]
    archived(settings, r, "unit", rows)

    chief = signed_in(server, "dispatcher")
    resp = chief.get("/api/v1/units/U-9/track", query_string={"from": now - 31 * HOUR_MS})
    body = resp.get_json()
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert_matches_spec(body, "/api/v1/units/{unit_id}/track")
    assert [p["ts"] for p in body["points"]] == old + both + fresh  # each once, in time order
    assert body["archived"] == 6 and body["recorded"] is True
    assert body["kept_from_ms"] <= now - 180 * 86_400_000
    assert body["points"][-1] == {
        "ts": fresh[-1],
        "lat": 22.55,
        "lon": 114.5,
        "speed_kmh": 5.0,
        "course": 90.0,
    }
    # a window of the archive alone; one of Redis alone
    q = {"from": old[1], "to": old[3]}
    assert [
        p["ts"] for p in chief.get("/api/v1/units/U-9/track", query_string=q).json["points"]
    ] == old[1:3]
    q = {"from": fresh[0]}
    assert chief.get("/api/v1/units/U-9/track", query_string=q).json["archived"] == 0

    # operators do not read officers' tracks, from Redis or the archive
    operator = signed_in(server, "operator")
    assert operator.get("/api/v1/units/U-9/track").status_code == 403


def test_vessel_tracks_and_their_exports(server: Flask, settings: Settings, r: redis.Redis) -> None:
    now = int(time.time() * 1000)
    old = [now - 50 * HOUR_MS + i * 180_000 for i in range(4)]
    fresh = [now - 30 * 60_000 + i * 180_000 for i in range(3)]
    for i, at in enumerate(fresh):
        arrived(r, "vessel", "412345678", at, lat=22.4 + i / 1000, lon=114.6, sog_kn=9.5, cog=45.0)
    archived(
        settings,
        r,
        "vessel",
        [
            {
                "entity_id": "412345678",
                "stream_id": f"{at}-0",
                "ts": at,
                "lat": 22.3,
                "lon": 114.7,
                "sog_kn": 3.0,
                "cog": 270.0,
            }
            for at in old
        ],
    )
    operator = signed_in(server, "operator")  # public AIS: every console role
    window = {"from": now - 51 * HOUR_MS, "to": now + 1}
    resp = operator.get("/api/v1/vessels/412345678/track", query_string=window)
    body = resp.get_json()
    assert_matches_spec(body, "/api/v1/vessels/{mmsi}/track")
    assert [p["ts"] for p in body["points"]] == old + fresh and body["archived"] == 4

    gpx_resp = operator.get(
        "/api/v1/vessels/412345678/track", query_string={**window, "format": "gpx"}
    )
    assert gpx_resp.status_code == 200
    assert gpx_resp.headers["Content-Type"].startswith("application/gpx+xml")
    disposition = gpx_resp.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="track-vessel-412345678-')
    assert disposition.endswith('.gpx"')
    parsed = gpxpy.parse(gpx_resp.get_data(as_text=True))
    gpx_points = [p for t in parsed.tracks for s in t.segments for p in s.points]
    assert [(p.latitude, p.longitude) for p in gpx_points] == [
        (p["lat"], p["lon"]) for p in body["points"]
    ]
    assert [int(p.time.timestamp() * 1000) for p in gpx_points] == old + fresh

    geo = json.loads(
        operator.get(
            "/api/v1/vessels/412345678/track", query_string={**window, "format": "geojson"}
        ).get_data(as_text=True)
    )
    (feature,) = geo["features"]
    assert feature["geometry"]["type"] == "LineString"
    assert feature["geometry"]["coordinates"][0] == [114.7, 22.3]
    assert feature["properties"]["times_ms"] == old + fresh

    text = operator.get(
        "/api/v1/vessels/412345678/track", query_string={**window, "format": "csv"}
    ).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [int(row["ts_ms"]) for row in rows] == old + fresh and rows[0]["sog_kn"] == "3.0"

    assert operator.get("/api/v1/vessels/412345678/track?format=kml").status_code == 422
    assert operator.get("/api/v1/vessels/not-an-mmsi/track").status_code == 404
    assert operator.get("/api/v1/vessels/999999999/track").status_code == 404
