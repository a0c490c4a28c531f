"""Issue 18, acceptance 2, through the real broker (mosquitto) and the real ingest worker: with
AIS_GAP_MINUTES=1 a vessel heard under way in the district's waters and then silent raises an
AIS-gap alert, and the same vessel heard again 100 km away a minute later closes it and raises
a position-jump alert. Waits are generous timeouts, never latency assertions."""

from __future__ import annotations

import random
from typing import Any

import pytest
import redis
from pyais.encode import encode_dict

from config.settings import Settings
from domain.geo import Geography, haversine_m
from store import keys, snapshots
from tests.helpers import Publisher, wait_for

MMSI = 412_345_678
TOPIC = "ecocommand/ais/rx-watch/nmea"


@pytest.fixture
def settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The session's servers, with the gap read from the environment as a deployment sets it."""
    monkeypatch.setenv("AIS_GAP_MINUTES", "1")
    gap = Settings(_env_file=None).ais_gap_minutes
    assert gap == 1.0
    return settings.model_copy(update={"ais_gap_minutes": gap})


def _position(lon: float, lat: float, speed: float) -> str:
    """A class A position report (type 1) as a receiver emits it, without a tag block: its time
    is its receipt's."""
    msg = {
        "type": 1,
        "mmsi": MMSI,
        "status": 0,
        "lon": round(lon, 5),
        "lat": round(lat, 5),
        "speed": speed,
        "course": 80.0,
        "heading": 80,
        "accuracy": 1,
        "second": 30,
    }
    (line,) = encode_dict(msg, talker_id="AI", sentence_type="VDM", radio_channel="A")
    return line


def _open_of_kind(r: redis.Redis, kind: str) -> dict[str, Any] | None:
    return next((a for a in snapshots.open_alerts(r) if a.get("kind") == kind), None)


def test_a_vessel_that_goes_dark_then_jumps_100_km(
    r: redis.Redis, geo: Geography, running_worker, publisher: Publisher
) -> None:
    running_worker()
    lon, lat = geo.random_sea_point(random.Random(18), "district")
    publisher.publish(TOPIC, _position(lon, lat, 9.5))
    wait_for(lambda: r.zscore(keys.VESSELS_WATCHED, str(MMSI)), 10.0, "the vessel watched")

    gap = wait_for(lambda: _open_of_kind(r, "ais_gap"), 150.0, "the AIS-gap alert")
    assert gap["source"] == str(MMSI) and gap["severity"] == "warning"
    assert abs(gap["lon"] - lon) < 1e-4 and abs(gap["lat"] - lat) < 1e-4
    assert gap["sog_kn"] == 9.5 and gap["cog"] == 80.0 and gap["track"]

    far = (lon + 0.975, lat)  # about 100 km east, a minute or so after the last report
    assert 95_000 < haversine_m(lon, lat, *far) < 105_000
    publisher.publish(TOPIC, _position(*far, 9.5))
    jump = wait_for(lambda: _open_of_kind(r, "position_jump"), 60.0, "the position-jump alert")
    assert jump["source"] == str(MMSI) and abs(jump["lon"] - far[0]) < 1e-4
    assert float(jump["speed_kn"]) > 40
    closed = r.hgetall(keys.alert(gap["id"]))
    assert closed[b"close_reason"] == b"reappeared"
    assert _open_of_kind(r, "ais_gap") is None
