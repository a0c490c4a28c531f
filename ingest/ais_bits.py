"""Bit-level decoding of one assembled AIS payload into a `VesselUpdate` (pyais' message classes
and ship-type table), the payload lengths accepted, and the identity of a transmission."""

from __future__ import annotations

import hashlib
import math
from typing import Any

from pyais.bit_vector import bit_vector
from pyais.constants import ShipType
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

from ingest.ais_types import BAD_MMSI, DECODE_ERROR, NO_POSITION, Reject, VesselUpdate

# Accepted payload lengths in bits: (shortest, longest; None = no limit). The yardstick is
# gpsd (Debian's gpsdecode), which reads a message by its standard fields and ignores bits
# beyond them; real feeds carry such messages (a 186-bit type 1 heard from a real ship, type 5
# of 426-462 bits), and refusing them loses ships an independent decoder keeps. Shorter than
# standard only where the bits cut off hold nothing we read:
# - 1, 2, 3: 168 standard; from 163 (only the 19-bit radio status, unread, is short).
# - 5: 424 standard; from 420 (many transmitters send 420 or 422: the last bits are the
#   destination's padding and the DTE flag).
# - 18: 168, 19: 312, 24 part B: 168: the standard length or longer.
# - 24 part A: 160-168 (the name ends at bit 160; some transmitters send the 168 of part B).
# - 27: exactly 96 (a long-range broadcast: any other length is another message).
_BITS: dict[int, tuple[int, int | None]] = {
    1: (163, None),
    2: (163, None),
    3: (163, None),
    5: (420, None),
    18: (168, None),
    19: (312, None),
    27: (96, 96),
}
_BITS_24 = {0: (160, 168), 1: (168, None)}
_CLASSES: dict[int, Any] = {
    1: MessageType1,
    2: MessageType2,
    3: MessageType3,
    5: MessageType5,
    18: MessageType18,
    19: MessageType19,
    24: MessageType24,
    27: MessageType27,
}
ARMOR_VALUE = {c: (c - 48 - 8 if c - 48 > 40 else c - 48) for c in range(48, 120)}
TOLERANCE_S = 5  # a receiver clock this far behind the ship's still names the right minute


def _label(name: str) -> str:
    """pyais' enum name to a short English label: "PleasureCraft_..." -> "Pleasure craft"."""
    head = name.split("_", 1)[0]
    if head.isupper():  # WIG
        return head
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in head).split()
    return " ".join(words).capitalize()


# pyais' table of the ship-and-cargo codes (ITU-R M.1371 table 53), as short labels.
_SHIP_TYPE_TEXT: dict[int, str] = {
    code: _label(ShipType(code).name) for code in range(1, 100) if ShipType(code).value == code
}


def ship_type_text(code: int | None) -> str | None:
    """Short English label of an AIS ship-and-cargo code; None for 0 (not available)."""
    if not code:
        return None
    return _SHIP_TYPE_TEXT.get(code, "Reserved")


def clean(text: object) -> str | None:
    """AIS text: '@' is padding; empty means not available."""
    if not isinstance(text, str):
        return None
    return text.strip(" @") or None


def dims(bow: int, stern: int, port: int, starboard: int) -> dict[str, int | None]:
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


def check_position(lat: float, lon: float) -> None:
    if lat == 91 or lon == 181:
        raise Reject(NO_POSITION, "position not available (lat 91 / lon 181)")
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise Reject(NO_POSITION, f"position out of range: lat {lat}, lon {lon}")


def check_mmsi(mmsi: int) -> None:
    if not 1 <= mmsi <= 999_999_999:
        raise Reject(BAD_MMSI, f"mmsi {mmsi} out of 1..999999999")


def sog(speed: float) -> float | None:
    return None if speed > 102.25 else speed  # 1023 raw = not available


def cog(course: float) -> float | None:
    return None if course >= 360 else course  # 3600 raw = not available, above is invalid


def heading(value: int) -> int | None:
    return None if value >= 360 else value  # 511 = not available


def identity(payload: str, fill: int, time_ms: int, second: int | None) -> str:
    """The name of one transmission, whichever receiver heard it.

    The digest covers the message's bits (payload and fill), not the sentence: receivers
    number multi-part sequences and name talkers their own way. `time_ms` is the receiver's
    time (tag block, else receipt); the transmission's time is added so that a vessel sending
    the same bits again later (moored, or a type 27 every 3 minutes) is a new report: for a
    report carrying its UTC second, the latest time with that second up to `TOLERANCE_S` after
    the receiver's, which receivers whose clocks differ by less than a minute agree on; else
    the receiver's minute. Identical bits within that minute are one transmission: the same
    second, or a message that no ship repeats within a minute. A redelivery keeps the identity
    as long as it keeps its receiver time (a tag block; the embedded broker's inbox keeps the
    receipt time)."""
    digest = hashlib.blake2b(f"{payload},{fill}".encode("ascii"), digest_size=8).hexdigest()
    if second is None or second >= 60:  # 60-63: time stamp not available
        return f"m{time_ms // 60_000}-{digest}"
    t = time_ms // 1000 + TOLERANCE_S
    return f"{t - (t - second) % 60}-{digest}"


def decode(payload: str, fill: int, bv: Any, ts_ms: int, seq: int) -> VesselUpdate | None:
    """Decode an assembled payload; None for valid messages that are not vessel updates.
    `bv` is pyais' bit vector of the payload when the caller has it (one-part messages)."""
    msg_type = ARMOR_VALUE[ord(payload[0])]
    nbits = 6 * len(payload) - fill
    if msg_type == 0 or msg_type > 27:
        raise Reject(DECODE_ERROR, f"unknown message type {msg_type}")
    if msg_type == 24:
        if nbits < 40:
            raise Reject(DECODE_ERROR, f"type 24 of {nbits} bits")
        part_no = ARMOR_VALUE[ord(payload[6])] >> 2 & 3  # bits 38-39
        bounds = _BITS_24.get(part_no)
        if bounds is None:
            raise Reject(DECODE_ERROR, f"type 24 part number {part_no}")
    else:
        bounds = _BITS.get(msg_type)
        if bounds is None:
            return None  # 4, 8, 21, …: valid AIS, not a vessel update; not worth decoding
    low, high = bounds
    if nbits < low or (high is not None and nbits > high):
        want = f"{low}" if low == high else f"{low}-{high}" if high else f"at least {low}"
        raise Reject(DECODE_ERROR, f"type {msg_type} has {nbits} bits, expected {want}")
    try:
        if bv is None:
            bv = bit_vector(payload.encode("ascii"), fill)
        m = _CLASSES[msg_type].from_vector(bv)
    except Exception as e:  # pyais raises assorted errors on odd bit patterns
        raise Reject(DECODE_ERROR, f"pyais: {type(e).__name__}: {e}") from None
    second = getattr(m, "second", None)
    ident = identity(payload, fill, ts_ms, second if isinstance(second, int) else None)
    return _update(msg_type, m, ts_ms, ident, seq)


def _update(msg_type: int, m: Any, ts_ms: int, ident: str, seq: int) -> VesselUpdate:
    mmsi = int(m.mmsi)
    check_mmsi(mmsi)
    if msg_type in (1, 2, 3, 18, 19):
        check_position(m.lat, m.lon)
        static: dict[str, Any] = {}
        if msg_type == 19:
            code = int(m.ship_type) or None
            static = {
                "name": clean(m.shipname),
                "ship_type": code,
                "ship_type_text": ship_type_text(code),
                **dims(m.to_bow, m.to_stern, m.to_port, m.to_starboard),
            }
        return VesselUpdate(
            mmsi,
            ts_ms,
            msg_type,
            "position",
            ident,
            m.lat,
            m.lon,
            sog(m.speed),
            cog(m.course),
            heading(m.heading),
            int(m.status) if msg_type <= 3 else None,
            bool(m.accuracy),
            seq=seq,
            **static,
        )
    if msg_type == 27:
        check_position(m.lat, m.lon)
        speed, course = int(m.speed), int(m.course)
        return VesselUpdate(
            mmsi,
            ts_ms,
            27,
            "position",
            ident,
            m.lat,
            m.lon,
            None if speed >= 63 else float(speed),
            None if course >= 360 else float(course),
            None,
            int(m.status),
            bool(m.accuracy),
            seq=seq,
        )
    if msg_type == 5:
        code = int(m.ship_type) or None
        imo = int(m.imo)
        return VesselUpdate(
            mmsi,
            ts_ms,
            5,
            "static",
            ident,
            name=clean(m.shipname),
            callsign=clean(m.callsign),
            ship_type=code,
            ship_type_text=ship_type_text(code),
            imo=imo if 1_000_000 <= imo <= 9_999_999 else None,  # IMO numbers have 7 digits
            destination=clean(m.destination),
            seq=seq,
            **dims(m.to_bow, m.to_stern, m.to_port, m.to_starboard),
        )
    # type 24
    if m.partno == 0:
        return VesselUpdate(mmsi, ts_ms, 24, "static", ident, name=clean(m.shipname), seq=seq)
    code = int(m.ship_type) or None
    hull = {}
    if hasattr(m, "to_bow"):  # auxiliary craft (98xxxxxxx) carry a mothership MMSI instead
        hull = dims(m.to_bow, m.to_stern, m.to_port, m.to_starboard)
    return VesselUpdate(
        mmsi,
        ts_ms,
        24,
        "static",
        ident,
        callsign=clean(m.callsign),
        ship_type=code,
        ship_type_text=ship_type_text(code),
        seq=seq,
        **hull,
    )
