"""Safe time entry: typed times read in the plan's zone, echoed, and judged (chronology)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from migration_runbook import chronology, times
from migration_runbook.errors import RunbookError
from migration_runbook.events import Event
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE

AUCKLAND = ZoneInfo("Pacific/Auckland")
LONDON = ZoneInfo("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- a typed time without an offset is in the plan's zone -------------------------------

@pytest.mark.parametrize(("typed", "expected"), [
    # Southern hemisphere, April: NZDT (+13) ends at 03:00 on 4 Apr 2021, back to 02:00 NZST.
    ("2021-04-04 01:30", utc(2021, 4, 3, 12, 30)),
    ("2021-04-04 03:30", utc(2021, 4, 3, 15, 30)),
    ("2021-04-04T04:00", utc(2021, 4, 3, 16, 0)),
    # September: NZST (+12) to NZDT (+13) at 02:00 on 27 Sep 2020.
    ("2020-09-27 01:30", utc(2020, 9, 26, 13, 30)),
    ("2020-09-27 03:30", utc(2020, 9, 26, 14, 30)),
    ("2020-09-07 20:50", utc(2020, 9, 7, 8, 50)),
])
def test_a_naive_time_is_read_in_auckland_across_both_dst_changes(typed, expected):
    assert times.parse_typed(typed, AUCKLAND) == expected


@pytest.mark.parametrize(("typed", "expected"), [
    # Northern hemisphere, March: GMT to BST at 01:00 on 28 Mar 2021.
    ("2021-03-28 00:30", utc(2021, 3, 28, 0, 30)),
    ("2021-03-28 02:30", utc(2021, 3, 28, 1, 30)),
    # October: BST back to GMT at 02:00 on 31 Oct 2021.
    ("2021-10-31 00:30", utc(2021, 10, 30, 23, 30)),
    ("2021-10-31 02:30", utc(2021, 10, 31, 2, 30)),
])
def test_a_naive_time_is_read_in_london_across_both_dst_changes(typed, expected):
    assert times.parse_typed(typed, LONDON) == expected


@pytest.mark.parametrize(("typed", "tz", "message"), [
    ("2020-09-27 02:30", AUCKLAND, "2020-09-27 02:30 does not exist in Pacific/Auckland"),
    ("2021-03-28 01:30", LONDON, "2021-03-28 01:30 does not exist in Europe/London"),
    ("2021-04-04 02:30", AUCKLAND, "2021-04-04 02:30 happens twice in Pacific/Auckland "
                                   "(daylight saving ends); write it with its offset, e.g. "
                                   "2021-04-04T02:30+13:00 or 2021-04-04T02:30+12:00"),
    ("2021-10-31 01:30", LONDON, "2021-10-31 01:30 happens twice in Europe/London"),
])
def test_a_naive_time_the_clocks_skip_or_repeat_is_refused(typed, tz, message):
    with pytest.raises(ValueError) as refused:
        times.parse_typed(typed, tz)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(("typed", "expected"), [
    ("2021-04-04T02:30+13:00", utc(2021, 4, 3, 13, 30)),   # the first 02:30, by its offset
    ("2021-04-04T02:30+12:00", utc(2021, 4, 3, 14, 30)),   # the second
    ("2020-09-07T08:50:00Z", utc(2020, 9, 7, 8, 50)),
    ("2020-09-07T08:50z", utc(2020, 9, 7, 8, 50)),
    ("2020-09-07 08:50+00:00", utc(2020, 9, 7, 8, 50)),
])
def test_a_time_with_an_offset_is_taken_as_written(typed, expected):
    assert times.parse_typed(typed, AUCKLAND) == expected


@pytest.mark.parametrize(("typed", "message"), [
    ("2020-09-07", "has no time of day"),
    ("yesterday", "invalid time 'yesterday' (write 'YYYY-MM-DD HH:MM' in the plan's zone "
                  "Pacific/Auckland, or ISO 8601 with an offset"),
    ("0999-12-31T23:00:00Z", "is out of range"),
])
def test_an_unreadable_typed_time_is_refused(typed, message):
    with pytest.raises(ValueError, match=None) as refused:
        times.parse_typed(typed, AUCKLAND)
    assert message in str(refused.value)


def test_a_naive_datetime_is_in_the_zone_too():
    assert times.parse_typed(datetime(2020, 9, 7, 20, 50), AUCKLAND) == utc(2020, 9, 7, 8, 50)


# --- the echo ----------------------------------------------------------------------------

def test_a_naive_time_is_echoed_in_local_time_with_its_abbreviation_and_in_utc():
    at = times.parse_typed("2020-09-07 20:50", AUCKLAND)
    assert times.describe_typed("2020-09-07 20:50", at, AUCKLAND) == (
        "'2020-09-07 20:50' (no offset: Pacific/Auckland time) is Mon 7 Sep 2020 20:50 NZST "
        "= Mon 7 Sep 2020 08:50 UTC")


def test_the_echo_shows_the_abbreviation_in_force_and_seconds_and_offsets_as_given():
    at = times.parse_typed("2020-09-28 09:00:30", AUCKLAND)
    assert times.describe_typed("2020-09-28 09:00:30", at, AUCKLAND).endswith(
        "is Mon 28 Sep 2020 09:00:30 NZDT = Sun 27 Sep 2020 20:00:30 UTC")
    at = times.parse_typed("2021-10-31T01:30+01:00", LONDON)
    assert times.describe_typed("2021-10-31T01:30+01:00", at, LONDON) == (
        "'2021-10-31T01:30+01:00' is Sun 31 Oct 2021 01:30 BST = Sun 31 Oct 2021 00:30 UTC")


# --- judged against the clock, the window and the log as it was then ----------------------


def ev(seq: int, phase: str, event: str, at: datetime, source: str = "cli") -> Event:
    return Event(seq=seq, plan="omni-hosting-2020", phase=phase, event=event, operator="alice",
                 reason="", at=at, recorded_at=at, source=source, notebook="", details={},
                 prev_hash="", hash="")


NOW = utc(2020, 9, 7, 10, 0)
START = utc(2020, 9, 7, 9, 0)      # carrier-connections: 21:00-01:00 NZST
END = utc(2020, 9, 7, 13, 0)


def test_a_time_five_minutes_ahead_is_accepted_a_second_more_is_refused(plan):
    ok = NOW + timedelta(minutes=5)
    assert chronology.typed_refusal(plan, [], "carrier-connections", "go", ok, NOW) is None
    late = ok + timedelta(seconds=1)
    assert chronology.typed_refusal(plan, [], "carrier-connections", "go", late, NOW) == (
        "phase 'carrier-connections' cannot go at Mon 7 Sep 22:05 NZST (10:05 UTC): that is "
        "5m in the future (now is Mon 7 Sep 22:00 NZST (10:00 UTC)); a time more than 5m "
        "ahead is refused: check the date and the zone")


def test_a_rehearsal_in_its_own_log_may_play_future_times(plan):
    future = NOW + timedelta(days=30)
    assert chronology.typed_refusal(plan, [], "carrier-connections", "go", START, NOW - timedelta(
        days=40), source="rehearsal") is None
    assert chronology.typed_refusal(plan, [ev(1, "x", "note", NOW, "rehearsal")],
                                    "carrier-connections", "go", future, NOW,
                                    reason="rehearsal", source="rehearsal") is None
    mixed = chronology.typed_refusal(plan, [ev(1, "x", "note", NOW, "cli")],
                                     "carrier-connections", "go", START, NOW,
                                     source="rehearsal")
    assert mixed == ("phase 'carrier-connections' cannot go: a rehearsal plays into a log of "
                     "its own, and this one holds events of the real run (rehearse into a "
                     "fresh --outputs folder)")


@pytest.mark.parametrize(("at", "refused"), [
    (START - timedelta(hours=12), None),
    (START - timedelta(hours=12, minutes=1),
     "phase 'carrier-connections' cannot note at Mon 7 Sep 08:59 NZST (Sun 6 Sep 20:59 UTC): "
     "that is 12h 01m before its window starts (Mon 7 Sep 21:00 NZST (09:00 UTC)); more than "
     "12h away is refused unless --reason says why"),
    (END + timedelta(hours=12), None),
    (END + timedelta(hours=12, minutes=1),
     "phase 'carrier-connections' cannot note at Tue 8 Sep 13:01 NZST (01:01 UTC): that is "
     "12h 01m after its window ends (Tue 8 Sep 01:00 NZST (Mon 7 Sep 13:00 UTC)); more than "
     "12h away is refused unless --reason says why"),
])
def test_more_than_twelve_hours_from_the_window_needs_a_reason(plan, at, refused):
    now = utc(2020, 9, 9)
    assert chronology.typed_refusal(plan, [], "carrier-connections", "note", at, now) == refused
    assert chronology.typed_refusal(plan, [], "carrier-connections", "note", at, now,
                                    reason="found the ticket later") is None


def test_a_go_dated_before_its_dependency_completed_is_refused(plan):
    log = [ev(1, "carrier-connections", "go", utc(2020, 9, 7, 8, 50)),
           ev(2, "carrier-connections", "start", START),
           ev(3, "carrier-connections", "complete", utc(2020, 9, 7, 22, 0))]
    early = utc(2020, 9, 7, 21, 30)
    assert chronology.order_refusal(plan, log, "messaging-core", "go", early) == (
        "phase 'messaging-core' cannot go at Tue 8 Sep 09:30 NZST (Mon 7 Sep 21:30 UTC): "
        "'carrier-connections' was in-progress then (it completed at Tue 8 Sep 10:00 NZST "
        "(Mon 7 Sep 22:00 UTC))")
    assert chronology.order_refusal(plan, log, "messaging-core", "go",
                                    utc(2020, 9, 7, 22, 0)) is None
    assert chronology.order_refusal(plan, log, "messaging-core", "note", early) is None


def test_an_event_dated_before_the_one_it_follows_is_refused_for_any_kind_of_event(plan):
    log = [ev(1, "carrier-connections", "go", utc(2020, 9, 7, 8, 50)),
           ev(2, "carrier-connections", "start", START)]
    assert chronology.order_refusal(plan, log, "carrier-connections", "complete",
                                    START - timedelta(minutes=1)) == (
        "phase 'carrier-connections' cannot complete at Mon 7 Sep 20:59 NZST (08:59 UTC): that "
        "is before its previous event (start at Mon 7 Sep 21:00 NZST (09:00 UTC))")
    # What another kind of event (a step) uses: the event it follows, found by a predicate.
    follows = chronology.last_event(log, lambda e: e.phase == "carrier-connections")
    assert chronology.follows_refusal("step 'freeze' of phase 'carrier-connections'", "start",
                                      START - timedelta(seconds=1), follows, AUCKLAND) == (
        "step 'freeze' of phase 'carrier-connections' cannot start at Mon 7 Sep 20:59 NZST "
        "(08:59 UTC): that is before its previous event (start at Mon 7 Sep 21:00 NZST "
        "(09:00 UTC))")
    assert chronology.follows_refusal("step 'freeze'", "start", START, follows, AUCKLAND) is None


def test_the_log_as_it_was_then_holds_the_events_dated_up_to_then():
    log = [ev(1, "a", "go", utc(2020, 1, 1, 9)), ev(2, "a", "start", utc(2020, 1, 1, 10))]
    assert chronology.as_it_was(log, utc(2020, 1, 1, 9, 30)) == log[:1]
    assert chronology.as_it_was(log, utc(2020, 1, 1, 10)) == log


def test_an_as_of_time_in_the_future_is_refused_but_over_a_rehearsal_s_log(plan):
    ahead = "2020-09-07 22:06"          # NZST: 10:06 UTC, six minutes after NOW
    with pytest.raises(RunbookError, match=r"^--as-of at Mon 7 Sep 22:06 NZST \(10:06 UTC\): "
                                           r"that is 6m in the future"):
        chronology.read_as_of(plan, ahead, [ev(1, "carrier-connections", "go", START)], NOW)
    with pytest.raises(RunbookError, match="in the future"):
        chronology.read_as_of(plan, ahead, [], NOW)
    assert chronology.read_as_of(plan, ahead, [ev(1, "carrier-connections", "go", START,
                                                  "rehearsal")], NOW) == utc(2020, 9, 7, 10, 6)
    assert chronology.read_as_of(plan, "2020-09-07 22:05", [], NOW) == utc(2020, 9, 7, 10, 5)


def test_an_unreadable_as_of_names_its_option(plan):
    with pytest.raises(RunbookError, match=r"^--as-of: time '2020-09-07' has no time of day"):
        chronology.read_as_of(plan, "2020-09-07", [], NOW)


def test_a_southern_plan_and_a_northern_plan_read_the_same_text_differently(write_plan):
    london = load_plan(write_plan(textwrap.dedent("""\
        id: london
        title: London
        timezone: Europe/London
        services: [{id: api, name: API}]
        phases:
          - {id: a, name: A, start: 2021-10-31 00:00, end: 2021-10-31 04:00,
             rollback: {duration: 30m, plan: back}}
        """)))
    assert chronology.read_typed(london, "2021-10-31 03:00") == utc(2021, 10, 31, 3, 0)
    assert chronology.read_typed(load_plan(EXAMPLE), "2021-10-31 03:00") == \
        utc(2021, 10, 30, 14, 0)
    with pytest.raises(RunbookError, match=r"^--at: 2021-10-31 01:30 happens twice in "
                                           r"Europe/London"):
        chronology.read_typed(london, "2021-10-31 01:30")


def test_a_rehearsal_never_dates_a_go_before_its_dependency_completes(write_plan):
    from migration_runbook.rehearsal import script

    plan = load_plan(write_plan(textwrap.dedent("""\
        id: tight
        title: Tight
        timezone: Pacific/Auckland
        services: [{id: api, name: API}]
        phases:
          - id: a
            name: A
            start: 2020-09-07 21:00
            end: 2020-09-07 23:00
            rollback: {duration: 5m, plan: back}
            steps: [{name: everything, owner: ops, duration: 1h55m}]
          - {id: b, name: B, start: 2020-09-07 23:00, end: 2020-09-08 01:00, depends_on: [a],
             rollback: {duration: 30m, plan: back}}
          - {id: c, name: C, start: 2020-09-08 03:00, end: 2020-09-08 05:00, depends_on: [b],
             rollback: {duration: 30m, plan: back}}
        """)))
    at = {(s.phase, s.event): s.at for s in script(plan)}
    assert at[("a", "complete")] == utc(2020, 9, 7, 10, 55)
    assert at[("b", "go")] == utc(2020, 9, 7, 10, 55)       # not 10:50, before a completed
    assert at[("c", "go")] == utc(2020, 9, 7, 14, 50)       # ten minutes before, as usual
    log = []
    for n, step in enumerate(script(plan), start=1):
        assert chronology.order_refusal(plan, log, step.phase, step.event, step.at) is None
        log.append(ev(n, step.phase, step.event, step.at, "rehearsal"))
