"""Reports of one thing: the open incidents that may report what another reports (same type,
near in place and time: domain.incidents.possible_duplicates), and merging one into another.

A merge rejects the duplicate with the reason "duplicate of <id>" (its case file stays, in the
record), notes it on the incident it joins, and moves its citizens' tracking codes there, so
they follow the case that is handled."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from domain import incidents as model
from services import incidents
from services.context import AppContext
from services.errors import Refused
from store import reports


class Merge(BaseModel):
    """Which incident to merge into the one the path names."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    duplicate: Annotated[str, Field(min_length=1, max_length=64)]


def duplicates(ctx: AppContext, incident_id: str) -> list[dict[str, Any]]:
    """The open incidents that may be the same as this one, nearest first."""
    inc = incidents.detail(ctx, incident_id)
    found = model.possible_duplicates(inc, incidents.listing(ctx, open_only=True))
    return [
        {
            "id": o["id"],
            "type": o.get("type"),
            "source": o.get("source"),
            "state": o.get("state"),
            "created_ms": o.get("created_ms"),
            "distance_m": round(metres),
            "description": o.get("description") or "",
        }
        for o, metres in found
    ]


def merge(ctx: AppContext, duplicate_id: str, into_id: str, by: str) -> dict[str, Any]:
    """Merge incident `duplicate_id` into `into_id`; the incident it joined."""
    if duplicate_id == into_id:
        raise Refused(422, "an incident cannot be merged into itself")
    if duplicate_id not in {d["id"] for d in duplicates(ctx, into_id)}:
        raise Refused(
            409, f"{duplicate_id[:64]!r} is not an open report of the same thing near {into_id}"
        )
    reason = f"duplicate of {into_id}"
    move = incidents.Move(to=model.State.REJECTED, reason=reason)
    incidents.move(ctx, duplicate_id, move, by)
    incidents.add_note(ctx, into_id, incidents.Note(text=f"merged {duplicate_id}"), by)
    reports.follow(ctx.redis, duplicate_id, into_id)
    return incidents.detail(ctx, into_id)
