"""What an officer's phone sends (services/field.py) in Redis: each action once per idempotency
key, handed to the ingest worker through the inbox the embedded broker writes to, so a phone's
position or task report is applied by the same handlers, rules and counters as one sent over
MQTT."""

from __future__ import annotations

import redis
from redis.lock import Lock

from store import keys
from store.codec import text

# KEYS: the idempotency key's string, the inbox, the stats hash. ARGV: ttl s, outcome field,
# duplicate field, then the inbox entry's field/value pairs. Returns 1 relayed, 0 a resend.
# One step: an action is either marked and in the inbox, or neither (a crash between the two
# would lose it for good, its resend answered "duplicate").
RELAY_ONCE = """
if redis.call('SET', KEYS[1], 'relayed', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
  redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
  return 1
end
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
return 0
"""


def relay_once(
    r: redis.Redis,
    unit_id: str,
    key: str,
    entry: dict[str, str | bytes | int],
    stat: str,
    ttl_s: int,
) -> bool:
    """Hands `entry` (topic `t`, payload `p`, who `by`, received `ms`) to the workers unless
    this unit's `key` was relayed before; True when relayed now."""
    args: list[str | bytes | int] = [ttl_s, f"{stat}|relayed", f"{stat}|duplicate"]
    for field, value in entry.items():
        args += [field, value]
    keys_ = [keys.field_once(unit_id, key), keys.INGEST_INBOX, keys.FIELD_STATS]
    return bool(r.register_script(RELAY_ONCE)(keys=keys_, args=args))


def outcome(r: redis.Redis, unit_id: str, key: str) -> str | None:
    """What an action with this key came to, if it was taken (its resend changes nothing)."""
    return text(r.get(keys.field_once(unit_id, key))) or None


def remember(r: redis.Redis, unit_id: str, key: str, value: str, ttl_s: int, stat: str) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.set(keys.field_once(unit_id, key), value, ex=ttl_s)
    pipe.hincrby(keys.FIELD_STATS, f"{stat}|taken", 1)
    pipe.execute()


def taking(r: redis.Redis, unit_id: str, key: str, ttl_s: float) -> Lock:
    """The hold of one request on the action of this key (acquire: False when another holds
    it); it lapses after `ttl_s` when its process died."""
    return Lock(r, keys.field_taking(unit_id, key), timeout=ttl_s, blocking=False)


def progress(r: redis.Redis, unit_id: str, key: str, value: str, ttl_s: int) -> None:
    """How far an action of several writes came (a resend goes on from there), not counted."""
    r.set(keys.field_once(unit_id, key), value, ex=ttl_s)


def count_duplicate(r: redis.Redis, stat: str) -> None:
    r.hincrby(keys.FIELD_STATS, f"{stat}|duplicate", 1)


def stats(r: redis.Redis) -> dict[str, int]:
    return {text(k): int(v) for k, v in r.hgetall(keys.FIELD_STATS).items()}


def hand_over(r: redis.Redis, entry: dict[str, str | bytes | int]) -> None:
    """An inbox entry the system itself sends (the demo unit's profile)."""
    r.xadd(keys.INGEST_INBOX, entry)


WAKE_KEEP = 1000


def wake(r: redis.Redis, unit_id: str) -> None:
    """Tells the web processes' field streams to look at this unit's phone now."""
    r.xadd(keys.FIELD_WAKE, {"unit": unit_id}, maxlen=WAKE_KEEP, approximate=True)


def woken(r: redis.Redis, cursors: dict[str, str], block_ms: int) -> list[str]:
    """Blocks until a unit is named by a new assignment (the dispatch outbox, written with the
    assignment) or a wake entry after `cursors` (stream -> last id, moved on here); the units."""
    reply = r.xread(cursors, block=block_ms, count=200) or []
    units = []
    for stream, entries in reply:
        cursors[text(stream)] = text(entries[-1][0])
        units += [text(fields.get(b"unit")) for _id, fields in entries if fields.get(b"unit")]
    return units


def wake_cursors() -> dict[str, str]:
    return {keys.OUTBOX: "$", keys.FIELD_WAKE: "$"}
