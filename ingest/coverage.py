"""Coverage in the ingest worker: the unit positions of a batch go to store/coverage.py, and
places about to miss their patrol requirement raise one warning each for the duty chief."""

from __future__ import annotations

import h3
import redis

from domain.coverage import about_to_miss
from domain.coverage_places import CoverageGeography
from store import alerts, coverage
from store.ops import Observation, Op, RaiseAlert

DEFAULT_HEX_RES = 7  # the heatmap's hexagons when the grid is not h3 (~5 km², as the grid)


def grid_resolution(geo: CoverageGeography) -> int:
    """The heatmap's h3 resolution: the land grid's own when it is an h3 grid."""
    first = geo.land_ids[0] if geo.land_ids else ""
    return h3.get_resolution(first) if first and h3.is_valid_cell(first) else DEFAULT_HEX_RES


def coverage_positions(ops: list[Op]) -> list[coverage.UnitPosition]:
    """The unit positions among a batch's writes."""
    out = []
    for op in ops:
        if (
            isinstance(op, Observation)
            and op.kind == "unit"
            and op.lon is not None
            and op.lat is not None
        ):
            kmh = op.state.get("speed_kmh")
            out.append(
                coverage.UnitPosition(
                    op.entity_id,
                    op.ts,
                    float(op.lon),
                    float(op.lat),
                    float(kmh) / 3.6 if isinstance(kmh, int | float) else None,
                )
            )
    return out


def due_warnings(r: redis.Redis, geo: CoverageGeography, now_ms: int) -> list[RaiseAlert]:
    """One warning per place and deadline, naming who is responsible, when a place will miss
    its requirement within the rules' lead time. Ids are deterministic, so running this every
    few seconds raises each once; places already raised are skipped without a write."""
    owners = coverage.owners(r, geo)
    due = about_to_miss(
        geo.places.values(), coverage.last_visits(r), now_ms, geo.rules.warning_lead_h
    )
    out = []
    for d in due:
        p = d.place
        lon, lat = _anchor(geo, p.id)
        out.append(
            RaiseAlert(
                alert_id=f"coverage:{p.id}:{d.deadline_ms}",
                ts=now_ms,
                fields={
                    "kind": "coverage_due",
                    "severity": "warning",
                    "source": p.id,
                    "name": p.label,
                    "owner": owners.get(p.id, p.owner),
                    "place_kind": p.kind,
                    "subdistrict": p.subdistrict,
                    "deadline_ms": d.deadline_ms,
                    "lon": lon,
                    "lat": lat,
                    "message": f"{p.label}: not patrolled for {p.requirement_h - d.hours_left:.0f}"
                    f" h; requirement missed in {d.hours_left * 60:.0f} min; "
                    f"responsible: {owners.get(p.id, p.owner)}",
                },
            )
        )
    return alerts.not_raised(r, out)


def _anchor(geo: CoverageGeography, place_id: str) -> tuple[float, float]:
    """A point on the place for the map's alert ring."""
    p = geo.geoms[place_id].representative_point()
    return round(p.x, 5), round(p.y, 5)
