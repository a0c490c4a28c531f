"""Incident history: the incidents that ended (closed, rejected, transferred), or any states
asked for, searched by type, sub-district, unit, words and the time they were opened, newest
first, a page at a time. The history page (/history) and `GET /api/v1/incidents` both ask here.

The store keeps every incident in one index by the time it was opened; the search reads it
newest first in chunks and keeps what matches, at most SCAN_MAX incidents per search (a time
window narrows it; the answer says when the limit cut it short)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain import incidents as model
from domain.vocab import Subdistrict
from services.context import AppContext
from services.errors import Refused
from services.incidents import detail, public, with_clocks
from store import incidents

ENDED = (model.State.CLOSED.value, model.State.REJECTED.value, model.State.TRANSFERRED.value)
PAGE, PAGE_MAX = 20, 50_000
SCAN_MAX, CHUNK = 50_000, 1000
TEXT_MAX = 80
STATES = frozenset(s.value for s in model.State)
TYPES = frozenset(t.value for t in model.IncidentType)
SUBDISTRICTS = frozenset(s.value for s in Subdistrict)


@dataclass(frozen=True, slots=True)
class Query:
    states: tuple[str, ...] = ENDED  # () = every state
    open_only: bool = False
    type: str | None = None
    subdistrict: str | None = None
    community: str | None = None  # its community (the grid's 社区 code), from where it is
    unit: str | None = None  # a unit id, or part of one (any unit that was on it)
    text: str | None = None  # in its id, description or address
    from_ms: int | None = None  # opened at or after
    to_ms: int | None = None  # opened before
    offset: int = 0
    limit: int = PAGE


@dataclass(frozen=True, slots=True)
class Found:
    items: list[dict[str, Any]]
    total: int  # matches in all (of the incidents read)
    offset: int
    limit: int
    capped: bool = False  # SCAN_MAX incidents read and more were there
    states: tuple[str, ...] = field(default=ENDED)


def _checked(q: Query) -> Query:
    if any(s not in STATES for s in q.states):
        raise Refused(422, "state: one of " + ", ".join(sorted(STATES)))
    if q.type is not None and q.type not in TYPES:
        raise Refused(422, f"unknown type {q.type[:40]!r}")
    if q.subdistrict is not None and q.subdistrict not in SUBDISTRICTS:
        raise Refused(422, f"unknown sub-district {q.subdistrict[:40]!r}")
    for name in ("unit", "text", "community"):
        value = getattr(q, name)
        if value is not None and len(value) > TEXT_MAX:
            raise Refused(422, f"{name}: at most {TEXT_MAX} characters")
    if not 1 <= q.limit <= PAGE_MAX or not 0 <= q.offset <= SCAN_MAX:
        raise Refused(422, f"limit: 1 to {PAGE_MAX}; offset: 0 to {SCAN_MAX}")
    return q


def communities(ctx: AppContext) -> list[str]:
    """The district's communities (their codes in the coverage grid), for a filter's choices."""
    return sorted({p.community for p in ctx.coverage.places.values() if p.community})


def community_of(ctx: AppContext, inc: dict[str, Any]) -> str | None:
    """The community of the land grid cell an incident lies in (none at sea)."""
    lon, lat = inc.get("lon"), inc.get("lat")
    if not isinstance(lon, float) or not isinstance(lat, float):
        return None
    cell = ctx.coverage.locate(lon, lat).land
    place = ctx.coverage.places.get(cell) if cell else None
    return (place.community or None) if place else None


def _matches(inc: dict[str, Any], q: Query) -> bool:
    if q.states and inc.get("state") not in q.states:
        return False
    if q.type and inc.get("type") != q.type:
        return False
    if q.subdistrict and inc.get("subdistrict") != q.subdistrict:
        return False
    if q.text:
        words = " ".join(str(inc.get(f) or "") for f in ("id", "description", "address"))
        if q.text.lower() not in words.lower():
            return False
    return True


def _sent(ctx: AppContext, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each with `units_sent`: every unit ever sent to it (its timeline's assignments)."""
    sent = incidents.units_ever_on(ctx.redis, [str(i["id"]) for i in found]) if found else {}
    for i in found:
        i["units_sent"] = sorted(sent[str(i["id"])] | set(i.get("units") or []))
    return found


def _by_unit(ctx: AppContext, found: list[dict[str, Any]], unit: str | None) -> list[Any]:
    """Those a unit was ever sent to (its id or part of it, any case); the timelines are read
    only for what the other filters kept, and only when a unit is asked for."""
    if not unit or not found:
        return found
    want = unit.lower()
    return [i for i in _sent(ctx, found) if any(want in u.lower() for u in i["units_sent"])]


def search(ctx: AppContext, q: Query) -> Found:
    """The page of matches from `q.offset`, newest first, each with its clocks."""
    q = _checked(q)
    matched: list[dict[str, Any]] = []
    read, capped = 0, False
    while True:
        batch = incidents.listing(ctx.redis, q.open_only, CHUNK, q.from_ms, q.to_ms, start=read)
        kept = [i for i in batch if _matches(i, q)]
        if q.community:
            kept = [i for i in kept if community_of(ctx, i) == q.community]
        matched += _by_unit(ctx, kept, q.unit)
        read += len(batch)
        if len(batch) < CHUNK:
            break
        if read >= SCAN_MAX:
            capped = True
            break
    now = ctx.now_ms()
    shown = matched[q.offset : q.offset + q.limit]
    page = [
        with_clocks(public(i), ctx.rules, now) for i in (shown if q.unit else _sent(ctx, shown))
    ]
    return Found(page, len(matched), q.offset, q.limit, capped, q.states)


def record(ctx: AppContext, incident_id: str) -> dict[str, Any]:
    """An incident's whole record (what /dispatch shows of an open one), with every unit ever
    sent to it (`units_sent`: the record's own lists are emptied as it closes)."""
    inc = detail(ctx, incident_id)
    return _sent(ctx, [inc])[0]
