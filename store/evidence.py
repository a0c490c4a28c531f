"""Evidence files on disk, named by their SHA-256 (DATA_DIR/evidence/ab/abcd...): the same
photo sent twice is stored once, a stored file cannot be swapped without its name changing, and
the incident's record (store/incidents.py, notes) holds the hash, so the case file proves what
was attached. A file is on disk (fsync of file and directory) before its note is written."""

from __future__ import annotations

import re
from pathlib import Path

from store.files import replace_file

_HASH = re.compile(r"^[0-9a-f]{64}$")


class EvidenceFiles:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if not _HASH.match(sha256):
            raise ValueError("not a SHA-256 in lower-case hex")
        return self.root / sha256[:2] / sha256

    def put(self, sha256: str, data: bytes) -> Path:
        target = self.path(sha256)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_file(target, data)
        return target

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()
