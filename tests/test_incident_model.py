"""The incident state machine, deadlines, escalation and the dispatch rules file (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.incidents import (
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    State,
    Timeline,
    allowed_from,
    check_transition,
    deadlines_missed,
    escalated_level,
    load_rules,
)
from domain.vocab import Department, Level
from tests.helpers import ROOT

LEGAL = {(a, b) for a, nxt in TRANSITIONS.items() for b in nxt}


@pytest.mark.parametrize("current", list(State))
@pytest.mark.parametrize("target", list(State))
def test_every_pair_is_legal_or_refused_by_name(current: State, target: State) -> None:
    kw = {"by": "chief", "at_ms": 1, "reason": "why", "department": Department.WATER}
    if (current, target) in LEGAL:
        assert check_transition(current, target, **kw).to_state == target
    else:
        with pytest.raises(
            IllegalTransition, match=f"{current.value} cannot become {target.value}"
        ):
            check_transition(current, target, **kw)


def test_the_main_chain_and_the_exits() -> None:
    chain = [
        State.TRIAGED,
        State.ASSIGNED,
        State.EN_ROUTE,
        State.ON_SCENE,
        State.HANDLED,
        State.CLOSED,
    ]
    tl = Timeline()
    tl.open("chief", 0)
    for i, s in enumerate(chain, start=1):
        tl.apply(s, by="chief", at_ms=i)
    assert tl.state == State.CLOSED and tl.entered_ms(State.ON_SCENE) == 4
    assert {State.CLOSED, State.REJECTED, State.TRANSFERRED} == TERMINAL
    assert State.ASSIGNED in allowed_from(State.ON_SCENE)  # arrival without an ack


def test_reasons_and_transfers() -> None:
    with pytest.raises(IllegalTransition, match="needs a reason"):
        check_transition(State.TRIAGED, State.REJECTED, by="c", at_ms=1, reason="  ")
    with pytest.raises(IllegalTransition, match="department it goes to"):
        check_transition(State.TRIAGED, State.TRANSFERRED, by="c", at_ms=1, reason="not ours")
    with pytest.raises(IllegalTransition, match="already belongs"):
        check_transition(
            State.TRIAGED,
            State.TRANSFERRED,
            by="c",
            at_ms=1,
            reason="x",
            department=Department.WATER,
            owner="water",
        )
    t = check_transition(
        State.TRIAGED,
        State.TRANSFERRED,
        by="c",
        at_ms=1,
        reason="x",
        department=Department.FORESTRY,
        owner="water",
    )
    assert t.extra == {"department": "forestry"}
    with pytest.raises(IllegalTransition, match="reassignment needs a reason"):
        check_transition(State.ASSIGNED, State.ASSIGNED, by="c", at_ms=1)
    with pytest.raises(IllegalTransition, match="who"):
        check_transition(State.REPORTED, State.TRIAGED, by=" ", at_ms=1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(State)), st.integers(0, 5)), max_size=30))
def test_random_walks_only_take_legal_steps(steps: list[tuple[State, int]]) -> None:
    tl = Timeline()
    tl.open("c", 0)
    now = 0
    for target, dt in steps:
        now += dt
        before = tl.state
        try:
            tl.apply(target, by="c", at_ms=now, reason="r", department=Department.WATER)
        except IllegalTransition:
            assert tl.state == before
            continue
        assert (before, target) in LEGAL and before not in TERMINAL
    times = [t.at_ms for t in tl.transitions]
    assert times == sorted(times)
    replay = Timeline()
    replay.open("c", 0)
    for t in tl.transitions[1:]:
        replay.apply(
            t.to_state, by=t.by, at_ms=t.at_ms, reason=t.reason, department=Department.WATER
        )
    assert replay.state == tl.state


def _timeline(**entered: int) -> Timeline:
    state = max(entered, key=entered.get)
    return Timeline.from_entries(state, entered)


def test_deadlines_on_a_hand_built_case() -> None:
    rules = load_rules()  # priority 1: assign 300 s, arrive 1200 s, handle 7200 s
    s = 1000
    assert deadlines_missed(_timeline(reported=0), 1, rules, 299 * s) == []
    assert deadlines_missed(_timeline(reported=0), 1, rules, 301 * s) == ["assign"]
    on_time = _timeline(reported=0, assigned=200 * s, on_scene=1300 * s)
    assert deadlines_missed(on_time, 1, rules, 1400 * s) == []
    late = _timeline(reported=0, assigned=400 * s, on_scene=1700 * s)
    assert deadlines_missed(late, 1, rules, 1800 * s) == ["assign", "arrive"]
    assert deadlines_missed(late, 1, rules, 8000 * s) == ["assign", "arrive", "handle"]
    # a final state stops every clock
    rejected = _timeline(reported=0, rejected=100 * s)
    assert deadlines_missed(rejected, 1, rules, 10**9) == []


def test_escalation_goes_up_one_level_per_miss_and_stops_at_the_district() -> None:
    assert escalated_level(Level.COMMUNITY, 0) == Level.COMMUNITY
    assert escalated_level(Level.COMMUNITY, 1) == Level.SUBDISTRICT
    assert escalated_level(Level.COMMUNITY, 5) == Level.DISTRICT
    assert escalated_level(Level.DISTRICT, 1) == Level.DISTRICT


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: "not json {",
        lambda d: {
            **d,
            "types": {**d["types"], "illegal_fishing": {"departments": ["navy"], "domain": "sea"}},
        },
        lambda d: {**d, "types": {k: v for k, v in d["types"].items() if k != "noise"}},
        lambda d: {
            **d,
            "deadlines": {**d["deadlines"], "1": {**d["deadlines"]["1"], "assign_s": -5}},
        },
        lambda d: {**d, "unit_silent_after_s": 10**12},
        lambda d: {**d, "kind_domains": {**d["kind_domains"], "boat": ["space"]}},
        lambda d: {**d, "surprise": 1},
        lambda d: [],
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_file(tmp_path: Path, mutate) -> None:
    doc = json.loads((ROOT / "config" / "dispatch.json").read_text(encoding="utf-8"))
    bad = mutate(doc)
    path = tmp_path / "dispatch.json"
    path.write_text(bad if isinstance(bad, str) else json.dumps(bad), encoding="utf-8")
    with pytest.raises(ValueError, match=r"dispatch rules .*dispatch\.json"):
        load_rules(path)


def test_the_committed_rules_cover_every_type() -> None:
    rules = load_rules()
    assert rules.types and rules.unit_silent_after_s == 120
