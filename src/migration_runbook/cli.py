"""The `runbook` command: a thin layer over the package's functions.

Every command raises `RunbookError` for a mistake or a refusal; `main` prints its one line
and exits 1. Usage errors exit 2 (click's convention).
"""

from __future__ import annotations

import csv
import io
import json
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


def _print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table; cells are `Text`, so markup in a plan is shown as typed."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) else Text(str(cell)) for cell in row))
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
