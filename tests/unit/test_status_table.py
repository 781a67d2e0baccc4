"""The `runbook status` table (status_table.py): one line a window, local and UTC, for 80
columns; rendered here through rich at a fixed width, as a terminal would show it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.console import Console

from migration_runbook.events import Event
from migration_runbook.plan import load_plan
from migration_runbook.states import status_rows
from migration_runbook.status_table import status_table


@pytest.fixture
def dst_plan(write_plan):
    """A window across the start of NZDT (27 Sep 2020, 02:00 NZST -> 03:00 NZDT), and one that
    waits for it."""
    return load_plan(write_plan("""
        id: dst
        title: Across the change
        timezone: Pacific/Auckland
        services: [{id: api, name: API}]
        phases:
          - {id: db, name: Database, start: 2020-09-26 22:00, end: 2020-09-27 05:00,
             rollback: {duration: 30m, plan: back}}
          - {id: app, name: App, start: 2020-09-28 21:00, end: 2020-09-29 01:00,
             depends_on: [db], rollback: {duration: 30m, plan: back}}
    """))


def _event(seq: int, phase: str, event: str, at: datetime) -> Event:
    return Event(seq=seq, plan="dst", phase=phase, event=event, operator="alice", reason="",
                 at=at, recorded_at=at, source="cli", notebook="", details={},
                 prev_hash="", hash="")


def _render(rows, width: int, wide: bool = False) -> list[str]:
    console = Console(width=width, record=True, highlight=False, color_system=None)
    with console.capture() as captured:
        console.print(status_table(rows, title="t", wide=wide))
    return [line.rstrip() for line in captured.get().splitlines()]


def test_a_window_across_a_dst_change_names_both_abbreviations_on_one_line(dst_plan):
    lines = _render(status_rows(dst_plan, []), 80)
    # 22:00 NZST to 05:00 NZDT is 6 hours: 10:00 to 16:00 UTC.
    assert any("Sat 26 Sep 22:00 NZST-05:00 NZDT" in line and line.startswith("db")
               for line in lines), lines
    assert any("10:00-16:00 UTC" in line for line in lines), lines
    assert any("Mon 28 Sep 21:00-01:00 NZDT" in line for line in lines), lines
    assert "blocked: db" in "\n".join(lines)


def test_an_attempt_still_running_and_one_on_another_day(dst_plan):
    events = [_event(1, "db", "go", datetime(2020, 9, 26, 9, 50, tzinfo=UTC)),
              _event(2, "db", "start", datetime(2020, 9, 27, 10, 0, tzinfo=UTC))]
    now = datetime(2020, 9, 27, 17, 0, tzinfo=UTC)
    lines = _render(status_rows(dst_plan, events, now=now), 80)
    text = "\n".join(lines)
    # Started a day late: the date is shown; still running: no end, and the overrun so far.
    # At 80 columns this, the longest case, wraps the actual window; nothing is cut.
    assert "23:00-... NZDT" in text and "10:00-... UTC" in text and "Sun 27 Sep" in text
    wide = "\n".join(_render(status_rows(dst_plan, events, now=now), 120))
    assert "Sun 27 Sep 23:00-... NZDT" in wide and "Sun 27 Sep 10:00-... UTC" in wide
    # outcomes.py: a start after the window ended is held to 6h from its own start (10:00 to
    # 16:00 UTC on the 27th): 1h over at 17:00, and a late start of 24h, not +25h of overrun
    assert "in-progress" in text and "overrun +1h so" in text and "+25h" not in text
    assert "started 24h late" in text
    assert "complete" in text and "rollback" in text


@pytest.mark.parametrize("width", [80, 160])
def test_the_narrow_table_fits_and_cuts_nothing(dst_plan, width):
    lines = _render(status_rows(dst_plan, []), width)
    assert max(map(len, lines)) <= width
    assert "…" not in "\n".join(lines)


def test_the_wide_view_has_names_the_gate_and_note(dst_plan):
    lines = _render(status_rows(dst_plan, []), 160, wide=True)
    text = "\n".join(lines)
    assert max(map(len, lines)) <= 160 and "…" not in text
    assert "Database" in text and "(db)" in text
    assert "blocked by 'db' (planned)" in text and "note" in text
