"""Personal data in Redis (rules: domain/personal.py): the reporter's phone number kept on an
incident's record (`incident:{id}` field `reporter_phone`, written with the incident) and erased
once the incident is older than PERSONAL_PHONE_KEEP_DAYS; an officer's unit track
(`unit:{id}:track`, kept HISTORY_HOURS by the ingest scripts' MINID trim)."""

from __future__ import annotations

import redis

from domain import personal
from store import keys
from store.codec import text

PHONE_FIELD = "reporter_phone"
ERASE_BATCH = 500
TRACK_FIELDS = ("lat", "lon", "speed_kmh", "course")


def reporter_phone(r: redis.Redis, incident_id: str) -> tuple[bool, str]:
    """(the incident exists, its reporter's phone number or "")."""
    pipe = r.pipeline(transaction=False)
    pipe.exists(keys.incident(incident_id))
    pipe.hget(keys.incident(incident_id), PHONE_FIELD)
    exists, phone = pipe.execute()
    return bool(exists), text(phone)


def erase_phones_opened_before(r: redis.Redis, before_ms: int) -> int:
    """Remove the reporter's phone number from every incident opened before `before_ms`;
    returns how many numbers were removed (a number already gone counts nothing)."""
    ids = [text(i) for i in r.zrangebyscore(keys.INCIDENTS, "-inf", f"({before_ms}")]
    erased = 0
    for start in range(0, len(ids), ERASE_BATCH):
        pipe = r.pipeline(transaction=False)
        for incident_id in ids[start : start + ERASE_BATCH]:
            pipe.hdel(keys.incident(incident_id), PHONE_FIELD)
        erased += sum(int(n) for n in pipe.execute())
    return erased


def erase_old_phones(r: redis.Redis, now_ms: int, keep_days: int) -> int:
    """The retention rule: numbers of incidents opened more than `keep_days` before now go
    (for the worker's day close: `erase_old_phones(r, now, settings.personal_phone_keep_days)`)."""
    return erase_phones_opened_before(r, personal.phone_erase_before(now_ms, keep_days))


def unit_exists(r: redis.Redis, unit_id: str) -> bool:
    pipe = r.pipeline(transaction=False)
    pipe.sismember(keys.index("unit"), unit_id)
    pipe.exists(keys.state("unit", unit_id), keys.track("unit", unit_id))
    member, found = pipe.execute()
    return bool(member) or int(found) > 0
