"""One definition of start delay, overrun, "not run" and "deferred" (outcomes.py), checked on
hand-computed cases, and `runbook status` and the report agreeing on each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from migration_runbook import outcomes
from migration_runbook.events import open_log
from migration_runbook.notices import NoticeError, expected_end, extended
from migration_runbook.plan import load_plan
from migration_runbook.report import load
from migration_runbook.states import status_rows
from tests.conftest import EXAMPLE, UNTICKED

# The example plan, in UTC: carrier-connections 7 Sep 09:00-13:00 (rollback 45m: deadline
# 12:15), messaging-core 8 Sep 09:00-13:00 (rollback 1h: deadline 12:00), web-interface 9 Sep,
# api-endpoints 10 Sep; each depends on the one before.
CARRIER, CORE, WEB, API = "carrier-connections", "messaging-core", "web-interface", \
    "api-endpoints"


@pytest.fixture(scope="module")
def plan():
    return load_plan(EXAMPLE)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def record(plan, folder, rows) -> list:
    """(phase, event, at, reason) rows into a real log in `folder`; the events back."""
    with open_log(plan, outputs=folder) as log:
        for phase, event, at, reason in rows:
            log.record(phase, event, "alice", reason, at=at)
        return log.events()


def status_and_report(plan, folder, rows, as_of: str):
    events = record(plan, folder, rows)
    moment = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    status = {r["id"]: r for r in status_rows(plan, events, now=moment)}
    report = load(plan, folder, as_of=as_of)
    return status, report


# --- the arithmetic, by hand ------------------------------------------------------------

def test_a_late_start_inside_the_window_is_held_to_the_planned_end(plan):
    core = plan.phase(CORE)
    start, end = utc(2020, 9, 8, 9, 30), utc(2020, 9, 8, 13, 20)
    assert outcomes.start_delay(core, start) == timedelta(minutes=30)
    assert outcomes.held_window(core, start) == (core.start, core.end)
    assert outcomes.overrun(core, start, end) == timedelta(minutes=20)   # past 13:00
    assert outcomes.overrun(core, start, utc(2020, 9, 8, 12, 50)) == timedelta()
    assert outcomes.overrun_signed(core, start, utc(2020, 9, 8, 12, 50)) == \
        timedelta(minutes=-10)
    assert outcomes.rollback_deadline(core, start) == utc(2020, 9, 8, 12)
    assert outcomes.delay_text(timedelta(minutes=30)) == "30m late"
    assert outcomes.delay_text(timedelta(minutes=-5)) == "5m early"
    assert outcomes.delay_text(timedelta(seconds=40)) == "on time"


def test_a_next_night_attempt_is_a_late_start_and_its_own_window(plan):
    core = plan.phase(CORE)
    start = utc(2020, 9, 9, 9, 30)               # Wed 9 Sep 21:30 NZST, a night late
    assert outcomes.is_rescheduled(core, start)
    assert outcomes.start_delay(core, start) == timedelta(hours=24, minutes=30)
    assert outcomes.held_window(core, start) == (start, utc(2020, 9, 9, 13, 30))
    # 09:30 to 14:05 is 4h 35m of a 4h window: 35m over (not 25h 05m past 8 Sep 13:00)
    assert outcomes.overrun(core, start, utc(2020, 9, 9, 14, 5)) == timedelta(minutes=35)
    assert outcomes.rollback_deadline(core, start) == utc(2020, 9, 9, 12, 30)
    assert outcomes.late_start_text(core, start, plan.zone) == (
        "started 24h 30m late, Wed 9 Sep 2020 21:30 NZST (09:30 UTC), the night after its "
        "window")


def test_a_live_log_years_after_the_plan_is_a_late_start_not_years_of_overrun(plan):
    carrier = plan.phase(CARRIER)
    start = utc(2026, 11, 29, 9)
    assert outcomes.start_delay(carrier, start) == utc(2026, 11, 29, 9) - utc(2020, 9, 7, 9)
    assert outcomes.overrun(carrier, start, utc(2026, 11, 29, 13, 20)) == \
        timedelta(minutes=20)
    assert outcomes.late_start_text(carrier, start, plan.zone).startswith(
        "started 2274d late, Sun 29 Nov 2026 22:00 NZDT (09:00 UTC), 2274 days after")


def test_words_never_put_a_minus_before_under():
    assert outcomes.under_over_text(timedelta(hours=-2, minutes=-15)) == "2h 15m under plan"
    assert outcomes.under_over_text(timedelta(minutes=40)) == "40m over plan"
    assert outcomes.under_over_text(timedelta(seconds=20)) == "as planned"
    assert outcomes.overrun_text(timedelta(minutes=35), running=False) == "+35m"
    assert outcomes.overrun_text(timedelta(), running=True) == "on time so far"
    assert outcomes.overrun_text(None, running=False) == "-"


# --- not run, deferred ------------------------------------------------------------------

def test_phases_after_a_rollback_are_deferred(plan, tmp_path):
    events = record(plan, tmp_path, [
        (CARRIER, "go", "2020-09-07T08:50:00Z", ""),
        (CARRIER, "start", "2020-09-07T09:00:00Z", ""),
        (CARRIER, "rollback", "2020-09-07T11:00:00Z", "binds failing"),
        (CARRIER, "rolled-back", "2020-09-07T11:40:00Z", "")])
    found = outcomes.phase_outcomes(plan, events, utc(2020, 9, 7, 12))
    assert [found[p].outcome for p in (CARRIER, CORE, WEB, API)] == [
        "rolled-back", "deferred", "deferred", "deferred"]
    assert found[CORE].reason == "Carrier Connection Migrations was rolled back"
    assert found[WEB].because_of == [CORE]
    assert found[WEB].reason == "Messaging Core Migration was deferred"


def test_a_no_go_is_not_run_and_what_waits_on_it_is_deferred(plan, tmp_path):
    events = record(plan, tmp_path, [
        (CARRIER, "go", "2020-09-07T08:50:00Z", ""),
        (CARRIER, "start", "2020-09-07T09:00:00Z", ""),
        (CARRIER, "complete", "2020-09-07T12:40:00Z", UNTICKED),
        (CORE, "no-go", "2020-09-08T08:40:00Z", "replica lag 40s")])
    during = outcomes.phase_outcomes(plan, events, utc(2020, 9, 8, 9))
    assert during[CORE].outcome == "not-run"
    assert during[CORE].reason == "no-go by alice: replica lag 40s"
    assert during[WEB].outcome == "deferred"
    assert during[CARRIER].attempts[0].overrun == timedelta()


def test_a_window_ahead_is_not_started_and_an_empty_log_has_not_begun(plan, tmp_path):
    events = record(plan, tmp_path, [
        (CARRIER, "go", "2020-09-07T08:50:00Z", ""),
        (CARRIER, "start", "2020-09-07T09:00:00Z", "")])
    running = outcomes.phase_outcomes(plan, events, utc(2020, 9, 7, 10))
    assert running[CARRIER].outcome == "in-progress"
    assert running[CORE].outcome == "not-started"      # its window is tomorrow
    later = outcomes.phase_outcomes(plan, events, utc(2020, 9, 8, 14))
    assert later[CORE].outcome == "deferred"            # its window passed, carrier unfinished
    assert later[CORE].reason == "Carrier Connection Migrations was still in progress"
    empty = outcomes.phase_outcomes(plan, [], utc(2026, 1, 1))
    assert {o.outcome for o in empty.values()} == {"not-started"}


def test_a_phase_whose_window_passed_with_its_dependencies_done_is_not_run(plan, tmp_path):
    events = record(plan, tmp_path, [
        (CARRIER, "go", "2020-09-07T08:50:00Z", ""),
        (CARRIER, "start", "2020-09-07T09:00:00Z", ""),
        (CARRIER, "complete", "2020-09-07T12:40:00Z", UNTICKED)])
    found = outcomes.phase_outcomes(plan, events, utc(2020, 9, 8, 14))
    assert found[CORE].outcome == "not-run"
    assert found[CORE].reason == "its window ended before it started"


# --- status and report agree -------------------------------------------------------------

def test_status_and_report_agree_on_a_late_start_inside_the_window(plan, tmp_path):
    status, report = status_and_report(plan, tmp_path, [
        (CARRIER, "go", "2020-09-07T08:50:00Z", ""),
        (CARRIER, "start", "2020-09-07T09:40:00Z", ""),
        (CARRIER, "complete", "2020-09-07T13:35:00Z", UNTICKED)], "2020-09-07T14:00:00Z")
    row = status[CARRIER]
    assert row["start_delay_minutes"] == 40 and row["late_start"]
    assert row["overrun_minutes"] == 35 and row["overrun_text"] == "+35m"
    attempt = report.windows.iloc[0]
    assert report.overrun(CARRIER, attempt) == timedelta(minutes=35)
    assert report.phase_outcomes[CARRIER].attempts[0].start_delay == timedelta(minutes=40)


def test_status_and_report_agree_on_a_next_night_attempt(plan, tmp_path):
    # The case: started the next night; status said +23h 30m, the report #1 +35m.
    status, report = status_and_report(plan, tmp_path, [
        (CARRIER, "go", "2020-09-08T08:50:00Z", "a night late"),
        (CARRIER, "start", "2020-09-08T09:00:00Z", "a night late"),
        (CARRIER, "complete", "2020-09-08T13:35:00Z", f"a night late; {UNTICKED}")],
        "2020-09-08T14:00:00Z")
    row = status[CARRIER]
    assert row["overrun_minutes"] == 35 and row["overrun_text"] == "+35m"
    assert row["start_delay_minutes"] == 24 * 60 and row["rescheduled"]
    assert row["late_start_text"] == ("started 24h late, Tue 8 Sep 2020 21:00 NZST (09:00 "
                                      "UTC), the night after its window")
    assert report.overrun(CARRIER, report.windows.iloc[0]) == timedelta(minutes=35)
    measured = report.phase_outcomes[CARRIER].attempts[0]
    assert measured.overrun == timedelta(minutes=35) and measured.rescheduled
    assert measured.start_delay == timedelta(hours=24)
    assert "+35m" in str(report.summary().html) and "+23h" not in str(report.summary().html)


def test_status_and_report_agree_on_a_live_log_years_after_the_plan(plan, tmp_path):
    # The case: a live log on the 2020 plan; status said +2275d, the report none.
    late = "a live run on the 2020 plan"
    status, report = status_and_report(plan, tmp_path, [
        (CARRIER, "go", "2026-11-29T08:50:00Z", late),
        (CARRIER, "start", "2026-11-29T09:00:00Z", late),
        (CARRIER, "complete", "2026-11-29T13:20:00Z", f"{late}; {UNTICKED}")],
        "2026-11-29T14:00:00Z")
    row = status[CARRIER]
    assert row["overrun_minutes"] == 20 and row["overrun_text"] == "+20m"
    assert row["start_delay_text"].startswith("2274d") and row["late_start"]
    assert report.overrun(CARRIER, report.windows.iloc[0]) == timedelta(minutes=20)
    assert report.phase_outcomes[CARRIER].attempts[0].overrun == timedelta(minutes=20)
    assert "2275d" not in str(report.summary().html)


# --- notices --------------------------------------------------------------------------

def test_a_next_night_attempt_inside_its_own_window_is_not_running_late(plan, tmp_path):
    events = record(plan, tmp_path, [
        (CARRIER, "go", "2020-09-08T08:50:00Z", "a night late"),
        (CARRIER, "start", "2020-09-08T09:00:00Z", "a night late")])
    # no steps ticked: expected to end 4h after its own start, not on 7 Sep
    assert expected_end(plan, CARRIER, events, utc(2020, 9, 8, 10)) == utc(2020, 9, 8, 13)
    with open_log(plan, outputs=tmp_path) as log, \
            pytest.raises(NoticeError, match="not running late"):
        extended(plan, CARRIER, log, as_of=utc(2020, 9, 8, 10))


# --- the phase notebook -----------------------------------------------------------------

def test_the_phase_notebook_progress_states_delay_overrun_and_deferred_as_status(plan,
                                                                                  tmp_path):
    from migration_runbook.phase import open_run

    record(plan, tmp_path, [
        (CARRIER, "go", "2020-09-07T08:50:00Z", ""),
        (CARRIER, "start", "2020-09-07T09:00:00Z", ""),
        (CARRIER, "rollback", "2020-09-07T11:00:00Z", "binds failing"),
        (CARRIER, "rolled-back", "2020-09-07T11:40:00Z", ""),
        (CARRIER, "go", "2020-09-08T08:50:00Z", "a night late"),
        (CARRIER, "start", "2020-09-08T09:00:00Z", "a night late"),
        (CARRIER, "complete", "2020-09-08T13:35:00Z", f"a night late; {UNTICKED}")])
    run = open_run(str(EXAMPLE), CORE, "review", outputs=str(tmp_path),
                   at="2020-09-09 02:00")
    [(_, (columns, table))] = run.progress().blocks
    rows = {row[1]: row for row in table}
    assert columns[-2:] == ["start", "overrun"]
    assert rows[CARRIER][-2:] == ["24h late", "+35m"]     # as `runbook status` says
    assert rows[CORE][2] == "planned (not run)"           # its window ended unstarted
    assert rows[WEB][2] == "planned (deferred)"
