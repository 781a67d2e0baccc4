"""`runbook rehearse`: the whole example migration in simulated time, through the notebook."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import nbformat
import pytest

from migration_runbook.delivery import deliveries
from migration_runbook.events import open_log
from migration_runbook.notices import sent_notices
from migration_runbook.plan import load_plan
from migration_runbook.rehearsal import STOPPED, default_outputs, script
from migration_runbook.risk import draw_durations
from migration_runbook.times import format_iso_utc
from tests.conftest import EXAMPLE, EXAMPLE_AUGUST, run_cli

PHASES = ["carrier-connections", "messaging-core", "web-interface", "api-endpoints"]


def _events(outputs: Path):
    """The phase events (delivery records aside), the states and the chain check."""
    with open_log(load_plan(EXAMPLE), outputs) as log:
        return [e for e in log.events() if e.phase], log.states(), log.verify()


@pytest.mark.notebook
@pytest.mark.slow
def test_rehearsal_runs_every_phase_to_completion_at_the_plans_times(tmp_path):
    outputs = tmp_path / "rehearsal"
    result = run_cli("rehearse", EXAMPLE, "--outputs", outputs)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    logged, states, verification = _events(outputs)
    events = [e for e in logged if not e.event.startswith("step-")]
    ticks = [e for e in logged if e.event.startswith("step-")]
    plan = load_plan(EXAMPLE)
    assert len(ticks) == 2 * sum(len(p.steps) for p in plan.phases)
    assert states == dict.fromkeys(PHASES, "completed")
    notices = 1 + 3 * len(PHASES)         # announcement; reminder, in-progress, completed
    assert verification.ok and verification.count == 12 + notices + len(ticks)
    assert f"12 events, each through runbooks/phase.ipynb, and {len(ticks)} step ticks" in \
        result.stdout
    assert [(e.phase, e.event) for e in events] == [
        (p, ev) for p in PHASES for ev in ("go", "start", "complete")]
    assert {(e.operator, e.source) for e in logged} == {("rehearsal", "rehearsal")}
    for phase in plan.phases:
        go, start, complete = [e for e in events if e.phase == phase.id]
        assert go.at == phase.start - timedelta(minutes=10)
        assert start.at == phase.start
        assert complete.at == phase.start + phase.critical_path_duration
        assert "unfinished_steps" not in complete.details   # every step was ticked
        planned = phase.graph.planned(phase.start)
        for tick in (t for t in ticks if t.phase == phase.id):
            step_start, step_end = planned[tick.details["step"]]
            assert tick.at == (step_start if tick.event == "step-start" else step_end)
        assert start.seq < min(t.seq for t in ticks if t.phase == phase.id) and \
            max(t.seq for t in ticks if t.phase == phase.id) < complete.seq
    for event in events:
        kept = outputs / event.notebook
        assert kept.is_file() and kept.parent == outputs / "notebooks"
        assert nbformat.read(kept, as_version=4).metadata.papermill.parameters["source"] == \
            "rehearsal"
    assert len(list((outputs / "notebooks").glob("*.ipynb"))) == 12
    # The run folder once, then what is in it: the log, notebooks, notices and report.
    assert result.stdout.count(str(outputs)) == 1, result.stdout
    assert f"outputs: {outputs}" in result.stdout
    assert f"rehearsal of omni-hosting-2020 ({EXAMPLE}, revision 2)" in result.stdout
    assert f"event log: events.sqlite (intact: {verification.count} records, last hash " in \
        result.stdout
    assert "notebooks: notebooks/ (12)" in result.stdout
    # the announcement, then a reminder, an in-progress and a completed notice a phase
    assert "notices:   notices/ (13, as customers would get them)" in result.stdout
    report = outputs / "report.html"
    assert report.is_file() and "report:    report.html (opens offline)" in result.stdout
    verify = run_cli("verify", EXAMPLE, "--outputs", outputs)
    assert verify.returncode == 0, verify.stderr
    assert f"delivery:  {notices} recorded as rehearsal notices (not sent" in result.stdout
    with open_log(plan, outputs) as log:
        recorded = deliveries(log.events())
    assert {(d.event, d.channel) for d in recorded} == {("notice-rehearsed", "rehearsal")}
    sent = sent_notices(plan, outputs)
    assert [(n["kind"], n["phase"]) for n in sent] == [("announcement", "")] + [
        (kind, p) for p in PHASES for kind in ("reminder", "in-progress", "completed")]
    assert [(d.kind, d.phase) for d in recorded] == [(n["kind"], n["phase"]) for n in sent]
    for notice, phase in zip(sent[1::3], plan.phases, strict=True):
        assert notice["at"] == format_iso_utc(phase.start - timedelta(hours=1))
        assert (outputs / notice["path"]).is_file()
    html = report.read_text(encoding="utf-8")
    assert "Reminder: Phase 1 - Carrier Connection Migrations starts" in html


@pytest.mark.notebook
@pytest.mark.slow
def test_rehearsal_with_a_rollback_leaves_the_later_phases_planned(tmp_path):
    outputs = tmp_path / "rollback"
    result = run_cli("rehearse", EXAMPLE, "--outputs", outputs, "--rollback", "messaging-core")
    assert result.returncode == 0, result.stderr
    logged, states, verification = _events(outputs)
    events = [e for e in logged if not e.event.startswith("step-")]
    assert states == {"carrier-connections": "completed", "messaging-core": "rolled-back",
                      "web-interface": "planned", "api-endpoints": "planned"}
    assert verification.ok
    core = load_plan(EXAMPLE).phase("messaging-core")
    rolled = [(e.event, e.at) for e in events if e.phase == "messaging-core"]
    assert rolled == [("go", core.start - timedelta(minutes=10)), ("start", core.start),
                      ("rollback", core.rollback_deadline),
                      ("rolled-back", core.rollback_deadline + core.rollback.duration)]
    assert "messaging-core rolled-back" in result.stdout
    assert (outputs / "report.html").is_file()
    sent = [(n["kind"], n["phase"]) for n in sent_notices(load_plan(EXAMPLE), outputs)]
    assert sent[-1] == ("completed", "messaging-core")
    assert ("reminder", "web-interface") not in sent
    rolled_back_notice = (outputs / "notices" / "completed-messaging-core.txt").read_text()
    assert "rolled back" in rolled_back_notice.lower()


def test_rehearsal_refuses_an_outputs_folder_that_has_events(tmp_path):
    outputs = tmp_path / "used"
    with open_log(load_plan(EXAMPLE), outputs) as log:
        log.record("carrier-connections", "go", "alice")
    result = run_cli("rehearse", EXAMPLE, "--outputs", outputs)
    assert result.returncode == 1
    assert result.stderr == (f"{outputs.resolve()}: its event log already has 1 events; "
                             "rehearse into a fresh folder (--outputs DIR)\n")
    assert not (outputs / "notebooks").exists()


def test_rehearsal_rejects_an_unknown_rollback_phase(tmp_path):
    result = run_cli("rehearse", EXAMPLE, "--outputs", tmp_path / "x", "--rollback", "nope")
    assert result.returncode == 1
    assert "no phase 'nope'" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_script_follows_the_plan_and_skips_what_depends_on_a_rollback(write_plan):
    plan = load_plan(write_plan("""
        id: branching
        title: Branching
        timezone: Pacific/Auckland
        services: [{id: api, name: API}]
        phases:
          - id: a
            name: A
            start: 2020-09-26 21:00
            end: 2020-09-27 05:00
            rollback: {duration: 1h, plan: Back.}
            steps: [{name: one, duration: 2h}]
          - id: b
            name: B
            start: 2020-09-28 21:00
            end: 2020-09-28 23:00
            depends_on: [a]
            rollback: {duration: 30m, plan: Back.}
          - id: c
            name: C
            start: 2020-09-29 21:00
            end: 2020-09-29 23:00
            depends_on: [b]
            rollback: {duration: 30m, plan: Back.}
          - id: d
            name: D
            start: 2020-09-30 21:00
            end: 2020-09-30 23:00
            rollback: {duration: 30m, plan: Back.}
    """))
    ticks = [s for s in script(plan) if s.step]
    assert [(s.phase, s.event, s.step, s.at) for s in ticks] == [
        ("a", "step-start", "1", plan.phase("a").start),
        ("a", "step-done", "1", plan.phase("a").start + timedelta(hours=2))]
    steps = [s for s in script(plan) if not s.step]
    assert [(s.phase, s.event) for s in steps] == [
        (p, e) for p in "abcd" for e in ("go", "start", "complete")]
    a = plan.phase("a")
    assert [s.at for s in steps[:3]] == [a.start - timedelta(minutes=10), a.start,
                                         a.start + timedelta(hours=2)]
    assert steps[5].at == plan.phase("b").end          # no steps: complete at the end
    rolled = [s for s in script(plan, rollback="b") if not s.step]
    assert [(s.phase, s.event) for s in rolled] == [
        ("a", "go"), ("a", "start"), ("a", "complete"), ("b", "go"), ("b", "start"),
        ("b", "rollback"), ("b", "rolled-back"), ("d", "go"), ("d", "start"), ("d", "complete")]
    b = plan.phase("b")
    assert rolled[5].at == b.rollback_deadline and rolled[6].at == b.end


def test_a_rehearsal_folder_names_the_plan_file_and_its_revision():
    """Both example plans have the id omni-hosting-2020: their rehearsals must not look alike."""
    september, august = default_outputs(load_plan(EXAMPLE)), default_outputs(
        load_plan(EXAMPLE_AUGUST))
    assert september.parent == august.parent == Path("outputs")
    assert september.name.startswith("omni-hosting-2020-r2-rehearsal-")
    assert august.name.startswith("omni-hosting-2020-08-r1-rehearsal-")


def test_a_rehearsal_folder_of_a_file_not_named_for_its_plan_has_both(write_plan):
    plan = load_plan(write_plan("""
        id: move
        title: Move
        timezone: UTC
        revision: 7
        services: [{id: api, name: API}]
        phases:
          - {id: a, name: A, start: 2020-09-07 21:00, end: 2020-09-07 23:00,
             rollback: {duration: 30m, plan: back}}
    """, name="night two.yaml"))
    assert default_outputs(plan).name.startswith("move-night-two-r7-rehearsal-")


# --- rehearsal with variance (--seed) ------------------------------------------------------

ROLLBACK_SEED = 4
"""A seed of the example plan whose draw misses messaging-core's rollback deadline (carrier
connections fit): `runbook risk` gives that phase about 70 % on its own."""


def _drawn(seed: int, plan_file: Path = EXAMPLE) -> list[tuple[str, str, str, object]]:
    plan = load_plan(plan_file)
    return [(s.phase, s.event, s.step, s.at)
            for s in script(plan, durations=draw_durations(plan, seed))]


def test_a_seed_draws_the_same_night_and_another_seed_another():
    assert _drawn(ROLLBACK_SEED) == _drawn(ROLLBACK_SEED)
    assert _drawn(ROLLBACK_SEED) != _drawn(ROLLBACK_SEED + 1)
    plan = load_plan(EXAMPLE)
    draw = draw_durations(plan, 1)
    # drawn within each step's low..high, in whole minutes, and not all the likely ones
    for phase in plan.phases:
        for step in phase.graph.steps:
            low, _, high = phase.steps[step.index].estimate
            got = draw[phase.id][step.id]
            assert low <= got <= high and got.total_seconds() % 60 == 0
    assert any(draw[p.id][s.id] != s.duration for p in plan.phases for s in p.graph.steps)
    # both example plans differ only in their windows: the same draw, shifted
    august = load_plan(EXAMPLE_AUGUST)
    assert draw_durations(august, 1) == draw
    assert [e[:3] for e in _drawn(ROLLBACK_SEED, EXAMPLE_AUGUST)] == \
        [e[:3] for e in _drawn(ROLLBACK_SEED)]


def test_without_a_seed_the_script_is_the_likely_one():
    plan = load_plan(EXAMPLE)
    assert script(plan) == script(plan, durations=None) == script(plan, durations={})


def test_a_drawn_phase_that_misses_its_rollback_deadline_is_rolled_back_there():
    plan = load_plan(EXAMPLE)
    drawn = draw_durations(plan, ROLLBACK_SEED)
    steps = script(plan, durations=drawn)
    core = plan.phase("messaging-core")
    assert core.start + core.graph.length(drawn[core.id]) > core.rollback_deadline
    assert [(s.phase, s.event) for s in steps if not s.step and s.event != "approve"] == [
        ("carrier-connections", "go"), ("carrier-connections", "start"),
        ("carrier-connections", "complete"), ("messaging-core", "go"),
        ("messaging-core", "start"), ("messaging-core", "rollback"),
        ("messaging-core", "rolled-back")]
    rollback = next(s for s in steps if s.event == "rollback")
    assert rollback.at == core.rollback_deadline
    assert rollback.reason.startswith("rehearsal: 5 of 6 steps done at the rollback deadline, "
                                      "the rest forecast to finish at ")
    assert rollback.reason.endswith(", 15m after it: rolled back at the deadline")
    # the ticks are the draw's, and stop at the deadline: step 6, still running, is stopped
    ticks = [(s.step, s.event) for s in steps if s.phase == core.id and s.step]
    assert ticks[-2:] == [("6", "step-start"), ("6", "step-failed")]
    stopped = [s for s in steps if s.event == "step-failed"]
    assert [(s.at, s.reason) for s in stopped] == [(core.rollback_deadline, STOPPED)]
    assert steps.index(stopped[0]) + 1 == steps.index(rollback)
    assert all(s.at <= core.rollback_deadline for s in steps if s.phase == core.id and s.step)
    carrier = plan.phase("carrier-connections")
    complete = next(s for s in steps if s.event == "complete")
    assert complete.at == carrier.start + carrier.graph.length(drawn[carrier.id])


def test_a_step_running_past_its_estimate_at_the_deadline_is_a_rollback(write_plan):
    """The forecast says 'ends now' for an overdue step; the phase still rolls back."""
    plan = load_plan(write_plan("""
        id: overdue
        title: Overdue
        timezone: UTC
        services: [{id: api, name: API}]
        phases:
          - {id: a, name: A, start: 2020-09-07 21:00, end: 2020-09-07 23:00,
             rollback: {duration: 30m, plan: back},
             steps: [{name: one, duration: 60m, low: 30m, high: 3h}]}
    """))
    steps = script(plan, durations={"a": {"1": timedelta(minutes=100)}})
    rollback = next(s for s in steps if s.event == "rollback")
    assert rollback.reason == ("rehearsal: 0 of 1 steps done at the rollback deadline, step 1 "
                               "running past its estimate: rolled back at the deadline")
    assert [(s.event, s.step) for s in steps if s.step] == [("step-start", "1"),
                                                            ("step-failed", "1")]
    fits = script(plan, durations={"a": {"1": timedelta(minutes=90)}})   # done at the deadline
    assert [s.event for s in fits if s.phase == "a"][-2:] == ["step-done", "complete"]


@pytest.mark.notebook
@pytest.mark.slow
def test_a_seeded_rehearsal_replays_byte_for_byte_and_rolls_back_a_late_phase(tmp_path):
    plan = load_plan(EXAMPLE)
    runs = []
    for name in ("first", "second"):
        outputs = tmp_path / name
        result = run_cli("rehearse", EXAMPLE, "--outputs", outputs, "--seed", ROLLBACK_SEED)
        assert result.returncode == 0, result.stderr
        assert f"step durations drawn with seed {ROLLBACK_SEED}" in result.stdout
        assert ("states: carrier-connections completed, messaging-core rolled-back, "
                "web-interface planned, api-endpoints planned") in result.stdout
        runs.append(outputs)
    # the step records' times, as stored, byte for byte
    stored = []
    for outputs in runs:
        with open_log(plan, outputs) as log:
            stored.append([(e.phase, e.event, e.details["step"], format_iso_utc(e.at))
                           for e in log.events() if e.event.startswith("step-")])
    assert stored[0] == stored[1] and stored[0]
    expected = [(s.phase, s.event, s.step, format_iso_utc(s.at))
                for s in script(plan, durations=draw_durations(plan, ROLLBACK_SEED)) if s.step]
    assert stored[0] == expected
    logged, states, verification = _events(runs[0])
    assert verification.ok
    assert states == {"carrier-connections": "completed", "messaging-core": "rolled-back",
                      "web-interface": "planned", "api-endpoints": "planned"}
    core = plan.phase("messaging-core")
    rollback = next(e for e in logged if e.event == "rollback")
    assert rollback.phase == core.id and rollback.at == core.rollback_deadline
    assert "15m after it: rolled back at the deadline" in rollback.reason
    stopped = [e for e in logged if e.event == "step-failed"]
    assert [(e.details["step"], e.at, e.reason) for e in stopped] == [
        ("6", core.rollback_deadline, STOPPED)]
    assert not [e for e in logged if e.phase in ("web-interface", "api-endpoints")]
    # the notices a real night would send: the rolled-back phase's, none for unrun phases
    sent = [(n["kind"], n["phase"]) for n in sent_notices(plan, runs[0])]
    assert sent == [("announcement", "")] + [
        (kind, p) for p in PHASES[:2] for kind in ("reminder", "in-progress", "completed")]
    assert "rolled back" in (runs[0] / "notices" / "completed-messaging-core.txt").read_text(
        encoding="utf-8").lower()
    html = (runs[0] / "report.html").read_text(encoding="utf-8")
    assert "rolled back at the deadline" in html


@pytest.mark.parametrize("seed", ["-1", "four"])
def test_a_bad_seed_is_one_usage_line_and_writes_nothing(tmp_path, seed):
    result = run_cli("rehearse", EXAMPLE, "--outputs", tmp_path / "x", "--seed", seed)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "Invalid value for '--seed'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()
