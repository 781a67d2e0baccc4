"""Notices: what customers are told, and when, rendered from Jinja2 templates.

Four kinds: the announcement, the reminder before each window, the status message when a
phase is completed (or rolled back), and the "date has changed" update. Each comes in plain
text, Markdown and HTML. Templates ship with the package (`templates/KIND.EXT.j2`); a plan can
override any of them with `communications.templates`, a folder next to the plan file.

Plan text is data, never markup: HTML autoescapes, Markdown backslash-escapes what a Markdown
renderer would turn into markup (HTML included), plain text drops control characters. The
templates run in Jinja2's sandbox, because a plan's own templates are as untrusted as its text.
"""

from __future__ import annotations

import functools
import json
import os
import re
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from . import outcomes, times
from .errors import RunbookError
from .files import write_atomic  # noqa: F401  (calendar and the CLI write notices with it)
from .plan import NOTICE_KINDS, Phase, Plan

KINDS = NOTICE_KINDS
FORMATS = {"text": "txt", "markdown": "md", "html": "html"}
"""Notice format -> file extension (of the template and of the written file)."""
ANNOUNCE_DAYS_BEFORE = 14
ANNOUNCE_LOCAL_TIME = (10, 0)
"""Default announcement time: 10:00 local, 14 days before the first window."""


class NoticeError(RunbookError):
    """A notice that cannot be produced: wrong phase state, broken template, unwritable file."""


# --- views: what templates see -----------------------------------------------------------

@dataclass(frozen=True)
class ImpactView:
    """One service's impact in a phase, with the service's display name."""

    service: str
    service_name: str
    level: str
    detail: str


@dataclass(frozen=True)
class PhaseView:
    """A phase ready for display: every time already written as local + UTC."""

    number: int
    id: str
    name: str
    label: str
    description: str
    start: str
    end: str
    start_utc: datetime
    end_utc: datetime
    length: str
    worst_level: str
    impacts: list[ImpactView]
    rollback_customer: str
    """What customers are told about a rollback (`rollback.customer`); the internal
    `rollback.plan` is deliberately not in the view, so no template can quote it."""
    rollback_length: str
    rollback_by: str
    depends_on: list[str]
    """Labels ("Phase 1: ...") of the phases this one needs completed first."""

    @property
    def subject_label(self) -> str:
        """'Phase 2 - Messaging Core Migration': the label for a subject line, which already
        has its own colon ("Rolled back: Phase 2 - ...", not "Rolled back: Phase 2: ...")."""
        return f"Phase {self.number} - {self.name}"


@dataclass(frozen=True)
class WindowView:
    """A phase's old and new window, for the "date has changed" notice."""

    label: str
    status: str
    """'moved' (new start), 'changed' (same start, new end), 'unchanged', 'added', 'removed'."""
    old_start: str
    old_end: str
    new_start: str
    new_end: str
    changes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Notice:
    """A rendered notice: its subject line and the whole document."""

    kind: str
    format: str
    subject: str
    body: str
    phase: str | None = None

    @property
    def extension(self) -> str:
        return FORMATS[self.format]

    @property
    def filename(self) -> str:
        """'reminder-carrier-connections.md': where `--outputs` keeps it."""
        return f"{self.kind}{'-' + self.phase if self.phase else ''}.{self.extension}"


class EventSource(Protocol):
    """What the `completed` notice reads from an event log (`events.EventLog` provides it)."""

    def states(self) -> dict[str, str]: ...

    def events(self, phase: str | None = None) -> list[Any]: ...


def phase_label(plan: Plan, phase: Phase) -> str:
    """'Phase 1: Carrier Connection Migrations', numbered in plan order."""
    position = plan.position(phase.id)
    if position is None or plan.phases[position] is not phase:
        position = plan.phases.index(phase)  # a phase of another version: ValueError
    return f"Phase {position + 1}: {phase.name}"


def phase_views(plan: Plan, zone: ZoneInfo | None = None) -> list[PhaseView]:
    """Every phase of `plan`, in order, with times shown in `zone` (default the plan's)."""
    zone = zone or plan.zone
    names = {s.id: s.name for s in plan.services}
    labels = {p.id: phase_label(plan, p) for p in plan.phases}
    return [PhaseView(
        number=n, id=p.id, name=p.name, label=labels[p.id], description=p.description,
        start=times.format_both(p.start, zone), end=times.format_both(p.end, zone),
        start_utc=p.start, end_utc=p.end, length=human_duration(p.duration),
        worst_level=p.worst_level,
        impacts=[ImpactView(i.service, names.get(i.service, i.service), i.level, i.detail)
                 for i in p.impacts],
        rollback_customer=p.rollback.customer,
        rollback_length=human_duration(p.rollback.duration),
        rollback_by=times.format_both(p.rollback_deadline, zone),
        depends_on=[labels.get(d, d) for d in p.depends_on],
    ) for n, p in enumerate(plan.phases, start=1)]


def _chained(plan: Plan) -> bool:
    """True when each phase depends on exactly the one before (the seed's policy)."""
    return all(list(p.depends_on) == ([plan.phases[i - 1].id] if i else [])
               for i, p in enumerate(plan.phases))


def _dependents(plan: Plan, phase_id: str) -> set[str]:
    """Phases that need `phase_id` completed, directly or through others (one walk of the
    reversed dependency graph: linear in the plan's size)."""
    needed_by: dict[str, list[str]] = {}
    for p in plan.phases:
        for dep in p.depends_on:
            needed_by.setdefault(dep, []).append(p.id)
    out: set[str] = set()
    todo = [phase_id]
    while todo:
        for later in needed_by.get(todo.pop(), []):
            if later not in out:
                out.add(later)
                todo.append(later)
    out.discard(phase_id)
    return out


def _date(value: str) -> str:
    """'2020-07-24' -> 'Fri 24 Jul 2020'; anything else as written."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return value
    return f"{day:%a} {day.day} {day:%b} {day.year}"


def _day(instant: datetime, zone: ZoneInfo) -> str:
    at = instant.astimezone(zone)
    return f"{at:%a} {at.day} {at:%b} {at.year}"


def human_duration(delta: timedelta) -> str:
    """'1 hour', '30 minutes', '1 hour 30 minutes': a length in a sentence."""
    minutes = int(round(delta.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []
    parts += [f"{minutes} minute{'s' if minutes != 1 else ''}"] if minutes or not hours else []
    return " ".join(parts)


_SAFE_URL = re.compile(r"^https?://[^\s<>\"'`]+$", re.IGNORECASE)


def _sent_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def previous_notices(plan: Plan, written: datetime | None) -> list[dict[str, str]]:
    """The plan's previous notices in the order they were sent, leaving out any sent after
    the day `written` (the notice being written; None: all). A `sent` that is not a date is
    kept, after the dated ones, as written."""
    comms = plan.communications
    day = written.astimezone(plan.zone).date() if written is not None else None
    dated = [(_sent_day(n.sent), k, n) for k, n in enumerate(comms.previous_notices)]
    kept = [(d, k, n) for d, k, n in dated if d is None or day is None or d <= day]
    kept.sort(key=lambda x: (x[0] is None, x[0] or date.min, x[1]))
    return [{"title": n.title, "sent": _date(n.sent)} for _, _, n in kept]


def _comms_context(plan: Plan, written: datetime | None = None) -> dict[str, Any]:
    comms = plan.communications
    url = comms.status_page if _SAFE_URL.match(comms.status_page or "") else ""
    return {
        "sender": comms.sender,
        "status_page": comms.status_page,
        "status_page_url": url,
        "contacts": comms.contacts,
        "on_call_request": comms.on_call_request,
        "backup_connection": comms.backup_connection,
        "reminder_before": human_duration(comms.reminder_before),
        "note": comms.note,
        "previous_notices": previous_notices(plan, written),
    }


# --- escaping and the template environment --------------------------------------------

class MarkdownSafe(str):
    """Markdown the package wrote itself (not plan text), passed through unescaped."""


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MD_INLINE = re.compile(r"([\\`*_\[\]<>|~])")
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_MD_BLOCK_START = re.compile(r"^(\s*)(?:[#+-]|\d+[.)]|=+|-+)(?=\s|$)")


def plain(value: Any) -> str:
    """Text for a plain-text notice: control characters (terminal escapes) dropped."""
    return _CONTROL.sub("", "" if value is None else str(value))


def markdown_escape(value: Any) -> str:
    """Plan text as Markdown that renders as the same text: no HTML, links, emphasis or
    table breaks; line breaks are folded into spaces so a value cannot start a heading."""
    if isinstance(value, MarkdownSafe):
        return value
    text = re.sub(r"\s+", " ", plain(value))
    text = _MD_INLINE.sub(r"\\\1", text)
    text = _MD_ENTITY.sub(r"\\&", text)
    return _MD_BLOCK_START.sub(_escape_block_start, text)


def _escape_block_start(match: re.Match[str]) -> str:
    """'# x' -> '\\# x', '1. x' -> '1\\. x': a value never opens a heading or list."""
    lead, marker = match.group(1), match.group(0)[len(match.group(1)):]
    if marker[0].isdigit():
        return f"{lead}{marker[:-1]}\\{marker[-1]}"
    return f"{lead}\\{marker}"


_DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_GLUE = re.compile(rf"(?<=\b(?:{_DAYS})) (?=\d)|(?<=\d) (?=(?:{_MONTHS})\b)"
                   rf"|(?<=\b(?:{_MONTHS})) (?=\d)|(?<=\d\d:\d\d) (?=[A-Z+-])|(?<=\d) (?=\d)")
_NBSP = "\x00"


def _wrap(text: Any, width: int = 76, indent: str = "", first: str | None = None) -> str:
    """Fill plain text to `width` columns, `first` prefixing the first line (default indent).

    Never breaks inside a time ('Tue 8 Sep 00:15 NZST'), a date or a phone number.
    """
    words = _GLUE.sub(_NBSP, " ".join(plain(text).split()))
    if not words:
        return ""
    return textwrap.fill(words, width=width, initial_indent=indent if first is None else first,
                         subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False).replace(_NBSP, " ")


def _autolink(url: str) -> str:
    return MarkdownSafe(f"<{url}>") if _SAFE_URL.match(url or "") else markdown_escape(url)


def template_dirs(plan: Plan) -> list[Path]:
    """The plan's own template folder (`communications.templates`), if it names one."""
    folder = plan.communications.templates
    if not folder:
        return []
    base = Path(plan.source).parent if plan.source else Path.cwd()
    path = (base / folder).resolve()
    if not path.is_dir():
        raise NoticeError(f"{plan.source or plan.id}: communications.templates: no folder "
                          f"'{folder}' (looked in {path})")
    return [path]


def environment(plan: Plan, fmt: str) -> jinja2.Environment:
    """The sandboxed Jinja2 environment for one format, the plan's templates first."""
    if fmt not in FORMATS:
        raise NoticeError(f"unknown notice format '{fmt}' (use {', '.join(FORMATS)})")
    return _environment(fmt, tuple(str(d) for d in template_dirs(plan)))


@functools.lru_cache(maxsize=32)
def _environment(fmt: str, folders: tuple[str, ...]) -> jinja2.Environment:
    # Cached, so templates compile once a process (Jinja reloads a changed template file).
    loader = jinja2.ChoiceLoader([
        *(jinja2.FileSystemLoader(d) for d in folders),
        jinja2.PackageLoader("migration_runbook", "templates"),
    ])
    options: dict[str, Any] = {"loader": loader, "undefined": jinja2.StrictUndefined,
                               "trim_blocks": True, "lstrip_blocks": True,
                               "keep_trailing_newline": True}
    if fmt == "html":
        env = SandboxedEnvironment(autoescape=True, finalize=plain, **options)
    elif fmt == "markdown":
        env = SandboxedEnvironment(autoescape=False, finalize=markdown_escape, **options)
    else:
        env = SandboxedEnvironment(autoescape=False, finalize=plain, **options)
    env.filters["wrap"] = _wrap
    env.filters["autolink"] = _autolink
    env.filters["md"] = markdown_escape
    return env


def _render(plan: Plan, kind: str, fmt: str, context: dict[str, Any]) -> str:
    env = environment(plan, fmt)
    name = f"{kind}.{FORMATS[fmt]}.j2"
    try:
        text = env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name}:{exc.lineno}"
        raise NoticeError(f"template {where}: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        raise NoticeError(f"no template '{exc.name}' for the {kind} notice") from None
    except RecursionError:
        raise NoticeError(f"template {name}: recursion too deep (a macro or include that "
                          "calls itself without end)") from None
    except (jinja2.TemplateError, TypeError, ValueError) as exc:
        # a plan's own template failing at render time (undefined name, unsafe access, ...)
        raise NoticeError(f"template {name}: {_one_line(exc)}") from None
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _base_context(plan: Plan, kind: str, fmt: str, subject: str,
                  written: datetime | None = None) -> dict[str, Any]:
    """What every template sees; `written`: when this notice goes out (previous notices
    sent after it are not listed)."""
    views = phase_views(plan)
    return {
        "kind": kind, "format": fmt, "subject": subject, "plan": plan,
        "title": plan.title, "description": plan.description, "zone": plan.timezone,
        "phases": views, "comms": _comms_context(plan, written), "chained": _chained(plan),
        "first_day": _day(plan.start, plan.zone), "last_day": _day(plan.end, plan.zone),
    }


# --- the four notices -------------------------------------------------------------------

def render_notice(plan: Plan, kind: str, fmt: str = "text", phase: str | None = None,
                  previous: Plan | None = None, log: EventSource | None = None,
                  as_of: datetime | None = None) -> Notice:
    """Render one notice.

    kind: announcement | reminder | in-progress | extended | completed | reschedule.
    phase: the phase id (reminder, in-progress, extended, completed).
    previous: the older plan version the reschedule notice compares against.
    log: the event log the completed, in-progress and extended notices read.
    as_of: the time the in-progress and extended notices forecast from (default now).
    """
    if fmt not in FORMATS:
        raise NoticeError(f"unknown notice format '{fmt}' (use {', '.join(FORMATS)})")
    if kind == "announcement":
        return announcement(plan, fmt)
    if kind == "reminder":
        return reminder(plan, _need(phase, kind), fmt)
    if kind in ("completed", "in-progress", "extended"):
        if log is None:
            raise NoticeError(f"the {kind} notice needs the event log")
        if kind == "in-progress":
            return in_progress(plan, _need(phase, kind), log, fmt, as_of)
        if kind == "extended":
            return extended(plan, _need(phase, kind), log, fmt, as_of)
        return completed(plan, _need(phase, kind), log, fmt)
    if kind == "reschedule":
        if previous is None:
            raise NoticeError("the reschedule notice needs --previous OLD_PLAN")
        return reschedule(plan, previous, fmt)
    raise NoticeError(f"unknown notice '{kind}' (use {', '.join(KINDS)})")


def _need(phase: str | None, kind: str) -> str:
    if not phase:
        raise NoticeError(f"the {kind} notice needs --phase ID")
    return phase


def announcement(plan: Plan, fmt: str = "text") -> Notice:
    """The first notice: schedule, impacts, what to do, rollback policy, backup, reminders."""
    subject = (f"{plan.title}: {len(plan.phases)} maintenance window"
               f"{'s' if len(plan.phases) != 1 else ''} from {_day(plan.start, plan.zone)}")
    context = _base_context(plan, "announcement", fmt, subject, announce_at(plan)[0])
    return Notice("announcement", fmt, subject, _render(plan, "announcement", fmt, context))


def reminder(plan: Plan, phase_id: str, fmt: str = "text") -> Notice:
    """The reminder before one window: that window and its impacts, then the phases to come."""
    phase = plan.phase(phase_id)
    views = phase_views(plan)
    view = next(v for v in views if v.id == phase.id)
    subject = f"Reminder: {view.subject_label} starts {view.start}"
    context = _base_context(plan, "reminder", fmt, subject,
                            phase.start - plan.communications.reminder_before)
    context.update(phase=view, upcoming=[v for v in views if v.start_utc > phase.start])
    return Notice("reminder", fmt, subject, _render(plan, "reminder", fmt, context), phase.id)


def completed(plan: Plan, phase_id: str, log: EventSource, fmt: str = "text") -> Notice:
    """The status message after a phase: completed, or rolled back and what happens next.

    Refuses (NoticeError) unless the event log shows the phase completed or rolled back.
    """
    phase = plan.phase(phase_id)
    state = log.states().get(phase.id, "planned")
    if state not in ("completed", "rolled-back"):
        raise NoticeError(f"phase '{phase.id}' is {state}: a completed notice needs it "
                          "completed or rolled back in the event log")
    wanted = "complete" if state == "completed" else "rolled-back"
    events = [e for e in log.events(phase.id) if e.event == wanted]
    if not events:
        raise NoticeError(f"phase '{phase.id}' is {state} but the event log has no "
                          f"'{wanted}' event for it")
    last = max(events, key=lambda e: e.seq)
    views = phase_views(plan)
    view = next(v for v in views if v.id == phase.id)
    # "Still to come" as it stood when the phase ended, so a notice rendered later says the same.
    done = {e.phase for e in log.events() if e.seq <= last.seq and e.event == "complete"}
    later = [v for v in views if v.start_utc > phase.start and v.id not in done]
    postponed_ids = _dependents(plan, phase.id) if state == "rolled-back" else set()
    outcome = "completed" if state == "completed" else "rolled back"
    subject = f"{outcome.capitalize()}: {view.subject_label}"
    context = _base_context(plan, "completed", fmt, subject, last.at)
    context.update(
        phase=view, outcome=outcome, rolled_back=state == "rolled-back",
        at=times.format_both(last.at, plan.zone), event=last,
        upcoming=[v for v in later if v.id not in postponed_ids],
        postponed=[v for v in later if v.id in postponed_ids],
    )
    return Notice("completed", fmt, subject, _render(plan, "completed", fmt, context), phase.id)


# --- the forecast the in-progress and extended notices quote --------------------------

FORECAST_STEP = timedelta(minutes=15)


def expected_end(plan: Plan, phase_id: str, events: list[Any],
                 as_of: datetime | None = None) -> datetime:
    """When `phase_id` is expected to end, UTC, rounded up to a quarter hour for customers.

    The clock's live forecast of its steps (`clock.clocks`, the one the status and the
    report show) while it runs with steps; otherwise its actual start (the last `start` in
    `events`) plus the window's length. Never earlier than the next quarter hour after
    `as_of` (default now) while it is still running.
    """
    from .clock import clocks

    phase = plan.phase(phase_id)
    now = as_of or times.now()
    end = clocks(plan, events, now)[phase.id].forecast_end
    if end is None:
        started = [e.at for e in events if e.phase == phase.id and e.event == "start"]
        end = outcomes.expected_end(phase, started[-1] if started else phase.start)
    if now >= end:
        end = now + FORECAST_STEP
    stamp = end.astimezone(UTC)
    quarters = -(-int((stamp - stamp.replace(minute=0, second=0, microsecond=0))
                      .total_seconds()) // int(FORECAST_STEP.total_seconds()))
    return stamp.replace(minute=0, second=0, microsecond=0) + quarters * FORECAST_STEP


def _running(plan: Plan, phase_id: str, log: EventSource, kind: str,
             states: tuple[str, ...]) -> tuple[Phase, list[Any], datetime]:
    """The phase, its events and when its current attempt started; NoticeError unless the
    log shows it in one of `states`."""
    phase = plan.phase(phase_id)
    state = log.states().get(phase.id, "planned")
    if state not in states:
        raise NoticeError(f"phase '{phase.id}' is {state}: an {kind} notice needs it "
                          f"{' or '.join(states)} in the event log")
    events = log.events(phase.id)
    started = [e.at for e in events if e.event == "start"]
    return phase, events, started[-1] if started else phase.start


def in_progress(plan: Plan, phase_id: str, log: EventSource, fmt: str = "text",
                as_of: datetime | None = None) -> Notice:
    """A phase has started: what is affected right now, and when it is expected to end."""
    phase, events, started = _running(plan, phase_id, log, "in-progress", ("in-progress",))
    view = next(v for v in phase_views(plan) if v.id == phase.id)
    end = expected_end(plan, phase.id, events, as_of or started)
    subject = f"In progress: {view.subject_label}"
    context = _base_context(plan, "in-progress", fmt, subject)
    context.update(phase=view, started=times.format_both(started, plan.zone),
                   expected_end=times.format_both(end, plan.zone), expected_end_utc=end)
    return Notice("in-progress", fmt, subject, _render(plan, "in-progress", fmt, context),
                  phase.id)


def extended(plan: Plan, phase_id: str, log: EventSource, fmt: str = "text",
             as_of: datetime | None = None) -> Notice:
    """A phase is running late: the new expected end, and what stays affected until then.

    Refuses unless the phase is still running and its expected end is past the window it is
    held to (`outcomes.held_window`: a retry the next night has its own)."""
    phase, events, started = _running(plan, phase_id, log, "extended",
                                      ("in-progress", "rolling-back"))
    end = expected_end(plan, phase.id, events, as_of)
    if end <= outcomes.held_window(phase, started)[1]:
        raise NoticeError(f"phase '{phase.id}' is not running late: it is expected to end by "
                          f"{times.format_both(end, plan.zone)}, inside its window")
    view = next(v for v in phase_views(plan) if v.id == phase.id)
    subject = f"Running late: {view.subject_label}, now expected to end " \
              f"{times.format_local(end, plan.zone)}"
    context = _base_context(plan, "extended", fmt, subject)
    context.update(phase=view, started=times.format_both(started, plan.zone),
                   expected_end=times.format_both(end, plan.zone), expected_end_utc=end)
    return Notice("extended", fmt, subject, _render(plan, "extended", fmt, context), phase.id)


def reschedule(plan: Plan, previous: Plan, fmt: str = "text") -> Notice:
    """The "date has changed" update: old and new windows side by side, from the plan diff."""
    from .diff import diff_plans

    diff = diff_plans(previous, plan)
    if not diff.phase_changes:
        raise NoticeError(f"no phase changed between {previous.source or previous.id} and "
                          f"{plan.source or plan.id}: there is no update to send")
    zone = plan.zone
    windows = []
    for pair in diff.pairs:
        target = pair.new or pair.old
        assert target is not None
        label = phase_label(plan, pair.new) if pair.new else target.name
        if pair.new is None:
            status = "removed"
        elif pair.old is None:
            status = "added"
        elif pair.old.start != pair.new.start:
            status = "moved"
        else:
            status = "changed" if pair.old.end != pair.new.end else "unchanged"
        windows.append(WindowView(
            label=label, status=status,
            old_start=times.format_both(pair.old.start, zone) if pair.old else "",
            old_end=times.format_both(pair.old.end, zone) if pair.old else "",
            new_start=times.format_both(pair.new.start, zone) if pair.new else "",
            new_end=times.format_both(pair.new.end, zone) if pair.new else "",
            changes=[c.summary for c in diff.phase_changes
                     if c.phase == pair.id and c.kind in _CUSTOMER_CHANGES],
        ))
    dated = any(w.status != "unchanged" for w in windows)
    subject = (f"UPDATE: {plan.title} - important, the migration "
               f"{'date' if dated else 'plan'} has changed")
    context = _base_context(plan, "reschedule", fmt, subject)
    context.update(windows=windows, diff=diff, dated=dated,
                   old_first_day=_day(previous.start, zone),
                   phase_impacts_changed=bool(diff.of_kind("impacts")))
    return Notice("reschedule", fmt, subject, _render(plan, "reschedule", fmt, context))


_CUSTOMER_CHANGES = ("lengthened", "shortened", "renamed", "impacts", "dependencies")
"""Diff kinds an update tells customers about besides the windows (not steps or rollback)."""


# --- when each notice goes out ---------------------------------------------------------

def announce_at(plan: Plan) -> tuple[datetime, str]:
    """When the announcement goes out, and the rule that says so."""
    if plan.communications.announce_at is not None:
        return plan.communications.announce_at, "communications.announce_at"
    first_day = plan.start.astimezone(plan.zone).date() - timedelta(days=ANNOUNCE_DAYS_BEFORE)
    hour, minute = ANNOUNCE_LOCAL_TIME
    wall = datetime(first_day.year, first_day.month, first_day.day, hour, minute)
    try:
        at = times.localize(wall, plan.zone)
    except ValueError:  # 10:00 skipped or repeated by a DST change: take the earlier reading
        at = wall.replace(tzinfo=plan.zone)
    return at.astimezone(UTC), (f"{ANNOUNCE_DAYS_BEFORE} days before the first window, "
                                f"{hour:02d}:{minute:02d} local")


def notices_due(plan: Plan) -> list[tuple[datetime, str, str | None, str]]:
    """Every notice the plan calls for at a time of its own, in plan order: (when, UTC; kind;
    phase or None; the rule). The one list `runbook comms` and the channel lint read; only
    `UNTIMED` kinds are missing (a test holds the two to `KINDS`)."""
    before = plan.communications.reminder_before
    at, rule = announce_at(plan)
    due: list[tuple[datetime, str, str | None, str]] = [(at, "announcement", None, rule)]
    for p in plan.phases:
        due += [(p.start - before, "reminder", p.id, f"{human_duration(before)} before the window"),
                (p.start, "in-progress", p.id, "planned start; send once the phase has started"),
                (p.end, "extended", p.id, "planned end; send only if the phase is still running"),
                (p.end, "completed", p.id,
                 "planned end; send once the phase is completed or rolled back")]
    return due


UNTIMED = {"reschedule": "bump revision; send with --previous OLD_PLAN"}
"""Notices with no time in the plan: kind -> when they go out."""


def comms_schedule(plan: Plan) -> list[dict[str, Any]]:
    """Every notice kind the plan calls for, in the order it goes out (local + UTC times):
    `notices_due` by time (ties in the order of `KINDS`), then the `UNTIMED` ones, whose
    `send_at*` fields are None."""
    zone = plan.zone
    order = {kind: i for i, kind in enumerate(KINDS)}
    labels = {p.id: phase_label(plan, p) for p in plan.phases}
    source = plan.source or "PLAN"
    rows = [{
        "notice": kind,
        "phase": phase,
        "phase_label": labels.get(phase, "") if phase else "",
        "send_at": times.format_iso_local(at, zone),
        "send_at_abbrev": times.abbreviation(at, zone),
        "send_at_utc": times.format_iso_utc(at),
        "send_at_display": times.format_both(at, zone),
        "rule": rule,
        "command": f"runbook notices {source} {kind}" + (f" --phase {phase}" if phase else ""),
    } for at, kind, phase, rule in sorted(notices_due(plan),
                                          key=lambda d: (d[0], order[d[1]]))]
    return rows + [{
        "notice": kind, "phase": None, "phase_label": "", "send_at": None,
        "send_at_abbrev": None, "send_at_utc": None, "send_at_display": "when a window moves",
        "rule": rule, "command": f"runbook notices {source} {kind} --previous OLD_PLAN",
    } for kind, rule in UNTIMED.items()]


# --- files ---------------------------------------------------------------------------

NOTICES_FOLDER = "notices"
NOTICES_INDEX = "notices.jsonl"
"""A run folder keeps its notices in notices/, listed in notices/notices.jsonl."""


def keep_notice(notice: Notice, outputs: str | os.PathLike[str],
                at: datetime | None = None) -> Path:
    """Keep `notice` in the run folder (notices/KIND[-PHASE].EXT) and list it in the index,
    so that the post-migration report can show what customers were told, and when.

    at: when it went out (default now; a rehearsal gives its simulated time)."""
    folder = Path(outputs) / NOTICES_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NoticeError(f"cannot write {folder}: {exc.strerror or exc}") from None
    path = folder / notice.filename
    write_atomic(path, notice.body)
    record = {"at": times.format_iso_utc(at or times.now()), "kind": notice.kind,
              "phase": notice.phase or "", "format": notice.format, "subject": notice.subject,
              "path": f"{NOTICES_FOLDER}/{notice.filename}"}
    try:
        with open(folder / NOTICES_INDEX, "a", encoding="utf-8") as index:
            index.write(json.dumps(record, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise NoticeError(f"cannot write {folder / NOTICES_INDEX}: {exc.strerror or exc}") \
            from None
    return path


def sent_notices(plan: Plan, outputs: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The notices kept in a run folder, oldest first (`at`, `kind`, `phase`, `format`,
    `subject`, `path` relative to the folder); unreadable lines are skipped."""
    return read_notices_index(outputs)[0]


NOTICE_FIELDS = ("at", "kind", "phase", "format", "subject", "path")
"""What a line of notices.jsonl holds, each a text (or absent)."""


def read_notices_index(outputs: str | os.PathLike[str]
                       ) -> tuple[list[dict[str, Any]], list[int]]:
    """The notices kept in a run folder, and the numbers of the lines that cannot be read.

    The index is outside input by the time the report reads it (anyone may edit the file): a
    line that is not a notice as `keep_notice` writes it (JSON object, a known kind, text
    fields) is skipped and its number returned, so the report can say so.
    """
    index = Path(outputs) / NOTICES_FOLDER / NOTICES_INDEX
    try:
        lines = index.read_bytes().splitlines()
    except OSError:
        return [], []
    out, bad = [], []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            bad.append(number)
            continue
        if isinstance(record, dict) and record.get("kind") in KINDS and all(
                isinstance(record.get(name, ""), str) for name in NOTICE_FIELDS):
            out.append(record)
        else:
            bad.append(number)
    return out, bad
