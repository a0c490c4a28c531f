"""Incident model: what tests/test_incident_model.py leaves open. Times never go back, a recorded
history is checked again on replay, and the rules file refuses wrong types and inconsistent
deadlines."""

from __future__ import annotations

import dataclasses
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
    check_transition,
    load_rules,
    next_states,
)
from domain.vocab import Department
from tests.helpers import ROOT


def test_next_states_follow_the_table_in_chain_order() -> None:
    for s in State:
        assert set(next_states(s)) == TRANSITIONS[s]
    assert next_states(State.REPORTED) == [
        State.TRIAGED,
        State.ASSIGNED,
        State.REJECTED,
        State.TRANSFERRED,
    ]
    assert all(next_states(s) == [] for s in TERMINAL)


def test_a_refusal_lists_what_is_allowed() -> None:
    with pytest.raises(IllegalTransition, match=r"allowed: closed$"):
        check_transition(State.HANDLED, State.REPORTED, by="c", at_ms=1)
    with pytest.raises(IllegalTransition, match=r"none \(it is final\)"):
        check_transition(State.CLOSED, State.HANDLED, by="c", at_ms=1)


@pytest.mark.parametrize("target", [State.REJECTED, State.TRANSFERRED])
def test_exits_need_a_reason(target: State) -> None:
    with pytest.raises(IllegalTransition, match="needs a reason"):
        check_transition(
            State.ASSIGNED, target, by="c", at_ms=1, reason="", department=Department.FORESTRY
        )


def test_a_transfer_names_a_real_department() -> None:
    with pytest.raises(IllegalTransition, match="no department 'navy'"):
        check_transition(
            State.REPORTED, State.TRANSFERRED, by="c", at_ms=1, reason="x", department="navy"
        )
    t = check_transition(
        State.REPORTED,
        State.TRANSFERRED,
        by="c",
        at_ms=1,
        reason="x",
        department="forestry",
        owner="water",
    )
    assert t.extra == {"department": "forestry"}


def test_time_never_goes_back() -> None:
    tl = Timeline()
    tl.open("c", 1_000)
    tl.apply(State.TRIAGED, by="c", at_ms=1_000)  # same millisecond is fine
    with pytest.raises(IllegalTransition, match="earlier"):
        tl.apply(State.ASSIGNED, by="c", at_ms=999)
    assert tl.state == State.TRIAGED and len(tl.transitions) == 2


def _good_history() -> list:
    tl = Timeline()
    tl.open("citizen", 0)
    tl.apply(State.TRIAGED, by="chief", at_ms=10)
    tl.apply(State.ASSIGNED, by="chief", at_ms=20)
    tl.apply(State.ASSIGNED, by="chief", at_ms=30, reason="nearer boat")
    tl.apply(
        State.TRANSFERRED,
        by="chief",
        at_ms=40,
        reason="forest land",
        department=Department.FORESTRY,
    )
    return tl.transitions


def test_replay_rebuilds_a_good_history() -> None:
    history = _good_history()
    tl = Timeline.replay(history)
    assert tl.state == State.TRANSFERRED and tl.transitions == history


@pytest.mark.parametrize(
    ("index", "change", "message"),
    [
        (0, {"to_state": State.TRIAGED}, "start with the report"),
        (1, {"to_state": State.CLOSED}, "cannot become closed"),
        (2, {"from_state": State.REPORTED}, "starts from reported"),
        (3, {"reason": ""}, "reassignment needs a reason"),
        (3, {"at_ms": 5}, "earlier"),
        (4, {"extra": {}}, "department it goes to"),
        (4, {"by": ""}, "who"),
    ],
)
def test_replay_refuses_a_tampered_history(index: int, change: dict, message: str) -> None:
    history = _good_history()
    history[index] = dataclasses.replace(history[index], **change)
    with pytest.raises(IllegalTransition, match=message):
        Timeline.replay(history)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(list(State)), st.integers(-2, 5), st.sampled_from(["", "why"])),
        max_size=30,
    )
)
def test_random_walks_replay_to_the_same_state(steps: list[tuple[State, int, str]]) -> None:
    tl = Timeline()
    tl.open("c", 0)
    now = 0
    for target, dt, reason in steps:
        before = list(tl.transitions)
        try:
            tl.apply(
                target,
                by="c",
                at_ms=now + dt,
                reason=reason,
                department=Department.FORESTRY,
                owner="water",
            )
            now += dt
        except IllegalTransition:
            assert tl.transitions == before  # a refusal changes nothing
        if before[-1].to_state in TERMINAL:
            assert tl.transitions == before  # terminal stays terminal
    assert Timeline.replay(tl.transitions).state == tl.state


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "dispatch.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _committed() -> dict:
    return json.loads((ROOT / "config" / "dispatch.json").read_text(encoding="utf-8"))


def _set(doc: dict, keys: tuple[str, ...], value: object) -> dict:
    node = doc
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("keys", "value", "field"),
    [
        (("deadlines", "2", "assign_s"), "900", "deadlines.2.assign_s"),
        (("deadlines", "2", "assign_s"), 900.0, "deadlines.2.assign_s"),
        (("deadlines", "2", "assign_s"), True, "deadlines.2.assign_s"),
        (("deadlines", "2", "handle_s"), 60, "deadlines.2"),  # shorter than assign + arrive
        (("unit_silent_after_s",), "120", "unit_silent_after_s"),
        (("types", "noise", "departments"), ["water", "water"], "types.noise"),
        (("types", "noise", "departments"), [], "types.noise.departments"),
        (("types", "noise", "domain"), "air", "types.noise.domain"),
        (("kind_domains", "drone"), [], "kind_domains.drone"),
        (("deadlines", "4"), {"assign_s": 1, "arrive_s": 1, "handle_s": 2}, "deadlines.4"),
    ],
)
def test_wrong_values_are_refused_naming_file_and_field(
    tmp_path: Path, keys: tuple[str, ...], value: object, field: str
) -> None:
    path = _write(tmp_path, _set(_committed(), keys, value))
    with pytest.raises(ValueError, match=r"dispatch rules .*dispatch\.json") as e:
        load_rules(path)
    assert field in str(e.value)


def test_a_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"dispatch rules .*nowhere\.json"):
        load_rules(tmp_path / "nowhere.json")


def test_a_copy_of_the_committed_file_loads(tmp_path: Path) -> None:
    rules = load_rules(_write(tmp_path, _committed()))
    assert rules == load_rules()
