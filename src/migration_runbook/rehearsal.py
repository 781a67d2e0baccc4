"""A rehearsal: the whole migration in simulated time, through the real phase notebook.

Every phase gets `go` ten minutes before its window (or when the last phase it depends on
completes, if that is later), `start` at its planned start and
`complete` once its steps are done, each recorded at those plan times (back-filled `at`) by the
real notebook; in between, every step is ticked (`start`, `done`) at its planned times, as
`runbook step` does (no notebook), so the log, the executed notebooks and the report look
exactly as they will on the night. The customer notices go out at their own simulated times
too: the announcement, a reminder before each window, an in-progress notice when it starts and
a status message after each phase. Each is recorded in the log as a rehearsal notice
(`notice-rehearsed`), or, with `send_to_channels`, really delivered to the plan's channels and
recorded as on the night. With `rollback=PHASE`, that phase is rolled back at its rollback
deadline instead (a step still running then is recorded as failed, stopped for the rollback),
and every phase depending on it stays planned (its gate stays shut).

With a `seed`, every step takes a duration drawn from its three-point estimate
(`risk.draw_durations`, the same for the same seed) instead of the likely one, and the night
is played as an incident commander would: at a phase's rollback deadline, if its steps are not
all done, the clock's forecast (`clock.forecast`, likely durations for what is left) says when
they would finish, and the phase is rolled back there and then, with that forecast as the
reason; the phases after it stay planned, and their notices never go out.

All notebooks run in one kernel: a fresh kernel per notebook would cost more than the
notebooks themselves.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from . import notices, times
from .errors import RunbookError
from .plan import Phase, Plan, load_plan

GO_BEFORE = timedelta(minutes=10)
"""How long before its window a phase gets its `go` in a rehearsal."""
OPERATOR = "rehearsal"
APPROVE_EVERY = timedelta(minutes=1)
"""How far apart a rehearsal records the approvals before a go."""
SOURCE = "rehearsal"
STOPPED = "stopped at the rollback deadline: the phase is rolled back"
"""The reason a step still running at a rehearsal's rollback is recorded as failed."""


@dataclass(frozen=True)
class Step:
    """One event of the rehearsal: which phase, what, when (UTC), and why."""

    phase: str
    event: str
    at: datetime
    reason: str = ""
    operator: str = OPERATOR
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
    records: int = 0
    last_hash: str = ""
    report: Path | None = None
    report_note: str = ""
    notices: list[str] = field(default_factory=list)
    """One line a notice: what went where (or was recorded as a rehearsal notice)."""
    notice_failures: list[str] = field(default_factory=list)
    seed: int | None = None
    """The seed the step durations were drawn with (None: the likely durations)."""


def script(plan: Plan, rollback: str | None = None,
           durations: Mapping[str, Mapping[str, timedelta]] | None = None) -> list[Step]:
    """The rehearsal's events in order, at the plan's own times.

    Each step starts and is done at its planned times (`steps.StepGraph.planned`); a phase
    completes when its critical path is done (at its end, if it lists no steps). The phase
    `rollback` goes and starts, ticks the steps planned before its rollback deadline, rolls
    back at the deadline (a step still running then is recorded as failed, stopped for the
    rollback) and is rolled back when the rollback's duration has passed; phases
    that depend on it, directly or not, are left out. `durations` (phase id -> step id ->
    duration, a draw) replaces the likely durations, and a phase whose drawn steps are not
    done by its rollback deadline is rolled back there (`_missed_deadline`).
    """
    if rollback is not None:
        plan.phase(rollback)
    durations = durations or {}
    from .approvals import first_holders

    steps: list[Step] = []
    stopped: set[str] = set()
    completed: dict[str, datetime] = {}
    # By start time: a topological order whatever order the plan lists its phases in, since a
    # phase starts no earlier than every phase it depends on ends (validation sees to it).
    for phase in sorted(plan.phases, key=lambda p: p.start):
        if stopped.intersection(phase.depends_on):
            stopped.add(phase.id)
            continue
        # Never before a dependency completed: the log refuses a go dated before that.
        go_at = max([phase.start - GO_BEFORE, *(completed[d] for d in phase.depends_on
                                                if d in completed)])
        # With a team, the approvals the go needs come first, each by the first member
        # holding the role, and someone else says go where the team allows it.
        approvers = first_holders(plan, phase.id)
        who = _operator(plan, approvers)
        for n, person in enumerate(approvers):
            steps.append(Step(phase.id, "approve",
                              go_at - (len(approvers) - n) * APPROVE_EVERY,
                              "rehearsal", person))
        go = Step(phase.id, "go", go_at, "rehearsal", who)
        start = Step(phase.id, "start", phase.start, operator=who)
        slots = _slots(phase, durations.get(phase.id))
        why = "rehearsal of the rollback plan" if phase.id == rollback else \
            _missed_deadline(plan, phase, slots) if phase.id in durations else ""
        if why:
            deadline = phase.rollback_deadline
            # a step still running is stopped for the rollback: failed, with that reason
            stopped_steps = [Step(phase.id, "step-failed", deadline, STOPPED, who, step=i)
                             for i in phase.graph.order if slots[i][0] < deadline < slots[i][1]]
            steps += [go, start, *_ticks(phase, who, slots, until=deadline), *stopped_steps,
                      Step(phase.id, "rollback", deadline, why, who),
                      Step(phase.id, "rolled-back", deadline + phase.rollback.duration,
                           operator=who)]
            stopped.add(phase.id)
            continue
        done = max(end for _, end in slots.values()) if phase.steps else phase.end
        completed[phase.id] = done
        steps += [go, start, *_ticks(phase, who, slots),
                  Step(phase.id, "complete", done, operator=who)]
    return steps


def _slots(phase: Phase, durations: Mapping[str, timedelta] | None
           ) -> dict[str, tuple[datetime, datetime]]:
    """Step id -> (start, end) in UTC: planned, or with `durations` (a draw) in their place,
    each step starting as soon as the steps it comes after are done."""
    if not durations:
        return phase.graph.planned(phase.start)
    return {i: (phase.start + a, phase.start + b)
            for i, (a, b) in phase.graph.earliest(durations).items()}


def _missed_deadline(plan: Plan, phase: Phase, slots: Mapping[str, tuple[datetime, datetime]]
                     ) -> str:
    """Why an incident commander rolls `phase` back at its rollback deadline ('' if not).

    At the deadline they know what is done and what is running (`slots` up to then), not the
    draw: `clock.forecast` gives the finish on likely durations for what is left. Any step not
    done at the deadline means a rollback (a step running past its estimate is forecast to end
    'now', which is no promise either).
    """
    from .clock import forecast_end
    from .progress import StepProgress, StepRun

    deadline = phase.rollback_deadline
    if not slots or max(end for _, end in slots.values()) <= deadline:
        return ""
    progress: dict[str, StepProgress] = {}
    for step_id, (start, end) in slots.items():
        if end <= deadline:
            progress[step_id] = StepProgress("done", [StepRun(phase.id, step_id, 1, 1, start,
                                                              end, "done", OPERATOR)])
        elif start < deadline:
            progress[step_id] = StepProgress("running", [StepRun(phase.id, step_id, 1, 1, start,
                                                                 None, "running", OPERATOR)])
    finish = forecast_end(phase.graph, progress, deadline) or deadline
    done = sum(1 for p in progress.values() if p.state == "done")
    running = [i for i, p in progress.items() if p.state == "running"]
    if finish > deadline:
        outlook = (f"the rest forecast to finish at {times.format_both(finish, plan.zone)}, "
                   f"{times.format_duration(finish - deadline)} after it")
    else:
        outlook = f"step {', '.join(running)} running past its estimate"
    return (f"rehearsal: {done} of {len(slots)} steps done at the rollback deadline, "
            f"{outlook}: rolled back at the deadline")


def _operator(plan: Plan, approvers: list[str]) -> str:
    """Who records a phase's events in a rehearsal: 'rehearsal' without a team; else the
    first team member who is not one of its approvers (the first member if all are)."""
    if not plan.team:
        return OPERATOR
    return next((m.name for m in plan.team if m.name not in approvers), plan.team[0].name)


def _ticks(phase: Phase, who: str, slots: Mapping[str, tuple[datetime, datetime]],
           until: datetime | None = None) -> list[Step]:
    """The step events of one phase at the times in `slots`, in time order (a step done before
    the steps after it start at the same moment), before `until`, recorded by `who`."""
    graph = phase.graph
    rank = {step_id: k for k, step_id in enumerate(graph.order)}
    events = []
    for step_id, (start, end) in slots.items():
        events.append((start, 1, rank[step_id], Step(phase.id, "step-start", start,
                                                     operator=who, step=step_id)))
        events.append((end, 0, rank[step_id], Step(phase.id, "step-done", end,
                                                   operator=who, step=step_id)))
    events.sort(key=lambda e: e[:3])
    # up to `until`: a step done right at it is done (the rollback decision counts it)
    return [e[3] for e in events if until is None or e[0] < until or e[:2] == (until, 0)]


def default_outputs(plan: Plan) -> Path:
    """A fresh folder per rehearsal, beside (never inside) the real run's outputs/<plan id>,
    named for the plan file and its revision, since two versions of a plan share its id:
    outputs/omni-hosting-2020-08-r1-rehearsal-20200901-101500."""
    stem = Path(plan.source).stem if plan.source else plan.id
    name = stem if stem.startswith(plan.id) else f"{plan.id}-{stem}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or plan.id
    return Path("outputs") / f"{name}-r{plan.revision}-rehearsal-{times.now():%Y%m%d-%H%M%S}"


def rehearse(plan: str | os.PathLike[str] | Plan, outputs: str | os.PathLike[str] | None = None,
             rollback: str | None = None, report: bool = True,
             progress: Callable[[int, int, Step | None], None] | None = None,
             send_to_channels: bool = False, seed: int | None = None) -> Rehearsal:
    """Run the whole migration through the phase notebook in simulated time, then the report.

    outputs: a folder whose event log is empty (default: a new timestamped folder); the log is
    always the SQLite file in it, whatever $RUNBOOK_STORE says, so a rehearsal never writes
    to a real store. rollback: a phase to roll back. report: render the post-migration report
    at the end (if the report module is available). progress(done, total, step) is called
    before each event (step None: the report). send_to_channels: deliver every notice to the
    plan's channels (else each is only recorded as a rehearsal notice). seed: draw every
    step's duration (`risk.draw_durations`) instead of taking the likely one.
    """
    from . import execute
    from .events import LOG_FILE, open_log
    from .phase import execute_phase
    from .store import sqlite_url

    model = plan if isinstance(plan, Plan) else load_plan(plan)
    drawn = None
    if seed is not None:
        from .risk import draw_durations

        drawn = draw_durations(model, seed)
    steps = script(model, rollback, drawn)
    folder = (Path(outputs).expanduser() if outputs else default_outputs(model)).resolve()
    store = sqlite_url(folder / LOG_FILE).render_as_string()
    with open_log(model, folder, store) as log:
        count = len(log.events())
    if count:
        raise RunbookError(f"{folder}: its event log already has {count} events; rehearse into "
                           "a fresh folder (--outputs DIR)")
    result = Rehearsal(model, folder, store, seed=seed)
    total = len(steps) + (1 if report else 0)
    # Notices wait until the kernel has run a notebook: a rehearsal that cannot start its
    # kernel leaves its log empty, not holding an announcement for a night that never ran.
    waiting: list[tuple[str, str | None, datetime]] | None = []

    def notify(kind: str, phase: str | None, at: datetime) -> None:
        if waiting is not None:
            waiting.append((kind, phase, at))
        else:
            _notify(result, store, kind, phase, at, send_to_channels)

    with execute.Kernel() as kernel:
        notify("announcement", None, _announce_time(model, steps))
        for done, step in enumerate(steps):
            if progress:
                progress(done, total, step)
            if step.event == "go":
                phase = model.phase(step.phase)
                notify("reminder", step.phase, phase.start - model.communications.reminder_before)
            if step.step:   # a tick, as `runbook step` records it: no notebook
                with open_log(model, folder, store) as log:
                    log.record_step(step.phase, step.step, step.event.removeprefix("step-"),
                                    step.operator, step.reason, step.at, SOURCE)
                result.ticks += 1
                continue
            outcome = execute_phase(model, step.phase, step.event, step.operator, step.reason,
                                    times.format_iso_utc(step.at), folder, SOURCE, store, kernel)
            result.notebooks.append(outcome.notebook)
            if waiting is not None:
                held, waiting = waiting, None
                for notice in held:
                    notify(*notice)
            if step.event == "start":
                notify("in-progress", step.phase, step.at)
            if step.event in ("complete", "rolled-back"):
                notify("completed", step.phase, step.at)
        if report:
            if progress:
                progress(len(steps), total, None)
            _report(result, steps[-1].at if steps else None, kernel)
    with open_log(model, folder, store) as log:
        result.states = log.states()
        verification = log.verify()
    result.verified, result.verified_ok = verification.message, verification.ok
    result.records, result.last_hash = verification.count, verification.last_hash
    return result


def _announce_time(plan: Plan, steps: list[Step]) -> datetime:
    """The announcement at its own time (never after the rehearsal's first event)."""
    at, _ = notices.announce_at(plan)
    if steps:
        at = min(at, steps[0].at - GO_BEFORE)
    return at


def _notify(result: Rehearsal, store: str, kind: str, phase: str | None, at: datetime,
            send_to_channels: bool) -> None:
    """One notice of the rehearsal, at its simulated time: recorded as a rehearsal notice, or
    delivered to the plan's channels. A failed channel is noted and the rehearsal goes on."""
    from .delivery import DeliveryError, send
    from .events import open_log

    with open_log(result.plan, result.outputs, store) as log:
        try:
            outcome = send(result.plan, log, kind, phase, outputs=result.outputs,
                           rehearsal=not send_to_channels, at=at, source=SOURCE,
                           operator=OPERATOR)
        except DeliveryError as exc:
            result.notice_failures.append(str(exc))
            return
    where = ", ".join(outcome.delivered) if send_to_channels else "recorded, not sent"
    result.notices.append(f"{outcome.notice.subject} ({where})")


def _report(result: Rehearsal, as_of: datetime | None, kernel: object) -> None:
    from . import report

    as_of_text = times.format_iso_utc(as_of) if as_of else None
    result.report = report.render_report(result.plan, result.outputs, store=result.store,
                                         km=kernel, as_of=as_of_text)
