"""The live picture as a browser keeps it: one small record per feature, by layer and id, and
the difference between two pictures (what a pushed update carries).

Records hold values, never markup: the page builds tooltips and popups from them in its own
language, so one picture serves every reader, and a record changes only when something shown
from it changes (a unit's `ts` does change with each report: the popup shows its age).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from domain.water_quality import class_limits

LAYERS = ("units", "vessels", "sensors", "alerts", "incidents")
KIND_LAYER = {"unit": "units", "vessel": "vessels", "sensor": "sensors"}
VESSEL_GONE_S = 3600.0  # a vessel not heard for an hour has left the picture
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
COORD_DECIMALS = 6  # ~0.1 m: what a device sends, short of float noise on the wire

Props = dict[str, Any]
Layer = dict[str, Props]
Locate = Callable[[list[float], list[float]], list[str | None]]


def located(e: dict[str, Any]) -> bool:
    """Has a position on Earth (a corrupt or missing one draws nothing)."""
    lon, lat = e.get("lon"), e.get("lat")
    return (
        isinstance(lon, int | float)
        and isinstance(lat, int | float)
        and -180 <= lon <= 180
        and -90 <= lat <= 90
    )


def _place(e: dict[str, Any]) -> Props:
    return {"lat": round(e["lat"], COORD_DECIMALS), "lon": round(e["lon"], COORD_DECIMALS)}


def _given(**values: Any) -> Props:
    """Only the values that are there: a missing field costs nothing on the wire."""
    return {k: v for k, v in values.items() if v is not None and v != ""}


def vessel_course(v: dict[str, Any]) -> float | None:
    """Course over ground, else true heading; None when the vessel reports neither (AIS sends
    360 / 511 for "not available")."""
    cog, heading = v.get("cog"), v.get("heading")
    if isinstance(cog, int | float) and 0 <= cog < 360:
        return float(cog)
    if isinstance(heading, int | float) and 0 <= heading < 360:
        return float(heading)
    return None


# How a record is made from its entity's row: each shown field from the row fields it needs,
# by a function that gives None when there is nothing to show (no function: the row's field
# of that name as it is). One definition serves both the whole record (a read) and the change
# to a held one when some row fields changed (an update: only the shown fields those feed are
# made again, and compared). An empty text shows nothing, as a missing one.
Make = Callable[[dict[str, Any]], Any]
Shown = tuple[str, tuple[str, ...], Make | None]


def _rounded(f: str) -> Make:
    return lambda row: round(row[f], COORD_DECIMALS)  # asked only of a located row


def _text(f: str) -> Make:
    return lambda row: str(row[f]) if row.get(f) else None


class Recipe:
    """A kind's record: which rows are drawn (`drawn(row, now_ms)`) and the fields shown."""

    def __init__(self, drawn: Callable[[dict[str, Any], int], bool], *shown: Shown) -> None:
        self.drawn, self.shown = drawn, shown
        self._needed = frozenset(f for _, needs, _ in shown for f in needs)
        # the shown fields fed by a set of needed row fields, for the sets met so far (a
        # handful recur: a report's, a status'; at most one per subset of `_needed`)
        self._fed: dict[frozenset[str], tuple[tuple[str, Make | None], ...]] = {}

    def record(self, row: dict[str, Any], subdistrict: str | None, now_ms: int) -> Props | None:
        """The whole record of a row (None: not drawn)."""
        if not self.drawn(row, now_ms):
            return None
        out = {}
        for name, _, make in self.shown:
            v = row.get(name) if make is None else make(row)
            if v is not None and v != "":
                out[name] = v
        if subdistrict:
            out["subdistrict"] = subdistrict
        return out

    def change(
        self, row: dict[str, Any], record: Props, changed: set[str], now_ms: int
    ) -> Props | None:
        """What turns `record`, made from the row before the fields `changed` changed, into the
        row's record now, as diff gives it (a field gone as None); None: no longer drawn. The
        sub-district, made from the place by a lookup of its own, is the caller's."""
        if not self.drawn(row, now_ms):
            return None
        out = {}
        for name, make in self._fed_by(changed):
            v = row.get(name) if make is None else make(row)
            if v == "":
                v = None
            if v != record.get(name):
                out[name] = v
        return out

    def _fed_by(self, changed: set[str]) -> tuple[tuple[str, Make | None], ...]:
        key = self._needed.intersection(changed)
        fed = self._fed.get(key)
        if fed is None:
            fed = tuple(
                (name, make) for name, needs, make in self.shown if not key.isdisjoint(needs)
            )
            self._fed[key] = fed
        return fed


def _shown_as_is(*fields: str) -> tuple[Shown, ...]:
    return tuple((f, (f,), None) for f in fields)


def _heard(v: dict[str, Any], now_ms: int) -> bool:
    ts = v.get("ts")
    return located(v) and isinstance(ts, int) and not _gone(ts, now_ms)


PLACE: tuple[Shown, ...] = (("lat", ("lat",), _rounded("lat")), ("lon", ("lon",), _rounded("lon")))
UNIT = Recipe(
    lambda u, _now: located(u),
    *PLACE,
    ("name", ("name",), _text("name")),
    *_shown_as_is("status", "department", "kind", "level", "speed_kmh", "course", "ts"),
)
VESSEL = Recipe(
    _heard,
    *PLACE,
    ("name", ("name",), _text("name")),
    *_shown_as_is("callsign"),
    ("ship_type", ("ship_type_text",), lambda v: v.get("ship_type_text") or None),
    *_shown_as_is("sog_kn"),
    ("course", ("cog", "heading"), vessel_course),
    *_shown_as_is("ts"),  # an int: a vessel without one is not drawn
)
RECIPES = {"unit": UNIT, "vessel": VESSEL}


def departed(vessels: Layer, now_ms: int) -> list[str]:
    """The vessels not heard for VESSEL_GONE_S: they leave the picture."""
    return [k for k, v in vessels.items() if _gone(int(v.get("ts") or 0), now_ms)]


def _gone(ts: int, now_ms: int) -> bool:
    return now_ms - ts > VESSEL_GONE_S * 1000


def without(layer: Layer, ids: Iterable[str]) -> Layer:
    drop = set(ids)
    return {k: v for k, v in layer.items() if k not in drop}


def sensor_level(alerts: Iterable[Props], sensor_id: str) -> str | None:
    """The worst open alert severity of a sensor (alerts name their sensor in `source`)."""
    found = [
        a.get("severity")
        for a in alerts
        if a.get("source") == sensor_id and a.get("severity") in SEVERITY_RANK
    ]
    return max(found, key=SEVERITY_RANK.__getitem__, default=None)


def readings(s: dict[str, Any]) -> list[list[Any]]:
    """Each reading as [name, value, its class limit in words or None, over the limit]."""
    values = s.get("values") or {}
    kind, water_class = str(s.get("kind") or ""), str(s.get("water_class") or "")
    limits = class_limits(kind, water_class) if water_class else {}
    out = []
    for name, value in sorted(values.items()):
        limit = limits.get(name)
        over = limit is not None and isinstance(value, int | float) and not limit.holds(value)
        out.append([name, value, limit.describe() if limit else None, over])
    return out


def sensor_props(s: dict[str, Any], level: str | None) -> Props | None:
    if not located(s):
        return None
    state = level if level in ("warning", "critical") else "ok" if s.get("values") else "no_data"
    return _place(s) | _given(
        name=str(s.get("name") or ""),
        state=state,
        kind=s.get("kind"),
        water_class=s.get("water_class"),
        subdistrict=s.get("subdistrict"),
        readings=readings(s) or None,
        ts=s.get("ts"),
    )


def alert_props(a: dict[str, Any]) -> Props | None:
    if not located(a):
        return None
    return _place(a) | _given(
        severity=a.get("severity") or "info",
        kind=a.get("kind"),
        source=a.get("source"),
        message=a.get("message"),
        ts=a.get("ts"),
    )


def incident_props(i: dict[str, Any]) -> Props | None:
    if not located(i):
        return None
    return _place(i) | _given(
        type=i.get("type"),
        state=i.get("state"),
        priority=int(i.get("priority") or 3),
        units=list(i.get("units") or []) or None,
        late=[str(d) for d in i.get("deadlines_missed") or []] or None,
    )


def diff(old: Layer, new: Layer, only: Iterable[str] | None = None) -> tuple[Layer, list[str]]:
    """What turns `old` into `new`: the records added (whole) or changed (only the fields that
    changed, a field gone as None: a moved unit is its lat, lon and ts), and the ids gone.
    With `only`, just those ids are compared (the rest is known to be the same)."""
    ids = list(dict.fromkeys(only)) if only is not None else list(dict.fromkeys([*old, *new]))
    changed, gone = {}, []
    for k in ids:
        before, record = old.get(k), new.get(k)
        if record is None:
            if before is not None:
                gone.append(k)
        elif before is None:
            changed[k] = record
        elif before != record:
            changed[k] = {f: v for f, v in record.items() if before.get(f) != v} | {
                f: None for f in before if f not in record
            }
    return changed, gone
