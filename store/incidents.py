"""Incidents in Redis: create, read, list, transition and assign, each write one Lua script
(store/incident_scripts.py) and each acknowledged only once it is on disk.

Legality comes from the caller (domain/incidents.py decides which states a target may be reached
from); this module makes the check-and-write atomic and durable. "Durable" = the write is in the
append-only file: with `appendfsync always` (the embedded server) Redis syncs before it replies,
and `WAITAOF` confirms it on any Redis that keeps an AOF.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson
import redis

from domain import incidents as model
from domain.vocab import local_day
from store import keys, slots
from store.codec import text as as_text
from store.incident_scripts import ASSIGN, CREATE, IMPORT, NOTE, TRANSITION

log = logging.getLogger("ecocommand.incidents")

# times_by_track / times_flagged: field reports whose time a track supported / refused
INT_FIELDS = frozenset(
    {"priority", "state_ms", "created_ms", "reported_ms", "times_by_track", "times_flagged"}
)
FLOAT_FIELDS = frozenset({"lat", "lon"})
RETRIES = 5  # the unit list moved under us this many times in a row: give up, say so
WAITAOF_TIMEOUT_MS = 2000


class Code(IntEnum):
    DONE = 1
    NOT_ALLOWED = 0  # not reachable from the state the incident is in now
    NO_SUCH = -1
    UNITS_CHANGED = -2
    UNIT_BUSY = -3
    EXISTS = -4
    NOT_ON_INCIDENT = -5  # a unit reported on an incident it is not assigned to


@dataclass(frozen=True, slots=True)
class Outcome:
    code: Code
    detail: str  # the current state, the busy unit, or the id
    durable: bool = False  # confirmed in the append-only file
    event: str = ""  # the timeline event the act wrote (its stream id)
    # an assignment's pre-empted incidents: (id, the state its record is in now, its event)
    preempted: tuple[tuple[str, str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == Code.DONE


def _typed(raw: dict[bytes, bytes]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in raw.items():
        name, text = as_text(k), as_text(v)
        try:
            if name in INT_FIELDS or name.startswith("at_"):
                out[name] = int(text)
            elif name in FLOAT_FIELDS:
                out[name] = float(text)
            elif name in ("units", "released_units", "departments"):
                out[name] = [u for u in text.split(",") if u]
            else:
                out[name] = text
        except ValueError:
            out[name] = None  # one corrupt field must not hide the incident
    return out


def _outcome(res: list[Any], durable: bool = False) -> Outcome:
    return Outcome(Code(int(res[0])), as_text(res[1]), durable)


def durable(r: redis.Redis) -> bool:
    """Wait until the last write is in this Redis' append-only file (False: no AOF). Every
    incident key is in the shared slot: on a cluster, its node is asked."""
    try:
        local, _replicas = slots.node_client(r, keys.SHARED_TAG).execute_command(
            "WAITAOF", 1, 0, WAITAOF_TIMEOUT_MS
        )
    except redis.exceptions.ResponseError as e:  # AOF off, or a Redis older than 7.2
        log.warning("incident writes are not confirmed on disk: %s", e)
        return False
    return int(local) >= 1


def new_id(r: redis.Redis, now_ms: int) -> str:
    """`INC-<local date>-<n>`: the date a duty chief in the district calls the day."""
    day = local_day(now_ms)
    return f"INC-{day}-{int(r.incr(keys.incident_sequence(day))):04d}"


def create(
    r: redis.Redis,
    fields: dict[str, str | int | float],
    by: str,
    at_ms: int,
    reason: str = "",
    incident_id: str | None = None,
) -> Outcome:
    """A new incident in state `reported`; `fields` are its type, source, location, ..."""
    incident_id = incident_id or new_id(r, at_ms)
    pairs: list[str | int | float] = []
    for k, v in fields.items():
        if v is not None and k not in ("id", "state", "units"):
            pairs += (k, v)
    res = r.register_script(CREATE)(
        keys=[
            keys.incident(incident_id),
            keys.incident_timeline(incident_id),
            keys.INCIDENTS,
            keys.INCIDENTS_OPEN,
            keys.OVERLAYS_VERSION,
        ],
        args=[incident_id, at_ms, by, reason, *pairs],
    )
    out = _outcome(res)
    return Outcome(out.code, out.detail, out.ok and durable(r))


def import_history(
    r: redis.Redis, incident_id: str, fields: dict[str, str | int | float], timeline: model.Timeline
) -> Outcome:
    """Write a past incident and its whole checked history in one step (see IMPORT): the
    record gets what `create`/`transition` would have left (state, times, units)."""
    steps = timeline.transitions
    if not steps:
        raise ValueError("an empty history")
    model.Timeline.replay(list(steps))  # refuses an illegal history by name
    record: dict[str, str | int | float] = {
        k: v for k, v in fields.items() if v is not None and k not in ("id", "state")
    }
    record |= {
        "state": steps[-1].to_state.value,
        "state_ms": steps[-1].at_ms,
        "created_ms": steps[0].at_ms,
        "created_by": steps[0].by,
    }
    for t in reversed(steps):  # the first entry into each state wins
        record[f"at_{t.to_state.value}"] = t.at_ms
    args: list[str | int | float] = [
        incident_id,
        steps[0].at_ms,
        int(steps[-1].to_state not in model.TERMINAL),
        len(steps),
    ]
    for t in steps:
        extra = dict(t.extra)  # as the live scripts record it: units as csv, the rest as JSON
        text = (
            extra.pop("units", None)
            if "units" in extra and len(extra) == 1
            else (orjson.dumps(extra).decode() if extra else "")
        )
        args += [
            t.from_state.value if t.from_state else "",
            t.to_state.value,
            t.by,
            t.at_ms,
            t.reason,
            text,
        ]
    for k, v in record.items():
        args += [k, v]
    res = r.register_script(IMPORT)(
        keys=[
            keys.incident(incident_id),
            keys.incident_timeline(incident_id),
            keys.INCIDENTS,
            keys.INCIDENTS_OPEN,
            keys.OVERLAYS_VERSION,
        ],
        args=args,
    )
    return _outcome(res)


def read(r: redis.Redis, incident_id: str) -> dict[str, Any] | None:
    raw = r.hgetall(keys.incident(incident_id))
    return _typed(raw) if raw else None


def revision(r: redis.Redis, incident_id: str) -> tuple[dict[str, Any], list[Any]] | None:
    """The incident's record and what moves whenever anything shown of it is written (None:
    no such incident): the record, the last entries of its timeline and notes, and per unit on
    it the last message and how many were read. A page compares it every few seconds instead
    of reading and drawing it all."""
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(keys.incident(incident_id))
    pipe.xrevrange(keys.incident_timeline(incident_id), count=1)
    pipe.xrevrange(keys.incident_notes(incident_id), count=1)
    raw, last_move, last_note = pipe.execute()
    if not raw:
        return None
    inc = _typed(raw)
    units = inc.get("units") or []
    for u in units:
        pipe.xrevrange(keys.unit_messages(u), count=1)
        pipe.hlen(keys.unit_messages_read(u))
    threads = pipe.execute() if units else []
    last = [as_text(x[0][0]) if isinstance(x, list) and x else x for x in threads]
    record = sorted((as_text(k), as_text(v)) for k, v in raw.items())
    return inc, [record, *(as_text(x[0][0]) if x else None for x in (last_move, last_note)), last]


def timeline(r: redis.Redis, incident_id: str) -> list[dict[str, Any]]:
    out = []
    for _entry, fields in r.xrange(keys.incident_timeline(incident_id)):
        t = {as_text(k): as_text(v) for k, v in fields.items()}
        for f in ("at_ms", "reported_ms"):
            t[f] = int(t[f]) if t.get(f, "").isdigit() else None
        out.append(t)
    return out


def add_note(
    r: redis.Redis,
    incident_id: str,
    kind: str,
    fields: dict[str, str | int],
    *,
    by: str,
    at_ms: int,
) -> Outcome:
    """Append a note ("note": text) or evidence ("evidence": sha256, name, media type, size,
    caption) to the incident's notes; detail = the entry's id."""
    pairs = [x for k, v in fields.items() for x in (k, v)]
    res = r.register_script(NOTE)(
        keys=[keys.incident(incident_id), keys.incident_notes(incident_id), keys.OVERLAYS_VERSION],
        args=[kind, by, at_ms, *pairs],
    )
    out = _outcome(res)
    return Outcome(out.code, out.detail, out.ok and durable(r))


def notes(r: redis.Redis, incident_id: str) -> list[dict[str, Any]]:
    out = []
    for entry, fields in r.xrange(keys.incident_notes(incident_id)):
        n = {as_text(k): as_text(v) for k, v in fields.items()}
        n["id"] = as_text(entry)
        for f in ("at_ms", "size"):
            if f in n:
                n[f] = int(n[f]) if n[f].isdigit() else None
        out.append(n)
    return out


def listing(
    r: redis.Redis,
    open_only: bool = True,
    limit: int = 1000,
    from_ms: int | None = None,
    to_ms: int | None = None,
    start: int = 0,
) -> list[dict[str, Any]]:
    """Incidents, newest first: the open ones, or all of them; opened in [from_ms, to_ms)
    when given; at most `limit`, from the `start`-th newest (the history reads in pages)."""
    index = keys.INCIDENTS_OPEN if open_only else keys.INCIDENTS
    top = f"({to_ms}" if to_ms is not None else "+inf"
    bottom = str(from_ms) if from_ms is not None else "-inf"
    ids = [as_text(x) for x in r.zrevrangebyscore(index, top, bottom, start=start, num=limit)]
    pipe = r.pipeline(transaction=False)
    for incident_id in ids:
        pipe.hgetall(keys.incident(incident_id))
    return [_typed(raw) for raw in pipe.execute() if raw]


def units_ever_on(r: redis.Redis, incident_ids: list[str]) -> dict[str, set[str]]:
    """Per incident, every unit ever sent to it, from its timeline's assignments (the record's
    own `units` and `released_units` are emptied as it closes), in one round trip."""
    pipe = r.pipeline(transaction=False)
    for incident_id in incident_ids:
        pipe.xrange(keys.incident_timeline(incident_id))
    out: dict[str, set[str]] = {}
    for incident_id, entries in zip(incident_ids, pipe.execute(), strict=True):
        sent: set[str] = set()
        for _entry, fields in entries:
            if as_text(fields.get(b"to")) == "assigned":
                sent.update(u for u in as_text(fields.get(b"extra")).split(",") if u)
        out[incident_id] = sent
    return out


def _units(r: redis.Redis, incident_id: str) -> str:
    return as_text(r.hget(keys.incident(incident_id), "units"))


def transition(
    r: redis.Redis,
    incident_id: str,
    target: str,
    allowed_from: Iterable[str],
    *,
    by: str,
    at_ms: int,
    reason: str = "",
    extra: dict[str, str] | None = None,
    release: bool = False,
    closes: bool = False,
    member: str = "",
    count: str = "",
) -> Outcome:
    """Move the incident to `target` if it is in one of `allowed_from` now. `release` frees its
    units (handled, rejected, transferred, closed); `closes` takes it out of the open list;
    `member`: a unit that must be on the incident (a field report speaks only for its own);
    `count`: a counter field of the incident that the same atomic step adds 1 to."""
    allowed = list(allowed_from)
    script = r.register_script(TRANSITION)
    for _ in range(RETRIES):
        units = _units(r, incident_id)
        res = script(
            keys=[
                keys.incident(incident_id),
                keys.incident_timeline(incident_id),
                keys.INCIDENTS_OPEN,
                keys.OVERLAYS_VERSION,
                *[keys.unit_task(u) for u in units.split(",") if u],
            ],
            args=[
                units,
                len(allowed),
                *allowed,
                target,
                at_ms,
                by,
                reason,
                orjson.dumps(extra or {}).decode(),
                int(release),
                int(closes),
                incident_id,
                count,
                member,
            ],
        )
        out = _outcome(res)
        if out.code != Code.UNITS_CHANGED:
            event = as_text(res[2]) if out.ok else ""
            return Outcome(out.code, out.detail, out.ok and durable(r), event)
    return out


def assign(
    r: redis.Redis,
    incident_id: str,
    unit_ids: list[str],
    allowed_from: Iterable[str],
    *,
    by: str,
    at_ms: int,
    priority: int,
    notices: dict[str, dict[str, Any]],
    reason: str = "",
    preempt: bool = False,
) -> Outcome:
    """Give the incident exactly these units (assign or reassign) in one atomic step. A unit
    busy elsewhere wins over this call unless `preempt` and that incident is less urgent; the
    incident it is taken from records that in the same step (`Outcome.preempted`)."""
    allowed = list(allowed_from)
    new = list(dict.fromkeys(unit_ids))  # once each, in the dispatcher's order
    script = r.register_script(ASSIGN)
    for _ in range(RETRIES):
        units = _units(r, incident_id)
        current = [u for u in units.split(",") if u]
        others = _busy_on(r, new, incident_id) if preempt else []
        res = script(
            keys=[
                keys.incident(incident_id),
                keys.incident_timeline(incident_id),
                keys.OVERLAYS_VERSION,
                keys.OUTBOX,
                keys.EVENTS,
                *[keys.unit_task(u) for u in new],
                *[keys.unit_task(u) for u in current],
                *[k for o in others for k in (keys.incident(o), keys.incident_timeline(o))],
            ],
            args=[
                units,
                len(allowed),
                *allowed,
                at_ms,
                by,
                reason,
                priority,
                int(preempt),
                incident_id,
                len(new),
                *new,
                *[orjson.dumps(notices.get(u, {})).decode() for u in new],
                len(others),
                *others,
            ],
        )
        out = _outcome(res)
        if out.code != Code.UNITS_CHANGED:
            taken = tuple(_taken(as_text(x)) for x in res[3:])
            event = as_text(res[2]) if out.ok else ""
            return Outcome(out.code, out.detail, out.ok and durable(r), event, taken)
    return out


def _taken(answer: str) -> tuple[str, str, str]:
    incident, state, event = answer.split("|", 2)
    return incident, state, event


def _busy_on(r: redis.Redis, unit_ids: list[str], incident_id: str) -> list[str]:
    """The other incidents these units are on now, once each (the script declares their keys
    and retries if a unit moved in between)."""
    pipe = r.pipeline(transaction=False)
    for u in unit_ids:
        pipe.hget(keys.unit_task(u), "incident")
    on = (as_text(x) for x in pipe.execute() if x)
    return list(dict.fromkeys(x for x in on if x != incident_id))


def unit_task(r: redis.Redis, unit_id: str) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in r.hgetall(keys.unit_task(unit_id)).items()}


# --- the stored events as written, for the audit log's digests (services/audit.py) ----------


def _fields(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in raw.items()}


def event(r: redis.Redis, incident_id: str, entry_id: str) -> tuple[str, dict] | None:
    """One timeline event, as stored, by its stream id."""
    found = r.xrange(keys.incident_timeline(incident_id), entry_id, entry_id)
    return (entry_id, _fields(found[0][1])) if found else None


def latest_event(
    r: redis.Redis, incident_id: str, to_state: str = "", by: str = ""
) -> tuple[str, dict] | None:
    """The newest timeline event into `to_state` (any state when empty) by `by` (anyone when
    empty), as stored."""
    for entry, raw in r.xrevrange(keys.incident_timeline(incident_id), count=20):
        fields = _fields(raw)
        if (not to_state or fields.get("to") == to_state) and (not by or fields.get("by") == by):
            return as_text(entry), fields
    return None


def note(r: redis.Redis, incident_id: str, entry_id: str) -> dict[str, str] | None:
    found = r.xrange(keys.incident_notes(incident_id), entry_id, entry_id)
    return _fields(found[0][1]) if found else None


def raw_events(r: redis.Redis, incident_id: str) -> list[tuple[str, dict[str, str]]]:
    """Every timeline event and note of the incident, as stored, with its stream id."""
    pipe = r.pipeline(transaction=False)
    pipe.xrange(keys.incident_timeline(incident_id))
    pipe.xrange(keys.incident_notes(incident_id))
    return [(as_text(i), _fields(f)) for found in pipe.execute() for i, f in found]


def overlays_version(r: redis.Redis) -> str:
    """Moves with every incident change and assignment (and every alert's)."""
    return as_text(r.get(keys.OVERLAYS_VERSION)) or "0"
