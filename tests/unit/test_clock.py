"""The clock: forecasts on hand-computed cases, countdowns, every warning at its boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from migration_runbook.clock import clocks, forecast_end
from migration_runbook.events import Event
from migration_runbook.plan import load_plan
from migration_runbook.progress import replay_steps
from tests.functional.test_step_events import PLAN

T0 = datetime(2020, 9, 7, 9, 0, tzinfo=UTC)   # the window: 09:00-13:00 UTC, deadline 12:15
DEADLINE = T0 + timedelta(hours=3, minutes=15)
END = T0 + timedelta(hours=4)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def plan(write_plan):
    return load_plan(write_plan(PLAN))


def ev(seq: int, event: str, minute: float, step: str = "", phase: str = "db") -> Event:
    return Event(seq=seq, plan="steps-test", phase=phase, event=event, operator="op",
                 reason="r", at=at(minute), recorded_at=at(minute), source="cli",
                 notebook="", details={"step": step} if step else {})


def log(*ticks: tuple[str, float, str]) -> list[Event]:
    """go at -10, start at 0, then (event, minute, step) ticks."""
    events = [ev(1, "go", -10), ev(2, "start", 0)]
    for n, (event, minute, step) in enumerate(ticks, start=3):
        events.append(ev(n, event, minute, step))
    return events


def clock_at(plan, events, minute: float):
    return clocks(plan, events, at(minute))["db"]


def codes(clock) -> list[str]:
    return [w.code for w in clock.warnings]


# --- the forecast -----------------------------------------------------------------------

def test_forecast_of_an_untouched_phase_is_its_critical_path_from_now(plan):
    # At 0:20 nothing ticked: freeze 0:20-0:50, hot 0:50-2:50, switch 2:50-3:00.
    clock = clock_at(plan, log(), 20)
    assert clock.forecast_end == at(180)
    slots = {s.id: (s.forecast_start, s.forecast_end) for s in clock.steps}
    assert slots["cold"] == (at(50), at(110))
    assert slots["switch"] == (at(170), at(180))


def test_a_running_step_past_its_estimate_is_expected_to_end_now(plan):
    # freeze started at 0:00 (30m planned); at 0:45 it is 15m over: it ends "now", then
    # hot 0:45-2:45 and switch 2:45-2:55.
    clock = clock_at(plan, log(("step-start", 0, "freeze")), 45)
    assert {s.id: s.forecast_end for s in clock.steps}["freeze"] == at(45)
    assert clock.forecast_end == at(175)


def test_a_running_step_within_its_estimate_takes_its_planned_duration(plan):
    clock = clock_at(plan, log(("step-start", 0, "freeze")), 10)
    assert {s.id: s.forecast_end for s in clock.steps}["freeze"] == at(30)
    assert clock.forecast_end == at(160)


def test_a_step_not_yet_startable_starts_when_what_it_follows_is_forecast_done(plan):
    # freeze done at 0:30; cold done at 1:00 (started 0:30, 30m early); hot running since
    # 0:30 (2h: to 2:30). At 1:10 switch waits for hot: 2:30-2:40.
    events = log(("step-start", 0, "freeze"), ("step-done", 30, "freeze"),
                 ("step-start", 30, "cold"), ("step-start", 30, "hot"),
                 ("step-done", 60, "cold"))
    clock = clock_at(plan, events, 70)
    slots = {s.id: (s.forecast_start, s.forecast_end) for s in clock.steps}
    assert slots["cold"] == (at(30), at(60))
    assert slots["switch"] == (at(150), at(160))
    assert clock.forecast_end == at(160)
    assert clock.steps_done == 2 and clock.running == ["hot"]
    assert clock.elapsed == timedelta(minutes=70)


def test_parallel_branches_the_longer_one_decides(plan):
    # freeze done at 0:30; at 0:40 neither copy started: both start now, cold to 1:40 and
    # hot to 2:40; switch after both: 2:40-2:50.
    events = log(("step-start", 0, "freeze"), ("step-done", 30, "freeze"))
    clock = clock_at(plan, events, 40)
    slots = {s.id: (s.forecast_start, s.forecast_end) for s in clock.steps}
    assert slots["cold"] == (at(40), at(100)) and slots["hot"] == (at(40), at(160))
    assert clock.forecast_end == at(170)
    # The graph alone, with other durations (what a Monte Carlo would pass):
    steps = replay_steps(plan, events).current["db"]
    assert forecast_end(plan.phase("db").graph, steps, at(40),
                        {"cold": timedelta(hours=3)}) == at(40 + 180 + 10)


def test_a_failed_step_is_forecast_to_run_again_from_now(plan):
    events = log(("step-start", 0, "freeze"), ("step-failed", 20, "freeze"))
    clock = clock_at(plan, events, 25)
    assert {s.id: s.forecast_start for s in clock.steps}["freeze"] == at(25)
    assert clock.forecast_end == at(25 + 30 + 120 + 10)


def test_a_skipped_step_ends_when_it_was_skipped(plan):
    events = log(("step-skip", 5, "freeze"))
    clock = clock_at(plan, events, 10)
    assert {s.id: s.forecast_end for s in clock.steps}["freeze"] == at(5)
    assert clock.forecast_end == at(10 + 120 + 10)


def test_as_of_leaves_out_later_events(plan):
    events = log(("step-start", 0, "freeze"), ("step-done", 30, "freeze"))
    assert {s.id: s.state for s in clock_at(plan, events, 20).steps}["freeze"] == "running"
    assert clock_at(plan, events, -5).state == "approved"


def test_only_a_phase_in_progress_has_a_forecast_and_countdowns(plan):
    clock = clock_at(plan, log(), -5)
    assert clock.forecast_end is None and clock.to_rollback_deadline is None
    data = clock.to_dict()
    assert data["forecast_end_utc"] is None and data["minutes_to_window_end"] is None
    assert data["steps"][0]["planned_start_utc"] == "2020-09-07T09:00:00Z"
    assert data["critical_path"] == ["freeze", "hot", "switch"]


def test_countdowns_in_json(plan):
    data = clock_at(plan, log(("step-start", 0, "freeze")), 10).to_dict()
    assert data["minutes_to_rollback_deadline"] == 185.0
    assert data["minutes_to_window_end"] == 230.0
    assert data["forecast_end_utc"] == "2020-09-07T11:40:00Z"
    assert data["steps"][0]["actual_start_utc"] == "2020-09-07T09:00:00Z"
    assert data["steps"][0]["actual_end_utc"] is None
    assert set(data["steps"][0]) >= {"id", "name", "owner", "state", "planned_start_utc",
                                     "planned_end_utc", "actual_start_utc", "actual_end_utc"}


# --- warnings, each at its boundary -------------------------------------------------------

def all_done(until: float) -> list[Event]:
    """Every step done by `until` minutes, so the forecast raises no warning of its own."""
    return log(("step-start", 0, "freeze"), ("step-done", 1, "freeze"),
               ("step-start", 1, "cold"), ("step-start", 1, "hot"),
               ("step-done", 2, "cold"), ("step-done", 3, "hot"),
               ("step-start", 3, "switch"), ("step-done", until, "switch"))


def test_rollback_deadline_soon_from_15_minutes_before_it(plan):
    events = all_done(4)
    fifteen = (DEADLINE - T0).total_seconds() / 60 - 15
    assert codes(clock_at(plan, events, fifteen - 1 / 60)) == []
    assert codes(clock_at(plan, events, fifteen)) == ["rollback-deadline-soon"]
    assert codes(clock_at(plan, events, 195)) == ["rollback-deadline-soon"]   # at the deadline
    soon = clock_at(plan, events, fifteen).warnings[0].message
    assert soon == "rollback deadline in 15m (Tue 8 Sep 00:15 NZST (Mon 7 Sep 12:15 UTC))"


def test_rollback_deadline_warning_follows_the_plan_key(write_plan):
    plan = load_plan(write_plan(PLAN.replace("phases:", "alerts: {rollback_deadline_warning: "
                                                        "1h}\nphases:")))
    assert codes(clock_at(plan, all_done(4), 135)) == ["rollback-deadline-soon"]
    assert codes(clock_at(plan, all_done(4), 134.9)) == []


def test_rollback_deadline_passed_just_after_it(plan):
    events = all_done(4)
    assert codes(clock_at(plan, events, 195 + 1 / 60)) == ["rollback-deadline-passed"]
    clock = clock_at(plan, events, 200)
    assert clock.to_dict()["minutes_to_rollback_deadline"] == -5.0
    assert clock.warnings[0].message.startswith("rollback deadline passed 5m ago (Tue 8 Sep "
                                                "00:15 NZST")


def test_forecast_past_rollback_deadline_when_the_steps_end_after_it(plan):
    # hot started at 0:35 after freeze; 2h -> 2:35, switch to 2:45: fits (deadline 3:15).
    # Started at 1:05 instead: switch ends at 3:15 exactly (fits); at 1:06, 3:16 (does not).
    base = [("step-start", 0, "freeze"), ("step-done", 30, "freeze")]
    fits = clock_at(plan, log(*base, ("step-start", 65, "hot"), ("step-skip", 65, "cold")), 66)
    assert fits.forecast_end == DEADLINE and codes(fits) == []
    late = clock_at(plan, log(*base, ("step-start", 66, "hot"), ("step-skip", 66, "cold")), 67)
    assert late.forecast_end == DEADLINE + timedelta(minutes=1)
    assert codes(late) == ["forecast-past-rollback-deadline"]
    assert late.warnings[0].message == (
        "steps forecast to finish at Tue 8 Sep 00:16 NZST (Mon 7 Sep 12:16 UTC), 1m after the "
        "rollback deadline: decide now")


def test_window_end_passed_in_progress_and_rolling_back(plan):
    events = all_done(4)
    assert "window-end-passed" not in codes(clock_at(plan, events, 240))
    assert codes(clock_at(plan, events, 240 + 1 / 60)) == ["rollback-deadline-passed",
                                                           "window-end-passed"]
    rolling = events + [ev(20, "rollback", 200)]
    assert codes(clock_at(plan, rolling, 239)) == []
    assert codes(clock_at(plan, rolling, 241)) == ["window-end-passed"]


def test_start_missed_for_a_planned_or_approved_phase_once_its_window_began(plan):
    assert codes(clocks(plan, [], at(0))["db"]) == []
    assert codes(clocks(plan, [], at(1 / 60))["db"]) == ["start-missed"]
    approved = [ev(1, "go", -10)]
    assert codes(clocks(plan, approved, at(5))["db"]) == ["start-missed"]
    held = [ev(1, "no-go", -10)]
    assert codes(clocks(plan, held, at(5))["db"]) == []
    assert codes(clocks(plan, log(), at(5))["db"]) == []       # started: not missed


def test_step_timeline_spec_matches_plotly_and_shares_the_figure_config(plan):
    import plotly.graph_objects as go

    from migration_runbook import step_timeline, timeline

    assert step_timeline.PLOTLY_CONFIG == timeline.PLOTLY_CONFIG
    events = log(("step-start", 0, "freeze"), ("step-failed", 5, "freeze"),
                 ("step-start", 6, "freeze"), ("step-done", 30, "freeze"),
                 ("step-skip", 31, "cold"), ("step-start", 31, "hot"))
    runs = replay_steps(plan, events).runs
    spec = step_timeline.figure(plan, plan.phase("db"), runs, now=at(40))
    figure = go.Figure(spec)          # plotly validates every key of the spec
    bars = {t.name: len(t.y) for t in figure.data}
    assert bars == {"planned, critical path": 3, "planned": 1, "actual: done": 1,
                    "actual: failed": 1, "actual: running": 1, "skipped": 1}
    assert [s["name"] for s in spec["layout"]["shapes"]] == ["rollback deadline", "now"]


# --- the chance of fitting ----------------------------------------------------------------

def test_fixed_estimates_give_the_forecast_as_a_certainty_without_drawing(plan):
    from migration_runbook.clock import fit
    from migration_runbook.risk import fit_probability

    base = [("step-start", 0, "freeze"), ("step-done", 30, "freeze")]
    for hot, minute, expected in ((65, 66, 1.0), (66, 67, 0.0), (40, 200, 0.0)):
        events = log(*base, ("step-start", hot, "hot"), ("step-skip", hot, "cold"))
        clock = clock_at(plan, events, minute)
        assert clock.p_before_rollback_deadline == expected
        # The same figure the Monte Carlo draws.
        assert fit(plan, plan.phase("db"), clock) == fit_probability(plan, plan.phase("db"),
                                                                      clock) == expected
    assert clocks(plan, [], at(5))["db"].p_before_rollback_deadline is None   # not started


def test_fit_at_risk_below_the_plan_key_and_not_beside_a_worse_warning(write_plan):
    # hot (60, 120, 360) from 0:35, freeze done at 0:30, cold skipped: at 1:00 the steps end
    # by 3:15 if hot takes at most 150: P = 1 - 210² / (300 · 240) = 0.3875 (the likely
    # forecast, hot to 2:35 and switch to 2:45, fits).
    text = PLAN.replace("duration: 2h", "low: 1h, duration: 2h, high: 6h")
    events = log(("step-start", 0, "freeze"), ("step-done", 30, "freeze"),
                 ("step-start", 35, "hot"), ("step-skip", 35, "cold"))
    plan = load_plan(write_plan(text))
    clock = clock_at(plan, events, 60)
    assert clock.p_before_rollback_deadline == pytest.approx(1 - 210 ** 2 / 72000, abs=0.045)
    assert codes(clock) == ["fit-at-risk"]
    assert clock.to_dict()["p_before_rollback_deadline"] == clock.p_before_rollback_deadline
    relaxed = load_plan(write_plan(text.replace("phases:", "alerts: {fit_probability_warning: "
                                                           "0.3}\nphases:")))
    assert codes(clock_at(relaxed, events, 60)) == []
    # Past the deadline (hot forecast to end now), the warnings already say it will not fit.
    assert codes(clock_at(plan, events, 200)) == ["rollback-deadline-passed",
                                                  "forecast-past-rollback-deadline"]
