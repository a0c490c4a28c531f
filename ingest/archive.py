"""Every hour the worker writes the hour before to the track archive (store/archive.py): every
unit's, vessel's and sensor's track entries that Redis appended in that UTC hour, one Parquet
file per kind. Hours missed while no worker ran are caught up as far back as Redis still holds
them (HISTORY_HOURS: the oldest of those hours may already be partly trimmed, and is written with
what is left). Whole days older than ARCHIVE_DAYS are pruned.

The work runs on a thread of its own, so a catch-up of a day's hours does not hold up ingest;
the worker's loop only calls `tick()`, which costs nothing until an hour has closed. Several
workers take turns through a Redis lock; an hour written twice (a crash between the file's
rename and its record) is written again with the same content.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import redis

from domain.clock import Clock
from store import archive
from store.archive import HOUR_MS, KINDS

log = logging.getLogger("ecocommand.ingest.archive")

GRACE_MS = 60_000  # an hour is written this long after it ends: Redis's clock may run behind
LOCK_MS = 15 * 60_000  # longer than a day's catch-up takes at the district's scale


def last_closed_hour(now_ms: int) -> int:
    """The start of the last UTC hour that ended at least GRACE_MS ago."""
    return archive.floor_hour(now_ms - GRACE_MS) - HOUR_MS


def due_hours(written: set[int], now_ms: int, history_ms: int) -> list[int]:
    """Closed hours Redis may still hold that are not written yet, oldest first."""
    last = last_closed_hour(now_ms)
    first = archive.floor_hour(now_ms - history_ms)
    return [h for h in range(first, last + 1, HOUR_MS) if h not in written]


def archive_due(
    r: redis.Redis, base: Path, now_ms: int, history_ms: int, keep_days: int
) -> dict[str, int] | None:
    """Write every due hour of every kind and prune; returns hours and rows written, or None
    while another worker holds the lock (it is doing this)."""
    token = archive.take_lock(r, LOCK_MS)
    if token is None:
        return None
    # Stream ids are Redis' clock: an hour is closed when both clocks say so (a worker whose
    # clock runs ahead would otherwise write an hour Redis is still appending to).
    seconds, micros = r.time()
    now_ms = min(now_ms, seconds * 1000 + micros // 1000)
    hours = rows = 0
    try:
        for kind in KINDS:
            for hour in due_hours(set(archive.written_hours(r, kind)), now_ms, history_ms):
                rec = archive.write_hour(base, kind, hour, archive.hour_entries(r, kind, hour))
                archive.mark_written(r, kind, rec)
                hours, rows = hours + 1, rows + rec.rows
        archive.prune(base, r, now_ms - keep_days * archive.DAY_MS)
    finally:
        archive.release_lock(r, token)
    return {"hours": hours, "rows": rows}


class Archiver:
    """The worker's hourly archive job: `tick()` from its periodic loop."""

    def __init__(
        self, r: redis.Redis, data_dir: Path, history_hours: float, keep_days: int, clock: Clock
    ) -> None:
        self.redis = r
        self.base = archive.root(data_dir)
        self.history_ms = int(history_hours * HOUR_MS)
        self.keep_days = keep_days
        self.clock = clock
        self.done_upto = -1  # the last closed hour a run covered
        self.job: threading.Thread | None = None

    def tick(self) -> None:
        last = last_closed_hour(self.clock())
        if last == self.done_upto or (self.job is not None and self.job.is_alive()):
            return
        self.job = threading.Thread(target=self._run, args=(last,), name="archive", daemon=True)
        self.job.start()

    def _run(self, last: int) -> None:
        try:
            out = archive_due(self.redis, self.base, self.clock(), self.history_ms, self.keep_days)
        except (redis.exceptions.RedisError, OSError) as e:
            log.warning("track archive: %s; trying again at the next tick", e)
            return
        if out is None:
            return  # another worker writes them; look again at the next tick
        self.done_upto = last
        if out["hours"]:
            log.info("track archive: %d hours, %d entries written", out["hours"], out["rows"])
