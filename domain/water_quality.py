"""Water-quality class limits (GB 3097-1997 seawater, GB 3838-2002 surface water) and breaches.

Parameter names are the standard files' keys without their bound suffix: `COD_le` -> `COD`,
`dissolved_oxygen_gt` -> `dissolved_oxygen`. `_gt` and `_ge` are lower bounds, `_le` an upper
bound, pH a [low, high] range.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from config import CONFIG_DIR

Bound = Literal["le", "gt", "ge", "range"]

STANDARD_FILES = {
    "seawater": "gb3097_1997_seawater_classes.json",
    "surface_water": "gb3838_2002_surface_water_classes.json",
}


@dataclass(frozen=True, slots=True)
class Limit:
    parameter: str
    bound: Bound
    value: float | tuple[float, float]

    def holds(self, x: float) -> bool:
        if self.bound == "range":
            lo, hi = self.value  # type: ignore[misc]
            return lo <= x <= hi
        if self.bound == "le":
            return x <= self.value  # type: ignore[operator]
        if self.bound == "gt":
            return x > self.value  # type: ignore[operator]
        return x >= self.value  # type: ignore[operator]

    def describe(self) -> str:
        if self.bound == "range":
            lo, hi = self.value  # type: ignore[misc]
            return f"{lo}..{hi}"
        return {"le": "<=", "gt": ">", "ge": ">="}[self.bound] + f" {self.value}"


@dataclass(frozen=True, slots=True)
class Breach:
    parameter: str
    value: float
    limit: Limit


def _split(key: str) -> tuple[str, Bound]:
    for suffix in ("le", "gt", "ge"):
        if key.endswith("_" + suffix):
            return key[: -len(suffix) - 1], suffix  # type: ignore[return-value]
    return key, "range"


@lru_cache(maxsize=8)
def class_limits(
    kind: str, water_class: str, directory: Path = CONFIG_DIR / "standards"
) -> dict[str, Limit]:
    """Limits of one class of one standard; parameters the class does not define are absent."""
    if kind not in STANDARD_FILES:
        return {}
    path = directory / STANDARD_FILES[kind]
    try:
        params = json.loads(path.read_text(encoding="utf-8"))["parameters"]
        out: dict[str, Limit] = {}
        for key, per_class in params.items():
            name, bound = _split(key)
            raw = per_class.get(water_class, per_class.get("all"))
            if raw is None:
                continue
            if bound == "range":
                lo, hi = float(raw[0]), float(raw[1])
                if not lo <= hi:
                    raise ValueError(f"{key}: range {raw} is empty")
                out[name] = Limit(name, bound, (lo, hi))
            else:
                out[name] = Limit(name, bound, float(raw))
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        raise ValueError(f"standards file {path}: {type(e).__name__}: {e}") from None
    return out


def breaches(kind: str, water_class: str | None, values: dict[str, float]) -> list[Breach]:
    """The readings outside their class limits; unknown parameters are not judged."""
    if not water_class:
        return []
    limits = class_limits(kind, water_class)
    return [
        Breach(p, v, limits[p])
        for p, v in sorted(values.items())
        if p in limits and not limits[p].holds(v)
    ]


def check_standards(directory: Path = CONFIG_DIR / "standards") -> None:
    """Load every class of every standard: a broken file stops the worker at start, clearly,
    rather than dead-lettering every reading later."""
    for kind in STANDARD_FILES:
        for water_class in ("I", "II", "III", "IV", "V"):
            class_limits(kind, water_class, directory)
