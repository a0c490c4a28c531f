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
    ("video/mp4", 4, b"ftyp"),  # an ISO media file: which one, its brands say (_iso_media)
)
# ISO media files share the `ftyp` box; its brands tell a video from a still image. HEIF/HEIC
# and AVIF photos (an iPhone's camera by default) are refused by name, not taken for a video.
_STILL_BRANDS = frozenset(
    {b"mif1", b"msf1", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"avif", b"avis"}
)
HEIF = "image/heif"  # recognised, not accepted
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})  # shown in the page
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "video/mp4": "mp4",
    "video/quicktime": "mov",  # an iPhone's videos
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
            return _iso_media(data) if media == "video/mp4" else media
    return None


def _iso_media(data: bytes) -> str:
    """An ISO media file by its `ftyp` box: the major brand (bytes 8-12), then the compatible
    brands to the end of the box."""
    end = min(int.from_bytes(data[:4], "big"), len(data), 256)
    brands = [data[8:12], *(data[i : i + 4] for i in range(16, end - 3, 4))]
    if any(b in _STILL_BRANDS for b in brands):
        return HEIF
    return "video/quicktime" if brands[0] == b"qt  " else "video/mp4"


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
    if media == HEIF:
        raise EvidenceRefused(
            "a HEIF/HEIC or AVIF photo is not accepted: send it as JPEG (on an iPhone: "
            "Settings > Camera > Formats > Most Compatible)"
        )
    if media is None:
        raise EvidenceRefused(
            "not a JPEG, PNG, WebP, PDF, MP4 or MOV file (judged from its content)"
        )
    return Evidence(hashlib.sha256(data).hexdigest(), media, len(data), clean_name(name, media))
