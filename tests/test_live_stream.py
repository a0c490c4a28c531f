"""The live picture pushed to map pages (issue: the live picture): one picture per process kept
from Redis, updates carrying only what changed, a stream per page over real HTTP that every
reader follows in order, resumes after a reconnect, and ends when its session does."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis
import requests

from config.settings import Settings
from domain import picture as pic
from ingest.worker import written_fields
from services.context import build
from services.picture import PictureFeed
from store import alerts, users
from store.ops import FieldUpdate, Observation, RaiseAlert
from store.writer import LiveStore
from tests.helpers import PASSWORD, make_app, serve_app

NOW = int(time.time() * 1000)


def _unit(uid: str, seq: int, lon: float, lat: float = 22.59) -> list[Any]:
    state = {"lat": lat, "lon": lon, "ts": NOW + seq, "seq": seq}
    return [
        Observation("unit", uid, NOW + seq, seq, f"{seq}", state, {"ts": NOW + seq}, lon, lat),
        FieldUpdate("unit", uid, "profile_ts", NOW, "unit_profile", {"name": f"巡查 {uid}"}),
    ]


def _write(store: LiveStore, ops: list[Any]) -> None:
    """As the worker does: the writes, then the batch's count with the entities it changed."""
    out = store.write(ops, NOW)
    store.count_messages({"applied": 1}, {}, written_fields(ops, out.verdicts))


@pytest.fixture
def store(r: redis.Redis) -> LiveStore:
    return LiveStore(r, 3_600_000, 1000)


def test_an_update_carries_only_what_changed(settings: Settings, store: LiveStore) -> None:
    _write(store, _unit("U-A", 1, 114.40) + _unit("U-B", 1, 114.50))
    feed = PictureFeed(build(settings))
    assert feed.step() is None and feed.seq == 0  # the first picture
    assert set(feed.layers["units"]) == {"U-A", "U-B"}
    assert feed.layers["units"]["U-A"]["name"] == "巡查 U-A"
    _write(store, _unit("U-A", 2, 114.41))
    update = feed.step(wait_ms=2000)
    assert update is not None and (update.since, update.seq) == (0, 1)
    assert set(update.changed) == {"units"} and set(update.changed["units"]) == {"U-A"}
    assert update.changed["units"]["U-A"] == {"lon": 114.41, "ts": NOW + 2}  # only what moved
    assert not update.gone
    body = orjson.loads(update.body)
    assert body["type"] == "update" and body["changed"]["units"]["U-A"]["lon"] == 114.41
    assert feed.step(wait_ms=100) is None  # nothing new: nothing sent


def test_the_picture_kept_from_the_written_fields_is_the_one_a_whole_read_makes(
    settings: Settings, store: LiveStore, r: redis.Redis
) -> None:
    """The updates bring the held copies up to date from the fields each batch wrote (no read
    back): after moves, a status, a renamed vessel and a sensor's new reading, the picture is
    the one a fresh process reads from Redis."""
    vessel = {"lat": 22.5, "lon": 114.6, "sog_kn": 8.5, "cog": 90.0, "heading": 88}
    sensor = {"lat": 22.55, "lon": 114.50, "v.ph": 7.1, "v.do": 6.0}
    first = [
        Observation("vessel", "412000001", NOW, 0, "a", vessel, {"ts": NOW}, 114.6, 22.5),
        FieldUpdate("vessel", "412000001", "static_ts", NOW, "vessel_static", {"name": "A"}),
        Observation("sensor", "S-1", NOW, 1, "1", sensor, {"ts": NOW}, 114.50, 22.55),
    ]
    kuichong, dapeng = (114.43, 22.63), (114.51, 22.60)  # on land, in two sub-districts
    _write(store, [*_unit("U-A", 1, 114.40), *_unit("U-C", 1, *kuichong), *first])
    feed = PictureFeed(build(settings))
    feed.step()
    assert feed.layers["units"]["U-C"]["subdistrict"] == "kuichong"
    moved = {"lat": 22.6, "lon": 114.61, "sog_kn": 9.25, "cog": 91.5}
    then = [
        FieldUpdate("unit", "U-A", "status_ts", NOW + 2, "unit_status", {"status": "en_route"}),
        Observation("vessel", "412000001", NOW + 3, 0, "b", moved, {"ts": NOW}, 114.61, 22.6),
        FieldUpdate("vessel", "412000001", "static_ts", NOW + 3, "vessel_static", {"name": "B"}),
        Observation("sensor", "S-1", NOW + 4, 2, "2", {"v.ph": 9.6}, {"ts": NOW}),
    ]
    _write(store, [*_unit("U-A", 2, 114.41), *_unit("U-C", 2, *dapeng), *then])
    before = _hash_reads(r)
    update = feed.step(wait_ms=2000)
    assert update is not None and _hash_reads(r) == before  # nothing read back
    assert update.changed["units"]["U-A"]["status"] == "en_route"
    assert update.changed["vessels"]["412000001"]["name"] == "B"
    assert update.changed["units"]["U-C"]["subdistrict"] == "dapeng"  # moved across a border
    readings = {name: value for name, value, *_ in feed.layers["sensors"]["S-1"]["readings"]}
    assert readings == {"do": 6.0, "ph": 9.6}  # a reading adds to the others
    fresh = PictureFeed(build(settings))
    fresh.step()
    assert feed.layers == fresh.layers


def _hash_reads(r: redis.Redis) -> int:
    """How many hash reads (and scripts) Redis has run, by its own count."""
    stats = r.info("commandstats")
    return sum(
        stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("hmget", "hgetall", "evalsha")
    )


def test_a_write_announced_late_does_not_undo_a_newer_one(
    settings: Settings, store: LiveStore
) -> None:
    """With several workers, a batch may be announced after a newer one for the same unit:
    the picture keeps the newer, as the hash does; an entity announced without its fields (or
    new to the picture) is read back."""
    _write(store, _unit("U-A", 1, 114.40))
    feed = PictureFeed(build(settings))
    feed.step()
    newer, older = _unit("U-A", 3, 114.43), _unit("U-A", 2, 114.42)
    newer_out, older_out = store.write(newer, NOW), store.write(older, NOW)
    assert older_out.verdicts[0] == "stale"  # the hash keeps the newer
    # announced in the other order, as if by two workers (the older as if it had applied)
    store.count_messages({"applied": 1}, {}, written_fields(older, ["applied", "applied"]))
    store.count_messages({"applied": 1}, {}, written_fields(newer, newer_out.verdicts))
    for _ in range(2):
        feed.step(wait_ms=1000)
    assert feed.layers["units"]["U-A"]["lon"] == 114.43
    store.write(_unit("U-B", 1, 114.5), NOW)  # written by hand: announced without its fields
    store.count_messages({"applied": 1}, {}, {"unit:U-B": None})
    update = feed.step(wait_ms=2000)
    assert update is not None and update.changed["units"]["U-B"]["lon"] == 114.5


def test_alerts_reach_the_picture_through_their_own_version_and_recolour_their_sensor(
    settings: Settings, store: LiveStore, r: redis.Redis
) -> None:
    sensor = {"lat": 22.55, "lon": 114.50, "ts": NOW, "seq": 1, "v.ph": 7.1}
    _write(store, [Observation("sensor", "S-1", NOW, 1, "1", sensor, {"ts": NOW}, 114.50, 22.55)])
    feed = PictureFeed(build(settings))
    feed.step()
    assert feed.layers["sensors"]["S-1"]["state"] == "ok" and not feed.layers["alerts"]
    fields = {"severity": "critical", "kind": "water", "source": "S-1", "lat": 22.55, "lon": 114.5}
    # an alert is not announced on the changes stream: its version moves, and that is enough
    store.write([RaiseAlert("A-1", NOW + 5, fields)], NOW)
    update = feed.step(wait_ms=1500)
    assert update is not None and set(update.changed) == {"alerts", "sensors"}
    assert update.changed["alerts"]["A-1"]["severity"] == "critical"
    assert update.changed["sensors"]["S-1"] == {"state": "critical"}  # only the one it names
    assert alerts.close(r, "A-1", "duty", NOW + 9, 3_600_000, "resolved") == alerts.Outcome.DONE
    update = feed.step(wait_ms=1500)
    assert update is not None and update.gone == {"alerts": ["A-1"]}
    assert update.changed["sensors"]["S-1"] == {"state": "ok"}


def test_vessels_not_heard_for_an_hour_leave_the_picture() -> None:
    now = NOW
    vessels = {"1": {"ts": now - 10_000}, "2": {"ts": now - int(pic.VESSEL_GONE_S * 1000) - 1}}
    assert pic.departed(vessels, now) == ["2"]
    assert pic.without(vessels, ["2"]) == {"1": vessels["1"]}


# -- over HTTP ---------------------------------------------------------------------------------


def _signed_in(base: str, name: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": token, "username": name, "password": PASSWORD, "next": "/"}
    assert s.post(f"{base}/login", data=form, allow_redirects=False, timeout=30).status_code == 302
    return s


def events(resp: requests.Response) -> Iterator[dict[str, Any]]:
    """The stream's events as {event, id, data} (comments and retry lines skipped)."""
    ev: dict[str, Any] = {}
    for raw in resp.iter_lines(decode_unicode=True):
        if raw == "":
            if "data" in ev:
                yield ev
            ev = {}
        elif not raw.startswith(":") and ":" in raw:
            name, _, value = raw.partition(":")
            ev[name] = orjson.loads(value) if name == "data" else value.strip()


class Reader(threading.Thread):
    """One map page: reads its stream until `until` events or the stream ends."""

    def __init__(self, base: str, session: requests.Session, until: int) -> None:
        super().__init__(daemon=True)
        self.base, self.session, self.until = base, session, until
        self.got: list[dict[str, Any]] = []
        self.open = threading.Event()

    def run(self) -> None:
        with self.session.get(f"{self.base}/_stream/live", stream=True, timeout=60) as resp:
            assert resp.status_code == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            for ev in events(resp):
                self.got.append(ev)
                self.open.set()
                if len(self.got) >= self.until:
                    return


@pytest.fixture
def site(settings: Settings, r: redis.Redis) -> Iterator[str]:
    users.create_user(r, "duty", "operator", PASSWORD)
    yield from serve_app(make_app(settings))


def test_50_streams_each_get_every_update_in_order(site: str, store: LiveStore) -> None:
    _write(store, _unit("U-M", 0, 114.30))
    session = _signed_in(site, "duty")
    moves = 10
    readers = [Reader(site, session, 1 + moves) for _ in range(50)]
    for reader in readers:
        reader.start()
    for reader in readers:
        assert reader.open.wait(30), "a stream never opened"
    for step in range(1, moves + 1):
        _write(store, _unit("U-M", step, 114.30 + step / 100))
        time.sleep(0.15)  # one update each: the feed reads the batches as they come
    for reader in readers:
        reader.join(60)
    for reader in readers:
        first, *rest = reader.got
        assert first["event"] == "picture"
        seqs = [first["data"]["seq"]] + [ev["data"]["seq"] for ev in rest]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs  # every one, in order
        assert all(ev["data"]["since"] == s for ev, s in zip(rest, seqs, strict=False))
        lons = [ev["data"]["changed"]["units"]["U-M"]["lon"] for ev in rest]
        assert lons[-1] == round(114.30 + moves / 100, 5)
        assert lons == sorted(lons)


def test_a_reconnect_resumes_after_the_last_event(site: str, store: LiveStore) -> None:
    _write(store, _unit("U-R", 0, 114.30))
    session = _signed_in(site, "duty")
    first = Reader(site, session, 2)
    first.start()
    assert first.open.wait(30)
    _write(store, _unit("U-R", 1, 114.31))
    first.join(30)
    last = first.got[-1]["id"]
    _write(store, _unit("U-R", 2, 114.32))
    time.sleep(0.5)
    with session.get(
        f"{site}/_stream/live", headers={"Last-Event-ID": last}, stream=True, timeout=30
    ) as resp:
        ev = next(events(resp))
    assert ev["event"] == "update" and ev["data"]["changed"]["units"]["U-R"]["lon"] == 114.32


def test_signing_out_in_another_tab_ends_the_stream(site: str, store: LiveStore) -> None:
    _write(store, _unit("U-S", 0, 114.30))
    session = _signed_in(site, "duty")
    reader = Reader(site, session, 100)
    reader.start()
    assert reader.open.wait(30)
    csrf = session.cookies.get("_csrf_token")
    session.post(f"{site}/logout", headers={"X-CSRFToken": csrf}, timeout=10)
    reader.join(15)
    assert not reader.is_alive(), "the stream outlived its session"
    assert reader.got[-1]["event"] == "bye"
    assert requests.get(f"{site}/_stream/live", timeout=10).status_code == 401  # anonymous


def test_answers_that_stay_http_are_compressed_and_the_stream_is_not(site: str) -> None:
    session = _signed_in(site, "duty")
    session.headers["Accept-Encoding"] = "gzip, br"
    layout = session.get(f"{site}/_dash-layout", timeout=30)
    assert layout.status_code == 200 and layout.headers.get("Content-Encoding") in ("gzip", "br")
    with session.get(f"{site}/_stream/live", stream=True, timeout=30) as resp:
        assert "Content-Encoding" not in resp.headers
        assert resp.headers["X-Accel-Buffering"] == "no"


def test_a_diff_names_added_changed_and_gone_records_or_only_those_asked() -> None:
    from domain.picture import diff

    old = {"A": {"lat": 1, "name": "a"}, "B": {"lat": 2}, "C": {"lat": 3, "x": 1}}
    new = {"A": {"lat": 1, "name": "a"}, "C": {"lat": 4}, "D": {"lat": 5}}
    assert diff(old, new) == ({"C": {"lat": 4, "x": None}, "D": {"lat": 5}}, ["B"])
    assert diff(old, new, only=["C"]) == ({"C": {"lat": 4, "x": None}}, [])
