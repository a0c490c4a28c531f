"""Patrol coverage: which places a unit visits, coverage figures and patrol-log checks. Pure:
no Redis, no MQTT, no Dash.

`advance` turns one unit's positions into visits incrementally (the worker keeps its small state
in Redis); the coverage figures, blind spots and warnings are computed from the last visit per
place; `reconcile` checks a patrol log against the unit's track. The places and the rules are
in domain/coverage_places.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from domain.coverage_places import (
    MS_PER_H,
    NOWHERE,
    PLACE_KINDS,
    CoverageGeography,
    KindRule,
    Place,
    Places,
    VisitRules,
)
from domain.geo import haversine_m

# -- visits from positions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    ts_ms: int
    lon: float
    lat: float
    kind: str  # unit kind: foot, vehicle, boat, drone
    status: str  # unit status
    speed_m_s: float | None = None  # None: derived from the previous position


@dataclass(frozen=True, slots=True)
class Visit:
    place_id: str
    place_kind: str
    unit_id: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class TrackerState:
    """One unit's tracker state, small enough for a Redis hash (`to_hash` / `from_hash`)."""

    ts_ms: int
    lon: float
    lat: float
    entered: Mapping[str, int] = field(default_factory=dict)  # place -> start of current stay
    recorded: Mapping[str, int] = field(default_factory=dict)  # place -> last visit recorded

    def to_hash(self) -> dict[str, str]:
        return {
            "ts": str(self.ts_ms),
            "lon": repr(self.lon),
            "lat": repr(self.lat),
            "entered": orjson.dumps(dict(self.entered)).decode(),
            "recorded": orjson.dumps(dict(self.recorded)).decode(),
        }

    def to_json(self) -> bytes:
        """Compact form for one hash field (the worker reads thousands per batch)."""
        return orjson.dumps([self.ts_ms, self.lon, self.lat, self.entered, self.recorded])

    @classmethod
    def from_json(cls, raw: bytes | str) -> TrackerState:
        try:
            ts, lon, lat, entered, recorded = orjson.loads(raw)
            if not (isinstance(entered, dict) and isinstance(recorded, dict)):
                raise TypeError("entered and recorded must be objects")
            return cls(int(ts), float(lon), float(lat), entered, recorded)
        except (ValueError, TypeError, orjson.JSONDecodeError) as e:
            raise ValueError(f"malformed coverage tracker state: {e!r}") from None

    @classmethod
    def from_hash(cls, h: Mapping[Any, Any]) -> TrackerState | None:
        """The state from a Redis hash (str or bytes); None for an empty hash (a new unit)."""
        if not h:
            return None
        d = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in h.items()
        }
        try:
            return cls(
                int(d["ts"]),
                float(d["lon"]),
                float(d["lat"]),
                {str(k): int(v) for k, v in orjson.loads(d["entered"]).items()},
                {str(k): int(v) for k, v in orjson.loads(d["recorded"]).items()},
            )
        except (KeyError, ValueError, TypeError, AttributeError, orjson.JSONDecodeError) as e:
            raise ValueError(f"malformed coverage tracker state: {e!r}") from None


def _speed(
    prev: tuple[int, float, float] | None,
    ts_ms: int,
    lon: float,
    lat: float,
    given: float | None,
    max_gap_s: int,
) -> float | None:
    """The reported speed, else the speed from the previous position; None when unknown (no
    previous position, or one so long ago that the average says nothing about patrolling)."""
    if given is not None:
        return given
    if prev is None or not 0 < ts_ms - prev[0] <= max_gap_s * 1000:
        return None
    return haversine_m(prev[1], prev[2], lon, lat) / ((ts_ms - prev[0]) / 1000)


def _eligible(places: Places, rule: KindRule) -> list[tuple[str, str]]:
    found = [("land", places.land)] + [("coast", c) for c in places.coast]
    found.append(("sea", places.sea))
    return [(k, pid) for k, pid in found if pid is not None and rule.counts_for(k)]


def advance(
    state: TrackerState | None, pos: Position, places: Places, rules: VisitRules, unit_id: str
) -> tuple[TrackerState, list[Visit]]:
    """The unit's next state and the visits to record for one new position at `places`.

    A stay counts while positions keep coming (no gap above max_gap_s) from a kind that counts
    for the place, in a patrol status, at no more than the kind's max speed; once it has lasted
    min_dwell_s a visit is recorded, then again at most every revisit_s so that counters are not
    inflated by every report. A position not newer than the last one (a redelivery, or out of
    order) changes nothing.
    """
    new, visits, _presence = step(state, pos, places, rules, unit_id)
    return new, visits


def step(
    state: TrackerState | None, pos: Position, places: Places, rules: VisitRules, unit_id: str
) -> tuple[TrackerState, list[Visit], float]:
    """`advance`, and the seconds of patrol presence the position adds for the heatmap: the
    time since the previous position when both belong to one stay and this one is patrolling
    (0 for a first position, after a gap, or when not patrolling)."""
    if state is not None and pos.ts_ms <= state.ts_ms:
        return state, [], 0.0
    if not (math.isfinite(pos.lon) and math.isfinite(pos.lat)):
        raise ValueError("position without finite coordinates (ingest rejects those)")
    prev = None if state is None else (state.ts_ms, state.lon, state.lat)
    speed = _speed(prev, pos.ts_ms, pos.lon, pos.lat, pos.speed_m_s, rules.max_gap_s)
    rule = rules.kinds.get(pos.kind)  # type: ignore[call-overload]  # StrEnum keys, str lookup
    patrolling = (
        rule is not None
        and pos.status in rules.patrol_statuses
        and (speed is None or speed <= rule.max_speed_m_s)
    )
    here = _eligible(places, rule) if patrolling and rule is not None else []
    continuing = state is not None and pos.ts_ms - state.ts_ms <= rules.max_gap_s * 1000
    before = state.entered if continuing and state is not None else {}
    entered = {pid: before.get(pid, pos.ts_ms) for _k, pid in here}
    revisit_ms = rules.revisit_s * 1000
    recorded = {
        pid: ms
        for pid, ms in (state.recorded.items() if state else ())
        if pos.ts_ms - ms < revisit_ms
    }  # older entries throttle nothing any more
    visits = []
    for kind, pid in here:
        if pos.ts_ms - entered[pid] >= rules.min_dwell_s * 1000 and pid not in recorded:
            recorded[pid] = pos.ts_ms
            visits.append(Visit(pid, kind, unit_id, pos.ts_ms))
    presence = (pos.ts_ms - state.ts_ms) / 1000 if continuing and patrolling and state else 0.0
    return TrackerState(pos.ts_ms, pos.lon, pos.lat, entered, recorded), visits, presence


# -- coverage figures ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figure:
    covered: int
    total: int

    @property
    def percent(self) -> float | None:
        return None if self.total == 0 else 100.0 * self.covered / self.total


def _met(place: Place, last_ms: int | None, now_ms: int) -> bool:
    return last_ms is not None and now_ms - last_ms <= place.requirement_h * MS_PER_H


def coverage_figures(
    places: Iterable[Place], last_visit: Mapping[str, int], now_ms: int, since_ms: int | None = None
) -> dict[str, dict[str, Figure]]:
    """Covered / total per scope ("district" and each sub-district) and place kind.

    Without since_ms a place is covered when its requirement is met at now_ms (visited within
    its last requirement_h hours); with since_ms (a window such as "today"), when it was visited
    at or after since_ms.
    """
    counts: dict[str, dict[str, list[int]]] = {"district": {k: [0, 0] for k in PLACE_KINDS}}
    for p in places:
        last = last_visit.get(p.id)
        ok = (
            (last is not None and last >= since_ms)
            if since_ms is not None
            else _met(p, last, now_ms)
        )
        for scope in ("district", p.subdistrict):
            c = counts.setdefault(scope, {k: [0, 0] for k in PLACE_KINDS})[p.kind]
            c[0] += ok
            c[1] += 1
    return {scope: {k: Figure(*c) for k, c in kinds.items()} for scope, kinds in counts.items()}


@dataclass(frozen=True, slots=True)
class BlindSpot:
    place: Place
    last_visit_ms: int | None  # None: never visited
    hours_since: float | None


@dataclass(frozen=True, slots=True)
class DueSoon:
    place: Place
    last_visit_ms: int
    deadline_ms: int  # the requirement is missed after this
    hours_left: float


def blind_spots(
    places: Iterable[Place], last_visit: Mapping[str, int], now_ms: int
) -> list[BlindSpot]:
    """Places whose requirement is not met at now_ms: never visited first, then the longest
    unvisited, then by id (a stable order for the page and the CSV)."""
    out = [
        BlindSpot(p, last, None if last is None else (now_ms - last) / MS_PER_H)
        for p in places
        if not _met(p, last := last_visit.get(p.id), now_ms)
    ]
    out.sort(key=lambda b: (b.last_visit_ms is not None, b.last_visit_ms or 0, b.place.id))
    return out


def about_to_miss(
    places: Iterable[Place], last_visit: Mapping[str, int], now_ms: int, lead_h: float
) -> list[DueSoon]:
    """Places still covered whose requirement runs out within lead_h hours, soonest first: the
    duty chief is warned while there is time to send someone."""
    out = []
    for p in places:
        last = last_visit.get(p.id)
        if last is None or not _met(p, last, now_ms):
            continue
        deadline = last + round(p.requirement_h * MS_PER_H)
        if deadline - now_ms <= lead_h * MS_PER_H:
            out.append(DueSoon(p, last, deadline, (deadline - now_ms) / MS_PER_H))
    out.sort(key=lambda d: (d.deadline_ms, d.place.id))
    return out


# -- patrol-log reconciliation (留痕) ------------------------------------------------------------

FLAGS = ("ok", "unknown_place", "wrong_kind", "no_track", "not_visited", "too_brief")


@dataclass(frozen=True, slots=True)
class PatrolClaim:
    unit_id: str
    from_ms: int
    to_ms: int
    place_ids: tuple[str, ...]
    kind: str | None = None  # the unit's kind: applies its speed limit and the places it counts for


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    place_id: str
    flag: str  # one of FLAGS
    seconds_inside: float = 0.0  # all stays in the window
    longest_stay_s: float = 0.0  # the longest continuous stay (what min_dwell_s is checked on)
    first_ms: int | None = None
    last_ms: int | None = None


def _clean_track(track: Iterable[Sequence[float]], from_ms: int, to_ms: int) -> list[tuple]:
    """In-window positions with finite coordinates, by time, one per timestamp (the first)."""
    seen: set[int] = set()
    out = []
    for pt in sorted(track, key=lambda p: p[0]):
        ts = int(pt[0])
        if (
            from_ms <= ts <= to_ms
            and ts not in seen
            and math.isfinite(pt[1])
            and math.isfinite(pt[2])
        ):
            seen.add(ts)
            out.append((ts, float(pt[1]), float(pt[2]), pt[3] if len(pt) > 3 else None))
    return out


def reconcile(
    claim: PatrolClaim, track: Iterable[Sequence[float]], geo: CoverageGeography, rules: VisitRules
) -> list[ClaimCheck]:
    """One check per claimed place (in claim order, repeats dropped): ok when the track stayed
    there continuously for at least min_dwell_s inside the window, else why not. The track is
    the unit's own positions: (ts_ms, lon, lat) or (ts_ms, lon, lat, speed_m_s)."""
    if claim.from_ms > claim.to_ms:
        raise ValueError("patrol log window ends before it starts")
    rule = None
    if claim.kind is not None:
        rule = rules.kinds.get(claim.kind)  # type: ignore[call-overload]  # as in advance
        if rule is None:
            raise ValueError(
                f"unknown unit kind {claim.kind!r}; known: {', '.join(sorted(rules.kinds))}"
            )
    points = _clean_track(track, claim.from_ms, claim.to_ms)
    inside: list[set[str]] = []
    prev = None
    for ts, lon, lat, given in points:
        speed = _speed(prev, ts, lon, lat, given, rules.max_gap_s)
        prev = (ts, lon, lat)
        fast = rule is not None and speed is not None and speed > rule.max_speed_m_s
        where = NOWHERE if fast else geo.locate(lon, lat)
        inside.append({pid for pid in (where.land, where.sea, *where.coast) if pid})
    checks = []
    for pid in dict.fromkeys(claim.place_ids):
        place = geo.places.get(pid)
        if place is None:
            checks.append(ClaimCheck(pid, "unknown_place"))
        elif rule is not None and not rule.counts_for(place.kind):
            checks.append(ClaimCheck(pid, "wrong_kind"))
        elif not points:
            checks.append(ClaimCheck(pid, "no_track"))
        else:
            checks.append(_check_place(pid, points, inside, rules))
    return checks


def _check_place(
    pid: str, points: list[tuple], inside: list[set[str]], rules: VisitRules
) -> ClaimCheck:
    total = longest = stay = 0.0
    first = last = None
    for i, (ts, *_rest) in enumerate(points):
        if pid not in inside[i]:
            continue
        first = ts if first is None else first
        if last is not None and last == points[i - 1][0] and ts - last <= rules.max_gap_s * 1000:
            stay += (ts - last) / 1000
            total += (ts - last) / 1000
        else:
            stay = 0.0  # a new stay begins
        longest = max(longest, stay)
        last = ts
    if first is None:
        return ClaimCheck(pid, "not_visited")
    flag = "ok" if longest >= rules.min_dwell_s else "too_brief"
    return ClaimCheck(pid, flag, total, longest, first, last)
