"""What AIS decoding returns (vessel updates, rejections, parts kept for later) and the stable
reason codes the dead-letter stream and the counters key on. No Redis, no MQTT."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
# navigation, ...), an AIS-catcher object of another class (ADS-B, say), or another NMEA
# sentence a receiver interleaves with its AIS lines (its own GPS fix: $GPRMC, $GPGSA, ...).
TYPE_UNUSED = "ais_type_unused"
CLASS_UNUSED = "ais_class_unused"
NMEA_NOT_AIS = "nmea_not_ais"
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


@dataclass(frozen=True, slots=True)
class VesselUpdate:
    """One decoded vessel message. None means "not available" in the message.

    `ts_ms` is the receiver's time of the transmission (tag-block or AIS-catcher time, else the
    payload's receipt); `seq` orders messages of equal `ts_ms` by receipt (payload receipt in
    ms x 1000 + line of the payload), so the latest position follows the order in which a
    vessel transmitted and, without a receiver time, the order of receipt. `identity` names
    the transmission, never the receiver: the same transmission heard by several receivers
    gets one identity, so the store applies it once.
    """

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
    seq: int = 0
    # the tag block's checksum was '*00' (not computed, common in real feeds): its time and
    # group were used as received, unverified
    unverified_tagblock: bool = False


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


class Reject(Exception):  # control flow inside the AIS modules: never escapes ingest.ais
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
