"""One versioned live picture per web process, and the updates that lead from one version to
the next, for the pushed stream every map page reads (dashboard/live_stream.py).

The picture is a cache of Redis, never state of its own: it is rebuilt from Redis in full at
start, every FULL_EVERY_S and whenever the live-changes stream lost entries it had not read;
in between, an update reads only the entities the ingest batches name in that stream
(store/live_changes.py), and the open alerts and incidents (a few hundred at most) whole.

Each process numbers its own pictures (`seq`, under a `token` of its own): a browser that
reconnects to the same process resumes from the updates it holds, one that lands on another
process (or came too late) gets the whole picture. Redis' `live:version` only tells whether the
alerts and incidents need reading again.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from domain import picture as pic
from services import incidents, live
from services.context import AppContext
from services.errors import STORE_DOWN
from store import live_changes, snapshots

# the fields the records are made of (domain/picture.py): read only those
UNIT_FIELDS = ("lat", "lon", "name", "status", "department", "kind", "level", "speed_kmh")
UNIT_FIELDS += ("course",)
VESSEL_FIELDS = ("lat", "lon", "name", "callsign", "ship_type_text", "sog_kn", "cog", "heading")
FULL_EVERY_S = 15.0  # the safety net: changes made outside ingest, vessels leaving, lost batches
KEEP_UPDATES = 300  # about five minutes at one update a second: a reconnect resumes from these
WAIT_MS = 1000  # how long one read of the changes stream waits for the next batch


@dataclass(frozen=True, slots=True)
class Update:
    since: int  # the picture it starts from
    seq: int  # the picture it makes
    changed: dict[str, pic.Layer]  # by layer: records added or changed
    gone: dict[str, list[str]]  # by layer: ids removed
    body: bytes  # the JSON the stream sends, made once for every reader


def _body(kind: str, **fields: Any) -> bytes:
    return orjson.dumps({"type": kind, **fields})


class PictureFeed:
    """The picture and its recent updates; `run` keeps it current (one thread per process)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.layers: dict[str, pic.Layer] = {name: {} for name in pic.LAYERS}
        self.token = secrets.token_hex(4)  # this process's numbering
        self.seq = -1  # of the picture held; -1: nothing read yet
        self._version = -1  # live:version when last read
        self.updates: deque[Update] = deque(maxlen=KEEP_UPDATES)
        self.changed = threading.Condition()
        self._last_id = "0-0"
        self._full_at = 0.0
        self._alerts: list[dict[str, Any]] = []

    # -- what readers ask ------------------------------------------------------------------
    def whole(self) -> tuple[int, bytes]:
        """The picture's number and the whole picture as the stream sends it."""
        with self.changed:
            body = _body("picture", seq=self.seq, now=self.ctx.now_ms(), layers=self.layers)
            return self.seq, body

    def ready(self, timeout_s: float) -> bool:
        """Whether the first picture is read, waiting up to `timeout_s` for it."""
        with self.changed:
            return self.changed.wait_for(lambda: self.seq >= 0, timeout_s)

    def after(self, seq: int) -> list[Update] | None:
        """The updates from picture `seq` on, in order ([] when it is current); None when they
        are no longer held: the reader needs the whole picture."""
        with self.changed:
            if seq == self.seq:
                return []
            held = list(self.updates)
        for i, u in enumerate(held):
            if u.since == seq:
                return held[i:]
        return None

    def wait(self, seq: int, timeout_s: float) -> list[Update] | None:
        """`after(seq)`, waiting up to `timeout_s` for something new."""
        with self.changed:
            if seq == self.seq:
                self.changed.wait(timeout_s)
        return self.after(seq)

    # -- keeping it current ----------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.step()
            except STORE_DOWN:
                time.sleep(1.0)  # the pages' banner says so; try again

    def step(self, wait_ms: int = WAIT_MS) -> Update | None:
        """One round: read what changed (waiting up to `wait_ms`), publish the update if any."""
        r = self.ctx.redis
        if self.seq < 0 or time.monotonic() - self._full_at > FULL_EVERY_S:
            self._last_id = live_changes.latest_id(r)
            self._version = snapshots.version(r)
            return self._publish(self._read_all())
        changes = live_changes.read(r, self._last_id, wait_ms)
        self._last_id = changes.last_id
        version = snapshots.version(r)  # read before the data: a change meanwhile comes next
        moved, self._version = version != self._version, version
        if changes.gap:
            return self._publish(self._read_all())
        if not moved and not changes.entities:
            return None
        layers, touched = self._read_some(changes.entities)
        return self._publish(layers, touched)

    def _read_all(self) -> dict[str, pic.Layer]:
        self._full_at = time.monotonic()
        ctx, now = self.ctx, self.ctx.now_ms()
        self._alerts = live.open_alerts(ctx)
        units = snapshots.entities(ctx.redis, "unit", now, UNIT_FIELDS)
        vessels = snapshots.entities(ctx.redis, "vessel", now, VESSEL_FIELDS)
        return {
            "units": self._units(units),
            "vessels": self._vessels(vessels, now),
            "sensors": self._sensors(snapshots.entities(ctx.redis, "sensor", now)),
            **self._alerts_and_incidents(),
        }

    def _read_some(
        self, entities: Iterable[tuple[str, str]]
    ) -> tuple[dict[str, pic.Layer], dict[str, list[str]]]:
        """The current layers with the named entities read again, and the alerts and incidents
        (a sensor's colour follows its alerts: the sensors are re-read when those change); and
        per entity layer, the ids read again (only those can differ)."""
        ctx, now = self.ctx, self.ctx.now_ms()
        by_kind: dict[str, list[str]] = {}
        for kind, ident in entities:
            if kind in pic.KIND_LAYER:
                by_kind.setdefault(kind, []).append(ident)
        alerts_before = self._alerts
        self._alerts = live.open_alerts(ctx)
        if self._alerts != alerts_before:
            by_kind["sensor"] = list(self.layers["sensors"]) + by_kind.get("sensor", [])
        out = {name: self.layers[name] for name in pic.LAYERS}
        touched: dict[str, list[str]] = {}
        for kind, ids in by_kind.items():
            layer = dict(out[pic.KIND_LAYER[kind]])
            for i in ids:
                layer.pop(i, None)  # gone unless read again below
            fields = {"unit": UNIT_FIELDS, "vessel": VESSEL_FIELDS}.get(kind, ())
            read = snapshots.entities(ctx.redis, kind, now, fields, only=set(ids))  # type: ignore[arg-type]
            layer |= {
                "unit": self._units,
                "vessel": lambda found: self._vessels(found, now),
                "sensor": self._sensors,
            }[kind](read)
            out[pic.KIND_LAYER[kind]] = layer
            touched[pic.KIND_LAYER[kind]] = ids
        return out | self._alerts_and_incidents(), touched

    def _units(self, found: list[dict[str, Any]]) -> pic.Layer:
        return self._placed(
            {str(u["unit_id"]): pic.unit_props(u, None) for u in found}  # type: ignore[misc]
        )

    def _vessels(self, found: list[dict[str, Any]], now: int) -> pic.Layer:
        return self._placed(
            {str(v["mmsi"]): pic.vessel_props(v, None, now) for v in found}  # type: ignore[misc]
        )

    def _placed(self, records: dict[str, pic.Props | None]) -> pic.Layer:
        """The records that are drawn, each with its sub-district (one vectorised lookup)."""
        kept = {k: r for k, r in records.items() if r is not None}
        for r, sub in zip(kept.values(), self._subdistricts(list(kept.values())), strict=True):
            if sub:
                r["subdistrict"] = sub
        return kept

    def _sensors(self, found: list[dict[str, Any]]) -> pic.Layer:
        out = {}
        for s in found:
            sid = str(s["sensor_id"])
            props = pic.sensor_props(s, pic.sensor_level(self._alerts, sid))
            if props is not None:
                out[sid] = props
        return out

    def _alerts_and_incidents(self) -> dict[str, pic.Layer]:
        alerts = {str(a.get("id")): pic.alert_props(a) for a in self._alerts}
        items = incidents.listing(self.ctx, open_only=True)
        found = {str(i.get("id")): pic.incident_props(i) for i in items}
        return {
            "alerts": {k: v for k, v in alerts.items() if v is not None},
            "incidents": {k: v for k, v in found.items() if v is not None},
        }

    def _subdistricts(self, items: list[dict[str, Any]]) -> list[str | None]:
        if not items:
            return []
        return self.ctx.geo.subdistricts_of([e["lon"] for e in items], [e["lat"] for e in items])

    def _publish(
        self, layers: dict[str, pic.Layer], touched: dict[str, list[str]] | None = None
    ) -> Update | None:
        """Publish what differs from the held picture (for a layer in `touched`, only those
        ids can, and only they are compared)."""
        changed: dict[str, pic.Layer] = {}
        gone: dict[str, list[str]] = {}
        for name in pic.LAYERS:
            only = touched.get(name) if touched is not None else None
            if touched is not None and only is None and name in pic.KIND_LAYER.values():
                continue  # an entity layer nothing was read for: the same as held
            set_, removed = pic.diff(self.layers[name], layers[name], only)
            if set_:
                changed[name] = set_
            if removed:
                gone[name] = removed
        with self.changed:
            first = self.seq < 0
            if not first and not changed and not gone:
                return None  # the same picture: readers hold it already
            since, seq = self.seq, self.seq + 1
            now = self.ctx.now_ms()  # the page's clock for ages ("last report 12 s ago")
            body = _body("update", since=since, seq=seq, now=now, changed=changed, gone=gone)
            update = Update(since, seq, changed, gone, body)
            self.layers, self.seq = layers, seq
            if not first:
                self.updates.append(update)
            self.changed.notify_all()
        return None if first else update
