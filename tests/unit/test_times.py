"""Times: plan times in the plan's zone, kept in UTC, durations in real elapsed time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migration_runbook import times

AUCKLAND = ZoneInfo("Pacific/Auckland")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- zones ------------------------------------------------------------------------------

def test_zone_returns_the_iana_zone():
    assert times.zone("Pacific/Auckland") == AUCKLAND


@pytest.mark.parametrize("name", ["Mars/Olympus", "pacific/auckland", "../../etc/passwd",
                                  "Pacific/Auckland/", "localtime", "x" * 300, "a\x00b"])
def test_unknown_zone_is_a_value_error_naming_it(name):
    with pytest.raises(ValueError, match="unknown time zone"):
        times.zone(name)


@pytest.mark.parametrize("name", ["", "  ", None, 3])
def test_zone_must_be_a_name(name):
    with pytest.raises(ValueError, match="IANA name"):
        times.zone(name)


# --- durations --------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("45m", timedelta(minutes=45)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("1h 30m", timedelta(hours=1, minutes=30)),
    ("2h", timedelta(hours=2)),
    ("90s", timedelta(seconds=90)),
    ("1d", timedelta(days=1)),
    ("PT45M", timedelta(minutes=45)),
    ("pt1h30m", timedelta(hours=1, minutes=30)),
    ("P1DT2H", timedelta(days=1, hours=2)),
    ("0m", timedelta(0)),
    (45, timedelta(minutes=45)),
    (7.5, timedelta(minutes=7, seconds=30)),
    (timedelta(minutes=5), timedelta(minutes=5)),
])
def test_parse_duration_accepts_the_documented_forms(text, expected):
    assert times.parse_duration(text) == expected


@pytest.mark.parametrize("text, message", [
    ("1x", "invalid duration '1x'"),
    ("1.5h", "invalid duration '1.5h'"),
    ("", "invalid duration ''"),
    ("P", "invalid duration 'P'"),
    ("PT", "invalid duration 'PT'"),
    ("-5m", "invalid duration '-5m'"),
    ("ten minutes", "invalid duration"),
    (-5, "must not be negative"),
    (float("nan"), "invalid duration nan"),
    (float("inf"), "invalid duration inf"),
    (True, "invalid duration True"),
    ([1], "invalid duration [1]"),
    (None, "invalid duration None"),
    (10 ** 17, "longer than 366 days"),
    ("9999999999d", "longer than 366 days"),
    ("400d", "longer than 366 days"),
])
def test_parse_duration_refuses_bad_durations_with_a_clear_message(text, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        times.parse_duration(text)


@pytest.mark.parametrize("delta, text", [
    (timedelta(hours=4), "4h"),
    (timedelta(hours=3, minutes=30), "3h 30m"),
    (timedelta(minutes=45), "45m"),
    (timedelta(0), "0m"),
    (timedelta(minutes=-90), "-1h 30m"),
    (timedelta(hours=47, minutes=59), "47h 59m"),
    (timedelta(days=2272, hours=1, minutes=59), "2272d 1h"),
    (timedelta(days=3), "3d"),
])
def test_format_duration_reads_as_people_write_it(delta, text):
    assert times.format_duration(delta) == text


# --- local times and DST ----------------------------------------------------------------

def test_wall_time_is_read_in_the_plan_zone_and_kept_in_utc():
    start = times.parse_time("2020-09-07 21:00", AUCKLAND)
    assert start == utc(2020, 9, 7, 9, 0)
    assert start.tzinfo is UTC


def test_iso_time_with_the_zone_offset_is_accepted():
    assert times.parse_time("2020-09-07T21:00+12:00", AUCKLAND) == utc(2020, 9, 7, 9, 0)


def test_offset_that_disagrees_with_the_zone_is_refused():
    # NZDT (+13:00) starts on 27 September; on 7 September Auckland is still +12:00.
    with pytest.raises(ValueError, match=r"offset \+13:00 of '2020-09-07T21:00\+13:00' "
                                         r"disagrees with Pacific/Auckland, which is \+12:00 "
                                         r"\(NZST\)"):
        times.parse_time("2020-09-07T21:00+13:00", AUCKLAND)


def test_utc_z_time_must_also_agree_with_the_zone():
    assert times.parse_time("2020-09-07T09:00Z", ZoneInfo("UTC")) == utc(2020, 9, 7, 9)
    with pytest.raises(ValueError, match="disagrees with Pacific/Auckland"):
        times.parse_time("2020-09-07T09:00Z", AUCKLAND)


@pytest.mark.parametrize("zone, wall", [
    (AUCKLAND, "2020-09-27 02:30"),   # NZ clocks go 02:00 NZST -> 03:00 NZDT
    (LONDON, "2021-03-28 01:30"),     # 01:00 GMT -> 02:00 BST
    (NEW_YORK, "2021-03-14 02:30"),   # 02:00 EST -> 03:00 EDT
])
def test_local_time_in_a_dst_gap_is_refused(zone, wall):
    with pytest.raises(ValueError, match=f"{wall} does not exist in {zone.key}"):
        times.parse_time(wall, zone)


@pytest.mark.parametrize("zone, wall, first, second", [
    (AUCKLAND, "2021-04-04 02:30", "+13:00", "+12:00"),   # 03:00 NZDT -> 02:00 NZST
    (LONDON, "2021-10-31 01:30", "+01:00", "+00:00"),      # 02:00 BST -> 01:00 GMT
    (NEW_YORK, "2021-11-07 01:30", "-04:00", "-05:00"),    # 02:00 EDT -> 01:00 EST
])
def test_local_time_in_a_dst_overlap_is_refused_without_an_offset(zone, wall, first, second):
    with pytest.raises(ValueError, match="happens twice") as refused:
        times.parse_time(wall, zone)
    iso = wall.replace(" ", "T")
    assert f"{iso}{first}" in str(refused.value) and f"{iso}{second}" in str(refused.value)


def test_local_time_in_a_dst_overlap_is_accepted_with_either_offset():
    early = times.parse_time("2021-04-04T02:30+13:00", AUCKLAND)
    late = times.parse_time("2021-04-04T02:30+12:00", AUCKLAND)
    assert early == utc(2021, 4, 3, 13, 30)
    assert late == utc(2021, 4, 3, 14, 30)
    assert late - early == timedelta(hours=1)


@pytest.mark.parametrize("zone, start, end, hours", [
    # Southern hemisphere: NZ springs forward on 27 Sep 2020 and falls back on 4 Apr 2021.
    (AUCKLAND, "2020-09-26 22:00", "2020-09-27 04:00", 5),
    (AUCKLAND, "2021-04-03 22:00", "2021-04-04 04:00", 7),
    # Northern hemisphere, spring and autumn.
    (LONDON, "2021-03-28 00:00", "2021-03-28 04:00", 3),
    (LONDON, "2021-10-31 00:00", "2021-10-31 04:00", 5),
    (NEW_YORK, "2021-03-14 00:00", "2021-03-14 04:00", 3),
    (NEW_YORK, "2021-11-07 00:00", "2021-11-07 04:00", 5),
    # No change: the clock face is right.
    (AUCKLAND, "2020-09-07 21:00", "2020-09-08 01:00", 4),
])
def test_durations_across_dst_are_real_elapsed_time(zone, start, end, hours):
    elapsed = times.parse_time(end, zone) - times.parse_time(start, zone)
    assert elapsed == timedelta(hours=hours)


def test_times_across_nz_spring_forward_are_the_right_utc_instants():
    assert times.parse_time("2020-09-26 22:00", AUCKLAND) == utc(2020, 9, 26, 10)  # NZST +12
    assert times.parse_time("2020-09-27 04:00", AUCKLAND) == utc(2020, 9, 26, 15)  # NZDT +13


@pytest.mark.parametrize("value", ["2020-13-45", "2020-09-07 25:00", "next tuesday", "21:00",
                                   "2020-09-07 21:00 NZST", 1, None, [2020]])
def test_invalid_time_is_refused_with_the_format_to_use(value):
    with pytest.raises(ValueError, match="invalid time .*YYYY-MM-DD HH:MM"):
        times.parse_time(value, AUCKLAND)


def test_date_without_a_time_of_day_is_refused():
    with pytest.raises(ValueError, match="has no time of day"):
        times.parse_time("2020-09-07", AUCKLAND)


@pytest.mark.parametrize("value", ["0001-01-01 00:00", "9999-12-31T23:00-12:00"])
def test_time_out_of_range_is_a_value_error_not_an_overflow(value):
    with pytest.raises(ValueError, match="out of range"):
        times.parse_time(value, AUCKLAND)


def test_unknown_zone_takes_offsets_as_written_and_wall_times_as_utc():
    assert times.parse_time("2020-09-07T21:00+12:00", None) == utc(2020, 9, 7, 9)
    assert times.parse_time("2020-09-07 21:00", None) == utc(2020, 9, 7, 21)


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1),
                    timezones=st.just(UTC)),
       st.sampled_from([AUCKLAND, LONDON, NEW_YORK, ZoneInfo("Australia/Lord_Howe")]))
def test_any_instant_written_with_its_local_offset_reads_back_unchanged(instant, zone):
    instant = instant.replace(second=0, microsecond=0)
    assert times.parse_time(times.format_iso_local(instant, zone), zone) == instant


# --- display ----------------------------------------------------------------------------

@pytest.mark.parametrize("instant, zone, abbreviation", [
    (utc(2020, 9, 7, 9), AUCKLAND, "NZST"),
    (utc(2020, 9, 26, 13, 59), AUCKLAND, "NZST"),   # 26 Sep 01:59 local
    (utc(2020, 9, 26, 14, 0), AUCKLAND, "NZDT"),    # 27 Sep 03:00 local
    (utc(2020, 9, 28, 9), AUCKLAND, "NZDT"),
    (utc(2021, 1, 15, 12), LONDON, "GMT"),
    (utc(2021, 7, 15, 12), LONDON, "BST"),
    (utc(2021, 1, 15, 12), NEW_YORK, "EST"),
    (utc(2021, 7, 15, 12), NEW_YORK, "EDT"),
])
def test_abbreviation_is_the_one_in_force_at_the_instant(instant, zone, abbreviation):
    assert times.abbreviation(instant, zone) == abbreviation


def test_format_helpers_show_local_time_with_abbreviation_and_utc_beside_it():
    start = utc(2020, 9, 7, 9)
    end = utc(2020, 9, 7, 13)
    assert times.format_local(start, AUCKLAND) == "Mon 7 Sep 21:00 NZST"
    assert times.format_local(start, AUCKLAND, with_date=False) == "21:00 NZST"
    assert times.format_utc(start) == "Mon 7 Sep 09:00 UTC"
    assert times.format_both(start, AUCKLAND) == "Mon 7 Sep 21:00 NZST (09:00 UTC)"
    # The UTC date is shown where it differs from the local one.
    assert times.format_both(end, AUCKLAND) == "Tue 8 Sep 01:00 NZST (Mon 7 Sep 13:00 UTC)"
    assert times.format_iso_local(start, AUCKLAND) == "2020-09-07T21:00+12:00"
    assert times.format_iso_utc(start) == "2020-09-07T09:00:00Z"


def test_format_local_after_the_nz_change_says_nzdt():
    assert times.format_local(utc(2020, 9, 28, 8), AUCKLAND) == "Mon 28 Sep 21:00 NZDT"


def test_wall_is_naive_local_time_for_plotting():
    at = times.wall(utc(2020, 9, 28, 8), AUCKLAND)
    assert at == datetime(2020, 9, 28, 21, 0) and at.tzinfo is None
    assert times.local(utc(2020, 9, 28, 8), AUCKLAND).utcoffset() == timedelta(hours=13)


# --- instants (event times) -------------------------------------------------------------

def test_parse_instant_reads_iso_with_z_or_offset_and_takes_no_offset_as_utc():
    assert times.parse_instant("2020-09-07T09:00:00Z") == utc(2020, 9, 7, 9)
    assert times.parse_instant("2020-09-07T21:00+12:00") == utc(2020, 9, 7, 9)
    assert times.parse_instant("2020-09-07T09:00") == utc(2020, 9, 7, 9)


def test_parse_instant_empty_means_now():
    before = times.now()
    at = times.parse_instant("")
    assert before <= at <= times.now()
    assert times.parse_instant(None).tzinfo is UTC


def test_parse_instant_refuses_garbage():
    with pytest.raises(ValueError, match="invalid time 'soon'"):
        times.parse_instant("soon")


def test_parse_instant_out_of_range_is_a_value_error_not_an_overflow():
    with pytest.raises(ValueError, match="out of range"):
        times.parse_instant("0001-01-01T00:00+01:00")


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, ZoneInfo("Pacific/Auckland")])))
def test_format_iso_utc_writes_what_strftime_writes(instant):
    """The isoformat fast path writes the same text as strftime, years before 1000 too."""
    expected = instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert times.format_iso_utc(instant) == expected


def test_a_remembered_duration_is_the_same_and_a_refused_one_is_refused_again():
    assert times.parse_duration("1h30m") == times.parse_duration(" 1h30m") == \
        timedelta(minutes=90)
    for _ in range(2):
        with pytest.raises(ValueError, match="invalid duration"):
            times.parse_duration("an hour")
