"""The candidate query reads and routes only the units that could still make the list (see
store/dispatch.py); whatever it skips, its answer must be exactly what ranking every unit gives:
the same units in the same order, with the same ETAs, distances, tiers and notes."""

from __future__ import annotations

import dataclasses
import random

import orjson
import pytest
import redis

from domain.dispatch import rank
from domain.geo import Geography
from domain.incidents import DispatchRules, IncidentType, load_rules
from domain.travel import TravelModel
from domain.vocab import Department, UnitKind
from ingest import units as unit_handlers
from ingest.context import HandlerContext
from store import keys
from store.dispatch import FIELDS, _unit_state, candidates, ranked_with_reads, search_indexes
from store.snapshots import _typed, entities
from store.writer import LiveStore

NOW = 1_790_000_000_000
SEAS = ("dapeng_bay", "daya_bay")
STATUSES = ["available"] * 6 + ["dispatched", "en_route", "on_scene", "off_duty", None]


def _unit_ops(uid: str, rng: random.Random, geo: Geography, kind: str) -> list:
    """A unit of `kind` with a random profile and a position up to 4 minutes old (the rules
    call a unit silent after 2): on land, at sea, and a few boats ashore (off their graph)."""
    ctx = HandlerContext(received_ms=NOW)
    types = [t.value for t in IncidentType]
    at_sea = kind == "boat" and rng.random() > 0.05
    lon, lat = geo.random_sea_point(rng, rng.choice(SEAS)) if at_sea else geo.random_land_point(rng)
    profile = {
        "unit_id": uid,
        "ts": NOW,
        "name": uid,
        "department": rng.choice([d.value for d in Department]),
        "kind": kind,
        "level": "community",
        "skills": rng.sample(types, rng.randint(1, 3)) if rng.random() < 0.3 else [],
    }
    position = {
        "unit_id": uid,
        "seq": 1,
        "ts": NOW - rng.randint(0, 240_000),
        "lat": lat,
        "lon": lon,
    }
    status = rng.choice(STATUSES)
    if status is not None:  # None: a unit that never said
        position["status"] = status
    return unit_handlers.handle_profile(
        uid, orjson.dumps(profile), ctx
    ) + unit_handlers.handle_position(uid, orjson.dumps(position), ctx)


def _populate(r: redis.Redis, geo: Geography, rng: random.Random, n: int) -> None:
    kinds = [k.value for k in UnitKind]
    ops = [op for i in range(n) for op in _unit_ops(f"P-{i:04d}", rng, geo, kinds[i % len(kinds)])]
    LiveStore(r, 3_600_000, 1000).write(ops, NOW)
    for i in rng.sample(range(n), n // 8):  # some are on a task, of every urgency
        r.hset(keys.unit_task(f"P-{i:04d}"), "priority", rng.randint(1, 3))


def _everyone(r: redis.Redis) -> list[dict]:
    """Every unit and its task's priority, read the plain way (HGETALL of each)."""
    units = entities(r, "unit", NOW)
    pipe = r.pipeline(transaction=False)
    for u in units:
        pipe.hget(keys.unit_task(u["unit_id"]), "priority")
    for u, p in zip(units, pipe.execute(), strict=True):
        if p is not None:
            u["task_priority"] = int(p)
    return units


def _incident(rng: random.Random, geo: Geography, rules: DispatchRules) -> dict:
    kind = rng.choice(list(IncidentType))
    rule = rules.types[kind]
    sea = rule.domain.value == "sea"
    lon, lat = geo.random_sea_point(rng, rng.choice(SEAS)) if sea else geo.random_land_point(rng)
    return {
        "type": kind.value,
        "domain": rule.domain.value,
        "lon": lon,
        "lat": lat,
        "priority": rng.randint(1, 3),
        # now and then every department (none asked for), so "any" is covered too
        "departments": [] if rng.random() < 0.1 else [d.value for d in rule.departments],
    }


@pytest.mark.parametrize("seed", [5, 23])
def test_the_pruned_query_gives_exactly_the_full_ranking(
    r: redis.Redis, geo: Geography, travel: TravelModel, seed: int
) -> None:
    rules = load_rules()
    rng = random.Random(seed)
    _populate(r, geo, rng, 600)
    everyone = _everyone(r)
    pruned = 0
    for _ in range(200):
        inc = _incident(rng, geo, rules)
        limit = rng.choice([10, 10, 3])
        want = [
            dataclasses.asdict(c)
            for c in rank(
                everyone,
                dest=(inc["lon"], inc["lat"]),
                domain=inc["domain"],
                departments=set(inc["departments"]),
                priority=inc["priority"],
                travel=travel,
                silent_after_s=rules.unit_silent_after_s,
                kind_domains=rules.kind_domains,
                incident_type=inc["type"],
                limit=limit,
            )
        ]
        got = candidates(r, inc, travel, NOW, rules, limit=limit)
        assert got == want, inc
        ranked, read = ranked_with_reads(r, inc, travel, NOW, rules, limit=limit)
        assert [dataclasses.asdict(c) for c in ranked] == want
        searched = set().union(*(r.zrange(i, 0, -1) for i in search_indexes(inc, rules)))
        pruned += read < len(searched)
    # the comparison means something only if the query did skip units it could have read
    assert pruned >= 140


@pytest.mark.parametrize(
    "values",
    [
        [b"A", b"water", b"foot", b"available", b"illegal_logging,,x,", b"114.5", b"22.6", b"17"],
        [None, None, b"boat", None, None, None, None, None],
        [b"\xff\xfe", b"", b"drone", b"\xe5\xb7\xa1", b"", b"nan", b"east", b"1.7e12"],
        [b"B", b"forestry", b"vehicle", b"on_scene", b",", b"inf", b" 22.5 ", b"soon"],
        [b"C", b"water", b"foot", b"off_duty", b"a", b"\xd9\xa1", b"-1e400", b"nan"],
    ],
)
def test_a_unit_is_typed_as_every_other_read_types_it(values: list) -> None:
    """The candidate path's own conversion of its fields (corrupt numbers, broken UTF-8, empty
    skills) gives what store.snapshots gives every page."""
    want = _typed({f.encode(): v for f, v in zip(FIELDS, values, strict=True) if v is not None})
    got = _unit_state(values)
    assert repr(sorted(got.items())) == repr(sorted(want.items()))  # repr: nan equals nan
