"""Evidence files of an incident (photos, video, documents): what is accepted, judged from the
bytes themselves, never from the name or the type a client claims, so a page saved as
"photo.jpg" is refused rather than served back to a browser."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

MAX_BYTES = 15 * 1024 * 1024  # a phone photo is 2-6 MB; a short clip or a scanned notice fits
# Leading bytes of each accepted format (the container's magic; offsets in the tuple).
_MAGIC: tuple[tuple[str, int, bytes], ...] = (
    ("image/jpeg", 0, b"\xff\xd8\xff"),
    ("image/png", 0, b"\x89PNG\r\n\x1a\n"),
    ("image/webp", 8, b"WEBP"),  # after "RIFF" + size
    ("application/pdf", 0, b"%PDF-"),
    ("video/mp4", 4, b"ftyp"),
)
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})  # shown in the page
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "video/mp4": "mp4",
}
_UNSAFE = re.compile(r"[^\w.\- ]+")


class EvidenceRefused(ValueError):
    """A file that is not accepted as evidence, with the reason for the person who sent it."""


@dataclass(frozen=True, slots=True)
class Evidence:
    sha256: str
    media_type: str
    size: int
    name: str  # cleaned, for display and download only; files are stored by hash


def media_type_of(data: bytes) -> str | None:
    for media, offset, magic in _MAGIC:
        if data[offset : offset + len(magic)] == magic and (
            media != "image/webp" or data[:4] == b"RIFF"
        ):
            return media
    return None


def clean_name(name: str, media_type: str) -> str:
    """The client's file name without directories, control or odd characters, at most 80
    characters, with the extension of what the file really is."""
    base = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    stem = _UNSAFE.sub("_", stem).strip(" ._")[:80].strip(" ._") or "evidence"
    return f"{stem}.{EXTENSIONS[media_type]}"


def accept(data: bytes, name: str) -> Evidence:
    """Evidence from an uploaded file, or EvidenceRefused saying why not."""
    if not data:
        raise EvidenceRefused("the file is empty")
    if len(data) > MAX_BYTES:
        raise EvidenceRefused(
            f"the file is {len(data) / 2**20:.1f} MiB; at most {MAX_BYTES // 2**20} MiB is accepted"
        )
    media = media_type_of(data)
    if media is None:
        raise EvidenceRefused("not a JPEG, PNG, WebP, PDF or MP4 file (judged from its content)")
    return Evidence(hashlib.sha256(data).hexdigest(), media, len(data), clean_name(name, media))
