"""Safe time entry through the real event log and the real `runbook` command.

A refused time leaves the log as it was (byte for byte on SQLite) and uses no notebook number.
Tests taking `store_url` run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from migration_runbook.errors import EventRefused
from migration_runbook.events import open_log
from tests.conftest import EXAMPLE, UNTICKED, run_cli

PHASE = "carrier-connections"
AUCKLAND = ZoneInfo("Pacific/Auckland")




def _rows(log) -> list[tuple]:
    return [(e.seq, e.phase, e.event, e.at, e.hash) for e in log.events()]


def test_a_go_back_filled_before_its_dependency_completed_is_refused(plan, store_url):
    with open_log(plan, store=store_url) as log:
        log.record(PHASE, "go", "alice", at="2020-09-07 20:50")          # NZST, naive
        log.record(PHASE, "start", "alice", at="2020-09-07 21:00")
        log.record(PHASE, "complete", "alice", UNTICKED, at="2020-09-08 10:00")  # 9-hour overrun
        before = _rows(log)
        with pytest.raises(EventRefused) as refused:
            log.record("messaging-core", "go", "bob", at="2020-09-08 09:30")
        assert str(refused.value) == (
            "phase 'messaging-core' cannot go at Tue 8 Sep 09:30 NZST (Mon 7 Sep 21:30 UTC): "
            "'carrier-connections' was in-progress then (it completed at Tue 8 Sep 10:00 NZST "
            "(Mon 7 Sep 22:00 UTC))")
        assert _rows(log) == before
        go = log.record("messaging-core", "go", "bob", at="2020-09-08 10:00")
        assert go.at == datetime(2020, 9, 7, 22, 0, tzinfo=UTC)


def test_a_phase_event_dated_before_the_one_it_follows_is_refused(plan, store_url):
    with open_log(plan, store=store_url) as log:
        log.record(PHASE, "go", "alice", at="2020-09-07 20:50")
        before = _rows(log)
        with pytest.raises(EventRefused, match=r"^phase 'carrier-connections' cannot start at "
                                               r"Mon 7 Sep 20:49 NZST \(08:49 UTC\): that is "
                                               r"before its previous event \(go at Mon 7 Sep "
                                               r"20:50 NZST"):
            log.record(PHASE, "start", "alice", at="2020-09-07 20:49")
        assert _rows(log) == before


def test_a_time_in_the_future_is_refused_and_writes_nothing(plan, store_url):
    with open_log(plan, store=store_url) as log:
        ahead = datetime.now(UTC) + timedelta(minutes=6)
        with pytest.raises(EventRefused, match=r"that is 6m in the future .* a time more "
                                               r"than 5m ahead is refused"):
            log.record(PHASE, "note", "alice", reason="late entry", at=ahead)
        assert log.events() == []
        soon = datetime.now(UTC) + timedelta(minutes=4)
        assert log.record(PHASE, "note", "alice", reason="late entry", at=soon).at == soon


def test_a_time_far_from_the_window_needs_a_reason(plan, store_url):
    with open_log(plan, store=store_url) as log:
        with pytest.raises(EventRefused, match="that is 12h 01m before its window starts"):
            log.record(PHASE, "note", "alice", at="2020-09-07 08:59")
        assert log.events() == []
        kept = log.record(PHASE, "note", "alice", reason="change board", at="2020-09-07 08:59")
        assert kept.reason == "change board"
        log.record(PHASE, "note", "alice", at="2020-09-07 09:00")         # exactly 12h before


def test_a_rehearsal_may_play_future_times_into_a_log_of_its_own(plan, store_url):
    month = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    with open_log(plan, store=store_url) as log:
        ev = log.record(PHASE, "note", "rehearsal", reason="rehearsal", at=month,
                        source="rehearsal")
        assert ev.at == month
        with pytest.raises(EventRefused, match="this event log is a rehearsal's"):
            log.record(PHASE, "note", "alice", reason="typed", at=month)


def test_a_rehearsal_event_is_refused_in_a_log_of_the_real_run(plan, store_url):
    with open_log(plan, store=store_url) as log:
        log.record("messaging-core", "note", "alice")          # a dependency's, as it happens
        before = _rows(log)
        with pytest.raises(EventRefused, match="a rehearsal plays into a log of its own"):
            log.record("web-interface", "note", "rehearsal", reason="rehearsal",
                       at="2020-09-09T08:50:00Z", source="rehearsal")
        assert _rows(log) == before


def test_a_rehearsal_event_is_refused_in_a_real_log_whatever_phase_it_is_for(plan, store_url):
    """The log's first record says what it is, read even when the phase's own rows are none
    (`-p source rehearsal` with no typed time, for a phase the real run has not touched)."""
    with open_log(plan, store=store_url) as log:
        log.record("api-endpoints", "note", "alice")
        before = _rows(log)
        with pytest.raises(EventRefused, match="a rehearsal plays into a log of its own"):
            log.record(PHASE, "go", "rehearsal", source="rehearsal")
        assert _rows(log) == before


# --- the command ----------------------------------------------------------------------------

def _refused(done) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(("at", "message"), [
    (lambda: (datetime.now(AUCKLAND) + timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M"),
     "in the future"),
    (lambda: "2020-09-06 20:00", "before its window starts"),
    (lambda: "2020-09-27 02:30", "--at: 2020-09-27 02:30 does not exist in Pacific/Auckland"),
    (lambda: "2021-04-04 02:30", "--at: 2021-04-04 02:30 happens twice in Pacific/Auckland"),
])
def test_runbook_phase_refuses_a_bad_at_before_any_notebook_runs(tmp_path, env, at, message):
    outputs = tmp_path / "run"
    done = run_cli("phase", EXAMPLE, PHASE, "note", "--operator", "alice", "--at", at(),
                   "--outputs", outputs, env=env)
    assert message in _refused(done)
    assert not (outputs / "events.sqlite").exists()
    assert not (outputs / "notebooks").exists() or not list((outputs / "notebooks").iterdir())


def test_runbook_phase_refuses_a_go_before_its_dependency_completed(plan, tmp_path, env):
    outputs = tmp_path / "run"
    with open_log(plan, outputs) as log:
        log.record(PHASE, "go", "alice", at="2020-09-07 20:50")
        log.record(PHASE, "start", "alice", at="2020-09-07 21:00")
        log.record(PHASE, "complete", "alice", UNTICKED, at="2020-09-08 01:20")
    before = (outputs / "events.sqlite").read_bytes()
    done = run_cli("phase", EXAMPLE, "messaging-core", "go", "--operator", "bob", "--at",
                   "2020-09-08 01:10", "--outputs", outputs, env=env)
    assert _refused(done) == (
        "phase 'messaging-core' cannot go at Tue 8 Sep 01:10 NZST (Mon 7 Sep 13:10 UTC): that "
        "is 19h 50m before its window starts (Tue 8 Sep 21:00 NZST (09:00 UTC)); more than 12h "
        "away is refused unless --reason says why")
    done = run_cli("phase", EXAMPLE, "messaging-core", "go", "--operator", "bob", "--at",
                   "2020-09-08 01:10", "--reason", "early go agreed", "--outputs", outputs,
                   env=env)
    assert _refused(done).startswith(
        "phase 'messaging-core' cannot go at Tue 8 Sep 01:10 NZST (Mon 7 Sep 13:10 UTC): "
        "'carrier-connections' was in-progress then (it completed at Tue 8 Sep 01:20 NZST")
    assert (outputs / "events.sqlite").read_bytes() == before
    assert not (outputs / "notebooks").exists()


def test_runbook_report_refuses_a_future_as_of(plan, tmp_path, env):
    outputs = tmp_path / "run"
    with open_log(plan, outputs) as log:
        log.record(PHASE, "go", "alice", at="2020-09-07 20:50")
    ahead = (datetime.now(AUCKLAND) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    done = run_cli("report", EXAMPLE, "--outputs", outputs, "--as-of", ahead, env=env)
    assert _refused(done).startswith("--as-of at ")
    assert "that is 1h in the future" in done.stderr or "that is 59m in the future" in \
        done.stderr
    assert not (outputs / "report.html").exists()


def test_the_report_reads_a_naive_as_of_in_the_plan_s_zone(plan, tmp_path):
    from migration_runbook.report import load

    with open_log(plan, tmp_path) as log:
        log.record(PHASE, "go", "alice", at="2020-09-07 20:50")
        log.record(PHASE, "start", "alice", at="2020-09-07 21:00")
    data = load(plan, tmp_path, as_of="2020-09-07 22:30")           # NZST
    assert data.as_of == datetime(2020, 9, 7, 10, 30, tzinfo=UTC)
