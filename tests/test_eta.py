"""Travel times that respect the coastline, and the ranking of candidates (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.dispatch import rank
from domain.geo import Geography, haversine_m
from domain.incidents import load_rules
from domain.travel import SPEED_M_S, TravelModel

KUICHONG = (114.43, 22.63)
QINIANGSHAN = (114.55, 22.50)
DAPENG_BAY = (114.40, 22.52)  # open water west of the peninsula
DAYA_BAY = (114.62, 22.60)  # open water east of it
OPEN_SEA = (114.50, 22.40)


def test_land_units_go_round_and_boats_round_the_peninsula(travel: TravelModel) -> None:
    car = travel.leg("vehicle", KUICHONG, QINIANGSHAN)
    straight = haversine_m(*KUICHONG, *QINIANGSHAN)
    assert car.distance_m is not None and car.distance_m > straight * 1.2
    boat = travel.leg("boat", DAPENG_BAY, DAYA_BAY)
    drone = travel.leg("drone", DAPENG_BAY, DAYA_BAY)
    assert boat.distance_m > drone.distance_m * 1.5  # round the southern tip, not across land
    assert drone.eta_s == pytest.approx(drone.distance_m / SPEED_M_S["drone"])


def test_no_route_is_none(travel: TravelModel) -> None:
    assert travel.leg("vehicle", KUICHONG, OPEN_SEA).eta_s is None  # a car cannot reach it
    assert travel.leg("boat", DAPENG_BAY, KUICHONG).eta_s is None  # inland
    assert travel.leg("hovercraft", KUICHONG, KUICHONG).eta_s is None


@settings(max_examples=60, deadline=None)
@given(st.floats(114.35, 114.62), st.floats(22.47, 22.68), st.floats(114.35, 114.62),
       st.floats(22.47, 22.68))
def test_never_faster_than_a_straight_line(travel: TravelModel, geo: Geography, x0: float,
                                           y0: float, x1: float, y1: float) -> None:
    for kind in ("foot", "vehicle", "boat"):
        leg = travel.leg(kind, (x0, y0), (x1, y1))
        if leg.distance_m is not None:
            assert leg.distance_m >= haversine_m(x0, y0, x1, y1) * 0.999


def _u(uid: str, kind: str, lon: float, lat: float, **kw: object) -> dict:
    return {"unit_id": uid, "kind": kind, "lon": lon, "lat": lat, "department": "forestry",
            "status": "available", "age_s": 5.0, **kw}


def test_ranking_rules(travel: TravelModel) -> None:
    rules = load_rules()
    near = (QINIANGSHAN[0] + 0.01, QINIANGSHAN[1] + 0.005)
    units = [
        _u("far-car", "vehicle", *KUICHONG),
        _u("near-foot", "foot", *near),
        _u("stale-near", "foot", *near, age_s=600.0),
        _u("busy-urgent", "foot", *near, task_priority=1),
        _u("busy-routine", "foot", *near, task_priority=3),
        _u("off", "foot", *near, status="off_duty"),
        _u("water-dept", "foot", *near, department="water"),
        _u("skilled-other-dept", "foot", *near, department="water", skills=["illegal_logging"]),
        _u("boat", "boat", *DAYA_BAY),
    ]
    ranked = rank(units, dest=QINIANGSHAN, domain="land", departments={"forestry"}, priority=2,
                  travel=travel, silent_after_s=rules.unit_silent_after_s,
                  kind_domains=rules.kind_domains, incident_type="illegal_logging")
    ids = [c.unit_id for c in ranked]
    assert ids[:2] == ["near-foot", "skilled-other-dept"]  # ready and near; tie -> by id
    assert ids.index("far-car") < ids.index("busy-routine") < ids.index("stale-near")
    assert {"busy-urgent", "off", "water-dept", "boat"}.isdisjoint(ids)
    by_id = {c.unit_id: c for c in ranked}
    assert by_id["busy-routine"].preemptible and by_id["stale-near"].stale
    sea = rank(units, dest=DAYA_BAY, domain="sea", departments=set(), priority=2,
               travel=travel, silent_after_s=120, kind_domains=rules.kind_domains)
    assert [c.unit_id for c in sea] == ["boat"]
