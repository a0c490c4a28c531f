"""Citizen reports (issue: people in the loop): anyone may report without an account, each report
costs a solved proof-of-work challenge, limits per address and overall hold over a rolling hour,
photos are judged by content and kept in the case file, the report is in the duty chief's queue
to verify, and the tracking code shows its progress and never who was sent."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings
from services import reports
from store import keys
from tests.helpers import (
    NEW_INCIDENT,
    assert_matches_spec,
    client,
    make_app,
    post_json,
    signed_in,
    write_available_unit,
)

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(200)  # judged by its first bytes
WHERE = {"lat": NEW_INCIDENT["lat"], "lon": NEW_INCIDENT["lon"]}


def _form(c: FlaskClient, **fields: Any) -> dict[str, Any]:
    """A report's fields with a freshly solved challenge (as the page does)."""
    ch = c.get("/api/v1/reports/challenge").get_json()
    form = {"type": "waste_dumping", **WHERE, "description": "河边倾倒垃圾", **fields}
    return form | {
        "challenge": ch["challenge"],
        "nonce": reports.solve(ch["challenge"], ch["bits"]),
    }


def _send(c: FlaskClient, form: dict[str, Any], photos: tuple[bytes, ...] = ()) -> Any:
    data: dict[str, Any] = {k: str(v) for k, v in form.items()}
    if photos:
        data["photo"] = [(io.BytesIO(p), f"p{i}.jpg") for i, p in enumerate(photos)]
    return c.post("/api/v1/reports", data=data, content_type="multipart/form-data")


def test_a_report_opens_an_incident_to_verify_with_its_photo_and_a_tracking_code(
    server: Flask, r: redis.Redis
) -> None:
    citizen = client(server, "203.0.113.7")
    ch = citizen.get("/api/v1/reports/challenge")
    assert ch.status_code == 200 and ch.headers["Cache-Control"] == "no-store"
    assert_matches_spec(ch.get_json(), "/api/v1/reports/challenge")
    made = _send(citizen, _form(citizen, phone="138 0013 8000"), (JPEG,))
    assert made.status_code == 201, made.get_json()
    assert_matches_spec(made.get_json(), "/api/v1/reports", "post", "201")
    code = made.get_json()["code"]
    chief = signed_in(server, "dispatcher")
    queue = chief.get("/api/v1/incidents?open=1").get_json()["items"]
    assert len(queue) == 1 and queue[0]["source"] == "citizen_report"
    assert queue[0]["state"] == "reported"  # to verify: a duty chief triages it first
    inc = chief.get(f"/api/v1/incidents/{queue[0]['id']}").get_json()
    evidence = [n for n in inc["notes"] if n["kind"] == "evidence"]
    assert [e["sha256"] for e in evidence] == [hashlib.sha256(JPEG).hexdigest()]
    assert inc["reporter_phone_masked"] and "13800138000" not in str(inc)
    # the citizen follows it: received, verified, sent; never who or where the unit is
    seen = citizen.get(f"/api/v1/reports/{code.lower()}").get_json()
    assert_matches_spec(seen, "/api/v1/reports/{code}")
    assert [s["stage"] for s in seen["stages"]] == ["received"]
    write_available_unit(r, "FO-7", "foot", 22.521, 114.541)
    assert (
        post_json(chief, f"/api/v1/incidents/{inc['id']}/transition", {"to": "triaged"})[0] == 200
    )
    status, _ = post_json(chief, f"/api/v1/incidents/{inc['id']}/assign", {"units": ["FO-7"]})
    assert status == 200
    seen = citizen.get(f"/api/v1/reports/{code}").get_json()
    assert [s["stage"] for s in seen["stages"]] == ["received", "verified", "sent"]
    assert seen["stage"] == "sent" and "FO-7" not in str(seen) and "dispatcher" not in str(seen)
    assert "22.521" not in str(seen) and "lat" not in str(seen)
    assert citizen.get("/api/v1/reports/ZZZZZZZZZZ").status_code == 404


def test_a_rejected_report_tells_the_citizen_why(server: Flask) -> None:
    citizen = client(server, "203.0.113.8")
    code = _send(citizen, _form(citizen)).get_json()["code"]
    chief = signed_in(server, "dispatcher")
    inc_id = chief.get("/api/v1/incidents?open=1").get_json()["items"][0]["id"]
    move = {"to": "rejected", "reason": "现场核查无倾倒"}
    assert post_json(chief, f"/api/v1/incidents/{inc_id}/transition", move)[0] == 200
    seen = citizen.get(f"/api/v1/reports/{code}").get_json()
    assert seen["stage"] == "rejected" and seen["stages"][-1]["reason"] == "现场核查无倾倒"


def test_200_rapid_reports_from_one_address_5_accepted_the_rest_refused_saying_why(
    server: Flask, r: redis.Redis
) -> None:
    citizen = client(server, "198.51.100.9")
    answers = [_send(citizen, _form(citizen)) for _ in range(200)]
    assert [a.status_code for a in answers[:5]] == [201] * 5
    refused = answers[5:]
    assert {a.status_code for a in refused} == {429}
    body = refused[0].get_json()
    assert "5 reports an hour from one address" in body["error"], body
    assert int(refused[0].headers["Retry-After"]) > 3000  # the oldest frees its place in ~1 h
    assert r.zcard(keys.INCIDENTS_OPEN) == 5
    # another address is not held back by this one
    assert _send(client(server, "198.51.100.10"), _form(client(server))).status_code == 201


def test_the_overall_limit_holds_across_addresses(settings: Settings, r: redis.Redis) -> None:
    app = make_app(settings, report_limit_per_hour=3)
    codes = [_send(client(app, f"192.0.2.{i}"), _form(client(app))).status_code for i in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    last = _send(client(app, "192.0.2.99"), _form(client(app))).get_json()
    assert "3 reports an hour in all" in last["error"]


def test_every_refusal_says_why(server: Flask) -> None:
    c = client(server, "203.0.113.50")
    cases = [
        ({**_form(c), "nonce": "1"}, (), 422, "does not solve"),
        ({**_form(c), "challenge": "0" * 32}, (), 422, "challenge is unknown"),
        (_form(c, type="piracy"), (), 422, "type"),
        (_form(c, lat=40.0, lon=-74.0), (), 422, "outside the area"),
        (_form(c, description="x" * 3000), (), 422, "description"),
        (_form(c, extra="1"), (), 422, "extra"),
        (_form(c), (b"<html><script>alert(1)</script>",), 422, "photo 1: not a JPEG"),
        (_form(c), (JPEG,) * 4, 422, "at most 3 photos"),
    ]
    for form, photos, status, why in cases:
        answer = _send(c, form, photos)
        assert answer.status_code == status and why in answer.get_json()["error"], (form, answer)
    # a challenge is good for one report, even one refused for its photo
    form = _form(c)
    assert _send(c, form, (b"not a photo",)).status_code == 422
    assert "challenge is unknown" in _send(c, form).get_json()["error"]
    as_json = c.post("/api/v1/reports", json=_form(c))
    assert as_json.status_code == 415 and "multipart" in as_json.get_json()["error"]


def test_a_report_larger_than_the_cap_is_refused_before_it_is_read(
    settings: Settings,
) -> None:
    app = make_app(settings, report_max_bytes=64 * 1024)
    c = client(app, "203.0.113.60")
    answer = _send(c, _form(c), (JPEG + bytes(70 * 1024),))
    assert answer.status_code == 413 and "at most" in answer.get_json()["error"]


def test_reports_of_one_thing_are_offered_as_duplicates_and_merged(server: Flask) -> None:
    """Two citizens report one dumping 200 m apart; a third report elsewhere is no duplicate.
    Merged, the second is rejected as a duplicate, and its citizen follows the first case."""
    first, second = client(server, "203.0.113.21"), client(server, "203.0.113.22")
    a = _send(first, _form(first)).get_json()["code"]
    b = _send(second, _form(second, lat=WHERE["lat"] + 0.0018)).get_json()["code"]  # ~200 m
    far = client(server, "203.0.113.23")
    _send(far, _form(far, lat=WHERE["lat"] + 0.05))  # ~5.5 km: another place
    chief = signed_in(server, "dispatcher")
    items = chief.get("/api/v1/incidents?open=1").get_json()["items"]
    by_code = {}
    for code in (a, b):
        seen = first.get(f"/api/v1/reports/{code}").get_json()
        by_code[code] = next(i["id"] for i in items if i["created_ms"] == seen["reported_ms"])
    into, dup = by_code[a], by_code[b]
    offered = chief.get(f"/api/v1/incidents/{into}/duplicates").get_json()
    assert_matches_spec(offered, "/api/v1/incidents/{incident_id}/duplicates")
    assert [d["id"] for d in offered["items"]] == [dup]
    assert 150 < offered["items"][0]["distance_m"] < 250
    operator = signed_in(server, "operator")
    assert post_json(operator, f"/api/v1/incidents/{into}/merge", {"duplicate": dup})[0] == 403
    status, merged = post_json(chief, f"/api/v1/incidents/{into}/merge", {"duplicate": dup})
    assert status == 200, merged
    assert any(n.get("text") == f"merged {dup}" for n in merged["notes"])
    gone = chief.get(f"/api/v1/incidents/{dup}").get_json()
    assert gone["state"] == "rejected" and gone["timeline"][-1]["reason"] == f"duplicate of {into}"
    # the second citizen now follows the case that is handled
    assert post_json(chief, f"/api/v1/incidents/{into}/transition", {"to": "triaged"})[0] == 200
    assert second.get(f"/api/v1/reports/{b}").get_json()["stage"] == "verified"
    # no second merge, and nothing merged into itself
    assert post_json(chief, f"/api/v1/incidents/{into}/merge", {"duplicate": dup})[0] == 409
    assert post_json(chief, f"/api/v1/incidents/{into}/merge", {"duplicate": into})[0] == 422
