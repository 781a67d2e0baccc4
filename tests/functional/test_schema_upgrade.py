"""A store written before schema 2 (no login, no signature columns) is read as it is and
upgraded by its next writer; its records keep their hashes."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from migration_runbook.store import SCHEMA_VERSION
from tests.conftest import EXAMPLE, UNTICKED


def test_a_version_1_store_is_read_then_upgraded_by_the_next_record(tmp_path):
    plan = load_plan(EXAMPLE)
    at = plan.phases[0].start
    with open_log(plan, tmp_path) as log:
        log.record("carrier-connections", "go", "alice", at=at)
        log.record("carrier-connections", "start", "alice", at=at + timedelta(minutes=10))
        hashes = [e.hash for e in log.events()]
    db = tmp_path / "events.sqlite"
    with sqlite3.connect(db) as conn:    # what a version-1 store looked like
        conn.execute("ALTER TABLE events DROP COLUMN login")
        conn.execute("ALTER TABLE events DROP COLUMN signature")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with open_log(plan, tmp_path) as log:
        assert [e.hash for e in log.events()] == hashes
        assert [e.login for e in log.events()] == ["", ""]
        assert log.verify().ok
        log.record("carrier-connections", "complete", "alice", UNTICKED,
                   at=at + timedelta(hours=1))
        assert log.verify().ok
        assert [e.hash for e in log.events()][:2] == hashes
    with sqlite3.connect(db) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(events)")]
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert columns[-2:] == ["login", "signature"]
    assert version == (str(SCHEMA_VERSION),)
