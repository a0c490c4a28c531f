"""The live picture: units, vessels, sensors, open alerts and open incidents as they are in Redis
now, with the version that moves on every change, and the ingest worker's heartbeat. The live map
and the live-state API read it here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services import incidents
from services.context import AppContext
from store import reader, snapshots

ENTITY_KINDS = ("unit", "vessel", "sensor")


@dataclass(frozen=True, slots=True)
class Picture:
    version: int  # read before the data: a change meanwhile is seen next time
    units: list[dict[str, Any]]
    vessels: list[dict[str, Any]]
    sensors: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    incidents: list[dict[str, Any]]


def version(ctx: AppContext) -> int:
    """Moves on every change of the live state: equal versions, equal pictures."""
    return snapshots.version(ctx.redis)


def entities(
    ctx: AppContext, kind: str, fields: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Every entity of a kind with its live state (only `fields` if given) and its age."""
    return snapshots.entities(ctx.redis, kind, ctx.now_ms(), tuple(fields or ()))  # type: ignore[arg-type]


def open_alerts(
    ctx: AppContext, limit: int = 200, known: Mapping[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    return snapshots.open_alerts(ctx.redis, limit=limit, known=known)


def picture(ctx: AppContext, unit_fields: Sequence[str], vessel_fields: Sequence[str]) -> Picture:
    """Everything the live map draws, with only the fields it shows of units and vessels."""
    return Picture(
        version=version(ctx),
        units=entities(ctx, "unit", unit_fields),
        vessels=entities(ctx, "vessel", vessel_fields),
        sensors=entities(ctx, "sensor"),
        alerts=open_alerts(ctx),
        incidents=incidents.listing(ctx, open_only=True),
    )


def heartbeat(ctx: AppContext) -> dict[str, str]:
    """The ingest worker's last heartbeat (its time, its newest message's time)."""
    return reader.heartbeat(ctx.redis)
