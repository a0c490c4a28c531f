"""When did a unit's reported event happen? The server's clock is the legal clock. Pure: no
Redis, no MQTT.

A task report (`ack`, `arrived`, `handled`) carries the time the unit's device claims; the
server knows when the report arrived. The event time is the receipt, with the claim kept beside
it. A claim earlier than the receipt by more than CLOCK_TOLERANCE_MS (a unit out of coverage
sends its report late) is taken as the event time only when the unit's own track supports it:

* `arrived`, `handled`: the track has a fix within SCENE_RADIUS_M of the scene within
  SUPPORT_WINDOW_MS of the claim (the unit was there then);
* `ack` (en route): from the fix nearest the claim (within SUPPORT_WINDOW_MS), the track comes at
  least APPROACH_M closer to the scene within ACK_MOVE_MS after the claim (it set off then);

and, for every action, the claim is not before the incident was assigned (no unit works a case
before it is sent). A claim the track does not support leaves the receipt as the event time
and is flagged with its difference. A claim later than the receipt (a clock a little ahead:
ingest refuses anything beyond INGEST_MAX_FUTURE_S) also leaves the receipt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.geo import haversine_m

# A claim this much earlier than its receipt is still "now": phones drift by seconds to tens of
# seconds without a time sync, and QoS 1 retries and the worker's batching add seconds. A
# minute is small against the deadlines (minutes to hours), so the receipt costs the figures
# at most a minute, and no track is read for an ordinary report.
CLOCK_TOLERANCE_MS = 60_000
# A scene is a place, not a point: the incident's coordinates are where a reporter clicked or a
# sensor stands, a logging site spreads over a slope, a boat stops where it can. 200 m holds
# that and a phone's GPS error (tens of metres in the open, more under trees); the fixes carry
# no accuracy of their own in the track, so the radius holds it.
SCENE_RADIUS_M = 200.0
# Units report every 5-30 s when moving and less often when still: 2 min either side of the
# claim finds a fix of a unit that was there without reaching into another part of its day.
SUPPORT_WINDOW_MS = 120_000
# En route: within 5 min of the claim a unit on its way has come 100 m closer (a walker at
# 4 km/h covers 330 m), while a unit standing still, with its GPS wandering, has not.
ACK_MOVE_MS = 300_000
APPROACH_M = 100.0

# (ts_ms, lon, lat, ...): store.patrol_logs.unit_track's points; only the first three are read
Fix = Sequence[float]


@dataclass(frozen=True, slots=True)
class Scene:
    lon: float
    lat: float
    assigned_ms: int | None  # when the incident was first assigned (at_assigned)


@dataclass(frozen=True, slots=True)
class EventTime:
    """The decided time of one report, and what it was decided from."""

    at_ms: int
    basis: str  # "received" (the server's receipt) or "track" (a claim the track supports)
    claimed_ms: int
    received_ms: int
    unsupported_s: int = 0  # a refused claim: how much earlier than the receipt it was

    @property
    def counter(self) -> str:
        """The incident's counter this decision adds to: times_by_track, times_flagged or none."""
        if self.basis == "track":
            return "times_by_track"
        return "times_flagged" if self.unsupported_s else ""

    def extra(self) -> dict[str, str]:
        """What the timeline entry keeps beside the event time."""
        out = {
            "claimed_ms": str(self.claimed_ms),
            "received_ms": str(self.received_ms),
            "time_basis": self.basis,
        }
        if self.unsupported_s:
            out["claim_unsupported_s"] = str(self.unsupported_s)
        return out


def needs_track(claimed_ms: int, received_ms: int) -> bool:
    """Whether the claim is early enough that only the track can make it the event time."""
    return received_ms - claimed_ms > CLOCK_TOLERANCE_MS


def track_window(action: str, claimed_ms: int) -> tuple[int, int]:
    """[from, to] of the track `supported` reads for this claim."""
    after = ACK_MOVE_MS if action == "ack" else SUPPORT_WINDOW_MS
    return claimed_ms - SUPPORT_WINDOW_MS, claimed_ms + after


def _distances(scene: Scene, track: Sequence[Fix]) -> list[tuple[int, float]]:
    """(ts, metres from the scene) of each fix, in time order."""
    return sorted((int(p[0]), haversine_m(p[1], p[2], scene.lon, scene.lat)) for p in track)


def _was_there(claimed_ms: int, near: list[tuple[int, float]]) -> bool:
    return any(abs(ts - claimed_ms) <= SUPPORT_WINDOW_MS and d <= SCENE_RADIUS_M for ts, d in near)


def _set_off(claimed_ms: int, near: list[tuple[int, float]]) -> bool:
    around = [(ts, d) for ts, d in near if abs(ts - claimed_ms) <= SUPPORT_WINDOW_MS]
    if not around:
        return False
    start_ts, start_d = min(around, key=lambda p: abs(p[0] - claimed_ms))
    return any(
        start_ts < ts <= claimed_ms + ACK_MOVE_MS and d <= start_d - APPROACH_M for ts, d in near
    )


def supported(action: str, claimed_ms: int, scene: Scene, track: Sequence[Fix]) -> bool:
    """Whether the unit's track supports its claim (the rules of the module's docstring)."""
    if scene.assigned_ms is None or claimed_ms < scene.assigned_ms:
        return False
    near = _distances(scene, track)
    return _set_off(claimed_ms, near) if action == "ack" else _was_there(claimed_ms, near)


def event_time(
    action: str,
    claimed_ms: int,
    received_ms: int,
    scene: Scene | None,
    track: Sequence[Fix] = (),
) -> EventTime:
    """The event time of a report: its receipt, or its claim when that is earlier than the
    receipt by more than CLOCK_TOLERANCE_MS and the track supports it. `scene` None (an
    incident without a location, or none at all) supports nothing."""
    if not needs_track(claimed_ms, received_ms):
        return EventTime(received_ms, "received", claimed_ms, received_ms)
    if scene is not None and supported(action, claimed_ms, scene, track):
        return EventTime(claimed_ms, "track", claimed_ms, received_ms)
    early_s = (received_ms - claimed_ms) // 1000
    return EventTime(received_ms, "received", claimed_ms, received_ms, early_s)
