"""The track archive (issue 18): every closed UTC hour of units', vessels' and sensors' track
entries goes to one Parquet file per kind, written once, caught up after a stop, read back by
entity and time, pruned after ARCHIVE_DAYS; the real worker does it from its loop. Real Redis,
real files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import redis

from config.settings import Settings
from ingest import archive as job
from ingest import units as unit_handlers
from ingest.context import HandlerContext
from store import archive, keys
from store.archive import DAY_MS, HOUR_MS
from store.writer import LiveStore
from tests.helpers import wait_for


def put(r: redis.Redis, kind: keys.EntityKind, entity_id: str, at_ms: int, **fields: object):
    """A track entry appended at `at_ms` (its stream id), as the ingest scripts append them."""
    r.sadd(keys.index(kind), entity_id)
    return r.xadd(keys.track(kind, entity_id), {"ts": at_ms, **fields}, id=f"{at_ms}-0")


def rows_of(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_closed_hours_are_written_once_each_and_read_back(r: redis.Redis, tmp_path: Path) -> None:
    # half past, two hours ago: "now" for the job, behind Redis' own clock (which it also asks)
    now = archive.floor_hour(int(time.time() * 1000)) - 2 * HOUR_MS + 30 * 60_000
    h = archive.floor_hour(now)
    # a boat back in range sends a position dated 3 hours back: it arrives in the last hour
    arrived = h - HOUR_MS + 59 * 60_000
    for back in (3, 2, 1, 0):  # the last three hours closed, this one still open
        if back == 0:
            late = {"ts": h - 3 * HOUR_MS + 1, "lat": 22.6, "lon": 114.5}
            r.xadd(keys.track("unit", "U-1"), late, id=f"{arrived}-0")
        for minute in (0, 20, 40):
            at = h - back * HOUR_MS + minute * 60_000
            put(r, "unit", "U-1", at, lat=22.5 + back / 100, lon=114.5, speed_kmh=4.5)
            put(r, "vessel", "412000001", at + 1, lat=22.4, lon=114.6, sog_kn=8.2, cog=90.0)
            put(r, "sensor", "WQ-1", at + 2, **{"v.ph": 8.1, "v.do": 6.5})
    base = tmp_path / "archive"

    # every closed hour Redis may hold (24 of each kind), empty ones recorded without a file
    assert job.archive_due(r, base, now, 24 * HOUR_MS, 180) == {"hours": 72, "rows": 28}
    files = sorted(p.relative_to(base).as_posix() for p in base.rglob("*.parquet"))
    assert len(files) == 9 and all(f.split("/")[0] in archive.KINDS for f in files)
    last = archive.hour_path(base, "unit", h - HOUR_MS)
    assert [row["ts"] for row in rows_of(last)] == [
        h - 3 * HOUR_MS + 1,
        h - HOUR_MS,
        h - HOUR_MS + 20 * 60_000,
        h - HOUR_MS + 40 * 60_000,
    ]
    assert rows_of(archive.hour_path(base, "sensor", h - HOUR_MS))[0]["v.ph"] == 8.1
    assert not archive.hour_path(base, "unit", h).exists()  # the open hour waits
    record = archive.written_hours(r, "unit")[h - HOUR_MS]
    assert (record.rows, record.min_ts, record.max_ts) == (4, h - 3 * HOUR_MS + 1, h - 20 * 60_000)

    # written once: a second run finds nothing due; the next hour, only that hour
    assert job.archive_due(r, base, now, 24 * HOUR_MS, 180) == {"hours": 0, "rows": 0}
    assert job.archive_due(r, base, now + HOUR_MS, 24 * HOUR_MS, 180) == {"hours": 3, "rows": 9}

    # read back by entity and device time, the late position in its own place
    track = list(
        archive.read_track(
            base,
            archive.written_hours(r, "unit").values(),
            "unit",
            "U-1",
            h - 3 * HOUR_MS,
            h - 2 * HOUR_MS,
        )
    )
    assert sorted(p["ts"] for p in track) == [
        h - 3 * HOUR_MS,
        h - 3 * HOUR_MS + 1,
        h - 3 * HOUR_MS + 20 * 60_000,
        h - 3 * HOUR_MS + 40 * 60_000,
    ]
    assert {p["stream_id"] for p in track} >= {f"{arrived}-0"}
    assert track[0]["lat"] == 22.53 and track[0]["speed_kmh"] == 4.5


def test_a_worker_away_catches_up_what_redis_holds_and_old_days_go(
    r: redis.Redis, tmp_path: Path
) -> None:
    now = archive.floor_hour(int(time.time() * 1000)) - HOUR_MS + 5 * 60_000  # behind Redis
    base = tmp_path / "archive"
    for back in range(29, 0, -1):  # 29 hours of one vessel, one position an hour
        put(r, "vessel", "412000002", now - back * HOUR_MS, lat=22.4, lon=114.6)
    # hours the worker wrote before it stopped, long ago (now past ARCHIVE_DAYS) and recently
    old = archive.floor_hour(now - 200 * DAY_MS)
    archive.mark_written(
        r,
        "vessel",
        archive.write_hour(
            base, "vessel", old, [{"entity_id": "412000002", "stream_id": f"{old}-0", "ts": old}]
        ),
    )
    # a crash mid-write an hour ago left a temporary file; another is being written now
    stale = archive.hour_path(base, "vessel", now - 2 * HOUR_MS).with_name(".tmp-00.parquet.1.ab")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"PAR1 half a file")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    writing = stale.with_name(".tmp-01.parquet.2.cd")
    writing.write_bytes(b"PAR1")
    archive.mark_written(r, "vessel", archive.HourRecord(archive.floor_hour(now) - HOUR_MS, 0))

    out = job.archive_due(r, base, now, 24 * HOUR_MS, 180)
    # 24 hours of each kind Redis may hold, less the vessels' hour already written; the vessel's
    # positions of hours 2 to 24 back
    assert out == {"hours": 3 * 24 - 1, "rows": 23}
    written = archive.written_hours(r, "vessel")
    assert old not in written and not archive.hour_path(base, "vessel", old).parent.exists()
    assert min(written) == archive.floor_hour(now - 24 * HOUR_MS)
    assert not stale.exists() and writing.exists()
    # what Redis trimmed (or never held) is not invented: hours before the window stay unwritten
    assert archive.floor_hour(now - 26 * HOUR_MS) not in written


def test_the_worker_archives_from_its_loop(
    settings: Settings, r: redis.Redis, running_worker
) -> None:
    """Positions Redis appended in the last hour, and one this hour as the worker writes them;
    then the real worker starts: its loop writes the closed hour, not the open one, even with
    its own clock ahead."""
    store = LiveStore(r, 24 * HOUR_MS, 1000)
    real = int(time.time() * 1000)
    last_hour = archive.floor_hour(real) - HOUR_MS
    for seq in range(5):
        at = last_hour + 600_000 * seq
        put(r, "unit", "U-ARC", at, lat=22.52, lon=114.54 + seq / 1000, speed_kmh=4.0)
    payload = {"unit_id": "U-ARC", "seq": 9, "ts": real, "lat": 22.52, "lon": 114.55}
    ops = unit_handlers.handle_position(
        "U-ARC", orjson.dumps(payload), HandlerContext(received_ms=real)
    )
    store.write(ops, real)  # this hour's: the worker leaves it for when the hour has closed
    # a worker whose clock runs two hours ahead: Redis' own clock still holds this hour open
    running_worker(lambda: int(time.time() * 1000) + 2 * HOUR_MS)
    wait_for(
        lambda: last_hour in archive.written_hours(r, "unit"), 30, "the hour written by the worker"
    )
    path = archive.hour_path(archive.root(settings.data_dir), "unit", last_hour)
    rows = [row for row in rows_of(path) if row["entity_id"] == "U-ARC"]
    assert [row["ts"] for row in rows] == [last_hour + 600_000 * s for s in range(5)]
    assert archive.floor_hour(real) not in archive.written_hours(r, "unit")
