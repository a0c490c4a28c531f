"""Vessels that go dark, loiter or fish where they must not: the worker's glue between the rules
(domain/vessel_rules.py, config/vessel_rules.json) and Redis (store/vessel_watch.py).

On the ingest path (`note`, after a batch's write) only the vessels whose report was applied as
their latest are looked at, and the batch costs one round trip of at most four commands: the
watched set's ZADD of those under way near the district (and ZREM of the others), and the
candidates for loitering and for the fishing ban. Everything else happens in `tick`, once a
second in the worker's loop:

* AIS gap: vessels in the watched set not heard for AIS_GAP_MINUTES (server clock) move to the
  dark set and raise `ais_gap` with their last position, speed, course and track. A vessel of
  the dark set whose live state was written since (its `received_ms`) has reappeared: its gap
  alert is closed ("reappeared"), and if going from the last position to the new one needed
  more than POSITION_JUMP_KN (by the reports' own times) it raises `position_jump`.
* Loitering: candidates slow in a zone for the rule's minutes are checked against their track.
* Fishing ban: candidates at trawling speed in the district's waters during the moratorium are
  checked against their static data (AIS ship type, from type 5 / 24 reports).

Every alert id is deterministic, so several workers, or one restarted, raise each once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from config.settings import Settings
from domain import vessel_rules as rules_
from domain.clock import Clock
from domain.geo import Geography, haversine_m
from domain.vessel_rules import MS_PER_MIN, TrackPoint, VesselRules, WatchArea
from domain.vocab import local_day
from ingest.accounting import APPLIED
from store import alerts
from store import vessel_watch as watch_store
from store.ops import Observation, Op, RaiseAlert

CLOSED_BY = "system:vessel-watch"
LOITER_RECHECK_S = 60.0  # a vessel found loitering is looked at again this often (episode end)
LOITER_RETRY_S = 5.0  # one not yet long enough, at the soonest
LOITER_SLACK_MS = 120_000  # its track is read from a little before its first slow report
LOITER_READ_MAX = 5_000  # track entries read for one candidate (20 min at 1 report/s is 1,200)
STATE_FIELDS = ("lon", "lat", "sog_kn", "cog", "ts", "received_ms", "name", "ship_type")


@dataclass(slots=True)
class Marks:
    """What a batch's vessel reports add to the watch (store/vessel_watch.mark)."""

    heard: dict[str, int] = field(default_factory=dict)
    unwatched: list[str] = field(default_factory=list)
    loiter: dict[str, int] = field(default_factory=dict)
    trawling: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.heard or self.unwatched or self.loiter or self.trawling)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def marks(ops: Sequence[Op], verdicts: Sequence[str], area: WatchArea) -> Marks:
    """The watch's marks of a written batch: per vessel, its last report applied as latest."""
    latest: dict[str, Observation] = {}
    for op, verdict in zip(ops, verdicts, strict=False):
        if (
            verdict == APPLIED
            and isinstance(op, Observation)
            and op.kind == "vessel"
            and op.lon is not None
            and op.lat is not None
        ):
            latest[op.entity_id] = op
    out, rules = Marks(), area.rules
    if not latest:
        return out  # most batches: units and sensors only
    reports = list(latest.values())
    lons = [float(op.lon or 0.0) for op in reports]
    lats = [float(op.lat or 0.0) for op in reports]
    near = area.near_many(lons, lats)  # one vectorised call for the batch
    for op, lon, lat, is_near in zip(reports, lons, lats, near, strict=True):
        mmsi = op.entity_id
        sog, status = _num(op.state.get("sog_kn")), op.state.get("nav_status")
        heard = int(op.state.get("received_ms", 0))
        if is_near and rules_.under_way(rules, sog, status if isinstance(status, int) else None):
            out.heard[mmsi] = heard
        else:
            out.unwatched.append(mmsi)
        if not is_near:
            continue
        if rules_.loiter_speed(rules, sog):
            for zone in area.loiter_zones_at(lon, lat):
                out.loiter[f"{mmsi}|{zone}"] = heard
        if (
            rules_.trawling_speed(rules, sog)
            and rules_.in_moratorium(rules, op.ts)
            and area.in_waters(lon, lat)
        ):
            out.trawling[mmsi] = heard
    return out


def _points(entries: list[dict[str, Any]]) -> list[TrackPoint]:
    return [p for p in map(rules_.track_point, entries) if p is not None]


def _f(d: dict[str, str], name: str) -> float | None:
    try:
        return float(d[name])
    except (KeyError, ValueError):
        return None


def _i(d: dict[str, str], name: str) -> int | None:
    v = _f(d, name)
    return None if v is None else int(v)


def _fmt(v: float | None, spec: str) -> str:
    return "?" if v is None else format(v, spec)


def gap_alert_id(mmsi: str, heard_ms: int) -> str:
    return f"aisgap:{mmsi}:{heard_ms}"


class VesselWatch:
    def __init__(
        self,
        r: redis.Redis,
        geography: Geography,
        settings: Settings,
        clock: Clock,
        rules: VesselRules | None = None,
    ) -> None:
        self.r = r
        self.rules = rules or rules_.load_vessel_rules()
        self.area = WatchArea(geography, self.rules)
        self.gap_ms = int(settings.ais_gap_minutes * MS_PER_MIN)
        self.jump_kn = settings.position_jump_kn
        self.history_ms = int(settings.history_hours * 3_600_000)
        # Silence counts only while a worker listened: after a restart no vessel is dark
        # before a whole gap has passed (its reports queued meanwhile are read first).
        self.started_ms = clock()
        self._loiter_next: dict[str, float] = {}  # member -> monotonic time of its next look

    # the ingest path ---------------------------------------------------------------------------
    def note(self, ops: Sequence[Op], verdicts: Sequence[str], pipe: redis.client.Pipeline) -> None:
        """A written batch's marks, queued on `pipe`."""
        found = marks(ops, verdicts, self.area)
        if found:
            watch_store.mark(pipe, found.heard, found.unwatched, found.loiter, found.trawling)

    # the worker's tick -------------------------------------------------------------------------
    def tick(self, now_ms: int) -> list[RaiseAlert]:
        """The alerts due now, never raised before (the caller writes them)."""
        if now_ms - self.started_ms > self.gap_ms:
            watch_store.go_dark(self.r, now_ms - self.gap_ms - 1)  # silent *longer* than
        out = self._dark(now_ms) + self._loitering(now_ms) + self._trawling(now_ms)
        return alerts.not_raised(self.r, out)

    def _track(self, mmsi: str) -> str:
        entries = watch_store.track_tail(self.r, mmsi, self.rules.track_points)
        return rules_.compact_track(_points(entries))

    def _dark(self, now_ms: int) -> list[RaiseAlert]:
        dark = watch_store.dark(self.r)
        if not dark:
            return []
        mmsis = [m for m, _ in dark]
        states = watch_store.vessel_fields(self.r, mmsis, STATE_FIELDS)
        ids = [gap_alert_id(m, heard) for m, heard in dark]
        raised = watch_store.alert_fields(self.r, ids, ("lon", "lat", "last_ts"))
        out: list[RaiseAlert] = []
        done: list[str] = []
        for (mmsi, heard), state, alert_id, gap in zip(dark, states, ids, raised, strict=True):
            if (_i(state, "received_ms") or 0) > heard:  # written since: it reappeared
                done.append(mmsi)
                if gap is not None:
                    alerts.close(self.r, alert_id, CLOSED_BY, now_ms, self.history_ms, "reappeared")
                    out += self._jump(mmsi, heard, gap, state, now_ms)
            elif now_ms - heard > self.history_ms:
                done.append(mmsi)  # gone for good: its alert stays for the operators
            elif gap is None:
                out.append(self._gap_alert(mmsi, heard, state, now_ms))
        watch_store.forget_dark(self.r, done)
        return out

    def _gap_alert(self, mmsi: str, heard: int, state: dict[str, str], now_ms: int) -> RaiseAlert:
        lon, lat = _f(state, "lon"), _f(state, "lat")
        sog, cog = _f(state, "sog_kn"), _f(state, "cog")
        minutes = (now_ms - heard) // MS_PER_MIN
        fields: dict[str, str | int | float] = {
            "kind": "ais_gap",
            "severity": "warning",
            "source": mmsi,
            "name": state.get("name") or mmsi,
            "heard_ms": heard,
            "silent_min": int(minutes),
            "track": self._track(mmsi),
            "message": f"MMSI {mmsi} silent for {minutes} min; last heard at "
            f"{_fmt(sog, '.1f')} kn, course {_fmt(cog, '.0f')}°",
        }
        for name, v in (("lon", lon), ("lat", lat), ("sog_kn", sog), ("cog", cog)):
            if v is not None:
                fields[name] = v
        if "ts" in state:
            fields["last_ts"] = state["ts"]
        return RaiseAlert(gap_alert_id(mmsi, heard), now_ms, fields)

    def _jump(
        self, mmsi: str, heard: int, gap: dict[str, str], state: dict[str, str], now_ms: int
    ) -> list[RaiseAlert]:
        """A position-jump alert when the reappearance needed an impossible speed."""
        a_lon, a_lat, a_ms = _f(gap, "lon"), _f(gap, "lat"), _i(gap, "last_ts")
        b_lon, b_lat, b_ms = _f(state, "lon"), _f(state, "lat"), _i(state, "ts")
        if a_lon is None or a_lat is None or a_ms is None:
            return []
        if b_lon is None or b_lat is None or b_ms is None:
            return []
        speed = rules_.implied_speed_kn((a_lon, a_lat), a_ms, (b_lon, b_lat), b_ms)
        if speed is None or not rules_.impossible_speed(speed, self.jump_kn):
            return []
        km = haversine_m(a_lon, a_lat, b_lon, b_lat) / 1000
        minutes = (b_ms - a_ms) / MS_PER_MIN
        return [
            RaiseAlert(
                f"jump:{mmsi}:{heard}",
                now_ms,
                {
                    "kind": "position_jump",
                    "severity": "warning",
                    "source": mmsi,
                    "name": state.get("name") or mmsi,
                    "lon": b_lon,
                    "lat": b_lat,
                    "from_lon": a_lon,
                    "from_lat": a_lat,
                    "distance_km": round(km, 1),
                    "minutes": round(minutes, 1),
                    "speed_kn": round(speed),
                    "track": self._track(mmsi),
                    "message": f"MMSI {mmsi} reappeared {km:.1f} km away after {minutes:.1f} "
                    f"min: {speed:.0f} kn",
                },
            )
        ]

    def _loitering(self, now_ms: int) -> list[RaiseAlert]:
        limit_ms = int(self.rules.loitering.minutes * MS_PER_MIN)
        out: list[RaiseAlert] = []
        gone: list[str] = []
        for member, since in watch_store.loiter_due(self.r, now_ms - limit_ms):
            if self._loiter_next.get(member, 0.0) > time.monotonic():
                continue
            mmsi, _, zone = member.partition("|")
            entries = watch_store.track_tail(self.r, mmsi, LOITER_READ_MAX, since - LOITER_SLACK_MS)
            points = _points(entries)
            run = rules_.loiter_run(
                self.rules, points, lambda lon, lat, z=zone: self.area.in_zone(z, lon, lat)
            )
            if run is None:  # it left the zone or sped up: the next slow report starts anew
                gone.append(member)
                self._loiter_next.pop(member, None)
            elif rules_.loitering(self.rules, run):
                last = max(points, key=lambda p: p.ts)
                out.append(self._loiter_alert(mmsi, zone, since, run, last, now_ms))
                self._loiter_next[member] = time.monotonic() + LOITER_RECHECK_S
            else:  # slow there only since later: look again when that could be long enough
                watch_store.loiter_since(self.r, member, max(since, now_ms - (run[1] - run[0])))
                self._loiter_next[member] = time.monotonic() + LOITER_RETRY_S
        watch_store.loiter_drop(self.r, gone)
        return out

    def _loiter_alert(
        self,
        mmsi: str,
        zone: str,
        since: int,
        run: tuple[int, int],
        last: TrackPoint,
        now_ms: int,
    ) -> RaiseAlert:
        props = self.area.zones.get(zone, ({}, None))[0]
        minutes = (run[1] - run[0]) // MS_PER_MIN
        name = str(props.get("name_zh") or zone)
        fields: dict[str, str | int | float] = {
            "kind": "loitering",
            "severity": "warning",
            "source": mmsi,
            "name": mmsi,
            "zone": zone,
            "zone_kind": str(props.get("kind") or ""),
            "lon": last.lon,
            "lat": last.lat,
            "since_ts": run[0],
            "minutes": int(minutes),
            "track": self._track(mmsi),
            "message": f"MMSI {mmsi} slow in {name} for {minutes} min"[:500],
        }
        if last.sog_kn is not None:
            fields["sog_kn"] = last.sog_kn
        # one alert per stay: `since` stays put once the stay is long enough
        return RaiseAlert(f"loiter:{mmsi}:{zone}:{since}", now_ms, fields)

    def _trawling(self, now_ms: int) -> list[RaiseAlert]:
        mmsis = watch_store.take_trawling(self.r)
        if not mmsis:
            return []
        out = []
        for mmsi, state in zip(
            mmsis, watch_store.vessel_fields(self.r, mmsis, STATE_FIELDS), strict=True
        ):
            lon, lat, ts = _f(state, "lon"), _f(state, "lat"), _i(state, "ts")
            if lon is None or lat is None or ts is None:
                continue
            sog, ship_type = _f(state, "sog_kn"), _i(state, "ship_type")
            if rules_.fishing_banned(self.rules, ship_type, sog, ts, self.area.in_waters(lon, lat)):
                out.append(
                    RaiseAlert(
                        f"fishban:{mmsi}:{local_day(ts)}",  # once a vessel and local day
                        now_ms,
                        {
                            "kind": "fishing_ban",
                            "severity": "critical",
                            "source": mmsi,
                            "name": state.get("name") or mmsi,
                            "lon": lon,
                            "lat": lat,
                            "sog_kn": sog or 0.0,
                            "ship_type": ship_type or 0,
                            "track": self._track(mmsi),
                            "message": f"MMSI {mmsi}, a fishing vessel, at {_fmt(sog, '.1f')} "
                            "kn in the district's waters during the fishing moratorium",
                        },
                    )
                )
        return out
