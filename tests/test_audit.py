"""The audit log shows any change (issue 13): entries changed, removed, inserted or reordered
directly in Redis are named by `audit verify`; a rewritten chain shows against an exported
head; a truncated tail is caught at the next head; pruned days still verify from the first
kept day. Real Redis, the real signer, the real command."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from domain import audit
from domain.audit import Chain
from domain.vocab import local_day
from ingest.audit_signer import HeadSigner
from services import audit as service
from store import audit as log
from store import audit_keys, keys
from tests.helpers import ROOT, redis_url

T0 = 1_763_395_200_000  # 2025-11-18 00:00 UTC+8 minus 8 h: entries spread over several days
HOUR = 3_600_000
ACTS = ("incident.moved", "incident.note", "alert.acknowledged", "device.added")


def fill(r: redis.Redis, n: int, start: int = T0, step: int = HOUR // 4) -> list[dict]:
    rnd = random.Random(n)
    return [
        log.append(
            r,
            f"user:u{rnd.randrange(5)}",
            rnd.choice(ACTS),
            f"incident:INC-{rnd.randrange(9)}",
            {"i": i, "to": rnd.choice(["assigned", "on_scene"])},
            start + i * step,
        )
        for i in range(n)
    ]


def signer(r: redis.Redis, data_dir: Path, now: list[int]) -> HeadSigner:
    keep = {Chain.RECORD: 1_827, Chain.ACCESS: 366}
    return HeadSigner(r, data_dir, every_s=300, keep_days=keep, clock=lambda: now[0])


def record(r: redis.Redis, data_dir: Path) -> service.ChainReport:
    public = audit_keys.public_key(audit_keys.folder(data_dir) / audit_keys.PUBLIC)
    return service.verify_chain(r, Chain.RECORD.value, public)


@pytest.fixture
def chain(r: redis.Redis, tmp_path: Path) -> tuple[list[dict], int]:
    """200 entries over three days, day heads and a periodic head signed after them, then 10
    more entries: (the entries, the seq of the last signed head)."""
    entries = fill(r, 200)
    now = [entries[-1]["ts"] + 1000]
    signer(r, tmp_path, now).tick()
    entries += fill(r, 10, start=now[0] + 1000, step=1000)
    return entries, 200


def positions(r: redis.Redis) -> list[tuple[str, int]]:
    return [
        (d, i)
        for d in log.days(r, Chain.RECORD.value)
        for i in range(r.llen(keys.audit_day(Chain.RECORD.value, d)))
    ]


def snapshot(r: redis.Redis) -> dict[str, list[bytes]]:
    c = Chain.RECORD.value
    return {d: r.lrange(keys.audit_day(c, d), 0, -1) for d in log.days(r, c)}


def restore(r: redis.Redis, saved: dict[str, list[bytes]]) -> None:
    for d, items in saved.items():
        key = keys.audit_day(Chain.RECORD.value, d)
        r.delete(key)
        r.rpush(key, *items)


def entry_at(r: redis.Redis, where: tuple[str, int]) -> dict[str, Any]:
    return orjson.loads(r.lindex(keys.audit_day(Chain.RECORD.value, where[0]), where[1]))


def put(r: redis.Redis, where: tuple[str, int], entry: dict[str, Any]) -> None:
    r.lset(keys.audit_day(Chain.RECORD.value, where[0]), where[1], audit.canonical(entry))


def insert_before(r: redis.Redis, where: tuple[str, int], entry: dict[str, Any]) -> None:
    key = keys.audit_day(Chain.RECORD.value, where[0])
    items = r.lrange(key, 0, -1)
    items.insert(where[1], audit.canonical(entry))
    r.delete(key)
    r.rpush(key, *items)


def remove(r: redis.Redis, where: tuple[str, int]) -> dict[str, Any]:
    e = entry_at(r, where)
    key = keys.audit_day(Chain.RECORD.value, where[0])
    r.lset(key, where[1], b"__gone__")
    r.lrem(key, 1, b"__gone__")
    return e


# Each mutation changes the stored chain at a position and returns what verify must name:
# (what, the seqs it may name, or None and the position it must name).
Mutation = Callable[[redis.Redis, list[tuple[str, int]], int, random.Random], tuple]


def changed(r, pos, p, rnd):
    e = entry_at(r, pos[p])
    put(r, pos[p], {**e, "actor": "user:mallory"})
    return "changed", {e["seq"]}, None


def changed_and_rehashed(r, pos, p, rnd):
    e = entry_at(r, pos[p])
    forged = {**e, "object": "incident:INC-other"}
    put(r, pos[p], {**forged, "hash": audit.entry_hash(forged)})
    return "changed", {e["seq"]}, None


def removed(r, pos, p, rnd):
    return "removed", {remove(r, pos[p])["seq"]}, None


def inserted_copy(r, pos, p, rnd):
    q = rnd.choice([i for i in range(len(pos) - 12) if i != p])
    insert_before(r, pos[p], entry_at(r, pos[q]))
    return "inserted", None, pos[p]


def inserted_forgery(r, pos, p, rnd):
    e = entry_at(r, pos[p])
    prev = f"{rnd.getrandbits(256):064x}"
    forged = audit.seal(e["seq"], prev, e["ts"], "user:mallory", "incident.moved", "x:y", "0" * 64)
    insert_before(r, pos[p], forged)
    return "inserted", None, pos[p]


def swapped(r, pos, p, rnd):
    a, b = entry_at(r, pos[p]), entry_at(r, pos[p + 1])
    if pos[p][0] != pos[p + 1][0]:  # across a day boundary: swap the lists' items all the same
        remove(r, pos[p + 1])
        remove(r, pos[p])
        r.rpush(keys.audit_day(Chain.RECORD.value, pos[p][0]), audit.canonical(b))
        r.lpush(keys.audit_day(Chain.RECORD.value, pos[p + 1][0]), audit.canonical(a))
    else:
        put(r, pos[p], b)
        put(r, pos[p + 1], a)
    return "reordered", {a["seq"], b["seq"]}, None


def moved_later(r, pos, p, rnd):
    e = remove(r, pos[p])
    later = pos[p + rnd.randrange(3, 7)]  # by one place it would be a swap
    target = later if later[0] != pos[p][0] else (later[0], later[1] - 1)
    insert_before(r, target, e)
    return "reordered", {e["seq"]}, None


MUTATIONS: list[Mutation] = [
    changed,
    changed_and_rehashed,
    removed,
    inserted_copy,
    inserted_forgery,
    swapped,
    moved_later,
]


@pytest.mark.parametrize("mutate", MUTATIONS, ids=[m.__name__ for m in MUTATIONS])
def test_verify_names_each_single_change_before_the_last_signed_head(
    r: redis.Redis, chain: tuple[list[dict], int], mutate: Mutation, tmp_path: Path
) -> None:
    assert record(r, tmp_path).ok
    saved, rnd = snapshot(r), random.Random(mutate.__name__)
    pos = positions(r)
    for p in rnd.sample(range(190), 25):  # entries 1..190: all before the last signed head
        what, seqs, where = mutate(r, pos, p, rnd)
        rep = record(r, tmp_path)
        assert not rep.ok and rep.broken is not None, (mutate.__name__, p)
        assert rep.broken.what == what, (p, rep.problem)
        if seqs is not None:
            assert rep.broken.seq in seqs, (p, rep.problem)
        else:
            assert rep.where == where, (p, rep.problem)
        restore(r, saved)
        assert record(r, tmp_path).ok


def test_an_untouched_record_verifies_and_the_command_says_so(
    r: redis.Redis, chain: tuple[list[dict], int], tmp_path: Path
) -> None:
    out = audit_command(r, tmp_path, "verify")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "record: 210 entries" in out.stdout and "intact" in out.stdout
    changed(r, positions(r), 50, random.Random(0))
    out = audit_command(r, tmp_path, "verify")
    assert out.returncode == 1 and "entry 51 changed" in out.stdout, out.stdout


def audit_command(r: redis.Redis, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "REDIS_URL": redis_url(r),
        "MQTT_URL": "mqtt://127.0.0.1:1",
        "DATA_DIR": str(data_dir),
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "audit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=data_dir,
    )


def test_an_exported_head_shows_a_rewritten_chain(
    r: redis.Redis, chain: tuple[list[dict], int], tmp_path: Path
) -> None:
    """Someone with Redis rewrites entry 30 and every entry after it (hashes recomputed), and
    deletes the signed heads in Redis and the worker's local copy: only the export shows it."""
    export_dir = tmp_path / "kept-elsewhere"
    assert audit_command(r, tmp_path, "export", str(export_dir)).returncode == 0
    assert (export_dir / audit_keys.HEADS).read_bytes().count(b"\n") >= 3
    c = Chain.RECORD.value
    listed = [(d, i, e) for d in log.days(r, c) for i, e in enumerate(log.day_entries(r, c, d))]
    prev = audit.GENESIS
    for d, i, e in listed:
        if e["seq"] == 30:
            e = {**e, "actor": "user:mallory"}
            r.rpush(keys.audit_ref(c, "user:mallory"), f"{d}:{i}")  # listed in its trail too
        e = {**e, "prev": prev}
        e["hash"] = prev = audit.entry_hash(e)
        put(r, (d, i), e)
    r.hset(keys.audit_head(c), mapping={"hash": prev})
    r.delete(keys.audit_heads(c))
    (audit_keys.folder(tmp_path) / audit_keys.HEADS).unlink()
    assert audit_command(r, tmp_path, "verify").returncode == 0  # consistent in itself
    out = audit_command(r, tmp_path, "verify", "--heads", str(export_dir))
    assert out.returncode == 1 and "differs from its head signed" in out.stdout, out.stdout


def test_a_truncated_tail_is_caught_at_the_next_head(r: redis.Redis, tmp_path: Path) -> None:
    """Entries after the last signed head are deleted and the head key rewound: the chain is
    consistent in itself, but the signer saw the newer entry and signs a break."""
    entries = fill(r, 20)
    now = [entries[-1]["ts"] + 1000]
    s = signer(r, tmp_path, now)
    s.tick()
    fill(r, 5, start=now[0] + 1000, step=1000)
    s.tick()  # the signer's heartbeat sees entry 25
    c = Chain.RECORD.value
    day = log.head(r, c).day
    r.rpop(keys.audit_day(c, day), 3)
    last = log.last_of_day(r, c, day)[0]
    r.hset(keys.audit_head(c), mapping={"seq": 22, "hash": last["hash"]})
    r.hincrby(keys.audit_head(c), "idx", -3)
    assert record(r, tmp_path).ok  # nothing to see before the signer looks again
    now[0] += 1000
    s.tick()
    rep = record(r, tmp_path)
    assert not rep.ok and "entry 25" in str(rep.problem), rep.problem


def test_pruned_days_leave_a_chain_that_verifies_from_its_first_kept_day(
    r: redis.Redis, tmp_path: Path
) -> None:
    fill(r, 120, step=HOUR)  # five days
    now = [T0 + 6 * 24 * HOUR]
    s = signer(r, tmp_path, now)
    s.keep_days = {Chain.RECORD: 3, Chain.ACCESS: 3}
    s.tick()
    kept = log.days(r, Chain.RECORD.value)
    assert len(kept) == 3 and kept[0] > local_day(T0 + 24 * HOUR)
    rep = record(r, tmp_path)
    assert rep.ok and rep.entries < 120, rep.problem
    heads = log.signed_heads(r, Chain.RECORD.value)
    assert {h["day"] for h in heads if h["kind"] == "day"} >= {local_day(T0)}


def test_an_entry_taken_out_of_its_trail_is_named(
    r: redis.Redis, chain: tuple[list[dict], int], tmp_path: Path
) -> None:
    """A note deleted from an incident together with its entry's pointer in the incident's
    trail: the trail and the timeline check read through that list and would see neither, so
    `audit verify` checks that every entry is listed where it belongs."""
    c = Chain.RECORD.value
    where = positions(r)[40]
    e = entry_at(r, where)
    pointer = f"{where[0]}:{where[1]}"
    assert r.lrem(keys.audit_ref(c, e["object"]), 0, pointer) == 1
    rep = record(r, tmp_path)
    assert not rep.ok, "the pointer's loss went unseen"
    assert rep.problem == (
        f"entry {e['seq']} (day {where[0]}, position {where[1]}) is missing from the trail of "
        f"{e['object']}"
    )


def test_days_deleted_inside_the_retention_are_named_even_from_the_oldest_end(
    r: redis.Redis, tmp_path: Path
) -> None:
    """The oldest kept day deleted (its list and its place in the days), as if pruned early:
    the chain still links from what is left, so only the retention tells it was not pruned."""
    fill(r, 120, step=HOUR)  # five days
    now = [T0 + 6 * 24 * HOUR]
    s = signer(r, tmp_path, now)
    s.keep_days = {Chain.RECORD: 3, Chain.ACCESS: 3}
    s.tick()
    public = audit_keys.public_key(audit_keys.folder(tmp_path) / audit_keys.PUBLIC)
    today = audit.closing_day(now[0])  # the signer's today
    c = Chain.RECORD.value
    assert service.verify_chain(r, c, public, kept=(3, today)).ok  # pruned by the rule: fine
    oldest = log.days(r, c)[0]
    r.delete(keys.audit_day(c, oldest))
    r.zrem(keys.audit_days(c), oldest)
    assert service.verify_chain(r, c, public).ok  # what the links alone can see
    rep = service.verify_chain(r, c, public, kept=(3, today))
    assert not rep.ok and f"days up to {oldest} are gone" in str(rep.problem), rep.problem
    # the command checks the retention it is configured with (5 years by default: every day
    # of this chain is inside it)
    out = audit_command(r, tmp_path, "verify")
    assert out.returncode == 1 and f"days up to {oldest} are gone" in out.stdout, out.stdout


def test_verify_from_a_day_starts_at_that_days_anchor(
    r: redis.Redis, chain: tuple[list[dict], int], tmp_path: Path
) -> None:
    days = log.days(r, Chain.RECORD.value)
    changed(r, positions(r), 3, random.Random(0))  # a change on the first day
    assert audit_command(r, tmp_path, "verify").returncode == 1
    out = audit_command(
        r, tmp_path, "verify", "--from", f"{days[1][:4]}-{days[1][4:6]}-{days[1][6:]}"
    )
    assert out.returncode == 0, out.stdout


def test_an_entry_a_lagging_clock_adds_to_a_closed_day_still_verifies_from_the_next(
    r: redis.Redis, tmp_path: Path
) -> None:
    """A host whose clock is behind appends into yesterday after the signer closed it: the
    chain is whole, so `verify --from today` walks from the day head through that late entry."""
    entries = fill(r, 30, step=HOUR)  # 2 days
    now = [entries[-1]["ts"] + 2 * 24 * HOUR]
    signer(r, tmp_path, now).tick()  # both days closed
    c = Chain.RECORD.value
    days = log.days(r, c)
    late = log.append(r, "user:u1", "incident.note", "incident:INC-1", {"late": 1}, T0)
    assert log.head(r, c).day == days[-1]  # into the closed day: a chain's days never go back
    fill(r, 5, start=now[0])  # today
    public = audit_keys.public_key(audit_keys.folder(tmp_path) / audit_keys.PUBLIC)
    assert service.verify_chain(r, c, public).ok
    rep = service.verify_chain(r, c, public, from_day=local_day(now[0]))
    assert rep.ok, rep.problem
    assert rep.entries == 6 and late["seq"] == 31
    # the next day's close signs that day again at its late entry, so once it is pruned the
    # chain still starts where the next day links from
    now[0] += 24 * HOUR
    s = signer(r, tmp_path, now)
    s.keep_days = {Chain.RECORD: 1, Chain.ACCESS: 1}
    s.tick()
    assert days[-1] not in log.days(r, c)  # pruned, with its late entry
    rep = service.verify_chain(r, c, public, kept=(1, audit.closing_day(now[0])))
    assert rep.ok, rep.problem


def test_a_forged_head_signature_is_refused(
    r: redis.Redis, chain: tuple[list[dict], int], tmp_path: Path
) -> None:
    c = Chain.RECORD.value
    head = log.signed_heads(r, c)[-1]
    r.rpush(keys.audit_heads(c), audit.canonical({**head, "seq": head["seq"] + 3}))
    rep = record(r, tmp_path)
    assert not rep.ok and "bad signature" in str(rep.problem)


def test_a_supplied_signing_key_that_is_not_there_is_an_error_never_made(
    r: redis.Redis, tmp_path: Path
) -> None:
    """A secrets mount missing or a typo in AUDIT_SIGNING_KEY: the worker does not start with a
    new key, which would replace the public key and make every head signed so far look forged."""
    first = audit_keys.signing_key(tmp_path)  # the deployment's key so far
    public = (audit_keys.folder(tmp_path) / audit_keys.PUBLIC).read_bytes()
    missing = tmp_path / "secrets" / "audit.pem"
    with pytest.raises(FileNotFoundError, match="AUDIT_SIGNING_KEY"):
        HeadSigner(r, tmp_path, every_s=300, keep_days={}, clock=lambda: 0, key_file=missing)
    assert not missing.exists()
    assert (audit_keys.folder(tmp_path) / audit_keys.PUBLIC).read_bytes() == public
    assert audit_keys.public_pem(first) == public


def test_pruning_old_heads_keeps_a_head_signed_meanwhile(r: redis.Redis) -> None:
    """The signer prunes old periodic heads while another process signs a new one: the new
    head stays (the list is not rewritten from what was read before it came)."""
    c = Chain.RECORD.value
    heads_key = keys.audit_heads(c)
    old = [{"chain": c, "kind": "periodic", "day": "20240101", "seq": n} for n in (1, 2)]
    day = {"chain": c, "kind": "day", "day": "20240101", "seq": 2}
    for h in (*old, day):
        log.add_head(r, c, h)
    new = {"chain": c, "kind": "periodic", "day": "20261205", "seq": 9}
    port = r.connection_pool.connection_kwargs["port"]

    class SignedMeanwhile(redis.Redis):
        def lrange(self, name: Any, start: int, end: int) -> Any:
            found = super().lrange(name, start, end)
            if name == heads_key:
                log.add_head(r, c, new)  # another signer, between the read and the write
            return found

    log.prune(SignedMeanwhile(port=port), c, "20000101", "20261101")
    assert log.signed_heads(r, c) == [day, new]


def test_a_trails_pointers_are_read_from_its_end_back_to_the_day_asked(r: redis.Redis) -> None:
    """`audit verify --from DAY` checks the entries of those days against their trails; a
    long-lived ref's list is read back from its end only as far as DAY, a page at a time."""
    c = Chain.RECORD.value
    key = keys.audit_ref(c, "user:long")
    pointers = [f"2025{m:02d}01:{i}" for m in range(1, 11) for i in range(500)]  # 5,000
    r.rpush(key, *pointers)
    r.rpush(keys.audit_ref(c, "user:short"), "20251001:7")
    got = log.ref_pointers(r, c, ["user:long", "user:short", "user:none"], "20250902")
    wanted = {p for p in pointers if p >= "20250902"}
    assert wanted <= got["user:long"] and len(got["user:long"]) == 1000  # one page was enough
    assert got["user:short"] == {"20251001:7"} and got["user:none"] == set()
    assert log.ref_pointers(r, c, ["user:long"])["user:long"] == set(pointers)  # all of it


def test_two_workers_pruning_at_once_keep_every_pointer_into_kept_days(r: redis.Redis) -> None:
    """Every worker's signer prunes when the day turns: both list the days to prune before
    either deletes them, and both trim the same trails. A trim read first and cut after (by a
    count) dropped the other's share again: pointers into kept days, which `audit verify` then
    reported as tampering."""
    c = Chain.RECORD.value
    day_ms = 86_400_000
    now = time.time_ns() // 1_000_000
    for i in range(30):  # three days: the first two older than a one-day retention
        log.append(
            r,
            "user:li",
            "incident.note",
            "incident:INC-1",
            {"i": i},
            now - 3 * day_ms + i * day_ms // 10,
        )
    today = audit.closing_day(now)
    before = audit.days_before(today, 1)
    ref = keys.audit_ref(c, "incident:INC-1")
    kept = [p for p in r.lrange(ref, 0, -1) if p.decode().split(":")[0] >= before]
    listed, trimming = threading.Barrier(2, timeout=10), threading.Barrier(2, timeout=10)
    port = r.connection_pool.connection_kwargs["port"]

    class Worker(redis.Redis):
        def lrange(self, name: Any, *args: Any) -> Any:
            found = super().lrange(name, *args)
            if name == keys.audit_heads(c):
                listed.wait()  # both know the days and trails to prune, none deleted yet
            return found

        def ltrim(self, name: Any, *args: Any) -> Any:
            trimming.wait()  # both read the trail's leading pointers before either cut
            return super().ltrim(name, *args)

    workers = [
        threading.Thread(target=log.prune, args=(Worker(port=port), c, before, "20000101"))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert r.lrange(ref, 0, -1) == kept
