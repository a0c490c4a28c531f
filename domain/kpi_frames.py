"""Incident records as one pandas frame for the leadership KPIs (domain/kpis.py). Pure: no Redis,
no Dash.

One row per incident, built from the records the store keeps (store/incidents.py): the first time
the incident entered each state (`at_<state>`) is the rule for every time below. A timeline can
only enter a state twice through a replay; the record keeps the first entry, and so do we, as
`domain.incidents.Timeline.entered_ms` does for the deadline clocks.

Deadline statuses follow `domain.incidents.CLOCKS` and `deadlines_missed` exactly (a test checks
the two agree on random records): a clock runs from its start state to its stop state; a final
state (closed, rejected, transferred) stops a clock that has not stopped; a clock still running
at `now_ms` is measured to `now_ms`; it is missed when it ran longer than the deadline.

Also here: the additive forms of the incident figures (`incident_counts`, `duration_rows`) and
the daily aggregates built from them, which domain/kpis.py turns into figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from domain.incidents import CLOCKS, TERMINAL, DispatchRules, Priority, State, load_rules
from domain.vocab import LOCAL_TZ

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
LOCAL_OFFSET_MS = int(LOCAL_TZ.utcoffset(None).total_seconds() * 1000)  # type: ignore[union-attr]
UNKNOWN = "unknown"  # a record without source, department or sub-district still counts

# (column, from state, to state): the three response intervals leaders ask about
INTERVALS = (
    ("report_to_assigned_s", State.REPORTED, State.ASSIGNED),
    ("assigned_to_on_scene_s", State.ASSIGNED, State.ON_SCENE),
    ("on_scene_to_handled_s", State.ON_SCENE, State.HANDLED),
)
# a clock's status at now_ms; `ended`: stopped by a final state in time (rejected, transferred)
STATUSES = ("not_started", "met", "missed", "open", "ended")
GROUP_KEYS = ("source", "department", "subdistrict")
_STATE_NAMES = tuple(s.value for s in State)
_FINAL = tuple(s for s in State if s in TERMINAL)


def ms_col(state: State | str) -> str:
    return f"{State(state).value}_ms"


def local_days(ms: pd.Series | np.ndarray) -> pd.Series:
    """Local day (YYYYMMDD, UTC+8, the store's day key) of each time in ms; NaN -> ''."""
    num = (pd.Series(ms, dtype="float64") + LOCAL_OFFSET_MS) // DAY_MS
    names = {n: _day_name(int(n)) for n in num.dropna().unique()}
    return num.map(names).fillna("").astype(str)


def _day_name(day_number: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day_number)).strftime("%Y%m%d")


def day_bounds_ms(day: str) -> tuple[int, int]:
    """[start, end) of a local day YYYYMMDD in UTC ms."""
    start = dt.datetime.strptime(day, "%Y%m%d").replace(tzinfo=LOCAL_TZ)
    ms = int(start.timestamp() * 1000)
    return ms, ms + DAY_MS


# -- the frame -----------------------------------------------------------------------------------


def _transfer_target(rec: Mapping[str, Any]) -> str:
    """Where a transferred incident went: a `transferred_to` field, else the transfer step of
    the record's `timeline` (store.incidents.timeline entries: extra is JSON text)."""
    if rec.get("transferred_to"):
        return str(rec["transferred_to"])
    for step in rec.get("timeline") or ():
        if step.get("to") == State.TRANSFERRED:
            extra = step.get("extra") or {}
            if isinstance(extra, str | bytes):
                try:
                    extra = orjson.loads(extra or b"{}")
                except orjson.JSONDecodeError:
                    extra = {}
            return str(extra.get("department") or "") if isinstance(extra, dict) else ""
    return ""


def _lists(values: pd.Series) -> list[list[str]]:
    return [[str(x) for x in v if x] if isinstance(v, list | tuple) else [] for v in values]


def _column(raw: pd.DataFrame, name: str) -> pd.Series:
    return raw[name] if name in raw else pd.Series(None, index=raw.index, dtype=object)


def _text_column(raw: pd.DataFrame, name: str) -> pd.Series:
    col = _column(raw, name)
    return col.where(col.notna() & (col != ""), UNKNOWN).astype(str)


def _base(records: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Record fields as columns, in one pass over Python objects per list field."""
    raw = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    departments = _lists(_column(raw, "departments"))
    # handled/closed releases the units into released_units; both lists are who served it
    units = [
        list(dict.fromkeys(a + b))
        for a, b in zip(
            _lists(_column(raw, "units")), _lists(_column(raw, "released_units")), strict=True
        )
    ]
    df = pd.DataFrame(
        {
            "id": _column(raw, "id").fillna("").astype(str),
            **{k: _text_column(raw, k) for k in ("type", "source", "subdistrict")},
            "priority": pd.to_numeric(_column(raw, "priority"), errors="coerce"),
            "department": [d[0] if d else UNKNOWN for d in departments],
            "departments": departments,
            "units": units,
            "transferred_to": [
                _transfer_target(r) if r.get("state") == State.TRANSFERRED else "" for r in records
            ],
            "state": _column(raw, "state").fillna("").astype(str),
        },
        index=raw.index,
    )
    for s in _STATE_NAMES:
        df[f"{s}_ms"] = pd.to_numeric(_column(raw, f"at_{s}"), errors="coerce").astype("float64")
    for c in TIME_COUNTS:  # records older than the counters have none: 0
        df[c] = pd.to_numeric(_column(raw, c), errors="coerce").fillna(0).astype("int64")
    created = pd.to_numeric(_column(raw, "created_ms"), errors="coerce").astype("float64")
    df["reported_ms"] = df["reported_ms"].fillna(created)  # older records: creation = report
    return df


def _final_ms(df: pd.DataFrame) -> pd.Series:
    """When the incident reached a final state; a record in a final state without its time
    (a damaged record) ends at its latest known time, as Timeline.from_entries does."""
    final = df[[ms_col(s) for s in _FINAL]].min(axis=1)
    latest = df[[ms_col(s) for s in State]].max(axis=1)
    in_final = df["state"].isin([s.value for s in _FINAL])
    return final.where(final.notna() | ~in_final, latest)


def _limits_ms(priority: pd.Series, rules: DispatchRules, clock: str) -> pd.Series:
    by_priority = {int(p): getattr(d, f"{clock}_s") * 1000 for p, d in rules.deadlines.items()}
    return priority.map(by_priority).astype("float64")


def _clock_status(df: pd.DataFrame, clock: str, now_ms: int) -> pd.Series:
    start_state, stop_states = CLOCKS[clock]
    start = df[ms_col(start_state)]
    stop = df[[ms_col(s) for s in stop_states]].min(axis=1)
    end = stop.fillna(df["final_ms"]).fillna(float(now_ms))
    missed = start.notna() & (end - start > df[f"{clock}_limit_ms"])
    return pd.Series(
        np.select(
            [start.isna(), missed, stop.notna(), df["final_ms"].notna()],
            ["not_started", "missed", "met", "ended"],
            "open",
        ),
        index=df.index,
    )


def record_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The records' own fields as columns: the part of `incidents_frame` that does not depend
    on the time, so a caller whose records did not change may keep it (pass it as `base`)."""
    return _base(list(records))


def incidents_frame(
    records: Iterable[Mapping[str, Any]],
    now_ms: int,
    rules: DispatchRules | None = None,
    base: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per incident record, with its deadline statuses as they stand at `now_ms`.

    Columns: id, type, source, priority (missing -> 3, routine, as the store's reader does),
    subdistrict, department (the lead: first of `departments`, the department that received the
    case and whose clock ran; a transfer does not move past figures, the target is kept in
    `transferred_to` and the receiving side counts the case it opens), departments, units (the
    units on it: current and released ones), state, `<state>_ms` for every state (first entry,
    float ms, NaN never), final_ms, day (local YYYYMMDD of the report), the three intervals in
    seconds (report->assigned, assigned->on scene, on scene->handled; NaN while not both ends),
    `<clock>_limit_ms` and `<clock>_status` (one of STATUSES) for assign, arrive and handle,
    times_by_track and times_flagged (TIME_COUNTS; 0 for a record without them).
    """
    rules = rules or load_rules()
    df = base.copy() if base is not None else _base(list(records))
    known = {int(p) for p in Priority}
    df["priority"] = (
        df["priority"].where(df["priority"].isin(known), int(Priority.ROUTINE)).astype("int64")
    )
    df["final_ms"] = _final_ms(df)
    df["day"] = local_days(df[ms_col(State.REPORTED)])
    for col, a, b in INTERVALS:
        df[col] = (df[ms_col(b)] - df[ms_col(a)]) / 1000
    for clock in CLOCKS:
        df[f"{clock}_limit_ms"] = _limits_ms(df["priority"], rules, clock)
        df[f"{clock}_status"] = _clock_status(df, clock, now_ms)
    df.attrs["now_ms"] = now_ms
    return df


# -- filters -------------------------------------------------------------------------------------


def _values(v: str | Collection[str] | None) -> list[str] | None:
    if v is None:
        return None
    return [v] if isinstance(v, str) else [str(x) for x in v]


def match(
    df: pd.DataFrame,
    department: str | Collection[str] | None = None,
    subdistrict: str | Collection[str] | None = None,
    source: str | Collection[str] | None = None,
) -> pd.DataFrame:
    """Rows of the lead department(s), sub-district(s) and source(s) asked for (None: all).
    Works on the incident frame and on the grouped counts alike (same column names)."""
    keep = pd.Series(True, index=df.index)
    for col, wanted in (
        ("department", department),
        ("subdistrict", subdistrict),
        ("source", source),
    ):
        if (values := _values(wanted)) is not None:
            keep &= df[col].isin(values)
    return df[keep]


def select(
    df: pd.DataFrame,
    from_ms: int | None = None,
    to_ms: int | None = None,
    department: str | Collection[str] | None = None,
    subdistrict: str | Collection[str] | None = None,
    source: str | Collection[str] | None = None,
) -> pd.DataFrame:
    """Incidents reported in [from_ms, to_ms) (either end None: open), then `match`."""
    reported = df[ms_col(State.REPORTED)]
    keep = pd.Series(True, index=df.index)
    if from_ms is not None:
        keep &= reported >= from_ms
    if to_ms is not None:
        keep &= reported < to_ms
    return match(df[keep], department, subdistrict, source)


# -- additive forms: what a closed day keeps (domain.kpis.daily_aggregate) -----------------------

COUNT_KEYS = ("day", *GROUP_KEYS)
RATE_COUNTS = (
    "reported",
    "rejected",
    "transferred",
    "received",
    "handled_in_time",
    "handled_late",
    "overdue",
    "pending",
)
CLOCK_COUNTS = tuple(f"{c}_{what}" for c in CLOCKS for what in ("started", "missed"))
# Field reports whose event time a unit's track supported (the claim was taken) and claims the
# track did not support (the receipt stood): the incident record's counters
# (domain/report_times.py), summed.
TIME_COUNTS = ("times_by_track", "times_flagged")
COUNT_COLUMNS = (*RATE_COUNTS, *CLOCK_COUNTS, *TIME_COUNTS)


def incident_counts(df: pd.DataFrame) -> pd.DataFrame:
    """Counts per (day, source, department, sub-district); every column adds up across groups
    and days, so stored days and raw recent records combine by concatenation.

    reported: every incident; rejected (judged not a valid case) and transferred (passed to
    another department) are not `received`; of the received: handled_in_time (handle clock
    met), handled_late (handled after it), overdue (not handled, past it at now_ms), pending
    (the rest: not handled, still in time). `<clock>_started` / `<clock>_missed`: incidents
    whose clock started / was missed (stopped late or running late), as `deadlines_missed`.
    times_by_track / times_flagged: the incidents' field-report times taken from a claim the
    unit's track supported / claims it did not support (TIME_COUNTS).
    """
    rejected = df[ms_col(State.REJECTED)].notna() | (df["state"] == State.REJECTED)
    transferred = df[ms_col(State.TRANSFERRED)].notna() | (df["state"] == State.TRANSFERRED)
    received = ~(rejected | transferred)
    handled = df[ms_col(State.HANDLED)].notna()
    late = df["handle_status"] == "missed"
    flags = {
        "reported": pd.Series(True, index=df.index),
        "rejected": rejected,
        "transferred": transferred,
        "received": received,
        "handled_in_time": received & handled & (df["handle_status"] == "met"),
        "handled_late": received & handled & late,
        "overdue": received & ~handled & late,
    }
    flags["pending"] = received & ~(
        flags["handled_in_time"] | flags["handled_late"] | flags["overdue"]
    )
    for clock in CLOCKS:
        flags[f"{clock}_started"] = df[f"{clock}_status"] != "not_started"
        flags[f"{clock}_missed"] = df[f"{clock}_status"] == "missed"
    out = pd.DataFrame(flags).astype("int64")
    for key in (*TIME_COUNTS, *COUNT_KEYS):
        out[key] = df[key]
    return out.groupby(list(COUNT_KEYS), as_index=False, sort=True)[list(COUNT_COLUMNS)].sum()


def duration_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Long form of the three intervals: day, source, department, subdistrict, interval (the
    column name), seconds; only intervals whose both ends happened."""
    names = [col for col, _a, _b in INTERVALS]
    long = df.melt(
        id_vars=list(COUNT_KEYS), value_vars=names, var_name="interval", value_name="seconds"
    )
    return long.dropna(subset=["seconds"]).reset_index(drop=True)


def settles_at_ms(day: str, rules: DispatchRules | None = None) -> int:
    """When a local day's figures stop changing for incidents handled or overdue: its end
    plus the longest handle deadline. Store its aggregate then; an incident still open at
    that time stays counted as overdue (its handle clock is past), its later intervals are
    not in the stored durations."""
    rules = rules or load_rules()
    return day_bounds_ms(day)[1] + max(d.handle_s for d in rules.deadlines.values()) * 1000


def daily_aggregate(df: pd.DataFrame, day: str) -> dict[str, Any]:
    """The figures of one local day (incidents reported that day) in a JSON-ready form that
    adds up across days: `incident_counts` rows and, per group and interval, the interval
    durations (exact, so percentiles over many days stay exact; about 3 numbers per
    incident). Recomputable at any time from the raw records with the same call."""
    part = df[df["day"] == day]
    counts = incident_counts(part)
    durations = (
        duration_rows(part).groupby([*GROUP_KEYS, "interval"])["seconds"].agg(list).reset_index()
    )
    return {
        "day": day,
        "now_ms": df.attrs.get("now_ms"),
        "counts": [
            {k: (v if isinstance(v, str) else int(v)) for k, v in row.items()}
            for row in counts.to_dict("records")
        ],
        "durations": durations.to_dict("records"),
    }


@dataclass(frozen=True, slots=True)
class KpiBase:
    """Additive rows from stored days and raw records: what the incident figures need."""

    counts: pd.DataFrame  # incident_counts rows
    durations: pd.DataFrame  # duration_rows rows


def combine_daily(stored: Iterable[Mapping[str, Any]], recent: pd.DataFrame) -> KpiBase:
    """Stored daily aggregates plus the raw frame of recent incidents. A day that has a stored
    aggregate is taken from it (it was complete when written; raw records of it may be gone
    in part), every other day from the raw frame."""
    stored = list(stored)
    days = {a["day"] for a in stored}
    raw = recent[~recent["day"].isin(days)]
    counts = [pd.DataFrame(a["counts"]) for a in stored if a["counts"]]
    durs = [
        pd.DataFrame(a["durations"]).assign(day=a["day"]).explode("seconds")
        for a in stored
        if a["durations"]
    ]
    counts_df = pd.concat([*counts, incident_counts(raw)], ignore_index=True)
    durations = pd.concat([*durs, duration_rows(raw)], ignore_index=True)
    durations["seconds"] = durations["seconds"].astype("float64")
    cols = list(COUNT_COLUMNS)  # a day stored before a count existed lacks it: 0
    counts_df[cols] = counts_df.reindex(columns=cols).fillna(0).astype("int64")
    return KpiBase(counts_df, durations[[*COUNT_KEYS, "interval", "seconds"]])
