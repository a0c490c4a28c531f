"""The coverage API and patrol logs (留痕) over HTTP and MQTT, with a real Redis, the real worker
and a real broker: figures per window, blind spots with owners, and every false claim of a log
flagged by name while true claims pass."""

from __future__ import annotations

import time

import orjson
import pytest
import redis
from flask import Flask

from config.settings import Settings
from domain.clock import fixed
from ingest import units as unit_handlers
from ingest.context import HandlerContext
from store import keys, patrol_logs, users
from store.writer import LiveStore
from tests.helpers import (
    CELL,
    CELL_LAT,
    CELL_LON,
    PASSWORD,
    Publisher,
    assert_matches_spec,
    client,
    local_date,
    local_ms,
    make_app,
    post_json,
    signed_in,
    wait_for,
)

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
OTHER_CELL = "87411c132ffffff"  # kuichong-12, all land, never entered below
SEA_CELL = "sea-87411cc0dffffff"


def _walked(r: redis.Redis, uid: str = "F-1", seconds: int = 90) -> int:
    """A foot patrol's profile and a track around CELL's centre, written as the worker does;
    returns the track's first time."""
    t0 = time.time_ns() // 1_000_000 - 600_000
    ctx = HandlerContext(received_ms=t0)
    ops = unit_handlers.handle_profile(
        uid,
        orjson.dumps(
            {
                "unit_id": uid,
                "ts": t0,
                "name": uid,
                "department": "forestry",
                "kind": "foot",
                "level": "community",
            }
        ),
        ctx,
    )
    for i, s in enumerate(range(0, seconds + 1, 10)):
        ops += unit_handlers.handle_position(
            uid,
            orjson.dumps(
                {
                    "unit_id": uid,
                    "seq": i + 1,
                    "ts": t0 + s * 1000,
                    "lat": CELL_LAT,
                    "lon": CELL_LON + s * 1e-6,
                    "status": "available",
                }
            ),
            ctx,
        )
    LiveStore(r, 3_600_000, 100).write(ops, t0)
    return t0


def _log(t0: int, places: list[str], **over: object) -> dict:
    return {
        "unit_id": "F-1",
        "ts": t0 + 300_000,
        "from_ms": t0 - 60_000,
        "to_ms": t0 + 200_000,
        "places": places,
        **over,
    }


def test_coverage_answers_every_signed_in_role_per_window(server: Flask) -> None:
    assert client(server).get("/api/v1/coverage").status_code == 401
    for role in ("operator", "leader", "dispatcher", "admin"):
        body = signed_in(server, role).get("/api/v1/coverage?window=7d").get_json()
        assert set(body["figures"]) == {"district", "kuichong", "dapeng", "nanao"}
    leader = signed_in(server, "leader")
    body = leader.get("/api/v1/coverage").get_json()
    assert_matches_spec(body, "/api/v1/coverage")
    assert body["window"] == "today"
    assert body["figures"]["district"]["land"] == {"covered": 0, "total": 93, "percent": 0.0}
    assert len(body["blind_spots"]) == 93 + 38 + 62  # nothing patrolled yet: every place
    assert all(b["owner"] for b in body["blind_spots"])
    for bad in ("window=year", "kind=submarine", "department=police", "window="):
        resp = leader.get(f"/api/v1/coverage?{bad}")
        assert resp.status_code == 422 and resp.get_json()["error"], bad


def test_windows_are_whole_local_days_at_any_hour(
    settings: Settings, r: redis.Redis, instant: int
) -> None:
    users.create_user(r, "leader", "leader", PASSWORD)
    leader = signed_in(make_app(settings, clock=fixed(instant)), "leader")
    midnight = local_ms(local_date(instant))
    # one land cell patrolled just before local midnight, another just after it
    r.zadd(keys.COVERAGE_LAST, {CELL: midnight - 10 * MIN, OTHER_CELL: midnight + MIN})
    # just after midnight the last hour holds both, later neither
    in_last_hour = 2 if instant - HOUR <= midnight - 10 * MIN else 0
    for window, start, covered in (
        ("hour", instant - HOUR, in_last_hour),
        ("today", midnight, 1),
        ("7d", midnight - 6 * DAY, 2),
    ):
        body = leader.get(f"/api/v1/coverage?window={window}").get_json()
        assert (body["from_ms"], body["to_ms"]) == (start, instant), window
        assert body["figures"]["district"]["land"]["covered"] == covered, window
    trend = leader.get("/api/v1/coverage").get_json()["trend"]
    assert trend[-1]["day"] == str(local_date(instant))


def test_a_log_claiming_a_cell_the_track_never_entered_is_flagged_by_name(
    server: Flask, r: redis.Redis
) -> None:
    from domain.coverage_places import load_coverage
    from ingest.coverage import grid_resolution
    from store import coverage

    t0 = _walked(r)
    chief = signed_in(server, "dispatcher")
    assert post_json(signed_in(server, "leader"), "/api/v1/patrol-logs", _log(t0, [CELL]))[0] == 403
    assert (
        post_json(signed_in(server, "operator"), "/api/v1/patrol-logs", _log(t0, [CELL]))[0] == 403
    )
    status, out = post_json(
        chief, "/api/v1/patrol-logs", _log(t0, [CELL, OTHER_CELL, "no-such-place", SEA_CELL])
    )
    assert status == 201, out
    assert_matches_spec(out, "/api/v1/patrol-logs", "post", "201")
    flags = {c["place_id"]: c["flag"] for c in out["checks"]}
    assert flags == {
        CELL: "ok",
        OTHER_CELL: "not_visited",
        "no-such-place": "unknown_place",
        SEA_CELL: "wrong_kind",
    }  # a walker's log claiming a sea cell
    assert out["flagged"] == 3
    (kept,) = patrol_logs.recent(r, flagged_only=True)
    assert kept["by"] == "dispatcher" and kept["source"] == "api"
    listed = signed_in(server, "leader").get("/api/v1/patrol-logs?flagged=1").get_json()
    assert [i["id"] for i in listed["items"]] == [out["id"]]
    assert_matches_spec(listed, "/api/v1/patrol-logs")
    assert signed_in(server, "leader").get("/api/v1/patrol-logs?flagged=yes").status_code == 422
    # coverage itself comes from the same track once the worker folds it in
    cov = load_coverage()
    coverage.CoverageRecorder(r, cov, grid_resolution(cov)).record(
        [
            coverage.UnitPosition("F-1", t0 + s * 1000, CELL_LON + s * 1e-6, CELL_LAT)
            for s in range(0, 91, 10)
        ]
    )
    body = chief.get("/api/v1/coverage?window=7d&kind=foot").get_json()
    assert body["figures"]["district"]["land"]["covered"] == 1
    assert CELL not in {b["id"] for b in body["blind_spots"]}


@pytest.mark.parametrize(
    "bad",
    [
        {"places": []},
        {"places": ["x" * 65]},
        {"places": ["a/b"]},
        {"to_ms": 0},
        {"from_ms": "1"},
        {"to_ms": None},
        {"places": "87411cc4cffffff"},
        {"surprise": 1},
        {"unit_id": "NOBODY"},
        {"unit_id": "../x"},
    ],
)
def test_bad_logs_are_refused_and_nothing_is_kept(server: Flask, r: redis.Redis, bad: dict) -> None:
    t0 = _walked(r)
    body = {**_log(t0, [CELL]), **bad}
    if bad == {"to_ms": 0}:
        body["to_ms"] = body["from_ms"]  # an empty window
    status, out = post_json(signed_in(server, "dispatcher"), "/api/v1/patrol-logs", body)
    assert status == 422 and out["error"], (status, out)
    assert patrol_logs.recent(r) == []


def test_a_log_longer_than_a_week_or_not_json_is_refused(server: Flask, r: redis.Redis) -> None:
    t0 = _walked(r)
    chief = signed_in(server, "dispatcher")
    status, out = post_json(
        chief, "/api/v1/patrol-logs", _log(t0, [CELL], from_ms=t0 - 8 * 86_400_000)
    )
    assert status == 422 and "7 days" in out["error"]
    assert post_json(chief, "/api/v1/patrol-logs", "not json")[0] == 400
    assert post_json(chief, "/api/v1/patrol-logs", [1, 2])[0] == 400
    assert patrol_logs.recent(r) == []


def test_a_log_over_mqtt_is_checked_and_kept_once(
    r: redis.Redis, running_worker, publisher: Publisher
) -> None:
    running_worker()
    t0 = _walked(r)
    payload = orjson.dumps(_log(t0, [CELL, OTHER_CELL]))
    publisher.publish("ecocommand/units/F-1/patrol-log", payload)
    publisher.publish("ecocommand/units/F-1/patrol-log", payload)  # redelivered
    publisher.publish("ecocommand/units/F-2/patrol-log", payload)  # not its own topic
    (log,) = wait_for(lambda: patrol_logs.recent(r), 3.0, "the checked log")
    assert (log["source"], log["flagged"]) == ("mqtt", 1)
    assert [(c["place_id"], c["flag"]) for c in log["checks"]] == [
        (CELL, "ok"),
        (OTHER_CELL, "not_visited"),
    ]
    wait_for(lambda: r.xlen(keys.DEADLETTER) >= 1, 3.0, "the stranger dead-lettered")
    # a probe behind them: the worker takes a batch whole before it writes it, so once the
    # probe is dead-lettered the batch that held the redelivered copy is finished
    publisher.publish("ecocommand/units/F-3/patrol-log", payload)
    wait_for(lambda: r.xlen(keys.DEADLETTER) >= 2, 3.0, "the probe dead-lettered")
    assert len(patrol_logs.recent(r)) == 1


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"[]",
        b'{"unit_id": "F-1"}',
        orjson.dumps(
            {"unit_id": "F-1", "ts": 1_790_000_000_000, "from_ms": 2, "to_ms": 1, "places": ["x"]}
        ),
        orjson.dumps(
            {
                "unit_id": "F-1",
                "ts": 1_790_000_000_000,
                "from_ms": 1_790_000_000_000,
                "to_ms": 1_790_000_100_000,
                "places": ["x"] * 201,
            }
        ),
        orjson.dumps(
            {
                "unit_id": "F-1",
                "ts": "1790000000000",
                "from_ms": 1_790_000_000_000,
                "to_ms": 1_790_000_100_000,
                "places": ["x"],
            }
        ),
    ],
)
def test_malformed_logs_over_mqtt_are_dead_lettered_with_a_reason(payload: bytes) -> None:
    from ingest.router import Router
    from store.ops import DeadLetter

    (out,) = Router("ecocommand", 65_536, 300).handle(
        "ecocommand/units/F-1/patrol-log", payload, HandlerContext(received_ms=0)
    )
    assert isinstance(out, DeadLetter) and out.reason and out.detail
