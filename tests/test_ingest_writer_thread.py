"""The ingest worker's writer thread (ingest/worker._Writer): batches are written in the order
they were handled, and once one fails no later one is written (so none is acknowledged past a
batch that was not written); the failure reaches the worker's thread."""

from __future__ import annotations

import threading

import pytest
import redis

from ingest.worker import _Writer


def test_batches_are_committed_in_order() -> None:
    done: list[int] = []
    writer = _Writer(lambda n: done.append(n), threading.Event())
    writer.start()
    for n in range(200):
        writer.put(n)
    writer.finish()
    assert done == list(range(200))
    assert not writer.is_alive()


def test_after_a_failed_batch_none_is_committed_and_the_worker_stops() -> None:
    done: list[int] = []
    stop = threading.Event()

    def commit(n: int) -> None:
        if n == 3:
            raise ValueError("a bug in the write path")
        done.append(n)

    writer = _Writer(commit, stop)
    writer.start()
    with pytest.raises(RuntimeError, match="ingest writer stopped"):
        for n in range(100):
            writer.put(n)
    assert stop.is_set()
    with pytest.raises(ValueError, match="a bug"):
        writer.finish()
    assert done == [0, 1, 2]


def test_redis_away_at_shutdown_is_not_raised_again() -> None:
    """A batch whose write was still being retried when the worker stopped is left unacked
    (the broker redelivers it); stopping is not an error."""

    def commit(_n: int) -> None:
        raise redis.exceptions.ConnectionError("Redis away")

    writer = _Writer(commit, threading.Event())
    writer.start()
    writer.put(1)
    writer.join(timeout=10)
    writer.finish()  # does not raise
