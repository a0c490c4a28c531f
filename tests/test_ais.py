"""ingest.ais against real receiver samples (libais, gfw ais-tools), hand-written AIS-catcher
JSON, cross-payload reassembly and property tests."""

from __future__ import annotations

import functools
import json
import math
import operator
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyais import encode_dict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest import ais

DATA = Path(__file__).resolve().parent / "data" / "ais"
GFW = DATA / "gfw_ais_tools"
RX_MS = 1_700_000_000_000
SRC = "rx-test"


# --- helpers --------------------------------------------------------------------------------


def xor_hex(text: str) -> str:
    return f"{functools.reduce(operator.xor, text.encode(), 0):02X}"


def sentence(body: str) -> str:
    """'AIVDM,1,1,,A,…,0' -> '!AIVDM,1,1,,A,…,0*hh' with a correct checksum."""
    return f"!{body}*{xor_hex(body)}"


def tagblock(fields: str) -> str:
    return f"\\{fields}*{xor_hex(fields)}\\"


def parse(text: str, received_ms: int = RX_MS, source: str = SRC) -> ais.AisBatch:
    return ais.parse_payload(text.encode(), received_ms, source)


def sample(name: str) -> bytes:
    return (GFW / name).read_bytes()


def reasons(batch: ais.AisBatch) -> list[str]:
    return [r.reason for r in batch.rejections]


def outcomes(batch: ais.AisBatch) -> int:
    return len(batch.updates) + len(batch.rejections) + len(batch.fragments) + len(batch.ignored)


def nonblank_lines(data: bytes) -> int:
    return sum(1 for line in data.splitlines() if line.strip())


def aiscatcher(obj: object, received_ms: int = RX_MS) -> ais.AisBatch:
    return ais.parse_aiscatcher_json(json.dumps(obj).encode(), received_ms, SRC)


def sans_time(u: ais.VesselUpdate) -> dict[str, object]:
    d = {f: getattr(u, f) for f in u.__slots__}  # type: ignore[attr-defined]
    del d["ts_ms"], d["identity"], d["seq"]
    return d


def sans_seq(u: ais.VesselUpdate) -> dict[str, object]:
    """All but the receipt order (which line of which payload completed the message)."""
    d = {f: getattr(u, f) for f in u.__slots__}  # type: ignore[attr-defined]
    del d["seq"]
    return d


# Real sentences reused by several tests.
POS_1 = "!AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0*30"  # mmsi 367033650, libais line 2
EE_STATIC_1 = GFW.joinpath("ee-multiline.nmea").read_text().splitlines()[1:3]  # g:…-1278 type 5


# --- (a) libais typeexamples ------------------------------------------------------------------

VESSEL_TYPES = {1, 2, 3, 5, 18, 19, 24, 27}


def libais_pairs() -> list[tuple[str, dict[str, object]]]:
    nmea = (DATA / "libais" / "typeexamples.nmea").read_text().splitlines()
    expected = [
        json.loads(s) for s in (DATA / "libais" / "typeexamples.json").read_text().splitlines()
    ]
    # The JSON is libais' decode of the .nmea file, one line each, in the same order.
    assert len(nmea) == len(expected) == 26
    for line, exp in zip(nmea, expected, strict=True):
        payload = line.split(",")[5]
        assert ais.ARMOR_VALUE[ord(payload[0])] == exp["type"]
    return list(zip(nmea, expected, strict=True))


def strip_at(text: object) -> str | None:
    return None if text is None else (str(text).strip("@ ") or None)


def in_range(exp: dict[str, object]) -> bool:
    return -90 <= float(exp["lat"]) <= 90 and -180 <= float(exp["lon"]) <= 180  # type: ignore[arg-type]


@pytest.mark.parametrize(("line", "exp"), libais_pairs(), ids=lambda v: str(v)[:24])
def test_libais_typeexamples(line: str, exp: dict[str, object]) -> None:
    batch = parse(line)
    assert outcomes(batch) == 1
    if exp["type"] not in VESSEL_TYPES:
        assert len(batch.ignored) == 1
        return
    if "lat" in exp and exp["type"] != 5 and not in_range(exp):
        # libais' fuzzed type 27 (lon 200.2) and type 2 (lat -101.5): no usable position.
        assert reasons(batch) == ["ais_no_position"]
        return
    assert not batch.rejections
    (u,) = batch.updates
    assert (u.mmsi, u.msg_type, u.ts_ms) == (exp["mmsi"], exp["type"], RX_MS)
    if "lat" in exp:
        assert u.kind == "position"
        assert u.lat == pytest.approx(exp["lat"], abs=1e-4)
        assert u.lon == pytest.approx(exp["lon"], abs=1e-4)
        assert u.sog_kn == pytest.approx(exp["speed"], abs=0.05)
        assert u.cog == pytest.approx(exp["course"], abs=0.05)
        assert u.heading == (None if exp["heading"] == 511 else exp["heading"])
        assert u.accuracy == exp["accuracy"]
        assert u.nav_status == exp.get("status")
    else:
        assert u.kind == "static"
        assert u.lat is None and u.lon is None
    assert u.name == strip_at(exp.get("shipname"))
    assert u.callsign == strip_at(exp.get("callsign"))
    if exp["type"] == 5:
        assert u.ship_type == exp["shiptype"] == 80 and u.ship_type_text == "Tanker"
        assert u.imo == int(exp["imo"])  # type: ignore[call-overload]
        assert u.destination == strip_at(exp["destination"])
        assert (u.dim_bow, u.dim_stern, u.dim_port, u.dim_starboard) == (
            exp["to_bow"],
            exp["to_stern"],
            exp["to_port"],
            exp["to_starboard"],
        )
        assert (u.length_m, u.beam_m) == (101, 18)


def test_libais_file_as_one_payload_with_receiver_fields() -> None:
    data = (DATA / "libais" / "typeexamples.nmea").read_bytes()
    batch = ais.parse_payload(data, RX_MS, SRC)
    assert [u.msg_type for u in batch.updates] == [1, 5, 3, 18, 24]
    assert reasons(batch) == ["ais_no_position", "ais_no_position"]
    assert len(batch.ignored) == 19 and not batch.fragments
    assert batch.updates[3].name is None and batch.updates[4].name == "R/V GULF CHALLENGER"


# --- (b) gfw ais-tools samples ----------------------------------------------------------------


def test_errors_sample() -> None:
    # Lines 1 and 3: checksums fine, 31 characters (186 bits) for a 168-bit type 3 / type 1:
    # read by their standard fields, as gpsd does (ingest/ais_bits.py). Lines 2 and 4: the
    # same cut to 28 characters, keeping the old checksum. Line 5 is good.
    batch = ais.parse_payload(sample("errors.nmea"), RX_MS, SRC)
    assert reasons(batch) == ["ais_bad_checksum", "ais_bad_checksum"]
    assert [(u.mmsi, u.msg_type, u.ts_ms) for u in batch.updates] == [
        (244000953, 3, 1699401684000),
        (205252690, 1, 1699401689000),
        (205252690, 1, 1699401978000),
    ]
    u = batch.updates[2]
    assert u.lat == pytest.approx(51.276033) and u.lon == pytest.approx(4.240385)
    assert batch.updates[1].identity != u.identity  # two transmissions of one ship
    assert batch.rejections[0].raw.startswith("\\s:rMT6214")


def test_type1_bad_bitcount_sample_is_read_by_its_standard_fields() -> None:
    # 186-bit type 1/3 reports from several receivers: gpsd reads them, so do we.
    data = sample("type1-bad-bitcount.nmea")
    batch = ais.parse_payload(data, RX_MS, SRC)
    assert not batch.rejections and len(batch.updates) == 12
    assert {u.msg_type for u in batch.updates} == {1, 3}
    u = batch.updates[0]
    assert (u.mmsi, u.lat, u.lon) == (241133000, pytest.approx(38.048117), pytest.approx(24.317623))


def test_bad_type5_sample() -> None:
    # Three joined 2-part type 5 lines, then three bare payloads (not NMEA at all): line 1
    # mixes talkers (!ABVDM part 1, !AIVDM part 2), one message all the same (gpsd joins them)
    # of 448 bits; line 2 has 400 bits (type 5 is 424, at least 420 accepted); line 3 has 444.
    # The long ones are read by their standard fields.
    batch = ais.parse_payload(sample("bad-type5.nmea"), RX_MS, SRC)
    assert reasons(batch) == ["ais_decode_error", "ais_malformed", "ais_malformed", "ais_malformed"]
    assert "400 bits" in batch.rejections[0].detail
    assert [(u.mmsi, u.msg_type, u.ts_ms, u.name) for u in batch.updates] == [
        (255917000, 5, 1698785948000, "IVER ACTION"),
        (211265330, 5, 1698785964000, "BELLEZA"),
    ]
    assert not batch.fragments and len(batch.ignored) == 0


def test_bad_tagblock_group_sample() -> None:
    # g:1-2--001: a group field with an extra '-', on both parts (tag-block checksums are fine).
    batch = ais.parse_payload(sample("bad-tagblock-group.nmea"), RX_MS, SRC)
    assert reasons(batch) == ["ais_bad_tagblock", "ais_bad_tagblock"]
    assert all("group" in r.detail for r in batch.rejections)


def test_multi_part_sample() -> None:
    data = sample("multi-part.nmea")
    batch = ais.parse_payload(data, RX_MS, SRC)
    assert not batch.rejections and not batch.fragments
    assert len(batch.ignored) == 33  # multi-part types 6, 8, 12, 14, 17
    assert [u.msg_type for u in batch.updates] == [5] * 10
    by_mmsi = {u.mmsi: u for u in batch.updates}
    u = by_mmsi[538008840]
    assert (u.name, u.callsign, u.ship_type, u.ship_type_text, u.imo, u.destination) == (
        "SUNNY VICTORY",
        "V7A2570",
        80,
        "Tanker",
        9288760,
        "VANCOUVER PCT",
    )
    assert (u.dim_bow, u.dim_stern, u.dim_port, u.dim_starboard, u.length_m, u.beam_m) == (
        149,
        35,
        22,
        10,
        184,
        32,
    )
    assert by_mmsi[413773184].ship_type is None and by_mmsi[413773184].length_m is None
    # 93 lines: each line belongs to exactly one message outcome.
    assert nonblank_lines(data) == 93
    assert outcomes(batch) == 43


def test_ee_multiline_sample_groups_by_tagblock_group() -> None:
    batch = ais.parse_payload(sample("ee-multiline.nmea"), RX_MS, SRC)
    assert not batch.rejections and not batch.fragments and len(batch.ignored) == 0
    assert [u.msg_type for u in batch.updates] == [3, 5, 1, 3, 5, 1, 1, 3]
    static = [u for u in batch.updates if u.kind == "static"]
    assert [(u.mmsi, u.ts_ms) for u in static] == [
        (417178141, 1661782369000),
        (241709000, 1661782458000),
    ]
    u = static[0]
    assert (u.name, u.callsign, u.ship_type, u.ship_type_text, u.length_m, u.beam_m) == (
        "IMULA 1781 MTR",
        "4SFTEST",
        30,
        "Fishing",
        16,
        6,
    )
    # a type 5 has no time stamp: its identity holds the receiver's minute
    assert u.identity.startswith(f"m{1661782369000 // 60_000}-")


def test_tagblock_groups_may_interleave() -> None:
    lines = GFW.joinpath("ee-multiline.nmea").read_text().splitlines()
    a1, a2, b1, b2 = lines[1], lines[2], lines[5], lines[6]  # groups 1278 and 1279
    batch = parse("\n".join([a1, b1, b2, a2]))
    assert [u.mmsi for u in batch.updates] == [241709000, 417178141]
    assert not batch.fragments and not batch.rejections


def test_spire_sample_unchecked_tagblocks_are_kept_unverified() -> None:
    # Spire writes '*00' (not computed) as tag-block checksum: the block is kept as unverified
    # metadata and the sentence, whose own checksum is right, decoded. Line 2 claims sentence
    # 2 of a 1-part group: a corrupt block all the same.
    data = sample("spire-test.nmea")
    batch = ais.parse_payload(data, RX_MS, SRC)
    (u,) = batch.updates  # joined 2-part type 5, nearly all fields empty
    assert (u.mmsi, u.msg_type, u.ts_ms, u.name, u.callsign, u.unverified_tagblock) == (
        2424139,
        5,
        1662052384000,
        None,
        None,
        True,
    )
    assert reasons(batch) == ["ais_bad_tagblock"] and "2 of 1" in batch.rejections[0].detail
    fixed_tb = tagblock("c:1662052384,s:FM112")
    line1 = data.decode().splitlines()[0].replace("\\c:1662052384,s:FM112*00\\", fixed_tb)
    (v,) = parse(line1).updates
    assert not v.unverified_tagblock and v.identity == u.identity


def test_single_message_type5_sample() -> None:
    # The fill bits were edited from 0 to 2 after the checksum was computed.
    text = sample("single-message-type-5.nmea").decode()
    assert reasons(parse(text)) == ["ais_bad_checksum"]
    (u,) = parse(text.replace(",2*60", ",0*60")).updates  # the original: 426 bits, accepted
    assert (u.mmsi, u.kind, u.ts_ms) == (413352710, "static", 1711942361000)
    assert (u.name, u.callsign, u.ship_type_text, u.destination, u.length_m, u.beam_m) == (
        "HUA JIANG 7",
        "BHZU",
        "Cargo",
        "LIAN YUN GANG",
        149,
        21,
    )


def test_sample_nmea_millisecond_tagblock_times_and_type24() -> None:
    batch = ais.parse_payload(sample("sample.nmea"), RX_MS, SRC)
    assert not batch.rejections
    pos, part_a, part_b = batch.updates
    # Line 1 ends in a stray "'" after the checksum: receiver junk, ignored.
    assert (pos.mmsi, pos.msg_type, pos.ts_ms, pos.kind) == (
        985200250,
        18,
        1599239526500,
        "position",
    )
    assert pos.cog is None and pos.heading is None and pos.sog_kn == pytest.approx(0.1)
    # Part A has 162 bits (fill 0 instead of 2): tolerated like gfw ais-tools does.
    assert (part_a.msg_type, part_a.name, part_a.callsign, part_a.ts_ms) == (
        24,
        "DAKUWAQA",
        None,
        1599239587658,
    )
    assert (part_b.callsign, part_b.ship_type, part_b.ship_type_text, part_b.name) == (
        "H985200",
        37,
        "Pleasure craft",
        None,
    )


def test_mixed_types_sample() -> None:
    data = sample("mixed_types.nmea")
    batch = ais.parse_payload(data, RX_MS, SRC)
    assert not batch.rejections and not batch.fragments
    assert Counter(u.msg_type for u in batch.updates) == {
        1: 5,
        2: 5,
        3: 5,
        5: 5,
        18: 5,
        19: 5,
        24: 5,
        27: 5,
    }
    assert len(batch.ignored) == 59
    assert nonblank_lines(data) == 109 and outcomes(batch) == 99  # 10 two-part groups
    t19 = next(u for u in batch.updates if u.msg_type == 19)
    assert (t19.kind, t19.mmsi, t19.name, t19.length_m) == (
        "position",
        159019703,
        "00197-3  73%",
        10,
    )
    t27 = next(u for u in batch.updates if u.msg_type == 27)
    assert (t27.lat, t27.lon, t27.sog_kn, t27.cog, t27.heading) == (
        pytest.approx(41.46),
        pytest.approx(-70.848333),
        9.0,
        350.0,
        None,
    )
    named = {u.name for u in batch.updates if u.msg_type == 24} - {None}
    assert named == {"OCEAN LIFE", "YACTHSEA"}


def test_type8_sample_is_ignored() -> None:
    batch = ais.parse_payload(sample("type8.nmea"), RX_MS, SRC)
    assert (batch.ignored, batch.updates, batch.rejections) == ([ais.TYPE_UNUSED], [], [])


# --- NMEA framing details -------------------------------------------------------------------


@pytest.mark.parametrize("talker", ["AIVDM", "AIVDO", "ABVDM", "BSVDM", "ANVDM"])
@pytest.mark.parametrize("channel", ["A", "B", "1", "2", ""])
def test_talkers_and_channels(talker: str, channel: str) -> None:
    line = sentence(f"{talker},1,1,,{channel},15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0")
    (u,) = parse(line).updates
    assert u.mmsi == 367033650


def test_crlf_blank_lines_and_whitespace() -> None:
    batch = ais.parse_payload(f"\r\n  {POS_1}  \r\n\r\n\n{POS_1}\r".encode(), RX_MS, SRC)
    assert len(batch.updates) == 2 and not batch.rejections


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("hello world", "ais_malformed"),
        ("!AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0", "ais_malformed"),  # no checksum
        ("!AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0*31", "ais_bad_checksum"),
        ("!AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0*ZZ", "ais_malformed"),
        (sentence("AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6"), "ais_malformed"),  # 6 fields
        (sentence("AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0,x"), "ais_malformed"),
        (sentence("AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,6"), "ais_malformed"),  # fill 6
        (sentence("AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,"), "ais_malformed"),
        (sentence("AIVDM,1,1,,A,15N1u<PPxFJuvSRHOE6QIwwh0HQ6,0"), "ais_malformed"),  # 'x'
        (sentence("AIVDM,1,1,,A,,0"), "ais_malformed"),  # empty payload
        (sentence("AIVDM,1,1,,Z,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0"), "ais_malformed"),
        (sentence("AIVDM,a,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0"), "ais_malformed"),
        (sentence("AIVDM,1,0,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0"), "ais_malformed"),
        (sentence("AIVDM,1,2,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0"), "ais_bad_fragment"),
        (sentence("AIVDM,12,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0"), "ais_bad_fragment"),
        (sentence("AIVDM,1,1,,A,05N1u<PP1FJuvSRHOE6QIwwh0HQ6,0"), "ais_decode_error"),  # type 0
        (sentence("AIVDM,1,1,,A,w5N1u<PP1FJuvSRHOE6QIwwh0HQ6,0"), "ais_decode_error"),  # type 63
        (sentence("AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ,0"), "ais_decode_error"),  # 162 bits
        ("\\c:1,s:x*3F\\" + POS_1, "ais_bad_tagblock"),
        ("\\c:1,s:x" + POS_1, "ais_bad_tagblock"),  # not closed
        (tagblock("c:soon") + POS_1, "ais_bad_tagblock"),
        (tagblock("c:99999999999999999") + POS_1, "ais_bad_tagblock"),  # after 2100
        (tagblock("nocolon") + POS_1, "ais_bad_tagblock"),
        (tagblock("g:2-1-5") + POS_1, "ais_bad_tagblock"),
        (tagblock("g:1-2-5") + POS_1, "ais_bad_fragment"),  # group says 2 parts, sentence 1
        (tagblock("c:1700000000"), "ais_malformed"),  # tag block alone
        (POS_1 + POS_1, "ais_malformed"),  # two messages on one line
    ],
)
def test_each_bad_line_gives_one_rejection(line: str, reason: str) -> None:
    batch = parse(f"{POS_1}\n{line}\n{POS_1}")
    assert reasons(batch) == [reason]
    assert batch.rejections[0].raw == line.strip()
    assert len(batch.updates) == 2


def test_not_utf8_line_is_rejected_alone() -> None:
    data = POS_1.encode() + b"\n\xff\xfe!AIVDM\x80\n" + POS_1.encode()
    batch = ais.parse_payload(data, RX_MS, SRC)
    assert reasons(batch) == ["payload_not_text"] and len(batch.updates) == 2
    batch = ais.parse_payload("!AIVDM,1,1,,A,é,0*00".encode(), RX_MS, SRC)
    assert reasons(batch) == ["ais_malformed"]


def test_tagblock_time_seconds_milliseconds_and_identity() -> None:
    sec = parse(tagblock("s:r1,c:1700000123") + POS_1).updates[0]
    ms = parse(tagblock("c:1700000123456,s:r1") + POS_1).updates[0]
    none = parse(POS_1).updates[0]
    assert (sec.ts_ms, ms.ts_ms, none.ts_ms) == (1700000123000, 1700000123456, RX_MS)
    digest = none.identity.split("-")[1]
    assert len(digest) == 16 and int(digest, 16) >= 0
    # POS_1 was sent at second 56 (its time stamp): the transmission's time is the latest
    # with that second (up to 5 s after the receiver's clock), which receivers agree on.
    assert sec.identity == ms.identity == f"1700000096-{digest}"
    other_rx = parse(tagblock("s:r2,c:1700000127") + POS_1).updates[0]
    assert other_rx.identity == sec.identity  # another receiver, same transmission
    later = parse(tagblock("s:r1,c:1700000183") + POS_1).updates[0]
    assert later.identity != sec.identity  # the same bits a minute later: a new report
    # Without a tag block, the receipt time stands in: another receiver, or a redelivery, a
    # few seconds later names the same transmission.
    assert parse(POS_1, received_ms=RX_MS + 3000, source="other").updates[0].identity == (
        none.identity
    )


def test_seq_follows_receipt_within_and_across_payloads() -> None:
    batch = parse(f"{POS_1}\n{POS_1}")
    a, b = batch.updates
    assert a.ts_ms == b.ts_ms and a.seq < b.seq
    (c,) = parse(POS_1, received_ms=RX_MS + 1).updates
    assert (c.ts_ms, c.seq) > (b.ts_ms, b.seq)


def test_not_available_conventions_and_validation() -> None:
    def enc(**kw: object) -> str:
        base = {
            "type": 1,
            "mmsi": 123456789,
            "lat": 22.5,
            "lon": 114.2,
            "speed": 5.0,
            "course": 90.0,
            "heading": 88,
            "status": 7,
        }
        return encode_dict({**base, **kw}, sentence_type="VDM")[0]

    u = parse(enc(speed=102.3, course=360.0, heading=511)).updates[0]
    assert (u.sog_kn, u.cog, u.heading, u.nav_status, u.lat) == (None, None, None, 7, 22.5)
    u = parse(enc(speed=102.2, course=359.9, heading=359)).updates[0]
    assert (u.sog_kn, u.cog, u.heading) == (102.2, 359.9, 359)
    assert reasons(parse(enc(lat=91))) == ["ais_no_position"]
    assert reasons(parse(enc(lon=181))) == ["ais_no_position"]
    assert reasons(parse(enc(mmsi=0))) == ["ais_bad_mmsi"]
    assert reasons(parse(enc(mmsi=1_000_000_000))) == ["ais_bad_mmsi"]
    t18 = encode_dict({"type": 18, "mmsi": 412000001, "lat": 91, "lon": 181}, "AI", "VDM")[0]
    assert reasons(parse(t18)) == ["ais_no_position"]


def test_static_names_strip_padding() -> None:
    lines = encode_dict(
        {
            "type": 5,
            "mmsi": 412345678,
            "shipname": "  YUE DA @@",
            "callsign": "@",
            "destination": "SHEKOU",
            "ship_type": 55,
            "imo": 9876543,
            "to_bow": 0,
            "to_stern": 12,
            "to_port": 0,
            "to_starboard": 0,
        },
        "AI",
        "VDM",
        seq_id=3,
    )
    (u,) = parse("\n".join(lines)).updates
    assert (u.name, u.callsign, u.destination) == ("YUE DA", None, "SHEKOU")
    assert (u.ship_type, u.ship_type_text, u.imo) == (55, "Law enforcement", 9876543)
    assert (u.dim_bow, u.dim_stern, u.length_m, u.beam_m) == (0, 12, 12, None)


def test_type24_part_b_of_auxiliary_craft_has_no_dimensions() -> None:
    lines = encode_dict(
        {
            "type": 24,
            "partno": 1,
            "mmsi": 981234567,
            "ship_type": 31,
            "callsign": "AUX1",
            "mothership_mmsi": 412345678,
        },
        "AI",
        "VDM",
    )
    (u,) = parse("\n".join(lines)).updates
    assert (u.kind, u.callsign, u.ship_type_text, u.length_m, u.dim_bow) == (
        "static",
        "AUX1",
        "Towing",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("code", "label"),
    [
        (0, None),
        (30, "Fishing"),
        (36, "Sailing"),
        (37, "Pleasure craft"),
        (50, "Pilot vessel"),
        (51, "Search and rescue vessel"),
        (52, "Tug"),
        (55, "Law enforcement"),
        (60, "Passenger"),
        (69, "Passenger"),
        (70, "Cargo"),
        (79, "Cargo"),
        (80, "Tanker"),
        (90, "Other type"),
        (35, "Military ops"),
        (1, "Reserved"),
        (255, "Reserved"),
    ],
)
def test_ship_type_text(code: int, label: str | None) -> None:
    assert ais.ship_type_text(code) == label


# --- (c) multi-part grouping and cross-payload reassembly -------------------------------------


def test_type5_split_over_two_payloads_tagblock_group() -> None:
    whole = parse("\n".join(EE_STATIC_1)).updates[0]
    first = parse(EE_STATIC_1[0], received_ms=RX_MS)
    second = parse(EE_STATIC_1[1], received_ms=RX_MS + 900)
    (f1,), (f2,) = first.fragments, second.fragments
    assert not first.updates and not second.updates and not first.rejections
    assert f1.key == f2.key == f"{SRC}|g|1278"
    assert (f1.index, f1.total, f2.index, f2.total) == (1, 2, 2, 2)
    assert f1.ts_ms == 1661782369000 and f2.ts_ms == RX_MS + 900  # part 2 has no c:
    assert f1.line == EE_STATIC_1[0]
    batch = ais.assemble_fragments([f1.line, f2.line], RX_MS + 900, SRC)
    assert [sans_seq(u) for u in batch.updates] == [sans_seq(whole)] and not batch.rejections
    assert whole.name == "IMULA 1781 MTR" and whole.ts_ms == 1661782369000
    # Order of the lines does not matter.
    again = ais.assemble_fragments([f2.line, f1.line], RX_MS, SRC).updates
    assert [sans_seq(u) for u in again] == [sans_seq(whole)]


def test_type5_split_over_two_payloads_without_tagblock() -> None:
    lines = GFW.joinpath("multi-part.nmea").read_text().splitlines()[-4:-2]
    whole = parse("\n".join(lines)).updates[0]
    f1 = parse(lines[0]).fragments[0]
    f2 = parse(lines[1], received_ms=RX_MS + 50).fragments[0]
    assert f1.key == f2.key == f"{SRC}|A|7|2"
    assert (f1.ts_ms, f2.ts_ms) == (RX_MS, RX_MS + 50)
    batch = ais.assemble_fragments([f1.line, f2.line], f1.ts_ms, SRC)
    assert [sans_seq(u) for u in batch.updates] == [sans_seq(whole)]
    assert whole.name == "XIN TIAN 11"
    assert whole.identity == batch.updates[0].identity  # dedups across the two paths


def test_assemble_fragments_rejects_incomplete_or_mixed_groups() -> None:
    lines = GFW.joinpath("multi-part.nmea").read_text().splitlines()
    a1, a2 = lines[-4:-2]  # seq 7, channel A
    b2 = lines[-1]  # seq 0, channel B
    for group in ([a1], [a1, b2], [a1, a1], [a1, a2, a2], [a1, "junk"]):
        batch = ais.assemble_fragments(group, RX_MS, SRC)
        assert len(batch.rejections) == 1 and not batch.updates, group
    assert reasons(ais.assemble_fragments([a1, b2], RX_MS, SRC)) == ["ais_bad_fragment"]
    assert reasons(ais.assemble_fragments([a1, "junk"], RX_MS, SRC)) == ["ais_malformed"]


def test_same_key_restarts_supersede_or_keep_fragments() -> None:
    lines = GFW.joinpath("multi-part.nmea").read_text().splitlines()
    p1, p2 = lines[-4:-2]
    # Part 1 twice: the first copy can never complete any more.
    batch = parse("\n".join([p1, p1, p2]))
    assert reasons(batch) == ["ais_bad_fragment"] and len(batch.updates) == 1
    # Part 2 twice: the first copy may complete a part 1 from an earlier payload.
    batch = parse("\n".join([p2, p2, p1]))
    assert len(batch.fragments) == 1 and len(batch.updates) == 1 and not batch.rejections
    assert batch.fragments[0].index == 2
    # Incomplete at the end: fragments, in order, not rejections.
    batch = parse("\n".join([POS_1, p1]))
    assert [f.index for f in batch.fragments] == [1] and len(batch.updates) == 1


def test_joined_parts_on_one_line_decode_as_one_message() -> None:
    lines = GFW.joinpath("multi-part.nmea").read_text().splitlines()
    p1, p2 = lines[-4:-2]
    a, b, c = (parse(x).updates for x in (p1 + p2, p2 + p1, f"{p1}\n{p2}"))
    assert a == b and [sans_seq(u) for u in a] == [sans_seq(u) for u in c]
    assert reasons(parse(p1 + lines[-1])) == ["ais_bad_fragment"]


# --- (d) properties ---------------------------------------------------------------------------

VALID_LINES = [
    s
    for f in ("ee-multiline.nmea", "mixed_types.nmea", "sample.nmea")
    for s in GFW.joinpath(f).read_text().splitlines()
    if s.strip()
]
NMEA_ALPHABET = "!\\*,:-.0123456789ABCDEFGHIJKLMNOPQRSTUVWabcdefghijklmnopqrstuvw@`<>?;=cgs\r\n "


def check_invariants(data: bytes, batch: ais.AisBatch) -> None:
    assert outcomes(batch) <= nonblank_lines(data)
    assert all(r.reason in ais.REASONS for r in batch.rejections)
    for u in batch.updates:
        assert 1 <= u.mmsi <= 999_999_999
        if u.lat is not None:
            assert math.isfinite(u.lat) and -90 <= u.lat <= 90
            assert u.lon is not None and -180 <= u.lon <= 180


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    check_invariants(data, ais.parse_payload(data, RX_MS, SRC))
    ais.parse_aiscatcher_json(data, RX_MS, SRC)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=NMEA_ALPHABET, max_size=120), max_size=8))
def test_nmea_like_text_never_raises(lines: list[str]) -> None:
    data = "\n".join(lines).encode()
    check_invariants(data, ais.parse_payload(data, RX_MS, SRC))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(VALID_LINES),
            st.integers(0, 400),
            st.sampled_from([*NMEA_ALPHABET, "", "\\", "!AIVDM,"]),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_mutated_real_lines(edits: list[tuple[str, int, str]]) -> None:
    lines = []
    for line, pos, char in edits:
        pos %= len(line) + 1
        lines.append(line[:pos] + char + line[pos + 1 :])
    data = "\n".join(lines).encode()
    batch = ais.parse_payload(data, RX_MS, SRC)
    check_invariants(data, batch)
    for f in batch.fragments:
        assert 1 <= f.index <= f.total <= 9 and f.line


@settings(max_examples=200, deadline=None)
@given(
    msg_type=st.sampled_from([1, 18]),
    mmsi=st.integers(1, 999_999_999),
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    channel=st.sampled_from("AB"),
)
def test_round_trip_of_encoded_positions(
    msg_type: int, mmsi: int, lat: float, lon: float, channel: str
) -> None:
    (line,) = encode_dict(
        {"type": msg_type, "mmsi": mmsi, "lat": lat, "lon": lon}, "AI", "VDM", channel
    )
    batch = parse(line)
    (u,) = batch.updates
    assert (u.mmsi, u.msg_type, u.kind) == (mmsi, msg_type, "position")
    assert u.lat == pytest.approx(lat, abs=1e-4) and u.lon == pytest.approx(lon, abs=1e-4)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "class",
                    "type",
                    "mmsi",
                    "lat",
                    "lon",
                    "speed",
                    "course",
                    "heading",
                    "nmea",
                    "rxuxtime",
                    "rxtime",
                    "shipname",
                    "partno",
                    "to_bow",
                    "x",
                ]
            ),
            inner,
            max_size=8,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_aiscatcher_arbitrary_json_never_raises(doc: object) -> None:
    batch = ais.parse_aiscatcher_json(json.dumps(doc).encode(), RX_MS, SRC)
    assert all(r.reason in ais.REASONS for r in batch.rejections)


# --- (e) AIS-catcher JSON ---------------------------------------------------------------------

# The example from AIS-catcher's JSON documentation (-o 5 / JSON_FULL), plus reception time.
CATCHER_T3 = {
    "class": "AIS",
    "device": "AIS-catcher",
    "scaled": True,
    "channel": "B",
    "rxtime": "20240101120000",
    "rxuxtime": 1704110400,
    "signalpower": -31.5,
    "ppm": 0.4,
    "nmea": ["!AIVDM,1,1,,B,3776k`5000a3SLPEKnDQQWpH0000,0*78"],
    "type": 3,
    "repeat": 0,
    "mmsi": 477213600,
    "status": 5,
    "status_text": "Moored",
    "turn": 0,
    "speed": 0.0,
    "accuracy": True,
    "lon": 126.605469,
    "lat": 37.460617,
    "course": 39.0,
    "heading": 252,
    "second": 12,
    "maneuver": 0,
    "raim": False,
    "radio": 0,
}


def test_aiscatcher_with_nmea_matches_raw_nmea_path() -> None:
    (u,) = aiscatcher(CATCHER_T3).updates
    assert (u.mmsi, u.msg_type, u.nav_status, u.heading, u.ts_ms) == (
        477213600,
        3,
        5,
        252,
        1704110400000,
    )
    assert u.lat == pytest.approx(37.460617) and u.lon == pytest.approx(126.605469)
    # Identical to the raw sentence with the same time as a tag block.
    raw = tagblock("c:1704110400") + CATCHER_T3["nmea"][0]  # type: ignore[index]
    assert parse(raw).updates == [u]
    # Without any reception time it equals the plain NMEA result exactly.
    plain = {k: v for k, v in CATCHER_T3.items() if k not in ("rxtime", "rxuxtime")}
    assert aiscatcher(plain).updates == parse(CATCHER_T3["nmea"][0]).updates  # type: ignore[index]
    # rxtime alone (YYYYMMDDHHMMSS UTC) is the fallback clock.
    only_rxtime = {k: v for k, v in CATCHER_T3.items() if k != "rxuxtime"}
    assert aiscatcher(only_rxtime).updates[0].ts_ms == 1704110400000


def test_aiscatcher_without_nmea_uses_decoded_fields() -> None:
    full = {k: v for k, v in CATCHER_T3.items() if k != "nmea"}
    (u,) = aiscatcher(full).updates
    (ref,) = aiscatcher(CATCHER_T3).updates
    assert sans_time(u) == {**sans_time(ref), "lat": 37.460617, "lon": 126.605469}
    assert u.ts_ms == 1704110400000 and u.identity.startswith("1704110400000-")
    assert u.identity != ref.identity
    n_a = {**full, "speed": 102.3, "course": 360, "heading": 511}
    (u,) = aiscatcher(n_a).updates
    assert (u.sog_kn, u.cog, u.heading) == (None, None, None)
    assert reasons(aiscatcher({**full, "lat": 91, "lon": 181})) == ["ais_no_position"]
    assert reasons(aiscatcher({**full, "mmsi": 0})) == ["ais_bad_mmsi"]
    assert reasons(aiscatcher({**full, "lat": "north"})) == ["json_malformed"]
    assert reasons(aiscatcher({"class": "AIS", "channel": "A"})) == ["json_malformed"]
    assert reasons(aiscatcher({"class": "AIS", "type": 1})) == ["json_malformed"]
    assert reasons(aiscatcher({"class": "AIS", "type": 40, "mmsi": 1})) == ["ais_decode_error"]
    assert aiscatcher({"class": "AIS", "type": 4, "mmsi": 2442000}).ignored == [ais.TYPE_UNUSED]


def test_aiscatcher_static_messages_without_nmea() -> None:
    t5 = {
        "class": "AIS",
        "device": "AIS-catcher",
        "channel": "A",
        "rxuxtime": 1704110460,
        "type": 5,
        "mmsi": 412345678,
        "imo": 9876543,
        "callsign": "BVXY@@",
        "shipname": "YUE YU 12345@@@@@@@@",
        "shiptype": 30,
        "shiptype_text": "Fishing",
        "to_bow": 20,
        "to_stern": 8,
        "to_port": 3,
        "to_starboard": 3,
        "draught": 2.1,
        "destination": "DAPENG",
        "eta": "01-02T03:04Z",
    }
    (u,) = aiscatcher(t5).updates
    assert (u.kind, u.name, u.callsign, u.ship_type_text, u.imo, u.length_m, u.beam_m) == (
        "static",
        "YUE YU 12345",
        "BVXY",
        "Fishing",
        9876543,
        28,
        6,
    )
    a = {
        "class": "AIS",
        "channel": "B",
        "type": 24,
        "mmsi": 412345679,
        "partno": 0,
        "shipname": "SEA DRAGON",
    }
    b = {
        "class": "AIS",
        "channel": "B",
        "type": 24,
        "mmsi": 412345679,
        "partno": 1,
        "shiptype": 37,
        "callsign": "B1234",
        "vendorid": "SRT",
        "to_bow": 5,
        "to_stern": 5,
        "to_port": 1,
        "to_starboard": 2,
    }
    ua, ub = aiscatcher([a, b]).updates
    assert (ua.name, ua.callsign, ua.ship_type) == ("SEA DRAGON", None, None)
    assert (ub.name, ub.callsign, ub.ship_type_text, ub.length_m) == (
        None,
        "B1234",
        "Pleasure craft",
        10,
    )
    assert ua.ts_ms == RX_MS  # no reception time in the object


def test_aiscatcher_multipart_nmea_and_arrays_and_lines() -> None:
    lines = GFW.joinpath("multi-part.nmea").read_text().splitlines()
    t5 = {"class": "AIS", "channel": "B", "type": 5, "mmsi": 413212470, "nmea": lines[-4:-2]}
    (u,) = aiscatcher(t5).updates
    assert u == parse("\n".join(lines[-4:-2])).updates[0]
    batch = aiscatcher([CATCHER_T3, t5, {"class": "ADSB", "hexident": "780A3B"}])
    assert [u.msg_type for u in batch.updates] == [3, 5] and len(batch.ignored) == 1
    jsonl = (json.dumps(CATCHER_T3) + "\n" + json.dumps(t5) + "\n{oops\n").encode()
    batch = ais.parse_aiscatcher_json(jsonl, RX_MS, SRC)
    assert len(batch.updates) == 2 and reasons(batch) == ["json_malformed"]


def test_aiscatcher_same_results_as_nmea_for_real_lines() -> None:
    lines = [
        s
        for s in GFW.joinpath("mixed_types.nmea").read_text().splitlines()
        if s.startswith("!AIVDM,1,1")
    ]
    objs = [{"class": "AIS", "device": "AIS-catcher", "nmea": [s]} for s in lines]
    via_json = aiscatcher(objs)
    via_nmea = parse("\n".join(lines))
    assert via_json.updates == via_nmea.updates and via_json.ignored == via_nmea.ignored
    assert len(via_json.updates) == 35


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        b"not json",
        b'{"class": "AIS", "nmea": [',
        b"[1, 2",
        b'{\n  "type": 1,\n',
        b"[" * 100000,
    ],
)
def test_aiscatcher_malformed_json(payload: bytes) -> None:
    batch = ais.parse_aiscatcher_json(payload, RX_MS, SRC)
    assert reasons(batch) == ["json_malformed"] and not batch.updates


def test_aiscatcher_bad_values() -> None:
    assert reasons(aiscatcher([1, "x"])) == ["json_malformed", "json_malformed"]
    assert reasons(aiscatcher({"nmea": 5})) == ["json_malformed"]
    # JSON Lines: each broken line is its own rejection ({} has neither nmea nor fields).
    batch = ais.parse_aiscatcher_json(b"{}\n{", RX_MS, SRC)
    assert reasons(batch) == ["json_malformed", "json_malformed"]
    assert reasons(aiscatcher({"nmea": ["!AIVDM,1,1,,B,3776k`5000a3SLPEKnDQQWpH0000,0*79"]})) == [
        "ais_bad_checksum"
    ]
    batch = ais.parse_aiscatcher_json(b'\xff{"a": 1}', RX_MS, SRC)
    assert reasons(batch) == ["payload_not_text"]
    # blank: nothing here (the router dead-letters a blank payload as empty_payload first)
    assert ais.parse_aiscatcher_json(b"  \n", RX_MS, SRC) == ais.AisBatch([], [], [], [])


# --- throughput -------------------------------------------------------------------------------
