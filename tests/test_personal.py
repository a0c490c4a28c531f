"""Who may read what of personal data (issue 13): a caller's phone number is never answered
whole by the incident detail, listing or pages, only masked; duty chiefs, leaders and admins may
reveal it, and each reveal is recorded (`personal.phone_read`); operators may not. Numbers go
after PERSONAL_PHONE_KEEP_DAYS. An officer's track over a window reaching before today is
recorded (`personal.track_read`), within today not; operators may not read tracks. Real Redis,
the real app, at several local times of day."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings
from dashboard import roles
from dashboard.context import app_context
from domain import audit, personal
from domain.clock import fixed
from ingest import units as unit_handlers
from ingest.context import HandlerContext
from services import personal as service
from store import audit as log
from store import incidents, keys, users
from store.writer import LiveStore
from tests.helpers import (
    NEW_INCIDENT,
    PASSWORD,
    assert_matches_spec,
    callback_response,
    make_app,
    post_callback,
    post_json,
    signed_in,
)
from views.dispatch import PHONE, REVEAL

ACCESS = audit.Chain.ACCESS.value
NUMBER = "+86 138-0013-8000"
HIDDEN = ("0013", "13800138000", "138-0013")  # any of these in an answer gives the number away
DAY_MS = 86_400_000


def reads(r: redis.Redis, ref: str, action: str) -> list[dict[str, Any]]:
    return [e for e in log.trail(r, ACCESS, ref) if e["action"] == action]


def open_incident(c: FlaskClient, **more: Any) -> dict[str, Any]:
    status, inc = post_json(c, "/api/v1/incidents", {**NEW_INCIDENT, **more})
    assert status == 201, inc
    return inc


def test_masking() -> None:
    assert personal.mask_phone("13800138000") == "138****8000"
    assert personal.mask_phone(NUMBER) == "138****8000"  # the country code is not the number
    assert personal.mask_phone("0755-8888 6666") == "075****6666"
    assert personal.mask_phone("12345") == "****45" and personal.mask_phone("110") == "****"
    assert personal.clean_phone("  138  0013 8000 ") == "138 0013 8000"


def test_the_number_never_shows_in_detail_listing_or_pages(server: Flask, r: redis.Redis) -> None:
    chief = signed_in(server, "dispatcher")
    inc = open_incident(chief, reporter_phone=NUMBER, source="hotline")
    assert r.hget(keys.incident(inc["id"]), "reporter_phone") == NUMBER.encode()  # kept
    answers = [
        orjson.dumps(inc).decode(),
        signed_in(server, "operator").get(f"/api/v1/incidents/{inc['id']}").get_data(as_text=True),
        chief.get("/api/v1/incidents").get_data(as_text=True),
        chief.get("/api/v1/incidents?open=1&limit=5").get_data(as_text=True),
        orjson.dumps(_page_detail(chief, inc["id"])).decode(),
        orjson.dumps(_page_detail(signed_in(server, "operator"), inc["id"])).decode(),
    ]
    for text in answers:
        assert not any(h in text for h in HIDDEN), text[:300]
    assert (inc["has_reporter_phone"], inc["reporter_phone_masked"]) == (True, "138****8000")
    assert_matches_spec(inc, "/api/v1/incidents", "post", "201")
    assert "138****8000" in answers[4] and "查看完整号码" in answers[4]  # a chief may reveal
    assert "138****8000" in answers[5] and "查看完整号码" not in answers[5]  # an operator not
    plain = open_incident(chief)
    assert (plain["has_reporter_phone"], plain["reporter_phone_masked"]) == (False, None)
    assert reads(r, f"incident:{inc['id']}", "personal.phone_read") == []  # nothing read


@pytest.mark.parametrize(
    "bad", ["abc", "1" * 21, "", "   ", "138 0013 8000 ext. 5", "+86(755)1234", 13800138000]
)
def test_numbers_are_checked(server: Flask, r: redis.Redis, bad: object) -> None:
    status, body = post_json(
        signed_in(server, "dispatcher"),
        "/api/v1/incidents",
        {
            **NEW_INCIDENT,
            "reporter_phone": bad,
        },
    )
    assert status == 422 and "reporter_phone" in body["error"], body
    assert r.zcard(keys.INCIDENTS) == 0


def test_revealing_the_number_is_for_chiefs_leaders_admins_and_recorded(
    server: Flask, r: redis.Redis
) -> None:
    inc = open_incident(signed_in(server, "dispatcher"), reporter_phone=NUMBER)
    url, ref = f"/api/v1/incidents/{inc['id']}/contact", f"incident:{inc['id']}"
    resp = signed_in(server, "operator").get(url)
    assert resp.status_code == 403 and reads(r, ref, "personal.phone_read") == []
    for role in ("dispatcher", "leader", "admin"):
        resp = signed_in(server, role).get(url)
        assert resp.status_code == 200, (role, resp.get_json())
        assert resp.get_json() == {"incident_id": inc["id"], "reporter_phone": NUMBER}
        assert resp.headers["Cache-Control"] == "no-store"
        assert_matches_spec(resp.get_json(), "/api/v1/incidents/{incident_id}/contact")
    found = reads(r, ref, "personal.phone_read")
    assert [e["actor"] for e in found] == ["user:dispatcher", "user:leader", "user:admin"]
    assert all(e["object"] == ref for e in found)
    assert found[0]["digest"] == audit.digest_of({"incident": inc["id"]})

    plain = open_incident(signed_in(server, "dispatcher"))
    chief = signed_in(server, "dispatcher")
    assert chief.get(f"/api/v1/incidents/{plain['id']}/contact").status_code == 404
    assert chief.get("/api/v1/incidents/INC-nope/contact").status_code == 404
    assert reads(r, f"incident:{plain['id']}", "personal.phone_read") == []


def _page_detail(c: FlaskClient, incident_id: str) -> Any:
    deps = c.get("/_dash-dependencies").get_json()
    (dep,) = [d for d in deps if "dispatch-detail.children" in d["output"]]
    outs = [o.rsplit(".", 1) for o in dep["output"].strip(".").split("...")]
    body = {
        "output": dep["output"],
        "outputs": [{"id": i, "property": p} for i, p in outs],
        "changedPropIds": ["dispatch-selected.data"],
        # every input the callback has (the selection; the others as on a first draw)
        "inputs": [
            {**i, "value": incident_id if i["id"] == "dispatch-selected" else None}
            for i in dep["inputs"]
        ],
        "state": [],
    }
    return callback_response(c, body)["dispatch-detail"]


def _reveal(c: FlaskClient, incident_id: str) -> Any:
    """The page's "show the number" button clicked, as Dash's renderer posts it."""
    out_id, in_id = {"id": incident_id, "type": PHONE}, {"id": incident_id, "type": REVEAL}
    deps = c.get("/_dash-dependencies").get_json()
    (dep,) = [d for d in deps if PHONE in d["output"]]
    body = {
        "output": dep["output"],
        "outputs": {"id": out_id, "property": "children"},
        "changedPropIds": [orjson.dumps(in_id, option=orjson.OPT_SORT_KEYS).decode() + ".n_clicks"],
        "inputs": [{"id": in_id, "property": "n_clicks", "value": 1}],
        "state": [],
    }
    return post_callback(c, body)


def test_the_dispatch_page_reveals_the_number_and_records_it(server: Flask, r: redis.Redis) -> None:
    chief = signed_in(server, "dispatcher")
    inc = open_incident(chief, reporter_phone=NUMBER)
    resp = _reveal(chief, inc["id"])
    assert resp.status_code == 200 and NUMBER in resp.get_data(as_text=True)
    assert _reveal(signed_in(server, "operator"), inc["id"]).status_code == 403
    found = reads(r, f"incident:{inc['id']}", "personal.phone_read")
    assert [e["actor"] for e in found] == ["user:dispatcher"]


def test_numbers_are_erased_after_the_keep_days(server: Flask, r: redis.Redis) -> None:
    now = time.time_ns() // 1_000_000
    ids = {}
    for days in (400, 181, 179, 0):
        fields = {**NEW_INCIDENT, "reporter_phone": f"138001380{days:02d}"}
        ids[days] = incidents.create(r, fields, "chief", now - days * DAY_MS - 60_000).detail
    with server.app_context():
        ctx = app_context()
        assert ctx.settings.personal_phone_keep_days == 180
        assert service.erase_old_phones(ctx) == 2
        assert service.erase_old_phones(ctx) == 0  # already gone
        assert [service.has_reporter_phone(ctx, ids[d]) for d in (400, 181, 179, 0)] == [
            False,
            False,
            True,
            True,
        ]
    status = signed_in(server, "dispatcher").get(f"/api/v1/incidents/{ids[181]}/contact")
    assert status.status_code == 404 and "erased after 180 days" in status.get_json()["error"]


# -- officers' tracks ------------------------------------------------------------------------


def write_track(r: redis.Redis, unit_id: str, times: list[int]) -> None:
    """Positions of a unit at these device times, as the worker writes them (the stream's own
    ids are the real time of writing)."""
    store = LiveStore(r, 24 * 3_600_000, 1000)
    for seq, ts in enumerate(times):
        payload = {"unit_id": unit_id, "seq": seq, "ts": ts, "lat": 22.52, "lon": 114.54}
        ops = unit_handlers.handle_position(
            unit_id, orjson.dumps({**payload, "speed_kmh": 4.5}), HandlerContext(received_ms=ts)
        )
        store.write(ops, time.time_ns() // 1_000_000)


@pytest.fixture
def app_at(settings: Settings, r: redis.Redis, instant: int) -> Flask:
    """The app on a fixed clock at each of the test times of day, one account per role."""
    for role in roles.ROLES:
        users.create_user(r, role, role, PASSWORD)
    return make_app(settings, fixed(instant))


def track(c: FlaskClient, unit_id: str, **query: Any) -> tuple[int, dict[str, Any]]:
    resp = c.get(f"/api/v1/units/{unit_id}/track", query_string=query)
    return resp.status_code, resp.get_json()


def test_track_reads_before_today_are_recorded_within_today_not(
    app_at: Flask, r: redis.Redis, instant: int
) -> None:
    midnight = personal.start_of_local_day(instant)
    times = [midnight - 2 * 3_600_000, midnight - 60_000, midnight + 60_000, instant - 60_000]
    write_track(r, "U-7", times)
    chief, ref = signed_in(app_at, "dispatcher"), "unit:U-7"

    status, body = track(chief, "U-7", **{"from": midnight, "to": instant + 1})
    assert status == 200, body
    assert_matches_spec(body, "/api/v1/units/{unit_id}/track")
    assert [p["ts"] for p in body["points"]] == [midnight + 60_000, instant - 60_000]
    assert body["points"][0]["speed_kmh"] == 4.5 and body["recorded"] is False
    assert reads(r, ref, "personal.track_read") == []  # within today: not recorded

    status, body = track(chief, "U-7", **{"from": midnight - 1, "to": instant})
    assert status == 200 and body["recorded"] is True
    assert [p["ts"] for p in body["points"]] == [midnight + 60_000, instant - 60_000]
    (entry,) = reads(r, ref, "personal.track_read")
    assert entry["actor"] == "user:dispatcher" and entry["object"] == ref
    assert entry["digest"] == audit.digest_of({"from_ms": midnight - 1, "to_ms": instant})

    # ISO times are local (UTC+8); a leader reads yesterday evening
    status, body = track(
        signed_in(app_at, "leader"),
        "U-7",
        **{
            "from": _iso(midnight - 3 * 3_600_000),
            "to": _iso(midnight),
        },
    )
    assert status == 200 and body["recorded"] is True
    assert [p["ts"] for p in body["points"]] == times[:2]
    assert len(reads(r, ref, "personal.track_read")) == 2

    # by default the last hour: recorded only when that hour began yesterday (at 00:05)
    status, body = track(chief, "U-7")
    assert (body["from_ms"], body["to_ms"]) == (instant - 3_600_000, instant)
    assert body["recorded"] is (instant - 3_600_000 < midnight)


def _iso(ms: int) -> str:
    import datetime as dt

    from domain.vocab import LOCAL_TZ

    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).strftime("%Y-%m-%dT%H:%M:%S")


def test_tracks_are_not_for_operators_and_queries_are_checked(
    server: Flask, r: redis.Redis
) -> None:
    now = time.time_ns() // 1_000_000
    write_track(r, "U-8", [now - 120_000])
    yesterday = {"from": now - 2 * DAY_MS, "to": now}
    resp = signed_in(server, "operator").get("/api/v1/units/U-8/track", query_string=yesterday)
    assert resp.status_code == 403
    chief = signed_in(server, "dispatcher")
    assert track(chief, "U-8", **{"from": now, "to": now - 1})[0] == 422
    assert track(chief, "U-8", **{"from": "yesterday"})[0] == 422
    assert track(chief, "U-8", **{"from": now - 40 * DAY_MS, "to": now})[0] == 422
    assert track(chief, "U-NONE", **yesterday)[0] == 404
    assert reads(r, "unit:U-8", "personal.track_read") == []  # nothing refused is recorded
    assert reads(r, "unit:U-NONE", "personal.track_read") == []
    assert track(signed_in(server, "admin"), "U-8", **yesterday)[1]["count"] == 1
    assert len(reads(r, "unit:U-8", "personal.track_read")) == 1


def _create_on_page(c: FlaskClient, phone: str) -> dict[str, Any]:
    """The duty chief's new-incident form submitted with a caller's number."""
    deps = c.get("/_dash-dependencies").get_json()
    (dep,) = [d for d in deps if "dispatch-create-note.children" in d["output"]]
    values = {
        "dispatch-create": 1,
        "dispatch-new-type": "illegal_logging",
        "dispatch-new-priority": 2,
        "dispatch-new-source": "hotline",
        "dispatch-new-description": "热线来电",
        "dispatch-new-lat": 22.52,
        "dispatch-new-lon": 114.54,
        "dispatch-new-phone": phone,
    }
    outs = [o.rsplit(".", 1) for o in dep["output"].strip(".").split("...")]
    body = {
        "output": dep["output"],
        "outputs": [{"id": i, "property": p.split("@")[0]} for i, p in outs],
        "changedPropIds": ["dispatch-create.n_clicks"],
        "inputs": [{**i, "value": values[i["id"]]} for i in dep["inputs"]],
        "state": [{**s, "value": values[s["id"]]} for s in dep["state"]],
    }
    return callback_response(c, body)


def test_a_duty_chief_types_the_callers_number_into_the_form(server: Flask, r: redis.Redis) -> None:
    chief = signed_in(server, "dispatcher")
    assert "电话号码只能包含" in orjson.dumps(_create_on_page(chief, "call me")).decode()
    assert r.zcard(keys.INCIDENTS) == 0
    out = _create_on_page(chief, " 138 0013 8000 ")
    incident_id = out["dispatch-selected"]["data"]
    assert out["dispatch-new-phone"]["value"] == ""  # not left in the form for the next one
    assert r.hget(keys.incident(incident_id), "reporter_phone") == b"138 0013 8000"
