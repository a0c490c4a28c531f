"""`simulate --history`: the past days' tracks, written straight into the track archive
(store/archive.py) as the worker would have written them, each hour's file marked simulated.

The demo's own fleet moves as it does live (simulator/units.py, simulator/vessels.py: patrols on
land and at sea, vessels on their lanes and fishing grounds, dark spells included) through the
past days on a coarser clock: a unit's position every minute, a vessel's every 3 minutes, a
sensor's reading every 15. Only hours older than what Redis holds are written (the worker
archives those from the real data) and never an hour already archived, so a second run, or a
run after the system has been up for a while, adds nothing twice and overwrites nothing real.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from pathlib import Path

import redis

from domain.geo import Geography
from domain.vocab import LOCAL_TZ
from store import archive
from store.archive import HOUR_MS
from store.keys import EntityKind

UNIT_STEP_MS = 60_000
VESSEL_STEP_MS = 180_000
SENSOR_STEP_MS = 900_000


def _window(days: int, now_ms: int, history_ms: int) -> tuple[int, int]:
    """[start, end): from local midnight `days` days back to the oldest hour Redis may hold."""
    today = dt.datetime.fromtimestamp(now_ms / 1000, LOCAL_TZ).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    start = int((today - dt.timedelta(days=days)).timestamp() * 1000)
    return start, archive.floor_hour(now_ms - history_ms)


class _Hours:
    """Rows gathered hour by hour and written when the hour is done."""

    def __init__(self, r: redis.Redis, base: Path) -> None:
        self.r, self.base = r, base
        self.written = {kind: set(archive.written_hours(r, kind)) for kind in archive.KINDS}
        self.rows = 0

    def write(self, hour: int, rows: dict[EntityKind, list[dict]]) -> None:
        for kind, kind_rows in rows.items():
            if hour in self.written[kind]:
                continue  # archived already: real data, or an earlier run
            rec = archive.write_hour(self.base, kind, hour, kind_rows, source="simulated")
            archive.mark_written(self.r, kind, rec)
            self.rows += rec.rows


def fill_tracks(
    r: redis.Redis,
    base: Path,
    geo: Geography,
    days: int,
    now_ms: int,
    history_ms: int,
    seed: int,
    unit_ids: Sequence[str] | None = None,
) -> dict[str, int]:
    """Write the past `days` days of tracks (only the units named, when `unit_ids` is given);
    returns the hours and rows written."""
    from simulator.sensors import SensorNetwork
    from simulator.units import UnitFleet
    from simulator.vessels import VesselFleet

    start, end = _window(days, now_ms, history_ms)
    units = UnitFleet(geo, random.Random(seed), start_ms=start)
    chosen = [u for u in units.units if unit_ids is None or u.unit_id in unit_ids]
    vessels = VesselFleet(geo, random.Random(seed)) if unit_ids is None else None
    sensors = SensorNetwork(geo, random.Random(seed)) if unit_ids is None else None
    out = _Hours(r, base)
    hours = 0
    for hour in range(start, end, HOUR_MS):
        rows: dict[EntityKind, list[dict]] = {"unit": []}
        if vessels is not None and sensors is not None:
            rows.update(vessel=[], sensor=[])
        for t in range(hour, hour + HOUR_MS, UNIT_STEP_MS):
            for u in chosen:
                units._move(u, t)
                units._decide(u, t)
                moving = u.target is not None and t >= u.dwell_until_ms and u.speed_kmh > 0
                rows["unit"].append(
                    {
                        "entity_id": u.unit_id,
                        "stream_id": f"{t}-0",
                        "ts": t,
                        "lat": round(u.pos[1], 6),
                        "lon": round(u.pos[0], 6),
                        "speed_kmh": round(u.speed_kmh if moving else 0.0, 1),
                        "course": round(u.course, 1) % 360.0,
                    }
                )
            if vessels is not None and t % VESSEL_STEP_MS == 0:
                for v in vessels.vessels:
                    vessels._advance(v, t)
                    if t >= v.silent_until_ms:  # a vessel gone dark sends nothing
                        rows["vessel"].append(
                            {
                                "entity_id": str(v.mmsi),
                                "stream_id": f"{t}-0",
                                "ts": t,
                                "lat": round(v.pos[1], 6),
                                "lon": round(v.pos[0], 6),
                                "sog_kn": round(v.speed_kn, 1),
                                "cog": round(v.course, 1) % 360.0,
                            }
                        )
            if sensors is not None and t % SENSOR_STEP_MS == 0:
                for s in sensors.sensors:
                    values = sensors.reading(s, t).values
                    rows["sensor"].append(
                        {
                            "entity_id": s.sensor_id,
                            "stream_id": f"{t}-0",
                            "ts": t,
                            **{f"v.{k}": v for k, v in values.items()},
                        }
                    )
        out.write(hour, rows)
        hours += 1
    return {"hours": hours, "rows": out.rows}
