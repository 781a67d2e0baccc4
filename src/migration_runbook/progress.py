"""Step progress: the step events of the log, the rules for recording them, what they say.

A step event is a record of the same hash-chained log as a phase event: `event` is
`step-start`, `step-done`, `step-failed` or `step-skip`, and `details` holds `{"step": ID}`.
Steps are ticked within an attempt of their phase: a new `start` of the phase (after a
rollback and a new `go`) begins again with every step pending.

```
pending -start-> running -done-> done
   |   ^            `-failed-> failed -start-> running
   |   '------------------------' |
   '-skip (a reason)-> skipped <--' skip (a reason)
```
A step may start only while its phase is in progress and the steps it comes after are done or
skipped. Pure functions over a plan and events, like `states`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .events import Event
    from .plan import Phase, Plan

STEP_EVENTS = ("start", "done", "failed", "skip")
"""What `runbook step` records."""
PREFIX = "step-"
LOG_EVENTS = tuple(PREFIX + e for e in STEP_EVENTS)
"""The same, as the log's `event` field."""
STEP_STATES = ("pending", "running", "done", "failed", "skipped")
FINISHED = ("done", "skipped")
"""States that let the steps after a step start, and the phase complete."""

TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "start"): "running",
    ("failed", "start"): "running",       # try again
    ("running", "done"): "done",
    ("running", "failed"): "failed",
    ("pending", "skip"): "skipped",
    ("failed", "skip"): "skipped",
}


def is_step_event(event: str) -> bool:
    """Whether a log record's `event` is a step event."""
    return event.startswith(PREFIX) and event[len(PREFIX):] in STEP_EVENTS


def allowed(state: str) -> list[str]:
    """The step events accepted in `state`."""
    return [event for (source, event) in TRANSITIONS if source == state]


@dataclass
class StepRun:
    """One attempt at a step: from its `start` to `done` or `failed` (end None while running).

    A skip is a run without a start (start None, outcome 'skipped').
    """

    phase: str
    step: str
    phase_attempt: int
    run: int                    # 1, 2, ... within the phase attempt
    start: datetime | None
    end: datetime | None
    outcome: str                # running | done | failed | skipped
    operator: str               # who started it (who skipped it, for a skip)
    end_operator: str = ""
    reason: str = ""            # the reason given when it failed or was skipped


@dataclass
class StepProgress:
    """Where one step stands in its phase's current attempt."""

    state: str = "pending"
    runs: list[StepRun] = field(default_factory=list)

    @property
    def last(self) -> StepRun | None:
        return self.runs[-1] if self.runs else None

    @property
    def started(self) -> datetime | None:
        """When its latest run started (None if it never started)."""
        return next((r.start for r in reversed(self.runs) if r.start is not None), None)

    @property
    def first_started(self) -> datetime | None:
        return next((r.start for r in self.runs if r.start is not None), None)

    @property
    def ended(self) -> datetime | None:
        """When it was done or skipped (None otherwise)."""
        last = self.last
        return last.end if last is not None and self.state in FINISHED else None


@dataclass
class StepLog:
    """What the log says of every phase's steps.

    current: phase id -> step id -> progress in the phase's latest attempt (every step of the
    plan, pending until ticked). runs: every step run of every attempt, in log order.
    """

    current: dict[str, dict[str, StepProgress]]
    runs: list[StepRun]
    phase_attempt: dict[str, int]


def step_id_of(event: Event) -> str:
    """The step a step event is about."""
    return str((event.details or {}).get("step", ""))


def replay_steps(plan: Plan, events: Iterable[Event]) -> StepLog:
    """Every phase's step progress after `events` (in log order), one pass.

    The log only holds allowed transitions, so each event sets the state it leads to; a
    phase or step the plan no longer has is ignored.
    """
    fresh = {p.id: p.graph.ids for p in plan.phases}
    current: dict[str, dict[str, StepProgress]] = {
        pid: {sid: StepProgress() for sid in ids} for pid, ids in fresh.items()}
    attempt: dict[str, int] = {}
    runs: list[StepRun] = []
    for ev in events:
        name = ev.event
        if name == "start" and ev.phase in fresh:
            attempt[ev.phase] = attempt.get(ev.phase, 0) + 1
            current[ev.phase] = {sid: StepProgress() for sid in fresh[ev.phase]}
            continue
        if not name.startswith(PREFIX):
            continue
        step = current.get(ev.phase, {}).get(step_id_of(ev))
        if step is None:
            continue
        kind = name[len(PREFIX):]
        if kind == "start":
            run = StepRun(ev.phase, step_id_of(ev), attempt.get(ev.phase, 0),
                          len(step.runs) + 1, ev.at, None, "running", ev.operator)
            step.runs.append(run)
            runs.append(run)
            step.state = "running"
        elif kind in ("done", "failed") and step.last is not None:
            step.last.end, step.last.outcome = ev.at, kind
            step.last.end_operator, step.last.reason = ev.operator, ev.reason
            step.state = kind
        elif kind == "skip":
            run = StepRun(ev.phase, step_id_of(ev), attempt.get(ev.phase, 0),
                          len(step.runs) + 1, None, ev.at, "skipped", ev.operator,
                          ev.operator, ev.reason)
            step.runs.append(run)
            runs.append(run)
            step.state = "skipped"
    return StepLog(current, runs, attempt)


def refusal(plan: Plan, phase_state: str, steps: Mapping[str, StepProgress], phase_id: str,
            step_id: str, event: str, reason: str = "") -> str | None:
    """Why step `event` may not be recorded for `step_id` of `phase_id` now; None if it may.

    `phase_state` is the phase's state, `steps` its steps' progress in the current attempt.
    """
    phase = plan.phase(phase_id)
    graph = phase.graph
    who = f"step '{step_id}' of phase '{phase_id}'"
    if event not in STEP_EVENTS:
        return f"{who}: unknown step event '{event}' (events: {', '.join(STEP_EVENTS)})"
    if step_id not in graph.by_id:
        known = ", ".join(graph.ids) or "none"
        return f"phase '{phase_id}' has no step '{step_id}' (steps: {known})"
    if phase_state != "in-progress":
        return f"{who} cannot {event}: the phase is {phase_state}, not in-progress"
    progress = steps.get(step_id) or StepProgress()
    if (progress.state, event) not in TRANSITIONS:
        hint = ", ".join(allowed(progress.state)) or "none, it is finished"
        need = {"start": "pending or failed", "done": "running", "failed": "running",
                "skip": "pending or failed"}[event]
        return f"{who} cannot {event}: it is {progress.state}, not {need} (allowed: {hint})"
    if event == "skip" and not (reason or "").strip():
        return f"{who} cannot skip: a reason is required (--reason TEXT)"
    if event == "start":
        waiting = [(a, (steps.get(a) or StepProgress()).state)
                   for a in graph.by_id[step_id].after
                   if (steps.get(a) or StepProgress()).state not in FINISHED]
        if waiting:
            return f"{who} cannot start: it comes after " + ", ".join(
                f"'{a}' ({state})" for a, state in waiting) + ", not yet done or skipped"
    return None


def unfinished(phase: Phase, steps: Mapping[str, StepProgress]) -> list[tuple[str, str]]:
    """(step id, state) of the steps neither done nor skipped, in plan order."""
    return [(sid, (steps.get(sid) or StepProgress()).state) for sid in phase.graph.ids
            if (steps.get(sid) or StepProgress()).state not in FINISHED]


def completion_refusal(phase: Phase, steps: Mapping[str, StepProgress], reason: str = ""
                       ) -> str | None:
    """Why the phase may not `complete` with its steps as they are; None if it may.

    A phase completes when every step is done or skipped, or with a reason that overrides.
    """
    left = unfinished(phase, steps)
    if not left or (reason or "").strip():
        return None
    shown = ", ".join(f"'{sid}' ({state})" for sid, state in left[:10])
    more = f" and {len(left) - 10} more" if len(left) > 10 else ""
    return (f"phase '{phase.id}' cannot complete: steps not done or skipped: {shown}{more} "
            "(give --reason to complete anyway)")


def progress_rows(phase: Phase, steps: Mapping[str, StepProgress]) -> list[dict[str, Any]]:
    """One row a step of `phase`: id, name, owner, state, planned and actual times (UTC aware)."""
    graph = phase.graph
    planned = graph.planned(phase.start)
    rows = []
    for s in graph.steps:
        progress = steps.get(s.id) or StepProgress()
        start, end = planned.get(s.id, (None, None))
        last = progress.last
        rows.append({"id": s.id, "name": s.name, "owner": s.owner, "state": progress.state,
                     "after": list(s.after), "duration": s.duration,
                     "planned_start": start, "planned_end": end,
                     "actual_start": progress.first_started,
                     "actual_end": last.end if last is not None and
                     progress.state in ("done", "skipped", "failed") else None,
                     "runs": len([r for r in progress.runs if r.start is not None])})
    return rows
