"""The dispatch GEO indexes (store/dispatch.py): kept by the ingest scripts, rebuilt on start,
and a query over them gives exactly what ranking every unit would give."""

from __future__ import annotations

import random
import time

import orjson
import pytest
import redis

from bench.dispatch import populate
from domain.dispatch import rank
from domain.geo import Geography
from domain.incidents import IncidentType, load_rules
from domain.travel import TravelModel
from ingest import units as unit_handlers
from ingest.context import HandlerContext
from store import keys
from store.dispatch import _misfiled, _read_units, _refile, candidates, reindex_units
from store.snapshots import entities
from store.writer import LiveStore

RULES = load_rules()

NOW = 1_790_000_000_000
WATER, FORESTRY = "water", "forestry"


def _write(r: redis.Redis, *ops_lists: list) -> None:
    LiveStore(r, 3_600_000, 100).write([op for ops in ops_lists for op in ops], NOW)


def _profile(
    uid: str, ts: int, department: str, kind: str = "foot", skills: tuple[str, ...] = ()
) -> list:
    return unit_handlers.handle_profile(
        uid,
        orjson.dumps(
            {
                "unit_id": uid,
                "ts": ts,
                "name": uid,
                "department": department,
                "kind": kind,
                "level": "community",
                "skills": list(skills),
            }
        ),
        HandlerContext(received_ms=NOW),
    )


def _position(uid: str, ts: int, lon: float, lat: float) -> list:
    return unit_handlers.handle_position(
        uid,
        orjson.dumps({"unit_id": uid, "seq": ts, "ts": ts, "lon": lon, "lat": lat}),
        HandlerContext(received_ms=NOW),
    )


def _members(r: redis.Redis) -> dict[str, set[str]]:
    return {
        k.decode(): {m.decode() for m in r.zrange(k, 0, -1)}
        for k in r.scan_iter(keys.geo("unit") + ":*")
    }


def test_a_unit_sits_in_its_department_and_skill_indexes_and_moves_in_all(r: redis.Redis) -> None:
    _write(
        r,
        _profile("U1", NOW, WATER, skills=("illegal_logging", "first aid")),
        _position("U1", NOW, 114.50, 22.60),
    )
    dept = keys.unit_geo_facet("foot", department=WATER)
    skill = keys.unit_geo_facet("foot", skill="illegal_logging")
    assert _members(r) == {dept: {"U1"}, skill: {"U1"}}  # "first aid" is no incident type

    _write(r, _position("U1", NOW + 1000, 114.40, 22.65))
    for index in (dept, skill, keys.geo("unit")):
        lon, lat = r.geopos(index, "U1")[0]
        assert (round(lon, 4), round(lat, 4)) == (114.40, 22.65)

    # a new profile moves it out of the old department's index, keeping its place
    _write(r, _profile("U1", NOW + 2000, FORESTRY))
    moved = keys.unit_geo_facet("foot", department=FORESTRY)
    assert _members(r) == {moved: {"U1"}}
    assert round(r.geopos(moved, "U1")[0][0], 4) == 114.40
    # an older profile arriving late changes nothing
    _write(r, _profile("U1", NOW + 500, WATER))
    assert _members(r) == {moved: {"U1"}}
    # the bookkeeping field is not part of what pages and the API see
    assert "_geo" not in entities(r, "unit", NOW)[0]


def test_a_position_before_any_profile_lands_when_the_profile_comes(r: redis.Redis) -> None:
    _write(r, _position("U2", NOW, 114.5, 22.6))
    assert _members(r) == {}
    _write(r, _profile("U2", NOW, WATER, kind="vehicle"))
    assert _members(r) == {keys.unit_geo_facet("vehicle", department=WATER): {"U2"}}


def test_reindex_puts_units_written_before_the_indexes_in_them(r: redis.Redis) -> None:
    _write(
        r,
        _profile("U3", NOW, WATER, skills=("water_pollution",)),
        _position("U3", NOW, 114.5, 22.6),
        _profile("U4", NOW, FORESTRY, kind="boat"),
    )
    before = _members(r)
    for k in before:  # as an older version of the worker left them
        r.delete(k)
    r.hdel(keys.GEO_FACETS, "U3")
    r.hdel(keys.GEO_FACETS, "U4")
    assert reindex_units(r) == 2
    assert _members(r) == before
    assert reindex_units(r) == 0  # nothing left to do


def test_reindex_files_a_unit_where_it_is_when_it_writes_not_where_it_was_read(
    r: redis.Redis,
) -> None:
    """A worker reindexes while others ingest: a unit that moves, or is filed anew by a profile
    change, between the reindex's read and its write keeps what ingest wrote."""
    _write(r, _profile("U5", NOW, WATER), _position("U5", NOW, 114.50, 22.60))
    _write(r, _profile("U6", NOW, WATER), _position("U6", NOW, 114.40, 22.55))
    for k in _members(r):  # as an older version of the worker left them
        r.delete(k)
    r.hdel(keys.GEO_FACETS, "U5")
    r.hdel(keys.GEO_FACETS, "U6")
    misfiled = _misfiled(r)  # the reindex has read ...
    _write(r, _position("U5", NOW + 1000, 114.52, 22.61))  # ... then U5 moves
    _write(r, _profile("U6", NOW + 1000, FORESTRY))  # ... and U6 changes department
    assert _refile(r, misfiled) == 1  # U6 was filed by its profile's step

    water = keys.unit_geo_facet("foot", department=WATER)
    forestry = keys.unit_geo_facet("foot", department=FORESTRY)
    assert _members(r) == {water: {"U5"}, forestry: {"U6"}}
    (lon, lat), (main,) = r.geopos(water, "U5")[0], r.geopos(keys.geo("unit"), "U5")
    assert (lon, lat) == main and abs(lon - 114.52) < 1e-5 and abs(lat - 22.61) < 1e-5
    assert r.geopos(forestry, "U6") == r.geopos(keys.geo("unit"), "U6")
    assert reindex_units(r) == 0


@pytest.mark.parametrize("seed", [3, 11])
def test_the_pruned_query_equals_ranking_every_unit(
    r: redis.Redis, geo: Geography, travel: TravelModel, seed: int
) -> None:
    """The query reads a few dozen units per index; ranking all 1,500 must agree exactly, for
    every incident type, at random places on land and at sea, at every priority."""
    rng = random.Random(seed)
    populate(r, 1500, rng)
    now = time.time_ns() // 1_000_000
    everyone = _read_units(r, sorted(x.decode() for x in r.smembers(keys.index("unit"))), now)
    rules = load_rules()
    for kind in IncidentType:
        rule = rules.types[kind]
        for _ in range(2):
            sea = rule.domain.value == "sea"
            lon, lat = geo.random_sea_point(rng, "district") if sea else geo.random_land_point(rng)
            inc = {
                "type": kind.value,
                "domain": rule.domain.value,
                "lon": lon,
                "lat": lat,
                "priority": rng.randint(1, 3),
                "departments": [d.value for d in rule.departments],
            }
            got = [c["unit_id"] for c in candidates(r, inc, travel, now, RULES)]
            want = [
                c.unit_id
                for c in rank(
                    everyone,
                    dest=(lon, lat),
                    domain=inc["domain"],
                    departments=set(inc["departments"]),
                    priority=inc["priority"],
                    travel=travel,
                    silent_after_s=rules.unit_silent_after_s,
                    kind_domains=rules.kind_domains,
                    incident_type=kind.value,
                    limit=10,
                )
            ]
            assert got == want, inc
            assert len(got) == 10
