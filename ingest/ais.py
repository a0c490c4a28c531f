"""Pure AIS decoding: raw NMEA (with optional IEC 61162-450 tag blocks) or AIS-catcher JSON in,
vessel updates, rejections and pending multi-part fragments out. No Redis, no MQTT.

The work is split in small modules: `ingest.ais_nmea` frames sentences and tag blocks with
pyais, `ingest.ais_bits` decodes an assembled payload with pyais' message classes (and says
which payload lengths are accepted), `ingest.ais_collect` groups the parts of multi-part
messages, `ingest.ais_catcher` reads AIS-catcher JSON through a pydantic model. This module is
their front door.

Grouping of multi-part messages inside one payload is streaming, in line order:

* a part joins the pending group of its key (tag-block group id when present, else
  source/talker/channel/sequence id/total); a group decodes as soon as all its parts are there;
* a part whose index is already taken starts a new group: the old one can never complete. If
  the old group had its first part (it began in this payload) its parts are rejected
  ("ais_bad_fragment"); if not, its parts may complete parts held from an earlier payload, so
  they become `Fragment`s;
* groups still incomplete at the end of the payload become `Fragment`s for the worker to keep
  in Redis until the rest arrives (a worker may die between parts); it then calls
  `assemble_fragments`.

Each non-blank line yields at most one outcome (an update, a rejection, an ignored message or
a fragment); the lines of a group decoded together share one outcome.
"""

from __future__ import annotations

from ingest.ais_bits import ARMOR_VALUE, ship_type_text
from ingest.ais_catcher import parse_aiscatcher_json
from ingest.ais_collect import Collector, text_lines
from ingest.ais_types import (
    BAD_CHECKSUM,
    BAD_FRAGMENT,
    BAD_MMSI,
    BAD_TAGBLOCK,
    CLASS_UNUSED,
    DECODE_ERROR,
    JSON_MALFORMED,
    MALFORMED,
    NMEA_NOT_AIS,
    NO_POSITION,
    NO_VESSEL_DATA,
    NOT_TEXT,
    REASONS,
    TYPE_UNUSED,
    AisBatch,
    Fragment,
    Rejection,
    VesselUpdate,
)

__all__ = [
    "ARMOR_VALUE",
    "BAD_CHECKSUM",
    "BAD_FRAGMENT",
    "BAD_MMSI",
    "BAD_TAGBLOCK",
    "CLASS_UNUSED",
    "DECODE_ERROR",
    "JSON_MALFORMED",
    "MALFORMED",
    "NMEA_NOT_AIS",
    "NOT_TEXT",
    "NO_POSITION",
    "NO_VESSEL_DATA",
    "REASONS",
    "TYPE_UNUSED",
    "AisBatch",
    "Fragment",
    "Rejection",
    "VesselUpdate",
    "assemble_fragments",
    "parse_aiscatcher_json",
    "parse_payload",
    "ship_type_text",
]


def parse_payload(payload: bytes, received_ms: int, source: str) -> AisBatch:
    """Decode what an AIS receiver published: one or many NMEA lines.

    Lines are separated by LF, CRLF or CR; blank lines are skipped. Each line is an
    `!xxVDM`/`!xxVDO` sentence (any talker), optionally preceded by a `\\…*hh\\` tag block
    (`c:` gives the time, `g:` the group; a `*00` checksum is taken as unverified) and followed
    by receiver fields. Other NMEA sentences (a receiver's own GPS fix) are ignored.
    `ts_ms` is the tag-block time, else `received_ms`; `identity` names the transmission
    (ingest.ais_bits.identity), whichever receiver heard it.
    """
    out = Collector(received_ms, source)
    for line in text_lines(payload, out):
        out.line(line)
    return out.batch()


def assemble_fragments(lines: list[str], received_ms: int, source: str) -> AisBatch:
    """Decode a multi-part message whose parts were kept as `Fragment.line`s.

    The lines may come in any order but must be exactly the parts 1..total of one group
    (same key for `source`); otherwise the result is one "ais_bad_fragment" rejection. Pass the
    first fragment's `ts_ms` as `received_ms` to keep its receive time when there is no tag
    block. The identity equals what the same parts would give inside one payload.
    """
    out = Collector(received_ms, source)
    out.assemble(lines)
    return out.batch()
