"""Patrol coverage in Redis, kept incrementally as positions arrive (the ingest worker calls
`record` once per batch) so that every coverage question is answered from small counters:

- the last visit per place (`cov:last`, and per unit kind and department for the filters);
- per local day, which places were visited by which kind and department (the daily trend);
- per hour, seconds of patrol presence per h3 hexagon, kind and department (the heatmap).

Each unit's tracker state (domain.coverage.TrackerState) is kept in Redis
(keys.COVERAGE_TRACKERS), so any worker can take the next position of any unit. Last-visit
times use ZADD GT: a late batch never moves a time back. Key names come from store/keys.py.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import h3
import redis

from domain.coverage import Position, TrackerState, Visit, step
from domain.coverage_places import CoverageGeography, Place
from domain.vocab import LOCAL_TZ, Department, UnitKind, local_day
from store import keys, slots
from store.codec import text as as_text
from store.snapshots import read_groups

log = logging.getLogger("ecocommand.coverage")

DAY_KEEP_S = 400 * 86_400  # the trend: over a year of days
PRESENCE_KEEP_S = 9 * 86_400  # the heatmap's longest window is 7 local days
HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class UnitPosition:
    unit_id: str
    ts_ms: int
    lon: float
    lat: float
    speed_m_s: float | None = None


def day_start_ms(ms: int) -> int:
    """Local midnight of the day `ms` falls on."""
    d = dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ)
    return int(d.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def utc_hour(ms: int) -> str:
    return _utc_hour(ms // HOUR_MS)


@lru_cache(maxsize=512)
def _utc_hour(hour: int) -> str:
    return dt.datetime.fromtimestamp(hour * 3600, dt.UTC).strftime("%Y%m%d%H")


# The batch's trackers, each written only if it is still the one the batch read (compare and
# set), with the visits its positions made. With several workers behind a shared subscription,
# positions of one unit reach two of them at once; the one that loses reads the unit again and
# steps its positions on the newer tracker, so no visit or presence second is counted on a
# tracker that moved meanwhile, and no tracker goes back. Visits are written with their tracker
# in one step: a retry after a failure never finds the tracker moved without its visits.
# Every key is in the shared slot. KEYS: the trackers hash, cov:last, cov:last:by. ARGV: per unit,
# the unit, the tracker read ("" for none), the new one, n visits, then n x (place, ts, the
# kind's and department's last-visit key, the day's key, the day's member).
# Returns the (1-based) indexes of the units whose tracker had moved: nothing is written for those.
_WRITE_TRACKERS = """
local trackers, last, last_by = KEYS[1], KEYS[2], KEYS[3]
local a, i, lost = 1, 0, {}
while a <= #ARGV do
  local unit, read, new, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local v0 = a + 4
  a = v0 + 5 * n
  i = i + 1
  local cur = redis.call('HGET', trackers, unit) or ''
  if cur ~= read then
    lost[#lost + 1] = i
  else
    if cur ~= new then redis.call('HSET', trackers, unit, new) end
    for j = v0, a - 1, 5 do
      local place, ts = ARGV[j], ARGV[j + 1]
      redis.call('ZADD', last, 'GT', ts, place)
      redis.call('HSET', last_by, place, unit)
      redis.call('ZADD', ARGV[j + 2], 'GT', ts, place)
      redis.call('ZADD', ARGV[j + 3], 'GT', ts, ARGV[j + 4])
    end
  end
end
return lost
"""
CLAIM_ROUNDS = 5  # a unit's positions contended this often in one batch are left out (logged)


@dataclass(slots=True)
class _Stepped:
    """What one unit's positions of a batch made of its tracker."""

    read: bytes  # the tracker as read (b"" for none)
    tracker: TrackerState | None
    visits: list[tuple[Visit, str, str]]
    presence: dict[tuple[int, str], float]


def _tracker(raw: bytes | None) -> TrackerState | None:
    if raw is None:
        return None
    try:
        return TrackerState.from_json(raw)
    except ValueError:
        return None  # a damaged tracker starts again rather than stop coverage


class CoverageRecorder:
    """Folds batches of unit positions into the coverage counters (the worker holds one).

    Visits are written with their batch: a cell shows visited within the batch's round trip.
    Presence seconds only feed the heatmap and add up, so they are summed in memory and
    written every `flush_s` seconds of data time (and when the hour changes): one write per
    hexagon, kind and department instead of one per position. A crash loses at most that
    much heatmap time, never a visit."""

    def __init__(
        self, r: redis.Redis, geo: CoverageGeography, hex_res: int, flush_s: float = 60.0
    ) -> None:
        self.r, self.geo, self.hex_res, self.flush_ms = r, geo, hex_res, int(flush_s * 1000)
        self.pending: dict[tuple[int, str], float] = defaultdict(float)  # (hour, member)
        self.flushed_ms = 0
        self._write = r.register_script(_WRITE_TRACKERS)

    def record(self, positions: Sequence[UnitPosition]) -> list[Visit]:
        """Two round trips whatever the batch size: read the units (profile and tracker), write
        their trackers (compare and set) with their visits; a unit whose tracker another worker
        moved meanwhile is read and stepped again. Safe to retry: a unit's visits are kept with
        its tracker or not at all."""
        ordered = sorted(positions, key=lambda x: x.ts_ms)
        todo = list(dict.fromkeys(p.unit_id for p in ordered))
        visits: list[tuple[Visit, str, str]] = []
        presence: dict[tuple[int, str], float] = defaultdict(float)
        for _ in range(CLAIM_ROUNDS):
            if not todo:
                break
            wanted = set(todo)
            stepped = self._step([p for p in ordered if p.unit_id in wanted], todo)
            lost = self._claim(stepped)
            for u, done in stepped.items():
                if u not in lost:
                    visits += done.visits
                    for k, seconds in done.presence.items():
                        presence[k] += seconds
            todo = [u for u in todo if u in lost]
        if todo:
            log.warning(
                "coverage: %d unit(s) contended %d times, positions left out: %s",
                len(todo),
                CLAIM_ROUNDS,
                todo[:5],
            )
        for k, seconds in presence.items():
            self.pending[k] += seconds
        latest = max((p.ts_ms for p in positions), default=0)
        if self.pending and (
            latest - self.flushed_ms >= self.flush_ms
            or utc_hour(latest) != utc_hour(self.flushed_ms)
        ):
            self.flush(latest)
        return [v for v, _k, _d in visits]

    def _step(self, positions: list[UnitPosition], units: list[str]) -> dict[str, _Stepped]:
        """The units' positions (in time order) stepped on their trackers as read now."""
        *rows, trackers = read_groups(
            self.r,
            [
                ([keys.state("unit", u) for u in units], ["kind", "department", "status"]),
                ([keys.COVERAGE_TRACKERS], units),
            ],
        )
        profile: dict[str, list[str | None]] = {}
        out: dict[str, _Stepped] = {}
        for u, row, t in zip(units, rows, trackers, strict=True):
            if row[0]:  # no profile yet: which rules apply is unknown
                profile[u] = [as_text(v) for v in row]
                out[u] = _Stepped(t or b"", _tracker(t), [], defaultdict(float))
        for p in positions:
            done = out.get(p.unit_id)
            if done is None:
                continue
            kind, department, status = profile[p.unit_id]
            pos = Position(p.ts_ms, p.lon, p.lat, kind, status or "available", p.speed_m_s)
            places = self.geo.locate(p.lon, p.lat)
            done.tracker, made, seconds = step(done.tracker, pos, places, self.geo.rules, p.unit_id)
            if seconds > 0 and (places.land or places.sea):
                cell = h3.latlng_to_cell(p.lat, p.lon, self.hex_res)
                done.presence[(p.ts_ms // HOUR_MS, f"{cell}|{kind}|{department}")] += seconds
            done.visits += [(v, kind, department) for v in made]
        return out

    def _claim(self, stepped: dict[str, _Stepped]) -> set[str]:
        """Write the stepped trackers, with their visits, where they are still as read; the
        units lost."""
        units = [u for u, done in stepped.items() if done.tracker is not None]
        if not units:
            return set()
        args: list[str | bytes | int] = []
        days = set()
        for u in units:
            done = stepped[u]
            args += (u, done.read, done.tracker.to_json(), len(done.visits))  # type: ignore[union-attr]
            for v, kind, department in done.visits:
                day = keys.coverage_day(local_day(v.ts_ms))
                days.add(day)
                args += (
                    v.place_id,
                    v.ts_ms,
                    keys.coverage_last(kind, department),
                    day,
                    f"{v.place_id}|{kind}|{department}",
                )
        pipe = slots.pipeline(self.r, keys.SHARED_TAG)
        self._write(
            keys=[keys.COVERAGE_TRACKERS, keys.COVERAGE_LAST, keys.COVERAGE_LAST_BY],
            args=args,
            client=pipe,
        )
        for day in days:
            pipe.expire(day, DAY_KEEP_S)
        lost = pipe.execute()[0]
        return {units[int(i) - 1] for i in lost}

    def flush(self, now_ms: int | None = None) -> None:
        """Write the presence seconds summed so far, per hour and per local day (a day or a
        week is then read from a few day hashes instead of 24 or 168 hour hashes)."""
        if self.pending:
            pipe = self.r.pipeline(transaction=False)
            names = set()
            for (hour, member), seconds in self.pending.items():
                for name in (
                    keys.coverage_presence(utc_hour(hour * HOUR_MS)),
                    keys.coverage_presence_day(local_day(hour * HOUR_MS)),
                ):
                    pipe.hincrbyfloat(name, member, round(seconds, 1))
                    names.add(name)
            for name in names:
                pipe.expire(name, PRESENCE_KEEP_S)
            pipe.execute()
            self.pending.clear()
        self.flushed_ms = now_ms if now_ms is not None else self.flushed_ms


def record(
    r: redis.Redis, positions: Sequence[UnitPosition], geo: CoverageGeography, hex_res: int
) -> list[Visit]:
    """One batch, everything written at once (tools and tests; the worker keeps a recorder)."""
    rec = CoverageRecorder(r, geo, hex_res, flush_s=0)
    visits = rec.record(positions)
    rec.flush()
    return visits


# -- questions ----------------------------------------------------------------------------------


def _filters(kinds: Iterable[str], departments: Iterable[str]) -> tuple[list[str], list[str]]:
    """Validated filters (empty = all); anything outside the vocabulary is dropped."""
    ks = [k for k in kinds if k in {x.value for x in UnitKind}]
    ds = [d for d in departments if d in {x.value for x in Department}]
    return ks, ds


def last_visits(
    r: redis.Redis, kinds: Iterable[str] = (), departments: Iterable[str] = ()
) -> dict[str, int]:
    """Place -> last visit ms, by any unit or only by units of the given kinds/departments."""
    ks, ds = _filters(kinds, departments)
    if not ks and not ds:
        rows = r.zrange(keys.COVERAGE_LAST, 0, -1, withscores=True)
    else:
        sets = [
            keys.coverage_last(k, d)
            for k in ks or [x.value for x in UnitKind]
            for d in ds or [x.value for x in Department]
        ]
        rows = r.zunion(sets, aggregate="MAX", withscores=True)
    return {as_text(m): int(s) for m, s in rows}


def last_visitors(r: redis.Redis) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in r.hgetall(keys.COVERAGE_LAST_BY).items()}


def daily_visited(
    r: redis.Redis, days: Sequence[str], kinds: Iterable[str] = (), departments: Iterable[str] = ()
) -> dict[str, set[str]]:
    """Local day (YYYYMMDD) -> the places visited that day (by the filtered units)."""
    ks, ds = _filters(kinds, departments)
    pipe = r.pipeline(transaction=False)
    for day in days:
        pipe.zrange(keys.coverage_day(day), 0, -1)
    out = {}
    for day, members in zip(days, pipe.execute(), strict=True):
        visited = set()
        for m in members:
            place, kind, department = as_text(m).split("|")
            if (not ks or kind in ks) and (not ds or department in ds):
                visited.add(place)
        out[day] = visited
    return out


def presence_keys(from_ms: int, to_ms: int) -> list[str]:
    """The presence hashes covering the hours that overlap [from, to], to_ms being now (no
    presence after it yet): a whole local day from its day hash, other hours one by one."""
    out, t = [], from_ms - from_ms % HOUR_MS
    while t <= to_ms:
        if t == day_start_ms(t):
            out.append(keys.coverage_presence_day(local_day(t)))
            t += 24 * HOUR_MS
        else:
            out.append(keys.coverage_presence(utc_hour(t)))
            t += HOUR_MS
    return out


def presence(
    r: redis.Redis,
    from_ms: int,
    to_ms: int,
    kinds: Iterable[str] = (),
    departments: Iterable[str] = (),
) -> dict[str, float]:
    """h3 hexagon -> seconds of patrol presence in the hours overlapping [from, to] (to: now)."""
    ks, ds = _filters(kinds, departments)
    pipe = r.pipeline(transaction=False)
    for name in presence_keys(from_ms, to_ms):
        pipe.hgetall(name)
    out: dict[str, float] = defaultdict(float)
    for fields in pipe.execute():
        for member, seconds in fields.items():
            cell, kind, department = as_text(member).split("|")
            if (not ks or kind in ks) and (not ds or department in ds):
                out[cell] += float(seconds)
    return dict(out)


def owners(r: redis.Redis, geo: CoverageGeography) -> dict[str, str]:
    """Place -> responsible person: the file's, unless an admin reassigned it."""
    override = {as_text(k): as_text(v) for k, v in r.hgetall(keys.COVERAGE_OWNERS).items()}
    return {pid: override.get(pid, p.owner) for pid, p in geo.places.items()}


def set_owner(r: redis.Redis, place: Place, owner: str, by: str, at_ms: int) -> None:
    """Reassign a place's responsible person, logged in the events stream with who and when."""
    pipe = r.pipeline(transaction=True)
    pipe.hset(keys.COVERAGE_OWNERS, place.id, owner)
    pipe.xadd(
        keys.EVENTS,
        {"type": "coverage_owner", "id": place.id, "owner": owner, "by": by, "ts": at_ms},
    )
    pipe.incr(keys.VERSION)
    pipe.execute()


def last_visit_of(r: redis.Redis, place_ids: list[str]) -> dict[str, int | None]:
    """Place -> last visit ms (None: never visited), for a few places."""
    if not place_ids:
        return {}
    scores = r.zmscore(keys.COVERAGE_LAST, place_ids)
    return {p: None if s is None else int(s) for p, s in zip(place_ids, scores, strict=True)}


def owner_overridden(r: redis.Redis, place_id: str) -> bool:
    return bool(r.hexists(keys.COVERAGE_OWNERS, place_id))
