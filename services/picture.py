"""The live picture, as its builder keeps it: a versioned cache of Redis and the updates that
lead from one version to the next. One web process of the deployment builds it and publishes
the updates; every web process relays them to its pages' streams (services/picture_relay.py).

The picture is a cache of Redis, never state of its own: it is rebuilt from Redis in full at
start, every FULL_EVERY_S (vessels not heard for an hour are dropped every AGE_EVERY_S
without reading) and whenever the live-changes stream lost entries it had not read;
in between, an update reads only the entities the ingest batches name in that stream
(store/live_changes.py), and the open alerts and incidents (a few hundred at most) whole when
they changed.

Each builder numbers its pictures (`seq`, under a `token` of its own). Redis'
`live:version:overlays` tells whether the alerts and incidents need reading again.
"""

from __future__ import annotations

import gc
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from domain import picture as pic
from services import incidents, live
from services.context import AppContext
from store import live_changes, snapshots

# the fields the records are made of (domain/picture.py), and the clocks the writes to them are
# ordered by (store/live_changes.apply): read only those
CLOCKS = ("seq", "status_ts", "profile_ts", "static_ts", "static_a_ts", "static_b_ts")
UNIT_FIELDS = ("lat", "lon", "name", "status", "department", "kind", "level", "speed_kmh")
UNIT_FIELDS += ("course", *CLOCKS)
VESSEL_FIELDS = ("lat", "lon", "name", "callsign", "ship_type_text", "sog_kn", "cog", "heading")
VESSEL_FIELDS += CLOCKS
FIELDS = {"unit": UNIT_FIELDS, "vessel": VESSEL_FIELDS, "sensor": ()}  # (): all of a sensor's
# what a written field becomes in the held copy (None: every field, typed as a read types it)
KEPT = {
    "unit": snapshots.field_types((*UNIT_FIELDS, "ts")),
    "vessel": snapshots.field_types((*VESSEL_FIELDS, "ts")),
    "sensor": None,
}
# The safety net: a batch written but not announced (a worker killed between the two), a
# restore. Every write to units, vessels and sensors is announced, alerts and incidents have
# their own version, so this is rare: a whole read stalls the updates for a while (~0.5 s).
FULL_EVERY_S = 300.0
AGE_EVERY_S = 15.0  # how often vessels not heard for an hour leave the picture
WAIT_MS = 1000  # how long one read of the changes stream waits for the next batch


@dataclass(frozen=True, slots=True)
class Sent:
    """An update as the streams send it, and as a relay holds it for readers resuming (bytes
    only: the collector has nothing to scan in the last few minutes' updates)."""

    since: int  # the picture it starts from
    seq: int  # the picture it makes
    body: bytes  # the JSON the stream sends, made once for every reader


@dataclass(frozen=True, slots=True)
class Update(Sent):
    """What a step published, with what it carries as objects (for tests and the bench)."""

    changed: dict[str, pic.Layer]  # by layer: records added or changed
    gone: dict[str, list[str]]  # by layer: ids removed
    # when the oldest change it carries was announced by ingest (None: not through ingest):
    # now - this is how long the server took to turn a change into an update (bench map)
    announced_ms: int | None = None


def _body(kind: str, **fields: Any) -> bytes:
    return orjson.dumps({"type": kind, **fields})


def whole_body(seq: int, now_ms: int, layers: dict[str, pic.Layer]) -> bytes:
    """The whole picture as the stream sends it (the builder's and each relay's)."""
    return _body("picture", seq=seq, now=now_ms, layers=layers)


def _by_id(kind: str, found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Entities as read (store/snapshots.py) by their id, as the picture names them."""
    id_field = snapshots.ID_FIELD[kind]
    return {str(e[id_field]): e for e in found}


def changed_in_place(held: pic.Layer, changed: pic.Layer, gone: list[str]) -> None:
    """The held layer made the new one from its diff (pic.diff): records changed in place, so
    a step leaves no new long-lived objects to the collector's full passes (which, on a
    picture of 8,000 records, took 30-50 ms: an update's whole budget)."""
    for k in gone:
        held.pop(k, None)
    for k, delta in changed.items():
        record = held.get(k)
        if record is None:
            held[k] = delta  # added: the whole record
            continue
        for f, v in delta.items():
            if v is None:
                record.pop(f, None)
            else:
                record[f] = v


def settle() -> None:
    """After a whole read: the held picture (thousands of small dicts, kept for minutes) leaves
    the collector's view. Without this the oldest generation grows with it and each full
    collection walks every record (measured 42-45 ms every ~30 s in bench map's feed process,
    stalling whichever update was being made). Records hold no cycles, so reference counting
    still frees the ones a later update replaces. Once per whole read, not per update. What
    the last call froze is collected first: in a web process it froze whatever cycles the
    requests of that moment held, which are garbage by now."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _differences(
    held: dict[str, pic.Layer],
    fresh: dict[str, pic.Layer],
    only: dict[str, Iterable[str]],
    changes: dict[str, dict[str, pic.Props | None]],
) -> tuple[dict[str, pic.Layer], dict[str, list[str]]]:
    """By layer, the records added or changed and the ids gone (PictureFeed._publish's
    arguments; pic.diff's form)."""
    changed: dict[str, pic.Layer] = {}
    gone: dict[str, list[str]] = {}
    for name, layer in fresh.items():
        set_, removed = pic.diff(held[name], layer, only.get(name))
        if set_:
            changed[name] = set_
        if removed:
            gone[name] = removed
    for name, by_id in changes.items():
        for ident, change in by_id.items():
            if change is None:
                gone.setdefault(name, []).append(ident)
            elif change:
                changed.setdefault(name, {})[ident] = change
    return changed, gone


def _alerted_sources(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> set[str]:
    """The sources (sensor ids) of the alerts that differ between two readings."""
    old = {str(a.get("id")): a for a in before}
    new = {str(a.get("id")): a for a in after}
    return {
        str(a.get("source"))
        for k in old.keys() | new.keys()
        if old.get(k) != new.get(k)
        for a in (old.get(k), new.get(k))
        if a is not None
    }


class PictureFeed:
    """The picture as its builder keeps it; `step` brings it up to date (services/picture_relay.py
    runs it in the one process of the deployment that builds)."""

    def __init__(self, ctx: AppContext, token: str | None = None) -> None:
        self.ctx = ctx
        self.layers: dict[str, pic.Layer] = {name: {} for name in pic.LAYERS}
        self.token = token or secrets.token_hex(4)  # this builder's numbering
        self.seq = -1  # of the picture held; -1: nothing read yet
        self._changes = live_changes.Changes("0-0")  # the last read of the changes stream
        self._full_at = self._aged_at = 0.0
        self._alerts: list[dict[str, Any]] = []
        # per kind and id, the fields of its hash the records are made of (a cache like the rest)
        self._rows: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in FIELDS}

    def whole(self) -> bytes:
        """The whole picture as the stream sends it."""
        return whole_body(self.seq, self.ctx.now_ms(), self.layers)

    # -- keeping it current ----------------------------------------------------------------
    def step(self, wait_ms: int = WAIT_MS) -> Update | None:
        """One round: read what changed (waiting up to `wait_ms`), publish the update if any."""
        try:
            return self._step(wait_ms)
        except Exception:
            # a read that failed half-way (a Redis timeout) has moved past changes it did not
            # make into an update, and may have kept some of what it read: the next step reads
            # everything again and publishes what differs, rather than nothing until the next
            # full read (an alert raised meanwhile would be missing from every map)
            self._full_at = float("-inf")
            raise

    def _step(self, wait_ms: int) -> Update | None:
        r = self.ctx.redis
        if self.seq < 0 or time.monotonic() - self._full_at > FULL_EVERY_S:
            self._changes = live_changes.start(r)  # before the data: a change meanwhile comes next
            update = self._publish(self._read_all())
            settle()
            return update
        if time.monotonic() - self._aged_at > AGE_EVERY_S:
            self._aged_at = time.monotonic()
            gone = pic.departed(self.layers["vessels"], self.ctx.now_ms())
            if gone:
                return self._publish({"vessels": {}}, {"vessels": gone})
        before, self._changes = self._changes, live_changes.read(r, self._changes, wait_ms)
        if self._changes.gap:
            return self._publish(self._read_all())
        moved = self._changes.overlays != before.overlays
        if not moved and not self._changes.entities:
            return None
        fresh, only, changes = self._read_some(self._changes.entities, moved)
        return self._publish(fresh, only, changes, self._changes.first_ms)

    def _read_all(self) -> dict[str, pic.Layer]:
        self._full_at = self._aged_at = time.monotonic()
        ctx, now = self.ctx, self.ctx.now_ms()
        self._alerts = live.open_alerts(ctx)
        self._rows = {
            kind: _by_id(kind, snapshots.entities(ctx.redis, kind, now, FIELDS[kind]))
            for kind in FIELDS
        }
        return {
            **{
                pic.KIND_LAYER[kind]: self._records(kind, rows, now)
                for kind, rows in self._rows.items()
            },
            **self._alerts_and_incidents(),
        }

    def _read_some(
        self, written: dict[tuple[str, str], list[dict[str, Any]] | None], overlays: bool
    ) -> tuple[dict[str, pic.Layer], dict[str, set[str]], dict[str, dict[str, pic.Props | None]]]:
        """What the changes make of the entities they name: their held rows brought up to date
        from the fields written (read back only when those are not given or the entity is
        new); for a drawn unit or vessel, the change to its record made from the fields that
        changed (None: no longer drawn), by layer; for the rest, their records made whole, with
        the ids they are for (an id without a record is gone); and the alerts and incidents
        whole when `overlays` changed (a sensor's colour follows its alerts)."""
        ctx, now = self.ctx, self.ctx.now_ms()
        redo: dict[str, set[str]] = {kind: set() for kind in FIELDS}
        unread: dict[str, list[str]] = {}
        changes: dict[str, dict[str, pic.Props | None]] = {}
        for (kind, ident), groups in written.items():
            if kind not in redo:
                continue
            row = self._rows[kind].get(ident)
            if row is None or groups is None:
                redo[kind].add(ident)
                unread.setdefault(kind, []).append(ident)
                continue
            changed = live_changes.apply(row, groups, KEPT[kind])
            layer = pic.KIND_LAYER[kind]
            record, recipe = self.layers[layer].get(ident), pic.RECIPES.get(kind)
            if record is None or recipe is None:
                redo[kind].add(ident)  # to draw anew, or a sensor: made whole
            elif changed:
                change = recipe.change(row, record, changed, now)
                changes.setdefault(layer, {})[ident] = change
        self._moved_subdistricts(changes)
        fresh: dict[str, pic.Layer] = {}
        if overlays:
            alerts_before = self._alerts  # read again: only the alerts raised since
            known = {str(a.get("id")): a for a in alerts_before}
            self._alerts = live.open_alerts(ctx, known=known)
            alerted = _alerted_sources(alerts_before, self._alerts)
            redo["sensor"] |= alerted & self._rows["sensor"].keys()
            fresh |= self._alerts_and_incidents()
        if unread:
            found = snapshots.named_entities(
                ctx.redis,
                {kind: (ids, FIELDS[kind]) for kind, ids in unread.items()},
                now,
            )
            for kind, ids in unread.items():
                rows = self._rows[kind]
                for i in ids:
                    rows.pop(i, None)  # gone unless read again
                rows |= _by_id(kind, found[kind])
        only = {pic.KIND_LAYER[kind]: ids for kind, ids in redo.items() if ids}
        for kind, ids in redo.items():
            if ids:
                rows = self._rows[kind]
                fresh[pic.KIND_LAYER[kind]] = self._records(
                    kind, {i: rows[i] for i in ids if i in rows}, now
                )
        return fresh, only, changes

    def _moved_subdistricts(self, changes: dict[str, dict[str, pic.Props | None]]) -> None:
        """The sub-district of each record whose place changed, into its change when it differs
        (one vectorised lookup, as for whole records)."""
        moved = [
            (self.layers[layer][ident], change)
            for layer, by_id in changes.items()
            for ident, change in by_id.items()
            if change and ("lat" in change or "lon" in change)
        ]
        lons = [change.get("lon", record["lon"]) for record, change in moved]  # never None:
        lats = [change.get("lat", record["lat"]) for record, change in moved]  # still drawn
        for (record, change), sub in zip(
            moved, self.ctx.geo.subdistricts_of(lons, lats), strict=True
        ):
            if (sub or None) != record.get("subdistrict"):
                change["subdistrict"] = sub or None

    def _records(self, kind: str, rows: dict[str, dict[str, Any]], now: int) -> pic.Layer:
        """The layer's records of these entities' rows (those drawn)."""
        if kind == "sensor":
            return self._sensors(rows)
        recipe = pic.RECIPES[kind]
        return self._placed({i: recipe.record(row, None, now) for i, row in rows.items()})

    def _placed(self, records: dict[str, pic.Props | None]) -> pic.Layer:
        """The records that are drawn, each with its sub-district (one vectorised lookup)."""
        kept = {k: r for k, r in records.items() if r is not None}
        lons, lats = [r["lon"] for r in kept.values()], [r["lat"] for r in kept.values()]
        for r, sub in zip(kept.values(), self.ctx.geo.subdistricts_of(lons, lats), strict=True):
            if sub:
                r["subdistrict"] = sub
        return kept

    def _sensors(self, rows: dict[str, dict[str, Any]]) -> pic.Layer:
        out = {}
        for sid, s in rows.items():
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

    def _publish(
        self,
        fresh: dict[str, pic.Layer],
        only: dict[str, Iterable[str]] | None = None,
        changes: dict[str, dict[str, pic.Props | None]] | None = None,
        announced_ms: int | None = None,
    ) -> Update | None:
        """Publish what differs from the held picture. `fresh` holds layers whole, or for a
        layer named in `only`, the records of those ids (an id without one is gone);
        `changes`, by layer and id, the change to a held record as pic.diff gives it (None:
        gone), made from the fields that changed (Recipe.change)."""
        only = only or {}
        changed, gone = _differences(self.layers, fresh, only, changes or {})
        first = self.seq < 0
        if not first and not changed and not gone:
            return None  # the same picture: readers hold it already
        since, seq = self.seq, self.seq + 1
        now = self.ctx.now_ms()  # the page's clock for ages ("last report 12 s ago")
        body = _body("update", since=since, seq=seq, now=now, changed=changed, gone=gone)
        for name in self.layers:
            if name in fresh and name not in only:
                self.layers[name] = fresh[name]
            elif name in changed or name in gone:
                changed_in_place(self.layers[name], changed.get(name, {}), gone.get(name, []))
        self.seq = seq
        return None if first else Update(since, seq, body, changed, gone, announced_ms)
