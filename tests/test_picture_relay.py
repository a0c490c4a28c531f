"""The deployment's one live picture (services/picture_relay.py), against a real Redis: one
process builds while it holds the lease, every process relays the same numbered updates (so a
page resumes on another process), a relay that starts late or misses updates takes the whole
picture and follows on, and a builder killed mid-stream is replaced."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import redis

from config.settings import Settings
from services.context import build
from services.picture import PictureFeed, whole_body
from services.picture_relay import LEASE_S, Builder, PictureRelay
from store import keys, picture_stream, snapshots
from store.picture_stream import Whole
from store.writer import LiveStore
from tests.helpers import wait_for
from tests.test_live_stream import _unit, _write

WAIT_S = 30.0  # generous: a whole read and the lease's renewal on a loaded machine


@pytest.fixture
def store(r: redis.Redis) -> LiveStore:
    return LiveStore(r, 3_600_000, 1000)


@pytest.fixture
def builders(settings: Settings) -> Iterator[Callable[[], None]]:
    """Starts a Builder in a thread, as a web process does, each with an app context of its
    own; all stopped at the end."""
    stops: list[threading.Event] = []

    def start() -> None:
        stop = threading.Event()
        stops.append(stop)
        threading.Thread(target=Builder(build(settings)).run, args=(stop,), daemon=True).start()

    yield start
    for stop in stops:
        stop.set()


def _follow(relays: list[PictureRelay], done: Callable[[], bool], what: str) -> None:
    """Steps the relays (as their threads do) until `done`."""
    deadline = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        for relay in relays:
            relay.step(wait_ms=100)


def _layers(relay: PictureRelay) -> dict[str, Any]:
    return orjson.loads(relay.whole()[2])["layers"]


def _sent(relay: PictureRelay) -> list[tuple[int, int, bytes]]:
    return [(u.since, u.seq, u.body) for u in relay.updates]


def test_one_builder_every_relay_the_same_updates_a_resume_on_another_and_a_late_start(
    settings: Settings, store: LiveStore, r: redis.Redis, builders: Callable[[], None]
) -> None:
    _write(store, _unit("U-A", 1, 114.40) + _unit("U-B", 1, 114.50))
    builders()
    builders()  # two processes' builders: one builds, the other waits for the lease
    a, b = PictureRelay(build(settings)), PictureRelay(build(settings))
    _follow([a, b], lambda: a.seq >= 0 and b.seq >= 0, "the first picture")
    start = a.seq
    for step in range(2, 7):
        _write(store, _unit("U-A", step, 114.40 + step / 100))
        _follow([a, b], lambda s=step: a.seq > start + s - 2 and b.seq == a.seq, f"move {step}")
    assert a.token == b.token and _sent(a) == _sent(b)
    assert [u.since for u in a.updates] == list(range(start, a.seq))  # every one, in order
    marks = [f for _, f in r.xrange(keys.PICTURE) if f[b"k"] == b"p"]
    assert len(marks) == 1  # one builder numbered them

    # a page that followed relay a resumes on b from where it was; another numbering cannot
    assert b.after(a.token, start + 2) == list(b.updates)[2:]
    assert b.after("0ther000", start + 2) is None
    assert _layers(a)["units"]["U-A"]["lon"] == pytest.approx(114.46)
    assert _layers(a) == _layers(b)

    late = PictureRelay(build(settings))  # a process started now: the kept picture and after
    _follow([late], lambda: late.seq == a.seq, "the late relay")
    assert late.token == a.token and _layers(late) == _layers(a)


def test_a_relay_that_missed_updates_takes_a_whole_picture_and_follows_on(
    settings: Settings, store: LiveStore, r: redis.Redis, builders: Callable[[], None]
) -> None:
    _write(store, _unit("U-A", 1, 114.40))
    builders()
    relay = PictureRelay(build(settings))
    _follow([relay], lambda: relay.seq >= 0, "the first picture")
    held = relay.seq
    _write(store, _unit("U-C", 1, 114.45))  # in the update this relay misses
    deadline = time.monotonic() + WAIT_S
    while (
        not (entries := r.xrange(keys.PICTURE, min="-", max="+"))
        or int(entries[-1][1][b"s"]) <= held
    ):
        assert time.monotonic() < deadline, "the builder published no update"
        time.sleep(0.05)
    r.xdel(keys.PICTURE, entries[-1][0])  # trimmed before this relay read it
    _write(store, _unit("U-A", 3, 114.43))
    _follow(
        [relay],
        lambda: _layers(relay)["units"]["U-A"]["lon"] == pytest.approx(114.43),
        "the move after the hole",
    )
    assert "U-C" in _layers(relay)["units"]  # from the whole picture it asked for


def _build_in_a_process(settings: Settings) -> None:
    Builder(build(settings)).run(threading.Event())


def test_a_killed_builder_is_replaced_and_the_relays_take_the_new_numbering(
    settings: Settings, store: LiveStore, builders: Callable[[], None]
) -> None:
    _write(store, _unit("U-A", 1, 114.40))
    process = multiprocessing.get_context("spawn").Process(
        target=_build_in_a_process, args=(settings,), daemon=True
    )
    process.start()
    try:
        relay = PictureRelay(build(settings))
        _follow([relay], lambda: relay.seq >= 0, "the other process's first picture")
        first = relay.token
        builders()  # this process's builder waits: the other holds the lease
        _write(store, _unit("U-A", 2, 114.42))
        _follow([relay], lambda: _layers(relay)["units"]["U-A"]["lon"] == 114.42, "move 2")
        assert relay.token == first
        held = relay.seq
        os.kill(process.pid, signal.SIGKILL)  # no release: its lease lapses after LEASE_S
        killed = time.monotonic()
        _write(store, _unit("U-A", 3, 114.43))
        _follow([relay], lambda: relay.token != first, "a new builder")
        assert time.monotonic() - killed < LEASE_S + WAIT_S
        _follow([relay], lambda: _layers(relay)["units"]["U-A"]["lon"] == 114.43, "move 3")
        assert relay.after(first, held) is None  # a page on the old numbering: whole picture
    finally:
        process.kill()
        process.join(10)


def test_a_relay_takes_no_picture_kept_by_a_builder_that_is_gone(
    settings: Settings, store: LiveStore, r: redis.Redis, builders: Callable[[], None]
) -> None:
    """After a restart Redis still holds the previous run's kept picture: its positions may be
    hours old, so no page is shown it; the new builder's first picture is taken instead."""
    _write(store, _unit("U-A", 1, 114.40))
    old = {"units": {"U-OLD": {"lat": 22.5, "lon": 114.5}}}
    assert picture_stream.builder_lease(r, LEASE_S).acquire(token="0ld0ld00")
    picture_stream.keep_whole(r, Whole("0ld0ld00", 7, "0-1", whole_body(7, 0, old)))
    r.delete(keys.PICTURE_BUILDER)  # that run ended: its lease lapsed
    relay = PictureRelay(build(settings))
    relay.step()
    assert relay.seq == -1 and not relay.ready(0)
    builders()
    _follow([relay], lambda: relay.seq >= 0, "the new builder's picture")
    assert relay.token != "0ld0ld00"
    assert set(_layers(relay)["units"]) == {"U-A"}


def test_a_builder_that_lost_its_lease_writes_nothing(r: redis.Redis) -> None:
    """A builder that stalled past its lease does not know yet that another builds: what it
    would add under its old numbering, or keep over the new builder's picture, is refused."""
    assert picture_stream.builder_lease(r, LEASE_S).acquire(token="aaaa0000")
    picture_stream.mark_first(r, "aaaa0000", 0, whole_body(0, 0, {}))
    r.delete(keys.PICTURE_BUILDER)  # a stall past the lease ...
    assert picture_stream.builder_lease(r, LEASE_S).acquire(token="bbbb0000")  # ... b builds
    entry = picture_stream.mark_first(r, "bbbb0000", 0, whole_body(0, 0, {}))
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        picture_stream.publish(r, "aaaa0000", 0, 1, b"{}", {})
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        picture_stream.keep_whole(r, Whole("aaaa0000", 5, entry, whole_body(5, 0, {})))
    assert picture_stream.whole(r).token == "bbbb0000"  # type: ignore[union-attr]
    assert [f[b"t"] for _, f in r.xrange(keys.PICTURE)] == [b"aaaa0000", b"bbbb0000"]
    picture_stream.publish(r, "bbbb0000", 0, 1, b"{}", {})  # the holder's go in


def test_a_relay_waiting_for_the_holders_picture_asks_for_it(
    settings: Settings, r: redis.Redis
) -> None:
    """The builder holding the lease has not kept its picture (or a stalled one's was kept
    over it): a relay waiting more than a moment asks, rather than waiting a minute."""
    assert picture_stream.builder_lease(r, 60).acquire(token="bbbb0000")
    relay = PictureRelay(build(settings))
    deadline = time.monotonic() + WAIT_S
    while not r.exists(keys.PICTURE_WANTED):
        assert time.monotonic() < deadline, "the relay never asked for the whole picture"
        relay.step(wait_ms=100)
    assert relay.seq == -1


def test_a_relay_and_a_builder_go_on_after_an_error_they_did_not_expect(
    settings: Settings, store: LiveStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Redis refusal (out of memory, a read-only replica after a failover) or a bug in one
    read does not end a process's picture: said in the log, and the picture taken again."""
    _write(store, _unit("U-A", 1, 114.40))
    real_read, real_publish = picture_stream.read, picture_stream.publish
    failed: list[str] = []

    def read_once(*args: Any, **kw: Any) -> Any:
        if "read" not in failed:
            failed.append("read")
            raise redis.exceptions.OutOfMemoryError("OOM command not allowed")
        return real_read(*args, **kw)

    def publish_once(*args: Any, **kw: Any) -> Any:
        if "publish" not in failed:
            failed.append("publish")
            raise KeyError("a bug")
        return real_publish(*args, **kw)

    monkeypatch.setattr(picture_stream, "read", read_once)
    monkeypatch.setattr(picture_stream, "publish", publish_once)
    relay, stop = PictureRelay(build(settings)), threading.Event()
    threading.Thread(target=relay.run, args=(stop,), daemon=True).start()
    try:
        assert relay.ready(WAIT_S)
        for step in range(2, 5):
            _write(store, _unit("U-A", step, 114.40 + step / 100))
        wait_for(
            lambda: _layers(relay)["units"]["U-A"]["lon"] == pytest.approx(114.44),
            WAIT_S,
            "the last move, after both errors",
        )
        assert sorted(failed) == ["publish", "read"]
    finally:
        stop.set()


def test_a_step_that_failed_half_way_loses_no_change(
    settings: Settings, store: LiveStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that times out after the step moved past the changes it announced: the next
    step still publishes them (not only the full read minutes later)."""
    _write(store, _unit("U-A", 1, 114.40))
    feed = PictureFeed(build(settings))
    feed.step()
    _write(store, _unit("U-NEW", 1, 114.45))  # new: the step reads its hash back
    real = snapshots.named_entities

    def times_out(*args: Any, **kw: Any) -> Any:
        raise redis.exceptions.TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(snapshots, "named_entities", times_out)
    with pytest.raises(redis.exceptions.TimeoutError):
        feed.step(100)
    monkeypatch.setattr(snapshots, "named_entities", real)
    update = feed.step(100)
    assert update is not None and "U-NEW" in update.changed.get("units", {})
