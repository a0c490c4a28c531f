"""Candidates for an incident: the units near it from the Redis geo indexes, with their live state
and current task, ranked by domain/dispatch.py (skills, land/sea, availability, ETA).

Besides the map's index of every unit, each unit sits in one GEO index per (kind, department) and
one per (kind, skill) for the incident types it is trained for (`facets_of`; the ingest scripts
move it in all of them). A query finds the nearest units of each index that can serve the
incident (GEOSEARCH with their distances) and reads and routes only those that could still make
the list: no route of a unit of kind k at straight distance d is quicker than
`domain.travel.min_eta_s(k, d)` (the straight line at k's speed, times 1.3 on land), so units
are read in the order of that floor, a batch at a time, until the floor of every unit not read
is past the `limit`-th ready ETA found; such a unit could rank only after `limit` ready ones.
An index is widened only while a unit further out in it could still beat that ETA. Walkers
are thus read only near the incident and drones further out, units of other departments not
at all, and the answer is what ranking every unit would give (tests/test_dispatch_pruning.py).
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Callable, Iterable
from typing import Any

import redis

from domain import incidents as model
from domain.dispatch import Candidate, merge, rank
from domain.travel import SPEED_M_S, TravelModel, min_eta_s
from domain.vocab import Department
from store import keys
from store.snapshots import ID_FIELD, field_types, read_groups

FIELDS = ("name", "department", "kind", "status", "skills", "lon", "lat", "ts")
FIRST_COUNT = 48  # units found at first in an index of drones (_first_count); x4 to widen
# Units read per round trip, times the limit: at first, then while some could still make the
# list. Each round trip is a Lua call and a ranking, but after the first batch few units are
# worth reading: batches of 2x did better at p95 than 5x or 10x (600 queries, 10,000 units).
READ_FIRST, READ_MORE = 5, 2
REDIS_DIST_MARGIN, REDIS_DIST_SLACK_M = 1e-3, 5.0  # see _straight_floor_m
SEARCH_RADIUS_KM = 40  # the whole district and its waters, from anywhere in it
INCIDENT_TYPES = frozenset(t.value for t in model.IncidentType)
_CANDIDATE_FIELDS = tuple(f.name for f in dataclasses.fields(Candidate))


def facets_of(kind: str, department: str, skills: Iterable[str]) -> tuple[str, ...]:
    """The dispatch GEO indexes a unit belongs to. Skills that are not incident types name no
    index: they cannot qualify a unit for anything."""
    return (
        keys.unit_geo_facet(kind, department=department),
        *(keys.unit_geo_facet(kind, skill=s) for s in sorted(set(skills) & INCIDENT_TYPES)),
    )


def reindex_units(r: redis.Redis) -> int:
    """Put every unit into the indexes its profile names (for data written before they
    existed, or after a change of the rules above). Returns how many units moved."""
    return _refile(r, _misfiled(r))


def _misfiled(r: redis.Redis) -> list[tuple[str, str, str]]:
    """(unit, what the facets hash holds for it, the indexes its profile names) of each unit
    whose two differ."""
    ids = [x.decode() for x in r.smembers(keys.index("unit"))]
    pipe = r.pipeline(transaction=False)
    for uid in ids:
        pipe.hmget(keys.state("unit", uid), "kind", "department", "skills")
    filed = {k.decode(): v.decode() for k, v in r.hgetall(keys.GEO_FACETS).items()}
    out = []
    for uid, (kind, dept, skills) in zip(ids, pipe.execute(), strict=True):
        if kind is None or dept is None:
            continue
        want = " ".join(
            facets_of(kind.decode(), dept.decode(), (skills or b"").decode().split(","))
        )
        have = filed.get(uid, "")
        if have.partition(" ")[2] != want:
            out.append((uid, have, want))
    return out


# Moves one unit from the indexes it is filed in into those its profile names, at its position
# *now*: the ingest scripts may have moved the unit, or filed it anew, since it was read (a
# worker reindexes while others ingest), and a position read earlier would be put back over a
# newer one. A unit filed anew meanwhile was filed by the profile's own step. Every key is in
# the shared slot. KEYS: the facets hash, the main unit GEO index; ARGV: id, what the hash held
# ("profile_ts index ...", or ""), the indexes wanted
_REFILE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if cur ~= ARGV[2] then return 0 end
local ts, first = '0', true
for name in string.gmatch(cur, '%S+') do
  if first then ts, first = name, false else redis.call('ZREM', name, ARGV[1]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ts .. ' ' .. ARGV[3])
local pos = redis.call('GEOPOS', KEYS[2], ARGV[1])[1]
if pos then
  for f in string.gmatch(ARGV[3], '%S+') do redis.call('GEOADD', f, pos[1], pos[2], ARGV[1]) end
end
return 1
"""


def _refile(r: redis.Redis, misfiled: list[tuple[str, str, str]]) -> int:
    refile = r.register_script(_REFILE)
    return sum(
        refile(keys=[keys.GEO_FACETS, keys.geo("unit")], args=[uid, have, want])
        for uid, have, want in misfiled
    )


def _read_units(r: redis.Redis, ids: list[str], now_ms: int) -> list[dict[str, Any]]:
    """What ranking needs of each unit (and `task_priority` if it has a task), in one round trip
    on one node (a pipeline of two commands per unit spends most of its time parsing replies in
    the client); on a cluster the units' states are read per shard, their tasks in `{g}`."""
    if not ids:
        return []
    rows = read_groups(
        r,
        [
            ([keys.state("unit", uid) for uid in ids], list(FIELDS)),
            ([keys.unit_task(uid) for uid in ids], ["priority"]),
        ],
    )
    out = []
    for uid, values, (task_priority,) in zip(ids, rows[: len(ids)], rows[len(ids) :], strict=True):
        if values[2] is None:  # no profile (kind) yet: it cannot be judged
            continue
        u = _unit_state(values)
        u[ID_FIELD["unit"]] = uid
        u["age_s"] = round((now_ms - u["ts"]) / 1000, 1) if u.get("ts") else None
        if task_priority is not None:
            u["task_priority"] = int(task_priority)
        out.append(u)
    return out


def _text(v: bytes) -> str:
    return v.decode("utf-8", "replace")


def _convert(field: str) -> Callable[[bytes], Any]:
    """How a read types `field` (store.snapshots: skills a list, numbers as numbers)."""
    if field == "skills":
        return lambda v: [s for s in _text(v).split(",") if s]
    kind = field_types([field])[field]
    if kind is float:
        return lambda v: float(_text(v))
    if kind is int:
        return lambda v: int(float(_text(v)))
    return _text


# Each field's conversion looked up once: what store.snapshots._typed does for every field of
# every entity, at a third of its cost per unit (tests compare the two).
_CONVERTERS = tuple((f, _convert(f)) for f in FIELDS)


def _unit_state(values: list[bytes | None]) -> dict[str, Any]:
    """FIELDS' values (None: absent) typed as store.snapshots types them; a corrupt number is
    None, so that it cannot hide the whole unit."""
    out: dict[str, Any] = {}
    for (field, convert), v in zip(_CONVERTERS, values, strict=True):
        if v is not None:
            try:
                out[field] = convert(v)
            except ValueError:
                out[field] = None
    return out


def search_indexes(inc: dict[str, Any], rules: model.DispatchRules) -> dict[str, str]:
    """The GEO indexes that hold the units able to take the incident, with each one's kind."""
    kinds = [
        k.value
        for k, domains in rules.kind_domains.items()
        if inc["domain"] in {d.value for d in domains}
    ]
    departments = list(inc.get("departments") or []) or [d.value for d in Department]
    out = {keys.unit_geo_facet(k, department=d): k for k in kinds for d in departments}
    if inc.get("type") in INCIDENT_TYPES:
        out |= {keys.unit_geo_facet(k, skill=inc["type"]): k for k in kinds}
    return out


def candidates(
    r: redis.Redis,
    inc: dict[str, Any],
    travel: TravelModel,
    now_ms: int,
    rules: model.DispatchRules,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """Ranked candidates, reading as few units as the answer allows (see the module docstring)."""
    return as_dicts(ranked_with_reads(r, inc, travel, now_ms, rules, limit)[0])


def as_dicts(ranked: list[Candidate]) -> list[dict[str, Any]]:
    """Candidates as the API answers them (dataclasses.asdict's deep copies cost more than the
    ranking: every field is a plain value)."""
    return [{f: getattr(c, f) for f in _CANDIDATE_FIELDS} for c in ranked]


def ranked_with_reads(
    r: redis.Redis,
    inc: dict[str, Any],
    travel: TravelModel,
    now_ms: int,
    rules: model.DispatchRules,
    limit: int = 10,
) -> tuple[list[Candidate], int]:
    """The ranking `candidates` gives, and how many units it read and routed to find it."""
    kind_of = search_indexes(inc, rules)
    count = {index: _first_count(kind) for index, kind in kind_of.items()}
    floors: dict[str, float] = {}  # units found but not read: the least ETA each could have
    read: set[str] = set()
    top: list[Candidate] = []
    bound = math.inf  # the limit-th ready ETA so far: a unit that cannot beat it cannot show

    def rank_some(units: list[dict[str, Any]]) -> list[Candidate]:
        return rank(
            units,
            dest=(inc["lon"], inc["lat"]),
            domain=inc["domain"],
            departments=set(inc.get("departments") or []),
            priority=int(inc.get("priority") or 3),
            travel=travel,
            silent_after_s=rules.unit_silent_after_s,
            kind_domains=rules.kind_domains,
            incident_type=inc.get("type"),
            limit=limit,
        )

    while count:
        found = _nearest(r, inc, count)
        for index, rows in found.items():
            for uid, km in rows:
                if uid not in read:
                    floors[uid] = min_eta_s(kind_of[index], _straight_floor_m(km))
        # Read the most promising units first, then, a batch at a time, only those that could
        # still arrive by `bound` (+1 s: ETAs are compared rounded); each batch may lower it.
        size = READ_FIRST if not read else READ_MORE
        while batch := heapq.nsmallest(
            size * limit, ((f, u) for u, f in floors.items() if f <= bound + 1)
        ):
            size = READ_MORE
            ids = [u for _, u in batch]
            for uid in ids:
                del floors[uid]
            read.update(ids)
            top = merge(top, rank_some(_read_units(r, ids, now_ms)), limit)
            if top and len(top) == limit and top[-1].tier == "ready":
                bound = float(top[-1].eta_s or 0)
        # An index that returned fewer than asked is exhausted; one whose farthest unit could
        # still arrive by `bound` may hide a better candidate: read 4x more of it.
        count = {
            i: n * 4
            for i, n in count.items()
            if len(found[i]) == n
            and min_eta_s(kind_of[i], _straight_floor_m(found[i][-1][1])) <= bound + 1
        }
    return top, len(read)


def _first_count(kind: str) -> int:
    """Units to find at first in an index of `kind`: FIRST_COUNT for the fastest kind, fewer
    for slower ones (8 at least), in proportion to how far each gets in the same time."""
    fastest = min(min_eta_s(k, 1.0) for k in SPEED_M_S)
    return max(8, round(FIRST_COUNT * fastest / min_eta_s(kind, 1.0)))


def _nearest(
    r: redis.Redis, inc: dict[str, Any], count: dict[str, int]
) -> dict[str, list[tuple[str, float]]]:
    """The `count` nearest units of each index, nearest first, with their distance in km."""
    pipe = r.pipeline(transaction=False)
    for index, n in count.items():
        # execute_command: redis-py then leaves the reply as it is (its own parsing of
        # WITHDIST replies costs more than the search)
        pipe.execute_command(
            "GEOSEARCH", index, "FROMLONLAT", inc["lon"], inc["lat"], "BYRADIUS",
            SEARCH_RADIUS_KM, "km", "ASC", "COUNT", n, "WITHDIST",
        )  # fmt: skip
    return {
        index: [(uid.decode(), float(km)) for uid, km in rows]
        for index, rows in zip(count, pipe.execute(), strict=True)
    }


def _straight_floor_m(km: float) -> float:
    """A straight line no shorter than what Redis measured can be: Redis uses a sphere 0.03 %
    larger than ours (domain.geo) and positions rounded to 52-bit geohashes (under 1 m off)."""
    return max(0.0, km * 1000 * (1 - REDIS_DIST_MARGIN) - REDIS_DIST_SLACK_M)
