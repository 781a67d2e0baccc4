"""Downtime arithmetic: how long each service spent at each impact level, planned and actual.

Pure functions on frames. A service is down at a level while any phase that impacts it at that
level is in its window; overlapping windows are counted once (a union, never a sum). All
arithmetic is on UTC instants, so a window across a DST change has its real length, whatever
the clock face said.

Only phases that ran (an attempt started by the as-of time) are compared, planned against
actual: a phase that never ran (not run, deferred, or still to come: `outcomes.py`) has no
actual downtime to set against its plan, so its planned time is given on its own
(`planned_not_run`), never counted as time saved. A partial migration reads "4h actual vs 4h
planned for the phases that ran; 8h planned for the phases not run", not "4h actual, 12h
planned"; a service only unrun phases touch has no difference at all, not "0m ... 4h under".

Inputs are the plan's `impacts_frame(plan)` (phase, service, service_name, level, start_utc,
end_utc: the planned windows) and `states.actual_windows(plan, events)` (one row an attempt:
phase, attempt, start_utc, end_utc (NaT while running), outcome, rollback_start_utc).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pandas as pd

from .plan import LEVELS

DOWN_LEVELS = tuple(level for level in LEVELS if level != "unaffected")
"""Impact levels that count as downtime, worst first ('unaffected' is not downtime)."""

CUSTOMER_FACING_LEVEL = "unavailable"
"""Customer-facing downtime is time during which at least one service is unavailable."""

Interval = tuple[pd.Timestamp, pd.Timestamp]

DOWNTIME_COLUMNS = ["service", "service_name", "level", "phases", "planned", "actual",
                    "planned_minutes", "actual_minutes", "difference_minutes", "ran",
                    "phases_not_run", "planned_not_run", "planned_not_run_minutes"]
INTERVAL_COLUMNS = ["phase", "attempt", "start_utc", "end_utc", "outcome", "running"]


def _utc(value: datetime | pd.Timestamp | str) -> pd.Timestamp:
    """An aware UTC Timestamp; naive values are taken to be UTC already."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping intervals covering the same time as `intervals`.

    Empty or inverted intervals (end <= start) cover nothing and are dropped; intervals that
    touch (one ends when the next starts) are joined.
    """
    ordered = sorted((_utc(s), _utc(e)) for s, e in intervals
                     if not pd.isna(s) and not pd.isna(e) and _utc(e) > _utc(s))
    merged: list[Interval] = []
    for start, end in ordered:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def union_length(intervals: Iterable[Interval]) -> timedelta:
    """Real elapsed time covered by at least one interval (overlaps counted once)."""
    return sum(((end - start).to_pytimedelta() for start, end in merge(intervals)), timedelta())


def attempt_intervals(windows: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """The actual windows as closed intervals: an attempt still running ends at `as_of`.

    A rolled-back attempt already ends at its rolled-back time (the rollback is downtime too);
    one still rolling back, like one still in progress, counts until `as_of`. Attempts that
    start after `as_of` are dropped, and nothing counts past `as_of`.
    """
    cutoff = _utc(as_of)
    rows = []
    for row in windows.itertuples(index=False):
        if pd.isna(row.start_utc):
            continue
        start = _utc(row.start_utc)
        running = pd.isna(row.end_utc)
        end = cutoff if running else min(_utc(row.end_utc), cutoff)
        if start >= cutoff:
            continue
        rows.append({"phase": row.phase, "attempt": row.attempt, "start_utc": start,
                     "end_utc": end, "outcome": row.outcome, "running": running})
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)


def _spans(frame: pd.DataFrame, phases: Iterable[str]) -> list[Interval]:
    wanted = set(phases)
    return [(r.start_utc, r.end_utc) for r in frame.itertuples(index=False) if r.phase in wanted]


def phases_run(windows: pd.DataFrame, as_of: datetime) -> set[str]:
    """The phases with an attempt started by `as_of`: the ones planned-vs-actual compares."""
    return set(attempt_intervals(windows, as_of)["phase"])


def downtime(impacts: pd.DataFrame, windows: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Planned and actual downtime of each service at each level that some phase plans for it.

    One row a (service, level), services in their order of first mention, levels worst first:
    `phases` lists the phases impacting it at that level; `planned` is the union of the
    planned windows of those of them that ran (`phases_run`); `actual` the union of their
    actual attempts (see `attempt_intervals`); `difference_minutes` actual minus planned, NaN
    when none of them ran (`ran` False). `phases_not_run` and `planned_not_run` (the union of
    their planned windows) are the rest. Durations are `Timedelta`s, with minutes beside them.
    """
    actual = attempt_intervals(windows, as_of)
    ran = set(actual["phase"])
    planned = impacts[["phase", "start_utc", "end_utc"]].drop_duplicates("phase")
    rows = []
    down = impacts[impacts["level"].isin(DOWN_LEVELS)]
    services = list(dict.fromkeys(down["service"]))
    for service in services:
        mine = down[down["service"] == service]
        for level in DOWN_LEVELS:
            phases = list(dict.fromkeys(mine.loc[mine["level"] == level, "phase"]))
            if not phases:
                continue
            done = [p for p in phases if p in ran]
            left = [p for p in phases if p not in ran]
            planned_time = union_length(_spans(planned, done))
            actual_time = union_length(_spans(actual, phases))
            not_run = union_length(_spans(planned, left))
            rows.append({
                "service": service,
                "service_name": mine["service_name"].iloc[0],
                "level": level,
                "phases": phases,
                "planned": pd.Timedelta(planned_time),
                "actual": pd.Timedelta(actual_time),
                "planned_minutes": planned_time.total_seconds() / 60,
                "actual_minutes": actual_time.total_seconds() / 60,
                "difference_minutes": (actual_time - planned_time).total_seconds() / 60
                if done else float("nan"),
                "ran": bool(done),
                "phases_not_run": left,
                "planned_not_run": pd.Timedelta(not_run),
                "planned_not_run_minutes": not_run.total_seconds() / 60,
            })
    return pd.DataFrame(rows, columns=DOWNTIME_COLUMNS)


def customer_facing(impacts: pd.DataFrame, windows: pd.DataFrame,
                    as_of: datetime) -> tuple[timedelta, timedelta]:
    """(planned, actual) time during which at least one service was unavailable, for the
    phases that ran (`phases_run`; see `customer_facing_not_run` for the others).

    The union over every service of its unavailable time: two services down at once count
    once, so this is the time customers could not use *something*, not a sum per service.
    """
    phases = impacts.loc[impacts["level"] == CUSTOMER_FACING_LEVEL, "phase"].unique()
    planned = impacts[["phase", "start_utc", "end_utc"]].drop_duplicates("phase")
    actual = attempt_intervals(windows, as_of)
    ran = [p for p in phases if p in set(actual["phase"])]
    return union_length(_spans(planned, ran)), union_length(_spans(actual, phases))


def customer_facing_not_run(impacts: pd.DataFrame, windows: pd.DataFrame,
                            as_of: datetime) -> timedelta:
    """Planned customer-facing downtime of the phases that did not run by `as_of`."""
    ran = phases_run(windows, as_of)
    phases = [p for p in impacts.loc[impacts["level"] == CUSTOMER_FACING_LEVEL, "phase"].unique()
              if p not in ran]
    planned = impacts[["phase", "start_utc", "end_utc"]].drop_duplicates("phase")
    return union_length(_spans(planned, phases))
