"""The live map's refresh callback over HTTP: it sends nothing while the live version (and the
viewer's language, kept in their session) are unchanged, and fresh GeoJSON once they move."""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis
from flask import Flask
from flask.testing import FlaskClient

from callbacks.map import SNAPSHOT_MAX_AGE_S
from config.settings import Settings
from dashboard import roles
from dashboard.viewer import LANG_KEY
from ingest import units
from ingest.context import HandlerContext
from layouts.map import Ids
from store import snapshots, users
from store.writer import LiveStore
from tests.helpers import PASSWORD, callback_body, callback_response, make_app, signed_in


def _refresh_body(c: FlaskClient, last: object, lang: str = "zh") -> dict[str, Any]:
    """The refresh as the page posts it, from a user whose session is in `lang`."""
    with c.session_transaction() as session:
        session[LANG_KEY] = lang  # what the header's switch keeps there
    deps = c.get("/_dash-dependencies").get_json()
    (dep,) = [d for d in deps if f"{Ids.COUNTS}.children" in d["output"]]
    body = callback_body(dep)
    (version,) = [s for s in body["state"] if s["id"] == Ids.VERSION]
    version["value"] = last
    return body


def _write_unit(r: redis.Redis, unit_id: str, seq: int) -> None:
    payload = orjson.dumps(
        {
            "unit_id": unit_id,
            "seq": seq,
            "ts": 1_764_300_000_000 + seq,
            "lat": 22.6,
            "lon": 114.45,
            "status": "available",
        }
    )
    LiveStore(r, 3_600_000, 1000).write(
        units.handle_position(unit_id, payload, HandlerContext(received_ms=0)), 0
    )


def test_refresh_sends_nothing_until_the_version_or_language_moves(
    settings: Settings, r: redis.Redis
) -> None:
    users.create_user(r, "duty", roles.OPERATOR, PASSWORD)
    server: Flask = make_app(settings)
    c = signed_in(server, "duty")
    _write_unit(r, "U-1", 1)
    v = snapshots.version(r)

    out = callback_response(c, _refresh_body(c, None))
    assert Ids.UNITS not in out  # units, vessels and sensors are pushed (tests/test_live_stream)
    assert "1" in str(out[Ids.COUNTS]["children"])  # one unit counted
    seen = out[Ids.VERSION]["data"]
    assert seen == {"version": v, "lang": "zh", "wall": False, "alerts": []}
    assert out[Ids.FEED]["children"]  # "no open alerts"

    same = _refresh_body(c, seen)
    assert callback_response(c, same) == {}  # every output no_update: nothing goes over the wire
    assert Ids.COUNTS in callback_response(c, _refresh_body(c, seen, "en"))
    same = _refresh_body(c, seen)  # back in Chinese
    assert callback_response(c, same) == {}
    _write_unit(r, "U-2", 1)
    assert snapshots.version(r) != v
    # screens share one snapshot per process, rebuilt at most every SNAPSHOT_MAX_AGE_S
    assert callback_response(c, same) == {}
    # a sleep on purpose: the time passing is what is tested (the cache reads time.monotonic())
    time.sleep(SNAPSHOT_MAX_AGE_S)
    moved = callback_response(c, same)
    assert "2" in str(moved[Ids.COUNTS]["children"])  # two units counted now
    assert Ids.FEED not in moved and Ids.ALERTS not in moved  # the alerts did not change
