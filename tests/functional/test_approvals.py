"""Who may decide: the team, approvals by role before `go`, four eyes, revoke, voiding.

Through the real event log on SQLite (the rules are the log's, whatever the store); one test
goes through `runbook phase ... approve` and the phase notebook, one through the rehearsal.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from migration_runbook import approvals
from migration_runbook.errors import EventRefused, PlanInvalid
from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import run_cli

T0 = datetime(2020, 3, 1, 20, 0, tzinfo=UTC)
TEAM_PLAN = """
id: board
title: Change board
timezone: Pacific/Auckland
revision: {revision}
services: [{{id: api, name: API}}]
team:
  - {{name: alice, roles: [incident-commander]}}
  - {{name: bob, roles: [change-manager]}}
  - {{name: carol, roles: [service-owner]}}
  - {{name: dave, roles: [change-manager, service-owner]}}
approvals: {{go: [change-manager, service-owner]}}
phases:
  - {{id: db, name: Database, start: 2020-03-02 10:00, end: 2020-03-02 14:00,
     rollback: {{duration: 30m, plan: back}}}}
  - {{id: dns, name: DNS, start: 2020-03-03 10:00, end: 2020-03-03 12:00,
     approvals: {{go: [change-manager]}}, rollback: {{duration: 10m, plan: back}}}}
  - {{id: docs, name: Docs, start: 2020-03-04 10:00, end: 2020-03-04 12:00,
     approvals: {{go: []}}, rollback: {{duration: 10m, plan: back}}}}
"""


@pytest.fixture
def plan_path(write_plan):
    return write_plan(TEAM_PLAN.format(revision=1))


@pytest.fixture
def log(plan_path, tmp_path):
    with open_log(load_plan(plan_path), tmp_path / "run") as opened:
        yield opened


DAY = 24 * 60  # dns's window is a day after db's: its events within 12 hours of it


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def refused(log, phase, event, operator, minutes=0.0) -> str:
    before = len(log.events())
    with pytest.raises(EventRefused) as caught:
        log.record(phase, event, operator, at=at(minutes))
    assert len(log.events()) == before, "a refusal wrote something"
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_an_operator_not_on_the_team_is_refused(log):
    message = refused(log, "docs", "note", "mallory")
    assert message == ("phase 'docs' cannot note: 'mallory' is not on the plan's team "
                       "(team: alice, bob, carol, dave)")
    assert log.record("docs", "note", "alice").operator == "alice"


def test_go_is_refused_naming_each_missing_role_until_both_approved(log):
    message = refused(log, "db", "go", "alice")
    assert message == ("phase 'db' cannot go: waiting for approval by change-manager (may "
                       "approve: bob and dave); service-owner (may approve: carol and dave)")
    log.record("db", "approve", "bob", at=at(1))
    message = refused(log, "db", "go", "alice", 2)
    assert message == ("phase 'db' cannot go: waiting for approval by service-owner (may "
                       "approve: carol and dave); approved so far: change-manager by bob")
    log.record("db", "approve", "carol", at=at(3))
    go = log.record("db", "go", "alice", at=at(4))
    assert go.details["approvals"] == {"change-manager": {"by": "bob", "seq": 1},
                                       "service-owner": {"by": "carol", "seq": 2}}
    assert log.states()["db"] == "approved"


def test_one_person_holding_both_roles_counts_once(log):
    log.record("db", "approve", "dave", at=at(1))
    approve = log.events()[-1]
    assert approve.details == {"roles": ["change-manager", "service-owner"], "revision": 1}
    message = refused(log, "db", "go", "alice", 2)
    assert "each role needs a different person" in message
    assert message.startswith("phase 'db' cannot go: waiting for approval by ")
    # dave approving twice is refused too
    assert refused(log, "db", "approve", "dave", 2) == \
        "phase 'db' cannot approve: dave has already approved it (event #1)"
    log.record("db", "approve", "bob", at=at(3))    # now dave counts as service-owner
    assert log.record("db", "go", "alice", at=at(4)).details["approvals"] == {
        "change-manager": {"by": "bob", "seq": 2}, "service-owner": {"by": "dave", "seq": 1}}


def test_the_go_sayer_may_not_be_the_only_approver(log):
    log.record("dns", "approve", "bob", at=at(DAY + 1))
    message = refused(log, "dns", "go", "bob", DAY + 2)
    assert message == ("phase 'dns' cannot go: bob is its only approver and may not also say "
                       "go (four eyes): another change-manager (dave) must approve, or "
                       "another team member say go")
    assert log.record("dns", "go", "alice", at=at(DAY + 3)).details["approvals"] == {
        "change-manager": {"by": "bob", "seq": 1}}


def test_the_go_sayer_may_approve_when_someone_else_approved_too(log):
    log.record("db", "approve", "bob", at=at(1))
    log.record("db", "approve", "carol", at=at(2))
    assert log.record("db", "go", "carol", at=at(3)).event == "go"


def test_approval_needs_a_required_role(log):
    assert refused(log, "db", "approve", "alice") == (
        "phase 'db' cannot approve: alice holds no role its go needs (needs change-manager "
        "and service-owner; alice holds incident-commander)")
    assert refused(log, "docs", "approve", "bob") == (
        "phase 'docs' cannot approve: the plan asks no approval for its go (approvals: {go: "
        "[roles]})")


def test_revoke_withdraws_an_approval(log):
    log.record("db", "approve", "bob", at=at(1))
    log.record("db", "approve", "carol", at=at(2))
    log.record("db", "revoke", "carol", reason="found a problem", at=at(3))
    message = refused(log, "db", "go", "alice", 4)
    assert "waiting for approval by service-owner" in message
    assert refused(log, "db", "revoke", "carol", 4) == \
        "phase 'db' cannot revoke: carol has no standing approval of its go"
    statuses = [(r["by"], r["status"]) for r in approvals.rows(log.plan, log.events(), "db")]
    assert statuses == [("bob", "standing"), ("carol", "revoked")]
    log.record("db", "approve", "dave", at=at(5))
    assert log.record("db", "go", "alice", at=at(6)).event == "go"


def test_a_rollback_voids_the_approvals(log):
    for n, (event, who) in enumerate([("approve", "bob"), ("approve", "carol"),
                                      ("go", "alice"), ("start", "alice"),
                                      ("rollback", "alice"), ("rolled-back", "alice")]):
        log.record("db", event, who, at=at(n))
    message = refused(log, "db", "go", "alice", 10)
    assert message.startswith("phase 'db' cannot go: waiting for approval by change-manager")
    rows = approvals.rows(log.plan, log.events(), "db")
    assert [r["status"] for r in rows] == ["voided by rollback", "voided by rollback"]
    log.record("db", "approve", "bob", at=at(11))
    log.record("db", "approve", "carol", at=at(12))
    assert log.record("db", "go", "alice", at=at(13)).event == "go"


def test_a_no_go_keeps_the_approvals(log):
    log.record("db", "approve", "bob", at=at(1))
    log.record("db", "approve", "carol", at=at(2))
    log.record("db", "no-go", "alice", at=at(3))
    assert log.record("db", "go", "alice", at=at(4)).event == "go"


def test_a_plan_revision_voids_the_approvals(plan_path, tmp_path):
    with open_log(load_plan(plan_path), tmp_path / "run") as log:
        log.record("db", "approve", "bob", at=at(1))
        log.record("db", "approve", "carol", at=at(2))
    plan_path.write_text(plan_path.read_text().replace("revision: 1", "revision: 2"))
    with open_log(load_plan(plan_path), tmp_path / "run") as log:
        message = refused(log, "db", "go", "alice", 3)
        assert message.startswith("phase 'db' cannot go: waiting for approval by "
                                  "change-manager")
        assert [r["status"] for r in approvals.rows(log.plan, log.events(), "db")] == \
            ["voided by revision", "voided by revision"]


def test_approvals_are_checked_when_the_plan_is_loaded(write_plan):
    path = write_plan(TEAM_PLAN.format(revision=1).replace(
        "approvals: {go: [change-manager, service-owner]}",
        "approvals: {go: [change-manager, auditor]}"))
    with pytest.raises(PlanInvalid) as caught:
        load_plan(path)
    assert caught.value.lines() == [
        f"{path}:11: approvals.go: no team member holds the role 'auditor' (roles held: "
        "change-manager, incident-commander, service-owner)"]
    twice = write_plan(TEAM_PLAN.format(revision=1).replace("name: carol", "name: bob"),
                       "twice.yaml")
    with pytest.raises(PlanInvalid, match="team member 'bob' is listed twice"):
        load_plan(twice)


def test_status_shows_who_approved_what_and_when(plan_path, tmp_path):
    with open_log(load_plan(plan_path), tmp_path / "run") as log:
        log.record("db", "approve", "bob", at=at(1))
    result = run_cli("status", plan_path, "--outputs", tmp_path / "run", "--format", "json")
    assert result.returncode == 0, result.stderr
    db = json.loads(result.stdout)[0]
    assert db["approvals"] == {
        "required": ["change-manager", "service-owner"],
        "approved": [{"role": "change-manager", "by": "bob", "at_utc": "2020-03-01T20:01:00Z",
                      "seq": 1}],
        "missing": ["service-owner"]}
    assert db["next_events"] == ["go", "no-go", "note", "approve", "revoke"]
    table = run_cli("status", plan_path, "--outputs", tmp_path / "run")
    assert "change-manager: bob" in table.stdout and "missing: service-owner" in table.stdout


def test_approve_through_the_cli_and_the_phase_notebook(plan_path, tmp_path):
    run = tmp_path / "run"
    refused_go = run_cli("phase", plan_path, "dns", "go", "--operator", "alice",
                         "--outputs", run)
    assert refused_go.returncode == 1
    assert refused_go.stderr.strip() == (
        "phase 'dns' cannot go: waiting for approval by change-manager (may approve: bob "
        "and dave)")
    done = run_cli("phase", plan_path, "dns", "approve", "--operator", "bob", "--outputs", run)
    assert done.returncode == 0, done.stderr
    assert "dns: approve recorded as event #1 by bob" in done.stdout
    notebook = json.loads(next((run / "notebooks").glob("*approve*.ipynb")).read_text())
    text = json.dumps(notebook)
    assert "Approvals the go needs: change-manager; missing: change-manager" in text
    assert "approves as" in text
    stranger = run_cli("phase", plan_path, "dns", "note", "--operator", "mallory",
                       "--outputs", run)
    assert stranger.returncode == 1
    assert "'mallory' is not on the plan's team" in stranger.stderr
    with sqlite3.connect(run / "events.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1


def test_a_rehearsal_records_approvals_by_the_first_holder_of_each_role(plan_path, tmp_path):
    from migration_runbook.rehearsal import script

    steps = script(load_plan(plan_path))
    db = [(s.event, s.operator) for s in steps if s.phase == "db"]
    assert db == [("approve", "bob"), ("approve", "carol"), ("go", "alice"),
                  ("start", "alice"), ("complete", "alice")]
    dns = [(s.event, s.operator) for s in steps if s.phase == "dns"]
    assert dns[:2] == [("approve", "bob"), ("go", "alice")]
    docs = [(s.event, s.operator) for s in steps if s.phase == "docs"]
    assert docs[0] == ("go", "alice")


def test_a_rehearsal_with_approvals_records_them_and_the_report_shows_them(plan_path, tmp_path):
    from migration_runbook.rehearsal import rehearse

    result = rehearse(plan_path, tmp_path / "rehearsal")
    assert result.verified_ok, result.verified
    assert result.states == {"db": "completed", "dns": "completed", "docs": "completed"}
    with open_log(load_plan(plan_path), tmp_path / "rehearsal") as log:
        approved = [(e.phase, e.operator, e.details["roles"]) for e in log.events()
                    if e.event == "approve"]
    assert approved == [("db", "bob", ["change-manager"]), ("db", "carol", ["service-owner"]),
                        ("dns", "bob", ["change-manager"])]
    html = result.report.read_text(encoding="utf-8")
    table = '<table class="report-table report-approvals">'   # not the stylesheet's rule
    assert table in html
    section = html.split(table, 1)[1].split("</table>", 1)[0]
    for text in ("bob", "carol", "change-manager", "service-owner", "standing", "NZDT"):
        assert text in section, text
