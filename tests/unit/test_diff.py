"""Diff: what changed between two plan versions, matched by phase id."""

from __future__ import annotations

import json
from datetime import timedelta

from migration_runbook.diff import diff_plans
from migration_runbook.plan import Impact, Plan, Rollback, load_plan
from tests.conftest import EXAMPLE, EXAMPLE_AUGUST


def with_phases(plan: Plan, phases: list) -> Plan:
    return plan.model_copy(update={"phases": phases})


def test_example_versions_differ_by_four_moved_windows_and_the_revision() -> None:
    diff = diff_plans(load_plan(EXAMPLE_AUGUST), load_plan(EXAMPLE))
    assert diff.moved == ["carrier-connections", "messaging-core", "web-interface",
                          "api-endpoints"]
    assert [(c.phase, c.kind) for c in diff.changes] == [
        (None, "revision"), *((p, "moved") for p in diff.moved)]
    first = diff.of_kind("moved")[0]
    assert first.summary == ("moved 20 days 23h later: Mon 17 Aug 22:00 NZST (10:00 UTC) -> "
                             "Mon 7 Sep 21:00 NZST (09:00 UTC); now starts an hour earlier in "
                             "the day (21:00 NZST, was 22:00 NZST)")
    assert first.before["start_utc"] == "2020-08-17T10:00:00Z"
    assert first.after["start_utc"] == "2020-09-07T09:00:00Z"
    # same length windows: moved, not lengthened or shortened
    assert not diff.of_kind("lengthened") and not diff.of_kind("shortened")
    assert all(p.shift == timedelta(days=20, hours=23) for p in diff.pairs)


def test_a_plan_compared_with_itself_has_no_changes() -> None:
    plan = load_plan(EXAMPLE)
    diff = diff_plans(plan, plan)
    assert diff.changes == [] and diff.moved == []


def test_added_and_removed_phases() -> None:
    old = load_plan(EXAMPLE)
    new = with_phases(old, old.phases[:3])
    diff = diff_plans(old, new)
    assert [(c.phase, c.kind) for c in diff.changes] == [("api-endpoints", "removed")]
    assert diff.pairs[-1].new is None
    back = diff_plans(new, old)
    assert [(c.phase, c.kind) for c in back.changes] == [("api-endpoints", "added")]
    assert back.changes[0].summary == ("added: Thu 10 Sep 21:00 NZST (09:00 UTC) to "
                                       "Fri 11 Sep 01:00 NZST (Thu 10 Sep 13:00 UTC)")


def test_lengthened_and_shortened_windows() -> None:
    old = load_plan(EXAMPLE)
    longer = old.phases[0].model_copy(update={"end": old.phases[0].end + timedelta(hours=1)})
    shorter = old.phases[1].model_copy(update={"end": old.phases[1].end - timedelta(minutes=30)})
    diff = diff_plans(old, with_phases(old, [longer, shorter, *old.phases[2:]]))
    assert [(c.phase, c.kind, c.summary) for c in diff.changes] == [
        ("carrier-connections", "lengthened", "lengthened: 4h -> 5h"),
        ("messaging-core", "shortened", "shortened: 4h -> 3h 30m")]
    assert diff.moved == []


def test_impacts_dependencies_and_rollback_changes() -> None:
    old = load_plan(EXAMPLE)
    p1, p2, p3, p4 = old.phases
    p2 = p2.model_copy(update={"impacts": [
        Impact(service="api", level="degraded", detail=p2.impacts[0].detail),
        *p2.impacts[1:3],
        Impact(service="email2sms", level="delayed", detail="Queued."),
    ]})
    p3 = p3.model_copy(update={"depends_on": ["carrier-connections"]})
    p4 = p4.model_copy(update={"rollback": Rollback(duration=timedelta(minutes=45),
                                                    plan=p4.rollback.plan)})
    diff = diff_plans(old, with_phases(old, [p1, p2, p3, p4]))
    assert [(c.phase, c.kind, c.summary) for c in diff.changes] == [
        ("messaging-core", "impacts", "impacts: api unavailable -> degraded; email2sms added "
         "(delayed); dlr removed (was delayed)"),
        ("web-interface", "dependencies", "dependencies: now depends on carrier-connections; "
         "no longer depends on messaging-core"),
        ("api-endpoints", "rollback", "rollback: 30m -> 45m"),
    ]


def test_json_form_is_plain_json() -> None:
    data = diff_plans(load_plan(EXAMPLE_AUGUST), load_plan(EXAMPLE)).to_json()
    again = json.loads(json.dumps(data))
    assert again["old"]["revision"] == 1 and again["new"]["revision"] == 2
    assert again["windows"][0] == {
        "phase": "carrier-connections",
        "old": {"start_utc": "2020-08-17T10:00:00Z", "end_utc": "2020-08-17T14:00:00Z",
                "duration_minutes": 240.0},
        "new": {"start_utc": "2020-09-07T09:00:00Z", "end_utc": "2020-09-07T13:00:00Z",
                "duration_minutes": 240.0}}
    assert [c["kind"] for c in again["changes"]].count("moved") == 4


def test_a_move_says_when_the_window_now_starts_on_the_local_clock() -> None:
    diff = diff_plans(load_plan(EXAMPLE_AUGUST), load_plan(EXAMPLE))
    for change in diff.of_kind("moved"):
        assert change.summary.endswith(
            "; now starts an hour earlier in the day (21:00 NZST, was 22:00 NZST)")


def _moved(old_start_utc: str, new_start_utc: str) -> str:
    from datetime import datetime

    plan = load_plan(EXAMPLE)
    phase = plan.phases[0]
    old_start, new_start = (datetime.fromisoformat(t) for t in (old_start_utc, new_start_utc))
    old = phase.model_copy(update={"start": old_start, "end": old_start + phase.duration})
    new = phase.model_copy(update={"start": new_start, "end": new_start + phase.duration})
    diff = diff_plans(with_phases(plan, [old]), with_phases(plan, [new]))
    (change,) = diff.of_kind("moved")
    return change.summary


def test_clock_shift_across_midnight_and_across_a_dst_change() -> None:
    # 23:30 NZST -> 00:30 NZST two days later: an hour later in the day, not 23h earlier.
    assert _moved("2020-09-07T11:30:00+00:00", "2020-09-08T12:30:00+00:00").endswith(
        "; now starts an hour later in the day (00:30 NZST, was 23:30 NZST)")
    # 21:00 NZST -> 21:00 NZDT a week later (NZ DST began 27 Sep 2020): same local time, so
    # the change to say is the UTC one.
    assert _moved("2020-09-21T09:00:00+00:00", "2020-09-28T08:00:00+00:00").endswith(
        "; same local start time (21:00 NZDT), an hour earlier in UTC (was 21:00 NZST)")
    # 30 minutes later, same day
    assert _moved("2020-09-07T09:00:00+00:00", "2020-09-07T09:30:00+00:00") == (
        "moved 30m later: Mon 7 Sep 21:00 NZST (09:00 UTC) -> Mon 7 Sep 21:30 NZST (09:30 UTC)"
        "; now starts 30m later in the day (21:30 NZST, was 21:00 NZST)")
    # a whole week later at the same time: nothing about the clock
    assert "in the day" not in _moved("2020-09-07T09:00:00+00:00", "2020-09-14T09:00:00+00:00")
