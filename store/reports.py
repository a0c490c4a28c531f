"""Citizen reports' defences and tracking in Redis: one-use proof-of-work challenges, the
per-address and overall limits over a rolling hour (checked and counted in one step, so
parallel submissions cannot all slip under a limit), and tracking codes."""

from __future__ import annotations

import secrets
from enum import Enum

import redis

from store import keys

HOUR_MS = 3_600_000
# KEYS: the address's zset, the overall zset. ARGV: now ms, per-address limit, overall limit,
# a member unique to this report. Returns 0 counted, 1 over the address's limit, 2 overall.
ADMIT_REPORT = """
local since = tonumber(ARGV[1]) - 3600000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', since)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', since)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 2 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], 3600000)
redis.call('PEXPIRE', KEYS[2], 3600000)
return 0
"""


class Admitted(Enum):
    YES = 0
    ADDRESS_LIMIT = 1
    OVERALL_LIMIT = 2


def new_challenge(r: redis.Redis, ttl_s: int) -> str:
    challenge = secrets.token_hex(16)
    r.set(keys.report_challenge(challenge), 1, ex=ttl_s)
    return challenge


def use_challenge(r: redis.Redis, challenge: str) -> bool:
    """Whether the challenge was handed out and not used yet; it is used up either way."""
    return bool(r.delete(keys.report_challenge(challenge)))


def admit(r: redis.Redis, addr: str, now_ms: int, per_address: int, overall: int) -> Admitted:
    """Count one report from `addr` unless a limit over the last hour is reached."""
    member = f"{now_ms}:{secrets.token_hex(4)}"
    out = r.register_script(ADMIT_REPORT)(
        keys=[keys.report_recent(addr), keys.REPORTS_ALL],
        args=[now_ms, per_address, overall, member],
    )
    return Admitted(int(out))


def oldest_ms(r: redis.Redis, addr: str | None) -> int | None:
    """When the oldest report counted against a limit (the address's, else the overall) was
    accepted: the limit frees a place an hour after it."""
    key = keys.report_recent(addr) if addr is not None else keys.REPORTS_ALL
    first = r.zrange(key, 0, 0, withscores=True)
    return int(first[0][1]) if first else None


def reserve_tracking(r: redis.Redis, code: str) -> bool:
    """Take a tracking code before its incident exists; False if it is taken (draw another)."""
    return bool(r.set(keys.report_tracking(code), "", nx=True))


def save_tracking(r: redis.Redis, code: str, incident_id: str) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.set(keys.report_tracking(code), incident_id)
    pipe.sadd(keys.report_codes(incident_id), code)
    pipe.execute()


def follow(r: redis.Redis, from_id: str, to_id: str) -> list[str]:
    """The tracking codes of incident `from_id` follow `to_id` from now on (a merged report's
    citizen sees the case it was merged into); the codes moved."""
    codes = [c.decode() for c in r.smembers(keys.report_codes(from_id))]
    for code in codes:
        save_tracking(r, code, to_id)
    if codes:
        r.srem(keys.report_codes(from_id), *codes)
    return codes


def tracked(r: redis.Redis, code: str) -> str | None:
    """The incident behind a tracking code (None: no such code, or its incident is not open
    yet)."""
    found = r.get(keys.report_tracking(code))
    return found.decode() if found else None
