"""What the live map's unit and vessel panel shows besides the live record the page already holds:
a unit's or vessel's particulars (call sign, plate, skills; IMO, ship type, size, navigational
status), read once when the panel opens; and the call signs and plates of the units, which the
pushed records do not carry, so the page's list can be searched by them."""

from __future__ import annotations

from typing import Any

from services.context import AppContext
from services.live import entities
from store import reader

LAYER_KIND = {"units": "unit", "vessels": "vessel"}
MAX_ID = 64
UNIT_FIELDS = ("name", "kind", "department", "level", "subdistrict", "callsign", "plate", "skills")
VESSEL_FIELDS = ("name", "callsign", "ship_type_text", "imo", "nav_status")
DIMENSIONS = ("dim_bow", "dim_stern", "dim_port", "dim_starboard")


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def particulars(ctx: AppContext, layer: str, entity_id: str) -> dict[str, Any] | None:
    """The particulars of one unit or vessel, or None (no such one, or not a unit or vessel)."""
    kind = LAYER_KIND.get(layer)
    if kind is None or not 0 < len(entity_id) <= MAX_ID:
        return None
    found = reader.entity(ctx.redis, kind, entity_id)  # type: ignore[arg-type]
    if found is None:
        return None
    if kind == "unit":
        out: dict[str, Any] = {f: found[f] for f in UNIT_FIELDS if found.get(f)}
        if "skills" in out:
            out["skills"] = [s for s in out["skills"].split(",") if s]
        return out
    out = {f: found[f] for f in VESSEL_FIELDS if found.get(f)}
    bow, stern, port, starboard = (_int(found.get(f)) for f in DIMENSIONS)
    if bow is not None and stern is not None and bow + stern > 0:
        out["length_m"] = bow + stern
    if port is not None and starboard is not None and port + starboard > 0:
        out["beam_m"] = port + starboard
    return out


def unit_handles(ctx: AppContext) -> dict[str, str]:
    """Unit id -> its call sign and plate (the units that have either), for the list's search."""
    out = {}
    for u in entities(ctx, "unit", ("callsign", "plate")):
        handle = " ".join(str(u[f]) for f in ("callsign", "plate") if u.get(f))
        if handle:
            out[str(u["unit_id"])] = handle[:80]
    return out
