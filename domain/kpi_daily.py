"""The incident figures from additive tables, so that a closed day's incidents are framed once
and kept as four small tables instead of being read and framed at every request. Pure: no
Redis, no Dash.

`incident_tables` turns an incident frame (domain/kpi_frames.py `incidents_frame`, after
`select`) into four tables that add up by concatenation: counts (`incident_counts` rows plus
simulated and without_units), durations (`duration_rows`: every interval, exact), units (per
group and unit, how many incidents the unit was on) and involved (per group and department,
how many incidents it owned). `figures` computes from the concatenated tables exactly what
domain/kpis.py computes from the frame: handling rate, response times (medians and p90s from
the exact interval values, never from per-day summaries), workload and the incident counts.
Tables carry the group columns of `match` (source, department, subdistrict), so a filter
applies to them as to the frame.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from domain import kpis
from domain.kpi_frames import (
    COUNT_COLUMNS,
    COUNT_KEYS,
    GROUP_KEYS,
    duration_rows,
    incident_counts,
    match,
)

EXTRA_COUNTS = ("simulated", "without_units")
TABLES: dict[str, tuple[list[str], list[str]]] = {  # name: (key columns, value columns)
    "counts": ([*COUNT_KEYS], [*COUNT_COLUMNS, *EXTRA_COUNTS]),
    "durations": ([*COUNT_KEYS, "interval"], ["seconds"]),
    "units": ([*GROUP_KEYS, "unit"], ["incidents"]),
    "involved": ([*GROUP_KEYS, "involved"], ["incidents"]),
}


def empty_tables() -> dict[str, pd.DataFrame]:
    return {name: _typed(pd.DataFrame(columns=k + v)) for name, (k, v) in TABLES.items()}


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """Key columns as text (pandas' str), counts as int64, seconds as float64: the same dtypes
    whether a table was framed now or decoded from JSON (so groupings and sums agree)."""
    for name, (key_cols, value_cols) in TABLES.items():
        if list(table.columns) == key_cols + value_cols:
            kind = "float64" if name == "durations" else "int64"
            return table.astype(
                {**dict.fromkeys(key_cols, "str"), **dict.fromkeys(value_cols, kind)}
            )
    raise ValueError(f"not a table: {list(table.columns)}")


def incident_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The four additive tables of an incident frame that has a boolean `simulated` column
    (the record says it is simulated history)."""
    if not len(df):
        return empty_tables()
    counts = incident_counts(df)
    extra = (
        df.assign(
            simulated=df["simulated"].astype("int64"),
            without_units=(df["units"].map(len) == 0).astype("int64"),
        )
        .groupby(list(COUNT_KEYS), as_index=False, sort=True)[list(EXTRA_COUNTS)]
        .sum()
    )
    counts = counts.merge(extra, on=list(COUNT_KEYS), how="left", validate="one_to_one")
    durations = duration_rows(df)[[*COUNT_KEYS, "interval", "seconds"]]
    return {
        "counts": _typed(counts),
        "durations": _typed(durations),
        "units": _typed(_per(df, "units", "unit")),
        "involved": _typed(_per(df, "departments", "involved")),
    }


def _per(df: pd.DataFrame, list_col: str, name: str) -> pd.DataFrame:
    """Per group and member of a list column, how many incidents list it."""
    long = df[[*GROUP_KEYS, list_col]].explode(list_col).dropna(subset=[list_col])
    long = long.rename(columns={list_col: name})
    return (
        long.groupby([*GROUP_KEYS, name], as_index=False, sort=True)
        .size()
        .rename(columns={"size": "incidents"})
    )


def concat(parts: Iterable[Mapping[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Tables of several parts (days, the live records) as one set of tables."""
    parts = [p for p in parts if p]
    out = {}
    for name, (k, v) in TABLES.items():
        pieces = [p[name] for p in parts if len(p[name])]
        # every piece is typed already (incident_tables, from_docs): so is their concatenation
        out[name] = (
            pd.concat(pieces, ignore_index=True) if pieces else _typed(pd.DataFrame(columns=k + v))
        )
    return out


def pick(
    tables: Mapping[str, pd.DataFrame],
    department: str | Collection[str] | None = None,
    subdistrict: str | Collection[str] | None = None,
    source: str | Collection[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """`match` on every table."""
    return {k: match(t, department, subdistrict, source) for k, t in tables.items()}


def _workload(tables: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """domain.kpis.workload from the tables (the same sort orders and columns)."""
    counts = tables["counts"]
    per_unit = (
        tables["units"]
        .groupby("unit")["incidents"]
        .sum()
        .reset_index()
        .sort_values(["incidents", "unit"], ascending=[False, True], ignore_index=True)
    )
    lead = counts.groupby("department")["reported"].sum().rename("lead")
    lead = lead[lead > 0]
    inv = tables["involved"].groupby("involved")["incidents"].sum().rename("involved")
    inv = inv[inv > 0].rename_axis("departments")
    per_dept = pd.concat([lead, inv], axis=1).fillna(0).astype("int64").rename_axis("department")
    return {
        "n": int(counts["reported"].sum()),
        "n_without_units": int(counts["without_units"].sum()),
        "per_unit": per_unit,
        "per_department": per_dept.reset_index(),
    }


def figures(tables: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """handling_rate, response_times and workload as domain/kpis.py gives them for the frame
    the tables come from; n and simulated: how many incidents, how many simulated."""
    counts = tables["counts"]
    return {
        "n": int(counts["reported"].sum()),
        "simulated": int(counts["simulated"].sum()),
        "handling_rate": kpis.handling_rate_from_counts(counts),
        "response_times": kpis.response_times_from(tables["durations"], counts),
        "workload": _workload(tables),
    }


# -- kept as JSON: columns of lists ------------------------------------------------------------


def to_doc(tables: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, list[Any]]]:
    """The tables as plain lists per column: JSON as they are (orjson keeps every bit of a
    float), and what `from_docs` joins."""
    return {name: {c: t[c].tolist() for c in t.columns} for name, t in tables.items()}


def from_docs(docs: Iterable[Mapping[str, Mapping[str, list[Any]]]]) -> dict[str, pd.DataFrame]:
    """The tables of several days' docs as one set: the lists joined first, then one frame per
    table (a frame per day and table costs 15 times as much for 30 days)."""
    docs = list(docs)
    out = {}
    for name, (k, v) in TABLES.items():
        cols: dict[str, list[Any]] = {c: [] for c in k + v}
        for doc in docs:
            part = doc.get(name) or {}
            for c in cols:
                cols[c].extend(part.get(c, []))
        out[name] = _typed(pd.DataFrame(cols))
    return out


def settled(df: pd.DataFrame, day: str) -> np.ndarray:
    """Rows whose figures can no longer change: in a final state (a final record takes no
    transition, so its record, deadline statuses and intervals are fixed whatever the time)
    and reported on `day` (the day whose table keeps them)."""
    return (df["final_ms"].notna() & (df["day"] == day)).to_numpy()
