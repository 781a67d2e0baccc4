"""`runbook calibrate`: step estimates learned from real event logs, the plan's text kept."""

from __future__ import annotations

from datetime import timedelta

import pytest

from migration_runbook.calibrate import calibrate, estimate
from migration_runbook.errors import RunbookError
from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import run_cli

PLAN = """\
# The database move: reviewed by the DBAs on 2 September.
id: db-move
title: Database move
timezone: UTC
services:
  - {id: api, name: REST API}
phases:
  - id: db
    name: Move the database   # the only phase
    start: 2020-09-07 09:00
    end: 2020-09-07 13:00
    rollback: {duration: 45m, plan: Point the API back at the old primary.}
    steps:
      # Writes stop first; nothing may be copied before.
      - {id: freeze, name: Freeze writes, duration: 30m}
      - {id: cold, name: Copy cold tables, duration: 60m, after: [freeze]}
      - id: hot
        name: "Copy hot tables"   # the long one
        owner: dba
        duration: 2h
        high: 2h30m
        after: [freeze]
      - {id: switch, name: Switch over, duration: 10m, after: [cold, hot]}
"""


def minutes(*values: int) -> tuple[timedelta, ...]:
    return tuple(timedelta(minutes=v) for v in values)


def night(folder, plan, ticks: list[tuple[str, str, int]], day: int = 7) -> None:
    """A real log in `folder`: go, start, then step events at minutes after 09:00."""
    def at(minute: int) -> str:
        return f"2020-09-{day:02d}T{9 + minute // 60:02d}:{minute % 60:02d}:00Z"

    other = "a night other than the plan's window"   # typed times far from it need a reason
    with open_log(plan, folder) as log:
        log.record("db", "go", "alice", other, at=f"2020-09-{day:02d}T08:50:00Z")
        log.record("db", "start", "alice", other, at=at(0))
        for step, event, minute in ticks:
            reason = {"failed": "it broke", "skip": "not needed"}.get(event, other)
            log.record_step("db", step, event, "bob", reason, at=at(minute))


@pytest.fixture
def plan_path(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    return path


def test_the_rule_min_median_max_and_one_night_widened_by_a_quarter():
    assert estimate(minutes(35, 45, 40)) == minutes(35, 40, 45)
    assert estimate(minutes(80, 100)) == minutes(80, 90, 100)
    assert estimate(minutes(40)) == minutes(30, 40, 50)
    # Whole minutes: low down, high up, the likely one to the nearest.
    assert estimate([timedelta(minutes=41, seconds=30)]) == minutes(31, 42, 52)


def test_calibrate_learns_from_several_nights_and_keeps_the_plan_text(plan_path, tmp_path):
    plan = load_plan(plan_path)
    night(tmp_path / "n1", plan, [("freeze", "start", 1), ("freeze", "done", 36),
                                  ("hot", "start", 37), ("hot", "done", 137)])
    night(tmp_path / "n2", plan, [("freeze", "start", 0), ("freeze", "done", 45),
                                  ("hot", "start", 45), ("hot", "done", 125)], day=8)
    # A failed try and its retry: the night's duration runs from the first start to done.
    night(tmp_path / "n3", plan, [("freeze", "start", 0), ("freeze", "failed", 10),
                                  ("freeze", "start", 15), ("freeze", "done", 40)], day=9)
    out = tmp_path / "new.yaml"
    done = run_cli("calibrate", plan_path, "--from", tmp_path / "n1", "--from",
                   tmp_path / "n2", "--from", tmp_path / "n3", "-o", out)
    assert done.returncode == 0, done.stderr
    assert "freeze" in done.stdout and "30m / 30m / 30m" in done.stdout
    assert "35m / 40m / 45m" in done.stdout and "1h 20m / 1h 30m / 1h 40m" in done.stdout

    new = load_plan(out)        # it validates
    db = new.phase("db")
    by_id = {s.id: s for s in db.steps}
    assert by_id["freeze"].estimate == minutes(35, 40, 45)
    assert by_id["hot"].estimate == minutes(80, 90, 100)
    assert by_id["cold"].estimate == minutes(60, 60, 60)       # no data: as it was
    assert by_id["cold"].low is None and by_id["switch"].high is None

    old_lines, new_lines = PLAN.splitlines(), out.read_text().splitlines()
    # Every comment, in order, and every line but the estimates, as written.
    assert [x for x in new_lines if "#" in x] == [x for x in old_lines if "#" in x]
    assert new_lines[:14] == old_lines[:14]
    assert new_lines[14] == ("      - {id: freeze, name: Freeze writes, duration: 40m, low: 35m, "
                             "high: 45m}")
    assert new_lines[15:19] == old_lines[15:19]
    assert new_lines[19:23] == ["        duration: 1h30m", "        low: 1h20m",
                                "        high: 1h40m", "        after: [freeze]"]
    assert new_lines[23:] == old_lines[22:]


def test_a_single_night_is_widened_by_a_quarter_each_way(plan_path, tmp_path):
    plan = load_plan(plan_path)
    night(tmp_path / "n1", plan, [("freeze", "start", 0), ("freeze", "done", 40),
                                  ("cold", "skip", 41)])
    out = tmp_path / "new.yaml"
    # RUN as a store URL this time (a run folder elsewhere).
    url = f"sqlite:///{tmp_path / 'n1' / 'events.sqlite'}"
    [change] = calibrate(str(plan_path), [url], str(out))
    assert (change.step, change.observed) == ("freeze", minutes(40))
    assert load_plan(out).phase("db").steps[0].estimate == minutes(30, 40, 50)


def test_a_plan_that_no_longer_fits_is_not_written_and_the_window_is_named(plan_path, tmp_path):
    plan = load_plan(plan_path)
    # hot took 3h on the only night: 30m + 3h + 10m plus the 45m rollback overflow 4h.
    night(tmp_path / "n1", plan, [("freeze", "start", 0), ("freeze", "done", 30),
                                  ("hot", "start", 30), ("hot", "done", 210)])
    out = tmp_path / "new.yaml"
    done = run_cli("calibrate", plan_path, "--from", tmp_path / "n1", "-o", out)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line == (f"{out}: not written: the calibrated plan does not validate: phase 'db': "
                    "steps (critical path freeze -> hot -> switch: 3h 40m) plus rollback (45m) "
                    "do not fit in the 4h window")
    assert not out.exists() and list(tmp_path.glob(".new.yaml*")) == []


def test_a_run_without_a_log_or_without_done_steps_is_refused(plan_path, tmp_path):
    with pytest.raises(RunbookError, match="no event log there"):
        calibrate(str(plan_path), [str(tmp_path / "nowhere")], str(tmp_path / "new.yaml"))
    night(tmp_path / "n1", load_plan(plan_path), [("freeze", "start", 0)])
    with pytest.raises(RunbookError, match="nothing to calibrate"):
        calibrate(str(plan_path), [str(tmp_path / "n1")], str(tmp_path / "new.yaml"))
    assert not (tmp_path / "new.yaml").exists()
