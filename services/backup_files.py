"""The files a backup holds besides Redis, and how they are copied (services/backup.py).

Each part is a file or a folder under DATA_DIR, kept at the same relative path in the backup
folder, copied before or after the Redis snapshot as its way of being written requires. A new
kind of file kept beside Redis (the track archive, when there is one) is one more line in
PARTS: backup, restore, the manifest and the checks all go by that list.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from store import audit_keys

CHUNK = 1 << 20
BEFORE, AFTER = "before", "after"  # the Redis snapshot


@dataclass(frozen=True, slots=True)
class FilePart:
    name: str
    path: str  # under DATA_DIR, and under the backup folder
    when: str  # BEFORE or AFTER the Redis snapshot
    appended: frozenset[str] = frozenset()  # files only ever appended to: whole lines are copied


PARTS: tuple[FilePart, ...] = (
    # The audit log's keys and the local copy of its signed heads (store/audit_keys.py). Before
    # the snapshot: heads.jsonl only grows and the signer writes each head to Redis first, so
    # every head in a copy taken now names entries the later snapshot has. A head signed after
    # the snapshot and copied with it would name entries the snapshot lacks, and `audit verify`
    # of the restored system would report them as removed.
    FilePart("audit", audit_keys.folder(Path()).as_posix(), BEFORE, frozenset({audit_keys.HEADS})),
    # Signs session cookies when SECRET_KEY is unset (dashboard/security.py); sessions live in
    # Redis, so with both restored a signed-in user stays signed in.
    FilePart("secret_key", "secret_key", BEFORE),
    # The demo accounts' passwords (services/accounts.py, embedded Redis only): their hashes
    # are in the snapshot.
    FilePart("demo_accounts", "demo_accounts.txt", BEFORE),
    # After the snapshot: an evidence file is on disk (fsynced) before the note naming it is
    # written to Redis, and is never rewritten (named by its SHA-256, store/evidence.py), so
    # every file the snapshot names is there when the copy starts; later ones come along too.
    FilePart("evidence", "evidence", AFTER),
    # The track archive (store/archive.py): an hour's Parquet file is renamed into place before
    # Redis records the hour (archive:{kind}:hours) and never rewritten with other content, so
    # after the snapshot, like evidence, every hour the snapshot names is there.
    FilePart("archive", "archive", AFTER),
)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a backup, as the manifest lists it."""

    path: str  # POSIX, relative to the backup folder and to DATA_DIR
    part: str
    size: int
    sha256: str
    mode: int

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "part": self.part,
            "size": self.size,
            "sha256": self.sha256,
            "mode": f"{self.mode:04o}",
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FileEntry:
        return cls(
            str(doc["path"]),
            str(doc["part"]),
            int(doc["size"]),
            str(doc["sha256"]),
            int(str(doc["mode"]), 8),
        )


def files_of(data_dir: Path, part: FilePart) -> list[tuple[Path, str]]:
    """The part's regular files under data_dir: (where, relative POSIX path). Names starting
    with a dot are skipped: they are files being written (store/files.py writes a temporary
    `.name.xxxx` beside the file, then renames it)."""
    root = data_dir / part.path
    if root.is_file() and not root.is_symlink():
        return [(root, part.path)]
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(folder) / name
            if not name.startswith(".") and stat.S_ISREG(path.lstat().st_mode):
                found.append((path, path.relative_to(data_dir).as_posix()))
    return found


def copy_file(src: Path, dst: Path, *, whole_lines: bool = False) -> tuple[int, str]:
    """Copy src to a new file dst with src's permission bits, fsynced: (size, SHA-256) of what
    was written. With whole_lines, a last line still being appended is left out."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(src.stat().st_mode)
    digest, size = hashlib.sha256(), 0
    with src.open("rb") as f, dst.open("xb") as out:
        os.fchmod(out.fileno(), mode)
        if whole_lines:
            data = f.read()
            chunks: Iterable[bytes] = [data[: data.rfind(b"\n") + 1]]
        else:
            chunks = iter(lambda: f.read(CHUNK), b"")
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def hash_file(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def safe_relative(path: str, part_path: str) -> PurePosixPath:
    """A manifest's path, refused unless it stays inside its part (a damaged or forged
    manifest must not make restore write outside DATA_DIR)."""
    p, root = PurePosixPath(path), PurePosixPath(part_path)
    if p.is_absolute() or ".." in p.parts or p.parts[: len(root.parts)] != root.parts:
        raise ValueError(f"the manifest lists {path!r} outside {part_path!r}")
    return p


def fsync_folders(root: Path) -> None:
    """Make the folder entries (names of new files) under root durable."""
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def count(n: int, what: str = "file") -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def human(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    if n < 1024:
        return f"{n} B"
    size, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f} {unit}"
