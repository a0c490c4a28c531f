"""The track archive: units', vessels' and sensors' track entries kept beyond Redis's
HISTORY_HOURS, one Parquet file per kind and UTC hour of arrival:

    DATA_DIR/archive/{kind}/{YYYY-MM-DD}/{HH}.parquet

An hour's file holds every track stream entry whose stream id (the time Redis appended it) falls
in that hour: an entry is appended once and never changes, so once the hour is over its file's
content is fixed, a late message (a boat back in range, dated an hour ago) lands in the hour it
arrived, and no entry is in two files. Each row keeps the stream id, so a reader merging the
archive with what Redis still holds drops the copies. Which hours are written, with their row
count and the span of their device times (`ts`), is kept in Redis (`keys.archive_hours`): a
reader opens only the files whose span meets its window. Files are written to a temporary name,
fsynced and renamed, so a crash never leaves a half file under a final name.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import redis

from store import keys
from store.codec import text
from store.keys import EntityKind

KINDS: tuple[EntityKind, ...] = ("unit", "vessel", "sensor")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
KEY_COLUMNS = ("entity_id", "stream_id")
READ_CHUNK = 500  # entities per pipelined XRANGE round trip
ROW_GROUP = 65_536
TMP_PREFIX = ".tmp-"
STALE_TMP_S = 600  # a temporary file this old was left by a crash (simulate --history writes too)


@dataclass(frozen=True, slots=True)
class HourRecord:
    """One written hour of a kind: its rows and the span of their device times."""

    hour_ms: int
    rows: int
    min_ts: int = 0
    max_ts: int = 0

    def encode(self) -> str:
        return f"{self.rows} {self.min_ts} {self.max_ts}"

    @classmethod
    def decode(cls, hour_ms: int, value: str) -> HourRecord:
        rows, min_ts, max_ts = (int(x) for x in value.split())
        return cls(hour_ms, rows, min_ts, max_ts)


def root(data_dir: Path) -> Path:
    return Path(data_dir) / "archive"


def hour_path(base: Path, kind: EntityKind, hour_ms: int) -> Path:
    when = dt.datetime.fromtimestamp(hour_ms / 1000, dt.UTC)
    return base / kind / f"{when:%Y-%m-%d}" / f"{when:%H}.parquet"


def floor_hour(ms: int) -> int:
    return ms - ms % HOUR_MS


# --- the record of written hours (Redis) ------------------------------------------------------


def written_hours(r: redis.Redis, kind: EntityKind) -> dict[int, HourRecord]:
    raw = r.hgetall(keys.archive_hours(kind))
    out = {}
    for field, value in raw.items():
        hour = int(text(field))
        out[hour] = HourRecord.decode(hour, text(value))
    return out


def mark_written(r: redis.Redis, kind: EntityKind, record: HourRecord) -> None:
    r.hset(keys.archive_hours(kind), str(record.hour_ms), record.encode())


# One writer at a time across several workers (they share the inbox and the data folder).
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end"


def take_lock(r: redis.Redis, ttl_ms: int) -> str | None:
    token = uuid.uuid4().hex
    return token if r.set(keys.ARCHIVE_LOCK, token, nx=True, px=ttl_ms) else None


def release_lock(r: redis.Redis, token: str) -> None:
    r.eval(_RELEASE, 1, keys.ARCHIVE_LOCK, token)


# --- reading an hour out of Redis -------------------------------------------------------------


def hour_entries(r: redis.Redis, kind: EntityKind, hour_ms: int) -> list[dict[str, str]]:
    """Every track entry of a kind that Redis appended within the hour, as flat text rows."""
    ids = sorted(text(i) for i in r.smembers(keys.index(kind)))
    lo, hi = f"{hour_ms}-0", f"{hour_ms + HOUR_MS - 1}-18446744073709551615"
    rows: list[dict[str, str]] = []
    for start in range(0, len(ids), READ_CHUNK):
        chunk = ids[start : start + READ_CHUNK]
        pipe = r.pipeline(transaction=False)
        for entity_id in chunk:
            pipe.xrange(keys.track(kind, entity_id), lo, hi)
        for entity_id, entries in zip(chunk, pipe.execute(), strict=True):
            for stream_id, fields in entries:
                row = {text(k): text(v) for k, v in fields.items()}
                row.update(entity_id=entity_id, stream_id=text(stream_id))
                rows.append(row)
    return rows


# --- Parquet ----------------------------------------------------------------------------------


def frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a typed frame: ids as text, `ts` as int64, every other column numeric where all
    its values are numbers (positions, speeds, readings), text otherwise; sorted by entity and
    time so a reader's filter on one entity skips most row groups."""
    df = pd.DataFrame(list(rows))
    if df.empty:
        return df
    for column in df.columns:
        if column in KEY_COLUMNS:
            df[column] = df[column].astype("string")
            continue
        numbers = pd.to_numeric(df[column], errors="coerce")
        if numbers.notna().sum() == df[column].notna().sum():
            df[column] = numbers
    df = df[pd.to_numeric(df.get("ts"), errors="coerce").notna()].copy()  # no time: unusable
    df["ts"] = df["ts"].astype("int64")
    return df.sort_values(["entity_id", "ts", "stream_id"], kind="stable").reset_index(drop=True)


def write_file(path: Path, df: pd.DataFrame, source: str) -> None:
    """Write atomically: a temporary file in the same folder, fsynced, renamed over the final
    name, the folder fsynced (so the rename itself survives a power cut)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"ecocommand.source": source.encode()}
    )
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_hour(
    base: Path, kind: EntityKind, hour_ms: int, rows: list[dict[str, Any]], source: str = "live"
) -> HourRecord:
    """The hour's file (none for an empty hour) and its record, not yet marked in Redis."""
    df = frame(rows)
    if df.empty:
        return HourRecord(hour_ms, 0)
    write_file(hour_path(base, kind, hour_ms), df, source)
    return HourRecord(hour_ms, len(df), int(df["ts"].min()), int(df["ts"].max()))


def read_track(
    base: Path,
    records: Iterable[HourRecord],
    kind: EntityKind,
    entity_id: str,
    from_ms: int,
    to_ms: int,
) -> Iterator[dict[str, Any]]:
    """The archived entries of one entity with `from_ms <= ts < to_ms`, file by file (hours
    whose device times miss the window are not opened; a pruned or lost file is passed over), in
    time order within a file only: a late entry sits in the hour it arrived."""
    for rec in sorted(records, key=lambda x: x.hour_ms):
        if rec.rows == 0 or rec.max_ts < from_ms or rec.min_ts >= to_ms:
            continue
        path = hour_path(base, kind, rec.hour_ms)
        if not path.exists():
            continue
        table = pq.read_table(
            path,
            filters=[("entity_id", "=", entity_id), ("ts", ">=", from_ms), ("ts", "<", to_ms)],
        )
        for row in table.to_pylist():
            yield {k: v for k, v in row.items() if v is not None and v == v}  # v == v: not NaN


# --- retention --------------------------------------------------------------------------------


def prune(base: Path, r: redis.Redis, keep_from_ms: int) -> int:
    """Remove whole UTC days before the day of `keep_from_ms`, their records, and temporary files
    a crash left; returns how many day folders went."""
    first_day = dt.datetime.fromtimestamp(keep_from_ms / 1000, dt.UTC).strftime("%Y-%m-%d")
    first_ms = floor_hour(keep_from_ms) - floor_hour(keep_from_ms) % DAY_MS
    removed = 0
    for kind in KINDS:
        folder = base / kind
        if folder.is_dir():
            for day in folder.iterdir():
                if day.is_dir() and day.name < first_day:
                    shutil.rmtree(day, ignore_errors=True)
                    removed += 1
                elif day.is_dir():
                    for stale in day.glob(f"{TMP_PREFIX}*"):
                        if time.time() - stale.stat().st_mtime > STALE_TMP_S:  # not being written
                            stale.unlink(missing_ok=True)
        old = [str(h) for h in written_hours(r, kind) if h < first_ms]
        if old:
            r.hdel(keys.archive_hours(kind), *old)
    return removed
