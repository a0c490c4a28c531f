"""Vessels that go dark, loiter or fish where they must not: the rules, pure (no Redis, no MQTT).

The rules and their thresholds are in `config/vessel_rules.json`; the AIS gap's silence and the
impossible speed of a reappearance are settings (AIS_GAP_MINUTES, POSITION_JUMP_KN). Each
threshold reads as the issue words it: "above", "slower than", "longer than" are strict; a
trawling speed range includes its ends; a moratorium includes its start and ends at its end.
`ingest/vessel_watch.py` applies them to the live picture.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config import CONFIG_DIR, load_json_rules
from domain.geo import EARTH_RADIUS_M, Geography, haversine_m
from domain.vocab import LOCAL_TZ

MS_PER_MIN = 60_000
M_PER_NM = 1852.0
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0  # along a meridian, and along the equator
_MONTH_DAY = re.compile(r"^(\d\d)-(\d\d) (\d\d):(\d\d)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnderWay(_Strict):
    min_sog_kn: float = Field(0.5, ge=0, le=10)
    nav_status: tuple[int, ...] = (0, 8)


class Loitering(_Strict):
    max_sog_kn: float = Field(3.0, gt=0, le=20)
    minutes: float = Field(20.0, gt=0, le=24 * 60)
    zone_kinds: tuple[str, ...] = ("protected_area", "no_fishing")


class Moratorium(_Strict):
    """Local (UTC+8) month-day and time, "05-01 12:00"; may run over the new year."""

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _month_day(cls, v: str) -> str:
        m = _MONTH_DAY.match(v)
        if not m:
            raise ValueError("expected MM-DD HH:MM")
        month, day, hour, minute = map(int, m.groups())
        datetime(2024, month, day, hour, minute)  # a leap year: 02-29 is a valid date
        return v

    def parts(self, which: str) -> tuple[int, int, int, int]:
        m = _MONTH_DAY.match(getattr(self, which))
        assert m is not None  # validated
        month, day, hour, minute = map(int, m.groups())
        return month, day, hour, minute


class FishingBan(_Strict):
    ship_types: tuple[int, ...] = (30,)
    trawl_min_kn: float = Field(2.0, ge=0, le=30)
    trawl_max_kn: float = Field(5.0, ge=0, le=30)
    moratorium: Moratorium

    @model_validator(mode="after")
    def _range(self) -> FishingBan:
        if self.trawl_min_kn > self.trawl_max_kn:
            raise ValueError("trawl_min_kn is above trawl_max_kn")
        return self


class VesselRules(_Strict):
    under_way: UnderWay = UnderWay()
    watch_margin_m: float = Field(5000.0, ge=0, le=200_000)
    loitering: Loitering = Loitering()
    fishing_ban: FishingBan
    track_points: int = Field(20, ge=1, le=200)


@lru_cache(maxsize=4)
def load_vessel_rules(path: Path = CONFIG_DIR / "vessel_rules.json") -> VesselRules:
    return load_json_rules(path, VesselRules, "vessel rules")


# --- one report ------------------------------------------------------------------------------


def under_way(rules: VesselRules, sog_kn: float | None, nav_status: int | None) -> bool:
    """Moving: above the small speed, or, with no speed in the report, a status that says under
    way. A known speed at or below it wins over the status: many boats moored in a harbour
    report "under way using engine" at 0 kn for days, and their AIS going off there is no gap."""
    if sog_kn is not None:
        return sog_kn > rules.under_way.min_sog_kn
    return nav_status is not None and nav_status in rules.under_way.nav_status


def loiter_speed(rules: VesselRules, sog_kn: float | None) -> bool:
    return sog_kn is not None and sog_kn < rules.loitering.max_sog_kn


def trawling_speed(rules: VesselRules, sog_kn: float | None) -> bool:
    ban = rules.fishing_ban
    return sog_kn is not None and ban.trawl_min_kn <= sog_kn <= ban.trawl_max_kn


def in_moratorium(rules: VesselRules, ts_ms: int) -> bool:
    """Inside the summer fishing moratorium at that instant, in local time (UTC+8)."""
    m = rules.fishing_ban.moratorium
    at = datetime.fromtimestamp(ts_ms / 1000, LOCAL_TZ)

    def this_year(which: str) -> datetime:
        month, day, hour, minute = m.parts(which)
        return datetime(at.year, month, day, hour, minute, tzinfo=LOCAL_TZ)

    start, end = this_year("start"), this_year("end")
    if start <= end:
        return start <= at < end
    return at >= start or at < end  # over the new year


def fishing_banned(
    rules: VesselRules, ship_type: int | None, sog_kn: float | None, ts_ms: int, in_waters: bool
) -> bool:
    """A fishing vessel at trawling speed in the district's waters during the moratorium."""
    return (
        in_waters
        and ship_type in rules.fishing_ban.ship_types
        and trawling_speed(rules, sog_kn)
        and in_moratorium(rules, ts_ms)
    )


# --- silence and reappearance ----------------------------------------------------------------


def silent_too_long(last_heard_ms: int, now_ms: int, gap_ms: int) -> bool:
    """Not heard for longer than the gap (server clock on both sides)."""
    return now_ms - last_heard_ms > gap_ms


def implied_speed_kn(
    a: tuple[float, float], a_ms: int, b: tuple[float, float], b_ms: int
) -> float | None:
    """The speed (knots) a vessel needed to go from a (lon, lat) at a_ms to b at b_ms; None
    when b is not later than a (the times cannot tell)."""
    if b_ms <= a_ms:
        return None
    metres = haversine_m(a[0], a[1], b[0], b[1])
    return metres / M_PER_NM / ((b_ms - a_ms) / 3_600_000)


def impossible_speed(speed_kn: float | None, max_kn: float) -> bool:
    return speed_kn is not None and speed_kn > max_kn


# --- loitering over a track ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrackPoint:
    ts: int
    lon: float
    lat: float
    sog_kn: float | None = None
    cog: float | None = None


def loiter_run(
    rules: VesselRules, points: Iterable[TrackPoint], inside: Callable[[float, float], bool]
) -> tuple[int, int] | None:
    """(first, last) message time of the run of reports, slow and inside, that ends with the
    vessel's latest report; None when its latest report is not one (it left or sped up)."""
    ordered = sorted(points, key=lambda p: p.ts)
    run: tuple[int, int] | None = None
    for p in reversed(ordered):
        if not (loiter_speed(rules, p.sog_kn) and inside(p.lon, p.lat)):
            break
        run = (p.ts, run[1] if run else p.ts)
    return run


def loitering(rules: VesselRules, run: tuple[int, int] | None) -> bool:
    """Slow inside the zone for longer than the rule's minutes."""
    return run is not None and run[1] - run[0] > rules.loitering.minutes * MS_PER_MIN


# --- the track an alert carries --------------------------------------------------------------


def compact_track(points: Iterable[TrackPoint]) -> str:
    """Points as "ts,lon,lat,sog;..." in time order (sog empty when unknown): small enough for
    an alert's hash and stream entry, and read back by `parse_track`."""
    out = []
    for p in sorted(points, key=lambda p: p.ts):
        sog = "" if p.sog_kn is None else f"{p.sog_kn:.1f}"
        out.append(f"{p.ts},{p.lon:.5f},{p.lat:.5f},{sog}")
    return ";".join(out)


def parse_track(text: str) -> list[TrackPoint]:
    """`compact_track` read back; a malformed point is skipped (an alert is read, not trusted)."""
    out = []
    for item in filter(None, str(text or "").split(";")):
        try:
            ts, lon, lat, sog = item.split(",")
            out.append(TrackPoint(int(ts), float(lon), float(lat), float(sog) if sog else None))
        except ValueError:
            continue
    return out


def track_point(fields: dict[str, Any]) -> TrackPoint | None:
    """A track stream entry (ts, lon, lat, sog_kn, cog as text) as a point; None if unplaced."""
    try:
        sog, cog = fields.get("sog_kn"), fields.get("cog")
        return TrackPoint(
            int(fields["ts"]),
            float(fields["lon"]),
            float(fields["lat"]),
            None if sog in (None, "") else float(sog),
            None if cog in (None, "") else float(cog),
        )
    except (KeyError, TypeError, ValueError):
        return None


# --- where ------------------------------------------------------------------------------------


class WatchArea:
    """The district's waters and the zones, as the rules ask about them. Distances are measured
    on a local flat projection around the district (equirectangular at its mid latitude: under
    0.1 % off across a few tens of km, far finer than a margin of kilometres)."""

    def __init__(self, geography: Geography, rules: VesselRules) -> None:
        self.rules = rules
        self.waters = geography.district_waters
        x0, y0, x1, y1 = self.waters.bounds
        self._lon0, self._lat0 = (x0 + x1) / 2, (y0 + y1) / 2
        self._kx = M_PER_DEG * math.cos(math.radians(self._lat0))
        self._waters_m = shapely.transform(self.waters, self._to_metres_xy)
        shapely.prepare(self._waters_m)
        # the waters grown by the margin, back in degrees, so the ingest path asks "near?" of a
        # whole batch in one vectorised call; 64 segments a quarter circle keep the rounded
        # corners within half a metre of the true margin
        grown = shapely.buffer(self._waters_m, rules.watch_margin_m, quad_segs=64)
        self.near_area = shapely.transform(grown, self._to_degrees_xy)
        shapely.prepare(self.near_area)
        self._kinds = set(rules.loitering.zone_kinds)
        self._zones_at = geography.zones_at
        self.zones = {p["id"]: (p, g) for p, g in geography.zones if p.get("kind") in self._kinds}

    def _to_metres_xy(self, coords: Any) -> Any:
        out = coords.copy()
        out[:, 0] = (coords[:, 0] - self._lon0) * self._kx
        out[:, 1] = (coords[:, 1] - self._lat0) * M_PER_DEG
        return out

    def _to_degrees_xy(self, coords: Any) -> Any:
        out = coords.copy()
        out[:, 0] = coords[:, 0] / self._kx + self._lon0
        out[:, 1] = coords[:, 1] / M_PER_DEG + self._lat0
        return out

    def distance_to_waters_m(self, lon: float, lat: float) -> float:
        x, y = (lon - self._lon0) * self._kx, (lat - self._lat0) * M_PER_DEG
        return float(shapely.distance(self._waters_m, shapely.Point(x, y)))

    def in_waters(self, lon: float, lat: float) -> bool:
        return bool(shapely.contains_xy(self.waters, lon, lat))

    def near(self, lon: float, lat: float) -> bool:
        """In the district's waters or within the rules' margin of them."""
        return bool(self.near_many([lon], [lat])[0])

    def near_many(self, lons: Any, lats: Any) -> Any:
        """`near` of many points at once (a numpy array of booleans)."""
        return shapely.contains_xy(self.near_area, np.asarray(lons, float), np.asarray(lats, float))

    def loiter_zones_at(self, lon: float, lat: float) -> list[str]:
        """Ids of the zones of the loitering rule's kinds that contain the point."""
        return [z["id"] for z in self._zones_at(lon, lat) if z.get("kind") in self._kinds]

    def in_zone(self, zone_id: str, lon: float, lat: float) -> bool:
        hit = self.zones.get(zone_id)
        return hit is not None and bool(shapely.contains_xy(hit[1], lon, lat))
