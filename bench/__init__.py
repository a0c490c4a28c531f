"""Benchmarks: `python run.py bench NAME [--out FILE] [KEY=VALUE ...]`, each writing a JSON report
with its figures and their ratio to a raw baseline measured in the same run."""

from __future__ import annotations

import importlib
from pathlib import Path

from config.settings import Settings

BENCHMARKS = {"ingest": "bench.ingest", "map": "bench.map", "dispatch": "bench.dispatch",
              "coverage": "bench.coverage", "kpi": "bench.kpi"}


def run_benchmark(name: str, out: Path, settings: Settings, options: list[str]) -> None:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    opts = {}
    for o in options:
        key, sep, value = o.partition("=")
        if not sep:
            raise ValueError(f"benchmark option {o!r} must look like KEY=VALUE")
        opts[key] = value
    importlib.import_module(BENCHMARKS[name]).main(out, settings, opts)
