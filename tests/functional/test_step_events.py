"""Step events in the hash-chained log: every transition and every refusal, with its message.

Tests taking `log` run on SQLite and on PostgreSQL (tests/postgres.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from migration_runbook.errors import EventRefused
from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import race, run_cli
from tests.functional.test_events import rows

PLAN = """\
id: steps-test
title: Steps test
timezone: Pacific/Auckland
services: [{id: api, name: API}]
phases:
  - id: db
    name: Database
    start: 2020-09-07 21:00
    end: 2020-09-08 01:00
    rollback: {duration: 45m, plan: back}
    steps:
      - {id: freeze, name: Freeze writes, duration: 30m}
      - {id: cold, name: Copy cold tables, duration: 60m, after: [freeze]}
      - {id: hot, name: Copy hot tables, duration: 2h, after: [freeze]}
      - {id: switch, name: Switch over, duration: 10m, after: [cold, hot]}
"""
T0 = datetime(2020, 9, 7, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def plan_path(tmp_path):
    path = tmp_path / "steps.yaml"
    path.write_text(PLAN)
    return path


@pytest.fixture
def plan(plan_path):
    return load_plan(plan_path)


@pytest.fixture
def log(plan, store_url):
    with open_log(plan, store=store_url) as opened:
        yield opened


def started(log) -> None:
    log.record("db", "go", "alice", at=at(-10))
    log.record("db", "start", "alice", at=at(0))


def states(log) -> dict[str, str]:
    from migration_runbook.progress import replay_steps

    return {k: v.state for k, v in replay_steps(log.plan, log.events()).current["db"].items()}


def refused(log, step: str, event: str, message: str, reason: str = "", minute: float = 5,
            phase: str = "db") -> None:
    before = rows(log)
    with pytest.raises(EventRefused) as caught:
        log.record_step(phase, step, event, "bob", reason, at=at(minute))
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    assert rows(log) == before   # nothing written


def test_a_step_goes_pending_running_done_in_the_same_chain(log):
    started(log)
    assert states(log) == dict.fromkeys(["freeze", "cold", "hot", "switch"], "pending")
    ev = log.record_step("db", "freeze", "start", "bob", at=at(1))
    assert (ev.event, ev.details, ev.seq) == ("step-start", {"step": "freeze"}, 3)
    assert states(log)["freeze"] == "running"
    log.record_step("db", "freeze", "done", "bob", at=at(30))
    assert states(log)["freeze"] == "done"
    assert log.verify().ok and log.states()["db"] == "in-progress"


def test_parallel_steps_start_together_once_what_they_follow_is_done(log):
    started(log)
    log.record_step("db", "freeze", "start", "bob", at=at(1))
    log.record_step("db", "freeze", "done", "bob", at=at(30))
    log.record_step("db", "cold", "start", "bob", at=at(31))
    log.record_step("db", "hot", "start", "carol", at=at(31))
    assert states(log) == {"freeze": "done", "cold": "running", "hot": "running",
                           "switch": "pending"}


def test_a_step_cannot_start_before_the_steps_it_comes_after(log):
    started(log)
    refused(log, "cold", "start", "step 'cold' of phase 'db' cannot start: it comes after "
            "'freeze' (pending), not yet done or skipped")
    log.record_step("db", "freeze", "start", "bob", at=at(1))
    log.record_step("db", "freeze", "done", "bob", at=at(2))
    log.record_step("db", "cold", "start", "bob", at=at(3))
    refused(log, "switch", "start", "step 'switch' of phase 'db' cannot start: it comes after "
            "'cold' (running), 'hot' (pending), not yet done or skipped")


@pytest.mark.parametrize("state", ["planned", "approved", "completed", "rolling-back"])
def test_a_step_cannot_be_ticked_unless_its_phase_is_in_progress(log, state):
    path = {"planned": [], "approved": ["go"], "completed": ["go", "start", "complete"],
            "rolling-back": ["go", "start", "rollback"]}[state]
    for i, name in enumerate(path):
        log.record("db", name, "alice", reason="test" if name == "complete" else "", at=at(i))
    refused(log, "freeze", "start", f"step 'freeze' of phase 'db' cannot start: the phase is "
            f"{state}, not in-progress")


def test_done_and_failed_only_after_start(log):
    started(log)
    refused(log, "freeze", "done", "step 'freeze' of phase 'db' cannot done: it is pending, "
            "not running (allowed: start, skip)")
    refused(log, "freeze", "failed", "step 'freeze' of phase 'db' cannot failed: it is "
            "pending, not running (allowed: start, skip)")


def test_a_failed_step_may_start_again_or_be_skipped_with_a_reason(log):
    started(log)
    log.record_step("db", "freeze", "start", "bob", at=at(1))
    log.record_step("db", "freeze", "failed", "bob", "lock timeout", at=at(5))
    assert states(log)["freeze"] == "failed"
    refused(log, "freeze", "done", "step 'freeze' of phase 'db' cannot done: it is failed, "
            "not running (allowed: start, skip)", minute=6)
    log.record_step("db", "freeze", "start", "bob", at=at(6))
    log.record_step("db", "freeze", "failed", "bob", "again", at=at(8))
    refused(log, "freeze", "skip", "step 'freeze' of phase 'db' cannot skip: a reason is "
            "required (--reason TEXT)", minute=9)
    log.record_step("db", "freeze", "skip", "bob", "writes already frozen upstream", at=at(9))
    assert states(log)["freeze"] == "skipped"
    log.record_step("db", "cold", "start", "bob", at=at(10))   # a skipped step lets others go


def test_a_finished_step_takes_no_more_events(log):
    started(log)
    log.record_step("db", "freeze", "start", "bob", at=at(1))
    log.record_step("db", "freeze", "done", "bob", at=at(2))
    for event in ("start", "done", "failed"):
        need = "pending or failed" if event == "start" else "running"
        refused(log, "freeze", event, f"step 'freeze' of phase 'db' cannot {event}: it is "
                f"done, not {need} (allowed: none, it is finished)")
    refused(log, "freeze", "skip", "step 'freeze' of phase 'db' cannot skip: it is done, not "
            "pending or failed (allowed: none, it is finished)", reason="why")


def test_a_running_step_cannot_be_skipped(log):
    started(log)
    log.record_step("db", "freeze", "start", "bob", at=at(1))
    refused(log, "freeze", "skip", "step 'freeze' of phase 'db' cannot skip: it is running, "
            "not pending or failed (allowed: done, failed)", reason="why")


def test_unknown_step_phase_and_event_are_refused(log):
    started(log)
    refused(log, "nope", "start", "phase 'db' has no step 'nope' (steps: freeze, cold, hot, "
            "switch)")
    refused(log, "freeze", "start", "step 'freeze' cannot start: plan 'steps-test' has no "
            "phase 'web' (phases: db)", phase="web")
    refused(log, "freeze", "finish", "step 'freeze' of phase 'db': unknown step event "
            "'finish' (events: start, done, failed, skip)")


def test_a_step_event_needs_an_operator(log):
    started(log)
    before = rows(log)
    with pytest.raises(EventRefused, match="an operator name is required"):
        log.record_step("db", "freeze", "start", " ", at=at(1))
    assert rows(log) == before


def test_complete_is_refused_while_steps_are_not_done_or_skipped_naming_them(log):
    started(log)
    log.record_step("db", "freeze", "start", "bob", at=at(1))
    log.record_step("db", "freeze", "done", "bob", at=at(2))
    log.record_step("db", "cold", "start", "bob", at=at(3))
    before = rows(log)
    with pytest.raises(EventRefused) as caught:
        log.record("db", "complete", "alice", at=at(4))
    assert str(caught.value) == ("phase 'db' cannot complete: steps not done or skipped: "
                                 "'cold' (running), 'hot' (pending), 'switch' (pending) (give "
                                 "--reason to complete anyway)")
    assert rows(log) == before


def test_complete_with_a_reason_overrides_and_records_the_unfinished_steps(log):
    started(log)
    ev = log.record("db", "complete", "alice", reason="switched by hand", at=at(60))
    assert ev.reason == "switched by hand"
    assert ev.details["unfinished_steps"][0] == {"step": "freeze", "state": "pending"}
    assert len(ev.details["unfinished_steps"]) == 4


def test_complete_when_every_step_is_done_or_skipped(log):
    started(log)
    minute = 1
    for step in ("freeze", "cold", "hot", "switch"):
        if step == "cold":
            log.record_step("db", step, "skip", "bob", "copied last night", at=at(minute))
            continue
        log.record_step("db", step, "start", "bob", at=at(minute))
        log.record_step("db", step, "done", "bob", at=at(minute + 1))
        minute += 2
    ev = log.record("db", "complete", "alice", at=at(minute))
    assert "unfinished_steps" not in ev.details and log.states()["db"] == "completed"


def test_rollback_is_allowed_at_any_moment_of_the_steps(log):
    started(log)
    log.record_step("db", "freeze", "start", "bob", at=at(1))
    assert log.record("db", "rollback", "alice", at=at(2)).event == "rollback"


def test_a_new_attempt_of_the_phase_starts_its_steps_afresh(log):
    started(log)
    log.record_step("db", "freeze", "start", "bob", at=at(1))
    log.record_step("db", "freeze", "done", "bob", at=at(2))
    for i, name in enumerate(["rollback", "rolled-back", "go", "start"]):
        log.record("db", name, "alice", at=at(3 + i))
    assert states(log)["freeze"] == "pending"
    refused(log, "cold", "start", "step 'cold' of phase 'db' cannot start: it comes after "
            "'freeze' (pending), not yet done or skipped", minute=10)


def test_a_step_event_cannot_be_dated_before_the_phase_event_it_follows(log):
    started(log)
    with pytest.raises(EventRefused, match="before its previous event"):
        log.record_step("db", "freeze", "start", "bob", at=at(-1))


def test_runbook_step_records_a_tick_and_refuses_in_one_line(plan_path, tmp_path):
    outputs = tmp_path / "run"
    with open_log(load_plan(plan_path), outputs) as log:
        started(log)
    done = run_cli("step", plan_path, "db", "freeze", "start", "--operator", "bob",
                   "--at", "2020-09-07T09:01:00Z", "--outputs", outputs)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("db: step 'freeze' start recorded as event #3 by bob at "
                                  "Mon 7 Sep 21:01 NZST")
    no = run_cli("step", plan_path, "db", "hot", "start", "--operator", "bob",
                 "--outputs", outputs)
    assert no.returncode == 1 and no.stdout == ""
    assert no.stderr == ("step 'hot' of phase 'db' cannot start: it comes after 'freeze' "
                         "(running), not yet done or skipped\n")
    skip = run_cli("step", plan_path, "db", "hot", "skip", "--operator", "bob",
                   "--outputs", outputs)
    assert skip.returncode == 1 and "a reason is required" in skip.stderr
    usage = run_cli("step", plan_path, "db", "hot", "finish", "--operator", "bob",
                    "--outputs", outputs)
    assert usage.returncode == 2
    shown = run_cli("log", plan_path, "--outputs", outputs)
    assert "step-start freeze" in shown.stdout           # the log table names the step


def test_step_state_rules_read_the_example_plans_default_ids():
    from tests.conftest import EXAMPLE

    plan = load_plan(EXAMPLE)
    assert plan.phase("carrier-connections").graph.ids == ["1", "2", "3", "4", "5", "6"]


STEP_RACER = """
import sys, time
from pathlib import Path
from migration_runbook.errors import RunbookError
from migration_runbook.events import open_log
from migration_runbook.plan import load_plan

plan_path, url, operator, signal_file = sys.argv[1:5]
log = open_log(load_plan(plan_path), store=url)
print("ready", flush=True)
while not Path(signal_file).exists():
    time.sleep(0.001)
try:
    event = log.record_step("db", "freeze", "start", operator)
except RunbookError as exc:
    print(exc, flush=True)
    sys.exit(1)
print("recorded", event.seq, flush=True)
"""


@pytest.mark.slow
def test_six_operators_starting_the_same_step_at_once_record_exactly_one(log, plan_path,
                                                                          store_url, tmp_path):
    from tests.integration.test_event_concurrency import python

    log.record("db", "go", "alice", at=T0 - timedelta(minutes=10))
    log.record("db", "start", "alice", at=T0)
    signal_file = tmp_path / "now"
    racers = [python(STEP_RACER, plan_path, store_url, f"op-{i}", signal_file)
              for i in range(6)]
    results = race(racers, signal_file)
    winners = [r for r in results if r[0] == 0]
    assert len(winners) == 1 and winners[0][1] == "recorded 3\n"
    for code, out, err in (r for r in results if r[0] != 0):
        assert code == 1 and err == ""
        assert out == ("step 'freeze' of phase 'db' cannot start: it is running, not pending "
                       "or failed (allowed: done, failed)\n")
    assert [e.event for e in log.events()] == ["go", "start", "step-start"]
    assert log.verify().ok
