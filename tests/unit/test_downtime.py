"""Downtime arithmetic on hand-computed cases: unions, rollbacks, running attempts, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from migration_runbook import downtime
from migration_runbook.plan import impacts_frame, load_plan

AKL = ZoneInfo("Pacific/Auckland")
LON = ZoneInfo("Europe/London")
NAT = pd.NaT


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def impacts(*rows: tuple) -> pd.DataFrame:
    """(phase, service, level, start, end) rows as `impacts_frame` would give them."""
    return pd.DataFrame([{"phase": p, "phase_name": p, "service": s, "service_name": s.upper(),
                          "level": lv, "detail": "", "start_utc": a, "end_utc": b}
                         for p, s, lv, a, b in rows])


def windows(*rows: tuple) -> pd.DataFrame:
    """(phase, attempt, start, end, outcome) rows as `states.actual_windows` would give them."""
    return pd.DataFrame([{"phase": p, "attempt": n, "start_utc": a, "end_utc": b,
                          "outcome": o, "rollback_start_utc": NAT}
                         for p, n, a, b, o in rows],
                        columns=["phase", "attempt", "start_utc", "end_utc", "outcome",
                                 "rollback_start_utc"])


def row(frame: pd.DataFrame, service: str, level: str) -> pd.Series:
    hit = frame[(frame["service"] == service) & (frame["level"] == level)]
    assert len(hit) == 1, frame
    return hit.iloc[0]


# --- unions ------------------------------------------------------------------------------

def test_overlapping_and_touching_intervals_are_counted_once():
    spans = [(utc(2020, 9, 7, 9), utc(2020, 9, 7, 11)),      # 09-11
             (utc(2020, 9, 7, 10), utc(2020, 9, 7, 12)),     # overlaps: 09-12
             (utc(2020, 9, 7, 12), utc(2020, 9, 7, 12, 30)),  # touches: 09-12:30
             (utc(2020, 9, 7, 9, 15), utc(2020, 9, 7, 9, 45)),  # inside
             (utc(2020, 9, 7, 14), utc(2020, 9, 7, 15)),     # apart: +1h
             (utc(2020, 9, 7, 16), utc(2020, 9, 7, 15))]     # inverted: nothing
    assert downtime.union_length(spans) == timedelta(hours=4, minutes=30)
    assert len(downtime.merge(spans)) == 2


def test_no_intervals_is_no_downtime():
    assert downtime.union_length([]) == timedelta()


def test_overlapping_phases_on_one_service_are_not_double_counted():
    plan = impacts(("a", "api", "unavailable", utc(2020, 9, 7, 9), utc(2020, 9, 7, 13)),
                   ("b", "api", "unavailable", utc(2020, 9, 7, 12), utc(2020, 9, 7, 14)))
    actual = windows(("a", 1, utc(2020, 9, 7, 9), utc(2020, 9, 7, 12, 30), "completed"),
                     ("b", 1, utc(2020, 9, 7, 12), utc(2020, 9, 7, 13), "completed"))
    result = row(downtime.downtime(plan, actual, utc(2020, 10, 1)), "api", "unavailable")
    assert result["planned"] == pd.Timedelta(hours=5)       # 09-14, not 4h + 2h
    assert result["actual"] == pd.Timedelta(hours=4)        # 09-13, not 3h30 + 1h
    assert result["difference_minutes"] == -60
    assert result["phases"] == ["a", "b"]


def test_each_level_is_counted_separately_and_unaffected_is_not_downtime():
    plan = impacts(("a", "api", "delayed", utc(2020, 9, 7, 9), utc(2020, 9, 7, 13)),
                   ("b", "api", "unavailable", utc(2020, 9, 8, 9), utc(2020, 9, 8, 13)),
                   ("b", "omni", "unaffected", utc(2020, 9, 8, 9), utc(2020, 9, 8, 13)))
    actual = windows(("a", 1, utc(2020, 9, 7, 9), utc(2020, 9, 7, 10), "completed"),
                     ("b", 1, utc(2020, 9, 8, 9), utc(2020, 9, 8, 9, 20), "completed"))
    frame = downtime.downtime(plan, actual, utc(2020, 10, 1))
    assert list(zip(frame["service"], frame["level"], strict=True)) == [
        ("api", "unavailable"), ("api", "delayed")]
    assert row(frame, "api", "delayed")["actual_minutes"] == 60
    assert row(frame, "api", "unavailable")["actual_minutes"] == 20
    assert row(frame, "api", "unavailable")["service_name"] == "API"


def test_a_phase_never_started_is_planned_not_run_with_no_difference():
    plan = impacts(("a", "api", "unavailable", utc(2020, 9, 7, 9), utc(2020, 9, 7, 13)))
    result = row(downtime.downtime(plan, windows(), utc(2020, 10, 1)), "api", "unavailable")
    assert result["planned_minutes"] == 0 and result["actual_minutes"] == 0
    assert result["planned_not_run_minutes"] == 240 and result["phases_not_run"] == ["a"]
    assert not result["ran"] and pd.isna(result["difference_minutes"])   # not "-4h under"


# --- a partial migration ------------------------------------------------------------

def partial() -> tuple[pd.DataFrame, pd.DataFrame]:
    """a ran 09:00-13:00 on the 7th; b (the 8th) and c (the 9th) never ran."""
    plan = impacts(("a", "api", "unavailable", utc(2020, 9, 7, 9), utc(2020, 9, 7, 13)),
                   ("b", "api", "unavailable", utc(2020, 9, 8, 9), utc(2020, 9, 8, 13)),
                   ("c", "omni", "unavailable", utc(2020, 9, 9, 9), utc(2020, 9, 9, 13)),
                   ("c", "api", "degraded", utc(2020, 9, 9, 9), utc(2020, 9, 9, 13)))
    actual = windows(("a", 1, utc(2020, 9, 7, 9), utc(2020, 9, 7, 13), "rolled-back"))
    return plan, actual


def test_a_partial_migration_compares_only_the_phases_that_ran():
    plan, actual = partial()
    # 4h actual vs 4h planned for the phases that ran (a); 8h planned for b and c, not run
    assert downtime.customer_facing(plan, actual, utc(2020, 10, 1)) == \
        (timedelta(hours=4), timedelta(hours=4))
    assert downtime.customer_facing_not_run(plan, actual, utc(2020, 10, 1)) == \
        timedelta(hours=8)
    assert downtime.phases_run(actual, utc(2020, 10, 1)) == {"a"}
    frame = downtime.downtime(plan, actual, utc(2020, 10, 1))
    api = row(frame, "api", "unavailable")
    assert (api["planned_minutes"], api["actual_minutes"], api["difference_minutes"]) == \
        (240, 240, 0)
    assert api["planned_not_run_minutes"] == 240 and api["phases_not_run"] == ["b"]


def test_a_service_only_unrun_phases_touch_has_no_under():
    plan, actual = partial()
    frame = downtime.downtime(plan, actual, utc(2020, 10, 1))
    for service, level in (("omni", "unavailable"), ("api", "degraded")):
        only = row(frame, service, level)
        assert not only["ran"] and pd.isna(only["difference_minutes"])
        assert only["planned_minutes"] == 0 and only["planned_not_run_minutes"] == 240


def test_a_phase_that_ran_short_is_under_plan_by_the_hand_computed_amount():
    plan = impacts(("a", "api", "unavailable", utc(2020, 9, 7, 9), utc(2020, 9, 7, 13)),
                   ("b", "api", "unavailable", utc(2020, 9, 8, 9), utc(2020, 9, 8, 13)))
    actual = windows(("a", 1, utc(2020, 9, 7, 9), utc(2020, 9, 7, 10, 45), "completed"))
    result = row(downtime.downtime(plan, actual, utc(2020, 10, 1)), "api", "unavailable")
    # 1h 45m of a's 4h: 2h 15m under; b's 4h is not counted as time saved
    assert result["difference_minutes"] == -135
    from migration_runbook.outcomes import under_over_text

    assert under_over_text(timedelta(minutes=result["difference_minutes"])) == \
        "2h 15m under plan"


def test_a_phase_still_to_come_is_left_out_until_it_starts():
    plan, actual = partial()
    as_of = utc(2020, 9, 7, 11)      # a running for 2h; b and c tomorrow
    actual = windows(("a", 1, utc(2020, 9, 7, 9), NAT, "in-progress"))
    planned, real = downtime.customer_facing(plan, actual, as_of)
    assert (planned, real) == (timedelta(hours=4), timedelta(hours=2))
    assert downtime.customer_facing_not_run(plan, actual, as_of) == timedelta(hours=8)


# --- rollbacks and running attempts ---------------------------------------------------

def test_a_rolled_back_attempt_counts_until_its_rollback_ended_then_the_retry_counts_too():
    plan = impacts(("core", "api", "unavailable", utc(2020, 9, 8, 9), utc(2020, 9, 8, 13)))
    actual = windows(
        # started 09:05, rollback began 10:40, rolled back 11:35: 2h30 down
        ("core", 1, utc(2020, 9, 8, 9, 5), utc(2020, 9, 8, 11, 35), "rolled-back"),
        # the retry the next night: 09:00-12:15, 3h15
        ("core", 2, utc(2020, 9, 9, 9), utc(2020, 9, 9, 12, 15), "completed"))
    result = row(downtime.downtime(plan, actual, utc(2020, 10, 1)), "api", "unavailable")
    assert result["actual"] == pd.Timedelta(hours=5, minutes=45)
    assert result["planned"] == pd.Timedelta(hours=4)


def test_an_attempt_still_running_or_rolling_back_counts_until_as_of():
    plan = impacts(("a", "api", "unavailable", utc(2020, 9, 7, 9), utc(2020, 9, 7, 13)),
                   ("b", "omni", "degraded", utc(2020, 9, 7, 9), utc(2020, 9, 7, 13)))
    actual = windows(("a", 1, utc(2020, 9, 7, 9), NAT, "in-progress"),
                     ("b", 1, utc(2020, 9, 7, 9, 30), NAT, "rolling-back"))
    as_of = utc(2020, 9, 7, 10, 45)
    frame = downtime.downtime(plan, actual, as_of)
    assert row(frame, "api", "unavailable")["actual_minutes"] == 105
    assert row(frame, "omni", "degraded")["actual_minutes"] == 75
    spans = downtime.attempt_intervals(actual, as_of)
    assert spans["running"].tolist() == [True, True]
    assert (spans["end_utc"] == pd.Timestamp(as_of)).all()


def test_nothing_counts_after_as_of():
    plan = impacts(("a", "api", "unavailable", utc(2020, 9, 7, 9), utc(2020, 9, 7, 13)),
                   ("b", "api", "unavailable", utc(2020, 9, 8, 9), utc(2020, 9, 8, 13)))
    actual = windows(("a", 1, utc(2020, 9, 7, 9), utc(2020, 9, 7, 13), "completed"),
                     ("b", 1, utc(2020, 9, 8, 9), utc(2020, 9, 8, 13), "completed"))
    result = row(downtime.downtime(plan, actual, utc(2020, 9, 7, 10)), "api", "unavailable")
    assert result["actual_minutes"] == 60


# --- customer-facing ----------------------------------------------------------------

def test_customer_facing_downtime_is_the_union_of_unavailable_time_over_services():
    plan = impacts(("core", "api", "unavailable", utc(2020, 9, 8, 9), utc(2020, 9, 8, 13)),
                   ("core", "omni", "unavailable", utc(2020, 9, 8, 9), utc(2020, 9, 8, 13)),
                   ("web", "omni", "unavailable", utc(2020, 9, 9, 9), utc(2020, 9, 9, 13)),
                   ("web", "api", "degraded", utc(2020, 9, 9, 9), utc(2020, 9, 9, 13)),
                   ("carrier", "mo", "delayed", utc(2020, 9, 7, 9), utc(2020, 9, 7, 13)))
    actual = windows(("carrier", 1, utc(2020, 9, 7, 9), utc(2020, 9, 7, 13), "completed"),
                     ("core", 1, utc(2020, 9, 8, 9), utc(2020, 9, 8, 12), "completed"),
                     ("web", 1, utc(2020, 9, 9, 9), utc(2020, 9, 9, 9, 50), "completed"))
    planned, real = downtime.customer_facing(plan, actual, utc(2020, 10, 1))
    # api and omni down together on the 8th count once; delayed/degraded are not included
    assert planned == timedelta(hours=8)
    assert real == timedelta(hours=3, minutes=50)


# --- daylight saving -------------------------------------------------------------------

def test_a_window_across_the_end_of_daylight_saving_has_its_real_length():
    # Pacific/Auckland, 4 Apr 2021: at 03:00 NZDT clocks go back to 02:00 NZST, so
    # 02:00-03:00 happens twice. 02:00 NZDT -> 03:00 NZST is 1h on the clock face but 2h real.
    start = datetime(2021, 4, 4, 2, 0, tzinfo=AKL, fold=0)
    end = datetime(2021, 4, 4, 3, 0, tzinfo=AKL)
    assert (start.tzname(), end.tzname()) == ("NZDT", "NZST")
    plan = impacts(("p", "api", "unavailable", start.astimezone(UTC), end.astimezone(UTC)))
    # The actual window is given in local time; 02:30 NZDT -> 02:30 NZST is 1h real, 0h on
    # the clock face.
    actual = windows(("p", 1, pd.Timestamp(datetime(2021, 4, 4, 2, 30, tzinfo=AKL, fold=0)),
                      pd.Timestamp(datetime(2021, 4, 4, 2, 30, tzinfo=AKL, fold=1)),
                      "completed"))
    result = row(downtime.downtime(plan, actual, utc(2021, 5, 1)), "api", "unavailable")
    assert result["planned"] == pd.Timedelta(hours=2)
    assert result["actual"] == pd.Timedelta(hours=1)


def test_a_window_across_the_start_of_british_summer_time_has_its_real_length():
    # Europe/London, 28 Mar 2021: 01:00 GMT -> 02:00 BST. 00:30 -> 02:30 is 1h real.
    start = datetime(2021, 3, 28, 0, 30, tzinfo=LON)
    end = datetime(2021, 3, 28, 2, 30, tzinfo=LON)
    assert (start.tzname(), end.tzname()) == ("GMT", "BST")
    plan = impacts(("p", "api", "degraded", start, end))
    actual = windows(("p", 1, start, end, "completed"))
    result = row(downtime.downtime(plan, actual, utc(2021, 5, 1)), "api", "degraded")
    assert result["planned_minutes"] == result["actual_minutes"] == 60


def test_planned_downtime_from_a_plan_across_dst_uses_real_elapsed_time(write_plan):
    path = write_plan("""
        id: dst
        title: Across the end of daylight saving
        timezone: Pacific/Auckland
        services: [{id: api, name: API}]
        phases:
          - id: cutover
            name: Cutover
            start: 2021-04-04T01:00+13:00
            end: 2021-04-04 04:00
            impacts: [{service: api, level: unavailable}]
            rollback: {duration: 30m, plan: Switch back.}
        """)
    plan = load_plan(path)
    result = row(downtime.downtime(impacts_frame(plan), windows(), utc(2021, 5, 1)),
                 "api", "unavailable")
    # 01:00 NZDT -> 04:00 NZST: 3h on the clock, 4h real (not run: planned on its own)
    assert result["planned_not_run"] == pd.Timedelta(hours=4)
    planned, actual = downtime.customer_facing(impacts_frame(plan), windows(), utc(2021, 5, 1))
    assert (planned, actual) == (timedelta(), timedelta())
    assert downtime.customer_facing_not_run(impacts_frame(plan), windows(),
                                            utc(2021, 5, 1)) == timedelta(hours=4)


@pytest.mark.parametrize("naive", [True, False])
def test_naive_times_are_taken_as_utc(naive):
    start = datetime(2020, 9, 7, 9) if naive else utc(2020, 9, 7, 9)
    assert downtime.union_length([(start, start + timedelta(minutes=90))]) == \
        timedelta(minutes=90)
