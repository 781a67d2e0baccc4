"""The plan: YAML -> validated model -> pandas frames, and one test per validation rule."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from migration_runbook.errors import PlanError, PlanInvalid, RunbookError
from migration_runbook.plan import (
    LEVELS,
    impacts_frame,
    load_plan,
    load_plan_with_warnings,
    phases_frame,
    schedule_rows,
    steps_frame,
)
from tests.conftest import EXAMPLE, EXAMPLE_AUGUST

HEAD = """\
id: test-plan
title: Test plan
timezone: {zone}
services:
  - {{id: api, name: REST API}}
  - {{id: web, name: Web interface}}
phases:
"""


def phase(pid: str, start: str, end: str, extra: str = "", rollback: str = "30m") -> str:
    """A phase entry for HEAD's `phases:` list; `extra` lines are indented like its keys."""
    lines = [f"  - id: {pid}", f"    name: Phase {pid}", f"    start: {start}",
             f"    end: {end}", f"    rollback: {{duration: {rollback}, plan: Undo {pid}.}}"]
    lines += [f"    {line}" for line in extra.strip("\n").splitlines() if extra.strip()]
    return "\n".join(lines) + "\n"


def plan_text(*phases: str, zone: str = "Pacific/Auckland") -> str:
    return HEAD.format(zone=zone) + "".join(phases)


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """The 1-based line of the `nth` line of `path` that contains `needle`."""
    hits = [n for n, line in enumerate(path.read_text().splitlines(), start=1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} not in {path}"
    return hits[nth - 1]


def problems(path: Path) -> list[str]:
    """The error lines loading `path` gives (the test fails if it loads)."""
    with pytest.raises(PlanInvalid) as refused:
        load_plan(path)
    lines = refused.value.lines()
    assert all("\n" not in line and line.startswith(f"{path}:") for line in lines), lines
    return lines


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- the example plans ------------------------------------------------------------------

def test_example_plan_windows_are_the_seeds_09_to_13_utc_on_7_to_10_september_2020():
    plan = load_plan(EXAMPLE)
    assert [p.id for p in plan.phases] == ["carrier-connections", "messaging-core",
                                           "web-interface", "api-endpoints"]
    assert [(p.start, p.end) for p in plan.phases] == [
        (utc(2020, 9, day, 9), utc(2020, 9, day, 13)) for day in (7, 8, 9, 10)]
    assert all(p.duration == timedelta(hours=4) for p in plan.phases)


def test_example_plan_model_has_the_seeds_facts():
    plan = load_plan(EXAMPLE)
    assert plan.id == "omni-hosting-2020" and plan.revision == 2
    assert plan.zone.key == "Pacific/Auckland"
    assert [p.depends_on for p in plan.phases] == [
        [], ["carrier-connections"], ["messaging-core"], ["web-interface"]]
    core = plan.phase("messaging-core")
    assert core.worst_level == "unavailable"
    assert {i.service: i.level for i in core.impacts}["api"] == "unavailable"
    assert core.rollback.duration == timedelta(hours=1)
    assert core.rollback_deadline == utc(2020, 9, 8, 12)
    assert plan.phase("carrier-connections").worst_level == "delayed"
    assert plan.communications.reminder_before == timedelta(hours=1)
    assert plan.description.startswith("Omni moves")
    assert plan.start == utc(2020, 9, 7, 9) and plan.end == utc(2020, 9, 10, 13)


def test_august_plan_is_the_earlier_22_to_02_nzst_schedule():
    plan = load_plan(EXAMPLE_AUGUST)
    assert [(p.start, p.end) for p in plan.phases] == [
        (utc(2020, 8, day, 10), utc(2020, 8, day, 14)) for day in (17, 18, 19, 20)]


def test_example_plans_have_no_warnings():
    for path in (EXAMPLE, EXAMPLE_AUGUST):
        assert load_plan_with_warnings(path)[1] == []


def test_unknown_phase_is_a_plan_error_naming_the_phases():
    with pytest.raises(PlanError, match="no phase 'nope' .*carrier-connections"):
        load_plan(EXAMPLE).phase("nope")


# --- frames -----------------------------------------------------------------------------

def test_phases_frame_has_one_row_a_phase_in_utc_and_local_time():
    frame = phases_frame(load_plan(EXAMPLE))
    assert list(frame["id"]) == ["carrier-connections", "messaging-core", "web-interface",
                                 "api-endpoints"]
    for column in ("id", "name", "start_utc", "end_utc", "start_local", "end_local",
                   "duration", "depends_on", "rollback_duration", "rollback_deadline_utc"):
        assert column in frame.columns
    first = frame.iloc[0]
    assert first["start_utc"] == pd.Timestamp("2020-09-07 09:00", tz="UTC")
    assert first["end_utc"] == pd.Timestamp("2020-09-07 13:00", tz="UTC")
    assert first["start_local"] == pd.Timestamp("2020-09-07 21:00", tz="Pacific/Auckland")
    assert str(frame["start_local"].dt.tz) == "Pacific/Auckland"
    assert first["start_abbrev"] == "NZST"
    assert first["duration"] == pd.Timedelta(hours=4)
    assert first["duration_minutes"] == 240
    assert first["rollback_duration"] == pd.Timedelta(minutes=45)
    # rollback deadline = end - rollback duration
    assert (frame["rollback_deadline_utc"] == frame["end_utc"] - frame["rollback_duration"]).all()
    assert first["rollback_deadline_utc"] == pd.Timestamp("2020-09-07 12:15", tz="UTC")
    assert list(frame["depends_on"]) == [[], ["carrier-connections"], ["messaging-core"],
                                         ["web-interface"]]
    assert list(frame["order"]) == [1, 2, 3, 4]


def test_phases_frame_in_another_display_zone_keeps_the_same_instants():
    plan = load_plan(EXAMPLE)
    frame = phases_frame(plan, tz="America/New_York")
    first = frame.iloc[0]
    assert first["start_local"] == pd.Timestamp("2020-09-07 05:00", tz="America/New_York")
    assert first["start_abbrev"] == "EDT"
    assert (frame["start_utc"] == phases_frame(plan)["start_utc"]).all()


def test_impacts_frame_has_one_row_a_phase_service_level_and_detail():
    plan = load_plan(EXAMPLE)
    frame = impacts_frame(plan)
    assert len(frame) == sum(len(p.impacts) for p in plan.phases) == 16
    assert list(frame.columns[:6]) == ["phase", "phase_name", "service", "service_name",
                                       "level", "detail"]
    row = frame[(frame["phase"] == "messaging-core") & (frame["service"] == "api")].iloc[0]
    assert row["level"] == "unavailable" and row["service_name"] == "REST API"
    assert row["detail"] == "The API will be unavailable during the migration."
    assert set(frame["level"]) <= set(LEVELS)


def test_steps_frame_plans_steps_back_to_back_from_the_window_start():
    plan = load_plan(EXAMPLE)
    frame = steps_frame(plan)
    assert len(frame) == sum(len(p.steps) for p in plan.phases)
    first = frame[frame["phase"] == "carrier-connections"]
    assert list(first["order"]) == [1, 2, 3, 4, 5, 6]
    assert first.iloc[0]["planned_start_utc"] == pd.Timestamp("2020-09-07 09:00", tz="UTC")
    assert (first["planned_start_utc"].iloc[1:].to_numpy()
            == first["planned_end_utc"].iloc[:-1].to_numpy()).all()
    assert first.iloc[0]["owner"] == "network team"
    assert first["duration_minutes"].sum() == 175


def test_frames_of_a_plan_without_impacts_or_steps_are_empty_with_their_columns(write_plan):
    plan = load_plan(write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00"))))
    assert impacts_frame(plan).empty and "level" in impacts_frame(plan).columns
    assert steps_frame(plan).empty and "planned_start_utc" in steps_frame(plan).columns


def test_schedule_rows_carry_the_json_contract_fields():
    rows = schedule_rows(load_plan(EXAMPLE))
    assert {"id", "name", "start", "end", "start_utc", "end_utc", "duration_minutes",
            "depends_on", "impacts", "rollback_deadline_utc"} <= set(rows[0])
    assert rows[0]["start"] == "2020-09-07T21:00+12:00"
    assert rows[0]["start_utc"] == "2020-09-07T09:00:00Z"
    assert rows[0]["rollback_deadline_utc"] == "2020-09-07T12:15:00Z"
    assert rows[1]["impacts"][0] == {"service": "api", "service_name": "REST API",
                                     "level": "unavailable",
                                     "detail": "The API will be unavailable during the "
                                               "migration."}


# --- windows across DST -----------------------------------------------------------------

@pytest.mark.parametrize("zone, start, end, start_utc, end_utc, hours, abbrevs", [
    # NZ springs forward 02:00 NZST -> 03:00 NZDT on 27 Sep 2020: 6 h on the clock, 5 real.
    ("Pacific/Auckland", "2020-09-26 23:00", "2020-09-27 05:00",
     utc(2020, 9, 26, 11), utc(2020, 9, 26, 16), 5, ("NZST", "NZDT")),
    # NZ falls back 03:00 NZDT -> 02:00 NZST on 4 Apr 2021: 6 h on the clock, 7 real.
    ("Pacific/Auckland", "2021-04-03 23:00", "2021-04-04 05:00",
     utc(2021, 4, 3, 10), utc(2021, 4, 3, 17), 7, ("NZDT", "NZST")),
    ("Europe/London", "2021-03-28 00:00", "2021-03-28 04:00",
     utc(2021, 3, 28, 0), utc(2021, 3, 28, 3), 3, ("GMT", "BST")),
    ("Europe/London", "2021-10-31 00:00", "2021-10-31 04:00",
     utc(2021, 10, 30, 23), utc(2021, 10, 31, 4), 5, ("BST", "GMT")),
    ("America/New_York", "2021-03-14 00:00", "2021-03-14 04:00",
     utc(2021, 3, 14, 5), utc(2021, 3, 14, 8), 3, ("EST", "EDT")),
    ("America/New_York", "2021-11-07 00:00", "2021-11-07 04:00",
     utc(2021, 11, 7, 4), utc(2021, 11, 7, 9), 5, ("EDT", "EST")),
])
def test_window_across_a_dst_change_has_its_real_duration_and_right_utc_times(
        write_plan, zone, start, end, start_utc, end_utc, hours, abbrevs):
    plan = load_plan(write_plan(plan_text(phase("a", start, end), zone=zone)))
    window = plan.phase("a")
    assert (window.start, window.end) == (start_utc, end_utc)
    assert window.duration == timedelta(hours=hours)
    row = phases_frame(plan).iloc[0]
    assert row["duration_minutes"] == hours * 60
    assert (row["start_abbrev"], row["end_abbrev"]) == abbrevs
    assert row["rollback_deadline_utc"] == pd.Timestamp(end_utc - timedelta(minutes=30))
    assert schedule_rows(plan)[0]["duration_minutes"] == hours * 60


def test_steps_fit_is_judged_on_real_time_not_the_clock_face(write_plan):
    # 01:00 NZDT to 04:00 NZST on 4 Apr 2021 is 3 h on the clock but 4 real hours
    # (02:00-03:00 happens twice): 3h15m of steps and 30m of rollback fit.
    steps = "steps:\n  - {name: long, duration: 3h15m}"
    path = write_plan(plan_text(phase("a", "2021-04-04T01:00+13:00", "2021-04-04 04:00",
                                      steps)))
    assert load_plan(path).phase("a").duration == timedelta(hours=4)


# --- one test per validation rule -------------------------------------------------------

def test_unknown_key_is_refused_with_a_suggestion(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00",
                                      "depend_on: []")))
    assert problems(path) == [f"{path}:{line_of(path, 'depend_on')}: phase 'a': unknown key "
                              "'depend_on' (did you mean 'depends_on'?)"]


def test_unknown_key_at_top_level_and_in_a_step_lists_the_allowed_keys(write_plan):
    path = write_plan("colour: blue\n" + plan_text(phase(
        "a", "2020-09-07 21:00", "2020-09-08 01:00",
        "steps:\n  - {name: s, duration: 5m, priority: 1}")))
    assert problems(path) == [
        f"{path}:1: unknown key 'colour' (allowed here: id, title, timezone, revision, "
        "description, services, phases, communications, team, approvals, allowed_signers, "
        "alerts, estimates)",
        f"{path}:{line_of(path, 'priority')}: phase 'a': unknown key 'priority' (allowed "
        "here: id, name, owner, duration, after, low, high)"]


def test_missing_required_keys_are_each_named(write_plan):
    text = plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00")).replace(
        "title: Test plan\n", "").replace("    rollback: {duration: 30m, plan: Undo a.}\n", "")
    path = write_plan(text)
    assert problems(path) == [
        f"{path}:1: missing required key 'title'",
        f"{path}:{line_of(path, '- id: a')}: phase 'a': missing required key 'rollback'"]


def test_missing_key_inside_a_step_points_at_the_step(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00",
                                      "steps:\n  - name: no duration")))
    assert problems(path) == [f"{path}:{line_of(path, 'no duration')}: phase 'a': missing "
                              "required key 'duration'"]


def test_duplicate_phase_id_is_refused(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00"),
                                phase("a", "2020-09-08 21:00", "2020-09-09 01:00")))
    assert problems(path) == [f"{path}:{line_of(path, '- id: a', 2)}: phase 'a': duplicate "
                              "phase id 'a' (also phase #1)"]


def test_duplicate_service_id_is_refused(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00")).replace(
        "phases:\n", "  - {id: api, name: Another API}\nphases:\n"))
    assert problems(path) == [f"{path}:{line_of(path, 'Another API')}: duplicate service id "
                              "'api' (also service #1)"]


def test_unknown_service_is_refused_naming_the_known_ones(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00",
                                      "impacts:\n  - {service: sms, level: delayed}")))
    assert problems(path) == [f"{path}:{line_of(path, 'service: sms')}: phase 'a': unknown "
                              "service 'sms' (services: api, web)"]


def test_service_listed_twice_in_one_phase_is_refused(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", """
impacts:
  - {service: api, level: delayed}
  - {service: api, level: degraded}""")))
    assert problems(path) == [f"{path}:{line_of(path, 'level: degraded')}: phase 'a': service "
                              "'api' is listed twice"]


def test_unknown_dependency_is_refused(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00",
                                      "depends_on:\n  - carrier")))
    assert problems(path) == [f"{path}:{line_of(path, '- carrier')}: phase 'a': depends on "
                              "unknown phase 'carrier'"]


def test_dependency_on_itself_is_refused(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00",
                                      "depends_on: [a]")))
    assert problems(path) == [f"{path}:{line_of(path, 'depends_on')}: phase 'a': a phase "
                              "cannot depend on itself"]


def test_dependency_cycle_is_refused_showing_the_cycle(write_plan):
    path = write_plan(plan_text(
        phase("a", "2020-09-07 21:00", "2020-09-08 01:00", "depends_on: [c]"),
        phase("b", "2020-09-08 21:00", "2020-09-09 01:00", "depends_on: [a]"),
        phase("c", "2020-09-09 21:00", "2020-09-10 01:00", "depends_on: [b]")))
    assert problems(path) == [f"{path}:{line_of(path, 'depends_on: [c]')}: phase 'a': "
                              "dependency cycle: a -> c -> b -> a (each depends on the next)"]


def test_end_not_after_start_is_refused(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-08 01:00", "2020-09-07 21:00")))
    assert problems(path) == [
        f"{path}:{line_of(path, 'end:')}: phase 'a': end must be after start (the window is "
        "Tue 8 Sep 01:00 NZST to Mon 7 Sep 21:00 NZST)"]


def test_end_equal_to_start_is_refused(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-07T21:00+12:00")))
    assert "end must be after start" in problems(path)[0]


def test_local_time_in_a_dst_gap_is_refused(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-27 02:30", "2020-09-27 06:00")))
    assert problems(path) == [
        f"{path}:{line_of(path, 'start:')}: phase 'a': start: 2020-09-27 02:30 does not exist "
        "in Pacific/Auckland (clocks skip it for daylight saving)"]


def test_ambiguous_local_time_in_a_dst_overlap_is_refused_without_an_offset(write_plan):
    path = write_plan(plan_text(phase("a", "2021-04-03 23:00", "2021-04-04 02:30")))
    assert problems(path) == [
        f"{path}:{line_of(path, 'end:')}: phase 'a': end: 2021-04-04 02:30 happens twice in "
        "Pacific/Auckland (daylight saving ends); write it with its offset, e.g. "
        "2021-04-04T02:30+13:00 or 2021-04-04T02:30+12:00"]


@pytest.mark.parametrize("offset, end_utc, hours", [("+13:00", utc(2021, 4, 3, 13, 30), 3.5),
                                                    ("+12:00", utc(2021, 4, 3, 14, 30), 4.5)])
def test_ambiguous_local_time_is_accepted_with_its_offset(write_plan, offset, end_utc, hours):
    path = write_plan(plan_text(phase("a", "2021-04-03 23:00", f"2021-04-04T02:30{offset}")))
    window = load_plan(path).phase("a")
    assert window.end == end_utc
    assert window.duration == timedelta(hours=hours)


def test_offset_disagreeing_with_the_zone_is_refused(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07T21:00+13:00", "2020-09-08 01:00")))
    assert problems(path) == [
        f"{path}:{line_of(path, 'start:')}: phase 'a': start: offset +13:00 of "
        "'2020-09-07T21:00+13:00' disagrees with Pacific/Auckland, which is +12:00 (NZST) at "
        "that moment; write 2020-09-07T20:00+12:00, or the local time without an offset"]


def test_offset_agreeing_with_the_zone_is_accepted(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07T21:00+12:00", "2020-09-08T01:00+12:00")))
    assert load_plan(path).phase("a").start == utc(2020, 9, 7, 9)


def test_unknown_impact_level_is_refused_listing_the_levels(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00",
                                      "impacts:\n  - {service: api, level: slow}")))
    assert problems(path) == [
        f"{path}:{line_of(path, 'level: slow')}: phase 'a': unknown impact level 'slow' (use "
        "one of unavailable, degraded, delayed, unaffected)"]


def test_steps_plus_rollback_that_do_not_fit_the_window_are_refused(write_plan):
    steps = "steps:\n  - {name: one, duration: 2h}\n  - {name: two, duration: 1h30m}"
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", steps,
                                      rollback="45m")))
    assert problems(path) == [f"{path}:{line_of(path, 'steps:')}: phase 'a': steps (3h 30m) "
                              "plus rollback (45m) do not fit in the 4h window"]


def test_steps_plus_rollback_that_exactly_fill_the_window_are_accepted(write_plan):
    steps = "steps:\n  - {name: one, duration: 3h15m}"
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", steps,
                                      rollback="45m")))
    assert load_plan(path).phase("a").rollback_deadline == utc(2020, 9, 7, 12, 15)


def test_rollback_alone_longer_than_the_window_points_at_the_rollback(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-07 22:00",
                                      rollback="90m")))
    assert problems(path) == [f"{path}:{line_of(path, 'rollback:')}: phase 'a': steps (0m) "
                              "plus rollback (1h 30m) do not fit in the 1h window"]


def test_steps_fit_uses_real_time_across_nz_spring_forward(write_plan):
    # 23:00 NZST to 05:00 NZDT is 6 h on the clock but 5 h real: 4h30m + 45m does not fit.
    steps = "steps:\n  - {name: one, duration: 4h30m}"
    path = write_plan(plan_text(phase("a", "2020-09-26 23:00", "2020-09-27 05:00", steps,
                                      rollback="45m")))
    assert problems(path) == [f"{path}:{line_of(path, 'steps:')}: phase 'a': steps (4h 30m) "
                              "plus rollback (45m) do not fit in the 5h window"]


def test_overlapping_window_of_a_dependent_phase_is_an_error(write_plan):
    path = write_plan(plan_text(
        phase("a", "2020-09-07 21:00", "2020-09-08 01:00"),
        phase("b", "2020-09-07 23:00", "2020-09-08 03:00", "depends_on: [a]")))
    assert problems(path) == [
        f"{path}:{line_of(path, 'start:', 2)}: phase 'b': starts before 'a', which it depends "
        "on, ends; it must start at or after Tue 8 Sep 01:00 NZST (Mon 7 Sep 13:00 UTC)"]


def test_overlap_with_an_indirect_dependency_is_an_error_too(write_plan):
    path = write_plan(plan_text(
        phase("a", "2020-09-07 21:00", "2020-09-08 03:00"),
        phase("b", "2020-09-07 22:00", "2020-09-07 23:00", "depends_on: [a]"),
        phase("c", "2020-09-08 00:00", "2020-09-08 04:00", "depends_on: [b]")))
    lines = problems(path)
    assert lines == [
        f"{path}:{line_of(path, 'start:', 2)}: phase 'b': starts before 'a', which it depends "
        "on, ends; it must start at or after Tue 8 Sep 03:00 NZST (Mon 7 Sep 15:00 UTC)",
        f"{path}:{line_of(path, 'start:', 3)}: phase 'c': starts before 'a', which it depends "
        "on, ends; it must start at or after Tue 8 Sep 03:00 NZST (Mon 7 Sep 15:00 UTC)"]


def test_overlapping_windows_of_independent_phases_are_a_warning(write_plan):
    path = write_plan(plan_text(
        phase("a", "2020-09-07 21:00", "2020-09-08 01:00"),
        phase("b", "2020-09-07 23:00", "2020-09-08 03:00")))
    plan, warnings = load_plan_with_warnings(path)
    assert [p.id for p in plan.phases] == ["a", "b"]
    assert [str(w) for w in warnings] == [
        f"{path}:{line_of(path, 'start:', 2)}: phase 'b': warning: window overlaps independent "
        "phase 'a' (Mon 7 Sep 21:00 NZST to Tue 8 Sep 01:00 NZST)"]


def test_back_to_back_windows_do_not_overlap(write_plan):
    path = write_plan(plan_text(
        phase("a", "2020-09-07 21:00", "2020-09-08 01:00"),
        phase("b", "2020-09-08 01:00", "2020-09-08 03:00", "depends_on: [a]"),
        phase("c", "2020-09-08 03:00", "2020-09-08 04:00")))
    assert load_plan_with_warnings(path)[1] == []


@pytest.mark.parametrize("duration, message", [
    ("45 minutes", "invalid duration '45 minutes' (write e.g. 45m, 1h30m or PT45M)"),
    ("1.5h", "invalid duration '1.5h' (write e.g. 45m, 1h30m or PT45M)"),
    ("-5", "invalid duration -5 (a number is minutes and must not be negative)"),
    (".nan", "invalid duration nan (a number of minutes must be finite)"),
    ("99999999999999999", "duration 99999999999999999 minutes is longer than 366 days"),
    ("[5m]", "invalid duration ['5m'] (write e.g. 45m, 1h30m or PT45M)"),
    ("", "invalid duration None (write e.g. 45m, 1h30m or PT45M)"),
])
def test_bad_durations_are_refused(write_plan, duration, message):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00",
                                      f"steps:\n  - name: s\n    duration: {duration}")))
    assert problems(path) == [f"{path}:{line_of(path, 'duration:', 2)}: phase 'a': "
                              f"steps.duration: {message}"]


def test_bad_rollback_duration_names_the_field(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00",
                                      rollback="soon")))
    assert problems(path) == [f"{path}:{line_of(path, 'rollback:')}: phase 'a': "
                              "rollback.duration: invalid duration 'soon' (write e.g. 45m, "
                              "1h30m or PT45M)"]


def test_unknown_zone_is_refused_once_not_again_for_every_time(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07T21:00+12:00", "2020-09-08 01:00"),
                                zone="Pacific/Atlantis"))
    assert problems(path) == [f"{path}:3: timezone: unknown time zone 'Pacific/Atlantis' (use "
                              "an IANA name such as 'Pacific/Auckland')"]


def test_yaml_syntax_error_names_its_line(write_plan):
    text = plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00")).replace(
        "    name: Phase a", "   name: Phase a")
    path = write_plan(text)
    (line,) = problems(path)
    assert line.startswith(f"{path}:{line_of(path, 'name: Phase a')}: YAML: ")


def test_unclosed_quote_is_a_yaml_error_not_a_traceback(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00")).replace(
        "title: Test plan", 'title: "Test plan'))
    (line,) = problems(path)
    assert re.match(rf"{re.escape(str(path))}:\d+: YAML: ", line)


@pytest.mark.parametrize("value, shown", [
    ("!!python/object/apply:os.system ['touch {marker}']", "!!python/object/apply:os.system"),
    ("!!python/object/new:os.system {{args: ['touch {marker}']}}", "!!python/object/new:os.system"),
    ("!!python/name:os.system", "!!python/name:os.system"),
    ("!!python/object:builtins.dict {{a: 1}}", "!!python/object:builtins.dict"),
    ("!!binary aGVsbG8=", "!!binary"),
    ("!vault secret", "!vault"),
])
def test_python_object_and_other_yaml_tags_are_refused_and_never_run(write_plan, tmp_path,
                                                                      value, shown):
    marker = tmp_path / "ran"
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00")).replace(
        "title: Test plan", f"title: Test plan\ndescription: {value.format(marker=marker)}"))
    assert problems(path) == [f"{path}:3: YAML tag '{shown}' is not allowed: a plan is plain "
                              "YAML (no Python objects or custom types)"]
    assert not marker.exists()


def test_duplicate_yaml_keys_are_refused_at_the_second(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00",
                                      "end: 2020-09-08 02:00")))
    assert problems(path) == [f"{path}:{line_of(path, 'end:', 2)}: phase 'a': duplicate key "
                              f"'end' (first on line {line_of(path, 'end:')})"]


def test_a_file_with_several_problems_reports_all_of_them_in_line_order(write_plan):
    path = write_plan(plan_text(
        phase("a", "2020-09-07 21:00", "2020-09-08 01:00", "impacts:\n"
              "  - {service: sms, level: slow}\nowner: bob"),
        phase("b", "2020-09-27 02:30", "2020-09-27 06:00", "depends_on: [z]"),
        phase("c", "2020-09-09 21:00", "2020-09-09 20:00", rollback="soon"),
    ).replace("title: Test plan\n", ""))
    lines = problems(path)
    expected = [
        (1, "missing required key 'title'"),
        (line_of(path, "service: sms"), "phase 'a': unknown impact level 'slow'"),
        (line_of(path, "service: sms"), "phase 'a': unknown service 'sms'"),
        (line_of(path, "owner: bob"), "phase 'a': unknown key 'owner'"),
        (line_of(path, "02:30"), "phase 'b': start: 2020-09-27 02:30 does not exist"),
        (line_of(path, "depends_on: [z]"), "phase 'b': depends on unknown phase 'z'"),
        (line_of(path, "duration: soon"), "phase 'c': rollback.duration: invalid duration"),
    ]
    assert len(lines) == len(expected), lines
    for line, (number, text) in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}:{number}: {text}"), (line, number, text)


def test_rules_are_checked_across_phases_even_when_one_phase_is_invalid(write_plan):
    path = write_plan(plan_text(
        phase("a", "2020-09-07 21:00", "2020-09-08 01:00", "depends_on: [c]"),
        phase("b", "2020-09-08 21:00", "2020-09-09 01:00", "depends_on: [a]"),
        phase("c", "2020-09-09 21:00", "2020-09-10 01:00", "depends_on: [b, b2]\n"
              "impacts: [{service: api, level: broken}, {service: nope, level: delayed}]")))
    text = "\n".join(problems(path))
    assert "dependency cycle: a -> c -> b -> a" in text
    assert "depends on unknown phase 'b2'" in text
    assert "unknown impact level 'broken'" in text
    assert "unknown service 'nope'" in text


# --- malformed input never escapes as anything but PlanInvalid ---------------------------

@pytest.mark.parametrize("text, line, message", [
    ("- a\n- b\n", 1, "a plan must be a mapping with id, title, timezone, services and phases"),
    ("just text\n", 1, "a plan must be a mapping"),
    ("", 1, "plan is empty"),
    ("# only a comment\n", 1, "plan is empty"),
    ("a: 1\n---\nb: 2\n", 2, "YAML: but found another document"),
])
def test_a_file_that_is_not_a_plan_mapping_is_one_clear_error(write_plan, text, line, message):
    path = write_plan(text)
    (only,) = problems(path)
    assert only.startswith(f"{path}:{line}: {message}")


def test_phases_that_is_a_string_is_refused(write_plan):
    path = write_plan(HEAD.format(zone="UTC").replace("phases:\n", "phases: tonight\n"))
    assert problems(path) == [f"{path}:{line_of(path, 'phases:')}: phases must be a list, not "
                              "'tonight'"]


def test_a_step_that_is_a_string_is_refused(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00",
                                      "steps:\n  - drain the queues")))
    assert problems(path) == [f"{path}:{line_of(path, 'drain')}: phase 'a': each entry of "
                              "steps must be a mapping (id, name, owner, duration, after, "
                              "low, high), not 'drain the queues'"]


def test_a_phase_that_is_not_a_mapping_is_refused_by_number(write_plan):
    path = write_plan(HEAD.format(zone="UTC") + "  - carrier-connections\n")
    (only,) = problems(path)
    assert only.startswith(f"{path}:{line_of(path, '- carrier')}: phase '#1': each phase must "
                           "be a mapping (id, name, ")


def test_numbers_where_text_is_expected_are_refused_asking_for_quotes(write_plan):
    path = write_plan(plan_text(phase("2020", "2020-09-07 21:00", "2020-09-08 01:00"))
                      .replace("title: Test plan", "title: 42"))
    assert problems(path) == [
        f"{path}:2: title must be text, not int 42 (put it in quotes)",
        f"{path}:{line_of(path, '- id: 2020')}: phase '2020': id must be text, not int 2020 "
        "(put it in quotes)"]


def test_empty_values_are_reported_as_empty(write_plan):
    path = write_plan("id:\ntitle:\ntimezone:\nservices:\nphases:\n")
    assert problems(path) == [f"{path}:{n}: {key} is empty" for n, key in
                              enumerate(["id", "title", "timezone", "services", "phases"], 1)]


def test_impossible_date_is_refused(write_plan):
    path = write_plan(plan_text(phase("a", "2020-13-45", "2020-09-08 01:00")))
    assert problems(path) == [
        f"{path}:{line_of(path, 'start:')}: phase 'a': start: invalid time '2020-13-45' (write "
        "'YYYY-MM-DD HH:MM' in the plan's zone, or ISO 8601 with an offset)"]


def test_out_of_range_year_is_refused_not_an_overflow(write_plan):
    path = write_plan(plan_text(phase("a", "0001-01-01 00:00", "0001-01-01 04:00")))
    assert problems(path)[0].endswith("start: time '0001-01-01 00:00' is out of range (years "
                                      "1900 to 9998)")


def test_explicit_yaml_type_that_does_not_parse_is_refused(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00"))
                      .replace("title: Test plan", "title: Test plan\nrevision: !!int two"))
    assert problems(path) == [f"{path}:3: YAML: 'two' is not a valid int"]


def test_keys_are_names_as_written_not_yaml_booleans(write_plan):
    path = write_plan("on: 1\n" + plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00")))
    assert problems(path)[0].startswith(f"{path}:1: unknown key 'on' (allowed here:")


def test_a_key_that_is_a_list_is_refused(write_plan):
    path = write_plan("? [a, b]\n: 1\n" + plan_text(phase("a", "2020-09-07 21:00",
                                                          "2020-09-08 01:00")))
    assert problems(path) == [f"{path}:1: a key must be a plain name, not a list, a mapping or "
                              "a tagged value"]


def test_source_is_not_a_key_a_plan_may_set(write_plan):
    path = write_plan("source: elsewhere.yaml\n" + plan_text(phase("a", "2020-09-07 21:00",
                                                                   "2020-09-08 01:00")))
    assert problems(path) == [f"{path}:1: unknown key 'source'"]
    plan = load_plan(write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00")),
                                name="ok.yaml"))
    assert plan.source.endswith("ok.yaml")


def test_control_character_is_refused_at_its_line(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00"))
                      .replace("title: Test plan", 'title: "Tëst \x01plan"'))
    assert problems(path) == [f"{path}:2: YAML: character #x0001 is not allowed in a plan"]


def test_file_problems_are_plan_errors(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("title: caf\xe9\n".encode("latin-1"))
    for path, message in [(tmp_path / "missing.yaml", "no such plan file"),
                          (tmp_path, "is a folder, not a plan file"),
                          (latin, "is not UTF-8 text")]:
        with pytest.raises(PlanInvalid) as refused:
            load_plan(path)
        assert str(refused.value).startswith(f"{path}: {message}")


def test_billion_laughs_is_refused_quickly_as_too_large(write_plan):
    rows = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"{chr(98 + k)}: &{chr(98 + k)} [" + ", ".join([f"*{chr(97 + k)}"] * 10) + "]"
             for k in range(8)]
    path = write_plan("\n".join(rows) + "\n")
    (only,) = problems(path)
    assert only.endswith("plan is too large to be a migration plan")


def test_deep_nesting_is_refused(write_plan):
    path = write_plan("a:\n" + "".join("  " * i + " b:\n" for i in range(1, 60)))
    (only,) = problems(path)
    assert "nested too deeply" in only


def test_plan_invalid_is_a_runbook_error_so_the_cli_catches_it():
    assert issubclass(PlanInvalid, RunbookError)


# --- YAML conveniences ------------------------------------------------------------------

def test_anchors_and_merge_keys_share_phase_settings(write_plan):
    path = write_plan(HEAD.format(zone="Pacific/Auckland") + """\
  - &night
    id: a
    name: Night one
    start: 2020-09-07 21:00
    end: 2020-09-08 01:00
    rollback: {duration: 30m, plan: Undo.}
    impacts: [{service: api, level: degraded}]
  - <<: *night
    id: b
    name: Night two
    start: 2020-09-08 21:00
    end: 2020-09-09 01:00
    depends_on: [a]
""")
    plan = load_plan(path)
    second = plan.phase("b")
    assert second.name == "Night two" and second.rollback.plan == "Undo."
    assert second.impacts[0].level == "degraded"
    assert second.start == utc(2020, 9, 8, 9)


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + EXAMPLE.read_bytes())
    assert load_plan(path).id == "omni-hosting-2020"


def test_optional_sections_are_read(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", """
description: Moves the carriers.
checks:
  - {name: API health, http: 'http://127.0.0.1:8080/health', timeout: 5s}
  - {name: SMPP port, tcp: 'smpp.example.com:2775'}
  - {name: Queue depth, command: 'true'}""")).replace(
        "title: Test plan\n", "title: Test plan\nrevision: 3\ndescription: Why we move.\n")
        + "communications:\n  sender: Ops\n  reminder_before: 2h\n")
    plan = load_plan(path)
    assert plan.revision == 3 and plan.description == "Why we move."
    checks = plan.phase("a").checks
    assert [(c.kind, c.target) for c in checks] == [
        ("http", "http://127.0.0.1:8080/health"), ("tcp", "smpp.example.com:2775"),
        ("command", "true")]
    assert checks[0].timeout == timedelta(seconds=5)
    assert checks[1].timeout == timedelta(seconds=10)
    assert plan.communications.sender == "Ops"
    assert plan.communications.reminder_before == timedelta(hours=2)


def test_a_check_needs_exactly_one_kind(write_plan):
    path = write_plan(plan_text(phase("a", "2020-09-07 21:00", "2020-09-08 01:00", """
checks:
  - {name: both, http: 'http://x', tcp: 'x:1'}
  - {name: bad tcp, tcp: nohost}""")))
    assert problems(path) == [
        f"{path}:{line_of(path, 'name: both')}: phase 'a': checks: a check needs exactly one "
        "of http, tcp or command",
        f"{path}:{line_of(path, 'bad tcp')}: phase 'a': checks: tcp check 'nohost' must be "
        "host:port"]


def test_ids_must_be_slugs(write_plan):
    path = write_plan(plan_text(phase("a b", "2020-09-07 21:00", "2020-09-08 01:00")))
    assert problems(path) == [f"{path}:{line_of(path, '- id: a b')}: phase 'a b': id 'a b' "
                              "must be letters, digits and '-', starting with a letter or digit"]


# --- the reference stays true -----------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plan-format.md"


def test_the_example_in_the_plan_format_reference_is_a_valid_plan(tmp_path):
    example = re.search(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL).group(1)
    path = tmp_path / "doc-example.yaml"
    path.write_text(example)
    plan, warnings = load_plan_with_warnings(path)
    assert warnings == []
    assert [p.id for p in plan.phases] == ["carrier-connections", "messaging-core"]
    assert plan.phase("carrier-connections").end == utc(2020, 9, 7, 13)


def test_the_plan_format_reference_names_every_key_of_the_model():
    from migration_runbook import plan as model

    text = DOCS.read_text()
    classes = [model.Plan, model.Service, model.Phase, model.Impact, model.Rollback, model.Step,
               model.Check, model.Communications, model.Contact, model.PreviousNotice]
    missing = [f"{cls.__name__}.{key}" for cls in classes for key in cls.model_fields
               if key != "source" and f"`{key}`" not in text and f"{key}," not in text
               and f"{key}}}" not in text]
    assert missing == []
    for level in LEVELS:
        assert f"| `{level}` |" in text


def test_a_remembered_yaml_tag_still_depends_on_the_quotes(tmp_path):
    """`_Loader.resolve` remembers tags by (text, style): 10 stays a number, "10" text,
    however often and in whatever order each appears."""
    from migration_runbook.plan import read_yaml

    path = tmp_path / "values.yaml"
    path.write_text('a: 10\nb: "10"\nc: 10\nd: yes\ne: "yes"\nf: null\ng: "null"\nh: 10\n',
                    encoding="utf-8")
    data, lines, errors = read_yaml(path)
    assert errors == []
    assert data == {"a": 10, "b": "10", "c": 10, "d": True, "e": "yes", "f": None,
                    "g": "null", "h": 10}
    assert lines[("h",)] == 8
