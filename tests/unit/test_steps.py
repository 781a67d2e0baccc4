"""The step graph: default ids and `after`, validation, order, critical path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from migration_runbook.errors import PlanInvalid
from migration_runbook.plan import load_plan, steps_frame
from migration_runbook.steps import resolve
from tests.unit.test_plan import line_of, phase, plan_text, problems

PARALLEL = """steps:
  - {id: freeze, name: Freeze writes, duration: 30m}
  - {id: cold, name: Copy cold tables, duration: 60m, after: [freeze]}
  - {id: hot, name: Copy hot tables, duration: 2h, after: [freeze]}
  - {id: switch, name: Switch over, duration: 10m, after: [cold, hot]}
"""
"""Sum 3h 40m; critical path freeze -> hot -> switch, 2h 40m."""


def test_steps_without_ids_are_a_chain_numbered_by_position(write_plan):
    steps = "steps:\n  - {name: a, duration: 10m}\n  - {name: b, duration: 20m}\n" \
            "  - {name: c, duration: 5m}"
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", steps)))
    graph = load_plan(path).phase("a").graph
    assert graph.ids == ["1", "2", "3"]
    assert [s.after for s in graph.steps] == [(), ("1",), ("2",)]
    assert graph.critical_path() == ["1", "2", "3"]
    assert graph.length() == timedelta(minutes=35)


def test_a_plan_whose_steps_sum_past_the_rollback_deadline_is_valid_when_its_critical_path_fits(
        write_plan):
    # 4h window, 45m rollback: deadline at 3h 15m. Sum 3h 40m is past it; the path 2h 40m fits.
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", PARALLEL,
                                      rollback="45m")))
    found = load_plan(path).phase("a")
    assert found.steps_duration + found.rollback.duration > found.duration
    assert found.graph.critical_path() == ["freeze", "hot", "switch"]
    assert found.critical_path_duration == timedelta(hours=2, minutes=40)


def test_a_critical_path_that_does_not_fit_is_refused_naming_the_path(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 00:00", PARALLEL,
                                      rollback="45m")))
    assert problems(path) == [
        f"{path}:{line_of(path, 'steps:')}: phase 'a': steps (critical path freeze -> hot -> "
        "switch: 2h 40m) plus rollback (45m) do not fit in the 3h window"]


def test_after_empty_starts_with_the_window(write_plan):
    steps = "steps:\n  - {name: a, duration: 60m}\n  - {name: b, duration: 90m, after: []}"
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", steps)))
    plan = load_plan(path)
    frame = steps_frame(plan).set_index("id")
    start = datetime(2020, 9, 7, 9, 0, tzinfo=UTC)
    assert frame.loc["2", "planned_start_utc"] == start
    assert frame.loc["1", "planned_start_utc"] == start
    assert plan.phase("a").graph.critical_path() == ["2"]
    assert list(frame["critical"]) == [False, True]


def test_numbers_are_ids_as_text(write_plan):
    steps = "steps:\n  - {name: a, duration: 10m}\n  - {name: b, duration: 10m, after: []}\n" \
            "  - {name: c, duration: 10m, after: [1, 2]}"
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", steps)))
    assert load_plan(path).phase("a").graph.by_id["3"].after == ("1", "2")


def test_unknown_step_in_after_is_refused_naming_the_steps(write_plan):
    steps = PARALLEL.replace("after: [cold, hot]", "after: [cld, hot]")
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", steps)))
    assert problems(path) == [
        f"{path}:{line_of(path, 'cld')}: phase 'a': step 'switch' comes after unknown step "
        "'cld' (steps: freeze, cold, hot, switch)"]


def test_duplicate_step_id_is_refused(write_plan):
    steps = PARALLEL.replace("id: hot", "id: cold")
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", steps)))
    assert problems(path) == [
        f"{path}:{line_of(path, 'Copy hot')}: phase 'a': duplicate step id 'cold' (also "
        "step #2)",
        f"{path}:{line_of(path, 'Switch over')}: phase 'a': step 'switch' comes after unknown "
        "step 'hot' (steps: freeze, cold, switch)"]


def test_step_after_itself_is_refused(write_plan):
    steps = PARALLEL.replace("after: [cold, hot]", "after: [switch]")
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", steps)))
    assert problems(path) == [
        f"{path}:{line_of(path, 'Switch over')}: phase 'a': step 'switch' cannot come after "
        "itself"]


def test_step_cycle_is_refused_showing_the_cycle(write_plan):
    steps = PARALLEL.replace("after: [freeze]}\n  - {id: hot", "after: [hot]}\n  - {id: hot") \
        .replace("Copy hot tables, duration: 2h, after: [freeze]",
                 "Copy hot tables, duration: 2h, after: [freeze, cold]")
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", steps)))
    assert problems(path) == [
        f"{path}:{line_of(path, 'Copy cold')}: phase 'a': step cycle: cold -> hot -> cold "
        "(each comes after the next)"]


def test_bad_step_id_is_refused(write_plan):
    steps = "steps:\n  - {id: 'a b', name: a, duration: 10m}"
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", steps)))
    assert "steps.id 'a b' must be letters, digits and '-'" in problems(path)[0]


def test_order_puts_each_step_after_what_it_waits_for_ties_in_plan_order():
    graph, found = resolve([
        {"id": "z", "name": "z", "duration": timedelta(minutes=5), "after": ["y"]},
        {"id": "y", "name": "y", "duration": timedelta(minutes=5), "after": []},
        {"id": "x", "name": "x", "duration": timedelta(minutes=5), "after": []},
    ])
    assert found == [] and graph.order == ("y", "z", "x")


@pytest.mark.parametrize("durations, path", [
    ({}, ["freeze", "hot", "switch"]),
    ({"cold": timedelta(hours=3)}, ["freeze", "cold", "switch"]),
])
def test_critical_path_follows_the_durations_given(durations, path):
    graph, _ = resolve([
        {"id": "freeze", "name": "f", "duration": timedelta(minutes=30)},
        {"id": "cold", "name": "c", "duration": timedelta(hours=1), "after": ["freeze"]},
        {"id": "hot", "name": "h", "duration": timedelta(hours=2), "after": ["freeze"]},
        {"id": "switch", "name": "s", "duration": timedelta(minutes=10),
         "after": ["cold", "hot"]},
    ])
    assert graph.critical_path(durations) == path


def test_no_steps_no_path(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00")))
    graph = load_plan(path).phase("a").graph
    assert graph.critical_path() == [] and graph.length() == timedelta()


def test_alerts_rollback_deadline_warning_defaults_to_15_minutes_and_is_a_duration(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00")))
    assert load_plan(path).alerts.rollback_deadline_warning == timedelta(minutes=15)
    text = plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00")).replace(
        "phases:", "alerts: {rollback_deadline_warning: 30m}\nphases:")
    assert load_plan(write_plan(text)).alerts.rollback_deadline_warning == \
        timedelta(minutes=30)
    with pytest.raises(PlanInvalid, match="alerts.rollback_deadline_warning"):
        load_plan(write_plan(text.replace("30m", "soon")))
