"""Brings data written by a version before the hash-tag layout (store/keys.py) into it.

Every process that opens Redis calls `ensure` first. Data of the layout before tags has no
marker: its keys are renamed in place (RENAME keeps a key's value, type and time to live, and
takes no time on one node), and each unit's list of dispatch indexes moves from its state hash
into keys.GEO_FACETS. One process does it while holding a lock; the others wait for the marker,
so none writes a key of the new layout that a rename would then overwrite. A Redis Cluster is
new by definition (a deployment moves to one by a restore of its data, which is then renamed
on the single node it is restored into first), so it is only marked.
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
_OLD_FACETS_FIELD = "_geo"  # where the layout before tags kept a unit's dispatch indexes


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
        _move_facets(r)
        r.set(MARKER, CURRENT)
        return n
    finally:
        r.delete(LOCK)


def _rename_all(r: redis.Redis) -> int:
    n = 0
    for name in r.scan_iter(count=1000):  # a renamed key may come again: it has its tag then
        new = keys.relayout(name.decode())
        if new is not None:
            r.rename(name, new)
            n += 1
    return n


def _move_facets(r: redis.Redis) -> None:
    ids = [x.decode() for x in r.smembers(keys.index("unit"))]
    pipe = r.pipeline(transaction=False)
    for uid in ids:
        pipe.hget(keys.state("unit", uid), _OLD_FACETS_FIELD)
    filed = {uid: v.decode() for uid, v in zip(ids, pipe.execute(), strict=True) if v}
    if not filed:
        return
    pipe = r.pipeline(transaction=True)
    for uid, names in filed.items():
        renamed = " ".join(keys.relayout(f) or f for f in names.split())
        pipe.hset(keys.GEO_FACETS, uid, f"0 {renamed}")
        pipe.hdel(keys.state("unit", uid), _OLD_FACETS_FIELD)
    pipe.execute()
