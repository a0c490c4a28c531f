"""The deployment's one live picture in Redis (services/picture_relay.py): one web process
builds it, holding a lease (keys.PICTURE_BUILDER), and adds each update it makes to a stream
(keys.PICTURE) as the bytes every page's stream sends; every web process relays them. So the
picture's CPU is spent once per deployment, not once per gunicorn worker, and a browser that
reconnects to another process or host resumes where it was.

An entry is an update (`k` = "u": `since`, `seq`, its `body`, and `m`, what the benchmark and an
operator read of it: when ingest announced its first change, the builder's CPU, how many
records) or the mark of a new builder's first picture (`k` = "p"). The whole picture is kept
beside the stream now and then (keys.PICTURE_WHOLE, with the entry that made it), so a process
that starts, or finds a hole in what it read, takes the whole picture and the updates after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import redis
from redis.exceptions import LockNotOwnedError
from redis.lock import Lock

from store import keys

# Updates are kept this long: a relay that starts reads the whole picture (kept every
# services/picture_relay.WHOLE_EVERY_S) and every update after it, so this is longer than that.
KEEP_MS = 180_000


@dataclass(frozen=True, slots=True)
class Entry:
    id: str  # the stream's id: when the update was published, on Redis' clock
    token: str  # the builder's numbering
    since: int  # the picture it starts from (-1 for a first picture's mark)
    seq: int  # the picture it makes
    body: bytes | None  # the update as streams send it; None: a new builder's first picture
    meta: dict[str, Any]

    @property
    def published_ms(self) -> int:
        return int(self.id.partition("-")[0])


@dataclass(frozen=True, slots=True)
class Whole:
    token: str
    seq: int
    entry: str  # the stream entry that made this picture: the updates after it follow on
    body: bytes


def builder_lease(r: redis.Redis, ttl_s: float) -> Lock:
    """The lease of the process that builds the picture: held while renewed within `ttl_s`,
    under the builder's token (acquire(token=...))."""
    return Lock(r, keys.PICTURE_BUILDER, timeout=ttl_s, blocking=False, thread_local=False)


# Every write of the builder's, made only while it holds the lease: a builder that stalled past
# its lease (a slow read, a paused process) and does not know yet that another builds now must
# not add updates under its old numbering, nor keep its picture over the new builder's, which
# would leave every relay waiting for a whole picture of the lease holder's. Updates are trimmed
# by the new entry's own time (Redis' clock, not the web host's, which may be ahead).
# KEYS: lease, stream, whole hash. ARGV: token, what ('u' update, 'p' a first picture, 'w' the
# whole picture), seq, since (u) or the entry (w), body, meta (u), KEEP_MS.
# Gives the entry id ('w': the one given); an error reply NOTHOLDER when the lease is not ours.
_WRITE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTHOLDER the live picture is built by another process now')
end
local what, entry = ARGV[2], ARGV[4]
if what ~= 'w' then
  local fields = {'k', what, 't', ARGV[1], 'a', what == 'u' and ARGV[4] or -1, 's', ARGV[3]}
  if what == 'u' then
    fields[#fields + 1] = 'b'
    fields[#fields + 1] = ARGV[5]
  end
  fields[#fields + 1] = 'm'
  fields[#fields + 1] = what == 'u' and ARGV[6] or '{}'
  entry = redis.call('XADD', KEYS[2], '*', unpack(fields))
  local ms = tonumber(string.match(entry, '^(%d+)'))
  redis.call('XTRIM', KEYS[2], 'MINID', '~', string.format('%d-0', math.max(ms - ARGV[7], 0)))
end
if what ~= 'u' then
  redis.call('HSET', KEYS[3], 't', ARGV[1], 's', ARGV[3], 'e', entry, 'b', ARGV[5])
end
return entry
"""


def _write(
    r: redis.Redis,
    token: str,
    what: str,
    seq: int,
    at: int | str,
    body: bytes = b"",
    meta: bytes = b"{}",
) -> str:
    try:
        entry = r.register_script(_WRITE)(
            keys=[keys.PICTURE_BUILDER, keys.PICTURE, keys.PICTURE_WHOLE],
            args=[token, what, seq, at, body, meta, KEEP_MS],
        )
    except redis.exceptions.ResponseError as e:
        if str(e).startswith("NOTHOLDER"):
            raise LockNotOwnedError(str(e)) from None
        raise
    return entry.decode()


def publish(
    r: redis.Redis, token: str, since: int, seq: int, body: bytes, meta: dict[str, Any]
) -> str:
    """Adds an update; gives its entry id. LockNotOwnedError: another process builds now."""
    return _write(r, token, "u", seq, since, body, orjson.dumps(meta))


def mark_first(r: redis.Redis, token: str, seq: int, body: bytes) -> str:
    """A new builder's first picture: marked in the stream (relays take the whole picture
    again) and kept whole beside it, in one step."""
    return _write(r, token, "p", seq, -1, body)


def keep_whole(r: redis.Redis, whole: Whole) -> None:
    _write(r, whole.token, "w", whole.seq, whole.entry, whole.body)


def whole_head(r: redis.Redis) -> tuple[str, int, str] | None:
    """The kept whole picture's token, number and entry, without it (a relay reads the
    picture only when it is not the one it tried already); None unless it is the picture of
    the builder holding the lease (whose token is the lease's)."""
    pipe = r.pipeline(transaction=False)
    pipe.hmget(keys.PICTURE_WHOLE, ["t", "s", "e"])
    pipe.get(keys.PICTURE_BUILDER)
    (token, seq, entry), holder = pipe.execute()
    if token is None or token != holder:
        return None  # no builder yet, or the picture of one gone (a previous run's)
    try:
        return token.decode(), int(seq), entry.decode()
    except (AttributeError, ValueError):
        return None  # a hash not of the builder's making


def whole(r: redis.Redis) -> Whole | None:
    found = r.hgetall(keys.PICTURE_WHOLE)
    try:
        return Whole(found[b"t"].decode(), int(found[b"s"]), found[b"e"].decode(), found[b"b"])
    except (KeyError, ValueError):
        return None  # no builder yet (or a hash not of its making)


def want_whole(r: redis.Redis) -> None:
    """A relay missed updates: it asks the builder to keep the whole picture now."""
    r.set(keys.PICTURE_WANTED, 1, ex=60)


def whole_wanted(r: redis.Redis) -> bool:
    return bool(r.getdel(keys.PICTURE_WANTED))


def _entry(entry_id: bytes, fields: dict[bytes, bytes]) -> Entry | None:
    try:
        return Entry(
            entry_id.decode(),
            fields[b"t"].decode(),
            int(fields[b"a"]),
            int(fields[b"s"]),
            fields[b"b"] if fields.get(b"k") == b"u" else None,
            orjson.loads(fields.get(b"m", b"{}")),
        )
    except (KeyError, ValueError, orjson.JSONDecodeError):
        return None  # not the builder's: skipped (the numbering shows if anything is missing)


def read(r: redis.Redis, after: str, block_ms: int, count: int = 100) -> tuple[str, list[Entry]]:
    """The entries after `after`, waiting up to `block_ms` for the first; and the id to read
    from next."""
    found = r.xread({keys.PICTURE: after}, count=count, block=block_ms or None)
    return _entries(after, found[0][1] if found else [])


def after(r: redis.Redis, entry: str) -> tuple[str, list[Entry]]:
    """Every entry after `entry` (a relay catching up from a whole picture)."""
    return _entries(entry, r.xrange(keys.PICTURE, min=f"({entry}"))


def _entries(last: str, raw: list[Any]) -> tuple[str, list[Entry]]:
    out = []
    for entry_id, fields in raw:
        last = entry_id.decode()
        e = _entry(entry_id, fields)
        if e is not None:
            out.append(e)
    return last, out
