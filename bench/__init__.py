"""Benchmarks: `python run.py bench NAME [--out FILE] [KEY=VALUE ...]`, each writing a JSON report
with its figures and their ratio to a raw baseline measured in the same run."""

from __future__ import annotations

import contextlib
import importlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from config.settings import Settings

BENCHMARKS = {
    "ingest": "bench.ingest",
    "map": "bench.map",
    "dispatch": "bench.dispatch",
    "coverage": "bench.coverage",
    "kpi": "bench.kpi",
    "faults": "bench.faults",
    "field": "bench.field",
}


def run_benchmark(name: str, out: Path, settings: Settings, options: list[str]) -> None:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    opts = {}
    for o in options:
        key, sep, value = o.partition("=")
        if not sep:
            raise ValueError(f"benchmark option {o!r} must look like KEY=VALUE")
        opts[key] = value
    with sigterm_unwinds():
        importlib.import_module(BENCHMARKS[name]).main(out, settings, opts)


def _raise_on_sigterm(*_a: object) -> None:
    raise SystemExit(143)


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """A SIGTERM during a benchmark unwinds its context managers and `finally` blocks, so
    every server and process it started is stopped (the default would kill it outright)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
