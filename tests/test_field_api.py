"""The field app's API as an attacker and a careless phone would use it: only an officer bound to
an active unit gets in, and only as that unit; each action once per key; nothing without the
CSRF token; what it sends is judged by the real worker like an MQTT message."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import orjson
import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings
from domain import evidence
from domain.clock import system_ms
from domain.roles import OFFICER, ROLES
from services import accounts
from services import incidents as incident_service
from services import messages as message_service
from services.context import build
from services.field import MAX_PHOTOS
from services.incidents import Assignment, NewIncident
from store import devices, keys, users
from store import field as field_store
from tests.helpers import (
    PASSWORD,
    assert_matches_spec,
    make_app,
    png,
    serve_app,
    signed_in,
    wait_for,
    write_available_unit,
)

UNIT = "U-DP-F02"


@pytest.fixture
def officer(server: Flask, r: redis.Redis) -> FlaskClient:
    devices.add(r, UNIT, "unit", 0)
    accounts.add_user(r, "wang", OFFICER, PASSWORD, unit=UNIT)
    return signed_in(server, "wang")


def _send(c: FlaskClient, kind: str, body: object, key: str | None = "key-0001", csrf: bool = True):
    headers = {"Idempotency-Key": key} if key else {}
    cookie = c.get_cookie("_csrf_token")
    if csrf and cookie:
        headers["X-CSRFToken"] = cookie.value
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    resp = c.post(
        f"/api/v1/field/{kind}", data=data, headers=headers, content_type="application/json"
    )
    return resp.status_code, resp.get_json(silent=True) or {}


def _position(unit: str = UNIT, seq: int = 1, lat: float = 22.52) -> dict[str, object]:
    return {"unit_id": unit, "seq": seq, "ts": system_ms(), "lat": lat, "lon": 114.54}


def test_only_an_officer_bound_to_an_active_unit_uses_the_field_app(
    server: Flask, officer: FlaskClient, r: redis.Redis
) -> None:
    anonymous = server.test_client()
    assert anonymous.get("/api/v1/field").status_code == 401
    assert anonymous.get("/field").headers["Location"].startswith("/login")
    for role in ROLES:  # the console's accounts have no unit to speak for
        c = signed_in(server, role)
        assert c.get("/api/v1/field").status_code == 403, role
        assert _send(c, "position", _position())[0] == 403, role
        assert c.get("/field").status_code == 403, role
    me = officer.get("/api/v1/field").get_json()
    assert me == {
        "officer": "wang",
        "unit": UNIT,
        "unit_name": None,
        "status": None,
        "task": None,
        "messages": [],
    }
    # and an officer has no console: its pages send it to /field, its data is refused
    assert officer.get("/").headers["Location"] == "/field"
    assert officer.get("/dispatch").headers["Location"] == "/field"
    assert officer.get("/api/v1/units").status_code == 403
    assert officer.get("/_stream/live").status_code == 403
    devices.revoke(r, UNIT, 1)
    status, body = _send(officer, "position", _position(), key="key-0002")
    assert status == 403 and "revoked" in body["error"]


def test_an_officer_account_needs_a_unit_and_only_an_officer_has_one(r: redis.Redis) -> None:
    devices.add(r, "V-1", "ais", 0)
    with pytest.raises(ValueError, match="--unit"):
        accounts.add_user(r, "a", OFFICER, PASSWORD)
    with pytest.raises(ValueError, match="--unit"):
        accounts.add_user(r, "a", OFFICER, PASSWORD, unit="V-1")  # a receiver, not a unit
    with pytest.raises(ValueError, match="--unit"):
        accounts.add_user(r, "a", OFFICER, PASSWORD, unit="U-NOT-THERE")
    with pytest.raises(ValueError, match="only an officer"):
        accounts.add_user(r, "a", "operator", PASSWORD, unit="V-1")
    assert users.get_user(r, "a") is None


def test_writes_need_the_csrf_token_a_key_and_a_known_kind(officer: FlaskClient) -> None:
    assert _send(officer, "position", _position(), csrf=False)[0] == 400
    status, body = _send(officer, "position", _position(), key=None)
    assert status == 400 and "Idempotency-Key" in body["error"]
    assert _send(officer, "position", _position(), key="short")[0] == 400
    assert _send(officer, "profile", {"unit_id": UNIT})[0] == 404  # the centre sets profiles
    assert _send(officer, "position", b"x" * 70_000)[0] == 413


def test_each_action_is_taken_once_and_applied_by_the_worker(
    officer: FlaskClient, r: redis.Redis, running_worker: Callable[..., None]
) -> None:
    running_worker()
    assert _send(officer, "position", _position()) == (
        202,
        {"outcome": "queued", "topic": f"ecocommand/units/{UNIT}/position"},
    )
    assert _send(officer, "position", _position(lat=22.6))[1]["outcome"] == "duplicate"
    wait_for(lambda: r.hget(keys.state("unit", UNIT), "lat"), 10, "the position applied")
    assert float(r.hget(keys.state("unit", UNIT), "lat")) == 22.52  # the first, not the resend
    # a payload speaking for another unit is refused by the worker, counted, and changes nothing
    write_available_unit(r, "U-OTHER", "foot", 22.5, 114.5)
    forged = _position(unit="U-OTHER", seq=2, lat=22.7)
    assert _send(officer, "position", forged, key="key-0003")[0] == 202
    wait_for(lambda: r.hget(keys.DEADLETTER_COUNTS, "device_mismatch"), 10, "the dead letter")
    assert float(r.hget(keys.state("unit", "U-OTHER"), "lat")) == 22.5
    assert r.hgetall(keys.FIELD_STATS) == {b"position|relayed": b"2", b"position|duplicate": b"1"}


def test_photos_only_for_the_units_own_incidents_and_once(
    officer: FlaskClient, settings: Settings, r: redis.Redis
) -> None:
    ctx = build(settings)
    write_available_unit(r, UNIT, "foot", 22.52, 114.54)
    inc = incident_service.open_incident(
        ctx, NewIncident(type="waste_dumping", lat=22.521, lon=114.54), "chief"
    )["id"]

    def upload(key: str, n: int = 1) -> tuple[int, dict]:
        files = [(io.BytesIO(png(4, 4)), f"p{i}.png") for i in range(n)]
        resp = officer.post(
            "/api/v1/field/evidence",
            data={"incident_id": inc, "caption": "现场", "photo": files},
            headers={
                "Idempotency-Key": key,
                "X-CSRFToken": officer.get_cookie("_csrf_token").value,
            },
        )
        return resp.status_code, resp.get_json()

    assert upload("photo-001")[0] == 403  # not on it (yet)
    incident_service.assign_units(ctx, inc, Assignment(units=[UNIT]), "chief")
    assert upload("photo-001", n=4)[0] == 422
    status, body = upload("photo-001")
    assert status == 201 and body["outcome"] == "taken"
    assert upload("photo-001") == (200, {"outcome": "duplicate"})
    notes = incident_service.detail(ctx, inc)["notes"]
    assert [(n["kind"], n["by"]) for n in notes] == [("evidence", f"device:{UNIT}")]


def test_the_task_stream_says_bye_when_the_session_ends(settings: Settings, r: redis.Redis) -> None:
    devices.add(r, UNIT, "unit", 0)
    accounts.add_user(r, "wang", OFFICER, PASSWORD, unit=UNIT)
    served = serve_app(make_app(settings))
    web = next(served)
    try:
        s = _signed_in_session(web, "wang")
        with s.get(f"{web}/_stream/field", stream=True, timeout=10) as resp:
            lines = resp.iter_lines()
            assert next(line for line in lines if line.startswith(b"event:")) == b"event: task"
            for sid in r.scan_iter(keys.session("*")):
                r.delete(sid)  # signed out everywhere (as sign-out or expiry does)
            assert next(line for line in lines if line.startswith(b"event:")) == b"event: bye"
    finally:
        served.close()


def test_a_finding_opens_one_incident_however_often_it_is_sent(
    officer: FlaskClient, settings: Settings
) -> None:
    def report(key: str, **form: object) -> tuple[int, dict]:
        data = {"type": "waste_dumping", "lat": 22.52, "lon": 114.54, **form}
        data["photo"] = [(io.BytesIO(png(4, 4)), "finding.png")]
        token = officer.get_cookie("_csrf_token").value  # type: ignore[union-attr]
        resp = officer.post(
            "/api/v1/field/finding",
            data=data,
            headers={"Idempotency-Key": key, "X-CSRFToken": token},
        )
        return resp.status_code, resp.get_json()

    assert report("find-0001", type="<script>")[0] == 422
    assert report("find-0001", lat=40.0)[0] == 422  # outside the district
    status, first = report("find-0001", description="=HYPERLINK()")
    assert status == 201 and first["outcome"] == "opened"
    assert report("find-0001") == (
        200,
        {"outcome": "duplicate", "incident_id": first["incident_id"]},
    )
    inc = incident_service.detail(build(settings), first["incident_id"])
    assert inc["source"] == "patrol_finding" and inc["created_by"] == f"device:{UNIT}"
    assert [n["kind"] for n in inc["notes"]] == ["evidence"]


def test_an_assignment_and_a_message_wake_the_task_stream_at_once(
    settings: Settings, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the stream's own look every 60 s, the task and the message still arrive within
    seconds: the waker (services/field_wake.py) wakes the stream of the unit named."""
    from dashboard import field_api

    monkeypatch.setattr(field_api, "WAKE_S", 60.0)
    devices.add(r, UNIT, "unit", 0)
    write_available_unit(r, UNIT, "foot", 22.52, 114.54)
    accounts.add_user(r, "wang", OFFICER, PASSWORD, unit=UNIT)
    ctx = build(settings)
    inc = incident_service.open_incident(
        ctx, NewIncident(type="waste_dumping", lat=22.521, lon=114.54), "chief"
    )["id"]
    served = serve_app(make_app(settings))
    web = next(served)
    try:
        s = _signed_in_session(web, "wang")
        with s.get(f"{web}/_stream/field", stream=True, timeout=10) as resp:
            docs = (
                orjson.loads(line[6:]) for line in resp.iter_lines() if line.startswith(b"data: {")
            )
            assert next(docs)["task"] is None
            incident_service.assign_units(ctx, inc, Assignment(units=[UNIT]), "chief")
            assert next(docs)["task"]["incident_id"] == inc  # within the read timeout, not 60 s
            message_service.to_units(ctx, "chief", [UNIT], "收到请回复")
            assert next(docs)["messages"][0]["text"] == "收到请回复"
    finally:
        served.close()


def _signed_in_session(web: str, name: str) -> requests.Session:
    """A requests session signed in through the form, as a phone's browser is."""
    s = requests.Session()
    form = s.get(f"{web}/login").text
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    s.post(f"{web}/login", data={"csrf_token": token, "username": name, "password": PASSWORD})
    return s


def _report(officer: FlaskClient, key: str, photos: list[bytes]) -> tuple[int, dict]:
    data = {
        "type": "waste_dumping",
        "lat": 22.52,
        "lon": 114.54,
        "photo": [(io.BytesIO(p), f"p{i}.png") for i, p in enumerate(photos)],
    }
    token = officer.get_cookie("_csrf_token").value  # type: ignore[union-attr]
    resp = officer.post(
        "/api/v1/field/finding", data=data, headers={"Idempotency-Key": key, "X-CSRFToken": token}
    )
    return resp.status_code, resp.get_json(silent=True) or {}


def test_a_finding_that_failed_part_way_is_finished_by_its_resend_never_taken_twice(
    officer: FlaskClient, settings: Settings, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The phone resends a finding whose answer was an error (every 5 s) and two tabs of the
    field page share one queue: whatever the resends, one incident with each photo once."""
    assert _report(officer, "find-bad", [png(4, 4), b"not an image"])[0] == 422
    assert r.zcard(keys.INCIDENTS) == 0  # a refused photo opens nothing

    photos = [png(4, 4), png(5, 5), png(6, 6)]
    real, calls = incident_service.add_evidence, []

    def second_fails(*args: object, **kw: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise redis.exceptions.TimeoutError("Timeout writing to socket")
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(incident_service, "add_evidence", second_fails)
    assert _report(officer, "find-0002", photos)[0] == 503  # the phone sends it again
    status, done = _report(officer, "find-0002", photos)
    assert status == 201 and done["outcome"] == "opened"
    assert r.zcard(keys.INCIDENTS) == 1
    inc = incident_service.detail(build(settings), done["incident_id"])
    assert [n["sha256"] for n in inc["notes"]] == [
        _sha(p) for p in photos
    ]  # each photo once, in order
    assert _report(officer, "find-0002", photos) == (
        200,
        {"outcome": "duplicate", "incident_id": done["incident_id"]},
    )

    # another tab sends the same entry while this one is being taken: it waits, nothing twice
    hold = field_store.taking(r, UNIT, "find-0003", 60)
    assert hold.acquire()
    assert _report(officer, "find-0003", photos)[0] == 503
    hold.release()
    assert _report(officer, "find-0003", photos)[0] == 201
    assert r.zcard(keys.INCIDENTS) == 2


def test_a_finding_with_the_most_photos_of_the_largest_size_is_taken(
    officer: FlaskClient, r: redis.Redis
) -> None:
    """Each photo within its limit, the request within the app's: a finding the server refused
    whole for its size would be dropped by the phone, photos and all."""
    big = [png(4, 4) + bytes([i]) * (evidence.MAX_BYTES - 200) for i in range(MAX_PHOTOS)]
    status, out = _report(officer, "find-big", big)
    assert status == 201, out
    assert r.zcard(keys.INCIDENTS) == 1


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_phone_asks_how_its_task_ended_only_for_its_own_incidents(
    server: Flask, officer: FlaskClient, settings: Settings
) -> None:
    """Handled by a colleague is the work done; rejected is the unit taken off it; an incident
    the unit was never sent to, or any id at all, reads as not there."""
    ctx = build(settings)

    def sent(units: list[str]) -> str:
        body = NewIncident(type="waste_dumping", lat=22.52, lon=114.54, description="倾倒")
        incident_id = incident_service.open_incident(ctx, body, "chief")["id"]
        incident_service.assign_units(ctx, incident_id, Assignment(units=units), "chief")
        return incident_id

    shared = sent([UNIT, "U-MATE"])
    for to in ("on_scene", "handled"):  # the colleague's reports, as the chief records them
        incident_service.move(ctx, shared, incident_service.Move(to=to), "chief")
    dropped, other = sent([UNIT]), sent(["U-MATE"])
    incident_service.move(
        ctx, dropped, incident_service.Move(to="rejected", reason="误报"), "chief"
    )

    def ended(incident_id: str, c: FlaskClient = officer) -> tuple[int, dict]:
        resp = c.get(f"/api/v1/field/ended/{incident_id}")
        return resp.status_code, resp.get_json(silent=True) or {}

    assert ended(shared) == (200, {"incident_id": shared, "state": "handled", "done": True})
    assert ended(dropped) == (200, {"incident_id": dropped, "state": "rejected", "done": False})
    assert ended(other)[0] == 404 and ended("INC-NOPE")[0] == 404  # never sent: as not there
    assert ended("x" * 65)[0] == 404
    assert ended(shared, signed_in(server, "dispatcher"))[0] == 403  # the field app's only
    assert_matches_spec(ended(shared)[1], "/api/v1/field/ended/{incident_id}")
