"""Writing a file so that a reader (or a crash) sees the old one or the new one, never half."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(path: Path, data: bytes, mode: int = 0o600, *, owner_of_folder: bool = False):
    """Writes `data` to a temporary file beside `path`, fsyncs it and renames it over `path`,
    then fsyncs the folder so the rename itself survives a crash. With owner_of_folder (as
    root), the file goes to the folder's owner: the account that reads it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        if owner_of_folder and os.geteuid() == 0:
            folder = path.parent.stat()
            os.fchown(fd, folder.st_uid, folder.st_gid)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
