"""Calendar: the ICS file, read back by a second, independent parser (`ics`) and by hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import ics
import pytest

from migration_runbook.calendar import event_uid, ics_bytes, write_ics
from migration_runbook.errors import OutputError
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE, EXAMPLE_AUGUST

STAMP = datetime(2020, 8, 13, 1, 2, 3, tzinfo=UTC)


def parsed(data: bytes) -> list[ics.Event]:
    return sorted(ics.Calendar(data.decode("utf-8")).events, key=lambda e: e.begin)


def unfolded(data: bytes) -> list[str]:
    """Content lines with RFC 5545 folding undone."""
    return data.decode("utf-8").replace("\r\n ", "").split("\r\n")


def vevents(data: bytes) -> list[dict[str, str]]:
    """Each VEVENT's own properties (not its alarm's), by name, from the raw text."""
    out: list[dict[str, str]] = []
    depth = []
    for line in unfolded(data):
        if line.startswith("BEGIN:"):
            depth.append(line[6:])
            if line == "BEGIN:VEVENT":
                out.append({})
        elif line.startswith("END:"):
            depth.pop()
        elif depth and depth[-1] == "VEVENT":
            name, _, value = line.partition(":")
            out[-1][name] = value
    return out


def test_one_event_a_window_in_utc_with_an_alarm_an_hour_before() -> None:
    events = parsed(ics_bytes(load_plan(EXAMPLE), stamp=STAMP))
    assert [(e.begin.datetime, e.end.datetime) for e in events] == [
        (datetime(2020, 9, d, 9, tzinfo=UTC), datetime(2020, 9, d, 13, tzinfo=UTC))
        for d in (7, 8, 9, 10)]
    assert all(e.begin.tzinfo.utcoffset(None) == timedelta(0) for e in events)
    for e in events:
        assert [(type(a).__name__, a.trigger) for a in e.alarms] == \
            [("DisplayAlarm", timedelta(hours=-1))]
    first = events[0]
    assert first.name == "Omni hosting provider migration: Phase 1: Carrier Connection Migrations"
    assert "Starts: Mon 7 Sep 21:00 NZST (09:00 UTC)" in first.description
    assert "- Inbound messages (MO): delayed. Messages from handsets will be delayed" \
        in first.description
    assert "rollback starts by Tue 8 Sep 00:15 NZST (Mon 7 Sep 12:15 UTC)" in first.description
    assert "Goes ahead only if Phase 1: Carrier Connection Migrations is completed." \
        in events[1].description


def test_raw_lines_use_utc_times_and_a_relative_trigger() -> None:
    props = vevents(ics_bytes(load_plan(EXAMPLE), stamp=STAMP))
    assert [(p["DTSTART"], p["DTEND"]) for p in props] == [
        (f"202009{d:02d}T090000Z", f"202009{d:02d}T130000Z") for d in (7, 8, 9, 10)]
    assert all(p["DTSTAMP"] == "20200813T010203Z" for p in props)
    assert unfolded(ics_bytes(load_plan(EXAMPLE))).count("TRIGGER:-PT1H") == 4


def test_uids_are_stable_across_versions_and_sequence_follows_the_revision() -> None:
    old = vevents(ics_bytes(load_plan(EXAMPLE_AUGUST), stamp=STAMP))
    new = vevents(ics_bytes(load_plan(EXAMPLE), stamp=STAMP))
    assert [p["UID"] for p in old] == [p["UID"] for p in new] == [
        "carrier-connections@omni-hosting-2020.migration-runbook",
        "messaging-core@omni-hosting-2020.migration-runbook",
        "web-interface@omni-hosting-2020.migration-runbook",
        "api-endpoints@omni-hosting-2020.migration-runbook"]
    assert {p["SEQUENCE"] for p in old} == {"1"}
    assert {p["SEQUENCE"] for p in new} == {"2"}
    assert [e.uid for e in parsed(ics_bytes(load_plan(EXAMPLE)))] == [p["UID"] for p in new]


def test_lines_are_crlf_and_at_most_75_octets_even_with_multibyte_text() -> None:
    plan = load_plan(EXAMPLE)
    long_name = ("Hōkai tahi 🚀 " * 12).strip()  # macrons and emoji: several octets a character
    phases = [plan.phases[0].model_copy(update={"name": long_name}), *plan.phases[1:]]
    data = ics_bytes(plan.model_copy(update={"phases": phases}), stamp=STAMP)
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    lines = data.split(b"\r\n")[:-1]
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # something was folded
    for line in lines:
        line.decode("utf-8")  # folding never splits a character
    summary = next(e for e in parsed(data) if e.uid.startswith("carrier")).name
    assert summary == f"{plan.title}: Phase 1: {long_name}"


def test_reminder_before_sets_the_alarm(write_plan) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("reminder_before: 1h",
                                                       "reminder_before: 30m")
    plan = load_plan(write_plan(text))
    events = parsed(ics_bytes(plan))
    assert {a.trigger for e in events for a in e.alarms} == {timedelta(minutes=-30)}


def test_daylight_time_zone_is_converted_to_utc(write_plan) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("timezone: Pacific/Auckland",
                                                       "timezone: Europe/London")
    text = re.sub(r"2020-09-(\d\d)", r"2020-07-\1", text)
    props = vevents(ics_bytes(load_plan(write_plan(text))))
    assert props[0]["DTSTART"] == "20200707T200000Z"  # 21:00 BST
    assert props[0]["DTEND"] == "20200708T000000Z"


def test_phases_dropped_since_the_previous_version_are_cancelled() -> None:
    old = load_plan(EXAMPLE_AUGUST)
    new = load_plan(EXAMPLE)
    new = new.model_copy(update={"phases": new.phases[:3]})
    props = vevents(ics_bytes(new, previous=old, stamp=STAMP))
    cancelled = [p for p in props if p.get("STATUS") == "CANCELLED"]
    assert [(p["UID"], p["SEQUENCE"]) for p in cancelled] == [
        (event_uid(new, "api-endpoints"), "2")]


def test_write_ics_is_atomic(tmp_path) -> None:
    plan = load_plan(EXAMPLE)
    target = tmp_path / "omni.ics"
    write_ics(plan, target)
    assert target.read_bytes().startswith(b"BEGIN:VCALENDAR\r\n")
    with pytest.raises(OutputError, match=r"nowhere/omni.ics: cannot write"):
        write_ics(plan, tmp_path / "nowhere" / "omni.ics")
    assert [p.name for p in tmp_path.iterdir()] == ["omni.ics"]
