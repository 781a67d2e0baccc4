"""A rehearsal: the whole migration in simulated time, through the real phase notebook.

Every phase gets `go` ten minutes before its window, `start` at its planned start and
`complete` once its steps are done, each recorded at those plan times (back-filled `at`) by the
real notebook; in between, every step is ticked (`start`, `done`) at its planned times, as
`runbook step` does (no notebook), so the log, the executed notebooks and the report look
exactly as they will on the night. The customer notices go out at their own simulated times
too: the announcement, a reminder before each window and a status message after each phase.
With `rollback=PHASE`,
that phase is rolled back at its rollback deadline instead, and every phase depending on it
stays planned (its gate stays shut).

All notebooks run in one kernel: a fresh kernel per notebook would cost more than the
notebooks themselves.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from . import notices, times
from .errors import RunbookError
from .plan import Phase, Plan, load_plan

GO_BEFORE = timedelta(minutes=10)
"""How long before its window a phase gets its `go` in a rehearsal."""
OPERATOR = "rehearsal"
SOURCE = "rehearsal"


@dataclass(frozen=True)
class Step:
    """One event of the rehearsal: which phase, what, when (UTC), and why."""

    phase: str
    event: str
    at: datetime
    reason: str = ""
    step: str = ""          # for a step event (`step-start`, `step-done`): the step's id


@dataclass
class Rehearsal:
    """Where a rehearsal left everything, and how it ended."""

    plan: Plan
    outputs: Path
    store: str
    notebooks: list[Path] = field(default_factory=list)
    ticks: int = 0          # step events, recorded without a notebook
    states: dict[str, str] = field(default_factory=dict)
    verified: str = ""
    verified_ok: bool = False
    report: Path | None = None
    report_note: str = ""


def script(plan: Plan, rollback: str | None = None) -> list[Step]:
    """The rehearsal's events in order, at the plan's own times.

    Each step starts and is done at its planned times (`steps.StepGraph.planned`); a phase
    completes when its critical path is done (at its end, if it lists no steps). The phase
    `rollback` goes and starts, ticks the steps planned before its rollback deadline, rolls
    back at the deadline and is rolled back when the rollback's duration has passed; phases
    that depend on it, directly or not, are left out.
    """
    if rollback is not None:
        plan.phase(rollback)
    steps: list[Step] = []
    stopped: set[str] = set()
    for phase in plan.phases:
        if stopped.intersection(phase.depends_on):
            stopped.add(phase.id)
            continue
        go = Step(phase.id, "go", phase.start - GO_BEFORE, "rehearsal")
        start = Step(phase.id, "start", phase.start)
        if phase.id == rollback:
            deadline = phase.rollback_deadline
            steps += [go, start, *_ticks(phase, until=deadline),
                      Step(phase.id, "rollback", deadline, "rehearsal of the rollback plan"),
                      Step(phase.id, "rolled-back", deadline + phase.rollback.duration)]
            stopped.add(phase.id)
            continue
        done = phase.start + phase.critical_path_duration if phase.steps else phase.end
        steps += [go, start, *_ticks(phase), Step(phase.id, "complete", done)]
    return steps


def _ticks(phase: Phase, until: datetime | None = None) -> list[Step]:
    """The step events of one phase at their planned times, in time order (a step done before
    the steps after it start at the same moment), up to `until`."""
    graph = phase.graph
    rank = {step_id: k for k, step_id in enumerate(graph.order)}
    events = []
    for step_id, (start, end) in graph.planned(phase.start).items():
        events.append((start, 1, rank[step_id], Step(phase.id, "step-start", start, "",
                                                     step_id)))
        events.append((end, 0, rank[step_id], Step(phase.id, "step-done", end, "", step_id)))
    events.sort(key=lambda e: e[:3])
    return [e[3] for e in events if until is None or e[0] < until]


def default_outputs(plan: Plan) -> Path:
    """A fresh folder per rehearsal, beside (never inside) the real run's outputs/<plan id>."""
    return Path("outputs") / f"{plan.id}-rehearsal-{times.now():%Y%m%d-%H%M%S}"


def rehearse(plan: str | os.PathLike[str] | Plan, outputs: str | os.PathLike[str] | None = None,
             rollback: str | None = None, report: bool = True,
             progress: Callable[[int, int, Step | None], None] | None = None) -> Rehearsal:
    """Run the whole migration through the phase notebook in simulated time, then the report.

    outputs: a folder whose event log is empty (default: a new timestamped folder); the log is
    always the SQLite file in it, whatever $RUNBOOK_STORE says, so a rehearsal never writes
    to a real store. rollback: a phase to roll back. report: render the post-migration report
    at the end (if the report module is available). progress(done, total, step) is called
    before each event (step None: the report).
    """
    from . import execute
    from .events import LOG_FILE, open_log
    from .phase import execute_phase
    from .store import sqlite_url

    model = plan if isinstance(plan, Plan) else load_plan(plan)
    steps = script(model, rollback)
    folder = (Path(outputs).expanduser() if outputs else default_outputs(model)).resolve()
    store = sqlite_url(folder / LOG_FILE).render_as_string()
    with open_log(model, folder, store) as log:
        count = len(log.events())
    if count:
        raise RunbookError(f"{folder}: its event log already has {count} events; rehearse into "
                           "a fresh folder (--outputs DIR)")
    result = Rehearsal(model, folder, store)
    total = len(steps) + (1 if report else 0)
    with execute.Kernel() as kernel:
        _announce(model, folder, steps)
        for done, step in enumerate(steps):
            if progress:
                progress(done, total, step)
            if step.event == "go":
                reminder = notices.reminder(model, step.phase)
                phase = model.phase(step.phase)
                notices.keep_notice(reminder, folder,
                                    phase.start - model.communications.reminder_before)
            if step.step:   # a tick, as `runbook step` records it: no notebook
                with open_log(model, folder, store) as log:
                    log.record_step(step.phase, step.step, step.event.removeprefix("step-"),
                                    OPERATOR, step.reason, step.at, SOURCE)
                result.ticks += 1
                continue
            outcome = execute_phase(model, step.phase, step.event, OPERATOR, step.reason,
                                    times.format_iso_utc(step.at), folder, SOURCE, store, kernel)
            result.notebooks.append(outcome.notebook)
            if step.event in ("complete", "rolled-back"):
                with open_log(model, folder, store) as log:
                    notices.keep_notice(notices.completed(model, step.phase, log), folder,
                                        step.at)
        if report:
            if progress:
                progress(len(steps), total, None)
            _report(result, steps[-1].at if steps else None, kernel)
    with open_log(model, folder, store) as log:
        result.states = log.states()
        verification = log.verify()
    result.verified, result.verified_ok = verification.message, verification.ok
    return result


def _announce(plan: Plan, folder: Path, steps: list[Step]) -> None:
    """The announcement at its own time (never after the rehearsal's first event)."""
    at, _ = notices.announce_at(plan)
    if steps:
        at = min(at, steps[0].at - GO_BEFORE)
    notices.keep_notice(notices.announcement(plan), folder, at)


def _report(result: Rehearsal, as_of: datetime | None, kernel: object) -> None:
    from . import report

    as_of_text = times.format_iso_utc(as_of) if as_of else None
    result.report = report.render_report(result.plan, result.outputs, store=result.store,
                                         km=kernel, as_of=as_of_text)
