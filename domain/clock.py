"""The clock: epoch milliseconds from one function, so that every caller can be given another.

The server's clock is the legal clock. Code that needs "now" takes a `Clock` (from the
application context, the worker's context or a parameter) instead of reading the wall clock
itself; a test hands it a fixed one and asserts what holds at that instant.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]


def system_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def fixed(at_ms: int) -> Clock:
    """A clock that always reads `at_ms` (tests, replays)."""

    def clock() -> int:
        return at_ms

    return clock


def running_from(start_ms: int, source: Clock = system_ms) -> Clock:
    """A clock that reads `start_ms` when made and runs on at the pace of `source`: a live
    page at a chosen hour of a chosen day (tests), or a replay."""
    offset = start_ms - source()

    def clock() -> int:
        return source() + offset

    return clock
