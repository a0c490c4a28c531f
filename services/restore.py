"""`python run.py restore DIR`: check a backup (services/backup.py wrote it) and bring a
stopped system back to it.

Every file's size and SHA-256 is checked and the snapshot loaded (its key count must be the
manifest's) before anything is touched; restore refuses while the system looks running; it
builds the new parts beside DATA_DIR's, then swaps each in and moves what was there to
DATA_DIR/replaced-<time>/ (it deletes nothing). For the embedded Redis it writes the AOF the
embedded server starts from; an external Redis is restored by hand on its own host
(docs/deploy.md, "Backup and restore"), as this machine cannot reach its disk.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import orjson

from config.settings import Settings
from domain.clock import Clock, system_ms
from domain.vocab import LOCAL_TZ
from infra.connections import Unreachable, redacted, redis_client
from services.backup import (
    FORMAT,
    MANIFEST,
    RDB,
    REDIS_PART,
    VERSION,
    BackupError,
    Loaded,
    RdbTools,
    Say,
    local_time,
)
from services.backup_files import (
    PARTS,
    FileEntry,
    copy_file,
    count,
    fsync_dir,
    fsync_folders,
    hash_file,
    human,
    safe_relative,
)


def verify(src: Path, tools: RdbTools, say: Say) -> tuple[dict[str, Any], Loaded]:
    """Every file of the manifest is there with its size and SHA-256, and the snapshot loads
    with the manifest's key count. Changes nothing."""
    manifest = read_manifest(src)
    entries: list[FileEntry] = manifest["files"]
    for e in entries:
        _check_entry(src, e)
    if not any(e.path == RDB and e.part == REDIS_PART for e in entries):
        raise BackupError(f"{src}: the manifest lists no Redis snapshot")
    try:
        loaded = tools.count(src / RDB)
    except ValueError as e:
        raise BackupError(f"{src}: {e}") from None
    if loaded.in_file != manifest["redis"]["keys"]:
        raise BackupError(
            f"{src}: the snapshot holds {loaded.in_file} keys, its manifest says "
            f"{manifest['redis']['keys']}"
        )
    say(
        f"backup {src}: taken {local_time(manifest['taken_at_ms'])} from "
        f"{manifest['source']['redis']}; {count(len(entries))} checked (size, SHA-256); "
        f"the snapshot loads: {count(loaded.in_file, 'key')}"
    )
    return manifest, loaded


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest, its "files" as FileEntry."""
    path = src / MANIFEST
    if not path.is_file():
        raise BackupError(f"{src}: no {MANIFEST}: not a backup, or one that did not finish")
    try:
        manifest = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise BackupError(f"{path}: not JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: not an ecocommand backup manifest")
    if manifest.get("version") != VERSION:
        raise BackupError(f"{path}: backup format {manifest.get('version')}, this is {VERSION}")
    try:  # the fields restore reads, in the types it reads them as
        manifest["files"] = [FileEntry.from_json(e) for e in manifest["files"]]
        manifest["taken_at_ms"] = int(manifest["taken_at_ms"])
        manifest["redis"]["keys"] = int(manifest["redis"]["keys"])
        manifest["source"]["redis"] = str(manifest["source"]["redis"])
    except (KeyError, TypeError, ValueError) as e:
        raise BackupError(f"{path}: damaged manifest ({type(e).__name__}: {e})") from None
    return manifest


def _check_entry(src: Path, e: FileEntry) -> None:
    known = {p.name: p.path for p in PARTS} | {REDIS_PART: REDIS_PART}  # part -> its path
    if e.part not in known:
        raise BackupError(f"{src}: the manifest lists a part this version does not know: {e.part}")
    try:
        safe_relative(e.path, known[e.part])
    except ValueError as err:
        raise BackupError(f"{src}: {err}") from None
    path = src / e.path
    if not path.is_file():
        raise BackupError(f"{src}: {e.path} is missing; nothing was changed")
    if hash_file(path) != (e.size, e.sha256):
        raise BackupError(
            f"{src}: {e.path} is not the file backed up (size or SHA-256 differs); "
            "nothing was changed"
        )


# --- restore --------------------------------------------------------------------------------


def restore(
    s: Settings,
    src: Path,
    tools: RdbTools,
    say: Say,
    *,
    force: bool = False,
    clock: Clock = system_ms,
) -> None:
    """Bring the stopped system at `s` (DATA_DIR, and the embedded Redis's data) back to the
    backup in `src`."""
    _refuse_if_running(s, tools, force)
    manifest, _loaded = verify(src, tools, say)
    stamp = dt.datetime.fromtimestamp(clock() / 1000, LOCAL_TZ).strftime("%Y%m%d-%H%M%S")
    s.data_dir.mkdir(parents=True, exist_ok=True)
    staging = s.data_dir / f".restore-{stamp}"
    staging.mkdir()
    try:
        _stage_files(src, staging, manifest["files"], say)
        swap = [p.path for p in PARTS]
        if s.redis_url is None:
            redis_dir = s.embedded_redis_dir.relative_to(s.data_dir).as_posix()
            loaded = tools.install(src / RDB, staging / redis_dir)
            swap.append(redis_dir)
            say(
                f"redis: {loaded.keys} keys into {s.embedded_redis_dir} as the embedded "
                f"server's AOF ({loaded.expired} more in the backup have expired by now)"
            )
        _refuse_if_running(s, tools, force)  # again: checking a large backup takes a while
        moved = _swap_in(s.data_dir, staging, swap, stamp)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if s.redis_url is not None:
        _say_external_steps(s, src, say)
    aside = f"; what was there is in {s.data_dir / f'replaced-{stamp}'}" if moved else ""
    say(
        f"restored the backup of {local_time(manifest['taken_at_ms'])} into {s.data_dir}{aside}. "
        "Start with `python run.py`; check with `python run.py audit verify`"
    )


def _refuse_if_running(s: Settings, tools: RdbTools, force: bool) -> None:
    if s.redis_url is None:
        port = s.embedded_redis_port
        if _answers(port):
            raise BackupError(
                f"something answers on the embedded Redis port {port}: stop ecocommand first "
                "(Ctrl-C on `python run.py`); restore brings a stopped system back"
            )
        pid = tools.running_on(s.embedded_redis_dir)
        if pid is not None:
            raise BackupError(
                f"a Redis server (pid {pid}) runs on {s.embedded_redis_dir}: stop it first"
            )
        return
    keys = _keys_at(s.redis_url)
    if keys and not force:
        raise BackupError(
            f"the Redis at {redacted(s.redis_url)} holds {keys} keys: the system looks in use. "
            "Stop every ecocommand process, then restore with --force (the Redis data itself "
            "is restored on its host: docs/deploy.md, 'Backup and restore')"
        )


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _keys_at(url: str) -> int:
    try:
        client = redis_client(url, wait_s=0)
    except Unreachable:
        return 0  # stopped: nothing there can be in use
    try:
        return sum(int(db.get("keys", 0)) for db in client.info("keyspace").values())
    finally:
        client.close()


def _stage_files(src: Path, staging: Path, entries: list[FileEntry], say: Say) -> None:
    """Copy the backup's files beside DATA_DIR's, checking each copy's hash again."""
    for e in entries:
        if e.part == REDIS_PART:
            continue
        size, sha = copy_file(src / e.path, staging / e.path)
        os.chmod(staging / e.path, e.mode)
        if (size, sha) != (e.size, e.sha256):
            raise BackupError(f"{src / e.path} changed while it was restored; nothing was changed")
    fsync_folders(staging)
    for part in PARTS:
        done = [e for e in entries if e.part == part.name]
        say(f"{part.name}: {count(len(done))}, {human(sum(e.size for e in done))}")


def _swap_in(data_dir: Path, staging: Path, names: list[str], stamp: str) -> list[str]:
    """Each part from staging into DATA_DIR; what was there goes to replaced-<stamp>/ (also a
    part the backup has no file of: an old heads.jsonl beside a restored log would not fit)."""
    aside, moved = data_dir / f"replaced-{stamp}", []
    for name in names:
        target = data_dir / name
        if target.exists() or target.is_symlink():
            (aside / name).parent.mkdir(parents=True, exist_ok=True)
            target.rename(aside / name)
            moved.append(name)
        if (staging / name).exists():
            (staging / name).rename(target)
    for folder in (data_dir, aside) if moved else (data_dir,):
        fsync_dir(folder)
    return moved


def _say_external_steps(s: Settings, src: Path, say: Say) -> None:
    say(
        f"redis: NOT restored here: REDIS_URL ({redacted(s.redis_url or '')}) is a server whose "
        "disk this machine does not see. On its host (docs/deploy.md, 'Backup and restore'):\n"
        "  1. stop it; move its appendonlydir and dump.rdb (in its `dir`) aside\n"
        f"  2. copy {src / RDB} there as its `dbfilename` (dump.rdb)\n"
        "  3. start it with `appendonly no`; then `CONFIG SET appendonly yes`, wait for\n"
        "     `INFO persistence` to show aof_rewrite_in_progress:0, and `CONFIG REWRITE`"
    )
