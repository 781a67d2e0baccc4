"""The in-progress and extended notices, the plan's note in every notice, and the internal
rollback plan kept out of all of them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from migration_runbook import events
from migration_runbook.notices import FORMATS, NoticeError, expected_end, render_notice
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE, EXAMPLE_AUGUST


@pytest.fixture
def running(tmp_path):
    """The example plan with its first phase started five minutes late."""
    plan = load_plan(EXAMPLE)
    phase = plan.phases[0]
    log = events.open_log(plan, tmp_path)
    log.record(phase.id, "go", "alice", at=phase.start - timedelta(minutes=10))
    log.record(phase.id, "start", "alice", at=phase.start + timedelta(minutes=5))
    yield plan, phase, log
    log.close()


def test_in_progress_says_what_is_affected_now_and_the_expected_end(running) -> None:
    plan, phase, log = running
    notice = render_notice(plan, "in-progress", "text", phase=phase.id, log=log)
    assert notice.subject == "In progress: Phase 1 - Carrier Connection Migrations"
    body = " ".join(notice.body.split())
    assert "started at Mon 7 Sep 21:05 NZST (09:05 UTC)" in body
    # started 5 minutes late: the clock's forecast, the steps' critical path (2h 55m) from
    # 21:05, ends at 00:00, a quarter hour already
    assert "end by Tue 8 Sep 00:00 NZST (Mon 7 Sep 12:00 UTC)" in body
    assert "AFFECTED NOW" in notice.body and "Inbound messages (MO) (delayed)" in notice.body


def test_in_progress_is_refused_before_the_phase_starts(tmp_path) -> None:
    plan = load_plan(EXAMPLE)
    with events.open_log(plan, tmp_path) as log, pytest.raises(NoticeError,
                                                               match="is planned"):
        render_notice(plan, "in-progress", phase="messaging-core", log=log)


def test_extended_gives_the_new_expected_end_only_when_running_late(tmp_path) -> None:
    plan = load_plan(EXAMPLE)
    phase = plan.phases[0]
    log = events.open_log(plan, tmp_path)
    log.record(phase.id, "go", "alice", at=phase.start - timedelta(minutes=10))
    log.record(phase.id, "start", "alice", at=phase.start)
    # Steps 1-5 (15, 20, 60, 30, 30 minutes planned) with step 3 over by 75 minutes: step 6
    # (20 minutes) starts at 12:50 UTC and is forecast to end at 13:10, after the window.
    for step, start, done in (("1", 0, 15), ("2", 15, 35), ("3", 35, 170), ("4", 170, 200),
                              ("5", 200, 230), ("6", 230, None)):
        log.record_step(phase.id, step, "start", "alice", at=phase.start + timedelta(minutes=start))
        if done is not None:
            log.record_step(phase.id, step, "done", "alice",
                            at=phase.start + timedelta(minutes=done))
    with pytest.raises(NoticeError, match="not running late"):
        render_notice(plan, "extended", phase=phase.id, log=log,
                      as_of=phase.start + timedelta(hours=1))
    assert expected_end(plan, phase.id, log.events(), phase.end - timedelta(minutes=5)) == \
        phase.end + timedelta(minutes=15)       # 13:10, rounded up to the quarter hour
    # Past step 6's estimate, it is expected to end now: the next quarter hour after 13:35.
    late = phase.end + timedelta(minutes=20)
    notice = render_notice(plan, "extended", "html", phase=phase.id, log=log, as_of=late)
    end = expected_end(plan, phase.id, log.events(), late)
    assert end > phase.end and end == phase.end + timedelta(minutes=45)
    assert notice.subject == ("Running late: Phase 1 - Carrier Connection Migrations, now "
                              "expected to end Tue 8 Sep 01:45 NZST")
    assert "Tue 8 Sep 01:00 NZST" in notice.body          # the planned end, for comparison
    assert "Still affected until then" in notice.body


def _every_notice(plan, log):
    for fmt in FORMATS:
        yield render_notice(plan, "announcement", fmt)
        yield render_notice(plan, "reschedule", fmt, previous=load_plan(EXAMPLE_AUGUST))
        for phase in plan.phases:
            yield render_notice(plan, "reminder", fmt, phase=phase.id)
        yield render_notice(plan, "in-progress", fmt, phase=plan.phases[0].id, log=log)
        yield render_notice(plan, "extended", fmt, phase=plan.phases[0].id, log=log,
                            as_of=plan.phases[0].end)


def test_every_notice_carries_the_note_and_never_the_internal_rollback_plan(running) -> None:
    plan, phase, log = running
    internal = [" ".join(p.rollback.plan.split())[:40] for p in plan.phases]
    kinds = set()
    for notice in _every_notice(plan, log):
        kinds.add(notice.kind)
        body = " ".join(notice.body.split())
        assert "re-send the message" in body, notice.kind
        assert "SMPP" not in body and not any(text in body for text in internal), notice.kind
    assert kinds == {"announcement", "reschedule", "reminder", "in-progress", "extended"}
    announcement = " ".join(render_notice(plan, "announcement").body.split())
    assert plan.phases[1].rollback.customer in announcement


def test_the_rolled_back_status_message_tells_customers_what_the_plan_says(tmp_path) -> None:
    plan = load_plan(EXAMPLE)
    phase = plan.phases[0]
    with events.open_log(plan, tmp_path) as log:
        log.record(phase.id, "go", "alice", at=phase.start - timedelta(minutes=10))
        log.record(phase.id, "start", "alice", at=phase.start)
        log.record(phase.id, "rollback", "alice", at=phase.rollback_deadline)
        log.record(phase.id, "rolled-back", "alice", at=phase.end)
        notice = render_notice(plan, "completed", "markdown", phase=phase.id, log=log)
    body = " ".join(notice.body.split())
    assert phase.rollback.customer.replace(";", "") in body.replace(";", "")
    assert "SMPP" not in body
