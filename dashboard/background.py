"""One background object per app (the live picture, the field streams' waker): made and its
thread started on first use, shared by every request of the process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app

T = TypeVar("T")
_LOCK = threading.Lock()  # one of each per app, however many requests ask at once
STOP = "background-stop"


def stop_all(app: Any) -> None:
    """Ends the app's background threads (a served app that stops: tests start many in one
    process, and the live picture's builder must not outlive its app)."""
    stop = app.extensions.get(STOP)
    if stop is not None:
        stop.set()


def per_app(name: str, make: Callable[[], T]) -> T:
    """The app's `name` object; made by `make` (which has a `run(stop)` method) the first time,
    its `run` started in a daemon thread called `name`."""
    app: Any = current_app._get_current_object()  # type: ignore[attr-defined]
    with _LOCK:
        found = app.extensions.get(name)
        if found is None:
            found = make()
            stop = app.extensions.setdefault(STOP, threading.Event())
            threading.Thread(target=found.run, args=(stop,), name=name, daemon=True).start()
            app.extensions[name] = found
    return found
