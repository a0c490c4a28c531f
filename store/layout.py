"""Brings data written by a version before the hash-tag layout (store/keys.py) into it.

Every process that opens Redis to write calls `ensure` first. Data of the layout before tags has
no marker: its keys are renamed in place (RENAME keeps a key's value, type and time to live,
and takes no time on one node), and what each unit's state hash kept for the indexes and for
coverage (its dispatch indexes, its coverage tracker) moves beside them. One process does it
while holding a lock; the others wait for the marker, so none writes a key of the new layout
that a rename would then overwrite. A Redis Cluster is new by definition (a deployment moves to
one by a restore of its data, renamed on the single node it is restored into first), so it is
only marked.
"""

from __future__ import annotations

import os
import time

import redis

from store import keys, slots

MARKER = keys._g("layout")  # string: the layout the data is in
LOCK = keys._g("layout:renaming")
CURRENT = b"tags-1"
LOCK_S = 600  # a rename of a district's data takes seconds; a dead renamer's lock goes
# where the layout before tags kept a unit's dispatch indexes and its coverage tracker
_OLD_FACETS_FIELD, _OLD_TRACKER_FIELD = "_geo", "_cov"


class LayoutBusy(Exception):
    """Another process is renaming and did not finish in time."""


def ensure(r: redis.Redis, wait_s: float = LOCK_S) -> int:
    """Renames the keys of an older layout, once; returns how many this call renamed."""
    if r.get(MARKER) == CURRENT:
        return 0
    if slots.is_cluster(r) or not r.dbsize():
        r.set(MARKER, CURRENT)
        return 0
    if not r.set(LOCK, os.getpid(), nx=True, ex=LOCK_S):
        deadline = time.monotonic() + wait_s
        while r.get(MARKER) != CURRENT:
            if time.monotonic() > deadline:
                raise LayoutBusy("another process is renaming the keys to the new layout")
            time.sleep(0.2)
        return 0
    try:
        n = _rename_all(r)
        _move_unit_fields(r)
        r.set(MARKER, CURRENT)
        return n
    finally:
        r.delete(LOCK)


def _rename_all(r: redis.Redis) -> int:
    """Every key of the old layout renamed, a SCAN page (~1,000 keys) per round trip; a key
    renamed may come again in a later page: it has its tag then, and stays."""
    n, cursor = 0, 0
    while True:
        cursor, page = r.scan(cursor, count=1000)
        pipe = r.pipeline(transaction=False)
        for name in page:
            new = keys.relayout(name.decode())
            if new is not None:
                pipe.rename(name, new)
        n += len(pipe.execute())
        if cursor == 0:
            return n


def _move_unit_fields(r: redis.Redis) -> None:
    """A unit's dispatch indexes and coverage tracker, which the layout before tags kept in its
    state hash, go beside the keys they are written with (keys.GEO_FACETS, COVERAGE_TRACKERS)."""
    ids = [x.decode() for x in r.smembers(keys.index("unit"))]
    pipe = r.pipeline(transaction=True)
    for uid, (facets, tracker) in zip(ids, _rows(r, ids), strict=True):
        if facets:
            renamed = " ".join(keys.relayout(f) or f for f in facets.decode().split())
            pipe.hset(keys.GEO_FACETS, uid, f"0 {renamed}")
        if tracker:
            pipe.hset(keys.COVERAGE_TRACKERS, uid, tracker)
        pipe.hdel(keys.state("unit", uid), _OLD_FACETS_FIELD, _OLD_TRACKER_FIELD)
    pipe.execute()


def _rows(r: redis.Redis, ids: list[str]) -> list[list[bytes | None]]:
    pipe = r.pipeline(transaction=False)
    for uid in ids:
        pipe.hmget(keys.state("unit", uid), _OLD_FACETS_FIELD, _OLD_TRACKER_FIELD)
    return pipe.execute()
