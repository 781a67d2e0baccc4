"""The phase state machine of DESIGN.md, its dependency gate, and what the log says happened.

Pure functions over a plan and a list of events: the event log uses them to decide what it may
record, and `status`, the timelines and the report use them to read the log back.

```
planned -go-> approved -start-> in-progress -complete-> completed
   |  ^          |                    `-rollback-> rolling-back -rolled-back-> rolled-back
 no-go|go      no-go                                                       go (new attempt)
   v  |          v
   held <--------'
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import outcomes, times
from .plan import Plan

if TYPE_CHECKING:   # pandas is imported where the frame is built: `runbook status` stays quick
    import pandas as pd

    from .events import Event

STATES = ("planned", "approved", "held", "in-progress", "completed", "rolling-back",
          "rolled-back")
EVENTS = ("go", "no-go", "start", "complete", "rollback", "rolled-back", "note", "approve",
          "revoke")
APPROVAL_EVENTS = ("approve", "revoke")
"""About a phase's next go (see `approvals`): allowed where go is, they leave the state."""

TRANSITIONS: dict[tuple[str, str], str] = {
    ("planned", "go"): "approved",
    ("planned", "no-go"): "held",
    ("held", "go"): "approved",
    ("approved", "start"): "in-progress",
    ("approved", "no-go"): "held",        # a go can be withdrawn before the work starts
    ("in-progress", "complete"): "completed",
    ("in-progress", "rollback"): "rolling-back",
    ("rolling-back", "rolled-back"): "rolled-back",
    ("rolled-back", "go"): "approved",    # a new attempt
}
"""(state, event) -> next state; the order lists each state's forward event first."""

RESULT = {event: target for (_, event), target in TRANSITIONS.items()}
"""The state every event leaves its phase in (`note` leaves it as it was)."""


def next_state(state: str, event: str) -> str | None:
    """The state after `event` in `state`; None when the event is not allowed there."""
    if event == "note" and state in STATES:
        return state
    if event in APPROVAL_EVENTS and (state, "go") in TRANSITIONS:
        return state
    return TRANSITIONS.get((state, event))


def allowed_events(state: str) -> list[str]:
    """The events the state machine accepts in `state`, forward event first, `note` last."""
    if state not in STATES:
        return []
    return [event for (source, event) in TRANSITIONS if source == state] + ["note"]


def replay(plan: Plan, events: Iterable[Event]) -> dict[str, str]:
    """Every phase of the plan -> its state after `events` (in log order).

    Each event sets the state it leads to; the log only holds allowed transitions, so this is
    the same as stepping the machine, and a phase the plan no longer has is ignored.
    """
    states = {p.id: "planned" for p in plan.phases}
    for event in events:
        if event.phase in states and event.event in RESULT:
            states[event.phase] = RESULT[event.event]
    return states


@dataclass(frozen=True)
class Gate:
    """Whether a phase's dependencies are all completed, so that it may be given a `go`."""

    phase: str
    is_open: bool
    blocking: list[tuple[str, str]]   # (dependency id, its state)

    def reason(self) -> str:
        """'open', or "blocked by 'carrier-connections' (in-progress)"."""
        if self.is_open:
            return "open"
        return "blocked by " + ", ".join(f"'{dep}' ({state})" for dep, state in self.blocking)


def gate(plan: Plan, states: Mapping[str, str], phase_id: str) -> Gate:
    """The gate of `phase_id` given every phase's state."""
    blocking = [(dep, states.get(dep, "planned")) for dep in plan.phase(phase_id).depends_on
                if states.get(dep, "planned") != "completed"]
    return Gate(phase_id, not blocking, blocking)


def refusal(plan: Plan, states: Mapping[str, str], phase_id: str, event: str) -> str | None:
    """Why `event` may not happen to `phase_id` now, as one line; None when it may.

    The phase's own state is judged first, then (for `go`) its dependencies.
    """
    if event not in EVENTS:
        return f"phase '{phase_id}': unknown event '{event}' (events: {', '.join(EVENTS)})"
    ids = [p.id for p in plan.phases]
    if phase_id not in ids:
        shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
        return f"phase '{phase_id}' cannot {event}: plan '{plan.id}' has no such phase " \
               f"(phases: {shown})"
    state = states.get(phase_id, "planned")
    if next_state(state, event) is None:
        sources = [source for (source, ev) in TRANSITIONS
                   if ev == ("go" if event in APPROVAL_EVENTS else event)]
        return (f"phase '{phase_id}' cannot {event}: it is {state}, not {_or(sources)} "
                f"(allowed: {', '.join(allowed_events(state))})")
    if event == "go":
        blocked = gate(plan, states, phase_id)
        if not blocked.is_open:
            return f"phase '{phase_id}' cannot go: " + "; ".join(
                f"'{dep}' is {dep_state}, not completed" for dep, dep_state in blocked.blocking)
    return None


def next_events(plan: Plan, states: Mapping[str, str], phase_id: str,
                phase_gate: Gate | None = None) -> list[str]:
    """The events that would be accepted for `phase_id` now (the state machine and the gate)."""
    from .approvals import required_roles

    phase_gate = phase_gate or gate(plan, states, phase_id)
    state = states.get(phase_id, "planned")
    extra = list(APPROVAL_EVENTS) if required_roles(plan, phase_id) and \
        (state, "go") in TRANSITIONS else []
    return [event for event in allowed_events(state)
            if event != "go" or phase_gate.is_open] + extra


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# --- what happened ----------------------------------------------------------------------

def attempts(events: Iterable[Event]) -> list[dict[str, Any]]:
    """One dict an attempt (a `start` and what followed it), in log order.

    Keys: phase, attempt (1, 2, ...), start_utc, end_utc (None while running), outcome
    ('in-progress', 'rolling-back', 'completed', 'rolled-back'), rollback_start_utc, operator.
    """
    out: list[dict[str, Any]] = []
    current: dict[str, dict[str, Any]] = {}
    count: dict[str, int] = {}
    for ev in events:
        if ev.event == "start":
            count[ev.phase] = count.get(ev.phase, 0) + 1
            current[ev.phase] = row = {
                "phase": ev.phase, "attempt": count[ev.phase], "start_utc": ev.at,
                "end_utc": None, "outcome": "in-progress", "rollback_start_utc": None,
                "operator": ev.operator}
            out.append(row)
            continue
        row = current.get(ev.phase)
        if row is None:
            continue
        if ev.event == "complete":
            row.update(end_utc=ev.at, outcome="completed")
            del current[ev.phase]
        elif ev.event == "rollback":
            row.update(rollback_start_utc=ev.at, outcome="rolling-back")
        elif ev.event == "rolled-back":
            row.update(end_utc=ev.at, outcome="rolled-back")
            del current[ev.phase]
    return out


WINDOW_COLUMNS = ["phase", "phase_name", "order", "attempt", "start_utc", "end_utc", "outcome",
                  "rollback_start_utc", "planned_start_utc", "planned_end_utc",
                  "start_delay_minutes", "duration_minutes", "overrun_minutes", "operator"]
_TIME_COLUMNS = ["start_utc", "end_utc", "rollback_start_utc", "planned_start_utc",
                 "planned_end_utc"]


def actual_windows(plan: Plan, events: list[Event]) -> pd.DataFrame:
    """One row a phase attempt: when it actually started and ended, and how it ended.

    Columns: phase, phase_name, order (in the plan), attempt, start_utc, end_utc (NaT while
    running), outcome ('completed' | 'rolled-back' | 'in-progress' | 'rolling-back'),
    rollback_start_utc (NaT if none), planned_start_utc, planned_end_utc, start_delay_minutes,
    duration_minutes and overrun_minutes (past the end of the window the attempt is held to,
    `outcomes.held_window`; negative if it ended early; NaN while running), operator
    (who started it). Times are UTC-aware; convert at the edge. A phase the plan no longer
    has keeps its rows, with no planned window.
    """
    import pandas as pd

    by_id = {p.id: (order, p) for order, p in enumerate(plan.phases, start=1)}
    rows = []
    for row in attempts(events):
        order, phase = by_id.get(row["phase"], (None, None))
        rows.append({
            **row,
            "phase_name": phase.name if phase else row["phase"],
            "order": order,
            "planned_start_utc": phase.start if phase else None,
            "planned_end_utc": phase.end if phase else None,
            "start_delay_minutes": _minutes(row["start_utc"], phase.start if phase else None),
            "duration_minutes": _minutes(row["end_utc"], row["start_utc"]),
            "overrun_minutes": _minutes(
                row["end_utc"],
                outcomes.held_window(phase, row["start_utc"])[1] if phase else None),
        })
    frame = pd.DataFrame(rows, columns=WINDOW_COLUMNS)
    for column in _TIME_COLUMNS:
        # One resolution whatever the data (pandas infers seconds from whole-minute times).
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    for column in ("start_delay_minutes", "duration_minutes", "overrun_minutes"):
        frame[column] = frame[column].astype("float64")
    frame["attempt"] = frame["attempt"].astype("int64")
    frame["order"] = frame["order"].astype("Int64")
    return frame


def _minutes(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds() / 60


# --- status ------------------------------------------------------------------------------

def status_rows(plan: Plan, events: list[Event], now: datetime | None = None,
                tz: str | None = None) -> list[dict[str, Any]]:
    """One row a phase for `runbook status`: state, gate, planned vs actual, overrun, next.

    `now` (default: the current time) measures the overrun of a phase still running. Start
    delay, overrun and the outcome (deferred, not run, ...) are `outcomes.py`'s, the report's.
    Times are given in the display zone (with its abbreviation) and in UTC.
    """
    now = now or times.now()
    zone = plan.display_zone(tz)
    states = replay(plan, events)
    latest: dict[str, dict[str, Any]] = {}
    for attempt in attempts(events):
        latest[attempt["phase"]] = attempt
    counts: dict[str, int] = {}
    last: dict[str, Event] = {}
    for ev in events:
        counts[ev.phase] = counts.get(ev.phase, 0) + 1
        last[ev.phase] = ev
    outcome = outcomes.phase_outcomes(plan, events, max([now, *(e.at for e in events)]))
    rows = []
    for order, phase in enumerate(plan.phases, start=1):
        state = states[phase.id]
        phase_gate = gate(plan, states, phase.id)
        attempt = latest.get(phase.id)
        start = attempt["start_utc"] if attempt else None
        end = attempt["end_utc"] if attempt else None
        running = attempt is not None and end is None
        # One definition with the report's (outcomes.py): measured against the window the
        # attempt is held to, so a next-night attempt is a late start, not a day's overrun.
        overrun = None if start is None else outcomes.overrun(
            phase, start, end or max(now, start))
        previous = last.get(phase.id)
        rows.append({
            "order": order,
            "id": phase.id,
            "name": phase.name,
            "state": state,
            "gate": phase_gate.reason(),
            "gate_open": phase_gate.is_open,
            "blocked_by": [{"phase": dep, "state": st} for dep, st in phase_gate.blocking],
            "planned_start": times.format_iso_local(phase.start, zone),
            "planned_end": times.format_iso_local(phase.end, zone),
            "planned_start_abbrev": times.abbreviation(phase.start, zone),
            "planned_end_abbrev": times.abbreviation(phase.end, zone),
            "planned_start_utc": times.format_iso_utc(phase.start),
            "planned_end_utc": times.format_iso_utc(phase.end),
            "attempt": attempt["attempt"] if attempt else 0,
            "actual_start": times.format_iso_local(start, zone) if start else None,
            "actual_start_abbrev": times.abbreviation(start, zone) if start else None,
            "actual_start_utc": times.format_iso_utc(start) if start else None,
            "actual_end": times.format_iso_local(end, zone) if end else None,
            "actual_end_abbrev": times.abbreviation(end, zone) if end else None,
            "actual_end_utc": times.format_iso_utc(end) if end else None,
            "running": running,
            "start_delay_minutes": _round(_minutes(start, phase.start)),
            "start_delay_text": outcomes.delay_text(outcomes.start_delay(phase, start))
            if start else "-",
            "late_start": bool(start and outcomes.is_late_start(phase, start)),
            "late_start_text": outcomes.late_start_text(phase, start, zone)
            if start and outcomes.is_late_start(phase, start) else "",
            "rescheduled": bool(start and outcomes.is_rescheduled(phase, start)),
            "overrun_minutes": _round(overrun.total_seconds() / 60)
            if overrun is not None else None,
            "outcome": outcome[phase.id].outcome,
            "outcome_text": outcome[phase.id].label + (
                f" ({outcome[phase.id].reason})" if outcome[phase.id].reason else ""),
            "next_events": next_events(plan, states, phase.id, phase_gate),
            "planned_text": f"{times.format_both(phase.start, zone)}\n"
                            f"- {times.format_both(phase.end, zone)}",
            "actual_text": _actual_text(attempt, zone),
            "overrun_text": outcomes.overrun_text(overrun, running),
            "events": counts.get(phase.id, 0),
            "last_event": None if previous is None else {
                "event": previous.event, "operator": previous.operator,
                "at_utc": times.format_iso_utc(previous.at)},
        })
    return rows


def _actual_text(attempt: dict[str, Any] | None, zone: Any) -> str:
    if attempt is None:
        return "-"
    label = f"attempt {attempt['attempt']}: " if attempt["attempt"] > 1 else ""
    end = attempt["end_utc"]
    until = times.format_both(end, zone) if end else f"{attempt['outcome']}, no end yet"
    return f"{label}{times.format_both(attempt['start_utc'], zone)}\n- {until}"


def _round(minutes: float | None) -> float | None:
    return None if minutes is None else round(minutes, 1)
