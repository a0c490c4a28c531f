"""`python run.py backup DIR`: a consistent copy of the system's state while it runs
(services/restore.py brings a stopped system back to it).

A backup is, in this order (the order is what makes it consistent):
1. the files whose copy must not be newer than the snapshot: the audit log's keys and signed
   heads, the cookie key (services/backup_files.py says why for each part);
2. a point-in-time snapshot of Redis, all of it, taken from the running server over the
   replication protocol (store/backup.py), then loaded once in a throwaway server to prove it
   loads and to count its keys;
3. the files the snapshot may name, which are on disk before Redis names them and never
   rewritten: the evidence files;
4. `manifest.json`, last: when, from where, every file with its size and SHA-256, the
   snapshot's size, hash and key count. A folder without it is not a finished backup.

Loading an RDB file needs a Redis server binary; the embedded layer has it and is handed in as
`RdbTools` (embedded/valkey_rdb.py), so this layer stays below it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson

from config.settings import Settings
from domain.clock import Clock, system_ms
from domain.vocab import LOCAL_TZ
from infra.connections import is_cluster, redacted, redis_client
from services.backup_files import (
    AFTER,
    BEFORE,
    PARTS,
    FileEntry,
    FilePart,
    copy_file,
    count,
    files_of,
    fsync_folders,
    human,
)
from store.backup import SnapshotFailed, fetch_rdb, server_identity
from store.files import replace_file

FORMAT, VERSION = "ecocommand-backup", 1
MANIFEST = "manifest.json"
RDB = "redis/dump.rdb"  # in the backup folder
REDIS_PART = "redis"

Say = Callable[[str], None]  # one line of progress for the person running the command


class BackupError(ValueError):
    """A backup or restore refused or failed; the message says why and what to do."""


class Loaded(NamedTuple):
    keys: int  # loaded
    expired: int  # in the file, but their time to live had passed when it was loaded

    @property
    def in_file(self) -> int:
        return self.keys + self.expired


class RdbTools(Protocol):
    def count(self, rdb: Path) -> Loaded:
        """Load the RDB file in a throwaway server: its keys (an error if it does not load)."""

    def install(self, rdb: Path, folder: Path) -> Loaded:
        """Make the new `folder` the embedded server's data folder holding the RDB's data."""

    def running_on(self, folder: Path) -> int | None:
        """The pid of a server running on that data folder, if any."""


def take(s: Settings, dest: Path, tools: RdbTools, say: Say, clock: Clock = system_ms) -> dict:
    """Write a backup into `dest` (new or empty); returns its manifest. A backup that fails
    leaves nothing behind in `dest`."""
    made = _claim(dest)
    try:
        return _take(s, dest, tools, say, clock)
    except BaseException:
        _discard(dest, made)
        raise


def _claim(dest: Path) -> bool:
    """True when dest was made here. Refuses a folder that holds anything: a backup never
    mixes with other files, nor replaces an older backup."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} is not an empty folder: give a new or empty one")
    made = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o700)  # it holds the audit signing key and the cookie key
    return made


def _discard(dest: Path, made: bool) -> None:
    if made:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


def _take(s: Settings, dest: Path, tools: RdbTools, say: Say, clock: Clock) -> dict:
    server = _server(s.effective_redis_url)  # first: no copying for a Redis that is not there
    entries: list[FileEntry] = []
    parts = {p.name: _copy_part(s, dest, p, entries, say) for p in PARTS if p.when == BEFORE}
    redis_doc, taken_ms = _snapshot(s, server, dest, tools, entries, say, clock)
    parts |= {p.name: _copy_part(s, dest, p, entries, say) for p in PARTS if p.when == AFTER}
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "ecocommand": _app_version(),
        "taken_at": _iso(taken_ms),
        "taken_at_ms": taken_ms,
        "source": {
            "redis": redacted(s.effective_redis_url),
            "embedded": s.redis_url is None,
            "data_dir": str(s.data_dir.resolve()),
            "host": socket.gethostname(),
        },
        "redis": redis_doc,
        "parts": parts,
        "files": [e.as_json() for e in entries],
    }
    replace_file(dest / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2), 0o600)
    fsync_folders(dest)
    total = sum(e.size for e in entries)
    say(f"backup written to {dest}: {count(len(entries))}, {human(total)}; manifest {MANIFEST}")
    return manifest


def _copy_part(
    s: Settings, dest: Path, part: FilePart, entries: list[FileEntry], say: Say
) -> dict[str, Any]:
    found = files_of(s.data_dir, part)
    for src, rel in found:
        size, sha = copy_file(src, dest / rel, whole_lines=src.name in part.appended)
        entries.append(FileEntry(rel, part.name, size, sha, os.stat(dest / rel).st_mode & 0o777))
    done = [e for e in entries if e.part == part.name]
    total = sum(e.size for e in done)
    where = f"{part.when} the Redis snapshot"
    if done:
        say(f"{part.name}: {count(len(done))}, {human(total)} ({where}){_note(s, part)}")
    else:
        say(f"{part.name}: nothing at {s.data_dir / part.path}{_note(s, part)}")
    return {"path": part.path, "when": where, "files": len(done), "bytes": total}


def _note(s: Settings, part: FilePart) -> str:
    """What a part does not hold because a setting keeps it elsewhere."""
    if part.name == "audit" and s.audit_signing_key is not None:
        return "; the signing key is AUDIT_SIGNING_KEY's, kept by you, not copied"
    if part.name == "secret_key" and s.secret_key is not None:
        return "; SECRET_KEY is set, kept by you"
    if part.name == "evidence" and s.evidence_outside_data_dir:
        return f"; EVIDENCE_DIR is set: {s.effective_evidence_dir} is not copied, back it up itself"
    return ""


def _server(url: str) -> str:
    client = redis_client(url, wait_s=0)  # Unreachable says what to start or set
    try:
        if is_cluster(client):
            # a snapshot (SYNC) is one node's: a cluster's masters each hold part of the data
            raise BackupError(
                f"{redacted(url)} is a Redis Cluster: this command copies one server; back up "
                "each master with the cluster's own tools (docs/deploy.md)"
            )
        return server_identity(client)
    finally:
        client.close()


def _snapshot(
    s: Settings,
    server: str,
    dest: Path,
    tools: RdbTools,
    entries: list[FileEntry],
    say: Say,
    clock: Clock,
) -> tuple[dict[str, Any], int]:
    url = s.effective_redis_url
    (dest / REDIS_PART).mkdir(mode=0o700)
    try:
        copy = fetch_rdb(url, dest / RDB)
    except SnapshotFailed as e:
        raise BackupError(f"redis: no snapshot from {redacted(url)}: {e}") from None
    taken_ms = clock()  # the snapshot is of an instant in the seconds before this
    loaded = tools.count(dest / RDB)
    entries.append(FileEntry(RDB, REDIS_PART, copy.size, copy.sha256, 0o600))
    os.chmod(dest / RDB, 0o600)
    say(
        f"redis: snapshot of {redacted(url)} ({server}) at {local_time(taken_ms)}, "
        f"{human(copy.size)}, {count(loaded.in_file, 'key')}, {copy.transfer} transfer"
    )
    doc = {
        "path": RDB,
        "size": copy.size,
        "sha256": copy.sha256,
        "rdb": copy.header,
        "transfer": copy.transfer,
        "server": server,
        "keys": loaded.in_file,
    }
    return doc, taken_ms


def _app_version() -> str:
    try:
        return metadata.version("ecocommand")
    except metadata.PackageNotFoundError:
        return "unknown"


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")


def local_time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S (UTC+8)")
