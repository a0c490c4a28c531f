"""Every message accounted for (issue: hardening): 20,000 mixed hostile messages through a real
broker and the real worker, and afterwards received = applied + duplicate + stale +
deadletter + ignored, with each ignored message under a named reason."""

from __future__ import annotations

import random
from collections.abc import Iterator

import orjson
import paho.mqtt.client as mqtt
import pyais
import pytest
import redis

from domain.clock import system_ms
from ingest.accounting import Ledger
from store import keys, reader
from tests.helpers import ROOT, Publisher, wait_for

P = "ecocommand"
TOTAL = 20_000
OUTCOMES = ("applied", "duplicate", "stale", "deadletter", "ignored")
AIS_LINES = [
    line
    for name in ("gfw_ais_tools/mixed_types.nmea", "libais/typeexamples.nmea")
    for line in (ROOT / "tests" / "data" / "ais" / name).read_text().splitlines()
    if line.strip()
]


def _nmea(fields: dict) -> bytes:
    return "\n".join(pyais.encode_dict(fields, talker_id="AI")).encode()


def _position(unit: str, seq: int, ts: int, **over: object) -> bytes:
    doc = {"unit_id": unit, "seq": seq, "ts": ts, "lat": 22.59, "lon": 114.48, **over}
    return orjson.dumps(doc)


class Mix:
    """A seeded stream of hostile and ordinary messages over every topic the worker reads."""

    def __init__(self, seed: int = 14) -> None:
        self.rnd = random.Random(seed)
        self.now = system_ms()
        self.seq = 0
        self.sent: list[tuple[str, bytes]] = []

    def unit(self) -> str:
        return f"U-H{self.rnd.randrange(40)}"

    def fresh_position(self) -> tuple[str, bytes]:
        self.seq += 1
        u = self.unit()
        return f"{P}/units/{u}/position", _position(u, self.seq, self.now - 60_000 + self.seq)

    def again(self) -> tuple[str, bytes]:  # a redelivery, or a replay by an attacker
        return self.rnd.choice(self.sent) if self.sent else self.fresh_position()

    def older(self) -> tuple[str, bytes]:
        u = self.unit()
        ts = self.now - 3_600_000 - self.rnd.randrange(10_000)
        return f"{P}/units/{u}/position", _position(u, self.rnd.randrange(10**6), ts)

    def forged(self) -> tuple[str, bytes]:
        u = self.unit()
        payloads = [
            _position("U-SOMEONE-ELSE", 1, self.now),  # device_mismatch
            _position(u, 1, 4_102_444_800_000),  # 2100: ts_future
            _position(u, 1, self.now, lat=95),  # bad_coordinates
            b'{"unit_id": "' + u.encode() + b'", "seq": 1, "ts": NaN, "lat": 1, "lon": 2}',
            orjson.dumps({"unit_id": u, "ts": self.now, "name": "<script>alert(1)</script>"}),
            orjson.dumps({"unit_id": u, "ts": self.now, "name": "=HYPERLINK(1)", "kind": 7}),
            b"\xff\xfe\x00garbage",
            b"[" * 5000,
            b"x" * 70_000,  # oversized
        ]
        topic = self.rnd.choice(["position", "profile", "status", "task", "patrol-log"])
        return f"{P}/units/{u}/{topic}", self.rnd.choice(payloads)

    def empty(self) -> tuple[str, bytes]:
        topic = self.rnd.choice(
            [
                f"{P}/units/U-H1/position",
                f"{P}/ais/rx1/nmea",
                f"{P}/ais/rx1/json",
                f"{P}/sensors/S-H1/reading",
                "owntracks/li/phone",
            ]
        )
        return topic, self.rnd.choice([b"", b"   ", b"\n\r\n"])

    def ais(self) -> tuple[str, bytes]:
        mmsi = 413_000_000 + self.rnd.randrange(500)
        choices = [
            self.rnd.choice(AIS_LINES).encode(),
            _nmea({"type": 1, "mmsi": mmsi, "lon": 114.5, "lat": 22.5, "speed": 3}),
            _nmea({"type": 16, "mmsi": mmsi, "mmsi1": mmsi + 1, "offset1": 10}),  # unused
            _nmea({"type": 4, "mmsi": 4_130_001}),  # a base station: unused
            _nmea({"type": 24, "partno": 0, "mmsi": mmsi}),  # no name: no vessel data
            self.rnd.choice(AIS_LINES).encode()[:-3] + b"*00",  # broken checksum
        ]
        return f"{P}/ais/rx{self.rnd.randrange(3)}/nmea", self.rnd.choice(choices)

    def ais_json(self) -> tuple[str, bytes]:
        docs = [
            {"class": "AIS", "type": 1, "mmsi": 413_000_777, "lat": 22.5, "lon": 114.5},
            {"class": "ADSB", "hex": "abc"},  # another class: unused
            {"class": "AIS", "type": 21, "mmsi": 992_000_001},  # an aid to navigation: unused
            {"class": "AIS", "type": 99},
            [1, 2],
        ]
        return f"{P}/ais/rx1/json", orjson.dumps(self.rnd.choice(docs))

    def other(self) -> tuple[str, bytes]:
        u = self.unit()
        return self.rnd.choice(
            [
                (f"{P}/units/{u}/dispatch", b'{"incident_id": "INC-1"}'),  # the centre's own
                (f"{P}/units/{u}/nonsense", b"{}"),
                (f"{P}/sensors/S-H1/whatever", b"1"),
                ("owntracks/li/phone", orjson.dumps({"_type": "lwt", "tst": 1})),
                ("owntracks/li/phone", orjson.dumps({"_type": "location", "lat": 1, "lon": 2})),
                (
                    f"{P}/units/{u}/task",
                    orjson.dumps(
                        {"unit_id": u, "incident_id": "INC-NONE", "action": "ack", "ts": self.now}
                    ),
                ),
                (
                    f"{P}/sensors/S-H1/reading",
                    orjson.dumps({"sensor_id": "S-H1", "ts": self.now, "values": {"pH": 7.9}}),
                ),
            ]
        )

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        makers = [self.fresh_position, self.again, self.older, self.forged, self.empty]
        makers += [self.ais, self.ais, self.ais_json, self.other]
        for _ in range(TOTAL):
            msg = self.rnd.choice(makers)()
            self.sent.append(msg)
            yield msg


def _publish_all(port: int, messages: Iterator[tuple[str, bytes]]) -> int:
    """Publish at QoS 1 without waiting for each PUBACK; wait for them all at the end."""
    pub = Publisher(port)
    try:
        infos = []
        for topic, payload in messages:
            info = pub.client.publish(topic, payload, qos=1)
            assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
            infos.append(info)
        for info in infos:
            info.wait_for_publish(timeout=60)
        return sum(info.is_published() for info in infos)
    finally:
        pub.close()


def test_every_one_of_20000_hostile_messages_is_counted_once(
    r: redis.Redis, running_worker, broker
) -> None:
    running_worker()
    assert _publish_all(broker.port, iter(Mix())) == TOTAL
    stats = wait_for(
        lambda: (s := reader.ingest_stats(r))["messages"]["received"] >= TOTAL and s,
        180,
        "the worker to take all 20,000",
    )
    m = stats["messages"]
    assert m["received"] == TOTAL
    assert m["received"] == sum(m[k] for k in OUTCOMES), m
    assert all(m[k] > 0 for k in OUTCOMES), m  # the mix reaches every outcome
    ignored = stats["ignored_by_reason"]
    assert sum(ignored.values()) == m["ignored"]
    for reason in (
        "own_notice",
        "owntracks_type_unused",
        "ais_type_unused",
        "ais_class_unused",
        "ais_no_vessel_data",
    ):
        assert ignored.get(reason, 0) > 0, (reason, ignored)
    dead = stats["deadletter_by_reason"]
    for reason in ("empty_payload", "ts_future", "oversized", "device_mismatch"):
        assert dead.get(reason, 0) > 0, (reason, dead)
    assert dead.get("internal_error", 0) == 0, dead
    assert r.xlen(keys.DEADLETTER) >= m["deadletter"]


@pytest.mark.parametrize(
    ("verdicts", "ignored", "outcome"),
    [
        (["deadletter", "stale", "applied"], [], ("applied", None)),
        (["deadletter", "duplicate", "stale"], [], ("duplicate", None)),
        (["deadletter", "stale"], ["ais_type_unused"], ("stale", None)),
        (["deadletter"], ["ais_type_unused"], ("deadletter", None)),
        ([], ["own_notice", "ais_type_unused"], ("ignored", "own_notice")),
        ([], [], ("ignored", "nothing_to_apply")),
    ],
)
def test_a_message_comes_to_the_best_of_its_parts(
    verdicts: list[str], ignored: list[str], outcome: tuple[str, str | None]
) -> None:
    ledger = Ledger(1)
    for v in verdicts:
        ledger.note(0, v)
    for reason in ignored:
        ledger.ignore(0, reason)
    assert ledger.outcome(0) == outcome
    counts, reasons = ledger.tally()
    assert sum(counts.values()) == 1 and counts[outcome[0]] == 1
    assert reasons == ({outcome[1]: 1} if outcome[1] else {})
