"""Window-fit risk: three-point estimates in the plan, and the Monte Carlo against closed forms.

Tolerances are four standard errors at the run count used: for a probability p over n runs
sqrt(p (1 - p) / n); for a median, sqrt(0.25 / n) over the density at the median; for a mean,
the distribution's standard deviation over sqrt(n). Seeds are fixed, so the tests are
deterministic; the tolerances say how far from the closed form any seed may reasonably land.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import numpy as np
import pytest

from migration_runbook.events import Event, open_log
from migration_runbook.plan import Phase, load_plan
from migration_runbook.risk import (
    estimates,
    log_risk,
    phase_risk,
    plan_risk,
    sample,
    sample_beyond,
)
from tests.conftest import EXAMPLE, run_cli
from tests.unit.test_plan import line_of, phase, plan_text, problems

RUNS = 20_000
WINDOW = ("2020-09-07 21:00", "2020-09-08 01:00")    # 240 minutes
TRIANGLE = "low: 60m, duration: 120m, high: 240m"


def four_se(p: float, n: int = RUNS) -> float:
    return 4 * math.sqrt(p * (1 - p) / n)


def one_phase(steps: str, rollback: str = "60m", head: str = "") -> str:
    return head + plan_text(phase("a", *WINDOW, steps, rollback=rollback))


# --- the plan's three-point estimates ----------------------------------------------------

def test_low_and_high_default_to_the_likely_duration(write_plan):
    path = write_plan(one_phase("steps:\n  - {name: a, duration: 40m}\n"
                                "  - {name: b, duration: 50m, low: 30m}\n"))
    plan = load_plan(path)
    first, second = plan.phase("a").steps
    assert first.estimate == (timedelta(minutes=40),) * 3
    assert second.estimate == (timedelta(minutes=30), timedelta(minutes=50),
                               timedelta(minutes=50))
    assert plan.estimates.distribution == "triangular"


def test_low_longer_than_the_likely_duration_is_refused_at_its_line(write_plan):
    path = write_plan(one_phase("steps:\n  - name: a\n    duration: 40m\n    low: 45m\n"))
    assert problems(path) == [f"{path}:{line_of(path, 'low: 45m')}: phase 'a': steps.low: "
                              "low (45m) must not be longer than duration (40m)"]


def test_high_shorter_than_the_likely_duration_is_refused_at_its_line(write_plan):
    path = write_plan(one_phase("steps:\n  - name: a\n    duration: 40m\n    high: 35m\n"))
    assert problems(path) == [f"{path}:{line_of(path, 'high: 35m')}: phase 'a': steps.high: "
                              "high (35m) must not be shorter than duration (40m)"]


def test_a_bad_low_is_a_duration_error(write_plan):
    path = write_plan(one_phase("steps:\n  - name: a\n    duration: 40m\n    low: soon\n"))
    [line] = problems(path)
    assert line.startswith(f"{path}:{line_of(path, 'low: soon')}: phase 'a': steps.low: ")
    assert "invalid duration 'soon'" in line


def test_the_distribution_is_triangular_or_pert(write_plan):
    steps = f"steps:\n  - {{name: a, {TRIANGLE}}}\n"
    path = write_plan(one_phase(steps, head="estimates: {distribution: pert}\n"))
    assert load_plan(path).estimates.distribution == "pert"
    path = write_plan(one_phase(steps, head="estimates: {distribution: normal}\n"))
    [line] = problems(path)
    assert line.startswith(f"{path}:1: estimates.distribution: ")
    assert "'triangular' or 'pert'" in line


# --- sampling ----------------------------------------------------------------------------

def test_samples_stay_within_low_and_high_and_fixed_steps_are_fixed():
    points = np.array([[60.0, 120.0, 240.0], [30.0, 30.0, 30.0], [10.0, 10.0, 20.0]])
    for distribution in ("triangular", "pert"):
        drawn = sample(np.random.default_rng(1), points, RUNS, distribution)
        assert drawn.shape == (3, RUNS)
        assert (drawn >= points[:, :1]).all() and (drawn <= points[:, 2:]).all()
        assert (drawn[1] == 30.0).all()


def test_triangular_and_pert_means_match_their_closed_forms():
    points = np.array([[60.0, 120.0, 240.0]])
    triangular = sample(np.random.default_rng(2), points, RUNS, "triangular")[0]
    # Triangular: mean (a + c + b) / 3, variance (a²+b²+c²-ab-ac-bc) / 18.
    a, c, b = points[0]
    sd = math.sqrt((a * a + b * b + c * c - a * b - a * c - b * c) / 18)
    assert triangular.mean() == pytest.approx((a + c + b) / 3, abs=4 * sd / math.sqrt(RUNS))
    pert = sample(np.random.default_rng(3), points, RUNS, "pert")[0]
    # PERT: mean (a + 4c + b) / 6 = 130; Beta(alpha, beta) scaled to [a, b] for its spread.
    alpha, beta = 1 + 4 * (c - a) / (b - a), 1 + 4 * (b - c) / (b - a)
    sd = (b - a) * math.sqrt(alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1)))
    assert pert.mean() == pytest.approx((a + 4 * c + b) / 6, abs=4 * sd / math.sqrt(RUNS))
    assert pert.std() == pytest.approx(sd, rel=0.05)


# --- the Monte Carlo against closed forms -----------------------------------------------

def test_a_pert_plan_draws_pert_durations(write_plan):
    # One PERT step (60, 120, 240): mean (60 + 480 + 240) / 6 = 130, below the triangular 140.
    path = write_plan(one_phase(f"steps:\n  - {{id: copy, name: Copy, {TRIANGLE}}}\n",
                                head="estimates: {distribution: pert}\n"))
    [result] = plan_risk(load_plan(path), runs=RUNS, seed=5, keep_samples=True)
    alpha, beta = 1 + 4 * 60 / 180, 1 + 4 * 120 / 180
    sd = 180 * math.sqrt(alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1)))
    assert result.finish.mean() == pytest.approx(130, abs=4 * sd / math.sqrt(RUNS))


def test_one_triangular_step_fits_five_nights_in_six(write_plan):
    # Deadline 240 - 60 = 180: P(T <= 180) = 1 - (240-180)² / ((240-60)(240-120)) = 5/6.
    # Median: 1 - (240-x)² / 21600 = 1/2, x = 240 - sqrt(10800) = 136.08.
    path = write_plan(one_phase(f"steps:\n  - {{id: copy, name: Copy, {TRIANGLE}}}\n"))
    [result] = plan_risk(load_plan(path), runs=RUNS, seed=7)
    assert result.runs == RUNS and result.id == "a"
    assert result.p_before_rollback_deadline == pytest.approx(5 / 6, abs=four_se(5 / 6))
    median = 240 - math.sqrt(10800)
    density = 2 * (240 - median) / (180 * 120)
    assert result.p50_minutes == pytest.approx(median, abs=4 * 0.5 / math.sqrt(RUNS) / density)
    assert round(median, 1) == 136.1
    # p90: 1 - (240-x)²/21600 = 0.9, x = 240 - sqrt(2160).
    p90 = 240 - math.sqrt(2160)
    density = 2 * (240 - p90) / (180 * 120)
    assert result.p90_minutes == pytest.approx(
        p90, abs=4 * math.sqrt(0.09 / RUNS) / density)
    assert result.criticality == {"copy": 1.0}


def test_two_triangular_steps_side_by_side_fit_with_the_square_of_it(write_plan):
    steps = (f"steps:\n  - {{id: cold, name: Cold, {TRIANGLE}}}\n"
             f"  - {{id: hot, name: Hot, {TRIANGLE}, after: []}}\n")
    path = write_plan(one_phase(steps))
    [result] = plan_risk(load_plan(path), runs=RUNS, seed=8)
    p = (5 / 6) ** 2
    assert result.p_before_rollback_deadline == pytest.approx(p, abs=four_se(p))
    # Each is the longer one half the time; the two shares add up to every run.
    assert result.criticality["cold"] == pytest.approx(0.5, abs=four_se(0.5))
    # Near-ties (within the slack of float rounding) count for both: rare at this run count.
    assert result.criticality["cold"] + result.criticality["hot"] == pytest.approx(1.0, abs=1e-3)


def test_the_longer_branch_is_critical_in_most_runs(write_plan):
    steps = ("steps:\n  - {id: freeze, name: Freeze, duration: 10m}\n"
             "  - {id: short, name: Short, low: 20m, duration: 30m, high: 40m, after: [freeze]}\n"
             "  - {id: long, name: Long, low: 35m, duration: 60m, high: 90m, after: [freeze]}\n"
             "  - {id: switch, name: Switch, duration: 5m, after: [short, long]}\n")
    [result] = plan_risk(load_plan(write_plan(one_phase(steps))), runs=RUNS, seed=9)
    assert result.criticality["freeze"] == 1.0 and result.criticality["switch"] == 1.0
    # short > long needs short in (35, 40] and long below it: rare but possible.
    assert 0 < result.criticality["short"] < 0.05
    assert result.criticality["long"] > 0.95
    assert result.p_before_rollback_deadline == 1.0


def test_a_chain_of_fixed_steps_fits_always_or_never(write_plan):
    steps = ("steps:\n  - {name: a, duration: 60m}\n  - {name: b, duration: 90m}\n"
             "  - {name: c, duration: 30m}\n")
    # 180 minutes of steps against a deadline at 180: it fits, every night, exactly.
    path = write_plan(one_phase(steps))
    [result] = plan_risk(load_plan(path), runs=1000, seed=1)
    assert result.p_before_rollback_deadline == 1.0
    assert result.p50_minutes == result.p90_minutes == 180
    assert result.criticality == {"1": 1.0, "2": 1.0, "3": 1.0}
    # One minute more rollback and it never does (built as a model: validation refuses it).
    late = Phase.model_validate({
        "id": "late", "name": "Late", "start": "2020-09-07T09:00Z", "end": "2020-09-07T13:00Z",
        "rollback": {"duration": "61m", "plan": "Undo."},
        "steps": [{"name": n, "duration": d} for n, d in (("a", 60), ("b", 90), ("c", 30))]})
    result = phase_risk(late, np.random.default_rng(0), runs=1000)
    assert result.p_before_rollback_deadline == 0.0
    assert result.deadline_minutes == 179


def test_a_phase_without_steps_finishes_at_its_start(write_plan):
    [result] = plan_risk(load_plan(write_plan(one_phase(""))), runs=100, seed=1)
    assert result.p50_minutes == 0 and result.p_before_rollback_deadline == 1.0
    assert result.criticality == {}


def test_the_same_seed_gives_the_same_figures_and_phases_draw_independently():
    plan = load_plan(EXAMPLE)
    first = plan_risk(plan, runs=2000, seed=42, keep_samples=True)
    again = plan_risk(plan, runs=2000, seed=42, keep_samples=True)
    assert [r.as_dict() for r in first] == [r.as_dict() for r in again]
    assert all((a.finish == b.finish).all() for a, b in zip(first, again, strict=True))
    other = plan_risk(plan, runs=2000, seed=43, keep_samples=True)
    varies = [r for r in first if np.ptp(r.finish) > 0]
    if varies:
        other_by_id = {r.id: r for r in other}
        assert any((r.finish != other_by_id[r.id].finish).any() for r in varies)
    # One phase alone draws what it draws among all of them.
    last = plan.phases[-1].id
    [alone] = plan_risk(plan, runs=2000, seed=42, phases=[last], keep_samples=True)
    assert (alone.finish == first[-1].finish).all()


def test_estimates_are_read_in_plan_order(write_plan):
    path = write_plan(one_phase(f"steps:\n  - {{name: a, {TRIANGLE}}}\n"
                                "  - {name: b, duration: 10m}\n"))
    assert estimates(load_plan(path).phase("a")).tolist() == [[60, 120, 240], [10, 10, 10]]


# --- the command -------------------------------------------------------------------------

def test_runbook_risk_json_is_one_object_a_phase(write_plan):
    path = write_plan(one_phase(f"steps:\n  - {{id: copy, name: Copy, {TRIANGLE}}}\n"))
    done = run_cli("risk", path, "--runs", "5000", "--seed", "3", "--format", "json")
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert set(row) == {"id", "runs", "p50_minutes", "p90_minutes",
                        "p_before_rollback_deadline", "criticality"}
    assert row["id"] == "a" and row["runs"] == 5000 and row["criticality"] == {"copy": 1.0}
    assert row["p_before_rollback_deadline"] == pytest.approx(5 / 6, abs=four_se(5 / 6, 5000))
    again = run_cli("risk", path, "--runs", "5000", "--seed", "3", "--format", "json")
    assert again.stdout == done.stdout
    table = run_cli("risk", path, "--runs", "5000", "--seed", "3")
    assert table.returncode == 0, table.stderr
    assert "P(by rollback deadline)" in table.stdout and "copy 100%" in table.stdout


def test_runbook_risk_refuses_more_runs_than_fit_in_memory_in_one_line(write_plan):
    steps = "steps:\n" + "".join(f"  - {{name: s{k}, duration: 1m}}\n" for k in range(30))
    done = run_cli("risk", write_plan(one_phase(steps)), "--runs", "1000000")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == ("--runs 1000000: phase 'a' has 30 steps; at most 666,666 runs fit in "
                           "memory\n")


def test_runbook_risk_refuses_an_invalid_plan_in_one_line(write_plan):
    path = write_plan(one_phase("steps:\n  - {name: a, duration: 40m, high: 30m}\n"))
    done = run_cli("risk", path)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "high (30m) must not be shorter than duration (40m)" in done.stderr
    assert done.stdout == ""


# --- on the night: forecast from where the phase stands ----------------------------------
# One triangular step (60, 120, 240) in a 240-minute window with a 60-minute rollback: the
# deadline is 180 minutes in, and F(x) = 1 - (240 - x)² / 21600 above the likely 120.

def ev(plan, seq: int, event: str, minute: float, step: str = "") -> Event:
    """A log record `minute` minutes after phase a's window start."""
    when = plan.phase("a").start + timedelta(minutes=minute)
    return Event(seq=seq, plan=plan.id, phase="a", event=event, operator="op", reason="r",
                 at=when, recorded_at=when, source="cli", notebook="",
                 details={"step": step} if step else {})


def night(plan, *ticks: tuple[str, float, str]) -> list[Event]:
    """go 10 minutes before the window, start at its start, then (event, minute, step)."""
    events = [ev(plan, 1, "go", -10), ev(plan, 2, "start", 0)]
    return events + [ev(plan, n, e, m, s) for n, (e, m, s) in enumerate(ticks, start=3)]


def live(plan, events, minute: float, runs: int = RUNS, seed: int = 11):
    moment = plan.phase("a").start + timedelta(minutes=minute)
    [result] = log_risk(plan, events, moment, runs=runs, seed=seed, keep_samples=True)
    return result


@pytest.fixture
def triangle(write_plan):
    return load_plan(write_plan(one_phase(f"steps:\n  - {{id: copy, name: Copy, {TRIANGLE}}}\n")))


def test_a_step_running_for_150_minutes_fits_five_nights_in_nine(triangle):
    # P(T <= 180 | T > 150) = (F(180) - F(150)) / (1 - F(150)) = (8100 - 3600) / 8100 = 5/9.
    result = live(triangle, night(triangle, ("step-start", 0, "copy")), 150)
    assert result.state == "in-progress" and result.basis == "live"
    assert result.p_before_rollback_deadline == pytest.approx(5 / 9, abs=four_se(5 / 9))
    assert result.finish.min() >= 150 and result.finish.max() <= 240
    # Median: (240 - x)² = 8100 / 2, x = 240 - sqrt(4050).
    median = 240 - math.sqrt(4050)
    density = 2 * (240 - median) / 8100
    assert result.p50_minutes == pytest.approx(median, abs=4 * 0.5 / math.sqrt(RUNS) / density)
    assert result.as_dict()["state"] == "in-progress"


def test_a_step_running_less_than_its_likely_duration_is_conditioned_too(triangle):
    # Started at 10, running for 80 at 90: it ends by 180 if T <= 170; F(80) = 20² / 10800.
    # P = (F(170) - F(80)) / (1 - F(80)) = (1 - 4900/21600 - 400/10800) / (1 - 400/10800).
    result = live(triangle, night(triangle, ("step-start", 10, "copy")), 90)
    p = (1 - 4900 / 21600 - 400 / 10800) / (1 - 400 / 10800)
    assert result.p_before_rollback_deadline == pytest.approx(p, abs=four_se(p))


def test_a_step_running_past_its_high_ends_now(triangle):
    result = live(triangle, night(triangle, ("step-start", 0, "copy")), 250, runs=100)
    assert result.p_before_rollback_deadline == 0.0
    assert result.p50_minutes == result.p90_minutes == pytest.approx(250)


def test_a_done_step_fits_or_not_by_when_it_ended(triangle):
    early = night(triangle, ("step-start", 0, "copy"), ("step-done", 170, "copy"))
    result = live(triangle, early, 175, runs=100)
    assert result.p_before_rollback_deadline == 1.0 and result.p50_minutes == 170
    assert result.criticality == {"copy": 1.0}
    late = night(triangle, ("step-start", 0, "copy"), ("step-done", 190, "copy"))
    result = live(triangle, late, 195, runs=100)
    assert result.p_before_rollback_deadline == 0.0 and result.p90_minutes == 190


def test_steps_not_started_begin_no_earlier_than_now(write_plan):
    # freeze done at 5; copy (fixed 60m) not started: at 100 it ends at 160 (fits), at 150
    # at 210 (does not): the estimate alone would say 65.
    plan = load_plan(write_plan(one_phase(
        "steps:\n  - {id: freeze, name: Freeze, duration: 5m}\n"
        "  - {id: copy, name: Copy, duration: 60m}\n")))
    events = night(plan, ("step-start", 0, "freeze"), ("step-done", 5, "freeze"))
    assert live(plan, events, 100, runs=50).p50_minutes == 160
    at_150 = live(plan, events, 150, runs=50)
    assert at_150.p50_minutes == 210 and at_150.p_before_rollback_deadline == 0.0
    # freeze ended long before copy can start: only copy is on the longest path.
    assert at_150.criticality == {"freeze": 0.0, "copy": 1.0}


def test_a_step_after_a_running_one_waits_for_its_conditioned_end(write_plan):
    # copy (triangular) running for 150 at 150, then switch (10m): fits if copy <= 170:
    # P(T <= 170 | T > 150) = (8100 - 4900) / 8100 = 32/81.
    plan = load_plan(write_plan(one_phase(
        f"steps:\n  - {{id: copy, name: Copy, {TRIANGLE}}}\n"
        "  - {id: switch, name: Switch, duration: 10m}\n")))
    result = live(plan, night(plan, ("step-start", 0, "copy")), 150)
    assert result.p_before_rollback_deadline == pytest.approx(32 / 81, abs=four_se(32 / 81))
    assert result.criticality == {"copy": 1.0, "switch": 1.0}


def test_a_running_pert_step_is_drawn_beyond_what_it_has_lasted():
    # The conditioned draw against rejection sampling of the Beta distribution itself.
    points, elapsed = (60.0, 120.0, 240.0), 150.0
    drawn = sample_beyond(np.random.default_rng(4), points, elapsed, RUNS, "pert")
    assert drawn.min() >= elapsed and drawn.max() <= 240
    alpha, beta = 1 + 4 * 60 / 180, 1 + 4 * 120 / 180
    plain = 60 + 180 * np.random.default_rng(5).beta(alpha, beta, 2_000_000)
    beyond = plain[plain > elapsed]
    assert drawn.mean() == pytest.approx(beyond.mean(),
                                         abs=4 * beyond.std() / math.sqrt(RUNS))
    p = float(np.mean(beyond <= 180))
    assert float(np.mean(drawn <= 180)) == pytest.approx(p, abs=four_se(p))


def test_a_fixed_running_step_takes_its_duration_or_ends_now():
    rng = np.random.default_rng(0)
    assert (sample_beyond(rng, (30.0, 30.0, 30.0), 10.0, 5) == 30).all()
    assert (sample_beyond(rng, (30.0, 30.0, 30.0), 45.0, 5) == 45).all()


def test_decided_phases_are_reported_as_they_ended(triangle):
    done = night(triangle, ("step-start", 0, "copy"), ("step-done", 170, "copy"))
    completed = live(triangle, [*done, ev(triangle, 5, "complete", 172)], 200)
    assert (completed.state, completed.basis, completed.runs) == ("completed", "decided", 0)
    assert completed.p_before_rollback_deadline == 1.0 and completed.p50_minutes == 170
    assert completed.as_dict() == {
        "id": "a", "runs": 0, "p50_minutes": 170.0, "p90_minutes": 170.0,
        "p_before_rollback_deadline": 1.0, "criticality": {}, "state": "completed",
        "basis": "decided"}
    back = night(triangle, ("step-start", 0, "copy"))
    back += [ev(triangle, 4, "rollback", 180), ev(triangle, 5, "rolled-back", 220)]
    rolled = live(triangle, back, 230)
    assert rolled.state == "rolled-back" and rolled.p_before_rollback_deadline == 0.0
    assert rolled.as_dict()["p50_minutes"] is None


def test_a_planned_phase_is_forecast_from_its_window_or_from_now_once_it_began(triangle):
    before = live(triangle, [], -30)
    assert (before.state, before.basis) == ("planned", "plan")
    assert before.p_before_rollback_deadline == pytest.approx(5 / 6, abs=four_se(5 / 6))
    [alone] = plan_risk(triangle, runs=RUNS, seed=11, keep_samples=True)
    assert (alone.finish == before.finish).all()        # the same draws as without a log
    # 60 minutes late and not started: it fits only if the step takes at most 120:
    # F(120) = 60² / (180 · 60) = 1/3.
    late = live(triangle, [ev(triangle, 1, "go", -10)], 60)
    assert late.state == "approved"
    assert late.p_before_rollback_deadline == pytest.approx(1 / 3, abs=four_se(1 / 3))


# --- the command with a log ----------------------------------------------------------------

@pytest.fixture
def running(write_plan, tmp_path):
    """The triangular step's plan and a run folder where it has run since the window began
    (09:00 UTC)."""
    path = write_plan(one_phase(f"steps:\n  - {{id: copy, name: Copy, {TRIANGLE}}}\n"))
    outputs = tmp_path / "run"
    with open_log(load_plan(path), outputs) as log:
        log.record("a", "go", "alice", at="2020-09-07T08:50:00Z")
        log.record("a", "start", "alice", at="2020-09-07T09:00:00Z")
        log.record_step("a", "copy", "start", "bob", at="2020-09-07T09:00:00Z")
    return path, outputs


def test_runbook_risk_with_a_log_forecasts_from_where_the_phase_stands(running):
    path, outputs = running
    done = run_cli("risk", path, "--outputs", outputs, "--as-of", "2020-09-07T11:30:00Z",
                   "--runs", "5000", "--seed", "3", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("--as-of ")            # echoed, as `runbook status` does
    [row] = json.loads(done.stdout)
    assert (row["state"], row["basis"], row["runs"]) == ("in-progress", "live", 5000)
    assert row["p_before_rollback_deadline"] == pytest.approx(5 / 9, abs=four_se(5 / 9, 5000))
    by_url = run_cli("risk", path, "--store", f"sqlite:///{outputs / 'events.sqlite'}",
                     "--as-of", "2020-09-07T11:30:00Z", "--runs", "5000", "--seed", "3",
                     "--format", "json")
    assert json.loads(by_url.stdout) == [row]
    table = run_cli("risk", path, "--outputs", outputs, "--as-of", "2020-09-07T11:30:00Z",
                    "--runs", "5000", "--seed", "3")
    assert table.returncode == 0, table.stderr
    assert "in-progress" in table.stdout and "as of" in table.stdout
    assert f"{row['p_before_rollback_deadline']:.1%}" in table.stdout
    # Before the step started, the same log reads as the plan alone would: 5/6.
    [early] = json.loads(run_cli("risk", path, "--outputs", outputs, "--as-of",
                                 "2020-09-07T08:00:00Z", "--runs", "5000", "--seed", "3",
                                 "--format", "json").stdout)
    assert (early["state"], early["basis"]) == ("planned", "plan")
    [alone] = json.loads(run_cli("risk", path, "--runs", "5000", "--seed", "3", "--format",
                                 "json").stdout)
    assert {k: v for k, v in early.items() if k not in ("state", "basis")} == alone


def test_runbook_risk_reports_a_completed_phase_as_decided(running):
    path, outputs = running
    with open_log(load_plan(path), outputs) as log:
        log.record_step("a", "copy", "done", "bob", at="2020-09-07T12:10:00Z")
        log.record("a", "complete", "alice", at="2020-09-07T12:12:00Z")
    done = run_cli("risk", path, "--outputs", outputs, "--as-of", "2020-09-07T12:30:00Z",
                   "--format", "json")
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert row == {"id": "a", "runs": 0, "p50_minutes": 190.0, "p90_minutes": 190.0,
                   "p_before_rollback_deadline": 0.0, "criticality": {},
                   "state": "completed", "basis": "decided"}
    table = run_cli("risk", path, "--outputs", outputs, "--as-of", "2020-09-07T12:30:00Z")
    assert "completed (decided)" in table.stdout and "+3h 10m" in table.stdout


def test_runbook_risk_refuses_a_bad_or_future_as_of_in_one_line(running):
    path, outputs = running
    done = run_cli("risk", path, "--outputs", outputs, "--as-of", "tonight")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("--as-of: invalid time 'tonight'")
    assert len(done.stderr.splitlines()) == 1
    future = run_cli("risk", path, "--outputs", outputs, "--as-of", "2999-01-01 00:00")
    assert future.returncode == 1 and "in the future" in future.stderr
    assert len(future.stderr.splitlines()) == 1


@pytest.mark.parametrize(("value", "message"), [
    ("0", "Input should be greater than 0"),
    ("1.5", "must be at most 1.0, not 1.5"),
    ("true", "must be a number above 0 and at most 1, not true"),
    ("often", "Input should be a valid number"),
])
def test_fit_probability_warning_is_a_probability(write_plan, value, message):
    path = write_plan(one_phase("", head=f"alerts:\n  fit_probability_warning: {value}\n"))
    [line] = problems(path)
    assert line.startswith(f"{path}:2: alerts.fit_probability_warning")
    assert message in line


def test_fit_probability_warning_defaults_to_0_8(write_plan):
    assert load_plan(write_plan(one_phase(""))).alerts.fit_probability_warning == 0.8
    path = write_plan(one_phase("", head="alerts: {fit_probability_warning: 1}\n"))
    assert load_plan(path).alerts.fit_probability_warning == 1.0


def test_a_failed_step_is_drawn_again_from_now(write_plan):
    plan = load_plan(write_plan(one_phase(
        "steps:\n  - {id: freeze, name: Freeze, duration: 5m}\n"
        "  - {id: copy, name: Copy, duration: 60m}\n")))
    events = night(plan, ("step-start", 0, "freeze"), ("step-failed", 100, "freeze"))
    result = live(plan, events, 150, runs=50)       # freeze 150-155 again, copy 155-215
    assert result.p50_minutes == 215 and result.p_before_rollback_deadline == 0.0
