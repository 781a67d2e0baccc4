"""Calendar: the plan's windows as an iCalendar (RFC 5545) file customers can subscribe to.

One VEVENT a window, in UTC, with a UID that stays the same for a phase across plan versions
(so calendar clients update the event instead of adding a second one) and a SEQUENCE taken
from the plan's `revision` (so they know which version is newer).
"""

from __future__ import annotations

import os
from datetime import datetime

from icalendar import Alarm, Calendar, Event, vText

from . import times
from .diff import diff_plans
from .notices import _SAFE_URL, human_duration, phase_views, write_atomic
from .plan import Plan

PRODID = "-//migration-runbook//migration-runbook//EN"
UID_DOMAIN = "migration-runbook"


def event_uid(plan: Plan, phase_id: str) -> str:
    """`<phase>@<plan id>.migration-runbook`: stable for a phase whatever its dates."""
    return f"{phase_id}@{plan.id}.{UID_DOMAIN}"


def build_calendar(plan: Plan, previous: Plan | None = None,
                   stamp: datetime | None = None) -> Calendar:
    """The calendar of `plan`'s windows.

    previous: an older version of the plan; phases it has and `plan` does not are included as
    cancelled events, so subscribers' calendars drop them.
    stamp: DTSTAMP of every event (default now); fixed in tests for reproducible files.
    """
    stamp = (stamp or times.now()).astimezone(times.UTC_ZONE)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    # Every free-text value as TEXT, which escapes line breaks, commas and semicolons: an
    # X- property is otherwise written raw, and a line break in it would start a new line.
    cal.add("x-wr-calname", vText(plan.title))
    comms = plan.communications
    total = len(plan.phases)
    for view in phase_views(plan):
        phase = plan.phase(view.id)
        event = Event()
        event.add("uid", event_uid(plan, phase.id))
        event.add("sequence", plan.revision)
        event.add("dtstamp", stamp)
        event.add("dtstart", phase.start.astimezone(times.UTC_ZONE))
        event.add("dtend", phase.end.astimezone(times.UTC_ZONE))
        event.add("summary", f"{plan.title}: {view.label}")
        event.add("description", _description(plan, view, total))
        event.add("status", "CONFIRMED")
        event.add("transp", "OPAQUE")
        if _SAFE_URL.match(comms.status_page or ""):
            event.add("url", comms.status_page)
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -comms.reminder_before)
        alarm.add("description", f"In {human_duration(comms.reminder_before)}: "
                                 f"{view.label} ({view.start})")
        event.add_component(alarm)
        cal.add_component(event)
    if previous is not None:
        for pair in diff_plans(previous, plan).pairs:
            if pair.new is None and pair.old is not None:
                cal.add_component(_cancelled(plan, pair.old.id, pair.old.name, pair.old.start,
                                             pair.old.end, stamp))
    return cal


def _cancelled(plan: Plan, phase_id: str, name: str, start: datetime, end: datetime,
               stamp: datetime) -> Event:
    event = Event()
    event.add("uid", event_uid(plan, phase_id))
    event.add("sequence", plan.revision)
    event.add("dtstamp", stamp)
    event.add("dtstart", start.astimezone(times.UTC_ZONE))
    event.add("dtend", end.astimezone(times.UTC_ZONE))
    event.add("summary", f"Cancelled: {plan.title}: {name}")
    event.add("status", "CANCELLED")
    return event


def _description(plan: Plan, view, total: int) -> str:
    lines = [f"{plan.title}, phase {view.number} of {total}.",
             f"Starts: {view.start}", f"Ends: {view.end}", ""]
    if view.impacts:
        lines.append("What to expect:")
        lines += [f"- {i.service_name}: {i.level}. {i.detail}".rstrip() for i in view.impacts]
    else:
        lines.append("No service is affected.")
    lines += ["", f"Rollback: if this phase has to be rolled back, the rollback starts by "
                  f"{view.rollback_by} and takes up to {view.rollback_length}."]
    if view.depends_on:
        lines.append(f"Goes ahead only if {', '.join(view.depends_on)} is completed.")
    if plan.communications.status_page:
        lines.append(f"Status page: {plan.communications.status_page}")
    return "\n".join(lines)


def ics_bytes(plan: Plan, previous: Plan | None = None, stamp: datetime | None = None) -> bytes:
    """The calendar as RFC 5545 text: CRLF line ends, lines folded at 75 octets."""
    return build_calendar(plan, previous, stamp).to_ical()


def write_ics(plan: Plan, path: str | os.PathLike[str], previous: Plan | None = None,
              stamp: datetime | None = None) -> None:
    """Write the calendar to `path` whole or not at all (temp file + rename)."""
    write_atomic(path, ics_bytes(plan, previous, stamp))
