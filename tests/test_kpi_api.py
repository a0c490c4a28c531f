"""GET /api/v1/kpis over HTTP with a real Redis: who may read it, what it refuses, and that its
numbers agree with the incidents the incidents API lists."""

from __future__ import annotations

import pytest
import redis
from flask import Flask

from config.settings import Settings
from domain.clock import fixed
from domain.geo import Geography
from simulator import history
from store import keys, kpi_days, users
from tests.helpers import (
    PASSWORD,
    assert_matches_spec,
    client,
    local_date,
    local_ms,
    make_app,
    signed_in,
)

DAY = 86_400_000


def test_leaders_admins_and_duty_chiefs_read_kpis_operators_do_not(server: Flask) -> None:
    assert client(server).get("/api/v1/kpis").status_code == 401
    assert signed_in(server, "operator").get("/api/v1/kpis").status_code == 403
    for role in ("leader", "admin", "dispatcher"):
        body = signed_in(server, role).get("/api/v1/kpis").get_json()
        assert body["handling_rate"]["overall"]["n"] == 0
        assert body["handling_rate"]["overall"]["rate"] is None  # nothing to judge: not 0 %


@pytest.mark.parametrize(
    "query",
    [
        "from=yesterday",
        "to=2026-13-01",
        "from=2026-11-02&to=2026-11-01",
        "from=2020-01-01&to=2026-01-01",
        "department=police",
        "subdistrict=atlantis",
    ],
)
def test_bad_queries_are_refused_with_a_reason(server: Flask, query: str) -> None:
    resp = signed_in(server, "leader").get(f"/api/v1/kpis?{query}")
    assert resp.status_code == 422 and resp.get_json()["error"], query


def test_the_figures_agree_with_the_incidents_listed(
    settings: Settings, r: redis.Redis, geo: Geography, instant: int
) -> None:
    now = instant
    users.create_user(r, "leader", "leader", PASSWORD)
    history.fill(r, geo, history.demo_fleet(geo, 3), 10, now, seed=3)
    leader = signed_in(make_app(settings, clock=fixed(now)), "leader")
    # the default period: the last seven days up to now (the API's; the page asks whole days)
    week = leader.get("/api/v1/kpis").get_json()
    assert (week["from_ms"], week["to_ms"]) == (now - 7 * DAY, now)
    today = leader.get(f"/api/v1/kpis?from={local_date(now)}").get_json()
    assert today["incidents"]["n"] == sum(
        i["created_ms"] >= local_ms(local_date(now))
        for i in leader.get("/api/v1/incidents?limit=50000").get_json()["items"]
    )
    body = leader.get(f"/api/v1/kpis?from={now - 10 * DAY}&to={now + 1}").get_json()
    assert_matches_spec(body, "/api/v1/kpis")
    inside = leader.get(
        f"/api/v1/incidents?from={now - 10 * DAY}&to={now + 1}&limit=50000"
    ).get_json()["items"]
    overall = body["handling_rate"]["overall"]
    assert overall["reported"] == len(inside) == body["incidents"]["n"]
    assert overall["rejected"] == sum(i["state"] == "rejected" for i in inside)
    assert overall["transferred"] == sum(i["state"] == "transferred" for i in inside)
    assert (
        overall["received"]
        == overall["n"]
        == len(inside) - overall["rejected"] - overall["transferred"]
    )
    assert body["incidents"]["simulated"] == len(inside)  # all of them are simulated history
    # a department's figures are its share of the same incidents
    forestry = leader.get(
        f"/api/v1/kpis?from={now - 10 * DAY}&to={now + 1}&department=forestry"
    ).get_json()
    assert forestry["handling_rate"]["overall"]["reported"] == sum(
        i["departments"][0] == "forestry" for i in inside
    )
    for bad in ("from=x", "limit=0", "limit=50001", "to=-5"):
        assert leader.get(f"/api/v1/incidents?{bad}").status_code == 422, bad
    # local dates work as well as epoch ms
    assert leader.get("/api/v1/kpis?from=2026-01-01&to=2026-01-02").status_code == 200


def test_closed_days_are_read_from_their_stored_rows(server: Flask, r: redis.Redis) -> None:
    kpi_days.store_day(
        r,
        "20260105",
        [
            {
                "hour_ms": 1_767_571_200_000,
                "local_hour": "20260105 08:00",
                "units": 7,
                "unit_hours": 6.5,
            }
        ],
        [
            {
                "day": "20260105",
                "sensor_id": "WQ-SEA-01",
                "name": "西涌",
                "kind": "seawater",
                "water_class": "I",
                "subdistrict": "nanao",
                "n": 10,
                "breaches": 2,
            }
        ],
        closed_ms=1,
        source="simulated",
    )
    body = signed_in(server, "leader").get("/api/v1/kpis?from=2026-01-05&to=2026-01-06").get_json()
    assert body["closed_days"] == {"20260105": "simulated"}
    assert [(h["units"], h["unit_hours"]) for h in body["on_duty"]] == [(7, 6.5)]
    (point,) = body["water"]["points"]
    assert (point["sensor_id"], point["n"], point["within"], point["days_within"]) == (
        "WQ-SEA-01",
        10,
        8,
        0,
    )


def test_a_cached_incident_is_read_again_only_when_it_changed(r: redis.Redis) -> None:
    from store import incidents

    t0 = 1_790_000_000_000
    for i in (1, 2):
        incidents.create(
            r,
            {"type": "noise", "priority": 3, "domain": "land", "lon": 114.5, "lat": 22.6},
            "chief",
            t0,
            incident_id=f"INC-T-{i}",
        )
    assert {rec["id"] for rec in kpi_days.incident_records(r)} == {"INC-T-1", "INC-T-2"}
    r.hset(keys.incident("INC-T-1"), "type", "waste_dumping")  # behind the store's back: unseen
    incidents.transition(r, "INC-T-2", "triaged", ["reported"], by="chief", at_ms=t0 + 2)
    again = {rec["id"]: rec for rec in kpi_days.incident_records(r)}
    assert again["INC-T-1"]["type"] == "noise" and again["INC-T-2"]["state"] == "triaged"
    # a different incident under a known id (a flushed Redis, a test) is read whole
    r.flushall()
    incidents.create(
        r,
        {"type": "noise", "priority": 1, "domain": "land", "lon": 114.5, "lat": 22.6},
        "chief",
        t0 + 5,
        incident_id="INC-T-1",
    )
    (rec,) = kpi_days.incident_records(r)
    assert (rec["priority"], rec["created_ms"]) == (1, t0 + 5)
