"""The bureau's leadership figures, as plain functions over pandas frames. Pure: no Redis, no
Dash. Every figure carries the number of cases it is computed over (`n`), and a rate over no
case is None (not 0 %): "nothing to judge" is not "all failed".

Incidents come as the frame of domain/kpi_frames.py (`incidents_frame`, filtered by `select`);
for a long history, its daily aggregates (`daily_aggregate`, `combine_daily`) feed
`incident_figures`, and water-quality day rows feed `water_points`.
Rates are fractions in [0, 1]; the bureau's target for handling and coverage is 1 (100 %).
Percentiles are pandas' default linear interpolation between closest ranks (numpy "linear",
Hyndman & Fan type 7): the median of [10, 20, 30, 40] is 25, its 90th percentile 37.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from domain.coverage_places import PLACE_KINDS, Place
from domain.incidents import CLOCKS
from domain.kpi_frames import (
    CLOCK_COUNTS,
    GROUP_KEYS,
    HOUR_MS,
    INTERVALS,
    LOCAL_OFFSET_MS,
    RATE_COUNTS,
    TIME_COUNTS,
    KpiBase,
    duration_rows,
    incident_counts,
    local_days,
    match,
)
from domain.vocab import UnitStatus
from domain.water_quality import Limit, class_limits

TARGET = 1.0
INTERVAL_NAMES = tuple(col for col, _a, _b in INTERVALS)


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den, None where den is 0 (object dtype so that JSON and CSV show no number)."""
    out = (num / den.where(den > 0)).astype(object)
    return out.where(den > 0, None)


def _share(num: int, den: int) -> float | None:
    return num / den if den else None


# -- handling rate -------------------------------------------------------------------------------


def _rate_overall(counts: pd.DataFrame) -> dict[str, Any]:
    sums = {c: int(counts[c].sum()) for c in RATE_COUNTS}
    return {
        **sums,
        "n": sums["received"],
        "rate": _share(sums["handled_in_time"], sums["received"]),
        "target": TARGET,
    }


def _rate_by(counts: pd.DataFrame, key: str) -> pd.DataFrame:
    g = counts.groupby(key, as_index=False, sort=True)[list(RATE_COUNTS)].sum()
    g["n"] = g["received"]
    g["rate"] = _ratio(g["handled_in_time"], g["received"])
    g["target"] = TARGET
    return g


def handling_rate_from_counts(counts: pd.DataFrame) -> dict[str, Any]:
    """`handling_rate` from `incident_counts` rows (raw or stored daily aggregates)."""
    return {
        "overall": _rate_overall(counts),
        **{f"by_{key}": _rate_by(counts, key) for key in GROUP_KEYS},
    }


def handling_rate(df: pd.DataFrame) -> dict[str, Any]:
    """Handling rate (处理率) = handled in time / received, as at the frame's now_ms.

    received (n): incidents reported in the frame, except rejected (judged not a valid case:
    不予受理, so never received) and transferred (passed to another department, which counts
    the case it opens). handled in time: entered `handled` (closing needs it) within the
    handle deadline counted from the report. Every received incident is in n, so one still
    open counts against the rate even before its deadline: `pending` and `overdue` say how
    many are open. overall (a dict), by_source, by_department (lead), by_subdistrict (frames):
    reported, rejected, transferred, received, handled_in_time, handled_late, overdue,
    pending, n, rate (None when n = 0), target (1.0).
    """
    return handling_rate_from_counts(incident_counts(df))


# -- response times ------------------------------------------------------------------------------


def _percentiles(durations: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    g = durations.groupby(keys, sort=True)["seconds"]
    out = pd.DataFrame({"n": g.size(), "median_s": g.median(), "p90_s": g.quantile(0.9)})
    return out.reset_index()


def _interval_summary(durations: pd.DataFrame) -> list[dict[str, Any]]:
    per = _percentiles(durations, ["interval"]).set_index("interval")
    out = []
    for name in INTERVAL_NAMES:  # every interval, also when none happened
        row = per.loc[name] if name in per.index else None
        out.append(
            {
                "interval": name,
                "n": 0 if row is None else int(row["n"]),
                "median_s": None if row is None else float(row["median_s"]),
                "p90_s": None if row is None else float(row["p90_s"]),
            }
        )
    return out


def _deadline_summary(counts: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for clock in CLOCKS:
        started = int(counts[f"{clock}_started"].sum())
        missed = int(counts[f"{clock}_missed"].sum())
        out.append(
            {
                "deadline": clock,
                "n": started,
                "missed": missed,
                "share_missed": _share(missed, started),
            }
        )
    return out


def _deadline_trend(counts: pd.DataFrame) -> pd.DataFrame:
    per_day = counts.groupby("day", sort=True)[list(CLOCK_COUNTS)].sum()
    rows = []
    for clock in CLOCKS:
        part = pd.DataFrame(
            {
                "day": per_day.index,
                "deadline": clock,
                "n": per_day[f"{clock}_started"].to_numpy(),
                "missed": per_day[f"{clock}_missed"].to_numpy(),
            }
        )
        rows.append(part)
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    out["share_missed"] = _ratio(out["missed"], out["n"])
    return out.sort_values(["day", "deadline"], ignore_index=True)


def response_times_from(durations: pd.DataFrame, counts: pd.DataFrame) -> dict[str, Any]:
    """`response_times` from `duration_rows` and `incident_counts` (raw or stored)."""
    return {
        "intervals": _interval_summary(durations),
        "deadlines": _deadline_summary(counts),
        "trend": _percentiles(durations, ["day", "interval"]),
        "deadline_trend": _deadline_trend(counts),
        **{c: int(counts[c].sum()) if c in counts else 0 for c in TIME_COUNTS},
    }


def response_times(df: pd.DataFrame) -> dict[str, Any]:
    """Response times over every incident of the frame (rejected and transferred ones too:
    what happened before they left is a real response).

    intervals: for report->assigned, assigned->on scene, on scene->handled (first entries),
    n = incidents where both ends happened, median_s and p90_s (None when n = 0).
    deadlines: per clock (assign: report->assigned; arrive: assigned->on scene; handle:
    report->handled, so not the third interval), n = incidents whose clock started, missed =
    stopped late or still running past it at now_ms, share_missed = missed / n.
    trend (day, interval, n, median_s, p90_s) and deadline_trend (day, deadline, n, missed,
    share_missed): per local day (UTC+8) of the report.
    times_by_track: the times in these figures that a unit's field report set from its own
    claim because its track supported it; times_flagged: claims its track did not support
    (the server's receipt stood). Every other field-report time is the server's receipt
    (domain/report_times.py).
    """
    return response_times_from(duration_rows(df), incident_counts(df))


# -- workload ------------------------------------------------------------------------------------


def workload(df: pd.DataFrame) -> dict[str, Any]:
    """Incidents per unit and per department over the frame's incidents (n).

    per_unit (unit, incidents): incidents the unit was on at the end (current or released
    units; one taken off by a reassignment is not counted), most first. per_department
    (department, lead, involved): incidents it leads (first owning department) and incidents
    it owns with others (a joint operation counts for each).
    """
    units = df[["id", "units"]].explode("units").dropna(subset=["units"])
    per_unit = (
        units.groupby("units")
        .size()
        .rename("incidents")
        .rename_axis("unit")
        .reset_index()
        .sort_values(["incidents", "unit"], ascending=[False, True], ignore_index=True)
    )
    lead = df.groupby("department").size().rename("lead")
    involved = df[["id", "departments"]].explode("departments").dropna(subset=["departments"])
    inv = involved.groupby("departments").size().rename("involved")
    per_dept = pd.concat([lead, inv], axis=1).fillna(0).astype("int64").rename_axis("department")
    return {
        "n": len(df),
        "n_without_units": int((df["units"].map(len) == 0).sum()),
        "per_unit": per_unit,
        "per_department": per_dept.reset_index(),
    }


def units_on_duty_by_hour(
    events: Iterable[tuple[str, int, str]], from_ms: int, to_ms: int
) -> pd.DataFrame:
    """Units on duty per hour from status changes (unit_id, ts_ms, status).

    A unit is on duty from a change to any status but off_duty until its next change (the
    last one lasts to to_ms); before its first change its status is unknown and not counted,
    so pass the last change before from_ms too. Per hour [h, h + 1 h) from the hour holding
    from_ms up to to_ms (UTC+8 has whole hours, so local and UTC hours coincide): units =
    distinct units on duty at some instant of the hour; unit_hours = on-duty time / 1 h (the
    average number on duty). Two changes of a unit at the same ms: the later one listed wins.
    """
    units, ts, status = _event_arrays(events)
    order = np.lexsort((ts, units))  # by unit, then time; stable for equal times
    units, ts, status = units[order], ts[order], status[order]
    same_next = np.append(units[1:] == units[:-1], False)
    end = np.where(same_next, np.append(ts[1:], 0), to_ms)
    on = status != UnitStatus.OFF_DUTY.value
    start, end, units = np.maximum(ts[on], from_ms), np.minimum(end[on], to_ms), units[on]
    ok = start < end
    start, end, units = start[ok], end[ok], units[ok]
    first, last = start // HOUR_MS, (end - 1) // HOUR_MS
    reps = last - first + 1
    idx = np.repeat(np.arange(len(start)), reps)
    hour = first[idx] + (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps))
    overlap = np.minimum(end[idx], (hour + 1) * HOUR_MS) - np.maximum(start[idx], hour * HOUR_MS)
    hours = np.arange(from_ms // HOUR_MS, -(-to_ms // HOUR_MS))
    slot = hour - hours[0] if len(hours) else hour
    pairs = pd.unique(slot * (int(units.max(initial=0)) + 1) + units[idx])  # np.unique: slow
    n_units = np.bincount(pairs // (int(units.max(initial=0)) + 1), minlength=len(hours))
    ms = np.bincount(slot, weights=overlap, minlength=len(hours))
    return pd.DataFrame(
        {
            "hour_ms": hours * HOUR_MS,
            "local_hour": _local_hours(hours),
            "units": n_units[: len(hours)].astype("int64"),
            "unit_hours": ms[: len(hours)] / HOUR_MS,
        }
    )


def _event_arrays(
    events: Iterable[tuple[str, int, str]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit codes (ints), times and statuses as arrays."""
    ev = list(events)
    if not ev:
        return np.zeros(0, "int64"), np.zeros(0, "int64"), np.zeros(0, object)
    unit, ts, status = zip(*ev, strict=True)
    codes, _names = pd.factorize(pd.Series(unit, dtype=object))
    return (
        codes.astype("int64"),
        np.asarray(ts, dtype="int64"),
        np.asarray([str(s) for s in status], dtype=object),
    )


def _local_hours(hours: np.ndarray) -> list[str]:
    return [
        dt.datetime.fromtimestamp((h * HOUR_MS + LOCAL_OFFSET_MS) / 1000, dt.UTC).strftime(
            "%Y%m%d %H:00"
        )
        for h in hours
    ]


# -- coverage ------------------------------------------------------------------------------------


def coverage_by_day(
    daily_visited: Mapping[str, Iterable[str]], places: Iterable[Place]
) -> pd.DataFrame:
    """Patrol coverage per local day: of the places of each kind (land grid cell, coastline
    segment, sea cell) in each scope ("district" and each sub-district), how many were
    visited that day (store.coverage.daily_visited). Columns: day, scope, kind, covered,
    total (n), percent (None when the scope has none of that kind), target_percent (100).
    Visited ids that are not among `places` are ignored."""
    pl = pd.DataFrame(
        [(p.id, p.kind, p.subdistrict) for p in places], columns=["id", "kind", "subdistrict"]
    )
    scopes = ["district", *sorted(pl["subdistrict"].unique())]
    days = sorted(daily_visited)
    # one frame of every (scope, kind) pair a place counts in: its sub-district and the district
    in_scope = pd.concat([pl.assign(scope="district"), pl.assign(scope=pl["subdistrict"])])
    seen = pd.DataFrame(
        [(day, place) for day in days for place in set(daily_visited[day])], columns=["day", "id"]
    )
    covered = seen.merge(in_scope, on="id").groupby(["day", "scope", "kind"]).size()
    total = in_scope.groupby(["scope", "kind"]).size()
    grid = pd.MultiIndex.from_product([days, scopes, PLACE_KINDS], names=["day", "scope", "kind"])
    out = grid.to_frame(index=False)
    out["covered"] = covered.reindex(grid, fill_value=0).to_numpy().astype("int64")
    out["total"] = total.reindex(grid.droplevel("day"), fill_value=0).to_numpy().astype("int64")
    out["percent"] = (100.0 * out["covered"] / out["total"].where(out["total"] > 0)).astype(object)
    out["percent"] = out["percent"].where(out["total"] > 0, None)
    out["target_percent"] = 100.0
    return out


# -- water quality -------------------------------------------------------------------------------

# The bureau's target for near-shore points is seawater class I whatever class the profile
# names; inland points are judged against their own class.
TARGET_CLASS = {"seawater": "I"}


def _holds(limit: Limit, x: pd.Series) -> pd.Series:
    """Limit.holds over a column (a test checks the two agree); NaN is not judged."""
    if limit.bound == "range":  # `lo <= x <= hi` needs one bool: ask pandas for the range
        lo, hi = limit.value  # type: ignore[misc]
        return x.between(lo, hi)
    return limit.holds(x)  # type: ignore[arg-type]  # <=, > and >= work on a Series as is


def _judged(
    sensor_id: str,
    profile: Mapping[str, Any],
    track: Sequence[Mapping[str, Any]],
    target_class: Mapping[str, str],
) -> pd.DataFrame | None:
    kind = str(profile.get("kind") or "")
    water_class = target_class.get(kind) or profile.get("water_class")
    limits = class_limits(kind, str(water_class)) if water_class else {}
    if not limits:
        return None  # not a water point (air, noise, camera) or no class: nothing to judge
    frame = pd.DataFrame.from_records(list(track))
    ts = pd.to_numeric(frame.get("ts", pd.Series(index=frame.index, dtype=float)), errors="coerce")
    judged = pd.Series(False, index=frame.index)
    failed = pd.Series(False, index=frame.index)
    for name, limit in limits.items():
        if f"v.{name}" in frame:
            x = pd.to_numeric(frame[f"v.{name}"], errors="coerce")
            judged |= x.notna()
            failed |= x.notna() & ~_holds(limit, x)
    keep = judged & ts.notna()
    return pd.DataFrame(
        {
            "sensor_id": sensor_id,
            "kind": kind,
            "water_class": str(water_class),
            "subdistrict": str(profile.get("subdistrict") or ""),
            "name": str(profile.get("name") or sensor_id),
            "day": local_days(ts[keep]).to_numpy(),
            "within": ~failed[keep].to_numpy(),
        }
    )


def water_quality(
    readings: Mapping[str, Sequence[Mapping[str, Any]]],
    sensors: Mapping[str, Mapping[str, Any]],
    target_class: Mapping[str, str] = TARGET_CLASS,
) -> dict[str, pd.DataFrame]:
    """Monitoring points against their water class (limits from domain.water_quality).

    readings: sensor id -> its track entries (`ts`, `v.<parameter>`, text or numbers, as the
    store keeps them); sensors: sensor id -> profile (kind, water_class, subdistrict, name).
    Seawater points are judged against class I (target_class), surface water against the
    profile's class. A reading is within class when every parameter the class defines and the
    reading carries holds; a reading carrying none of them is not counted.
    points: sensor_id, name, kind, water_class, subdistrict, n (readings), within, share,
    days (local days with a reading), days_within (every reading of the day within),
    day_share. breaches_by_day: day, the point's columns, n (readings), breaches (readings
    not within); `water_points` turns stored and recent rows of it into `points`.
    """
    parts = [
        f
        for sid, track in readings.items()
        if (f := _judged(sid, sensors.get(sid) or {}, track, target_class)) is not None
    ]
    r = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=[*_POINT, "day", "within"])
    )
    r["breach"] = (~r["within"].astype(bool)).astype("int64")
    by_day = r.groupby(["day", *_POINT], as_index=False, sort=True).agg(
        n=("breach", "size"), breaches=("breach", "sum")
    )
    return {"points": water_points(by_day), "breaches_by_day": by_day}


_POINT = ["sensor_id", "name", "kind", "water_class", "subdistrict"]


def water_points(by_day: pd.DataFrame) -> pd.DataFrame:
    """The per-point figures of `water_quality` from its breaches_by_day rows, which add up
    across days: keep them per closed day for a long history, and pass stored and recent rows
    together."""
    clean = by_day.assign(clean=(by_day["breaches"] == 0).astype("int64"))
    pts = clean.groupby(_POINT, as_index=False, sort=True).agg(
        n=("n", "sum"),
        breaches=("breaches", "sum"),
        days=("day", "size"),
        days_within=("clean", "sum"),
    )
    pts["within"] = pts["n"] - pts["breaches"]
    pts["share"] = _ratio(pts["within"], pts["n"])
    pts["day_share"] = _ratio(pts["days_within"], pts["days"])
    return pts[[*_POINT, "n", "within", "share", "days", "days_within", "day_share"]]


# -- daily aggregates ----------------------------------------------------------------------------


def incident_figures(
    base: KpiBase, from_day: str | None = None, to_day: str | None = None, **filters: Any
) -> dict[str, Any]:
    """Handling rate and response times over local days [from_day, to_day] (inclusive) and
    `match` filters (department, subdistrict, source), from a KpiBase."""

    def pick(frame: pd.DataFrame) -> pd.DataFrame:
        keep = pd.Series(True, index=frame.index)
        if from_day is not None:
            keep &= frame["day"] >= from_day
        if to_day is not None:
            keep &= frame["day"] <= to_day
        return match(frame[keep], **filters)

    counts, durations = pick(base.counts), pick(base.durations)
    return {
        "handling_rate": handling_rate_from_counts(counts),
        "response_times": response_times_from(durations, counts),
    }
