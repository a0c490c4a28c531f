"""The incidents API over HTTP with a real Redis: duty chiefs act, others only read, bodies are
validated, refusals say why, and the state machine and unit booking hold through the API."""

from __future__ import annotations

import threading

import orjson
import pytest
import redis
from flask import Flask

from config.settings import Settings
from services import incidents as incident_service
from services.context import build
from services.incidents import Assignment, NewIncident
from store import audit as log
from store import incident_audit, incidents, keys, users
from tests.helpers import (
    NEW_INCIDENT,
    assert_matches_spec,
    client,
    post_json,
    signed_in,
    write_available_unit,
)


def test_open_read_list_as_the_roles_allow(server: Flask) -> None:
    chief, operator = signed_in(server, "dispatcher"), signed_in(server, "operator")
    assert post_json(client(server), "/api/v1/incidents", NEW_INCIDENT)[0] == 401
    assert post_json(operator, "/api/v1/incidents", NEW_INCIDENT)[0] == 403
    assert post_json(signed_in(server, "leader"), "/api/v1/incidents", NEW_INCIDENT)[0] == 403
    # a session cookie needs the CSRF header; refused in JSON, as everything on the API
    status, refused = post_json(chief, "/api/v1/incidents", NEW_INCIDENT, csrf=False)
    assert status == 400 and "CSRF" in refused["error"]
    status, inc = post_json(chief, "/api/v1/incidents", NEW_INCIDENT)
    assert status == 201, inc
    assert (inc["state"], inc["domain"], inc["departments"], inc["subdistrict"]) == (
        "reported",
        "land",
        ["forestry"],
        "nanao",
    )
    assert [t["to"] for t in inc["timeline"]] == ["reported"]
    assert_matches_spec(inc, "/api/v1/incidents", "post", "201")
    listed = operator.get("/api/v1/incidents?state=reported").get_json()
    assert_matches_spec(listed, "/api/v1/incidents")
    assert [i["id"] for i in listed["items"]] == [inc["id"]]
    assert operator.get("/api/v1/incidents?state=closed").get_json()["count"] == 0
    assert operator.get("/api/v1/incidents?state=bogus").status_code == 422
    assert operator.get("/api/v1/incidents?open=1").get_json()["count"] == 1
    assert operator.get("/api/v1/incidents?open=true").status_code == 422  # never read as 0
    assert operator.get(f"/api/v1/incidents/{inc['id']}").get_json()["id"] == inc["id"]
    assert operator.get("/api/v1/incidents/INC-nope").status_code == 404


@pytest.mark.parametrize(
    "bad",
    [
        {**NEW_INCIDENT, "type": "piracy"},
        {**NEW_INCIDENT, "lat": "22.5"},
        {**NEW_INCIDENT, "lat": 95.0},
        {**NEW_INCIDENT, "lat": 40.0, "lon": -74.0},  # valid coordinates, far outside the area
        {**NEW_INCIDENT, "priority": 0},
        {**NEW_INCIDENT, "description": "x" * 5000},
        {**NEW_INCIDENT, "evidence": ["a"] * 50},
        {**NEW_INCIDENT, "surprise": True},
        {k: v for k, v in NEW_INCIDENT.items() if k != "lat"},
        [NEW_INCIDENT],
        "not json",
    ],
)
def test_bad_bodies_are_refused_with_a_reason(server: Flask, r: redis.Redis, bad: object) -> None:
    chief = signed_in(server, "dispatcher")
    status, body = post_json(chief, "/api/v1/incidents", bad)
    assert status in (400, 422) and body["error"], (status, body)
    assert r.zcard(keys.INCIDENTS) == 0  # nothing half-written


def test_candidates_assign_and_the_state_machine(server: Flask, r: redis.Redis) -> None:
    write_available_unit(r, "FO-CAR", "vehicle", 22.50, 114.57)  # Nan'ao, by road
    write_available_unit(r, "FO-FOOT", "foot", 22.52, 114.545)  # a few hundred metres away on foot
    write_available_unit(r, "FO-BOAT", "boat", 22.49, 114.49, "fishery_maritime")  # at sea
    write_available_unit(r, "EE-CAR", "vehicle", 22.53, 114.53, "eco_environment")  # wrong dept
    chief = signed_in(server, "dispatcher")
    inc = post_json(chief, "/api/v1/incidents", NEW_INCIDENT)[1]
    found = chief.get(f"/api/v1/incidents/{inc['id']}/candidates").get_json()["items"]
    assert [c["unit_id"] for c in found] == ["FO-FOOT", "FO-CAR"]  # land forestry units by ETA
    assert all(c["eta_s"] > 0 and not c["stale"] for c in found)
    assert_matches_spec(
        chief.get(f"/api/v1/incidents/{inc['id']}/candidates").get_json(),
        "/api/v1/incidents/{incident_id}/candidates",
    )

    path = f"/api/v1/incidents/{inc['id']}"
    assert (
        post_json(signed_in(server, "operator"), path + "/assign", {"units": ["FO-CAR"]})[0] == 403
    )
    status, body = post_json(chief, path + "/transition", {"to": "on_scene"})
    assert status == 409 and "reported cannot become on_scene" in body["error"]
    assert post_json(chief, path + "/transition", {"to": "rejected"})[1]["error"].endswith(
        "needs a reason"
    )
    status, body = post_json(chief, path + "/assign", {"units": ["FO-CAR"]})
    assert status == 200 and body["state"] == "assigned" and body["durable"] is True
    other = post_json(chief, "/api/v1/incidents", {**NEW_INCIDENT, "priority": 2})[1]
    status, body = post_json(
        chief, f"/api/v1/incidents/{other['id']}/assign", {"units": ["FO-CAR"]}
    )
    assert status == 409 and body["unit"] == "FO-CAR"  # no double booking
    assert post_json(chief, path + "/assign", {"units": []})[0] == 422
    for target in ("en_route", "on_scene", "handled", "closed"):
        status, body = post_json(chief, path + "/transition", {"to": target})
        assert status == 200 and body["state"] == target, body
    assert [t["to"] for t in body["timeline"]] == [
        "reported",
        "assigned",
        "en_route",
        "on_scene",
        "handled",
        "closed",
    ]
    assert_matches_spec(body, "/api/v1/incidents/{incident_id}/transition", "post")
    assert_matches_spec(chief.get(path).get_json(), "/api/v1/incidents/{incident_id}")


def test_an_api_token_writes_without_csrf(server: Flask, r: redis.Redis) -> None:
    _id, token = users.create_token(r, "dispatcher")
    c = client(server)
    resp = c.post(
        "/api/v1/incidents",
        data=orjson.dumps(NEW_INCIDENT),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 201 and "Set-Cookie" not in resp.headers
    _id, op_token = users.create_token(r, "operator")
    resp = c.post(
        "/api/v1/incidents",
        data=orjson.dumps(NEW_INCIDENT),
        content_type="application/json",
        headers={"Authorization": f"Bearer {op_token}"},
    )
    assert resp.status_code == 403


def test_a_unit_taken_for_more_urgent_work_leaves_the_record_of_its_incident(
    server: Flask, r: redis.Redis
) -> None:
    """Pre-emption through the API: the routine incident loses the unit in its own record, goes
    back to the queue, and its timeline still matches the audit log (the taken event has its
    entry, signed by the chief who took it)."""
    write_available_unit(r, "FO-FOOT", "foot", 22.52, 114.545)
    chief = signed_in(server, "dispatcher")
    routine = post_json(chief, "/api/v1/incidents", {**NEW_INCIDENT, "priority": 3})[1]["id"]
    urgent = post_json(chief, "/api/v1/incidents", {**NEW_INCIDENT, "priority": 1})[1]["id"]
    assert post_json(chief, f"/api/v1/incidents/{routine}/assign", {"units": ["FO-FOOT"]})[0] == 200
    status, body = post_json(
        chief,
        f"/api/v1/incidents/{urgent}/assign",
        {"units": ["FO-FOOT"], "preempt": True, "reason": "fire on a boat"},
    )
    assert status == 200 and body["units"] == ["FO-FOOT"]
    left = chief.get(f"/api/v1/incidents/{routine}").get_json()
    assert (left["state"], left.get("units")) == ("triaged", [])
    step = left["timeline"][-1]
    assert (step["to"], step["taken"], step["for"], step["reason"]) == (
        "triaged",
        "FO-FOOT",
        urgent,
        "fire on a boat",
    )
    assert_matches_spec(left, "/api/v1/incidents/{incident_id}")
    assert incident_audit.timeline_check(r, routine)["status"] == "verified"
    (entry,) = [
        e
        for e in log.trail(r, "record", f"incident:{routine}")
        if e["action"] == "incident.unit_taken"
    ]
    assert entry["actor"].startswith("user:")
    # and it can be sent again
    write_available_unit(r, "FO-CAR", "vehicle", 22.50, 114.57)
    status, body = post_json(chief, f"/api/v1/incidents/{routine}/assign", {"units": ["FO-CAR"]})
    assert status == 200 and body["state"] == "assigned"


def test_one_chief_taking_two_units_at_once_records_both_events(
    r: redis.Redis, settings: Settings
) -> None:
    """The same account in two tabs (or a page and an API token) takes two units from one
    incident at the same moment: each act records the event its own step wrote, so the
    incident's timeline still matches the audit log."""
    ctx = build(settings)

    def new(priority: int) -> str:
        body = NewIncident(**{**NEW_INCIDENT, "priority": priority})
        return incident_service.open_incident(ctx, body, "chief")["id"]

    for n in range(10):
        routine, first, second = new(3), new(1), new(1)
        units = [f"P{n}", f"Q{n}", f"R{n}"]
        incident_service.assign_units(ctx, routine, Assignment(units=units), "chief")
        together = threading.Barrier(2)

        def take(incident_id: str, unit: str, barrier: threading.Barrier = together) -> None:
            barrier.wait()
            body = Assignment(units=[unit], preempt=True)
            incident_service.assign_units(ctx, incident_id, body, "chief")

        pair = [
            threading.Thread(target=take, args=x) for x in ((first, units[0]), (second, units[1]))
        ]
        for th in pair:
            th.start()
        for th in pair:
            th.join()
        assert incidents.read(r, routine)["units"] == [units[2]]
        assert incident_audit.timeline_check(r, routine)["status"] == "verified", n
