"""Pure AIS decoding: raw NMEA (with optional IEC 61162-450 tag blocks) or AIS-catcher JSON in,
vessel updates, rejections and pending multi-part fragments out. No Redis, no MQTT.

NMEA framing (tag blocks, checksums, fields, fragment grouping) is parsed here rather than
through pyais' sentence classes so that every bad line maps to one precise, stable rejection
code; pyais does the bit-level decoding of the payload (`bit_vector` + its message classes).

Grouping of multi-part messages inside one payload is streaming, in line order:

* a part joins the pending group of its key (tag-block group id when present, else
  source/talker/channel/sequence id/total); a group decodes as soon as all its parts are there;
* a part whose index is already taken starts a new group: the old one can never complete. If
  the old group had its first part (it began in this payload) its parts are rejected
  ("ais_bad_fragment"); if not, its parts may complete parts held from an earlier payload, so
  they become `Fragment`s;
* groups still incomplete at the end of the payload become `Fragment`s for the worker to keep
  until the rest arrives; it then calls `assemble_fragments`.

A physical line may also hold all parts of one message one after the other (the "joined"
format written by some archivers, e.g. gfw ais-tools). Each non-blank line therefore yields at
most one outcome (an update, a rejection, an ignored message or a fragment); the lines of a
group decoded together share one outcome.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pyais.bit_vector import bit_vector
from pyais.messages import (
    MessageType1,
    MessageType2,
    MessageType3,
    MessageType5,
    MessageType18,
    MessageType19,
    MessageType24,
    MessageType27,
)

__all__ = [
    "REASONS",
    "AisBatch",
    "Fragment",
    "Rejection",
    "VesselUpdate",
    "assemble_fragments",
    "parse_aiscatcher_json",
    "parse_payload",
    "ship_type_text",
]

# Stable rejection codes (dead-letter reasons and counters key on them).
BAD_CHECKSUM = "ais_bad_checksum"
BAD_TAGBLOCK = "ais_bad_tagblock"
MALFORMED = "ais_malformed"
DECODE_ERROR = "ais_decode_error"
NO_POSITION = "ais_no_position"
BAD_MMSI = "ais_bad_mmsi"
BAD_FRAGMENT = "ais_bad_fragment"
NOT_TEXT = "payload_not_text"
JSON_MALFORMED = "json_malformed"
# Stable reasons for valid input that carries nothing the product uses (counted as ignored):
# an AIS message type it does not read (4 base station, 8 binary, 16 assignment, 21 aid to
# navigation, ...), or an AIS-catcher object of another class (ADS-B, say).
TYPE_UNUSED = "ais_type_unused"
CLASS_UNUSED = "ais_class_unused"
NO_VESSEL_DATA = "ais_no_vessel_data"  # a vessel message with neither position nor static data
REASONS = frozenset(
    {
        BAD_CHECKSUM,
        BAD_TAGBLOCK,
        MALFORMED,
        DECODE_ERROR,
        NO_POSITION,
        BAD_MMSI,
        BAD_FRAGMENT,
        NOT_TEXT,
        JSON_MALFORMED,
    }
)

MAX_LINE = 4096  # a tag-blocked 9-part joined line is < 2 kB; longer is junk, not NMEA
MAX_RAW = 4096  # Rejection.raw is cut here so junk cannot bloat the dead-letter stream
MAX_PAYLOAD_CHARS = 200  # per sentence; the longest AIS message (5 slots) is 168 characters
LATEST_MS = 4_102_444_800_000  # 2100-01-01: later receiver clocks are corrupt, not real


@dataclass(frozen=True, slots=True)
class VesselUpdate:
    """One decoded vessel message. None means "not available" in the message."""

    mmsi: int
    ts_ms: int
    msg_type: int
    kind: Literal["position", "static"]
    identity: str
    lat: float | None = None
    lon: float | None = None
    sog_kn: float | None = None
    cog: float | None = None
    heading: int | None = None
    nav_status: int | None = None
    accuracy: bool | None = None
    name: str | None = None
    callsign: str | None = None
    ship_type: int | None = None
    ship_type_text: str | None = None
    imo: int | None = None
    destination: str | None = None
    dim_bow: int | None = None
    dim_stern: int | None = None
    dim_port: int | None = None
    dim_starboard: int | None = None
    length_m: int | None = None
    beam_m: int | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    raw: str
    detail: str


@dataclass(frozen=True, slots=True)
class Fragment:
    """One part of a multi-part message whose group was incomplete within its payload.

    `line` is that part alone (tag block + sentence), ready for `assemble_fragments`.
    `ts_ms` is its tag-block time, else the payload's receive time.
    """

    key: str
    index: int
    total: int
    line: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class AisBatch:
    updates: list[VesselUpdate]
    rejections: list[Rejection]
    fragments: list[Fragment]
    # valid input that is no vessel update, one reason each (ingest/accounting.py counts them)
    ignored: list[str] = field(default_factory=list)


class _Reject(Exception):  # internal control flow: never escapes this module
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _Part:
    """One parsed NMEA sentence (one fragment of an AIS message)."""

    __slots__ = (
        "channel",
        "fill",
        "group",
        "index",
        "payload",
        "sentence",
        "seq",
        "tag",
        "tb_ms",
        "text",
        "total",
    )

    def __init__(
        self,
        text: str,
        sentence: str,
        tag: str,
        total: int,
        index: int,
        seq: str,
        channel: str,
        payload: str,
        fill: int,
        tb_ms: int | None,
        group: tuple[int, int, str] | None,
    ) -> None:
        self.text = text  # as received: tag block + sentence + trailing receiver fields
        self.sentence = sentence  # '!AIVDM,…*hh' only: what the identity hash covers
        self.tag = tag
        self.total = total
        self.index = index
        self.seq = seq
        self.channel = channel
        self.payload = payload
        self.fill = fill
        self.tb_ms = tb_ms
        self.group = group  # tag-block g: (index, total, group id)

    def key(self, source: str) -> str:
        if self.group is not None:
            return f"{source}|g|{self.group[2]}"
        return f"{source}|{self.tag}|{self.channel}|{self.seq}|{self.total}"

    def signature(self) -> tuple[str, str, str, int]:
        return (self.tag, self.channel, self.seq, self.total)


# --- NMEA framing -------------------------------------------------------------------------

_HEX = frozenset("0123456789abcdefABCDEF")
_DIGIT = {str(i): i for i in range(10)}
_CHANNELS = frozenset({"", "A", "B", "1", "2", "C", "D"})  # C/D: long-range channels 75/76
_ARMOR_RE = re.compile(r"[0-W`-w]+")  # the 64 six-bit armour characters
_TALKER_RE = re.compile(r"[A-Z]{2}VD[MO]")
_GROUP_RE = re.compile(r"(\d{1,4})-(\d{1,4})-(\d{1,12})")
_xor_all = functools.partial(functools.reduce, operator.xor)


def _xor(text: str) -> int:
    return _xor_all(text.encode("ascii"), 0)


def _epoch_ms(value: float) -> int:
    """Receiver time in seconds, or milliseconds when > 10^11, to validated epoch ms."""
    if not math.isfinite(value) or value < 0:
        raise ValueError("time not finite or negative")
    ms = round(value) if value > 1e11 else round(value * 1000)
    if ms > LATEST_MS:
        raise ValueError("time after 2100")
    return ms


def _parse_tagblock(tb: str) -> tuple[int | None, tuple[int, int, str] | None]:
    star = tb.rfind("*")
    if star < 0:
        raise _Reject(BAD_TAGBLOCK, "tag block has no checksum")
    body, ck = tb[:star], tb[star + 1 :]
    if not 1 <= len(ck) <= 2 or not _HEX.issuperset(ck):
        raise _Reject(BAD_TAGBLOCK, f"tag block checksum {ck!r} is not hex")
    if _xor(body) != int(ck, 16):
        raise _Reject(BAD_TAGBLOCK, f"tag block checksum {ck} != {_xor(body):02X}")
    ts_ms: int | None = None
    group: tuple[int, int, str] | None = None
    for item in body.split(",") if body else ():
        code, colon, value = item.partition(":")
        if not colon or not code:
            raise _Reject(BAD_TAGBLOCK, f"tag block field {item!r} is not code:value")
        if code == "c":
            try:
                ts_ms = _epoch_ms(int(value) if value.isdigit() else float(value))
            except ValueError as e:
                raise _Reject(BAD_TAGBLOCK, f"tag block time {value!r}: {e}") from None
        elif code == "g":
            m = _GROUP_RE.fullmatch(value)
            if m is None:
                raise _Reject(BAD_TAGBLOCK, f"tag block group {value!r} is not n-m-id")
            gi, gt = int(m[1]), int(m[2])
            if not 1 <= gi <= gt:
                raise _Reject(BAD_TAGBLOCK, f"tag block group {value!r}: sentence {gi} of {gt}")
            group = (gi, gt, str(int(m[3])))
    return ts_ms, group


def _check_sentence_checksum(body: str, ck: str) -> None:
    if not _HEX.issuperset(ck):
        raise _Reject(MALFORMED, f"checksum {ck!r} is not hex")
    if _xor(body) != int(ck, 16):
        raise _Reject(BAD_CHECKSUM, f"checksum {ck} != {_xor(body):02X}")


def _fragment_numbers(total_s: str, index_s: str) -> tuple[int, int]:
    """(total, index). Plausible numbers beyond 9 are a fragment problem, not a malformed line:
    the sentence format has one digit for them."""
    total = _DIGIT.get(total_s)
    index = _DIGIT.get(index_s)
    if total is None or index is None:
        if total_s.isdigit() and index_s.isdigit() and len(total_s) < 4 and len(index_s) < 4:
            raise _Reject(BAD_FRAGMENT, f"fragment {index_s} of {total_s}: at most 9 parts")
        raise _Reject(MALFORMED, f"fragment numbers {total_s!r},{index_s!r}")
    if total == 0 or index == 0:
        raise _Reject(MALFORMED, f"fragment {index} of {total}: numbers start at 1")
    if index > total:
        raise _Reject(BAD_FRAGMENT, f"fragment {index} of {total}")
    return total, index


def _parse_sentence(
    text: str, sentence: str, tb_ms: int | None, group: tuple[int, int, str] | None
) -> _Part:
    """`sentence` runs from the '!' through the two checksum digits."""
    body = sentence[1:-3]
    _check_sentence_checksum(body, sentence[-2:])
    fields = body.split(",")
    if len(fields) != 7:
        raise _Reject(MALFORMED, f"{len(fields)} fields, a VDM/VDO sentence has 7")
    tag, total_s, index_s, seq, channel, payload, fill_s = fields
    if _TALKER_RE.fullmatch(tag) is None:
        raise _Reject(MALFORMED, f"sentence {tag!r} is not a VDM/VDO sentence")
    total, index = _fragment_numbers(total_s, index_s)
    if seq and seq not in _DIGIT:
        raise _Reject(MALFORMED, f"sequence id {seq!r}")
    if channel not in _CHANNELS:
        raise _Reject(MALFORMED, f"radio channel {channel!r}")
    if not payload or len(payload) > MAX_PAYLOAD_CHARS or _ARMOR_RE.fullmatch(payload) is None:
        raise _Reject(MALFORMED, "payload empty, too long or not six-bit armoured")
    fill = _DIGIT.get(fill_s)
    if fill is None or fill > 5 or fill >= 6 * len(payload):
        raise _Reject(MALFORMED, f"fill bits {fill_s!r}")
    if group is not None and (group[0] != index or group[1] != total):
        raise _Reject(
            BAD_FRAGMENT,
            f"tag block group {group[0]}-{group[1]} disagrees with fragment {index} of {total}",
        )
    return _Part(text, sentence, tag, total, index, seq, channel, payload, fill, tb_ms, group)


def _parse_line(line: str) -> list[_Part]:
    """Split a line into its sentences (normally one) and parse each."""
    if not line.isascii():
        raise _Reject(MALFORMED, "NMEA is ASCII, the line is not")
    parts: list[_Part] = []
    pos, n = 0, len(line)
    while pos < n:
        start = pos
        tb_ms: int | None = None
        group: tuple[int, int, str] | None = None
        if line[pos] == "\\":
            end = line.find("\\", pos + 1)
            if end < 0:
                raise _Reject(BAD_TAGBLOCK, "tag block not closed by '\\'")
            tb_ms, group = _parse_tagblock(line[pos + 1 : end])
            pos = end + 1
        if pos >= n or line[pos] not in "!$":
            raise _Reject(MALFORMED, "no '!' sentence" + (" after the tag block" if pos else ""))
        star = line.find("*", pos)
        if star < 0:
            raise _Reject(MALFORMED, "no '*' checksum")
        sentence = line[pos : star + 3]
        if len(sentence) < star + 3 - pos or "\\" in sentence or "!" in sentence[1:]:
            raise _Reject(MALFORMED, "sentence truncated before its checksum")
        # Whatever follows the checksum up to the next sentence is receiver metadata.
        nxt = star + 3
        if nxt < n:
            ends = [i for i in (line.find("\\", nxt), line.find("!", nxt)) if i >= 0]
            nxt = min(ends) if ends else n
        parts.append(_parse_sentence(line[start:nxt].rstrip(), sentence, tb_ms, group))
        pos = nxt
    return parts


# --- Bit decoding ---------------------------------------------------------------------------

# Accepted payload lengths in bits per vessel message type. Exact per ITU-R M.1371, widened
# only where real transmitters are known to pad (type 5 by up to a byte, type 24 to 168).
_BITS: dict[int, tuple[int, int]] = {
    1: (168, 168),
    2: (168, 168),
    3: (168, 168),
    18: (168, 168),
    19: (312, 312),
    27: (96, 96),
    5: (424, 432),
}
_BITS_24 = {0: (160, 168), 1: (162, 168)}
_POSITION_CLASSES: dict[int, Any] = {
    1: MessageType1,
    2: MessageType2,
    3: MessageType3,
    18: MessageType18,
    19: MessageType19,
}
_ARMOR_VALUE = {c: (c - 48 - 8 if c - 48 > 40 else c - 48) for c in range(48, 120)}

_SHIP_TYPE_TEXT: dict[int, str] = {
    30: "Fishing",
    31: "Towing",
    32: "Towing",
    33: "Dredging",
    34: "Diving",
    35: "Military",
    36: "Sailing",
    37: "Pleasure craft",
    50: "Pilot",
    51: "Search and rescue",
    52: "Tug",
    53: "Port tender",
    54: "Anti-pollution",
    55: "Law enforcement",
    58: "Medical transport",
    59: "Noncombatant",
}
for _t in range(20, 30):
    _SHIP_TYPE_TEXT[_t] = "Wing in ground"
for _t in range(40, 50):
    _SHIP_TYPE_TEXT[_t] = "High speed craft"
for _t, _label in ((60, "Passenger"), (70, "Cargo"), (80, "Tanker"), (90, "Other")):
    for _u in range(_t, _t + 10):
        _SHIP_TYPE_TEXT[_u] = _label


def ship_type_text(code: int | None) -> str | None:
    """Short English label of an AIS ship-and-cargo code; None for 0 (not available)."""
    if not code:
        return None
    return _SHIP_TYPE_TEXT.get(code, "Other")


def _clean(text: object) -> str | None:
    """AIS text: '@' is padding; empty means not available."""
    if not isinstance(text, str):
        return None
    return text.strip(" @") or None


def _dims(bow: int, stern: int, port: int, starboard: int) -> dict[str, int | None]:
    if not (bow or stern or port or starboard):  # all zero: dimensions not available
        return {}
    # One side 0 means "reference point unknown", the sum is still the hull size.
    return {
        "dim_bow": bow,
        "dim_stern": stern,
        "dim_port": port,
        "dim_starboard": starboard,
        "length_m": (bow + stern) or None,
        "beam_m": (port + starboard) or None,
    }


def _check_position(lat: float, lon: float) -> None:
    if lat == 91 or lon == 181:
        raise _Reject(NO_POSITION, "position not available (lat 91 / lon 181)")
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise _Reject(NO_POSITION, f"position out of range: lat {lat}, lon {lon}")


def _check_mmsi(mmsi: int) -> None:
    if not 1 <= mmsi <= 999_999_999:
        raise _Reject(BAD_MMSI, f"mmsi {mmsi} out of 1..999999999")


def _sog(speed: float) -> float | None:
    return None if speed > 102.25 else speed  # 1023 raw = not available


def _cog(course: float) -> float | None:
    return None if course >= 360 else course  # 3600 raw = not available, above is invalid


def _heading(heading: int) -> int | None:
    return None if heading >= 360 else heading  # 511 = not available


def _decode_bits(payload: str, fill: int, ts_ms: int, identity: str) -> VesselUpdate | None:
    """Decode an assembled payload; None for valid messages that are not vessel updates."""
    msg_type = _ARMOR_VALUE[ord(payload[0])]
    nbits = 6 * len(payload) - fill
    if msg_type == 0 or msg_type > 27:
        raise _Reject(DECODE_ERROR, f"unknown message type {msg_type}")
    if msg_type == 24:
        if nbits < 40:
            raise _Reject(DECODE_ERROR, f"type 24 of {nbits} bits")
        part_no = _ARMOR_VALUE[ord(payload[6])] >> 2 & 3  # bits 38-39
        bounds = _BITS_24.get(part_no)
        if bounds is None:
            raise _Reject(DECODE_ERROR, f"type 24 part number {part_no}")
    else:
        bounds = _BITS.get(msg_type)
        if bounds is None:
            return None  # 4, 8, 21, …: valid AIS, not a vessel update; not worth decoding
    if not bounds[0] <= nbits <= bounds[1]:
        want = str(bounds[0]) if bounds[0] == bounds[1] else f"{bounds[0]}-{bounds[1]}"
        raise _Reject(DECODE_ERROR, f"type {msg_type} has {nbits} bits, expected {want}")
    try:
        bv = bit_vector(payload.encode("ascii"), fill)
        if msg_type in _POSITION_CLASSES:
            m = _POSITION_CLASSES[msg_type].from_vector(bv)
        elif msg_type == 5:
            m = MessageType5.from_vector(bv)
        elif msg_type == 24:
            m = MessageType24.from_vector(bv)
        else:
            m = MessageType27.from_vector(bv)
    except Exception as e:  # pyais raises assorted errors on odd bit patterns
        raise _Reject(DECODE_ERROR, f"pyais: {type(e).__name__}: {e}") from None
    return _update_from_fields(msg_type, m, ts_ms, identity)


def _update_from_fields(msg_type: int, m: Any, ts_ms: int, identity: str) -> VesselUpdate:
    mmsi = int(m.mmsi)
    _check_mmsi(mmsi)
    if msg_type in (1, 2, 3, 18):
        lat, lon = m.lat, m.lon
        _check_position(lat, lon)
        return VesselUpdate(
            mmsi,
            ts_ms,
            msg_type,
            "position",
            identity,
            lat,
            lon,
            _sog(m.speed),
            _cog(m.course),
            _heading(m.heading),
            int(m.status) if msg_type != 18 else None,
            bool(m.accuracy),
        )
    if msg_type == 27:
        lat, lon = m.lat, m.lon
        _check_position(lat, lon)
        speed, course = int(m.speed), int(m.course)
        return VesselUpdate(
            mmsi,
            ts_ms,
            27,
            "position",
            identity,
            lat,
            lon,
            None if speed >= 63 else float(speed),
            None if course >= 360 else float(course),
            None,
            int(m.status),
            bool(m.accuracy),
        )
    if msg_type == 19:
        lat, lon = m.lat, m.lon
        _check_position(lat, lon)
        code = int(m.ship_type) or None
        return VesselUpdate(
            mmsi,
            ts_ms,
            19,
            "position",
            identity,
            lat,
            lon,
            _sog(m.speed),
            _cog(m.course),
            _heading(m.heading),
            None,
            bool(m.accuracy),
            name=_clean(m.shipname),
            ship_type=code,
            ship_type_text=ship_type_text(code),
            **_dims(m.to_bow, m.to_stern, m.to_port, m.to_starboard),
        )
    if msg_type == 5:
        code = int(m.ship_type) or None
        imo = int(m.imo)
        return VesselUpdate(
            mmsi,
            ts_ms,
            5,
            "static",
            identity,
            name=_clean(m.shipname),
            callsign=_clean(m.callsign),
            ship_type=code,
            ship_type_text=ship_type_text(code),
            imo=imo if 1_000_000 <= imo <= 9_999_999 else None,  # IMO numbers have 7 digits
            destination=_clean(m.destination),
            **_dims(m.to_bow, m.to_stern, m.to_port, m.to_starboard),
        )
    # type 24
    if m.partno == 0:
        return VesselUpdate(mmsi, ts_ms, 24, "static", identity, name=_clean(m.shipname))
    code = int(m.ship_type) or None
    dims = {}
    if hasattr(m, "to_bow"):  # auxiliary craft (98xxxxxxx) carry a mothership MMSI instead
        dims = _dims(m.to_bow, m.to_stern, m.to_port, m.to_starboard)
    return VesselUpdate(
        mmsi,
        ts_ms,
        24,
        "static",
        identity,
        callsign=_clean(m.callsign),
        ship_type=code,
        ship_type_text=ship_type_text(code),
        **dims,
    )


# --- Messages, groups and batches -----------------------------------------------------------


def _identity(parts: Sequence[_Part], time_ms: int | None) -> str:
    text = parts[0].sentence if len(parts) == 1 else "\n".join(p.sentence for p in parts)
    digest = hashlib.blake2b(text.encode("ascii"), digest_size=8).hexdigest()
    return digest if time_ms is None else f"{time_ms}-{digest}"


def _cut(raw: str) -> str:
    return raw if len(raw) <= MAX_RAW else raw[:MAX_RAW] + "…"


class _Collector:
    """Accumulates one batch; `time_ms` overrides tag-block times (AIS-catcher rxuxtime)."""

    __slots__ = (
        "fragments",
        "ignored",
        "pending",
        "received_ms",
        "rejections",
        "source",
        "time_ms",
        "updates",
    )

    def __init__(self, received_ms: int, source: str, time_ms: int | None = None) -> None:
        self.updates: list[VesselUpdate] = []
        self.rejections: list[Rejection] = []
        self.fragments: list[Fragment] = []
        self.ignored: list[str] = []
        self.pending: dict[str, dict[int, _Part]] = {}
        self.received_ms = received_ms
        self.source = source
        self.time_ms = time_ms

    def reject(self, reason: str, raw: str, detail: str) -> None:
        self.rejections.append(Rejection(reason, _cut(raw), detail))

    def batch(self) -> AisBatch:
        for group in self.pending.values():
            self._to_fragments(group)
        self.pending.clear()
        return AisBatch(self.updates, self.rejections, self.fragments, self.ignored)

    def decode(self, parts: Sequence[_Part]) -> None:
        """Decode one complete message (parts in index order)."""
        time_ms = self.time_ms
        if time_ms is None:
            time_ms = next((p.tb_ms for p in parts if p.tb_ms is not None), None)
        payload = "".join(p.payload for p in parts)
        try:
            upd = _decode_bits(
                payload,
                parts[-1].fill,
                self.received_ms if time_ms is None else time_ms,
                _identity(parts, time_ms),
            )
        except _Reject as r:
            self.reject(r.reason, "\n".join(p.text for p in parts), r.detail)
            return
        if upd is None:
            self.ignored.append(TYPE_UNUSED)
        else:
            self.updates.append(upd)

    def line(self, line: str) -> None:
        if len(line) > MAX_LINE:
            self.reject(MALFORMED, line, f"line of {len(line)} characters")
            return
        try:
            parts = _parse_line(line)
        except _Reject as r:
            self.reject(r.reason, line, r.detail)
            return
        if not parts:
            self.reject(MALFORMED, line, "empty sentence")
            return
        if len(parts) == 1:
            part = parts[0]
            if part.total == 1:
                self.decode(parts)
            else:
                self._add(part)
            return
        # Several sentences on one line: they must be exactly the parts of one message.
        key = parts[0].key(self.source)
        sig = parts[0].signature()
        parts.sort(key=operator.attrgetter("index"))
        if any(p.total == 1 for p in parts):
            self.reject(MALFORMED, line, "more than one message on a line")
        elif any(p.key(self.source) != key or p.signature() != sig for p in parts) or [
            p.index for p in parts
        ] != list(range(1, parts[0].total + 1)):
            self.reject(
                BAD_FRAGMENT,
                line,
                "the sentences on this line are not all the parts of one message",
            )
        else:
            self.decode(parts)

    def _add(self, part: _Part) -> None:
        key = part.key(self.source)
        group = self.pending.get(key)
        if group is not None:
            first = next(iter(group.values()))
            if first.signature() != part.signature():
                self.reject(
                    BAD_FRAGMENT,
                    part.text,
                    "part disagrees with the earlier parts of its group (talker/channel/seq/total)",
                )
                return
            if part.index in group:  # the sender started a new message under the same key
                del self.pending[key]
                if 1 in group:
                    for p in group.values():
                        self.reject(BAD_FRAGMENT, p.text, "group superseded before it was complete")
                else:
                    self._to_fragments(group)
                group = None
        if group is None:
            group = self.pending[key] = {}
        group[part.index] = part
        if len(group) == part.total:
            del self.pending[key]
            self.decode([group[i] for i in range(1, part.total + 1)])

    def _to_fragments(self, group: dict[int, _Part]) -> None:
        for index in sorted(group):
            p = group[index]
            self.fragments.append(
                Fragment(
                    p.key(self.source),
                    index,
                    p.total,
                    p.text,
                    self.received_ms if p.tb_ms is None else p.tb_ms,
                )
            )


def _text_lines(payload: bytes, out: _Collector) -> Iterable[str]:
    """Non-blank lines as text; undecodable lines are rejected on the way."""
    for raw in payload.splitlines():
        if raw.isascii():
            line = raw.decode("ascii").strip()
        else:
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                if raw.strip():
                    out.reject(NOT_TEXT, raw.decode("utf-8", "replace"), "line is not UTF-8")
                continue
            if line and not line.isascii():
                out.reject(MALFORMED, line, "NMEA is ASCII, the line is not")
                continue
        if line:
            yield line


def parse_payload(payload: bytes, received_ms: int, source: str) -> AisBatch:
    """Decode what an AIS receiver published: one or many NMEA lines.

    Lines are separated by LF, CRLF or CR; blank lines are skipped. Each line is an
    `!xxVDM`/`!xxVDO` sentence (any talker), optionally preceded by a `\\…*hh\\` tag block
    (checksum checked; `c:` gives the time, `g:` the group) and followed by receiver fields.
    `ts_ms` is the tag-block time, else `received_ms`. `identity` is "<tag-block ms>-<hash>"
    or, without a tag-block time, the hash alone: identical retransmissions then share it,
    which is harmless for dedup because their content is identical too.
    """
    out = _Collector(received_ms, source)
    for line in _text_lines(payload, out):
        out.line(line)
    return out.batch()


def assemble_fragments(lines: list[str], received_ms: int, source: str) -> AisBatch:
    """Decode a multi-part message whose parts were kept as `Fragment.line`s.

    The lines may come in any order but must be exactly the parts 1..total of one group
    (same key for `source`); otherwise the result is one "ais_bad_fragment" rejection. Pass the
    first fragment's `ts_ms` as `received_ms` to keep its receive time when there is no tag
    block. The identity equals what the same parts would give inside one payload.
    """
    out = _Collector(received_ms, source)
    raw = "\n".join(line.strip() for line in lines)
    parts: list[_Part] = []
    for line in lines:
        try:
            parts += _parse_line(line.strip())
        except _Reject as r:
            out.reject(r.reason, raw, r.detail)
            return out.batch()
    if not parts:
        out.reject(BAD_FRAGMENT, raw, "no parts")
        return out.batch()
    parts.sort(key=operator.attrgetter("index"))
    key, sig = parts[0].key(source), parts[0].signature()
    if any(p.key(source) != key or p.signature() != sig for p in parts) or [
        p.index for p in parts
    ] != list(range(1, parts[0].total + 1)):
        out.reject(BAD_FRAGMENT, raw, f"not parts 1..{parts[0].total} of one group")
    else:
        out.decode(parts)
    return out.batch()


# --- AIS-catcher JSON ------------------------------------------------------------------------


def _number(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Reject(JSON_MALFORMED, f"{name} is not a number")
    try:
        return float(value)
    except (ValueError, OverflowError):
        raise _Reject(JSON_MALFORMED, f"{name} {value!r} is not a number") from None


def _integer(value: object, name: str) -> int | None:
    num = _number(value, name)
    if num is None:
        return None
    if not math.isfinite(num) or num != int(num):
        raise _Reject(JSON_MALFORMED, f"{name} {value!r} is not an integer")
    return int(num)


def _catcher_time(obj: dict[str, Any]) -> int | None:
    """rxuxtime (unix seconds, maybe fractional), else rxtime "YYYYMMDDHHMMSS" UTC."""
    ux = obj.get("rxuxtime")
    if isinstance(ux, int | float) and not isinstance(ux, bool):
        try:
            return _epoch_ms(float(ux))
        except (ValueError, OverflowError):
            pass
    rx = obj.get("rxtime")
    if isinstance(rx, str) and len(rx) == 14 and rx.isdigit():
        try:
            t = dt.datetime.strptime(rx, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
        except ValueError:
            return None
        return int(t.timestamp()) * 1000
    return None


def _catcher_static(obj: dict[str, Any], msg_type: int) -> dict[str, Any]:
    """The static fields of a type 5, 19 or 24, each keeping only what its type carries: a type
    19 has no call sign, a type 24 part A only the name and part B everything but the name."""
    code = _integer(obj.get("shiptype"), "shiptype") or None
    dims = [_integer(obj.get(k), k) or 0 for k in ("to_bow", "to_stern", "to_port", "to_starboard")]
    part_no = _integer(obj.get("partno"), "partno")
    static: dict[str, Any] = {
        "name": _clean(obj.get("shipname")),
        "callsign": _clean(obj.get("callsign")),
        "ship_type": code,
        "ship_type_text": ship_type_text(code),
        **_dims(*dims),
    }
    if msg_type == 5:
        imo = _integer(obj.get("imo"), "imo") or 0
        static["imo"] = imo if 1_000_000 <= imo <= 9_999_999 else None
        static["destination"] = _clean(obj.get("destination"))
    elif msg_type == 19:
        del static["callsign"]
    elif part_no == 0:
        static = {"name": static["name"]}
    elif part_no == 1:
        del static["name"]
    return static


def _from_catcher_fields(obj: dict[str, Any], ts_ms: int, identity: str) -> VesselUpdate | None:
    """Fallback when the object has no "nmea": AIS-catcher's decoded fields, same rules."""
    msg_type = _integer(obj.get("type"), "type")
    if msg_type is None:
        raise _Reject(JSON_MALFORMED, 'neither "nmea" nor "type"')
    if msg_type not in (1, 2, 3, 5, 18, 19, 24, 27):
        if not 1 <= msg_type <= 27:
            raise _Reject(DECODE_ERROR, f"unknown message type {msg_type}")
        return None
    mmsi = _integer(obj.get("mmsi"), "mmsi")
    if mmsi is None:
        raise _Reject(JSON_MALFORMED, 'no "mmsi"')
    _check_mmsi(mmsi)
    static = _catcher_static(obj, msg_type) if msg_type in (5, 19, 24) else {}
    if msg_type in (5, 24):
        return VesselUpdate(mmsi, ts_ms, msg_type, "static", identity, **static)
    lat, lon = _number(obj.get("lat"), "lat"), _number(obj.get("lon"), "lon")
    if lat is None or lon is None:
        raise _Reject(NO_POSITION, "position report without lat/lon")
    _check_position(lat, lon)
    speed, course = _number(obj.get("speed"), "speed"), _number(obj.get("course"), "course")
    heading = _integer(obj.get("heading"), "heading")
    status = _integer(obj.get("status"), "status")
    accuracy = obj.get("accuracy")
    if msg_type == 27:  # whole knots / degrees, 63 and 511 = not available
        sog = None if speed is None or speed >= 63 else speed
        cog = None if course is None or course >= 360 else course
    else:
        sog = None if speed is None else _sog(speed)
        cog = None if course is None else _cog(course)
    return VesselUpdate(
        mmsi,
        ts_ms,
        msg_type,
        "position",
        identity,
        lat,
        lon,
        sog,
        cog,
        None if heading is None or msg_type == 27 else _heading(heading),
        status if msg_type in (1, 2, 3, 27) and status is not None and 0 <= status <= 15 else None,
        bool(accuracy) if isinstance(accuracy, bool | int) else None,
        **static,
    )


def _catcher_object(obj: object, raw: str, out: _Collector) -> None:
    if not isinstance(obj, dict):
        out.reject(JSON_MALFORMED, raw, "JSON value is not an object")
        return
    cls = obj.get("class", "AIS")
    if cls != "AIS":  # AIS-catcher also publishes e.g. ADS-B objects on request
        out.ignored.append(CLASS_UNUSED)
        return
    time_ms = _catcher_time(obj)
    nmea = obj.get("nmea")
    if isinstance(nmea, str):
        nmea = [nmea]
    if nmea is not None:
        if not isinstance(nmea, list) or not nmea or not all(isinstance(s, str) for s in nmea):
            out.reject(JSON_MALFORMED, raw, '"nmea" is not a list of sentences')
            return
        sub = _Collector(out.received_ms, out.source, time_ms)
        for line in nmea:
            sub.line(line.strip())
        result = sub.batch()
        out.updates += result.updates
        out.rejections += result.rejections
        out.fragments += result.fragments
        out.ignored += result.ignored
        return
    canon = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.blake2b(canon.encode("utf-8", "replace"), digest_size=8).hexdigest()
    identity = digest if time_ms is None else f"{time_ms}-{digest}"
    try:
        upd = _from_catcher_fields(obj, out.received_ms if time_ms is None else time_ms, identity)
    except _Reject as r:
        out.reject(r.reason, raw, r.detail)
        return
    if upd is None:
        out.ignored.append(TYPE_UNUSED)
    else:
        out.updates.append(upd)


def _loads(text: str) -> tuple[object, str | None]:
    try:
        return json.loads(text), None
    except (ValueError, RecursionError) as e:
        return None, str(e)[:200] or type(e).__name__


def parse_aiscatcher_json(payload: bytes, received_ms: int, source: str) -> AisBatch:
    """Decode AIS-catcher JSON output (MQTT MSGFORMAT JSON_NMEA / JSON_FULL, `-o 5`).

    A payload is one object, a JSON array of objects, or JSON Lines. Field names follow
    AIS-catcher's JSON documentation (gpsd-compatible): "class" ("AIS"; other classes are
    counted as ignored), "channel", "rxtime" ("YYYYMMDDHHMMSS" UTC) / "rxuxtime" (unix seconds),
    "mmsi", "type", "lat", "lon", "speed", "course", "heading", "status", "accuracy",
    "shipname", "callsign", "shiptype", "imo", "destination", "to_bow", "to_stern", "to_port",
    "to_starboard", "partno", and "nmea" (list of the raw sentences of the message).

    "nmea" is decoded with the NMEA code path, so results match `parse_payload` on the same
    sentences, except that rxuxtime (else rxtime), when present, replaces the tag-block time
    for `ts_ms` and the identity prefix. Without "nmea" the decoded fields are used with the
    same not-available conventions and checks; their identity hashes the whole object.
    Unparseable JSON gives one "json_malformed" rejection.
    """
    out = _Collector(received_ms, source)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        out.reject(NOT_TEXT, payload.decode("utf-8", "replace"), "payload is not UTF-8")
        return out.batch()
    if not text.strip():
        return out.batch()
    doc, err = _loads(text)
    if err is None:
        items = doc if isinstance(doc, list) else [doc]
        for item in items:
            raw = text.strip() if len(items) == 1 else json.dumps(item, default=str)
            _catcher_object(item, raw, out)
        return out.batch()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    parsed = [(line, *_loads(line)) for line in lines] if len(lines) > 1 else []
    if not any(e is None for _, _, e in parsed):  # one broken document, not JSON Lines
        out.reject(JSON_MALFORMED, text.strip(), err)
        return out.batch()
    for line, value, line_err in parsed:
        if line_err is not None:
            out.reject(JSON_MALFORMED, line, line_err)
        elif isinstance(value, list):
            for item in value:
                _catcher_object(item, json.dumps(item, default=str), out)
        else:
            _catcher_object(value, line, out)
    return out.batch()
