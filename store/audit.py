"""The audit log in Redis (keys: store/keys.py `audit_*`; rules: domain/audit.py).

Appending is one compare-and-set script: the caller seals an entry onto the head it read (seq,
hash), the script appends it only if the head is still that one, else answers the head as it is
now and the caller seals again. Redis' Lua has no SHA-256, so the hash is made here, and two
processes appending at once simply take turns. Entries go into one list per local day, and a
day never goes back within a chain (a host whose clock lags writes into the chain's current
day), so the days read in order are the chain in order.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from domain import audit
from domain.vocab import local_day
from store import keys
from store.codec import text

RETRIES = 100  # turns lost to other writers in a row before giving up (never seen above 3)

# KEYS: head, day list, days zset, then the ref lists. ARGV: expected seq, expected prev hash,
# entry (JSON), day, the entry's hash. Answers {1, seq} or {0, seq, hash, day} (the head now).
_APPEND = """
local h = redis.call('HMGET', KEYS[1], 'seq', 'hash', 'day')
local seq, hash, day = tonumber(h[1] or '0'), h[2] or ARGV[6], h[3] or ''
if seq ~= tonumber(ARGV[1]) or hash ~= ARGV[2] or day > ARGV[4] then
  return {0, seq, hash, day}
end
local idx = redis.call('RPUSH', KEYS[2], ARGV[3]) - 1
redis.call('HSET', KEYS[1], 'seq', seq + 1, 'hash', ARGV[5], 'day', ARGV[4], 'idx', idx)
redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[4])
for i = 4, #KEYS do redis.call('RPUSH', KEYS[i], ARGV[4] .. ':' .. idx) end
return {1, seq + 1}
"""


# The head this client last wrote, per chain: the next append tries it first (one round trip
# instead of two); when another writer came between, the script answers the head as it is.
_last_heads: weakref.WeakKeyDictionary[redis.Redis, dict[str, Head]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str
    day: str
    idx: int = -1  # the entry's index in its day's list


def head(r: redis.Redis, chain: str) -> Head:
    seq, h, day, idx = r.hmget(keys.audit_head(chain), "seq", "hash", "day", "idx")
    return Head(int(seq or 0), text(h) or audit.GENESIS, text(day), int(idx or -1))


def at(r: redis.Redis, chain: str, day: str, idx: int) -> dict[str, Any] | None:
    """The entry at `idx` of a day's list, if there is one."""
    raw = r.lindex(keys.audit_day(chain, day), idx)
    return None if raw is None else _parse(raw)


def append(
    r: redis.Redis,
    actor: str,
    action: str,
    obj: str,
    change: Mapping[str, Any],
    now_ms: int,
) -> dict[str, Any]:
    """Append one entry to the action's chain; returns it (with seq and hash)."""
    chain = audit.ACTIONS[action].value
    digest = audit.digest_of(change)
    refs = [keys.audit_ref(chain, ref) for ref in refs_of(obj, actor)]
    script = r.register_script(_APPEND)
    known = _last_heads.setdefault(r, {})
    now = known.get(chain) or head(r, chain)
    for _ in range(RETRIES):
        day = max(local_day(now_ms), now.day)
        entry = audit.seal(now.seq + 1, now.hash, now_ms, actor, action, obj, digest)
        res = script(
            keys=[
                keys.audit_head(chain),
                keys.audit_day(chain, day),
                keys.audit_days(chain),
                *refs,
            ],
            args=[now.seq, now.hash, audit.canonical(entry), day, entry["hash"], audit.GENESIS],
        )
        if int(res[0]) == 1:
            known[chain] = Head(entry["seq"], entry["hash"], day)
            return entry
        now = Head(int(res[1]), text(res[2]), text(res[3]))
    raise RuntimeError(f"audit chain {chain}: could not append after {RETRIES} turns")


def refs_of(obj: Any, actor: Any) -> list[str]:
    """The trails an entry is listed in: its object's and its actor's."""
    return list(dict.fromkeys((str(obj), str(actor))))


def ref_pointers(
    r: redis.Redis, chain: str, refs: Iterable[str], from_day: str = ""
) -> dict[str, set[str]]:
    """Each ref's `day:index` pointers into `from_day` and later: a list is in chain order, so
    it is read from its end back, a page of 1000 a list at a time (pipelined, 500 lists a
    round), only as far as that day."""
    out: dict[str, set[str]] = {ref: set() for ref in refs}
    todo, page = list(out), 1000
    for n in itertools.count():
        more = []
        for start in range(0, len(todo), 500):
            batch = todo[start : start + 500]
            pipe = r.pipeline(transaction=False)
            for ref in batch:
                pipe.lrange(keys.audit_ref(chain, ref), -(n + 1) * page, -n * page - 1)
            for ref, found in zip(batch, pipe.execute(), strict=True):
                pointers = [text(p) for p in found]
                out[ref].update(pointers)
                if len(pointers) == page and pointers[0].split(":", 1)[0] >= from_day:
                    more.append(ref)
        if not more:
            return out
        todo = more
    return out


def _parse(raw: Any) -> dict[str, Any]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"unreadable": text(raw)[:200]}
    return doc if isinstance(doc, dict) else {"unreadable": text(raw)[:200]}


def days(r: redis.Redis, chain: str, from_day: str = "") -> list[str]:
    found = sorted(text(d) for d in r.zrange(keys.audit_days(chain), 0, -1))
    return [d for d in found if d >= from_day]


def day_entries(r: redis.Redis, chain: str, day: str) -> list[dict[str, Any]]:
    return [_parse(raw) for raw in r.lrange(keys.audit_day(chain, day), 0, -1)]


def last_of_day(r: redis.Redis, chain: str, day: str, n: int = 1) -> list[dict[str, Any]]:
    return [_parse(raw) for raw in r.lrange(keys.audit_day(chain, day), -n, -1)]


def trail(r: redis.Redis, chain: str, ref: str, limit: int = 1000) -> list[dict[str, Any]]:
    """The entries whose actor or object is `ref`, oldest first (the newest `limit`); entries
    of pruned days are gone from it."""
    pointers = [text(p).split(":", 1) for p in r.lrange(keys.audit_ref(chain, ref), -limit, -1)]
    pipe = r.pipeline(transaction=False)
    for day, idx in pointers:
        pipe.lindex(keys.audit_day(chain, day), int(idx))
    return [
        {**_parse(raw), "day": day}
        for (day, _i), raw in zip(pointers, pipe.execute(), strict=True)
        if raw
    ]


# --- signed heads ---------------------------------------------------------------------------


def add_head(r: redis.Redis, chain: str, signed: Mapping[str, Any]) -> None:
    r.rpush(keys.audit_heads(chain), audit.canonical(dict(signed)))


def signed_heads(r: redis.Redis, chain: str) -> list[dict[str, Any]]:
    return [_parse(raw) for raw in r.lrange(keys.audit_heads(chain), 0, -1)]


def take_signer_turn(r: redis.Redis, chain: str, owner: str, ttl_ms: int) -> bool:
    """True for one process per period: the others leave the signing to it."""
    return bool(r.set(keys.audit_signer(chain), owner, nx=True, px=ttl_ms))


def prune(r: redis.Redis, chain: str, before_day: str, keep_periodic_from: str) -> list[str]:
    """Delete the whole days before `before_day`; keep every day head, and periodic heads of
    days from `keep_periodic_from` on. Returns the days deleted. Old heads are removed one by
    one by their stored value, so a head another signer adds meanwhile stays."""
    gone = [d for d in days(r, chain) if d < before_day]
    listed_in = {
        ref
        for d in gone
        for e in day_entries(r, chain, d)
        for ref in refs_of(e.get("object"), e.get("actor"))
    }
    stale = [
        raw
        for raw in r.lrange(keys.audit_heads(chain), 0, -1)
        if (h := _parse(raw)).get("kind") == "periodic" and str(h.get("day")) < keep_periodic_from
    ]
    pipe = r.pipeline(transaction=True)
    for d in gone:
        pipe.delete(keys.audit_day(chain, d))
        pipe.zrem(keys.audit_days(chain), d)
    for raw in stale:
        pipe.lrem(keys.audit_heads(chain), 1, raw)
    pipe.execute()
    for ref in listed_in:
        _trim_ref(r, chain, ref, before_day)
    return gone


# KEYS: a ref list. ARGV: the first day to keep, the most pointers to drop in this call. Drops
# the leading pointers into earlier days (the list is in chain order, appends go to its end)
# one by one as it finds them, so two workers pruning at once never drop more than that.
_TRIM_REF = """
local n = 0
while n < tonumber(ARGV[2]) do
  local first = redis.call('LINDEX', KEYS[1], 0)
  if not first or string.match(first, '^[^:]*') >= ARGV[1] then break end
  redis.call('LPOP', KEYS[1])
  n = n + 1
end
return n
"""
TRIM_CHUNK = 10_000  # pointers a script call drops at most (Redis serves nothing else meanwhile)


def _trim_ref(r: redis.Redis, chain: str, ref: str, before_day: str) -> None:
    """Drop a ref's pointers into days before `before_day`, a chunk a call."""
    trim = r.register_script(_TRIM_REF)
    while trim(keys=[keys.audit_ref(chain, ref)], args=[before_day, TRIM_CHUNK]) == TRIM_CHUNK:
        pass


def entries(r: redis.Redis, chain: str, from_day: str = "") -> Iterable[tuple[str, dict[str, Any]]]:
    """(day, entry) of every kept entry from `from_day` on, in chain order."""
    for day in days(r, chain, from_day):
        for e in day_entries(r, chain, day):
            yield day, e
