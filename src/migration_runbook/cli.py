"""The `runbook` command: a thin layer over the package's functions.

Every command raises `RunbookError` for a mistake or a refusal; `main` prints its one line
and exits 1. Usage errors exit 2 (click's convention).
"""

from __future__ import annotations

import csv
import io
import json
import os
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
from .terminal import CONTROL, has_control, visible

FORMATS = click.Choice(["table", "csv", "json"])


def _console() -> Console:
    """A console as wide as the reader's: the terminal's (rich honours $COLUMNS there).

    Piped, $COLUMNS when set, else the width of the terminal that stderr is on (`runbook status
    | less`), else 160 columns (CI logs, files) instead of rich's 80.
    """
    console = Console(highlight=False)
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        width = int(columns)
    else:
        try:
            width = os.get_terminal_size(sys.stderr.fileno()).columns
        except (OSError, ValueError):
            width = 160
    return Console(highlight=False, width=width)


# Control characters as `\x1b` escapes: a reason or name from the log, a check's answer or a
# file name cannot drive the operator's terminal (terminal.visible, used for all output).
_CONTROL = CONTROL
_visible = visible


def _print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table; cells are `Text`, so markup in a plan is shown as typed."""
    table = Table(title=Text(_visible(title)), title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) and not has_control(cell.plain)
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
        writer.writerow({k: _visible(json.dumps(v)) if isinstance(v, list | dict) else
                         _visible(v) if isinstance(v, str) else v for k, v in row.items()})
    sys.stdout.write(out.getvalue())


def _print_json(data: Any) -> None:
    # json escapes C0 controls itself; C1 controls (8-bit CSI) and bidi overrides too here.
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="migration-runbook")
def cli() -> None:
    """Plan, run and account for a phased production migration."""


@cli.command()
@click.argument("plan")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too (overlaps, channels that "
              "depend on a service a notice's window takes down).")
def validate(plan: str, strict: bool) -> None:
    """Exit 0 when PLAN is valid; otherwise one error a line on stderr and exit 1."""
    from .delivery import channel_lint

    model, warnings = load_plan_with_warnings(plan)
    warnings = [*warnings, *channel_lint(model)]
    for warning in warnings:
        click.echo(_visible(warning, one_line=True), err=True)
    if strict and warnings:
        raise RunbookError(f"{plan}: {len(warnings)} warning(s) (above); --strict refuses them")
    click.echo(f"{plan}: valid: {len(model.phases)} phases, {len(model.services)} services, "
               f"{times.format_both(model.start, model.zone)} to "
               f"{times.format_both(model.end, model.zone)}")


@cli.command()
@click.argument("plan")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--tz", default=None, help="Display zone (IANA name); default the plan's.")
@click.option("--wide", is_flag=True, help="One column a field, each time in full; for about "
              "160 columns.")
def schedule(plan: str, fmt: str, tz: str | None, wide: bool) -> None:
    """The phase table: windows in local time and UTC, durations, dependencies, impacts."""
    model = load_plan(plan)
    zone = _zone(tz, model.zone)
    rows = schedule_rows(model, zone.key)
    if fmt == "json":
        _print_json(rows)
    elif fmt == "csv":
        _print_csv(rows)
    elif not wide:
        _print_schedule(model, zone)
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


def _print_schedule(model: Any, zone: Any) -> None:
    """The schedule for 80 columns: a phase's id, name and dependencies in one cell; its
    window on one line in local time, the next in UTC, then its length and rollback deadline;
    its impacts. Plan text is shown as typed."""
    from rich import box

    from .status_table import window_text

    def window(p: Any) -> str:
        start, end = p.start.astimezone(zone), p.end.astimezone(zone)
        start_utc, end_utc = times.local(p.start, times.UTC), times.local(p.end, times.UTC)
        deadline = p.rollback_deadline
        local = window_text(start, end, times.abbreviation(p.start, zone),
                            times.abbreviation(p.end, zone))
        utc = window_text(start_utc, end_utc, "UTC", "UTC",
                          dated=start_utc.date() != start.date())
        return "\n".join([local, *([] if in_utc else [utc]),
                          f"{times.format_duration(p.duration)}, rollback by "
                          f"{times.format_local(deadline, zone, with_date=False)}"])

    in_utc = zone.key == "UTC"

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
    table.add_column("#")
    table.add_column("phase", overflow="fold", min_width=min(max([12, *(
        len(p.id) for p in model.phases), *(len("after " + ", ".join(p.depends_on))
                                            for p in model.phases)]), 26))
    table.add_column("window", no_wrap=True)
    table.add_column("impacts", overflow="fold")
    for i, p in enumerate(model.phases, start=1):
        phase = Text(_visible(p.id), style="bold")
        phase.append("\n" + _visible(p.name))
        if p.depends_on:
            phase.append("\nafter " + ", ".join(p.depends_on))
        table.add_row(str(i), phase, window(p), Text(_visible("\n".join(
            f"{imp.service}: {imp.level}" for imp in p.impacts) or "-")))
        table.add_section()
    _console().print(Text(_visible(f"{model.title} (revision {model.revision}) - times in "
                                   f"{zone.key}" + ("" if in_utc else ", UTC below"))), table)


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


@cli.command()
@click.argument("plan")
@click.option("-o", "--output", default=None, help="HTML file to write; default "
              "outputs/<plan id>/plan-review.html (the executed notebook goes beside it).")
@click.option("--tz", default=None, help="Display zone (IANA name); default the plan's.")
def review(plan: str, output: str | None, tz: str | None) -> None:
    """Run runbooks/plan.ipynb on PLAN and export it as one offline page for reviewers."""
    from .review import review as write_review

    model = load_plan(plan)
    zone = _zone(tz, model.zone) if tz else None
    path = write_review(model, output, tz=zone.key if zone else None)
    click.echo(f"{path}: plan review ({path.stat().st_size / 1e6:.1f} MB), "
               f"notebook {path.with_suffix('.ipynb')}")


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
@click.option("--wide", is_flag=True, help="Every column (names, gate, overrun, full times); "
              "for about 160 columns.")
@click.option("--as-of", "as_of", default=None, help="The moment to show: 'YYYY-MM-DD HH:MM' in "
              "the plan's zone, or ISO 8601 with an offset; default now. Events after it are "
              "left out.")
@click.option("--watch", type=float, is_flag=False, flag_value=10.0, default=None,
              metavar="[SECONDS]", help="Redraw in place every SECONDS (default 10) until "
              "Ctrl-C.")
def status(plan: str, outputs: str | None, store: str | None, fmt: str, tz: str | None,
           wide: bool, as_of: str | None, watch: float | None) -> None:
    """Each phase's state, gate, planned vs actual window, overrun and next allowed events;
    for a running phase, its steps, forecast, countdowns and warnings."""
    from . import collector
    from .events import open_log

    model = load_plan(plan)
    zone = _zone(tz, model.zone)
    with collector.paused(), open_log(model, outputs, store) as log:  # a large log: see there
        events, location = log.events(), log.location
    moment = _as_of(model, as_of, events)
    if watch is not None:
        if fmt == "json":
            raise click.UsageError("--watch draws the table; it does not take --format json")
        if not 0.5 <= watch <= 3600:
            raise click.UsageError("--watch SECONDS must be between 0.5 and 3600")
        _watch(model, zone, outputs, store, moment, watch, wide)
        return
    with collector.paused():
        rows, clocks, seen = _status_rows(model, events, zone, moment)
        if fmt == "json":
            _print_json(rows)
            return
        console = _console()
        console.print(_clock_block(model, clocks, zone))
        console.print(_status_view(model, rows, seen, location, zone, wide))


def _as_of(model: Any, value: str | None, events: list) -> Any:
    """The `--as-of` moment (read in the plan's zone, checked and echoed on stderr, as
    `chronology.read_as_of` does), or None for "now" (read afresh at every redraw)."""
    if value is None or not value.strip():
        return None
    from .chronology import read_as_of

    moment = read_as_of(model, value, events)
    click.echo(f"--as-of {_visible(times.describe_typed(value, moment, model.zone))}",
               err=True)
    return moment


def _status_rows(model: Any, events: list, zone: Any, moment: Any) -> tuple[list, dict, list]:
    """Status rows with the clock's fields and the approvals merged in, the clocks, and the
    events seen (those up to `moment`)."""
    from . import approvals
    from .clock import clocks
    from .states import status_rows

    now = moment or times.now()
    seen = [e for e in events if e.at <= now] if moment is not None else events
    rows = status_rows(model, seen, now=now, tz=zone.key)
    by_phase = clocks(model, seen, now)
    own = _events_by_phase(seen)    # approvals read one phase's events: linear, not n x m
    for row in rows:
        row.update(by_phase[row["id"]].to_dict())
        row["approvals"] = approvals.summary(model, own.get(row["id"], []), row["id"])
    return rows, by_phase, seen


def _events_by_phase(events: list) -> dict[str, list]:
    """The events of each phase, in log order."""
    out: dict[str, list] = {}
    for ev in events:
        out.setdefault(ev.phase, []).append(ev)
    return out


def _status_view(model: Any, rows: list, seen: list, location: str, zone: Any,
                 wide: bool) -> Any:
    """The status table (status_table.py); plan text and log values shown as typed."""
    from . import approvals
    from .status_table import status_table

    own = _events_by_phase(seen)
    for row in rows:  # the table's cell; the JSON has the structured `approvals`
        row["approvals_text"] = approvals.summary_text(model, own.get(row["id"], []), row["id"])

    def visible(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: visible(v) for k, v in value.items()}
        if isinstance(value, list):
            return [visible(v) for v in value]
        return _visible(value) if isinstance(value, str) else value

    title = (f"{model.title} - {len(seen)} events in {location} - times in {zone.key}"
             + ("" if wide or zone.key == "UTC" else ", UTC below"))
    return status_table(visible(rows), title=_visible(title), wide=wide)


WARNING_STYLE = {"rollback-deadline-passed": "bold white on red",
                 "forecast-past-rollback-deadline": "bold red",
                 "window-end-passed": "bold red",
                 "rollback-deadline-soon": "bold yellow",
                 "fit-at-risk": "bold yellow",
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
        if clock.p_before_rollback_deadline is not None:
            text += f", {clock.p_before_rollback_deadline:.1%} by the rollback deadline"
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
           seconds: float, wide: bool = False) -> None:
    """Redraw the status in place (rich Live) every `seconds` until Ctrl-C."""
    import time

    from rich.console import Group
    from rich.live import Live

    from .events import open_log

    console = Console(highlight=False)

    def draw() -> Any:
        with open_log(model, outputs, store) as log:
            events, location = log.events(), log.location
        rows, clocks, seen = _status_rows(model, events, zone, moment)
        return Group(_clock_block(model, clocks, zone),
                     _status_view(model, rows, seen, location, zone, wide))

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
            [[r["seq"], times.format_both(by_seq[r["seq"]].at, zone), r["phase"],
              r["event"] + (f" {r['details']['step']}" if r["event"].startswith("step-") and
                            isinstance(r["details"], dict) and "step" in r["details"] else ""),
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
    from .signing import check_signatures

    with open_log(model, outputs, store) as event_log:
        result = event_log.verify()
        events = event_log.events() if result.ok else []
    if not result.ok:
        raise ChainBroken(result.message)
    signatures = check_signatures(model, events)
    if not signatures.ok:
        raise ChainBroken(f"{model.id}: {signatures.message}")
    if wanted is None:
        click.echo(f"{model.id}: {result.message}")
        click.echo(f"{model.id}: {signatures.message}")
        return
    match = next((e for e in events if e.hash == wanted), None)
    if match is None:
        raise ChainBroken(f"{model.id}: the expected hash {wanted[:12]}... is not a record of "
                          f"this log ({len(events)} records, intact chain): the log was "
                          "rewritten, or is not the one the hash was taken from")
    later = len(events) - match.seq
    click.echo(f"{model.id}: {result.message}")
    click.echo(f"{model.id}: {signatures.message}")
    click.echo(f"{model.id}: expected hash {wanted[:12]}... is record {match.seq} of "
               f"{len(events)} ({match.phase} {match.event})"
               + (", the last" if not later else f"; {later} recorded since"))


@cli.command()
@click.argument("plan")
@click.option("--outputs", default=None, help=OUTPUTS_HELP)
@click.option("--store", default=None, help=STORE_HELP)
@click.option("-o", "--output", required=True, help="JSON file to write.")
def export(plan: str, outputs: str | None, store: str | None, output: str) -> None:
    """The log as one JSON file (records, signatures, allowed signers) that an auditor checks
    with jq, sha256sum and ssh-keygen -Y verify alone (see SECURITY.md)."""
    from .events import ChainBroken, open_log
    from .files import write_atomic
    from .signing import export as export_log

    model = load_plan(plan)
    with open_log(model, outputs, store) as event_log:
        result = event_log.verify()
        events = event_log.events()
    if not result.ok:
        raise ChainBroken(f"{model.id}: not exported: {result.message}")
    document = export_log(model, events, (len(events), result.last_hash))
    write_atomic(output, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    signed = sum(1 for e in events if e.signature)
    click.echo(f"{output}: {len(events)} records of {model.id}, {signed} signed")


@cli.command()
@click.argument("plan")
@click.option("--outputs", default=None, help=OUTPUTS_HELP + " The report is written there.")
@click.option("--store", default=None, help=STORE_HELP)
@click.option("--as-of", "as_of", default=None, help="Time that attempts still running are "
              "counted to ('YYYY-MM-DD HH:MM' in the plan's zone, or ISO 8601 with an offset); "
              "default now. Not over 5 minutes ahead (but for a rehearsal's log).")
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
        if as_of:
            as_of = _typed_as_of(model, as_of, folder, store)
        path = render_report(model, folder, store=store, pdf=pdf, as_of=as_of, km=kernel)
    click.echo(f"{path}: post-migration report ({path.stat().st_size / 1e6:.1f} MB), "
               f"notebook {path.with_suffix('.ipynb')}"
               + (f", PDF {path.with_suffix('.pdf')}" if pdf else ""))


NOTICE_KINDS = click.Choice(["announcement", "reminder", "in-progress", "extended", "completed",
                             "reschedule"])
NOTICE_FORMATS = click.Choice(["text", "markdown", "html"])


@cli.command()
@click.argument("plan")
@click.argument("kind", type=NOTICE_KINDS, metavar="KIND")
@click.option("--phase", default=None, help="Phase id (reminder, in-progress, extended, "
              "completed).")
@click.option("--previous", default=None, metavar="OLD_PLAN",
              help="The plan version customers were last told about (reschedule).")
@click.option("--format", "fmt", type=NOTICE_FORMATS, default="text", show_default=True)
@click.option("--outputs", default=None, help=OUTPUTS_HELP + " The log is read for "
              "in-progress, extended and completed; with --send, the notice is kept in "
              "DIR/notices/ for the report.")
@click.option("--store", default=None, help=STORE_HELP)
@click.option("-o", "--output", default=None, help="Write the notice to this file "
              "(whole or not at all) instead of standard output.")
@click.option("--send", is_flag=True, help="Deliver it through the plan's channels and record "
              "each delivery in the event log (without it: only render, record nothing).")
@click.option("--channel", "channels", multiple=True, metavar="ID", help="Only this channel "
              "(repeatable); default every channel that receives KIND.")
@click.option("--again", is_flag=True, help="With --send: send even where it already went "
              "(or may have gone) out.")
@click.option("--mark-sent", is_flag=True, help="With --send: record it as sent without "
              "sending (a delivery whose outcome was lost, checked by hand).")
@click.option("--at", "as_of", default=None, help="Forecast time for in-progress/extended "
              "(ISO; no offset = the plan's zone); default now.")
def notices(plan: str, kind: str, phase: str | None, previous: str | None, fmt: str,
            outputs: str | None, store: str | None, output: str | None, send: bool,
            channels: tuple[str, ...], again: bool, mark_sent: bool,
            as_of: str | None) -> None:
    """A customer notice: announcement, reminder, in-progress, extended, completed or
    reschedule (date has changed); rendered, or with --send delivered and recorded."""
    from .events import default_outputs, open_log
    from .notices import render_notice, write_atomic

    model = load_plan(plan)
    old = load_plan(previous) if previous else None
    when = _plan_time(as_of, model, "--at") if as_of else None
    if not send:
        if channels or again or mark_sent:
            raise RunbookError("--channel, --again and --mark-sent need --send")
        if kind in ("completed", "in-progress", "extended"):   # these read the event log
            with open_log(model, outputs, store) as event_log:
                notice = render_notice(model, kind, fmt, phase=phase, log=event_log,
                                       as_of=when)
        else:
            notice = render_notice(model, kind, fmt, phase=phase, previous=old)
        if output:
            write_atomic(output, notice.body)
            click.echo(f"{output}: {notice.subject}")
        else:
            sys.stdout.write(notice.body)
        return
    from .delivery import DeliveryFailed
    from .delivery import send as send_notice

    folder = outputs or default_outputs(model)
    with open_log(model, outputs, store) as event_log:
        try:
            result = send_notice(model, event_log, kind, phase, channels=channels,
                                 previous=old, outputs=folder, again=again,
                                 mark_sent=mark_sent, at=when)
        except DeliveryFailed as exc:
            _said_sent(exc.outcome)
            _refresh_published(model, outputs, store)
            raise
    _said_sent(result)
    _refresh_published(model, outputs, store)


def _said_sent(outcome: Any) -> None:
    """One line a channel: delivered, recorded by hand, or skipped (already sent)."""
    what = outcome.notice.subject
    for name in outcome.delivered:
        click.echo(f"sent to {name}: {_visible(what)}")
    for name in outcome.marked:
        click.echo(f"recorded as sent to {name} (not sent now): {_visible(what)}")
    for line in outcome.skipped:
        click.echo(f"skipped: {_visible(line)}")


def _plan_time(text: str, model: Any, option: str) -> Any:
    """A time typed on the command line: ISO 8601; without an offset, the plan's zone."""
    try:
        parsed = times._from_iso(text.strip())
        if parsed.tzinfo is None:
            return times.localize(parsed, model.zone).astimezone(times.UTC)
        return times.parse_instant(text)
    except (ValueError, TypeError) as exc:
        raise RunbookError(f"{option}: {exc}") from None


def _refresh_published(model: Any, outputs: str | None, store: str | None) -> None:
    """Refresh the status page when the plan names one (`communications.publish`)."""
    if model.communications.publish:
        from .publish import refresh_site

        path = refresh_site(model, outputs=outputs, store=store)
        if path is not None:
            click.echo(f"status page refreshed: {path}", err=True)


@cli.command()
@click.argument("plan")
@click.option("-o", "--output", "site", required=True, metavar="SITE/",
              help="Folder to write index.html, feed.atom and calendar.ics into.")
@click.option("--outputs", default=None, help=OUTPUTS_HELP)
@click.option("--store", default=None, help=STORE_HELP)
def publish(plan: str, site: str, outputs: str | None, store: str | None) -> None:
    """A static status page: state now, affected now, next window, notices; Atom feed; ICS."""
    from .publish import publish as publish_site

    model = load_plan(plan)
    index = publish_site(model, site, outputs, store)
    click.echo(f"{index}: status page of {model.id} (with feed.atom and calendar.ics)")


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
                             "rolled-back", "note", "approve", "revoke"])
SIGN_HELP = "SSH key that signs the record (a private key file, or a public one whose key " \
    "is in ssh-agent); default $RUNBOOK_SIGNING_KEY, else an agent key the plan's " \
    "allowed_signers gives the operator."


def _status(message: str) -> Any:
    """A spinner on stderr while a notebook runs (nothing when stderr is not a terminal)."""
    from contextlib import nullcontext

    console = Console(stderr=True, highlight=False)
    return console.status(Text(message)) if console.is_terminal else nullcontext()


@cli.command("phase")
@click.argument("plan")
@click.argument("phase_id", metavar="PHASE")
@click.argument("event", type=PHASE_EVENTS, metavar="EVENT")
@click.option("--operator", required=True, help="Who decides; recorded with the event.")
@click.option("--reason", default="", help="Why; needed to override a failed pre-flight check.")
@click.option("--at", default="", help="When it happened: 'YYYY-MM-DD HH:MM' in the plan's "
              "zone, or ISO 8601 with an offset; default now. Echoed in local time and UTC; "
              "not over 5 minutes ahead; over 12 hours from the window needs --reason.")
@click.option("--outputs", default=None, help=OUTPUTS_HELP + " Notebooks are kept in its "
              "notebooks/ folder.")
@click.option("--store", default=None, help=STORE_HELP + " A password in it reaches the "
              "notebook's kernel through its environment, never its parameters.")
@click.option("--sign", "sign", default=None, metavar="KEY", help=SIGN_HELP)
def phase_command(plan: str, phase_id: str, event: str, operator: str, reason: str, at: str,
                  outputs: str | None, store: str | None, sign: str | None) -> None:
    """Run runbooks/phase.ipynb for EVENT of PHASE (papermill) and keep the executed notebook.

    EVENT: review, go, no-go, start, complete, rollback, rolled-back, note, approve or revoke.
    approve and revoke: a holder of a role the plan's approvals name approves the phase's
    next go, or withdraws that approval.
    """
    from .errors import EventRefused
    from .phase import RecordedThenFailed, execute_phase

    if event != "review" and not operator.strip():
        # Before a kernel starts or a notebook number is taken.
        raise EventRefused(phase_id, event, f"phase '{phase_id}' cannot {event}: --operator "
                           "is empty (say who decides: --operator NAME)")
    kept = []
    with _status(f"{phase_id}: {event}: starting the kernel") as status:
        def starting(path: Any) -> None:
            kept.append(path)
            if status is not None:
                status.update(Text(f"{phase_id}: {event}: running {path.name}"))

        try:
            outcome = execute_phase(plan, phase_id, event, operator, reason, at, outputs,
                                    source="cli", store=store, starting=starting,
                                    sign=sign or "")
        except RecordedThenFailed as exc:
            _said_at(exc.outcome.plan, at)
            _said_recorded(exc.outcome)  # a later cell failed: the decision stands
            raise
        except RunbookError as exc:
            if kept and kept[0].exists():
                click.echo(f"notebook (nothing recorded): {kept[0]}")
            if isinstance(exc, EventRefused):
                raise _empty_log_hint(exc, plan, outputs, store) from None
            raise
    _said_at(outcome.plan, at)
    if outcome.recorded is None and event == "review":
        click.echo(f"{phase_id}: reviewed; nothing recorded")
    _said_recorded(outcome)
    if outcome.recorded is not None:
        _refresh_published(outcome.plan, outputs, store)


def _empty_log_hint(exc: Any, plan: str, outputs: str | None, store: str | None) -> Any:
    """A refusal against an empty log says so: a mistyped --outputs (or --store) opens a new,
    empty log, where every phase is planned. Only where the empty log is why (the phase's
    state refuses the event), not for refusals about who asks or how it is signed."""
    from .errors import EventRefused
    from .events import open_log
    from .states import refusal

    try:
        model = load_plan(plan)
        if exc.phase not in {p.id for p in model.phases} or \
                not refusal(model, {}, exc.phase, exc.event):
            return exc
        with open_log(model, outputs, store) as log:
            if log.events():
                return exc
            location = log.location
    except RunbookError:
        return exc
    which = "--store" if store else "--outputs"
    return EventRefused(exc.phase, exc.event, f"{exc.reason}; the event log {location} holds "
                        f"no events yet (is {which} the run's?)")


def _said_at(model: Any, at: str) -> None:
    """Echo how a typed `--at` was read: local time with its abbreviation, and UTC."""
    if at.strip():
        from .chronology import read_typed

        click.echo(f"--at {_visible(times.describe_typed(at, read_typed(model, at), model.zone))}")


def _typed_as_of(model: Any, as_of: str, outputs: Any, store: str | None) -> str:
    """`--as-of` read in the plan's zone and checked (`chronology.read_as_of`), echoed in local
    time and UTC; returned as ISO UTC, which every reader takes as is."""
    from .chronology import read_as_of
    from .events import open_log

    with open_log(model, outputs, store) as event_log:
        moment = read_as_of(model, as_of, event_log.events())
    click.echo(f"--as-of {_visible(times.describe_typed(as_of, moment, model.zone))}")
    return times.format_iso_utc(moment)


def _said_recorded(outcome: Any) -> None:
    """Print what `runbook phase` recorded (if anything) and where its notebook is."""
    ev = outcome.recorded
    if ev is not None:
        zone = outcome.plan.zone
        click.echo(f"{outcome.phase}: {ev.event} recorded as event #{ev.seq} by "
                   f"{_visible(ev.operator)} at "
                   f"{times.format_both(ev.at, zone)}"
                   + (" (override of failed checks)" if ev.details.get("override") else "")
                   + (", signed" if ev.signature else ""))
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
    _refresh_published(model, outputs, store)   # imports publish only when the plan has one


@cli.command()
@click.argument("plan")
@click.option("--outputs", default=None, help="A fresh run folder; default a new "
              "outputs/<plan file>-r<revision>-rehearsal-<time>.")
@click.option("--rollback", "rollback_phase", default=None, metavar="PHASE",
              help="Roll this phase back at its rollback deadline; what depends on it stays "
              "planned.")
@click.option("--send-to-channels", is_flag=True, help="Deliver every notice to the plan's "
              "channels (default: only record each as a rehearsal notice).")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Draw each step's duration from its low/duration/high (the same for the "
              "same seed) and roll back a phase whose steps miss its rollback deadline; "
              "default the likely durations.")
def rehearse(plan: str, outputs: str | None, rollback_phase: str | None,
             send_to_channels: bool, seed: int | None) -> None:
    """The whole migration in simulated time through the phase notebook, then the report."""
    from .rehearsal import rehearse as run_rehearsal

    with _status("rehearsal: starting the kernel") as status:
        def progress(done: int, total: int, step: Any) -> None:
            if status is not None:
                what = f"{step.event} of {step.phase}" if step else "the report"
                status.update(Text(f"rehearsal: {done + 1}/{total}: {what}"))

        result = run_rehearsal(plan, outputs, rollback=rollback_phase, progress=progress,
                               send_to_channels=send_to_channels, seed=seed)
    _said_rehearsed(result, plan, send_to_channels)


def _said_rehearsed(result: Any, plan: str, send_to_channels: bool = False) -> None:
    """The rehearsal's summary: the run folder once, then what is in it."""
    from .events import LOG_FILE
    from .notices import NOTICES_FOLDER, NOTICES_INDEX

    folder = result.outputs
    notices_kept = [p for p in (folder / NOTICES_FOLDER).glob("*") if p.name != NOTICES_INDEX]
    click.echo(f"rehearsal of {result.plan.id} ({plan}, revision {result.plan.revision}): "
               f"{len(result.notebooks)} events, each through runbooks/phase.ipynb, and "
               f"{result.ticks} step ticks")
    if result.seed is not None:
        click.echo(f"step durations drawn with seed {result.seed} (the same seed plays the "
                   "same night)")
    click.echo("states: " + ", ".join(f"{k} {v}" for k, v in result.states.items()))
    click.echo(f"outputs: {folder}")
    chain = (f"intact: {result.records} records, last hash {result.last_hash}"
             if result.verified_ok else result.verified)
    click.echo(f"  event log: {LOG_FILE} ({chain})")
    click.echo(f"  notebooks: notebooks/ ({len(result.notebooks)})")
    click.echo(f"  notices:   {NOTICES_FOLDER}/ ({len(notices_kept)}, as customers would get "
               "them)")
    click.echo(f"  delivery:  {len(result.notices)} "
               + ("sent to the plan's channels" if send_to_channels else
                  "recorded as rehearsal notices (not sent; --send-to-channels sends them)"))
    if result.report:
        click.echo(f"  report:    {result.report.relative_to(folder)} (opens offline)")
    else:
        click.echo(f"  report:    {result.report_note}")
    for failure in result.notice_failures:
        click.echo(f"notice not delivered: {_visible(failure)}", err=True)
    if not result.verified_ok:
        raise RunbookError(f"rehearsal: the event log does not verify: {result.verified}")
    if result.notice_failures:
        raise RunbookError(f"rehearsal: {len(result.notice_failures)} notice(s) not delivered "
                           "(above); each is recorded as failed in the event log")


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
        click.echo(f"{_visible(done.plan, one_line=True)}: copied {done.added} records "
                   f"({done.kept} already there); {done.verification.message}")


@cli.command()
@click.argument("plan")
@click.option("--runs", type=click.IntRange(1, 1_000_000), default=20_000, show_default=True,
              help="How many nights to draw.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Draw reproducibly (a whole number); default fresh randomness.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--outputs", default=None, help="Forecast from the night's log in this run folder "
              "(events.sqlite) as it stands; default: from the plan alone.")
@click.option("--store", default=None, help="Forecast from the log in this event store URL "
              "(sqlite:///PATH, postgresql://...).")
@click.option("--as-of", "as_of", default=None, help="With a log: the moment to forecast from, "
              "'YYYY-MM-DD HH:MM' in the plan's zone or ISO 8601 with an offset; default now.")
def risk(plan: str, runs: int, seed: int | None, fmt: str, outputs: str | None,
         store: str | None, as_of: str | None) -> None:
    """Will each phase's steps fit? A Monte Carlo over the step graph from the steps'
    low/duration/high estimates: finish time p50/p90 (minutes after the window's start), the
    chance of finishing by the rollback deadline, and each step's criticality. With a log
    (--outputs/--store), each phase is forecast from where it stands at --as-of."""
    from .risk import log_risk, plan_risk

    model = load_plan(plan)
    with_log = bool(outputs or store or as_of)
    if with_log:
        from .events import open_log

        with open_log(model, outputs, store) as event_log:
            events, location = event_log.events(), event_log.location
        moment = _as_of(model, as_of, events) or times.now()
        results = log_risk(model, events, moment, runs=runs, seed=seed)
    else:
        results = plan_risk(model, runs=runs, seed=seed)
    if fmt == "json":
        _print_json([r.as_dict() for r in results])
        return
    title = (f"{model.title} - will it fit? ({runs:,} runs, {model.estimates.distribution}"
             f"{'' if seed is None else f', seed {seed}'})")
    columns = ["phase", "p50", "p90", "rollback by", "P(by rollback deadline)",
               "most critical steps"]
    if with_log:
        title += (f" - from {len(events)} events in {location} as of "
                  f"{times.format_both(moment, model.zone)}")
        columns.insert(1, "state")
    rows = []
    for r in results:
        row = [r.id, _minutes_text(r.p50_minutes), _minutes_text(r.p90_minutes),
               _minutes_text(r.deadline_minutes), f"{r.p_before_rollback_deadline:.1%}",
               ", ".join(f"{step} {share:.0%}" for step, share in
                         sorted(r.criticality.items(), key=lambda kv: -kv[1])[:3]) or "-"]
        if with_log:
            row.insert(1, r.state if r.basis != "decided" else f"{r.state} (decided)")
        rows.append(row)
    _print_table(title, columns, rows)


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


def _minutes_text(minutes: float | None) -> str:
    """Minutes after the window's start as people write durations: '+2h 16m' ('-' for none,
    '-10m' before the start)."""
    from datetime import timedelta

    if minutes is None:
        return "-"
    sign = "+" if minutes >= 0 else "-"
    return sign + times.format_duration(timedelta(minutes=abs(minutes)))


def _zone(tz: str | None, default: Any) -> Any:
    if not tz:
        return default
    try:
        return times.zone(tz)
    except ValueError as exc:
        raise RunbookError(f"--tz: {exc}") from None


def _usage_line(exc: click.UsageError) -> str:
    """A usage error in one line: the command, what is wrong (with the valid choices), and
    where the help is; click's own is five lines that wrap the choices mid-word."""
    command = exc.ctx.command_path if exc.ctx else "runbook"
    message = " ".join(exc.format_message().split())
    return f"{command}: {message} (usage: {command} --help)"


def _not_utf8(args: list[str]) -> str | None:
    """One line naming the first argument that is not valid UTF-8 text, or None.

    Python hands such bytes over as lone surrogates, which no notebook, log or terminal can
    take: refused here, before anything is written.
    """
    for index, arg in enumerate(args):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            name, _, _ = arg.partition("=")
            if arg.startswith("--") and "=" in arg:
                which = f"{name} "
            elif index and args[index - 1].startswith("-"):
                which = f"{args[index - 1]} "
            else:
                which = f"argument {index + 1} "
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return (f"runbook: {_visible(which)}is not valid UTF-8 text "
                    f"('{_visible(shown)[:80]}'); set a UTF-8 locale (LANG=C.UTF-8) or retype "
                    "it; nothing was done")
    return None


def _interrupted() -> None:
    """Say so in one line and exit 130, without the noise of a kernel stopped half-way
    (asyncio reports the interrupted cell's task when the interpreter exits)."""
    import logging

    logging.getLogger("asyncio").disabled = True
    click.echo("runbook: interrupted", err=True)
    sys.exit(130)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every `RunbookError` into one line and exit 1."""
    problem = _not_utf8(sys.argv[1:] if argv is None else list(argv))
    if problem:
        click.echo(problem, err=True)
        sys.exit(1)
    try:
        cli.main(args=argv, prog_name="runbook", standalone_mode=False)
    except click.exceptions.Abort:
        _interrupted()
    except click.UsageError as exc:
        click.echo(_visible(_usage_line(exc), one_line=True), err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        shown = io.StringIO()  # a usage error quotes what was typed: show it, do not obey it
        exc.show(file=shown)
        sys.stderr.write(_visible(shown.getvalue()))
        sys.exit(exc.exit_code)
    except RunbookError as exc:
        for line in exc.lines():
            click.echo(_visible(line, one_line=True), err=True)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)
    except KeyboardInterrupt:
        _interrupted()


if __name__ == "__main__":
    main()
