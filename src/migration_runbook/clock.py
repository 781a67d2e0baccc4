"""The clock: for each phase, where its steps stand, when they will finish, and what to warn.

The one place the night's arithmetic is done: `runbook status`, the notebooks, the notices and
the report all ask `clocks` (or `phase_clock`), none recomputes it.

The forecast of a running phase is its actual progress plus the rest of its step graph: a step
done or skipped ended when it did; a running step is expected to take its planned duration
from its start, or to end now if it is already past that; a step not started (or failed, to be
tried again) starts as soon as the steps it comes after are forecast to be done, and not
before now. The phase's steps are forecast to finish when the last of them does.

Warnings (`code`, then a line for people), at their boundaries:
- `rollback-deadline-soon`: in progress, and the rollback deadline is at most
  `alerts.rollback_deadline_warning` away (0 to 15 minutes by default, both included);
- `rollback-deadline-passed`: in progress, and now is after the deadline;
- `forecast-past-rollback-deadline`: in progress, and the steps are forecast to finish after
  the deadline (decide now);
- `fit-at-risk`: in progress, and the chance that the steps finish by the rollback deadline
  (`p_before_rollback_deadline`, see `fit`: 2,000 draws with a fixed seed from where the
  steps stand) is below `alerts.fit_probability_warning` (0.8 by default); not raised beside
  the two warnings above, which already say the steps will not fit;
- `window-end-passed`: in progress or rolling back, and now is after the window's end;
- `start-missed`: planned or approved (given its `go`, not started), and now is after the
  window's planned start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import times
from .progress import FINISHED, StepProgress, replay_steps

if TYPE_CHECKING:
    from .events import Event
    from .plan import Phase, Plan
    from .steps import StepGraph

WARNINGS = ("rollback-deadline-soon", "rollback-deadline-passed",
            "forecast-past-rollback-deadline", "fit-at-risk", "window-end-passed",
            "start-missed")
"""Every warning code, most urgent first."""


@dataclass(frozen=True)
class ClockWarning:
    """One warning: a stable `code` (for JSON and colour) and a line for people."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class StepClock:
    """One step: planned slot, what happened, and its forecast (all UTC aware, or None)."""

    id: str
    name: str
    owner: str
    state: str
    duration: timedelta
    planned_start: datetime
    planned_end: datetime
    actual_start: datetime | None
    actual_end: datetime | None
    forecast_start: datetime | None
    forecast_end: datetime | None
    critical: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, times `YYYY-MM-DDTHH:MM:SSZ`."""
        return {"id": self.id, "name": self.name, "owner": self.owner, "state": self.state,
                "duration_minutes": _minutes(self.duration),
                "planned_start_utc": _iso(self.planned_start),
                "planned_end_utc": _iso(self.planned_end),
                "actual_start_utc": _iso(self.actual_start),
                "actual_end_utc": _iso(self.actual_end),
                "forecast_start_utc": _iso(self.forecast_start),
                "forecast_end_utc": _iso(self.forecast_end),
                "critical": self.critical}


@dataclass(frozen=True)
class PhaseClock:
    """A phase on the clock at `as_of`."""

    phase: str
    state: str
    as_of: datetime
    steps: list[StepClock]
    critical_path: list[str]
    started: datetime | None          # the current attempt's start (None if not started)
    forecast_end: datetime | None     # when the steps are forecast to finish (in progress)
    rollback_deadline: datetime
    window_end: datetime
    warnings: list[ClockWarning] = field(default_factory=list)
    p_before_rollback_deadline: float | None = None
    """In progress with steps: the chance they finish by the rollback deadline (`risk`)."""

    @property
    def steps_done(self) -> int:
        return sum(1 for s in self.steps if s.state in FINISHED)

    @property
    def running(self) -> list[str]:
        return [s.id for s in self.steps if s.state == "running"]

    @property
    def in_progress(self) -> bool:
        return self.state == "in-progress"

    @property
    def elapsed(self) -> timedelta | None:
        """Since the attempt started, while in progress."""
        return self.as_of - self.started if self.in_progress and self.started else None

    @property
    def to_rollback_deadline(self) -> timedelta | None:
        """Time left to the rollback deadline (negative once passed), while in progress."""
        return self.rollback_deadline - self.as_of if self.in_progress else None

    @property
    def to_window_end(self) -> timedelta | None:
        """Time left to the window's end, while in progress or rolling back."""
        live = self.state in ("in-progress", "rolling-back")
        return self.window_end - self.as_of if live else None

    def to_dict(self) -> dict[str, Any]:
        """The `runbook status --format json` fields the clock adds to a phase's row."""
        return {"steps": [s.to_dict() for s in self.steps],
                "critical_path": list(self.critical_path),
                "steps_done": self.steps_done, "steps_total": len(self.steps),
                "steps_running": self.running,
                "elapsed_minutes": _minutes(self.elapsed),
                "forecast_end_utc": _iso(self.forecast_end),
                "rollback_deadline_utc": _iso(self.rollback_deadline),
                "minutes_to_rollback_deadline": _minutes(self.to_rollback_deadline),
                "minutes_to_window_end": _minutes(self.to_window_end),
                "p_before_rollback_deadline": _share(self.p_before_rollback_deadline),
                "warnings": [w.to_dict() for w in self.warnings]}


# --- the forecast ----------------------------------------------------------------------

def forecast(graph: StepGraph, steps: Mapping[str, StepProgress], now: datetime,
             durations: Mapping[str, timedelta] | None = None
             ) -> dict[str, tuple[datetime, datetime]]:
    """Step id -> forecast (start, end) in UTC, by the rules in this module's docstring.

    `steps` is the progress of the phase's current attempt; `durations` replaces planned
    durations by id (a Monte Carlo draw, say). A phase with steps in an invalid graph (never
    in a loaded plan) gets an empty forecast.
    """
    durations = durations or {}
    by_id = graph.by_id
    out: dict[str, tuple[datetime, datetime]] = {}
    for step_id in graph.order:
        step = by_id[step_id]
        progress = steps.get(step_id) or StepProgress()
        length = durations.get(step_id, step.duration)
        if progress.state in FINISHED:
            end = progress.ended or now
            out[step_id] = (progress.started or end, end)
        elif progress.state == "running":
            start = progress.started or now
            out[step_id] = (start, max(start + length, now))
        else:   # pending, or failed and to be tried again
            start = max([now, *(out[a][1] for a in step.after)])
            out[step_id] = (start, start + length)
    return out


def forecast_end(graph: StepGraph, steps: Mapping[str, StepProgress], now: datetime,
                 durations: Mapping[str, timedelta] | None = None) -> datetime | None:
    """When the last step is forecast to finish (None without steps)."""
    slots = forecast(graph, steps, now, durations)
    return max((end for _, end in slots.values()), default=None)


# --- one phase, every phase -----------------------------------------------------------

def phase_clock(plan: Plan, phase: Phase, state: str, steps: Mapping[str, StepProgress],
                started: datetime | None, as_of: datetime) -> PhaseClock:
    """`phase` on the clock at `as_of`, given its state, its steps' progress in the current
    attempt and when that attempt started."""
    graph = phase.graph
    planned = graph.planned(phase.start)
    critical = graph.critical_path()
    on_path = set(critical)
    live = state == "in-progress"
    slots = forecast(graph, steps, as_of) if live else {}
    rows = []
    for s in graph.steps:
        progress = steps.get(s.id) or StepProgress()
        start, end = planned.get(s.id, (phase.start, phase.start + s.duration))
        last = progress.last
        rows.append(StepClock(
            s.id, s.name, s.owner, progress.state, s.duration, start, end,
            progress.first_started,
            last.end if last is not None and progress.state != "running" else None,
            *(slots.get(s.id) or (None, None)), s.id in on_path))
    ends = [end for _, end in slots.values()]
    clock = PhaseClock(phase.id, state, as_of, rows, critical, started,
                       max(ends) if live and ends else None, phase.rollback_deadline, phase.end)
    if live and phase.steps:
        clock = replace(clock, p_before_rollback_deadline=fit(plan, phase, clock))
    clock.warnings.extend(warnings(plan, phase, clock))
    return clock


def fit(plan: Plan, phase: Phase, clock: PhaseClock) -> float | None:
    """The chance that a phase in progress finishes its steps by the rollback deadline.

    When every step still to finish has a single estimate (no `low`/`high`), the forecast is
    certain and the chance is 1 or 0, as the Monte Carlo would find, without drawing (nor
    importing numpy). Otherwise `risk.fit_probability`'s draws from where the steps stand.
    """
    if not clock.in_progress or not phase.steps or clock.forecast_end is None:
        return None
    state = {s.id: s.state for s in clock.steps}
    if all(step.estimate[0] == step.estimate[2] for step in phase.steps
           if state.get(step.id) not in FINISHED):
        return 1.0 if clock.forecast_end <= phase.rollback_deadline else 0.0
    from .risk import fit_probability

    return fit_probability(plan, phase, clock)


def clocks(plan: Plan, events: Iterable[Event], as_of: datetime | None = None
           ) -> dict[str, PhaseClock]:
    """Every phase of the plan on the clock at `as_of` (default now), from the log.

    Only events that happened by `as_of` count, so a past moment reads as it was then.
    """
    from .states import attempts, replay

    as_of = as_of or times.now()
    seen = [e for e in events if e.at <= as_of]
    states = replay(plan, seen)
    progress = replay_steps(plan, seen)
    started: dict[str, datetime] = {}
    for attempt in attempts(seen):
        started[attempt["phase"]] = attempt["start_utc"]
    return {p.id: phase_clock(plan, p, states[p.id], progress.current.get(p.id, {}),
                              started.get(p.id), as_of)
            for p in plan.phases}


def plan_rows(plan: Plan, tz: str | None = None) -> list[dict[str, Any]]:
    """One row a phase, before the night: its steps' sum and critical path, when the steps
    are planned to finish, and the margin they leave before the rollback deadline (the
    forecast of a phase that starts on time and runs to plan)."""
    zone = plan.display_zone(tz)
    rows = []
    for phase in plan.phases:
        graph = phase.graph
        length = graph.length()
        end = phase.start + length
        rows.append({
            "phase": phase.id, "steps": len(graph),
            "sum of steps": times.format_duration(phase.steps_duration),
            "critical path": " -> ".join(graph.critical_path()) or "-",
            "critical path length": times.format_duration(length),
            "steps planned to end": times.format_both(end, zone),
            "rollback deadline": times.format_both(phase.rollback_deadline, zone),
            "margin": times.format_duration(phase.rollback_deadline - end),
            "margin_minutes": _minutes(phase.rollback_deadline - end)})
    return rows


def plan_frame(plan: Plan, tz: str | None = None) -> Any:
    """`plan_rows` as a pandas frame for display (the minutes column left out)."""
    import pandas as pd

    return pd.DataFrame(plan_rows(plan, tz)).drop(columns="margin_minutes")


# --- warnings ------------------------------------------------------------------------

def warnings(plan: Plan, phase: Phase, clock: PhaseClock) -> list[ClockWarning]:
    """The warnings of one phase on the clock, most urgent first (see the module docstring)."""
    zone = plan.zone
    now = clock.as_of
    out: list[ClockWarning] = []
    deadline = phase.rollback_deadline
    if clock.state == "in-progress":
        left = deadline - now
        if left < timedelta(0):
            out.append(ClockWarning("rollback-deadline-passed", (
                f"rollback deadline passed {_span(-left)} ago "
                f"({times.format_both(deadline, zone)}): a rollback now ends after the window")))
        elif left <= plan.alerts.rollback_deadline_warning:
            out.append(ClockWarning("rollback-deadline-soon", (
                f"rollback deadline in {_span(left)} ({times.format_both(deadline, zone)})")))
        if clock.forecast_end is not None and clock.forecast_end > deadline:
            out.append(ClockWarning("forecast-past-rollback-deadline", (
                f"steps forecast to finish at {times.format_both(clock.forecast_end, zone)}, "
                f"{_span(clock.forecast_end - deadline)} after the rollback deadline: "
                "decide now")))
        fit, threshold = clock.p_before_rollback_deadline, plan.alerts.fit_probability_warning
        worse = {"rollback-deadline-passed", "forecast-past-rollback-deadline"}
        if fit is not None and fit < threshold and not worse & {w.code for w in out}:
            out.append(ClockWarning("fit-at-risk", (
                f"{fit:.1%} chance the steps finish by the rollback deadline "
                f"({times.format_both(deadline, zone)}); warning below {threshold:.0%}")))
    if clock.state in ("in-progress", "rolling-back") and now > phase.end:
        out.append(ClockWarning("window-end-passed", (
            f"window ended {_span(now - phase.end)} ago ({times.format_both(phase.end, zone)})"
            f" and the phase is {clock.state}")))
    if clock.state in ("planned", "approved") and now > phase.start:
        out.append(ClockWarning("start-missed", (
            f"window began {_span(now - phase.start)} ago "
            f"({times.format_both(phase.start, zone)}) and the phase is {clock.state}, "
            "not started")))
    return out


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if 0 < seconds < 60:
        return "under a minute"
    return times.format_duration(delta)


def _iso(instant: datetime | None) -> str | None:
    return times.format_iso_utc(instant) if instant is not None else None


def _share(p: float | None) -> float | None:
    return None if p is None else round(p, 4)


def _minutes(delta: timedelta | None) -> float | None:
    return None if delta is None else round(delta.total_seconds() / 60, 1)
