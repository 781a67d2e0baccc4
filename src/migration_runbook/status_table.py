"""`runbook status` as a table for a person: 80 columns by default, everything with `wide`.

The table is a view of `states.status_rows` (the rows `--format json` prints), so it shows
nothing the JSON lacks. The default fits a terminal of 80 columns: one cell a phase holding its
id, state and gate; the planned and the actual window each on one line in the display zone
(with the abbreviation in force) and on the next in UTC; the events it would accept next. The
wide view adds the phase names, the gate as a column and each time in full, for 160 columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

ALWAYS = "note"  # accepted in every state, so the narrow view leaves it out of `next`


def status_table(rows: list[dict[str, Any]], *, title: str, wide: bool = False) -> Group:
    """The status of every phase as a rich renderable: `title`, the table, a one-line key."""
    table = _wide_table(rows) if wide else _narrow_table(rows)
    key = (f"'{ALWAYS}' is accepted in every state; more: --wide or --format json"
           if not wide else "more: --format json")
    return Group(Text(title), table, Text(key, style="dim"))


def _narrow_table(rows: list[dict[str, Any]]) -> Table:
    table = _table(["phase", "planned", "actual", "next"])
    # Room for every id and state whole (within reason); the times never wrap.
    table.columns[0].min_width = min(max([12, *(len(r["id"]) for r in rows)]), 24)
    table.columns[3].min_width = max(len(e) for r in rows for e in r["next_events"])
    for r in rows:
        table.add_row(_phase_cell(r, gate=True), _planned_cell(r), _actual_cell(r),
                      "\n".join(e for e in r["next_events"] if e != ALWAYS) or "-")
        table.add_section()
    return table


def _wide_table(rows: list[dict[str, Any]]) -> Table:
    table = _table(["phase", "gate", "planned", "actual", "next", "last event"])
    table.columns[4].min_width = len("rolled-back")
    for r in rows:
        last = r["last_event"]
        table.add_row(Text(f"{r['name']}\n({r['id']})\n{_state_lines(r)}"),
                      "\n".join(filter(None, [r["gate"], r.get("approvals_text")])),
                      _planned_cell(r), _actual_cell(r),
                      "\n".join(r["next_events"]),
                      _last_event(last))
        table.add_section()
    return table


def _last_event(last: dict[str, Any] | None) -> str:
    if last is None:
        return "-"
    at = _at(last["at_utc"])
    return f"{last['event']} by {last['operator']}\n{at:%a} {at.day} {at:%b %H:%M} UTC"


def _table(columns: list[str]) -> Table:
    # Two spaces between columns (the box's blank divider and one of padding), none at the edges.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column == "planned")
    return table


def _phase_cell(r: dict[str, Any], gate: bool = False) -> Text:
    """'carrier-connections' / 'completed' / 'overrun +12m' / 'blocked: messaging-core'."""
    cell = Text(r["id"], style="bold")
    cell.append("\n" + _state_lines(r))
    if gate and not r["gate_open"]:
        cell.append("\nblocked: " + ", ".join(b["phase"] for b in r["blocked_by"]))
    if gate and r.get("approvals_text"):
        cell.append("\n" + r["approvals_text"])
    return cell


def _state_lines(r: dict[str, Any]) -> str:
    """The state, then what `outcomes` says beyond it: 'deferred' or 'not run' for a phase
    with no attempt, the overrun of one that ran past its window."""
    overrun = r["overrun_text"]
    lines = [r["state"]]
    if r.get("outcome") in ("deferred", "not-run"):
        lines.append(r["outcome"].replace("-", " "))
    if overrun not in ("-", "on time"):
        lines.append(f"overrun {overrun}")
    return "\n".join(lines)


def _planned_cell(r: dict[str, Any]) -> str:
    start, end = _at(r["planned_start"]), _at(r["planned_end"])
    start_utc, end_utc = _at(r["planned_start_utc"]), _at(r["planned_end_utc"])
    local = window_text(start, end, r["planned_start_abbrev"], r["planned_end_abbrev"])
    if not start.utcoffset() and not end.utcoffset():
        return local  # displayed in UTC (or a zone at UTC's offset) already
    utc = window_text(start_utc, end_utc, "UTC", "UTC", dated=start_utc.date() != start.date())
    return f"{local}\n{utc}"


def _actual_cell(r: dict[str, Any]) -> str:
    """The latest attempt, dated only where it did not start on the planned day."""
    if not r["actual_start"]:
        return "-"
    planned_day = _at(r["planned_start"]).date(), _at(r["planned_start_utc"]).date()
    label = f"#{r['attempt']} " if r["attempt"] > 1 else ""
    lines = []
    displayed_in_utc = not _at(r["actual_start"]).utcoffset()
    for (start, end, start_abbrev, end_abbrev), day in zip(
            ((r["actual_start"], r["actual_end"], r["actual_start_abbrev"],
              r["actual_end_abbrev"]),
             (r["actual_start_utc"], r["actual_end_utc"], "UTC", "UTC")), planned_day,
            strict=True):
        begin = _at(start)
        lines.append(label + window_text(begin, _at(end) if end else None, start_abbrev,
                                   end_abbrev, dated=begin.date() != day))
        label = " " * len(label)
    shown = lines[:1] if displayed_in_utc else lines
    if r.get("late_start"):   # outcomes.py's start delay: a next-night attempt is a late start
        shown.append(f"started {r['start_delay_text']}")
    return "\n".join(shown)


def window_text(start: datetime, end: datetime | None, start_abbrev: str,
                end_abbrev: str | None, dated: bool = True) -> str:
    """'Mon 7 Sep 21:00-01:00 NZST' on one line: the end's date only when it is not the day
    of the start or the next, its zone only when it differs (a DST change in the window);
    no end: '21:05-... NZST' (still running)."""
    day = f"{start:%a} {start.day} {start:%b} " if dated else ""
    if end is None:
        return f"{day}{start:%H:%M}-... {start_abbrev}"
    later = (end.date() - start.date()).days
    until = f"{end:%a} {end.day} {end:%b} {end:%H:%M}" if later > 1 else f"{end:%H:%M}"
    if end_abbrev and end_abbrev != start_abbrev:
        return f"{day}{start:%H:%M} {start_abbrev}-{until} {end_abbrev}"
    return f"{day}{start:%H:%M}-{until} {start_abbrev}"


def _at(iso: str) -> datetime:
    """A time of a status row ('2020-09-07T21:00+12:00', '2020-09-07T09:00:00Z')."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))
