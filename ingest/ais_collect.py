"""Grouping of the parts of multi-part AIS messages within one payload, and the batch that
collects what each line came to (see ingest/ais.py for the rules)."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterable, Sequence

from ingest.ais_bits import decode
from ingest.ais_nmea import Part, split_line
from ingest.ais_types import (
    BAD_FRAGMENT,
    MALFORMED,
    NMEA_NOT_AIS,
    NOT_TEXT,
    TYPE_UNUSED,
    AisBatch,
    Fragment,
    Reject,
    Rejection,
    VesselUpdate,
)

MAX_LINE = 4096  # a tag-blocked 9-part joined line is < 2 kB; longer is junk, not NMEA
MAX_RAW = 4096  # Rejection.raw is cut here so junk cannot bloat the dead-letter stream
MAX_LINES = 999  # lines of one payload told apart in `VesselUpdate.seq`


def _cut(raw: str) -> str:
    return raw if len(raw) <= MAX_RAW else raw[:MAX_RAW] + "…"


def _one_group(parts: list[Part], source: str) -> bool:
    """The parts (sorted by index) are exactly parts 1..total of one message."""
    key, sig = parts[0].key(source), parts[0].signature()
    return all(p.key(source) == key and p.signature() == sig for p in parts) and [
        p.index for p in parts
    ] == list(range(1, parts[0].total + 1))


class Collector:
    """Accumulates one batch; `time_ms` overrides tag-block times (AIS-catcher rxuxtime)."""

    __slots__ = (
        "fragments",
        "ignored",
        "line_no",
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
        self.pending: dict[str, dict[int, Part]] = {}
        self.received_ms = received_ms
        self.source = source
        self.time_ms = time_ms
        self.line_no = 0

    def reject(self, reason: str, raw: str, detail: str) -> None:
        if reason == NMEA_NOT_AIS:  # valid NMEA, nothing we use: ignored, not dead-lettered
            self.ignored.append(reason)
        else:
            self.rejections.append(Rejection(reason, _cut(raw), detail))

    def batch(self) -> AisBatch:
        for group in self.pending.values():
            self._to_fragments(group)
        self.pending.clear()
        return AisBatch(self.updates, self.rejections, self.fragments, self.ignored)

    def decode(self, parts: Sequence[Part]) -> None:
        """Decode one complete message (parts in index order)."""
        time_ms = self.time_ms
        if time_ms is None:
            time_ms = next((p.tb_ms for p in parts if p.tb_ms is not None), None)
        if len(parts) == 1:
            payload, bv = parts[0].payload, parts[0].bv
        else:
            payload, bv = "".join(p.payload for p in parts), None
        seq = self.received_ms * 1000 + min(self.line_no, MAX_LINES)
        try:
            upd = decode(
                payload,
                parts[-1].fill,
                bv,
                self.received_ms if time_ms is None else time_ms,
                seq,
            )
        except Reject as r:
            self.reject(r.reason, "\n".join(p.text for p in parts), r.detail)
            return
        if upd is None:
            self.ignored.append(TYPE_UNUSED)
            return
        if any(p.unverified for p in parts):  # rare: the common path builds no second object
            upd = dataclasses.replace(upd, unverified_tagblock=True)
        self.updates.append(upd)

    def line(self, line: str) -> None:
        self.line_no += 1
        if len(line) > MAX_LINE:
            self.reject(MALFORMED, line, f"line of {len(line)} characters")
            return
        try:
            parts = split_line(line)
        except Reject as r:
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
        parts.sort(key=operator.attrgetter("index"))
        if any(p.total == 1 for p in parts):
            self.reject(MALFORMED, line, "more than one message on a line")
        elif not _one_group(parts, self.source):
            self.reject(
                BAD_FRAGMENT,
                line,
                "the sentences on this line are not all the parts of one message",
            )
        else:
            self.decode(parts)

    def _add(self, part: Part) -> None:
        key = part.key(self.source)
        group = self.pending.get(key)
        if group is not None:
            first = next(iter(group.values()))
            if first.signature() != part.signature():
                self.reject(
                    BAD_FRAGMENT,
                    part.text,
                    "part disagrees with the earlier parts of its group (channel/seq/total)",
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

    def _to_fragments(self, group: dict[int, Part]) -> None:
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

    def assemble(self, lines: list[str]) -> None:
        """The kept parts of one group, in any order (`assemble_fragments`)."""
        raw = "\n".join(line.strip() for line in lines)
        parts: list[Part] = []
        for line in lines:
            try:
                parts += split_line(line.strip())
            except Reject as r:
                self.reject(r.reason, raw, r.detail)
                return
        if not parts:
            self.reject(BAD_FRAGMENT, raw, "no parts")
            return
        parts.sort(key=operator.attrgetter("index"))
        if _one_group(parts, self.source):
            self.decode(parts)
        else:
            self.reject(BAD_FRAGMENT, raw, f"not parts 1..{parts[0].total} of one group")


def text_lines(payload: bytes, out: Collector) -> Iterable[str]:
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
