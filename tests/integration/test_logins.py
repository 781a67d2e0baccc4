"""Identity from the shared store: on PostgreSQL each record keeps the database login that
wrote it (`session_user`), covered by its hash, and a plan's `team[].login` must match."""

from __future__ import annotations

import json

import pytest

from migration_runbook.errors import EventRefused
from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import run_cli

pytestmark = pytest.mark.postgres

PLAN = """
id: logins
title: Two logins
timezone: UTC
services: [{{id: api, name: API}}]
team:
  - {{name: alice, roles: [incident-commander], login: {alice}}}
  - {{name: bob, roles: [change-manager], login: {bob}}}
  - {{name: carol, roles: [change-manager]}}
approvals: {{go: [change-manager]}}
phases:
  - {{id: db, name: Database, start: 2020-03-02 10:00, end: 2020-03-02 14:00,
     rollback: {{duration: 30m, plan: back}}}}
"""



def test_each_record_keeps_its_login_and_a_plan_login_must_match(postgres, write_plan, env):
    url = postgres.new_database()
    name = url.rsplit("/", 1)[1]
    assert run_cli("store", "init", url, env=env).returncode == 0
    logins = {person: f"{person}_{name}" for person in ("alice", "bob")}
    for login in logins.values():
        postgres.admin(f"CREATE ROLE {login} LOGIN")
        postgres.admin(f"GRANT SELECT ON meta TO {login}; GRANT SELECT, INSERT ON events TO "
                       f"{login}; GRANT SELECT, INSERT, UPDATE ON plans TO {login}", name)
    urls = {person: postgres.url(name, user=login) for person, login in logins.items()}
    plan = load_plan(write_plan(PLAN.format(**logins)))

    with open_log(plan, store=urls["alice"]) as log:
        note = log.record("db", "note", "alice", "from alice's login")
        assert note.login == logins["alice"]
        # bob's decision typed at alice's connection is refused; nothing is written
        with pytest.raises(EventRefused) as caught:
            log.record("db", "approve", "bob")
        assert str(caught.value) == (
            f"phase 'db' cannot approve: bob records as database login '{logins['bob']}', "
            f"and this connection is '{logins['alice']}' (connect as {logins['bob']})")
        # carol has no login in the plan: recorded under whichever login she used
        assert log.record("db", "approve", "carol").login == logins["alice"]
        assert len(log.events()) == 2
    with open_log(plan, store=urls["bob"]) as log:
        with pytest.raises(EventRefused, match="alice records as database login"):
            log.record("db", "go", "alice")
        assert log.record("db", "revoke", "carol").login == logins["bob"]
        approve = log.record("db", "approve", "bob")
        assert approve.login == logins["bob"]
        assert [e.login for e in log.events()] == [logins["alice"], logins["alice"],
                                                   logins["bob"], logins["bob"]]
        assert log.verify().ok

    shown = run_cli("log", plan.source, "--store", url, "--format", "json", env=env)
    assert [r["login"] for r in json.loads(shown.stdout)] == \
        [logins["alice"], logins["alice"], logins["bob"], logins["bob"]]
    # the login is covered by the hash: changing it afterwards breaks the chain there
    postgres.admin(f"UPDATE events SET login = '{logins['bob']}' WHERE seq = 1", name)
    result = run_cli("verify", plan.source, "--store", url, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("record 1 was edited, deleted or reordered: its contents "
                                    "do not match its hash")
