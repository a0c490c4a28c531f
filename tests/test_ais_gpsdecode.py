"""Every real AIS recording in tests/data/ais/, replayed through a real broker and the real
worker, gives the vessels an independent decoder gives: Debian's `gpsdecode` (gpsd-clients,
installed by scripts/test.sh) over the same lines. Every vessel's latest position and name must
agree, and no vessel may be on one side only.

"Latest" is the order in which a vessel transmitted: by tag-block time (of the line that
completed the message, else the nearest line before it that has one: the part 1 of its group),
else by receipt, that is line order.

The recordings are replayed as time lapse: one payload per message (a line, or the lines of a
multi-part message), on a worker clock that moves a minute per reading (so each payload is
received a minute or more after the one before). A recording without tag blocks has no times
of its own; its lines were received minutes apart, and the worker must not take a ship's
identical report three minutes later (a moored ship, a type 27) for the same transmission.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from store import keys, reader
from tests.helpers import Publisher, wait_for

AIS = Path(__file__).resolve().parent / "data" / "ais"
RECORDINGS = sorted(
    p.relative_to(AIS).as_posix()
    for p in AIS.glob("*/*")
    if p.suffix in (".nmea", ".log", ".txt") and p.name != "README.md"
)
POSITION_TYPES = {1, 2, 3, 18, 19, 27}
NAME_TYPES = {5, 19, 24}
CLOCK_STEP_MS = 60_000
CONTINUATION = re.compile(r"(?:\\[^\\]*\\)?![A-Z]{2}VD[MO],\d,[2-9],")  # part 2.. of a message
SENTENCE_START = re.compile(r"\\[^\\]*\\!|!")
RECEIPT = 10**16  # sorts after every tag-block time: a line without one is "now"


def recording_lines(name: str) -> list[str]:
    """The lines as a receiver sent them: without the files' own comments and blank lines."""
    text = (AIS / name).read_text(encoding="utf-8", errors="replace")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def sentences(line: str) -> list[str]:
    """One sentence per item (with its tag block): gpsd reads one sentence per line, and some
    archives join the parts of a message on one line."""
    starts = [m.start() for m in SENTENCE_START.finditer(line)]
    if not starts or starts[0] != 0:
        return [line]
    return [line[a:b] for a, b in zip(starts, [*starts[1:], len(line)], strict=True)]


def tag_time(line: str) -> int | None:
    m = re.match(r"\\[^\\]*?\bc:(\d+)", line)
    if m is None:
        return None
    v = int(m[1])
    return v if v > 10**11 else v * 1000


def gpsdecode(lines: list[str]) -> list[tuple[int, dict]]:
    """gpsdecode's messages over the lines, each with the index of the line that completed it
    (matched through gpsdecode's echo of each sentence it read, `-v`)."""
    feed = [(i, s) for i, line in enumerate(lines) for s in sentences(line)]
    bare = [s[s.rfind("\\") + 1 :] if s.startswith("\\") else s for _, s in feed]
    out = subprocess.run(
        ["gpsdecode", "-v", "-u", "-s"],  # echo, raw integers (full precision), 24A alone
        input="\n".join(s for _, s in feed) + "\n",
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    ).stdout
    messages: list[tuple[int, dict]] = []
    pointer, last = 0, -1
    for row in out.splitlines():
        if row.startswith("{"):
            msg = json.loads(row)
            if msg.get("class") == "AIS":  # not the receiver's own GPS fixes
                messages.append((last, msg))
            continue
        try:
            j = bare.index(row.strip(), pointer)
        except ValueError:
            continue
        pointer, last = j + 1, feed[j][0]
    return messages


def expected_vessels(lines: list[str]) -> tuple[dict[int, tuple[float, float]], dict[int, str]]:
    times: list[int] = []
    current = RECEIPT
    for line in lines:
        t = tag_time(line)
        if t is not None:
            current = t
        elif not line.startswith("\\"):
            current = RECEIPT
        times.append(current)
    latest_pos: dict[int, tuple[tuple[int, int], tuple[float, float]]] = {}
    latest_name: dict[int, tuple[tuple[int, int], str]] = {}
    for i, msg in gpsdecode(lines):
        order = (times[i], i)
        mmsi, kind = msg["mmsi"], msg["type"]
        if kind in POSITION_TYPES and "lat" in msg:
            per_degree = 600 if kind == 27 else 600_000  # 1/10 or 1/10000 minute
            lat, lon = msg["lat"] / per_degree, msg["lon"] / per_degree
            valid = abs(lat) <= 90 and abs(lon) <= 180 and 1 <= mmsi <= 999_999_999
            if valid and (mmsi not in latest_pos or order >= latest_pos[mmsi][0]):
                latest_pos[mmsi] = (order, (lat, lon))
        name = str(msg.get("shipname", "")).strip("@ ")
        named = kind in NAME_TYPES and name and 1 <= mmsi <= 999_999_999
        if named and (mmsi not in latest_name or order >= latest_name[mmsi][0]):
            latest_name[mmsi] = (order, name)
    return {k: v for k, (_, v) in latest_pos.items()}, {k: v for k, (_, v) in latest_name.items()}


def payloads(lines: list[str]) -> list[str]:
    """One payload per message: a line, with the later parts of a multi-part message."""
    out: list[list[str]] = []
    for line in lines:
        if out and CONTINUATION.match(line):
            out[-1].append(line)
        else:
            out.append([line])
    return ["\n".join(p) for p in out]


def replay(r: redis.Redis, publisher: Publisher, lines: list[str], topic: str) -> None:
    """Publish the messages one by one (the worker stamps each on receipt, in order, with its
    clock) and wait until it has counted them all."""
    sent = payloads(lines)
    for payload in sent:
        publisher.publish(topic, payload)
    wait_for(
        lambda: reader.ingest_stats(r)["messages"].get("received", 0) >= len(sent),
        60.0,
        f"{len(sent)} payloads processed",
    )


@pytest.mark.parametrize("recording", RECORDINGS)
def test_recording_agrees_with_gpsdecode(
    recording: str, r: redis.Redis, running_worker, publisher: Publisher
) -> None:
    assert shutil.which("gpsdecode"), "gpsdecode missing: scripts/test.sh installs gpsd-clients"
    lines = recording_lines(recording)
    positions, names = expected_vessels(lines)
    ticks = itertools.count()
    start = time.time_ns() // 1_000_000
    running_worker(lambda: start + next(ticks) * CLOCK_STEP_MS)
    replay(r, publisher, lines, f"ecocommand/ais/rx-{Path(recording).stem[:40]}/nmea")
    ours = {int(m) for m in r.smembers(keys.index("vessel"))}
    got_pos: dict[int, tuple[float, float]] = {}
    got_name: dict[int, str] = {}
    for mmsi in ours:
        state = reader.entity(r, "vessel", str(mmsi)) or {}
        if "lat" in state:
            got_pos[mmsi] = (float(state["lat"]), float(state["lon"]))
        if "name" in state:
            got_name[mmsi] = state["name"]
    assert set(got_pos) == set(positions), "vessels with a position differ"
    wrong = {
        m: (got_pos[m], positions[m])
        for m in positions
        if abs(got_pos[m][0] - positions[m][0]) > 2e-6
        or abs(got_pos[m][1] - positions[m][1]) > 2e-6
    }
    assert not wrong, f"{len(wrong)} of {len(positions)} latest positions differ: {wrong}"
    assert got_name == names
