"""Acceptance 4 of issue 18: a track written 3 days ago by the simulated history is answered by
the track API from the archive, and its GPX export opens in an independent GPX parser (gpxpy)
with the same points. The history adds nothing twice and never writes an hour Redis still holds
(the worker archives those from the real data). Real Redis, real files, the real app."""

from __future__ import annotations

import datetime as dt
import time

import gpxpy
import redis
from flask import Flask

from config.settings import Settings
from domain.geo import Geography
from domain.vocab import LOCAL_TZ
from simulator import history_tracks
from store import archive
from store.archive import HOUR_MS
from tests.helpers import signed_in

UNITS = (
    "U-FM-001",
    "U-EE-009",
)  # a boat and an officer on foot of the demo fleet: a few days stay fast


def test_a_patrol_three_days_ago_comes_from_the_archive_and_opens_as_gpx(
    server: Flask, settings: Settings, r: redis.Redis, geo: Geography
) -> None:
    now = int(time.time() * 1000)
    base = archive.root(settings.data_dir)
    out = history_tracks.fill_tracks(r, base, geo, 4, now, 24 * HOUR_MS, seed=7, unit_ids=UNITS)
    assert out["rows"] > 0
    written = archive.written_hours(r, "unit")
    assert max(written) < archive.floor_hour(now - 24 * HOUR_MS)  # Redis's hours left to the worker
    again = history_tracks.fill_tracks(r, base, geo, 4, now, 24 * HOUR_MS, 7, unit_ids=UNITS)
    assert again["rows"] == 0  # nothing twice

    day = dt.datetime.fromtimestamp(now / 1000, LOCAL_TZ).date() - dt.timedelta(days=3)
    start = int(dt.datetime.combine(day, dt.time(9, 0), LOCAL_TZ).timestamp() * 1000)
    window = {"from": start, "to": start + 2 * HOUR_MS}
    chief = signed_in(server, "dispatcher")
    resp = chief.get(f"/api/v1/units/{UNITS[0]}/track", query_string=window)
    body = resp.get_json()
    assert resp.status_code == 200, body
    assert body["count"] == 120 and body["archived"] == 120  # one a minute, all from the archive
    assert [p["ts"] for p in body["points"]] == list(range(start, start + 2 * HOUR_MS, 60_000))
    assert len({(p["lat"], p["lon"]) for p in body["points"]}) > 1  # it moved: a patrol

    gpx_resp = chief.get(
        f"/api/v1/units/{UNITS[0]}/track", query_string={**window, "format": "gpx"}
    )
    parsed = gpxpy.parse(gpx_resp.get_data(as_text=True))
    points = [p for t in parsed.tracks for s in t.segments for p in s.points]
    assert [(p.latitude, p.longitude, int(p.time.timestamp() * 1000)) for p in points] == [
        (p["lat"], p["lon"], p["ts"]) for p in body["points"]
    ]
