"""The `runbook` command: a thin layer over the package's functions.

Every command raises `RunbookError` for a mistake or a refusal; `main` prints its one line
and exits 1. Usage errors exit 2 (click's convention).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import times
from .errors import RunbookError
from .plan import load_plan, load_plan_with_warnings, schedule_rows

FORMATS = click.Choice(["table", "csv", "json"])


def _console() -> Console:
    # Piped output (CI logs, files) gets room for the table instead of rich's 80 columns.
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=160)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(text: Any) -> str:
    """Control characters as `\\x1b` escapes: a reason or name from the log cannot drive the
    operator's terminal (clear the screen, erase the line above, retitle the window)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table; cells are `Text`, so markup in a plan is shown as typed."""
    table = Table(title=Text(_visible(title)), title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) and not _CONTROL.search(cell.plain)
                        else Text(_visible(cell.plain if isinstance(cell, Text) else cell))
                        for cell in row))
    _console().print(table)


def _print_csv(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v
                         for k, v in row.items()})
    sys.stdout.write(out.getvalue())


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="migration-runbook")
def cli() -> None:
    """Plan, run and account for a phased production migration."""


@cli.command()
@click.argument("plan")
def validate(plan: str) -> None:
    """Exit 0 when PLAN is valid; otherwise one error a line on stderr and exit 1."""
    model, warnings = load_plan_with_warnings(plan)
    for warning in warnings:
        click.echo(str(warning), err=True)
    click.echo(f"{plan}: valid: {len(model.phases)} phases, {len(model.services)} services, "
               f"{times.format_both(model.start, model.zone)} to "
               f"{times.format_both(model.end, model.zone)}")


@cli.command()
@click.argument("plan")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--tz", default=None, help="Display zone (IANA name); default the plan's.")
def schedule(plan: str, fmt: str, tz: str | None) -> None:
    """The phase table: windows in local time and UTC, durations, dependencies, impacts."""
    model = load_plan(plan)
    zone = _zone(tz, model.zone)
    rows = schedule_rows(model, zone.key)
    if fmt == "json":
        _print_json(rows)
    elif fmt == "csv":
        _print_csv(rows)
    else:
        _print_table(
            f"{model.title} (revision {model.revision}) - times in {zone.key}",
            ["#", "phase", "start", "end", "length", "depends on", "rollback by", "impacts"],
            [[i, f"{p.name}\n({p.id})", times.format_both(p.start, zone),
              times.format_both(p.end, zone), times.format_duration(p.duration),
              ", ".join(p.depends_on) or "-",
              times.format_local(p.rollback_deadline, zone, with_date=False),
              "\n".join(f"{imp.service}: {imp.level}" for imp in p.impacts) or "-"]
             for i, p in enumerate(model.phases, start=1)])


@cli.command()
@click.argument("plan")
@click.option("-o", "--output", required=True, help="HTML file to write.")
@click.option("--tz", default=None, help="Display zone (IANA name); default the plan's.")
@click.option("--outputs", default=None, help="Run folder: overlay the actual windows of its "
              "event log.")
@click.option("--store", default=None, help="Event store URL: overlay the actual windows of "
              "the plan's log there (default with --outputs: $RUNBOOK_STORE, else the folder's).")
def gantt(plan: str, output: str, tz: str | None, outputs: str | None,
          store: str | None) -> None:
    """A self-contained offline HTML timeline of windows and impacts, with the schedule."""
    from .gantt import write_gantt

    model = load_plan(plan)
    zone = _zone(tz, model.zone)
    path = write_gantt(model, output, tz=zone.key, outputs=outputs, store=store)
    click.echo(f"{path}: timeline of {len(model.phases)} phases, times in {zone.key}")


OUTPUTS_HELP = "Run folder holding the event log (events.sqlite); default outputs/<plan id>."
STORE_HELP = "Event store URL (sqlite:///PATH, postgresql://...); default $RUNBOOK_STORE, else " \
    "events.sqlite in the outputs folder."


@cli.command()
@click.argument("plan")
@click.option("--outputs", default=None, help=OUTPUTS_HELP)
@click.option("--store", default=None, help=STORE_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--tz", default=None, help="Display zone (IANA name); default the plan's.")
@click.option("--as-of", "as_of", default=None, help="The moment to show (ISO 8601); default "
              "now. Events after it are left out.")
@click.option("--watch", type=float, is_flag=False, flag_value=10.0, default=None,
              metavar="[SECONDS]", help="Redraw in place every SECONDS (default 10) until "
              "Ctrl-C.")
def status(plan: str, outputs: str | None, store: str | None, fmt: str, tz: str | None,
           as_of: str | None, watch: float | None) -> None:
    """Each phase's state, gate, planned vs actual window, overrun and next allowed events;
    for a running phase, its steps, forecast, countdowns and warnings."""
    from .events import open_log

    model = load_plan(plan)
    zone = _zone(tz, model.zone)
    moment = _as_of(as_of)
    if watch is not None:
        if fmt == "json":
            raise click.UsageError("--watch draws the table; it does not take --format json")
        if not 0.5 <= watch <= 3600:
            raise click.UsageError("--watch SECONDS must be between 0.5 and 3600")
        _watch(model, zone, outputs, store, moment, watch)
        return
    with open_log(model, outputs, store) as log:
        events, location = log.events(), log.location
    rows, clocks, counted = _status_rows(model, events, zone, moment)
    if fmt == "json":
        _print_json(rows)
        return
    console = _console()
    console.print(_clock_block(model, clocks, zone))
    console.print(_status_table(model, rows, counted, location, zone))


def _as_of(value: str | None) -> Any:
    """The `--as-of` moment, or None for "now" (read afresh at every redraw)."""
    if value is None or not value.strip():
        return None
    try:
        return times.parse_instant(value)
    except ValueError as exc:
        raise RunbookError(f"--as-of: {exc}") from None


def _status_rows(model: Any, events: list, zone: Any, moment: Any) -> tuple[list, dict, int]:
    """Status rows with the clock's fields merged in, the clocks, and the events counted."""
    from .clock import clocks
    from .states import status_rows

    now = moment or times.now()
    seen = [e for e in events if e.at <= now] if moment is not None else events
    rows = status_rows(model, seen, now=now, tz=zone.key)
    by_phase = clocks(model, seen, now)
    for row in rows:
        row.update(by_phase[row["id"]].to_dict())
    return rows, by_phase, len(seen)


def _status_table(model: Any, rows: list, count: int, location: str, zone: Any) -> Table:
    table = Table(title=Text(_visible(f"{model.title} - {count} events in {location} - times "
                                      f"in {zone.key}")), title_justify="left")
    for column in ["#", "phase", "state", "gate", "planned", "actual", "overrun", "next"]:
        table.add_column(column)
    for r in rows:
        table.add_row(*(Text(_visible(cell)) for cell in (
            r["order"], f"{r['name']}\n({r['id']})", r["state"], r["gate"], r["planned_text"],
            r["actual_text"], r["overrun_text"], "\n".join(r["next_events"]))))
    return table


WARNING_STYLE = {"rollback-deadline-passed": "bold white on red",
                 "forecast-past-rollback-deadline": "bold red",
                 "window-end-passed": "bold red",
                 "rollback-deadline-soon": "bold yellow",
                 "start-missed": "yellow"}


def _clock_block(model: Any, clocks: dict, zone: Any) -> Any:
    """Warnings first, in colour, then one line a running phase: steps, forecast, countdowns.
    Drawn above the status table (and redrawn by --watch)."""
    from rich.console import Group

    from .clock import WARNINGS

    lines: list[Text] = []
    found = [(w, c) for c in clocks.values() for w in c.warnings]
    found.sort(key=lambda pair: WARNINGS.index(pair[0].code))
    for warning, clock in found:
        line = Text(f" {warning.code} ", style=WARNING_STYLE.get(warning.code, "bold"))
        line.append(_visible(f" {clock.phase}: {warning.message}"))
        lines.append(line)
    for clock in clocks.values():
        if not clock.in_progress:
            continue
        text = f"{clock.phase}: steps {clock.steps_done}/{len(clock.steps)} done"
        if clock.running:
            text += f", running {', '.join(clock.running)}"
        text += f"; elapsed {times.format_duration(clock.elapsed)}"
        if clock.forecast_end is not None:
            text += f"; forecast end {times.format_both(clock.forecast_end, zone)}"
        text += (f"; rollback deadline {_countdown(clock.to_rollback_deadline)}; window end "
                 f"{_countdown(clock.to_window_end)}")
        lines.append(Text(_visible(text)))
    if not lines:
        lines.append(Text(f"no phase running, no warnings (as of "
                          f"{times.format_both(next(iter(clocks.values())).as_of, zone)})"
                          if clocks else "no phases"))
    return Group(*lines)


def _countdown(delta: Any) -> str:
    if delta is None:
        return "-"
    return f"in {times.format_duration(delta)}" if delta.total_seconds() >= 0 else \
        f"passed {times.format_duration(-delta)} ago"


def _watch(model: Any, zone: Any, outputs: str | None, store: str | None, moment: Any,
           seconds: float) -> None:
    """Redraw the status in place (rich Live) every `seconds` until Ctrl-C."""
    import time

    from rich.console import Group
    from rich.live import Live

    from .events import open_log

    console = Console(highlight=False)

    def draw() -> Any:
        with open_log(model, outputs, store) as log:
            events, location = log.events(), log.location
        rows, clocks, counted = _status_rows(model, events, zone, moment)
        return Group(_clock_block(model, clocks, zone),
                     _status_table(model, rows, counted, location, zone))

    try:
        with Live(draw(), console=console, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(seconds)
                live.update(draw(), refresh=True)
    except KeyboardInterrupt:
        return


@cli.command()
@click.argument("plan")
@click.option("--outputs", default=None, help=OUTPUTS_HELP)
@click.option("--store", default=None, help=STORE_HELP)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--tz", default=None, help="Display zone (IANA name); default the plan's.")
def log(plan: str, outputs: str | None, store: str | None, fmt: str, tz: str | None) -> None:
    """The event log, oldest first: who did what to which phase, when, and each record's hash."""
    from .events import LOG_COLUMNS, log_rows, open_log

    model = load_plan(plan)
    zone = _zone(tz, model.zone)
    with open_log(model, outputs, store) as event_log:
        events, location = event_log.events(), event_log.location
    rows = log_rows(model, events, tz=zone.key)
    if fmt == "json":
        _print_json(rows)
    elif fmt == "csv":
        if not rows:
            sys.stdout.write(",".join(LOG_COLUMNS) + "\n")
        _print_csv(rows)
    elif not rows:
        click.echo(f"{model.id}: no events recorded yet ({location})")
    else:
        by_seq = {e.seq: e for e in events}
        _print_table(
            f"{model.title} - event log {location} - times in {zone.key}",
            ["seq", "at", "phase", "event", "operator", "reason", "source", "hash"],
            [[r["seq"], times.format_both(by_seq[r["seq"]].at, zone), r["phase"], r["event"],
              r["operator"], r["reason"] or "-", r["source"], r["hash"][:12]] for r in rows])


@cli.command()
@click.argument("plan")
@click.option("--outputs", default=None, help=OUTPUTS_HELP)
@click.option("--store", default=None, help=STORE_HELP)
@click.option("--expect", default=None, metavar="HASH", help="A hash kept outside the log "
              "(change ticket, chat, status page): fail unless it is a record of the intact "
              "chain.")
def verify(plan: str, outputs: str | None, store: str | None, expect: str | None) -> None:
    """Exit 0 when the event log's hash chain is intact; exit 1 naming the first bad record.

    The chain shows edits to the log, not a rewrite of all of it: `--expect` checks the log
    still holds a hash anchored elsewhere after an earlier phase (see SECURITY.md).
    """
    from .events import ChainBroken, open_log

    model = load_plan(plan)
    wanted = None
    if expect is not None:
        wanted = expect.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", wanted):
            raise RunbookError(f"--expect: {_visible(expect.strip())[:80]!r} is not a record "
                               "hash: give all 64 hex digits, as `runbook verify` prints them")
    with open_log(model, outputs, store) as event_log:
        result = event_log.verify()
        events = event_log.events() if wanted and result.ok else []
    if not result.ok:
        raise ChainBroken(result.message)
    if wanted is None:
        click.echo(f"{model.id}: {result.message}")
        return
    match = next((e for e in events if e.hash == wanted), None)
    if match is None:
        raise ChainBroken(f"{model.id}: the expected hash {wanted[:12]}... is not a record of "
                          f"this log ({len(events)} records, intact chain): the log was "
                          "rewritten, or is not the one the hash was taken from")
    later = len(events) - match.seq
    click.echo(f"{model.id}: {result.message}")
    click.echo(f"{model.id}: expected hash {wanted[:12]}... is record {match.seq} of "
               f"{len(events)} ({match.phase} {match.event})"
               + (", the last" if not later else f"; {later} recorded since"))


@cli.command()
@click.argument("plan")
@click.option("--outputs", default=None, help=OUTPUTS_HELP + " The report is written there.")
@click.option("--store", default=None, help=STORE_HELP)
@click.option("--as-of", "as_of", default=None, help="ISO time that attempts still running "
              "are counted to; default now.")
@click.option("--pdf", is_flag=True, help="Also print report.pdf with headless Chromium.")
def report(plan: str, outputs: str | None, store: str | None, as_of: str | None,
           pdf: bool) -> None:
    """Run runbooks/report.ipynb and write report.html (offline, no code) to the outputs folder."""
    from pathlib import Path

    from .events import default_outputs
    from .execute import Kernel, store_env
    from .report import KERNEL_WARM, render_report

    # The kernel boots, and imports what the notebook needs, while the plan is read.
    # A store password reaches it through its environment, never the notebook's parameters.
    with Kernel(warm=KERNEL_WARM, env=store_env(store)) as kernel:
        model = load_plan(plan)
        folder = Path(outputs) if outputs else default_outputs(model)
        path = render_report(model, folder, store=store, pdf=pdf, as_of=as_of, km=kernel)
    click.echo(f"{path}: post-migration report ({path.stat().st_size / 1e6:.1f} MB), "
               f"notebook {path.with_suffix('.ipynb')}"
               + (f", PDF {path.with_suffix('.pdf')}" if pdf else ""))


NOTICE_KINDS = click.Choice(["announcement", "reminder", "completed", "reschedule"])
NOTICE_FORMATS = click.Choice(["text", "markdown", "html"])


@cli.command()
@click.argument("plan")
@click.argument("kind", type=NOTICE_KINDS)
@click.option("--phase", default=None, help="Phase id (reminder, completed).")
@click.option("--previous", default=None, metavar="OLD_PLAN",
              help="The plan version customers were last told about (reschedule).")
@click.option("--format", "fmt", type=NOTICE_FORMATS, default="text", show_default=True)
@click.option("--outputs", default=None, help=OUTPUTS_HELP + " 'completed' reads its log; "
              "given, the notice is also kept in DIR/notices/ for the report.")
@click.option("--store", default=None, help=STORE_HELP + " ('completed' reads it.)")
@click.option("-o", "--output", default=None, help="Write the notice to this file "
              "(whole or not at all) instead of standard output.")
def notices(plan: str, kind: str, phase: str | None, previous: str | None, fmt: str,
            outputs: str | None, store: str | None, output: str | None) -> None:
    """A customer notice: announcement, reminder, completed or reschedule (date has changed)."""
    from .notices import keep_notice, render_notice, write_atomic

    model = load_plan(plan)
    old = load_plan(previous) if previous else None
    if kind == "completed":
        from .events import open_log

        with open_log(model, outputs, store) as event_log:
            notice = render_notice(model, kind, fmt, phase=phase, log=event_log)
    else:
        notice = render_notice(model, kind, fmt, phase=phase, previous=old)
    if outputs:
        click.echo(f"kept {keep_notice(notice, outputs)}", err=True)
    if output:
        write_atomic(output, notice.body)
        click.echo(f"{output}: {notice.subject}")
    else:
        sys.stdout.write(notice.body)


@cli.command()
@click.argument("plan")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def comms(plan: str, fmt: str) -> None:
    """When each notice goes out: announcement, reminders, completion messages (local + UTC)."""
    from .notices import comms_schedule

    model = load_plan(plan)
    rows = comms_schedule(model)
    if fmt == "json":
        _print_json(rows)
        return
    _print_table(f"{model.title} - notices, times in {model.timezone}",
                 ["#", "send at", "notice", "phase", "rule"],
                 [[i, r["send_at_display"], r["notice"], r["phase_label"] or "-", r["rule"]]
                  for i, r in enumerate(rows, start=1)])


@cli.command()
@click.argument("plan")
@click.option("-o", "--output", required=True, help="ICS file to write.")
@click.option("--previous", default=None, metavar="OLD_PLAN",
              help="An older version: its phases missing from PLAN go out as cancelled.")
def ics(plan: str, output: str, previous: str | None) -> None:
    """An iCalendar file: one event a window (UTC), an alarm before each, stable UIDs."""
    from .calendar import write_ics

    model = load_plan(plan)
    write_ics(model, output, previous=load_plan(previous) if previous else None)
    click.echo(f"{output}: {len(model.phases)} events, sequence {model.revision}")


@cli.command()
@click.argument("old")
@click.argument("new")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def diff(old: str, new: str, fmt: str) -> None:
    """What changed between two plan versions: phases added, removed, moved, resized, ..."""
    from .diff import diff_plans, table_rows

    result = diff_plans(load_plan(old), load_plan(new))
    if fmt == "json":
        _print_json(result.to_json())
    elif not result.changes:
        click.echo(f"{old} -> {new}: no changes")
    else:
        _print_table(f"{old} -> {new}: {len(result.changes)} changes, times in "
                     f"{result.zone.key}", ["phase", "change", "what changed"],
                     table_rows(result))


PHASE_EVENTS = click.Choice(["review", "go", "no-go", "start", "complete", "rollback",
                             "rolled-back", "note"])


def _status(message: str) -> Any:
    """A spinner on stderr while a notebook runs (nothing when stderr is not a terminal)."""
    from contextlib import nullcontext

    console = Console(stderr=True, highlight=False)
    return console.status(Text(message)) if console.is_terminal else nullcontext()


@cli.command("phase")
@click.argument("plan")
@click.argument("phase_id", metavar="PHASE")
@click.argument("event", type=PHASE_EVENTS)
@click.option("--operator", required=True, help="Who decides; recorded with the event.")
@click.option("--reason", default="", help="Why; needed to override a failed pre-flight check.")
@click.option("--at", default="", help="When it happened (ISO 8601, no offset = UTC); "
              "default now.")
@click.option("--outputs", default=None, help=OUTPUTS_HELP + " Notebooks are kept in its "
              "notebooks/ folder.")
@click.option("--store", default=None, help=STORE_HELP + " A password in it reaches the "
              "notebook's kernel through its environment, never its parameters.")
def phase_command(plan: str, phase_id: str, event: str, operator: str, reason: str, at: str,
                  outputs: str | None, store: str | None) -> None:
    """Run runbooks/phase.ipynb for EVENT of PHASE (papermill) and keep the executed notebook."""
    from .phase import RecordedThenFailed, execute_phase

    kept = []
    with _status(f"{phase_id}: {event}: starting the kernel") as status:
        def starting(path: Any) -> None:
            kept.append(path)
            if status is not None:
                status.update(Text(f"{phase_id}: {event}: running {path.name}"))

        try:
            outcome = execute_phase(plan, phase_id, event, operator, reason, at, outputs,
                                    source="cli", store=store, starting=starting)
        except RecordedThenFailed as exc:
            _said_recorded(exc.outcome)  # a later cell failed: the decision stands
            raise
        except RunbookError:
            if kept and kept[0].exists():
                click.echo(f"notebook (nothing recorded): {kept[0]}")
            raise
    if outcome.recorded is None and event == "review":
        click.echo(f"{phase_id}: reviewed; nothing recorded")
    _said_recorded(outcome)


def _said_recorded(outcome: Any) -> None:
    """Print what `runbook phase` recorded (if anything) and where its notebook is."""
    ev = outcome.recorded
    if ev is not None:
        zone = outcome.plan.zone
        click.echo(f"{outcome.phase}: {ev.event} recorded as event #{ev.seq} by "
                   f"{_visible(ev.operator)} at "
                   f"{times.format_both(ev.at, zone)}"
                   + (" (override of failed checks)" if ev.details.get("override") else ""))
    click.echo(f"notebook: {outcome.notebook}")


@cli.command("step")
@click.argument("plan")
@click.argument("phase_id", metavar="PHASE")
@click.argument("step_id", metavar="STEP")
@click.argument("event", type=click.Choice(["start", "done", "failed", "skip"]))
@click.option("--operator", required=True, help="Who ticks it; recorded with the event.")
@click.option("--reason", default="", help="Why (required to skip).")
@click.option("--at", default="", help="When it happened (ISO 8601, no offset = UTC); "
              "default now.")
@click.option("--outputs", default=None, help=OUTPUTS_HELP)
@click.option("--store", default=None, help=STORE_HELP)
def step_command(plan: str, phase_id: str, step_id: str, event: str, operator: str, reason: str,
                 at: str, outputs: str | None, store: str | None) -> None:
    """Record EVENT (start, done, failed, skip) of STEP of PHASE: a quick tick, no notebook."""
    from .events import open_log

    model = load_plan(plan)
    with open_log(model, outputs, store) as log:
        ev = log.record_step(phase_id, step_id, event, operator, reason, at or None)
    click.echo(f"{ev.phase}: step '{step_id}' {event} recorded as event #{ev.seq} by "
               f"{_visible(ev.operator)} at {times.format_both(ev.at, model.zone)}")


@cli.command()
@click.argument("plan")
@click.option("--outputs", default=None, help="A fresh run folder; default a new "
              "outputs/<plan id>-rehearsal-<time>.")
@click.option("--rollback", "rollback_phase", default=None, metavar="PHASE",
              help="Roll this phase back at its rollback deadline; what depends on it stays "
              "planned.")
def rehearse(plan: str, outputs: str | None, rollback_phase: str | None) -> None:
    """The whole migration in simulated time through the phase notebook, then the report."""
    from .rehearsal import rehearse as run_rehearsal

    with _status("rehearsal: starting the kernel") as status:
        def progress(done: int, total: int, step: Any) -> None:
            if status is not None:
                what = f"{step.event} of {step.phase}" if step else "the report"
                status.update(Text(f"rehearsal: {done + 1}/{total}: {what}"))

        result = run_rehearsal(plan, outputs, rollback=rollback_phase, progress=progress)
    click.echo(f"rehearsal of {result.plan.id}: {len(result.notebooks)} events, each through "
               f"runbooks/phase.ipynb, and {result.ticks} step ticks")
    click.echo("states: " + ", ".join(f"{k} {v}" for k, v in result.states.items()))
    click.echo(f"outputs: {result.outputs}")
    click.echo(f"event log: {result.store} ({result.verified})")
    click.echo(f"notebooks: {result.outputs / 'notebooks'} ({len(result.notebooks)})")
    click.echo(f"report: {result.report}" if result.report else result.report_note)
    if not result.verified_ok:
        raise RunbookError(f"rehearsal: the event log does not verify: {result.verified}")


@cli.group("store")
def store_group() -> None:
    """The event store: set up a shared one (PostgreSQL), see what it holds, copy logs.

    A STORE is a URL (postgresql://USER@HOST/DB, sqlite:///PATH), a SQLite file or a run
    folder (its events.sqlite); omitted, $RUNBOOK_STORE.
    """


@store_group.command("init")
@click.argument("store", metavar="[STORE]", required=False)
def store_init(store: str | None) -> None:
    """Create the event store's tables (idempotent; a newer schema is refused)."""
    from .store import SCHEMA_VERSION, open_store

    target = open_store(store)
    try:
        created = target.init()
    finally:
        target.close()
    click.echo(f"{target.location}: event store {'created' if created else 'ready'} "
               f"(schema version {SCHEMA_VERSION})")


@store_group.command("info")
@click.argument("store", metavar="[STORE]", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def store_info(store: str | None, fmt: str) -> None:
    """The plans whose logs the store holds: events, first and last, chain check."""
    from .events import describe_store

    info = describe_store(store)
    if fmt == "json":
        _print_json(info)
        return
    version = info["schema_version"]
    if version is None:
        click.echo(f"{info['store']}: no event store here yet (create it: runbook store init)")
        return
    title = f"{info['store']} - schema version {version} - {len(info['plans'])} plan(s)"
    if not info["plans"]:
        click.echo(f"{title}: no events recorded yet")
        return
    _print_table(title, ["plan", "events", "first event (UTC)", "last event (UTC)", "chain"],
                 [[p["plan"], p["events"], p["first_at"] or "-", p["last_at"] or "-",
                   p["chain"]] for p in info["plans"]])


@store_group.command("copy")
@click.argument("source", metavar="FROM")
@click.argument("target", metavar="TO")
@click.option("--plan", "plans", multiple=True, metavar="ID", help="Copy this plan's log "
              "(repeatable); default every plan in FROM (a SQLite TO takes one).")
def store_copy(source: str, target: str, plans: tuple[str, ...]) -> None:
    """Copy event logs from FROM to TO verbatim (hashes included), then verify the copy.

    TO may already hold the first records of a plan's log (an earlier copy): only the rest is
    added. Anything else there for that plan is refused, and nothing is written.
    """
    from .events import copy_logs

    for done in copy_logs(source, target, list(plans) or None):
        click.echo(f"{done.plan}: copied {done.added} records ({done.kept} already there); "
                   f"{done.verification.message}")


@cli.command()
@click.argument("plan")
@click.option("--runs", type=click.IntRange(1, 1_000_000), default=20_000, show_default=True,
              help="How many nights to draw.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Draw reproducibly (a whole number); default fresh randomness.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def risk(plan: str, runs: int, seed: int | None, fmt: str) -> None:
    """Will each phase's steps fit? A Monte Carlo over the step graph from the steps'
    low/duration/high estimates: finish time p50/p90 (minutes after the window's start), the
    chance of finishing by the rollback deadline, and each step's criticality."""
    from .risk import plan_risk

    model = load_plan(plan)
    results = plan_risk(model, runs=runs, seed=seed)
    if fmt == "json":
        _print_json([r.as_dict() for r in results])
        return
    _print_table(
        f"{model.title} - will it fit? ({runs:,} runs, {model.estimates.distribution}"
        f"{'' if seed is None else f', seed {seed}'})",
        ["phase", "p50", "p90", "rollback by", "P(by rollback deadline)", "most critical steps"],
        [[r.id, _minutes_text(r.p50_minutes), _minutes_text(r.p90_minutes),
          _minutes_text(r.deadline_minutes), f"{r.p_before_rollback_deadline:.1%}",
          ", ".join(f"{step} {share:.0%}" for step, share in
                    sorted(r.criticality.items(), key=lambda kv: -kv[1])[:3]) or "-"]
         for r in results])


@cli.command()
@click.argument("plan")
@click.option("--from", "runs", multiple=True, required=True, metavar="RUN",
              help="A run folder (holding events.sqlite) or a store URL; repeat for more nights.")
@click.option("-o", "--output", required=True, help="The calibrated plan file to write.")
def calibrate(plan: str, runs: tuple[str, ...], output: str) -> None:
    """Write PLAN with each step's low/duration/high learned from the actual step durations
    in past runs (min / median / max; one observation: itself, widened by 25% each way),
    keeping the file's comments and layout; print old vs new estimates."""
    from .calibrate import calibrate as learn
    from .calibrate import table_rows

    changes = learn(plan, list(runs), output)
    _print_table(f"{output}: {len(changes)} step(s) calibrated from {len(runs)} run(s)",
                 ["phase", "step", "nights", "old low / likely / high",
                  "new low / likely / high"], table_rows(changes))


def _minutes_text(minutes: float) -> str:
    """Minutes after the window's start as people write durations: '+2h 16m'."""
    from datetime import timedelta

    return "+" + times.format_duration(timedelta(minutes=minutes))


def _zone(tz: str | None, default: Any) -> Any:
    if not tz:
        return default
    try:
        return times.zone(tz)
    except ValueError as exc:
        raise RunbookError(f"--tz: {exc}") from None


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every `RunbookError` into one line and exit 1."""
    try:
        cli.main(args=argv, prog_name="runbook", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("runbook: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except RunbookError as exc:
        for line in exc.lines():
            click.echo(line, err=True)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)
    except KeyboardInterrupt:
        click.echo("runbook: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
