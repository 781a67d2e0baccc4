"""Safe time entry: a typed or back-filled time judged against the clock, the plan and the log.

The log is append-only, so a time typed wrong stays wrong for ever. Before an event dated by
hand is written, its time must be plausible (not in the future, not far from its phase's
window without a reason) and consistent with the log *as it was then*: nothing may be dated
before the event it follows, and a `go` may not be dated before its dependencies completed.

Pure functions over a plan, the log's events and times, each returning a one-line refusal
or None, so that the event log (phase events) and any other kind of event (step events)
judge the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from . import states as machine
from . import times
from .errors import RunbookError
from .plan import Plan

if TYPE_CHECKING:
    from .events import Event

FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far ahead of the clock a typed time may be (clocks differ by a little, never by more)."""
WINDOW_MARGIN = timedelta(hours=12)
"""How far before a phase's window, or after its end, a typed time may be without a reason."""
REHEARSAL = "rehearsal"
"""The source of a rehearsal's events (a rehearsal plays the plan's own times)."""


# --- the log as it was then ---------------------------------------------------------------

def as_it_was(events: Iterable[Event], at: datetime) -> list[Event]:
    """The events dated at or before `at`, in log order: the log as it stood at `at`."""
    return [e for e in events if e.at <= at]


def last_event(events: Sequence[Event], follows: Callable[[Event], bool]) -> Event | None:
    """The latest event (in log order) for which `follows(event)` holds, or None."""
    return next((e for e in reversed(events) if follows(e)), None)


def follows_refusal(subject: str, event: str, at: datetime, previous: Event | None,
                    zone: ZoneInfo) -> str | None:
    """Why `event` of `subject` ("phase 'x'", "step 'y' of phase 'x'") may not be dated `at`:
    it would come before `previous`, the event it follows. None when it may (the same
    instant is fine)."""
    if previous is None or at >= previous.at:
        return None
    return (f"{subject} cannot {event} at {times.format_both(at, zone)}: that is before its "
            f"previous event ({previous.event} at {times.format_both(previous.at, zone)})")


def gate_then_refusal(plan: Plan, events: Sequence[Event], phase_id: str, at: datetime,
                      zone: ZoneInfo) -> str | None:
    """Why a `go` of `phase_id` dated `at` is refused by the log as it was then: a dependency
    was not completed yet at `at` (though it may be now). None when every one was."""
    then = machine.replay(plan, as_it_was(events, at))
    blocked = machine.gate(plan, then, phase_id)
    if blocked.is_open:
        return None
    parts = []
    for dep, state in blocked.blocking:
        done = last_event(events, lambda e, dep=dep: e.phase == dep and e.event == "complete")
        parts.append(f"'{dep}' was {state} then" + (
            f" (it completed at {times.format_both(done.at, zone)})" if done is not None else ""))
    return f"phase '{phase_id}' cannot go at {times.format_both(at, zone)}: " + "; ".join(parts)


def order_refusal(plan: Plan, events: Sequence[Event], phase_id: str, event: str,
                  at: datetime, zone: ZoneInfo | None = None) -> str | None:
    """Why a phase event dated `at` does not fit the log: it is dated before the phase's
    previous event, or (a `go`) before a dependency completed. None when it fits."""
    zone = zone or plan.zone
    previous = last_event(events, lambda e: e.phase == phase_id)
    return (follows_refusal(f"phase '{phase_id}'", event, at, previous, zone)
            or (gate_then_refusal(plan, events, phase_id, at, zone) if event == "go"
                else None))


# --- a typed time -------------------------------------------------------------------------

def is_rehearsal_log(events: Iterable[Event]) -> bool:
    """Whether every event of the log is a rehearsal's (an empty log is): a rehearsal plays
    the plan's own times, future ones included, into a log of its own."""
    return all(e.source == REHEARSAL for e in events)


def mixing_refusal(what: str, source: str, first_source: str) -> str | None:
    """Why an event from `source` may not join a log whose first record came from
    `first_source` ("" for an empty log): a rehearsal's log is its own. A rehearsal's record
    (unsigned, in simulated time, by role holders) in a real night's log would pass for a
    decision, and a real decision in a rehearsal's log would be lost among simulated ones
    (SECURITY.md). Refused both ways, the first record says what a log is."""
    if not first_source or (source == REHEARSAL) == (first_source == REHEARSAL):
        return None
    if source == REHEARSAL:
        return (f"{what}: a rehearsal plays into a log of its own, and this one holds events "
                "of the real run (rehearse into a fresh --outputs folder)")
    return (f"{what}: this event log is a rehearsal's (it holds rehearsal records); the "
            "real run keeps a log of its own (use another --outputs folder or --store)")


def future_refusal(what: str, at: datetime, now: datetime, zone: ZoneInfo) -> str | None:
    """Why `at` may not be used: it is more than `FUTURE_TOLERANCE` after `now`."""
    if at - now <= FUTURE_TOLERANCE:
        return None
    ahead = times.format_duration(at - now)
    return (f"{what} at {times.format_both(at, zone)}: that is {ahead} in the future (now is "
            f"{times.format_both(now, zone)}); a time more than "
            f"{times.format_duration(FUTURE_TOLERANCE)} ahead is refused: check the date and "
            "the zone")


def window_refusal(plan: Plan, phase_id: str, what: str, at: datetime, reason: str,
                   zone: ZoneInfo | None = None) -> str | None:
    """Why `at` may not be used for `phase_id` without a reason: it is more than
    `WINDOW_MARGIN` before the phase's window or after its end. A reason lifts it."""
    if (reason or "").strip():
        return None
    zone = zone or plan.zone
    phase = plan.phase(phase_id)
    margin = times.format_duration(WINDOW_MARGIN)
    if at < phase.start - WINDOW_MARGIN:
        gap = times.format_duration(phase.start - at)
        edge = f"before its window starts ({times.format_both(phase.start, zone)})"
    elif at > phase.end + WINDOW_MARGIN:
        gap = times.format_duration(at - phase.end)
        edge = f"after its window ends ({times.format_both(phase.end, zone)})"
    else:
        return None
    return (f"{what} at {times.format_both(at, zone)}: that is {gap} {edge}; more than "
            f"{margin} away is refused unless --reason says why")


def typed_refusal(plan: Plan, events: Sequence[Event], phase_id: str, event: str,
                  at: datetime, now: datetime, reason: str = "", source: str = "cli",
                  zone: ZoneInfo | None = None) -> str | None:
    """Why a phase event whose time was typed (`--at`, a notebook's `at`) is refused.

    `events`: the log, or (as the event log reads it, to stay quick on long logs) the events
    of the phase and its dependencies. In turn: a rehearsal's event among events of the real
    run; a time more than 5 minutes ahead of `now` (not for a rehearsal's event); more than
    12 hours from the phase's window without a reason; then `order_refusal` (the log as it
    was then).
    """
    zone = zone or plan.zone
    what = f"phase '{phase_id}' cannot {event}"
    rehearsal = source == REHEARSAL
    if rehearsal and not is_rehearsal_log(events):
        return (f"{what}: a rehearsal plays into a log of its own, and this one holds events "
                "of the real run (rehearse into a fresh --outputs folder)")
    return ((None if rehearsal else future_refusal(what, at, now, zone))
            or window_refusal(plan, phase_id, what, at, reason, zone)
            or order_refusal(plan, events, phase_id, event, at, zone))


def read_typed(plan: Plan, text: str | datetime, option: str = "--at") -> datetime:
    """`text` as UTC, naive in the plan's zone (`times.parse_typed`); RunbookError naming
    `option` in one line when it cannot be read."""
    try:
        return times.parse_typed(text, plan.zone)
    except (ValueError, TypeError) as exc:
        raise RunbookError(f"{option}: {exc}") from None


def read_as_of(plan: Plan, text: str | datetime, events: Iterable[Event],
               now: datetime | None = None, option: str = "--as-of") -> datetime:
    """An as-of time (`report`, `status`): read as `read_typed`, and refused more than
    5 minutes ahead of `now`, except over a rehearsal's own log (its times are the plan's)."""
    at = read_typed(plan, text, option)
    now = now or times.now()
    seen = list(events)
    if not (seen and is_rehearsal_log(seen)):
        refused = future_refusal(option, at, now, plan.zone)
        if refused:
            raise RunbookError(refused)
    return at
