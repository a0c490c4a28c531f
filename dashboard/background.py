"""One background object per app (the live picture, the field streams' waker): made and its
thread started on first use, shared by every request of the process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app

T = TypeVar("T")
# one of each per app, however many requests ask at once; reentrant: the stop signals' handler
# (dashboard/serve.py) takes it in the main thread, which may hold it already (worker_exit)
_LOCK = threading.RLock()
STOP = "background-stop"
THREADS = "background-threads"


def stopping(app: Any) -> threading.Event:
    """Set when the app's process stops: its background threads end, and so do its pushed
    streams (their browsers resume on another process)."""
    with _LOCK:
        return app.extensions.setdefault(STOP, threading.Event())


def stop_all(app: Any, wait_s: float = 0.0) -> None:
    """Ends the app's background threads, waiting up to `wait_s` for them to have ended (a
    process that exits: the live picture's builder gives its lease back on the way, so another
    process builds at once rather than after the lease lapses). Tests call it too: they start
    many apps in one process, and a builder must not outlive its app."""
    stopping(app).set()
    deadline = time.monotonic() + wait_s
    for thread in list(app.extensions.get(THREADS, [])):
        thread.join(max(0.0, deadline - time.monotonic()))


def per_app(name: str, make: Callable[[], T]) -> T:
    """The app's `name` object; made by `make` (which has a `run(stop)` method) the first time,
    its `run` started in a daemon thread called `name`."""
    app: Any = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = stopping(app)
    with _LOCK:
        found = app.extensions.get(name)
        if found is None:
            found = make()
            thread = threading.Thread(target=found.run, args=(stop,), name=name, daemon=True)
            thread.start()
            app.extensions.setdefault(THREADS, []).append(thread)
            app.extensions[name] = found
    return found
