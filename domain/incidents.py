"""Incidents (cases) as the bureau handles them: sources, types, the state machine, deadlines and
escalation. Pure: no Redis, no Dash, no MQTT.

    reported -> triaged -> assigned -> en_route -> on_scene -> handled -> closed
       |           |          |  ^         |           |
       |           |          +--+ reassign (with a reason)
       +-----------+----------+------------+-----------+--> rejected (reason), transferred (reason,
                                                              another department)

A unit may report arrival without having acknowledged first (assigned -> on_scene). Closed,
rejected and transferred are terminal: reopening is not modelled (a new incident is opened).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config import CONFIG_DIR, load_json_rules
from domain.geo import haversine_m
from domain.vocab import Department, Level, UnitKind


class State(StrEnum):
    REPORTED = "reported"
    TRIAGED = "triaged"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    HANDLED = "handled"
    CLOSED = "closed"
    REJECTED = "rejected"
    TRANSFERRED = "transferred"


class Source(StrEnum):
    SENSOR_ALERT = "sensor_alert"
    CITIZEN_REPORT = "citizen_report"
    PATROL_FINDING = "patrol_finding"
    TRANSFER = "transfer"
    HOTLINE = "hotline"
    MANUAL = "manual"


class IncidentType(StrEnum):
    WATER_POLLUTION = "water_pollution"
    ILLEGAL_DISCHARGE = "illegal_discharge"
    ILLEGAL_BUILDING = "illegal_building"
    ILLEGAL_FISHING = "illegal_fishing"
    ILLEGAL_LOGGING = "illegal_logging"
    ILLEGAL_SAND_MINING = "illegal_sand_mining"
    WASTE_DUMPING = "waste_dumping"
    NOISE = "noise"


class Domain(StrEnum):
    LAND = "land"
    SEA = "sea"
    COASTAL = "coastal"  # on the shore: land units and boats can both serve it


class Priority(IntEnum):
    """1 is the most urgent (特急); an int so that "less urgent" is simply "larger"."""

    URGENT = 1
    HIGH = 2
    ROUTINE = 3


_OPEN_EXITS = frozenset({State.REJECTED, State.TRANSFERRED})
TRANSITIONS: Mapping[State, frozenset[State]] = {
    State.REPORTED: frozenset({State.TRIAGED, State.ASSIGNED}) | _OPEN_EXITS,
    State.TRIAGED: frozenset({State.ASSIGNED}) | _OPEN_EXITS,
    State.ASSIGNED: frozenset({State.ASSIGNED, State.EN_ROUTE, State.ON_SCENE}) | _OPEN_EXITS,
    State.EN_ROUTE: frozenset({State.ASSIGNED, State.ON_SCENE}) | _OPEN_EXITS,
    State.ON_SCENE: frozenset({State.HANDLED}) | _OPEN_EXITS,
    State.HANDLED: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
    State.REJECTED: frozenset(),
    State.TRANSFERRED: frozenset(),
}
TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# units may be sent (or sent again) only from these: past "on scene" candidates mean nothing
ASSIGNABLE = frozenset(s for s, nxt in TRANSITIONS.items() if State.ASSIGNED in nxt)
NEEDS_REASON = frozenset({State.REJECTED, State.TRANSFERRED})


# An alert suggests an incident: of this type, this urgent (a duty chief confirms or dismisses).
ALERT_INCIDENT_TYPE = {
    "water_quality": IncidentType.WATER_POLLUTION,
    "geofence": IncidentType.ILLEGAL_FISHING,
    # the vessel watch (domain/vessel_rules.py): a dark, jumping, loitering or banned-fishing
    # vessel is a fisheries case to look into
    "ais_gap": IncidentType.ILLEGAL_FISHING,
    "position_jump": IncidentType.ILLEGAL_FISHING,
    "loitering": IncidentType.ILLEGAL_FISHING,
    "fishing_ban": IncidentType.ILLEGAL_FISHING,
}
SEVERITY_PRIORITY = {
    "critical": Priority.URGENT,
    "warning": Priority.HIGH,
    "info": Priority.ROUTINE,
}


def suggests_incident(alert: dict) -> bool:
    """An alert a duty chief can confirm as an incident: of a kind that maps to an incident
    type, and placed (an incident needs a location)."""
    placed = all(isinstance(alert.get(k), int | float) for k in ("lon", "lat"))
    return placed and str(alert.get("kind")) in ALERT_INCIDENT_TYPE


class IllegalTransition(ValueError):
    """A transition the state machine refuses, with a message for the person who asked."""


# Sources whose word the centre checks before sending anyone: the public's, not its own sensors,
# patrols, transfers or operators who took the call.
UNVERIFIED_SOURCES = frozenset({Source.CITIZEN_REPORT})


def to_verify(inc: Mapping[str, object]) -> bool:
    """A report from the public that no duty chief has verified (triaged) yet."""
    return inc.get("source") in UNVERIFIED_SOURCES and inc.get("state") == State.REPORTED


# Reports of one thing seen by several people: the same type, this close, opened this near in
# time (a spill is reported from both banks of a river, an hour apart).
DUPLICATE_RADIUS_M = 500.0
DUPLICATE_WINDOW_MS = 3 * 3_600_000


def possible_duplicates(
    inc: Mapping[str, Any], others: list[Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any], float]]:
    """The open incidents among `others` that may report what `inc` reports, nearest first,
    with their distance in metres."""
    out = []
    for o in others:
        if o.get("id") == inc.get("id") or o.get("type") != inc.get("type"):
            continue
        if o.get("state") in TERMINAL:
            continue
        apart = abs(int(o.get("created_ms") or 0) - int(inc.get("created_ms") or 0))
        try:
            metres = haversine_m(
                float(inc["lon"]), float(inc["lat"]), float(o["lon"]), float(o["lat"])
            )
        except (KeyError, TypeError, ValueError):
            continue
        if apart <= DUPLICATE_WINDOW_MS and metres <= DUPLICATE_RADIUS_M:
            out.append((o, metres))
    return sorted(out, key=lambda x: x[1])


def next_states(state: State) -> list[State]:
    return sorted(TRANSITIONS[state], key=list(State).index)


def allowed_from(target: State) -> list[State]:
    """The states from which `target` may be reached (what the store checks atomically)."""
    return [s for s, nxt in TRANSITIONS.items() if target in nxt]


# A unit's way through an incident, in the order its reports move it.
UNIT_WAY = (State.ASSIGNED, State.EN_ROUTE, State.ON_SCENE, State.HANDLED)


def before_its_turn(target: State, state: State) -> bool:
    """A unit's report that needs a step the incident has not taken yet ("handled" while it is
    en route): the report before it may be on its way, applied by another worker."""
    if state not in UNIT_WAY or target not in UNIT_WAY:
        return False
    froms = [UNIT_WAY.index(s) for s in allowed_from(target) if s in UNIT_WAY]
    return bool(froms) and UNIT_WAY.index(state) < min(froms)


@dataclass(frozen=True, slots=True)
class Transition:
    from_state: State | None
    to_state: State
    by: str
    at_ms: int
    reason: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


def check_transition(
    current: State,
    target: State,
    *,
    by: str,
    at_ms: int,
    reason: str = "",
    department: Department | str | None = None,
    owner: str | None = None,
    previous_ms: int | None = None,
) -> Transition:
    """The transition, or IllegalTransition saying why not."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(s.value for s in next_states(current)) or "none (it is final)"
        raise IllegalTransition(
            f"an incident that is {current.value} cannot become {target.value}; allowed: {allowed}"
        )
    if not by.strip():
        raise IllegalTransition("a transition must say who made it")
    if target in NEEDS_REASON and not reason.strip():
        raise IllegalTransition(f"{target.value} needs a reason")
    if current == target and not reason.strip():
        raise IllegalTransition("a reassignment needs a reason")
    extra: dict[str, str] = {}
    if target == State.TRANSFERRED:
        if department is None:
            raise IllegalTransition("a transfer needs the department it goes to")
        try:  # a replayed history carries the department as a plain string
            department = Department(department)
        except ValueError:
            raise IllegalTransition(f"no department {str(department)[:64]!r}") from None
        if owner is not None and department.value == owner:
            raise IllegalTransition(f"the incident already belongs to {owner}")
        extra["department"] = department.value
    if previous_ms is not None and at_ms < previous_ms:
        raise IllegalTransition("a transition cannot be earlier than the one before it")
    return Transition(current, target, by, at_ms, reason, extra)


@dataclass
class Timeline:
    """An incident's transitions in order; `apply` checks each against the state machine."""

    transitions: list[Transition] = field(default_factory=list)

    @property
    def state(self) -> State | None:
        return self.transitions[-1].to_state if self.transitions else None

    def open(self, by: str, at_ms: int, reason: str = "") -> Transition:
        if self.transitions:
            raise IllegalTransition("the incident is already open")
        t = Transition(None, State.REPORTED, by, at_ms, reason)
        self.transitions.append(t)
        return t

    def apply(
        self,
        target: State,
        *,
        by: str,
        at_ms: int,
        reason: str = "",
        department: Department | str | None = None,
        owner: str | None = None,
    ) -> Transition:
        if self.state is None:
            raise IllegalTransition("open the incident first")
        t = check_transition(
            self.state,
            target,
            by=by,
            at_ms=at_ms,
            reason=reason,
            department=department,
            owner=owner,
            previous_ms=self.transitions[-1].at_ms,
        )
        self.transitions.append(t)
        return t

    def entered_ms(self, state: State) -> int | None:
        """When the incident first entered `state` (None: never)."""
        return next((t.at_ms for t in self.transitions if t.to_state == state), None)

    @classmethod
    def replay(cls, transitions: list[Transition]) -> Timeline:
        """A timeline rebuilt from a recorded history, every step checked again, so that a
        history edited by hand or by a bug is refused rather than trusted."""
        out = cls()
        for i, t in enumerate(transitions):
            if i == 0:
                if t.from_state is not None or t.to_state != State.REPORTED:
                    raise IllegalTransition("a history must start with the report")
                out.open(t.by, t.at_ms, t.reason)
                continue
            if t.from_state != out.state:
                raise IllegalTransition(
                    f"step {i} starts from {t.from_state} but the incident was {out.state}"
                )
            out.apply(
                t.to_state,
                by=t.by,
                at_ms=t.at_ms,
                reason=t.reason,
                department=t.extra.get("department"),
            )
        return out

    @classmethod
    def from_entries(cls, state: str, entered: Mapping[str, int]) -> Timeline:
        """A timeline rebuilt from the first-entry time of each state (what the store keeps in
        the incident's record), for the deadline clocks."""
        valid = {s.value for s in State}
        steps = sorted((ms, State(s)) for s, ms in entered.items() if s in valid)
        out = cls([Transition(None, s, "", ms) for ms, s in steps])
        if state and (not out.transitions or out.state != State(state)):
            last = out.transitions[-1].at_ms if out.transitions else 0
            out.transitions.append(Transition(None, State(state), "", last))
        return out


# --- rules from config/dispatch.json ---------------------------------------------------------

# strict: "300", 300.0 or true in the file are mistakes, not seconds
Seconds = Annotated[int, Field(gt=0, le=30 * 24 * 3600, strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TypeRule(_Strict):
    departments: Annotated[tuple[Department, ...], Field(min_length=1)]  # first = lead
    domain: Domain

    @model_validator(mode="after")
    def _distinct(self) -> TypeRule:
        if len(set(self.departments)) != len(self.departments):
            raise ValueError("a department is listed twice")
        return self


class Deadlines(_Strict):
    assign_s: Seconds
    arrive_s: Seconds
    handle_s: Seconds

    @model_validator(mode="after")
    def _room_to_handle(self) -> Deadlines:
        # handle counts from the report: shorter than assign + arrive, an incident served just
        # in time would already be overdue
        if self.handle_s < self.assign_s + self.arrive_s:
            raise ValueError(
                "handle_s (counted from the report) must be at least assign_s + arrive_s"
            )
        return self


class DispatchRules(_Strict):
    types: dict[IncidentType, TypeRule]
    deadlines: dict[Priority, Deadlines]
    unit_silent_after_s: Seconds
    kind_domains: dict[UnitKind, Annotated[frozenset[Domain], Field(min_length=1)]]

    @model_validator(mode="after")
    def _complete(self) -> DispatchRules:
        missing = [t.value for t in IncidentType if t not in self.types]
        missing += [f"priority {p.value}" for p in Priority if p not in self.deadlines]
        missing += [f"kind {k.value}" for k in UnitKind if k not in self.kind_domains]
        if missing:
            raise ValueError(f"no rule for {', '.join(missing)}")
        return self


@lru_cache(maxsize=4)
def load_rules(path: Path = CONFIG_DIR / "dispatch.json") -> DispatchRules:
    return load_json_rules(path, DispatchRules, "dispatch rules")


# --- deadlines and escalation ------------------------------------------------------------------

# clock name -> (starts when entering, stops when entering any of)
CLOCKS: dict[str, tuple[State, tuple[State, ...]]] = {
    "assign": (State.REPORTED, (State.ASSIGNED,)),
    "arrive": (State.ASSIGNED, (State.ON_SCENE,)),
    # measured from the report, as the bureau counts "time to handle a case"
    "handle": (State.REPORTED, (State.HANDLED,)),
}


def deadlines_missed(
    timeline: Timeline, priority: int, rules: DispatchRules, now_ms: int
) -> list[str]:
    """The clocks past their deadline: stopped late, or still running past it. A final state
    stops every clock that has not stopped."""
    limits = rules.deadlines[Priority(priority)]
    final = next((t.at_ms for t in timeline.transitions if t.to_state in TERMINAL), None)
    out = []
    for name, (start_state, stop_states) in CLOCKS.items():
        start = timeline.entered_ms(start_state)
        if start is None:
            continue
        stops = [m for s in stop_states if (m := timeline.entered_ms(s)) is not None]
        end = min(stops) if stops else (final if final is not None else now_ms)
        if end - start > getattr(limits, f"{name}_s") * 1000:
            out.append(name)
    return out


def record_deadlines_missed(
    record: Mapping[str, object], rules: DispatchRules, now_ms: int
) -> list[str]:
    """`deadlines_missed` of an incident as the store keeps it: its state, its priority and
    when it first entered each state (`at_<state>` fields)."""
    entered = {k[3:]: v for k, v in record.items() if k.startswith("at_") and isinstance(v, int)}
    timeline = Timeline.from_entries(str(record.get("state") or ""), entered)
    return deadlines_missed(timeline, int(record.get("priority") or 3), rules, now_ms)


_LEVELS = [Level.COMMUNITY, Level.SUBDISTRICT, Level.DISTRICT]
BASE_LEVEL = Level.COMMUNITY  # a case starts with the community work station


def escalated_level(base: Level, missed: int) -> Level:
    """One level up per missed deadline, as the bureau's three-level response asks."""
    return _LEVELS[min(len(_LEVELS) - 1, _LEVELS.index(base) + max(0, missed))]
