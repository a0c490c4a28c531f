"""NMEA framing of AIS lines with pyais: the sentence and its IEC 61162-450 tag block are parsed
by pyais' `NMEASentenceFactory` and `TagBlock`; pyais' errors map to our stable reason codes,
and the few things pyais lets through (six-bit armour, radio channel, field count, the tag
block's field syntax) are checked here so that every bad line keeps one precise reason.

A physical line may hold several sentences one after the other (the "joined" format written
by some archivers, e.g. GFW ais-tools), and a receiver may append its own fields after the
checksum (libais' ",r003669945,1165850270", a stray quote): `split_line` cuts those off before
pyais sees the sentence.
"""

from __future__ import annotations

import math
import re

from pyais.exceptions import InvalidNMEAMessageException, UnknownMessageException
from pyais.messages import AISSentence, NMEASentenceFactory, TagBlock

from ingest.ais_types import (
    BAD_CHECKSUM,
    BAD_FRAGMENT,
    BAD_TAGBLOCK,
    MALFORMED,
    NMEA_NOT_AIS,
    Reject,
)

MAX_PAYLOAD_CHARS = 200  # per sentence; the longest AIS message (5 slots) is 168 characters
LATEST_MS = 4_102_444_800_000  # 2100-01-01: later receiver clocks are corrupt, not real

_HEX = frozenset("0123456789abcdefABCDEF")
_CHANNELS = frozenset({"", "A", "B", "1", "2", "C", "D"})  # C/D: long-range channels 75/76
_ARMOR_RE = re.compile(rb"[0-W`-w]+")  # the 64 six-bit armour characters
_TALKER_RE = re.compile(r"![A-Z]{2}VD[MO]")
_NMEA_RE = re.compile(r"[$!][A-Z][A-Z0-9][A-Z]{3}")  # any other NMEA 0183 sentence
_GROUP_RE = re.compile(r"(\d{1,4})-(\d{1,4})-(\d{1,12})")


class Part:
    """One parsed NMEA sentence (one fragment of an AIS message)."""

    __slots__ = (
        "bv",
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
        "unverified",
    )

    def __init__(self, text: str, sentence: str, s: AISSentence, tb: TagInfo | None) -> None:
        self.text = text  # as received: tag block + sentence + trailing receiver fields
        self.sentence = sentence  # '!AIVDM,…*hh' only
        self.tag = sentence[1:6]
        self.total: int = s.frag_cnt
        self.index: int = s.frag_num
        self.seq = "" if s.seq_id is None else str(s.seq_id)
        self.channel: str = s.channel
        self.payload: str = s.payload.decode("ascii")
        self.fill: int = s.fill_bits
        self.bv = (
            s.bv
        )  # pyais' bit vector of this sentence's payload (reused for one-part messages)
        self.tb_ms = None if tb is None else tb.ms
        self.group = None if tb is None else tb.group  # tag-block g: (index, total, group id)
        self.unverified = tb is not None and tb.unverified

    # The talker is no part of a group's key: real receivers and archives label the parts of
    # one message differently (a GFW sample has !ABVDM part 1, !AIVDM part 2), and gpsd joins
    # them all the same.
    def key(self, source: str) -> str:
        if self.group is not None:
            return f"{source}|g|{self.group[2]}"
        return f"{source}|{self.channel}|{self.seq}|{self.total}"

    def signature(self) -> tuple[str, str, int]:
        return (self.channel, self.seq, self.total)


class TagInfo:
    __slots__ = ("group", "ms", "unverified")

    def __init__(self, ms: int | None, group: tuple[int, int, str] | None, unverified: bool):
        self.ms = ms
        self.group = group
        self.unverified = unverified


def epoch_ms(value: float) -> int:
    """Receiver time in seconds, or milliseconds when > 10^11, to validated epoch ms."""
    if not math.isfinite(value) or value < 0:
        raise ValueError("time not finite or negative")
    ms = round(value) if value > 1e11 else round(value * 1000)
    if ms > LATEST_MS:
        raise ValueError("time after 2100")
    return ms


def parse_tagblock(body: str) -> TagInfo:
    """A tag block (between the backslashes) through pyais' `TagBlock`.

    A checksum of `*00` where the fields' checksum is not 0 means "not computed": a national
    network's receivers and Spire's feed write it. The block is then kept as unverified
    metadata (its time and group used as given) and the sentence, which has its own checksum,
    decoded. Any other wrong checksum is a corrupted block: `ais_bad_tagblock`.
    """
    tb = TagBlock(body.encode("ascii"))
    tb.init()
    if tb.expected_checksum < 0:  # pyais: no '*', a second '*', or not hex
        raise Reject(BAD_TAGBLOCK, "tag block checksum missing or not hex")
    unverified = False
    if not tb.is_valid:
        if tb.expected_checksum != 0:
            exp, act = tb.expected_checksum, tb.actual_checksum
            raise Reject(BAD_TAGBLOCK, f"tag block checksum {exp:02X} != {act:02X}")
        unverified = True
    # pyais skips fields it cannot read; a field that is not code:value or a group that is
    # not n-m-id is a corrupted block, not one to half-read.
    fields = body[: body.rfind("*")]
    for item in fields.split(",") if fields else ():
        code, colon, value = item.partition(":")
        if not colon or not code:
            raise Reject(BAD_TAGBLOCK, f"tag block field {item!r} is not code:value")
        if code == "g" and _GROUP_RE.fullmatch(value) is None:
            raise Reject(BAD_TAGBLOCK, f"tag block group {value!r} is not n-m-id")
    ms: int | None = None
    stamp = tb.receiver_timestamp
    if stamp is not None:
        try:
            ms = epoch_ms(int(stamp) if stamp.isdigit() else float(stamp))
        except (ValueError, OverflowError) as e:
            raise Reject(BAD_TAGBLOCK, f"tag block time {stamp!r}: {e}") from None
    group: tuple[int, int, str] | None = None
    g = tb.group
    if g is not None:
        if not 1 <= g.sentence_num <= g.sentence_tot:
            raise Reject(
                BAD_TAGBLOCK, f"tag block group {g}: sentence {g.sentence_num} of {g.sentence_tot}"
            )
        group = (g.sentence_num, g.sentence_tot, str(g.group_id))
    return TagInfo(ms, group, unverified)


def _frame_error(e: InvalidNMEAMessageException) -> Reject:
    text = str(e)
    if text.startswith("invalid fragment"):  # "... number 2 (valid: 1-1)", "... count 12 ..."
        if " 0 (" in text:
            return Reject(MALFORMED, f"{text}: numbers start at 1")
        return Reject(BAD_FRAGMENT, text)
    if text.startswith("invalid fill bit"):
        return Reject(MALFORMED, text)
    return Reject(MALFORMED, "fields are not those of a VDM/VDO sentence")


def _check_fields(s: AISSentence, sentence: str) -> None:
    """What pyais reads without checking."""
    if len(s.data_fields) != 5:
        raise Reject(MALFORMED, f"{len(s.data_fields) + 2} fields, a VDM/VDO sentence has 7")
    if _TALKER_RE.match(sentence) is None:
        raise Reject(MALFORMED, f"sentence {sentence[:6]!r} is not a VDM/VDO sentence")
    if s.seq_id is not None and not 0 <= s.seq_id <= 9:
        raise Reject(MALFORMED, f"sequence id {s.seq_id}")
    if s.channel not in _CHANNELS:
        raise Reject(MALFORMED, f"radio channel {s.channel!r}")
    payload = s.payload
    if not payload or len(payload) > MAX_PAYLOAD_CHARS or _ARMOR_RE.fullmatch(payload) is None:
        raise Reject(MALFORMED, "payload empty, too long or not six-bit armoured")
    if s.fill_bits >= 6 * len(payload):
        raise Reject(MALFORMED, f"fill bits {s.fill_bits}")


def parse_sentence(text: str, sentence: str, tb: TagInfo | None) -> Part:
    """`sentence` runs from the '!' through the two checksum digits."""
    if not _HEX.issuperset(sentence[-2:]):
        raise Reject(MALFORMED, f"checksum {sentence[-2:]!r} is not hex")
    if sentence[-5:-4] != "," or not sentence[-4].isdigit():  # pyais reads "" as 0 fill bits
        raise Reject(MALFORMED, f"fill bits {sentence[-5:-3]!r}")
    try:
        s = NMEASentenceFactory.produce(sentence.encode("ascii"))
    except UnknownMessageException:
        if _NMEA_RE.match(sentence):
            raise Reject(NMEA_NOT_AIS, f"{sentence[1:6]} sentence") from None
        raise Reject(MALFORMED, f"sentence {sentence[:8]!r} is not NMEA") from None
    except InvalidNMEAMessageException as e:
        raise _frame_error(e) from None
    if not isinstance(s, AISSentence):  # a Gatehouse $..HP wrapper
        raise Reject(NMEA_NOT_AIS, f"{sentence[1:6]} sentence")
    if not s.is_valid:
        raise Reject(BAD_CHECKSUM, f"checksum {s.checksum:02X} is not that of the sentence")
    _check_fields(s, sentence)
    if tb is not None and tb.group is not None:
        gi, gt, _ = tb.group
        if gi != s.frag_num or gt != s.frag_cnt:
            raise Reject(
                BAD_FRAGMENT,
                f"tag block group {gi}-{gt} disagrees with fragment {s.frag_num} of {s.frag_cnt}",
            )
    return Part(text, sentence, s, tb)


def split_line(line: str) -> list[Part]:
    """Split a line into its sentences (normally one) and parse each with its tag block."""
    if not line.isascii():
        raise Reject(MALFORMED, "NMEA is ASCII, the line is not")
    parts: list[Part] = []
    pos, n = 0, len(line)
    while pos < n:
        start = pos
        tb: TagInfo | None = None
        if line[pos] == "\\":
            end = line.find("\\", pos + 1)
            if end < 0:
                raise Reject(BAD_TAGBLOCK, "tag block not closed by '\\'")
            tb = parse_tagblock(line[pos + 1 : end])
            pos = end + 1
        if pos >= n or line[pos] not in "!$":
            raise Reject(MALFORMED, "no '!' sentence" + (" after the tag block" if pos else ""))
        star = line.find("*", pos)
        if star < 0:
            raise Reject(MALFORMED, "no '*' checksum")
        sentence = line[pos : star + 3]
        if len(sentence) < star + 3 - pos or "\\" in sentence or "!" in sentence[1:]:
            raise Reject(MALFORMED, "sentence truncated before its checksum")
        # Whatever follows the checksum up to the next sentence is receiver metadata.
        nxt = star + 3
        if nxt < n:
            ends = [i for i in (line.find("\\", nxt), line.find("!", nxt)) if i >= 0]
            nxt = min(ends) if ends else n
        parts.append(parse_sentence(line[start:nxt].rstrip(), sentence, tb))
        pos = nxt
    return parts
