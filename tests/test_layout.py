"""Issue 19: data written by a version before the hash-tag key layout (store/keys.py) is renamed
into it by the first process that opens it, and every reader then finds it where it looks.

Why it can fail: a key left under its old name is invisible to this version (a unit's track,
an incident, an account); a rename that loses a key's time to live keeps a session forever; a
unit whose dispatch indexes stayed in its state hash is never moved in them again; two
processes renaming at once, or one writing while another renames, overwrite each other."""

from __future__ import annotations

import threading

import redis

from store import dispatch, keys, layout, reader

NOW = 1_764_900_000_000


def _old_layout(r: redis.Redis) -> None:
    """What the layout before tags held for a unit on duty, an incident and a session."""
    r.hset("unit:{U-1}", mapping={"ts": NOW, "seq": 1, "lon": 114.5, "lat": 22.6, "kind": "foot"})
    r.hset("unit:{U-1}", mapping={"department": "water", "skills": "", "status": "on_duty"})
    r.hset("unit:{U-1}", mapping={"_geo": "geo:units:foot:dept:water", "_cov": "[1, 2]"})
    r.xadd("unit:{U-1}:track", {"ts": NOW, "lon": 114.5, "lat": 22.6}, id=f"{NOW}-0")
    r.zadd("unit:{U-1}:seen", {f"{NOW}:1": NOW})
    r.sadd("idx:units", "U-1")
    r.geoadd("geo:units", (114.5, 22.6, "U-1"))
    r.geoadd("geo:units:foot:dept:water", (114.5, 22.6, "U-1"))
    r.hset("unit:{U-1}:task", "incident", "INC-1")
    r.hset("incident:{INC-1}", mapping={"state": "assigned", "units": "U-1"})
    r.hset("stats:ingest", mapping={"applied": 7, "duplicate": 2})
    r.hset("session:{abc}", "user", "chief")
    r.expire("session:{abc}", 3600)


def test_an_older_versions_data_is_found_under_the_new_names(r: redis.Redis) -> None:
    _old_layout(r)
    assert layout.ensure(r) == 10
    assert reader.entity(r, "unit", "U-1")["status"] == "on_duty"
    # what the state hash kept for the indexes and coverage moved beside them
    assert not {b"_geo", b"_cov"} & set(r.hgetall(keys.state("unit", "U-1")))
    assert r.hget(keys.COVERAGE_TRACKERS, "U-1") == b"[1, 2]"
    assert (
        r.hget(keys.GEO_FACETS, "U-1")
        == b"0 " + keys.unit_geo_facet("foot", department="water").encode()
    )
    assert [e["ts"] for e in reader.track(r, "unit", "U-1")] == [str(NOW)]
    assert r.zscore(keys.seen("unit", "U-1"), f"{NOW}:1") == NOW
    assert r.hget(keys.unit_task("U-1"), "incident") == b"INC-1"
    assert r.hget(keys.incident("INC-1"), "state") == b"assigned"
    assert reader.ingest_stats(r)["writes"]["applied"] == 7
    assert 3590 < r.ttl(keys.session("abc")) <= 3600  # a session still ends when it did
    assert not [k for k in r.scan_iter() if not k.startswith(b"{")]  # nothing left behind
    # the unit is filed where its profile says, and a move still takes it along
    assert dispatch.reindex_units(r) == 0
    assert layout.ensure(r) == 0  # once


def test_two_processes_starting_at_once_rename_once(r: redis.Redis) -> None:
    _old_layout(r)
    renamed: list[int] = []
    port = r.connection_pool.connection_kwargs["port"]
    threads = [
        threading.Thread(target=lambda: renamed.append(layout.ensure(redis.Redis(port=port))))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(renamed) == [0, 0, 0, 10]  # one renamed; the others waited for it
    assert r.get(layout.MARKER) == layout.CURRENT and not r.exists(layout.LOCK)


def test_a_new_deployment_is_marked_without_a_scan(r: redis.Redis) -> None:
    assert layout.ensure(r) == 0
    assert r.get(layout.MARKER) == layout.CURRENT
