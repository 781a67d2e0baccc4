"""The phase state machine, its gate, and reading attempts back from events (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from migration_runbook import states
from migration_runbook.events import Event
from migration_runbook.plan import load_plan

# Written out by hand (not derived from the code) so that a changed transition fails here.
ALLOWED = {
    ("planned", "go"): "approved",
    ("planned", "no-go"): "held",
    ("held", "go"): "approved",
    ("approved", "start"): "in-progress",
    ("approved", "no-go"): "held",
    ("in-progress", "complete"): "completed",
    ("in-progress", "rollback"): "rolling-back",
    ("rolling-back", "rolled-back"): "rolled-back",
    ("rolled-back", "go"): "approved",
    **{(state, "note"): state for state in states.STATES},
    # approvals of the next go: where go is allowed, leaving the state as it is
    **{(state, event): state for state in ("planned", "held", "rolled-back")
       for event in ("approve", "revoke")},
}
ALLOWED_LISTS = {
    "planned": ["go", "no-go", "note"],
    "approved": ["start", "no-go", "note"],
    "held": ["go", "note"],
    "in-progress": ["complete", "rollback", "note"],
    "completed": ["note"],
    "rolling-back": ["rolled-back", "note"],
    "rolled-back": ["go", "note"],
}
SOURCES = {   # the states an event may come from, as the refusal names them
    "go": "planned, held or rolled-back",
    "no-go": "planned or approved",
    "start": "approved",
    "complete": "in-progress",
    "rollback": "in-progress",
    "rolled-back": "rolling-back",
    "approve": "planned, held or rolled-back",
    "revoke": "planned, held or rolled-back",
}
ALL = [(s, e) for s in states.STATES for e in states.EVENTS]
REFUSED = [pair for pair in ALL if pair not in ALLOWED]

T0 = datetime(2020, 9, 7, 9, 0, tzinfo=UTC)



@pytest.fixture
def diamond(write_plan):
    """Two independent phases, then one that depends on both, across the start of NZDT."""
    return load_plan(write_plan("""
        id: diamond
        title: Diamond
        timezone: Pacific/Auckland
        services: [{id: api, name: API}]
        phases:
          - {id: db, name: Database, start: 2020-09-26 20:00, end: 2020-09-26 23:00,
             rollback: {duration: 30m, plan: back}}
          - {id: cache, name: Cache, start: 2020-09-26 20:00, end: 2020-09-26 23:00,
             rollback: {duration: 30m, plan: back}}
          - {id: app, name: App, start: 2020-09-27 01:00, end: 2020-09-27 05:00,
             depends_on: [db, cache], rollback: {duration: 30m, plan: back}}
    """))


def ev(seq: int, phase: str, event: str, minutes: float, operator: str = "alice") -> Event:
    at = T0 + timedelta(minutes=minutes)
    return Event(seq=seq, plan="p", phase=phase, event=event, operator=operator, reason="",
                 at=at, recorded_at=at, source="cli", notebook="", details={},
                 prev_hash="", hash="")


@pytest.mark.parametrize(("state", "event"), sorted(ALLOWED), ids="{0[0]}-{0[1]}".format)
def test_allowed_transition_leads_to_the_designed_state(plan, state, event):
    assert states.next_state(state, event) == ALLOWED[(state, event)]
    assert states.refusal(plan, {"carrier-connections": state}, "carrier-connections",
                          event) is None


@pytest.mark.parametrize(("state", "event"), REFUSED, ids="{0[0]}-{0[1]}".format)
def test_refused_transition_says_what_the_phase_is_and_what_it_allows(plan, state, event):
    assert states.next_state(state, event) is None
    message = states.refusal(plan, {"carrier-connections": state}, "carrier-connections", event)
    assert message == (f"phase 'carrier-connections' cannot {event}: it is {state}, not "
                       f"{SOURCES[event]} (allowed: {', '.join(ALLOWED_LISTS[state])})")
    assert "\n" not in message


def test_the_brief_s_example_refusal_reads_as_written(plan):
    message = states.refusal(plan, {"carrier-connections": "approved"}, "carrier-connections",
                             "complete")
    assert message == ("phase 'carrier-connections' cannot complete: it is approved, not "
                       "in-progress (allowed: start, no-go, note)")


@pytest.mark.parametrize("state", states.STATES)
def test_allowed_events_list_the_forward_event_first_and_note_last(state):
    assert states.allowed_events(state) == ALLOWED_LISTS[state]


def test_unknown_state_allows_nothing():
    assert states.allowed_events("exploded") == []
    assert states.next_state("exploded", "note") is None


def test_unknown_event_is_refused_naming_the_events(plan):
    message = states.refusal(plan, {}, "carrier-connections", "review")
    assert message == ("phase 'carrier-connections': unknown event 'review' (events: go, "
                       "no-go, start, complete, rollback, rolled-back, note, approve, revoke)")


def test_unknown_phase_is_refused_naming_the_phases(plan):
    message = states.refusal(plan, {}, "dns", "go")
    assert message == ("phase 'dns' cannot go: plan 'omni-hosting-2020' has no such phase "
                       "(phases: carrier-connections, messaging-core, web-interface, "
                       "api-endpoints)")


@pytest.mark.parametrize("dep_state", [s for s in states.STATES if s != "completed"])
def test_go_is_refused_until_dependencies_complete(plan, dep_state):
    current = {"carrier-connections": dep_state, "messaging-core": "planned"}
    assert states.refusal(plan, current, "messaging-core", "go") == (
        f"phase 'messaging-core' cannot go: 'carrier-connections' is {dep_state}, "
        "not completed")
    verdict = states.gate(plan, current, "messaging-core")
    assert not verdict.is_open
    assert verdict.blocking == [("carrier-connections", dep_state)]
    assert verdict.reason() == f"blocked by 'carrier-connections' ({dep_state})"
    assert "go" not in states.next_events(plan, current, "messaging-core")


def test_go_is_allowed_once_dependencies_complete(plan):
    current = {"carrier-connections": "completed"}
    assert states.refusal(plan, current, "messaging-core", "go") is None
    assert states.gate(plan, current, "messaging-core").reason() == "open"
    assert states.next_events(plan, current, "messaging-core") == ["go", "no-go", "note"]


def test_the_state_is_judged_before_the_gate(plan):
    current = {"carrier-connections": "planned", "messaging-core": "completed"}
    assert "it is completed" in states.refusal(plan, current, "messaging-core", "go")


def test_gate_names_every_dependency_that_blocks(diamond):
    current = {"db": "completed", "cache": "in-progress"}
    assert states.gate(diamond, current, "app").reason() == "blocked by 'cache' (in-progress)"
    current = {"db": "rolled-back"}
    verdict = states.gate(diamond, current, "app")
    assert verdict.blocking == [("db", "rolled-back"), ("cache", "planned")]
    assert verdict.reason() == "blocked by 'db' (rolled-back), 'cache' (planned)"
    assert states.refusal(diamond, current, "app", "go") == (
        "phase 'app' cannot go: 'db' is rolled-back, not completed; 'cache' is planned, "
        "not completed")


def test_a_phase_without_dependencies_has_an_open_gate(plan):
    assert states.gate(plan, {}, "carrier-connections").is_open


def test_replay_follows_the_log_and_ignores_phases_the_plan_lost(plan):
    log = [ev(1, "carrier-connections", "go", 0), ev(2, "carrier-connections", "start", 10),
           ev(3, "carrier-connections", "note", 20), ev(4, "retired-phase", "go", 30)]
    result = states.replay(plan, log)
    assert result == {"carrier-connections": "in-progress", "messaging-core": "planned",
                      "web-interface": "planned", "api-endpoints": "planned"}


def attempt_log() -> list[Event]:
    """Attempt 1 rolls back, attempt 2 completes 20 minutes late; phase 2 is running."""
    return [
        ev(1, "carrier-connections", "go", -10),
        ev(2, "carrier-connections", "start", 5),
        ev(3, "carrier-connections", "rollback", 60),
        ev(4, "carrier-connections", "rolled-back", 100),
        ev(5, "carrier-connections", "go", 110),
        ev(6, "carrier-connections", "note", 112, operator="bob"),
        ev(7, "carrier-connections", "start", 120, operator="bob"),
        ev(8, "carrier-connections", "complete", 260, operator="bob"),
        ev(9, "messaging-core", "go", 24 * 60 - 5),
        ev(10, "messaging-core", "start", 24 * 60 + 30),
    ]


def test_actual_windows_has_one_row_an_attempt(plan):
    frame = states.actual_windows(plan, attempt_log())
    assert list(frame["phase"]) == ["carrier-connections", "carrier-connections",
                                    "messaging-core"]
    assert list(frame["attempt"]) == [1, 2, 1]
    assert list(frame["outcome"]) == ["rolled-back", "completed", "in-progress"]
    first, second, running = (frame.iloc[i] for i in range(3))
    assert first["start_utc"] == T0 + timedelta(minutes=5)
    assert first["rollback_start_utc"] == T0 + timedelta(minutes=60)
    assert first["end_utc"] == T0 + timedelta(minutes=100)
    assert pd.isna(second["rollback_start_utc"])
    assert second["operator"] == "bob"
    assert second["duration_minutes"] == 140
    assert second["overrun_minutes"] == 20          # planned end 13:00 UTC, ended 13:20
    assert pd.isna(running["end_utc"]) and pd.isna(running["duration_minutes"])
    assert running["start_delay_minutes"] == 30
    assert running["planned_start_utc"] == plan.phase("messaging-core").start


def test_actual_windows_frame_has_utc_times_even_when_empty(plan):
    for frame in (states.actual_windows(plan, []), states.actual_windows(plan, attempt_log())):
        assert list(frame.columns) == states.WINDOW_COLUMNS
        for column in ("start_utc", "end_utc", "rollback_start_utc", "planned_start_utc",
                       "planned_end_utc"):
            assert str(frame[column].dtype) == "datetime64[us, UTC]"
        assert str(frame["overrun_minutes"].dtype) == "float64"


def test_actual_windows_keep_a_phase_the_plan_no_longer_has(plan):
    frame = states.actual_windows(plan, [ev(1, "retired", "start", 0)])
    assert frame.iloc[0]["phase_name"] == "retired"
    assert pd.isna(frame.iloc[0]["planned_start_utc"]) and pd.isna(frame.iloc[0]["order"])


def test_status_rows_show_state_gate_actuals_overrun_and_next(plan):
    now = T0 + timedelta(days=1, hours=4, minutes=45)     # messaging-core due to end at +1d4h
    rows = {r["id"]: r for r in states.status_rows(plan, attempt_log(), now=now)}
    done, running, blocked = (rows["carrier-connections"], rows["messaging-core"],
                              rows["web-interface"])
    assert done["state"] == "completed" and done["attempt"] == 2
    assert done["actual_start_utc"] == "2020-09-07T11:00:00Z"
    assert done["actual_start"] == "2020-09-07T23:00+12:00"
    assert done["actual_end_utc"] == "2020-09-07T13:20:00Z"
    assert done["overrun_minutes"] == 20 and done["overrun_text"] == "+20m"
    assert done["actual_text"].startswith("attempt 2: Mon 7 Sep 23:00 NZST (11:00 UTC)")
    assert done["next_events"] == ["note"] and done["events"] == 8
    assert done["last_event"] == {"event": "complete", "operator": "bob",
                                  "at_utc": "2020-09-07T13:20:00Z"}
    assert running["state"] == "in-progress" and running["running"]
    assert running["overrun_minutes"] == 45 and running["overrun_text"] == "+45m so far"
    assert running["next_events"] == ["complete", "rollback", "note"]
    assert blocked["gate"] == "blocked by 'messaging-core' (in-progress)"
    assert blocked["blocked_by"] == [{"phase": "messaging-core", "state": "in-progress"}]
    assert blocked["next_events"] == ["no-go", "note"]
    assert blocked["actual_text"] == "-" and blocked["overrun_minutes"] is None
    assert blocked["planned_start"] == "2020-09-09T21:00+12:00"
    assert blocked["planned_start_abbrev"] == "NZST"
    assert blocked["planned_start_utc"] == "2020-09-09T09:00:00Z"


def test_status_of_a_phase_running_inside_its_window_is_on_time(plan):
    now = T0 + timedelta(days=1, hours=1)
    rows = {r["id"]: r for r in states.status_rows(plan, attempt_log(), now=now)}
    assert rows["messaging-core"]["overrun_text"] == "on time so far"


def test_status_times_carry_the_abbreviation_in_force_across_dst(diamond):
    # NZDT starts at 02:00 NZST on 27 Sep 2020: 'app' is planned 01:00 NZST to 05:00 NZDT.
    at = datetime(2020, 9, 26, 14, 30, tzinfo=UTC)          # 03:30 NZDT
    log = [Event(seq=i, plan="diamond", phase=p, event=e, operator="a", reason="",
                 at=at + timedelta(minutes=i), recorded_at=at, source="rehearsal",
                 notebook="", details={}, prev_hash="", hash="")
           for i, (p, e) in enumerate([("db", "go"), ("db", "start"), ("db", "complete"),
                                       ("cache", "go"), ("cache", "start"),
                                       ("cache", "complete"), ("app", "go"),
                                       ("app", "start")], start=1)]
    row = {r["id"]: r for r in states.status_rows(diamond, log, now=at)}["app"]
    assert (row["planned_start_abbrev"], row["planned_end_abbrev"]) == ("NZST", "NZDT")
    assert row["planned_end"] == "2020-09-27T05:00+13:00"
    assert row["actual_start_abbrev"] == "NZDT"
    assert row["actual_start"] == "2020-09-27T03:38+13:00"
    assert "NZST" in row["planned_text"] and "NZDT" in row["planned_text"]
    assert row["gate"] == "open"
