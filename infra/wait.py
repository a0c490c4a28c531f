"""The one polling helper: wait for something observable instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, interval: float = 0.1) -> T | None:
    """Call `check` until it returns something truthy (that value is returned) or `timeout`
    seconds have passed (None). `check` may raise to give up early (a process that died)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)
