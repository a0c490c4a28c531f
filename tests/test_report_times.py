"""When a unit's reported event happened (domain/report_times.py): the server's receipt, or the
unit's earlier claim only when its own track supports it. Pure: no Redis."""

from __future__ import annotations

import math

import pytest

from domain.report_times import (
    ACK_MOVE_MS,
    APPROACH_M,
    CLOCK_TOLERANCE_MS,
    SCENE_RADIUS_M,
    SUPPORT_WINDOW_MS,
    Scene,
    event_time,
    needs_track,
    supported,
    track_window,
)

RECEIVED = 1_795_000_000_000
ASSIGNED = RECEIVED - 3_600_000
SCENE = Scene(lon=114.54, lat=22.52, assigned_ms=ASSIGNED)
M_PER_DEG_LAT = 6_371_008.8 * math.pi / 180  # domain.geo's earth radius


def north_of_scene(metres: float) -> tuple[float, float]:
    return SCENE.lon, SCENE.lat + metres / M_PER_DEG_LAT


def fix(ts: int, metres_away: float) -> tuple[int, float, float, None]:
    lon, lat = north_of_scene(metres_away)
    return (ts, lon, lat, None)


@pytest.mark.parametrize("action", ["ack", "arrived", "handled"])
def test_a_claim_near_the_receipt_gives_the_receipt(action: str) -> None:
    for claimed in (RECEIVED - CLOCK_TOLERANCE_MS, RECEIVED - 5_000, RECEIVED, RECEIVED + 240_000):
        t = event_time(action, claimed, RECEIVED, SCENE)
        assert (t.at_ms, t.basis, t.counter) == (RECEIVED, "received", "")
        assert t.extra() == {
            "claimed_ms": str(claimed),
            "received_ms": str(RECEIVED),
            "time_basis": "received",
        }
    assert not needs_track(RECEIVED - CLOCK_TOLERANCE_MS, RECEIVED)
    assert needs_track(RECEIVED - CLOCK_TOLERANCE_MS - 1, RECEIVED)


@pytest.mark.parametrize("action", ["arrived", "handled"])
def test_an_earlier_claim_stands_when_the_unit_was_at_the_scene_then(action: str) -> None:
    claimed = RECEIVED - 600_000
    track = [fix(claimed - 400_000, 3_000), fix(claimed + 90_000, SCENE_RADIUS_M - 20)]
    t = event_time(action, claimed, RECEIVED, SCENE, track)
    assert (t.at_ms, t.basis, t.counter) == (claimed, "track", "times_by_track")
    assert t.extra()["time_basis"] == "track" and "claim_unsupported_s" not in t.extra()


@pytest.mark.parametrize(
    ("why", "track", "scene"),
    [
        ("no track", [], SCENE),
        ("too far", [fix(RECEIVED - 600_000, SCENE_RADIUS_M + 50)], SCENE),
        ("there, but too long before", [fix(RECEIVED - 600_000 - SUPPORT_WINDOW_MS - 1, 0)], SCENE),
        ("there, but too long after", [fix(RECEIVED - 600_000 + SUPPORT_WINDOW_MS + 1, 0)], SCENE),
        (
            "before the incident was assigned",
            [fix(RECEIVED - 600_000, 0)],
            Scene(SCENE.lon, SCENE.lat, RECEIVED - 300_000),
        ),
        ("never assigned", [fix(RECEIVED - 600_000, 0)], Scene(SCENE.lon, SCENE.lat, None)),
        ("no scene", [fix(RECEIVED - 600_000, 0)], None),
    ],
)
def test_an_earlier_arrival_without_support_keeps_the_receipt_and_is_flagged(
    why: str, track: list, scene: Scene | None
) -> None:
    claimed = RECEIVED - 600_000
    t = event_time("arrived", claimed, RECEIVED, scene, track)
    assert (t.at_ms, t.basis, t.counter) == (RECEIVED, "received", "times_flagged"), why
    assert t.unsupported_s == 600 and t.extra()["claim_unsupported_s"] == "600", why


def test_an_earlier_ack_stands_when_the_unit_set_off_towards_the_scene() -> None:
    claimed = RECEIVED - 900_000
    on_the_way = [
        fix(claimed - 30_000, 2_000),  # the fix nearest the claim: the start
        fix(claimed + 60_000, 1_950),
        fix(claimed + 240_000, 2_000 - APPROACH_M - 10),
    ]
    t = event_time("ack", claimed, RECEIVED, SCENE, on_the_way)
    assert (t.at_ms, t.basis) == (claimed, "track")


@pytest.mark.parametrize(
    ("why", "track"),
    [
        ("standing still", [fix(RECEIVED - 900_000 + s * 30_000, 2_000) for s in range(10)]),
        ("moving away", [fix(RECEIVED - 900_000 + s * 30_000, 2_000 + 80 * s) for s in range(10)]),
        (
            "closer only after the window",
            [fix(RECEIVED - 900_000, 2_000), fix(RECEIVED - 900_000 + ACK_MOVE_MS + 1, 500)],
        ),
        ("no fix near the claim", [fix(RECEIVED - 900_000 + 150_000 + s, 500) for s in (0, 60)]),
        (
            "closer by less than APPROACH_M",
            [fix(RECEIVED - 900_000 + s, 2_000 - s / 5_000) for s in (0, 200_000)],
        ),
    ],
)
def test_an_earlier_ack_without_a_move_towards_the_scene_is_flagged(why: str, track: list) -> None:
    t = event_time("ack", RECEIVED - 900_000, RECEIVED, SCENE, track)
    assert (t.at_ms, t.counter) == (RECEIVED, "times_flagged"), why


def test_the_track_window_covers_what_each_rule_reads() -> None:
    claimed = RECEIVED - 900_000
    assert track_window("arrived", claimed) == (
        claimed - SUPPORT_WINDOW_MS,
        claimed + SUPPORT_WINDOW_MS,
    )
    assert track_window("ack", claimed) == (claimed - SUPPORT_WINDOW_MS, claimed + ACK_MOVE_MS)
    # what the window leaves out could not have changed the answer
    inside = [fix(claimed - 60_000, 1_000), fix(claimed + ACK_MOVE_MS, 500)]
    outside = [fix(claimed - SUPPORT_WINDOW_MS - 1, 0), fix(claimed + ACK_MOVE_MS + 1, 0)]
    assert supported("ack", claimed, SCENE, inside) == supported(
        "ack", claimed, SCENE, inside + outside
    )


def test_an_unordered_track_gives_the_same_answer() -> None:
    """A unit's track may hold positions out of time order (after a broker restart)."""
    claimed = RECEIVED - 900_000
    track = [fix(claimed + 240_000, 1_500), fix(claimed - 10_000, 2_000), fix(claimed, 1_990)]
    assert supported("ack", claimed, SCENE, track)
    assert supported("ack", claimed, SCENE, sorted(track))
