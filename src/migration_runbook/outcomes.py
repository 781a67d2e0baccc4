"""What happened to each phase, in one set of words: start delay, overrun, not run, deferred.

`runbook status`, the report, the notices and the notebooks all ask this module; none measures
an attempt against its plan itself, so they cannot disagree.

The rules (all arithmetic on UTC instants):

- **Start delay** of an attempt = its actual start minus the phase's planned window start.
  Positive is late, negative early. An attempt made the next night (or years later, on a
  live log against an old plan) is a late start of that many hours, stated with its date.
  A *late start* is a start delay of more than `LATE_START_TOLERANCE` (5 minutes).
- **Overrun** of an attempt = its actual end (or the as-of time while it runs) minus the end of
  the window it was held to, never below zero. An attempt that started before its planned
  window ended is held to the planned window; one that started after it ended had no planned
  window left, so it is held to a window of the planned length from its own start. So a
  retry the next night that took 4h 25m of a 4h window overran by 25m, and its lateness is
  its start delay (+24h), not an overrun of +24h 25m; a phase started 1h late inside its window
  that ran its full 4h overran the window's end by 1h, which is what customers were told.
  The rollback deadline moves with the window: window end minus the rollback's duration.
- A phase with no attempt is **deferred** when a phase it depends on did not complete because
  it was rolled back (or is rolling back), was itself deferred or not run, or (once this
  phase's window has ended) was still unfinished; otherwise it is **not run** once a no-go
  holds it or its window has ended, and **not started** while its window is still ahead (or
  while nothing at all has started: a log that is empty says the migration has not begun).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from . import times

if TYPE_CHECKING:
    from .events import Event
    from .plan import Phase, Plan

LATE_START_TOLERANCE = timedelta(minutes=5)
"""A start more than this after the planned start is a late start (an exception)."""

RAN = ("completed", "rolled-back", "in-progress", "rolling-back")
"""Outcomes of a phase that has at least one attempt (its latest attempt's outcome)."""
UNRUN = ("deferred", "not-run", "not-started")
"""Outcomes of a phase with no attempt."""

LABEL = {"completed": "completed", "rolled-back": "rolled back", "in-progress": "in progress",
         "rolling-back": "rolling back", "deferred": "deferred", "not-run": "not run",
         "not-started": "not started"}
"""How each outcome reads in a sentence."""


# --- one attempt ------------------------------------------------------------------------

def held_window(phase: Phase, start: datetime) -> tuple[datetime, datetime]:
    """The window an attempt started at `start` is held to: the planned window if it started
    before that ended, else a window of the planned length from its own start."""
    if start < phase.end:
        return phase.start, phase.end
    return start, start + phase.duration


def start_delay(phase: Phase, start: datetime) -> timedelta:
    """Actual start minus planned start (negative: early)."""
    return start - phase.start


def is_late_start(phase: Phase, start: datetime) -> bool:
    return start_delay(phase, start) > LATE_START_TOLERANCE


def is_rescheduled(phase: Phase, start: datetime) -> bool:
    """Started after its planned window ended (the next night, or later)."""
    return start >= phase.end


def overrun(phase: Phase, start: datetime, end: datetime) -> timedelta:
    """How far `end` (the actual end, or now while running) is past the held window's end;
    zero when inside it."""
    return max(end - held_window(phase, start)[1], timedelta())


def overrun_signed(phase: Phase, start: datetime, end: datetime) -> timedelta:
    """`end` minus the held window's end: negative when it finished early."""
    return end - held_window(phase, start)[1]


def rollback_deadline(phase: Phase, start: datetime) -> datetime:
    """The rollback deadline of the held window (its end minus the rollback's duration)."""
    return held_window(phase, start)[1] - phase.rollback.duration


def expected_end(phase: Phase, start: datetime) -> datetime:
    """Without a live forecast: the held window's end, or later if the attempt started late
    inside its window and still needs its planned length."""
    return max(held_window(phase, start)[1], start + phase.duration)


# --- words -------------------------------------------------------------------------------

def delay_text(delay: timedelta) -> str:
    """'on time' (within a minute), '23h 30m late', '5m early'."""
    if abs(delay) < timedelta(minutes=1):
        return "on time"
    return f"{times.format_duration(abs(delay))} {'late' if delay > timedelta() else 'early'}"


def late_start_text(phase: Phase, start: datetime, zone: ZoneInfo) -> str:
    """'started 24h late, Wed 9 Sep 2020 21:00 NZST (09:00 UTC), the night after its window'
    (the date with its year: a start on another day than planned is never left undated)."""
    delay = start_delay(phase, start)
    text = f"started {delay_text(delay)}, {dated(start, zone)}"
    if is_rescheduled(phase, start):
        days = (times.local(start, zone).date() - times.local(phase.start, zone).date()).days
        text += (", the night after its window" if days == 1 else
                 f", {days} days after its window" if days > 1 else ", after its window")
    return text


def dated(instant: datetime, zone: ZoneInfo) -> str:
    """'Wed 9 Sep 2020 21:00 NZST (09:00 UTC)': with the year, and UTC beside."""
    at = times.local(instant, zone)
    utc = times.format_utc(instant, with_date=at.date() != instant.astimezone(
        times.UTC_ZONE).date())
    return f"{at:%a} {at.day} {at:%b} {at.year} {at:%H:%M} {at.tzname()} ({utc})"


def overrun_text(over: timedelta | None, running: bool) -> str:
    """'-' (never started), 'on time', 'on time so far', '+35m', '+35m so far'."""
    if over is None:
        return "-"
    if over <= timedelta():
        return "on time so far" if running else "on time"
    late = times.format_duration(over)
    return f"+{late} so far" if running else f"+{late}"


def under_over_text(difference: timedelta) -> str:
    """'as planned' (within half a minute), '2h 15m over plan', '2h 15m under plan':
    a difference in words, never a minus sign in front of 'under'."""
    if abs(difference) < timedelta(seconds=30):
        return "as planned"
    word = "over" if difference > timedelta() else "under"
    return f"{times.format_duration(abs(difference))} {word} plan"


# --- every phase -------------------------------------------------------------------------

@dataclass(frozen=True)
class Attempt:
    """One attempt of a phase, measured against its plan."""

    phase: str
    number: int
    start: datetime
    end: datetime | None            # None while running or rolling back
    outcome: str                    # completed | rolled-back | in-progress | rolling-back
    rollback_start: datetime | None
    window_end: datetime            # of the window it is held to
    start_delay: timedelta
    overrun: timedelta              # until `end`, or the as-of time while running
    rescheduled: bool               # started after its planned window ended
    late_rollback: timedelta | None = None
    """How long after the held window's rollback deadline its rollback started (None: no
    rollback, or one started in time)."""

    @property
    def running(self) -> bool:
        return self.end is None

    @property
    def late_start(self) -> bool:
        return self.start_delay > LATE_START_TOLERANCE



@dataclass(frozen=True)
class PhaseOutcome:
    """What became of one phase by the as-of time."""

    phase: str
    outcome: str                    # one of RAN or UNRUN
    attempts: list[Attempt] = field(default_factory=list)
    reason: str = ""                # why deferred or not run, in words
    because_of: list[str] = field(default_factory=list)   # the dependencies that deferred it

    @property
    def label(self) -> str:
        return LABEL[self.outcome]

    @property
    def ran(self) -> bool:
        return self.outcome in RAN


def measure(phase: Phase, row: dict[str, Any], as_of: datetime) -> Attempt:
    """An attempt (a row of `states.attempts`) measured against `phase` at `as_of`."""
    start = row["start_utc"]
    end = row["end_utc"]
    rollback = row.get("rollback_start_utc")
    late = None
    if rollback is not None:
        past = rollback - rollback_deadline(phase, start)
        late = past if past > timedelta() else None
    return Attempt(row["phase"], int(row["attempt"]), start, end, row["outcome"], rollback,
                   held_window(phase, start)[1], start_delay(phase, start),
                   overrun(phase, start, end if end is not None else max(as_of, start)),
                   is_rescheduled(phase, start), late)


def phase_outcomes(plan: Plan, events: Iterable[Event], as_of: datetime
                   ) -> dict[str, PhaseOutcome]:
    """Every phase of the plan -> its outcome at `as_of`, by this module's rules.

    Only events at or before `as_of` count.
    """
    from .states import attempts, replay

    seen = [e for e in events if e.at <= as_of]
    states = replay(plan, seen)
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in attempts(seen):
        rows.setdefault(row["phase"], []).append(row)
    no_go = {e.phase: e for e in seen if e.event == "no-go"}
    begun = bool(rows)
    phases = {p.id: p for p in plan.phases}
    out: dict[str, PhaseOutcome] = {}

    # Dependencies first, without recursion (a plan may list a long chain in any order; the
    # plan loader refuses cycles).
    for first in plan.phases:
        stack = [first.id]
        while stack:
            phase_id = stack[-1]
            if phase_id in out:
                stack.pop()
                continue
            phase = phases[phase_id]
            waiting = [d for d in phase.depends_on if d in phases and d not in out]
            mine = [measure(phase, r, as_of) for r in rows.get(phase_id, [])]
            if waiting and not mine:
                stack.extend(waiting)
                continue
            stack.pop()
            if mine:
                out[phase_id] = PhaseOutcome(phase_id, mine[-1].outcome, mine)
            else:
                out[phase_id] = _unrun(
                    phase, {d: out[d] for d in phase.depends_on if d in phases},
                    states.get(phase_id), no_go.get(phase_id), as_of, begun, plan)
    return {p.id: out[p.id] for p in plan.phases}


def _unrun(phase: Phase, deps: dict[str, PhaseOutcome], state: str | None, no_go: Any,
           as_of: datetime, begun: bool, plan: Plan) -> PhaseOutcome:
    names = {p.id: p.name for p in plan.phases}
    failed = [(d, o) for d, o in deps.items()
              if o.outcome in ("rolled-back", "rolling-back", "deferred", "not-run")]
    window_over = as_of >= phase.end
    if not failed and window_over and begun:
        failed = [(d, o) for d, o in deps.items() if o.outcome != "completed"]
    if failed:
        reason = "; ".join(f"{names.get(d, d)} {_why(o)}" for d, o in failed)
        return PhaseOutcome(phase.id, "deferred", [], reason, [d for d, _ in failed])
    if state == "held" and no_go is not None:
        reason = f"no-go by {no_go.operator}" + (f": {no_go.reason}" if no_go.reason else "")
        return PhaseOutcome(phase.id, "not-run", [], reason)
    if window_over and begun:
        return PhaseOutcome(phase.id, "not-run", [], "its window ended before it started")
    return PhaseOutcome(phase.id, "not-started")


def _why(dep: PhaseOutcome) -> str:
    return {"rolled-back": "was rolled back", "rolling-back": "is rolling back",
            "deferred": "was deferred", "not-run": "did not run",
            "in-progress": "was still in progress",
            "not-started": "had not started"}.get(dep.outcome, dep.label)


def summary_counts(outcomes: dict[str, PhaseOutcome]) -> dict[str, int]:
    """Label -> number of phases, in the order of first appearance."""
    counts: dict[str, int] = {}
    for o in outcomes.values():
        counts[o.label] = counts.get(o.label, 0) + 1
    return counts
