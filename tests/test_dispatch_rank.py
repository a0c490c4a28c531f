"""Ranking the units that can take an incident (domain/dispatch.py), on real Dapeng places."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.dispatch import Candidate, qualification, rank
from domain.geo import Geography
from domain.incidents import load_rules
from domain.travel import LAND_DETOUR, SPEED_M_S, TravelModel

AO_NORTH = (114.52, 22.595)  # Dapeng town, north shore of 大鹏澳
AO_SOUTH = (114.52, 22.555)  # Nan'ao, 4.4 km across the water
INLAND_NORTH = (114.47, 22.62)  # 5.8 km from AO_NORTH, on the same side of the water
ISLAND = (114.6502, 22.5728)  # island in Daya Bay
QINIANGSHAN = (114.55, 22.50)
XICHONG_SHORE = (114.54667, 22.48346)  # 西涌 beach
DAPENG_AO = (114.52, 22.578)
NEAR = (QINIANGSHAN[0] + 0.004, QINIANGSHAN[1] + 0.002)  # ~470 m away, open land


def _u(uid: str, kind: str, at: tuple[float, float], **kw: Any) -> dict[str, Any]:
    return {
        "unit_id": uid,
        "name": f"name-{uid}",
        "kind": kind,
        "lon": at[0],
        "lat": at[1],
        "department": "forestry",
        "status": "available",
        "age_s": 5.0,
        "skills": [],
        **kw,
    }


def _rank(
    travel: TravelModel,
    units: list[dict[str, Any]],
    dest: tuple[float, float] = QINIANGSHAN,
    **kw: Any,
) -> list[Candidate]:
    args: dict[str, Any] = {
        "domain": "land",
        "departments": {"forestry"},
        "priority": 2,
        "silent_after_s": 120.0,
        "incident_type": "illegal_logging",
    }
    return rank(units, dest=dest, travel=travel, **{**args, **kw})


def _ids(cands: list[Candidate]) -> list[str]:
    return [c.unit_id for c in cands]


def test_qualification_by_department_or_skill() -> None:
    forester = _u("a", "foot", NEAR)
    trained = _u("b", "foot", NEAR, department="water", skills=["illegal_logging"])
    other = _u("c", "foot", NEAR, department="water", skills=["flood"])
    text = _u("d", "foot", NEAR, department="water", skills="illegal_logging")  # not a list
    wanted = {"forestry"}
    assert qualification(forester, wanted, "illegal_logging") == "department"
    assert (
        qualification(forester | {"skills": ["flood"]}, wanted, "illegal_logging") == "department"
    )  # skills widen, never narrow
    assert qualification(trained, wanted, "illegal_logging") == "skill"
    assert qualification(trained, wanted, None) is None
    assert qualification(other, wanted, "illegal_logging") is None
    assert qualification(text, wanted, "illegal_logging") is None
    assert qualification(other, set(), "illegal_logging") == "any"


def test_rank_filters_by_department_and_skill(travel: TravelModel) -> None:
    units = [
        _u("forester", "foot", NEAR),
        _u("trained", "foot", NEAR, department="water", skills=["illegal_logging"]),
        _u("water", "foot", NEAR, department="water", skills=["flood"]),
    ]
    got = {c.unit_id: c.qualifies_by for c in _rank(travel, units)}
    assert got == {"forester": "department", "trained": "skill"}
    joint = _rank(travel, units, departments={"forestry", "water"})  # a joint operation
    assert set(_ids(joint)) == {"forester", "trained", "water"}
    anyone = _rank(travel, units, departments=set(), incident_type=None)
    assert {c.qualifies_by for c in anyone} == {"any"} and len(anyone) == 3


@pytest.mark.parametrize(
    "kind_domains", [None, load_rules().kind_domains], ids=["default", "config"]
)
def test_kinds_serve_their_domains(travel: TravelModel, kind_domains: Any) -> None:
    units = [
        _u("foot", "foot", NEAR),
        _u("car", "vehicle", NEAR),
        _u("boat", "boat", DAPENG_AO),
        _u("drone", "drone", NEAR),
        _u("hover", "hovercraft", NEAR),
    ]
    kw = {"departments": set(), "kind_domains": kind_domains}
    land = _rank(travel, units, **kw)
    sea = _rank(travel, units, dest=DAPENG_AO, domain="sea", **kw)
    coast = _rank(travel, units, dest=XICHONG_SHORE, domain="coastal", **kw)
    assert set(_ids(land)) == {"foot", "car", "drone"}
    assert set(_ids(sea)) == {"boat", "drone"}
    assert set(_ids(coast)) == {"foot", "car", "boat", "drone"}
    assert all(c.eta_s is not None for c in land + sea + coast)


def test_custom_kind_domains(travel: TravelModel) -> None:
    units = [_u("car", "vehicle", NEAR), _u("drone", "drone", NEAR)]
    got = _rank(travel, units, kind_domains={"drone": ["sea"]}, departments=set())
    assert got == []


def test_off_duty_and_positionless_units_are_left_out(travel: TravelModel) -> None:
    units = [
        _u("off", "foot", NEAR, status="off_duty"),
        _u("ok", "foot", NEAR),
        _u("nowhere", "foot", NEAR) | {"lon": None},
        _u("nan", "foot", (float("nan"), 22.5)),
    ]
    assert _ids(_rank(travel, units)) == ["ok"]
    assert _rank(travel, []) == []


def test_the_water_counts_more_than_the_crow_flies(travel: TravelModel) -> None:
    across = _u("across", "vehicle", AO_SOUTH)
    same_side = _u("same-side", "vehicle", INLAND_NORTH)
    got = _rank(travel, [across, same_side], dest=AO_NORTH)
    assert _ids(got) == ["same-side", "across"]
    assert got[1].straight_m < got[0].straight_m  # closer as the crow flies, yet second
    assert got[1].distance_m > 2.5 * got[1].straight_m


def test_fresh_before_stale_even_when_further(travel: TravelModel) -> None:
    units = [
        _u("stale-near", "foot", NEAR, age_s=600.0),
        _u("never-heard", "foot", NEAR, age_s=None),
        _u("fresh-far", "vehicle", AO_SOUTH, age_s=120.0),
    ]  # exactly at the limit: fresh
    got = _rank(travel, units)
    assert _ids(got) == ["fresh-far", "never-heard", "stale-near"]  # same spot: tie -> id
    assert [c.stale for c in got] == [False, True, True]
    assert [c.tier for c in got] == ["ready", "stale", "stale"]
    assert got[1].eta_s < got[0].eta_s  # shown with its ETA, just not trusted first


def test_preemption_follows_the_priority_rule(travel: TravelModel) -> None:
    units = [
        _u("free-far", "vehicle", AO_SOUTH),
        _u("routine", "foot", NEAR, task_priority=3, status="on_scene"),
        _u("same", "foot", NEAR, task_priority=2),
        _u("urgent", "foot", NEAR, task_priority=1),
        _u("garbled", "foot", NEAR, task_priority="soon"),
        _u("stale-routine", "foot", NEAR, task_priority=3, age_s=900.0),
    ]
    got = _rank(travel, units, priority=2)
    assert _ids(got) == ["free-far", "routine", "stale-routine"]
    assert [c.preemptible for c in got] == [False, True, True]
    assert [c.tier for c in got] == ["ready", "busy", "stale"]
    assert set(_ids(_rank(travel, units, priority=1))) == {
        "free-far",
        "routine",
        "same",
        "stale-routine",
    }
    assert _ids(_rank(travel, units, priority=3)) == ["free-far"]


def test_a_busy_status_without_a_task_comes_after_free_units(travel: TravelModel) -> None:
    got = _rank(
        travel, [_u("busy", "foot", NEAR, status="en_route"), _u("free", "vehicle", AO_SOUTH)]
    )
    assert _ids(got) == ["free", "busy"]
    assert (got[1].tier, got[1].note, got[1].preemptible) == ("busy", "busy_status", False)


def test_unreachable_units_come_last_and_say_why(travel: TravelModel) -> None:
    units = [
        _u("island", "vehicle", ISLAND),
        _u("stale", "foot", NEAR, age_s=999.0),
        _u("far", "foot", AO_SOUTH),
    ]
    got = _rank(travel, units, dest=AO_NORTH)
    assert _ids(got) == ["far", "stale", "island"]
    last = got[-1]
    assert (last.tier, last.eta_s, last.distance_m, last.note) == (
        "unreachable",
        None,
        None,
        "no_route",
    )
    assert last.straight_m > 0


def test_ties_are_broken_by_id_and_limit_applies(travel: TravelModel) -> None:
    units = [_u(uid, "foot", NEAR) for uid in ("c", "a", "d", "b")]
    assert _ids(_rank(travel, units)) == ["a", "b", "c", "d"]
    assert _ids(_rank(travel, units, limit=2)) == ["a", "b"]


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_order_does_not_depend_on_input_order(travel: TravelModel, rnd: random.Random) -> None:
    rng = random.Random(11)
    spots = [NEAR, AO_SOUTH, INLAND_NORTH, ISLAND, QINIANGSHAN]
    units = [
        _u(
            f"u{i}",
            rng.choice(["foot", "vehicle", "drone"]),
            rng.choice(spots),
            age_s=rng.choice([5.0, 500.0, None]),
            **({"task_priority": rng.choice([1, 2, 3])} if i % 3 == 0 else {}),
        )
        for i in range(30)
    ]
    expected = _rank(travel, units, limit=30)
    shuffled = units[:]
    rnd.shuffle(shuffled)
    assert _rank(travel, shuffled, limit=30) == expected


def test_candidates_never_beat_the_straight_line(travel: TravelModel, geo: Geography) -> None:
    """Rounding to whole metres and seconds is the only slack: at most one second."""
    rng = random.Random(5)
    units = [
        _u(f"l{i}", rng.choice(["foot", "vehicle"]), geo.random_land_point(rng)) for i in range(150)
    ]
    units += [_u(f"s{i}", "boat", geo.random_sea_point(rng, "district")) for i in range(50)]
    for dest in (XICHONG_SHORE, AO_NORTH):
        for c in _rank(travel, units, dest=dest, domain="coastal", departments=set(), limit=200):
            factor = 1.0 if c.kind == "boat" else LAND_DETOUR
            assert c.eta_s is None or c.eta_s >= c.straight_m * factor / SPEED_M_S[c.kind] - 1
            assert dataclasses.asdict(c)["unit_id"] == c.unit_id  # what the store sends on


def test_ranking_rules_on_one_mixed_fleet(travel: TravelModel) -> None:
    rules = load_rules()
    near = (QINIANGSHAN[0] + 0.01, QINIANGSHAN[1] + 0.005)
    kuichong, daya_bay = (114.43, 22.63), (114.62, 22.60)
    units = [
        _u("far-car", "vehicle", kuichong),
        _u("near-foot", "foot", near),
        _u("stale-near", "foot", near, age_s=600.0),
        _u("busy-urgent", "foot", near, task_priority=1),
        _u("busy-routine", "foot", near, task_priority=3),
        _u("off", "foot", near, status="off_duty"),
        _u("water-dept", "foot", near, department="water"),
        _u("skilled-other-dept", "foot", near, department="water", skills=["illegal_logging"]),
        _u("boat", "boat", daya_bay),
    ]
    ranked = rank(
        units,
        dest=QINIANGSHAN,
        domain="land",
        departments={"forestry"},
        priority=2,
        travel=travel,
        silent_after_s=rules.unit_silent_after_s,
        kind_domains=rules.kind_domains,
        incident_type="illegal_logging",
    )
    ids = [c.unit_id for c in ranked]
    assert ids[:2] == ["near-foot", "skilled-other-dept"]  # ready and near; tie -> by id
    assert ids.index("far-car") < ids.index("busy-routine") < ids.index("stale-near")
    assert {"busy-urgent", "off", "water-dept", "boat"}.isdisjoint(ids)
    by_id = {c.unit_id: c for c in ranked}
    assert by_id["busy-routine"].preemptible and by_id["stale-near"].stale
    sea = rank(
        units,
        dest=daya_bay,
        domain="sea",
        departments=set(),
        priority=2,
        travel=travel,
        silent_after_s=120,
        kind_domains=rules.kind_domains,
    )
    assert [c.unit_id for c in sea] == ["boat"]
