"""The event log through a real store: refusals write nothing, the chain catches tampering.

Tests taking `log` (or `store_url`) run on SQLite and on PostgreSQL (tests/postgres.py).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from migration_runbook import events as event_log
from migration_runbook.errors import EventRefused, StoreError
from migration_runbook.events import Event, open_log, record_hash
from migration_runbook.plan import load_plan
from migration_runbook.store import SCHEMA_VERSION, Store, store_error
from tests.conftest import EXAMPLE, UNTICKED

PHASE = "carrier-connections"
PATHS = {   # the events that bring a phase from planned to each state
    "planned": [],
    "approved": ["go"],
    "held": ["no-go"],
    "in-progress": ["go", "start"],
    "completed": ["go", "start", "complete"],
    "rolling-back": ["go", "start", "rollback"],
    "rolled-back": ["go", "start", "rollback", "rolled-back"],
}
ALLOWED = {
    ("planned", "go"): "approved", ("planned", "no-go"): "held", ("held", "go"): "approved",
    ("approved", "start"): "in-progress", ("approved", "no-go"): "held",
    ("in-progress", "complete"): "completed", ("in-progress", "rollback"): "rolling-back",
    ("rolling-back", "rolled-back"): "rolled-back", ("rolled-back", "go"): "approved",
}
T0 = datetime(2020, 9, 7, 8, 50, tzinfo=UTC)



@pytest.fixture
def log(plan, store_url):
    with open_log(plan, store=store_url) as opened:
        yield opened


def rows(log) -> list[tuple]:
    """Every row of every table, to compare a store before and after."""
    if not created(log):
        return []
    with log.store.engine.connect() as conn:
        return [tuple(r) for table in ("meta", "plans", "events")
                for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))]


def created(log) -> bool:
    """Whether anything exists of the store: its SQLite file, or tables in the database."""
    if log.store.backend == "sqlite":
        return log.store.exists()
    with log.store.engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_tables "
                                      "WHERE schemaname = current_schema()")).scalar())


def bring(log, phase: str, state: str, start: datetime = T0) -> None:
    for i, name in enumerate(PATHS[state]):
        log.record(phase, name, "alice", at=start + timedelta(minutes=i),
                   reason=UNTICKED if name == "complete" else "")


@pytest.mark.parametrize("state", list(PATHS))
@pytest.mark.parametrize("event", ["go", "no-go", "start", "complete", "rollback",
                                   "rolled-back", "note"])
def test_every_transition_is_recorded_or_refused_as_designed(log, state, event):
    bring(log, PHASE, state)
    before = rows(log)
    expected = state if event == "note" else ALLOWED.get((state, event))
    if expected is None:
        with pytest.raises(EventRefused) as refused:
            log.record(PHASE, event, "bob", at=T0 + timedelta(hours=1))
        assert str(refused.value).startswith(f"phase '{PHASE}' cannot {event}: it is {state}, "
                                             "not ")
        assert (refused.value.phase, refused.value.event) == (PHASE, event)
        assert rows(log) == before
        return
    recorded = log.record(PHASE, event, "bob", reason="per plan", at=T0 + timedelta(hours=1))
    assert (recorded.seq, recorded.phase, recorded.event) == (len(PATHS[state]) + 1, PHASE, event)
    assert log.states()[PHASE] == expected
    assert log.verify().ok


def test_go_is_refused_while_a_dependency_is_in_progress(log):
    bring(log, PHASE, "in-progress")
    before = rows(log)
    with pytest.raises(EventRefused, match=r"^phase 'messaging-core' cannot go: "
                       r"'carrier-connections' is in-progress, not completed$"):
        log.record("messaging-core", "go", "bob")
    assert rows(log) == before
    log.check("messaging-core", "no-go")            # other events stay possible
    log.record(PHASE, "complete", "alice", UNTICKED)
    log.check("messaging-core", "go")
    assert log.record("messaging-core", "go", "bob").seq == 4


def test_check_refuses_like_record_and_writes_nothing(log, tmp_path):
    with pytest.raises(EventRefused, match="cannot complete: it is planned"):
        log.check(PHASE, "complete")
    log.check(PHASE, "go")
    assert not created(log)
    assert not any(tmp_path.rglob("*.sqlite*"))


@pytest.mark.parametrize(("phase", "event", "operator", "message"), [
    ("dns", "go", "alice", "phase 'dns' cannot go: plan 'omni-hosting-2020' has no such phase"),
    (PHASE, "review", "alice", f"phase '{PHASE}': unknown event 'review' (events: go, no-go"),
    (PHASE, "go", "", f"phase '{PHASE}' cannot go: an operator name is required"),
    (PHASE, "go", "   ", f"phase '{PHASE}' cannot go: an operator name is required"),
])
def test_bad_input_is_refused_before_anything_is_written(log, phase, event, operator, message):
    with pytest.raises(EventRefused) as refused:
        log.record(phase, event, operator)
    assert str(refused.value).startswith(message)
    assert not created(log)


def test_a_refusal_on_a_fresh_log_creates_no_file(log, tmp_path):
    with pytest.raises(EventRefused):
        log.record(PHASE, "start", "alice")
    assert not any(tmp_path.rglob("*.sqlite*"))
    assert not created(log)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"source": "cron"}, "unknown source 'cron' (sources: cli, notebook, rehearsal)"),
    ({"at": "yesterday"}, "at: invalid time 'yesterday' (write 'YYYY-MM-DD HH:MM' in the "
                     "plan's zone"),
    ({"details": ["not", "a", "mapping"]}, "details must be a mapping"),
    ({"reason": "x" * 10_001}, "reason is limited to 10000 characters"),
    ({"reason": "fine\x1b[2J"}, "control character U+001B is not allowed in reason"),
    ({"operator": "al\nice"}, "control character U+000A is not allowed"),
])
def test_bad_fields_are_refused(log, kwargs, message):
    with pytest.raises(EventRefused) as refused:
        log.record(PHASE, "go", **{"operator": "alice", **kwargs})
    assert str(refused.value).startswith(f"phase '{PHASE}' cannot go: {message}")
    assert not created(log)


def test_an_event_earlier_than_the_phase_s_previous_one_is_refused(log):
    log.record(PHASE, "go", "alice", at="2020-09-07T09:00:00Z")
    before = rows(log)
    with pytest.raises(EventRefused) as refused:
        log.record(PHASE, "start", "alice", at="2020-09-07T08:59:00Z")
    assert str(refused.value) == (
        f"phase '{PHASE}' cannot start at Mon 7 Sep 20:59 NZST (08:59 UTC): that is before its "
        "previous event (go at Mon 7 Sep 21:00 NZST (09:00 UTC))")
    assert rows(log) == before
    log.record(PHASE, "start", "alice", at="2020-09-07T09:00:00Z")     # the same instant is fine


def test_another_phase_s_times_do_not_constrain_back_filling(log):
    log.record(PHASE, "note", "alice", at="2020-09-07T22:00:00Z")
    log.record("messaging-core", "note", "alice", at="2020-09-07T21:30:00Z")
    log.record("api-endpoints", "note", "alice", reason="vendor call a week before",
               at="2020-09-01T09:00:00Z")


def test_a_file_store_belongs_to_one_plan_a_server_store_is_shared(plan, log, write_plan):
    log.record(PHASE, "go", "alice")
    other_text = EXAMPLE.read_text(encoding="utf-8").replace("id: omni-hosting-2020",
                                                              "id: other-plan", 1)
    other = load_plan(write_plan(other_text))
    if log.store.backend == "postgresql":         # one database, a log per plan
        with open_log(other, store=str(log.store.url)) as neighbour:
            assert neighbour.record(PHASE, "go", "mallory").seq == 1
            assert neighbour.verify().ok and [e.plan for e in neighbour.events()] == \
                ["other-plan"]
        assert [(e.seq, e.plan, e.operator) for e in log.events()] == \
            [(1, "omni-hosting-2020", "alice")]
        assert log.verify().ok
        return
    with open_log(other, store=str(log.store.url)) as intruder:
        before = rows(log)
        with pytest.raises(EventRefused, match="belongs to plan 'omni-hosting-2020', not "
                                               "'other-plan'"):
            intruder.record(PHASE, "go", "mallory")
        with pytest.raises(StoreError, match="belongs to plan 'omni-hosting-2020'"):
            intruder.events()
    assert rows(log) == before


def test_recorded_event_round_trips_every_field(log):
    at = datetime(2020, 9, 7, 8, 55, 1, 250000, tzinfo=UTC)
    recorded = log.record(PHASE, "go", " alice ", reason=" checks green ", at=at,
                          source="notebook", notebook="outputs/x/phase-1-go.ipynb",
                          details={"checks": [{"name": "API", "ok": True, "ms": 12.5}],
                                   "override": False})
    [stored] = log.events()
    assert stored == recorded
    assert stored.operator == "alice" and stored.reason == "checks green"
    assert stored.at == at and stored.at.tzinfo is not None
    assert stored.source == "notebook" and stored.notebook == "outputs/x/phase-1-go.ipynb"
    assert stored.details == {"checks": [{"name": "API", "ok": True, "ms": 12.5}],
                              "override": False}
    assert stored.prev_hash == "0" * 64 and len(stored.hash) == 64
    assert stored.to_dict()["at"] == "2020-09-07T08:55:01.250000Z"
    json.dumps(stored.to_dict())


def test_at_defaults_to_now_and_naive_text_is_in_the_plan_s_zone(log):
    before = datetime.now(UTC)
    first = log.record(PHASE, "note", "alice")
    assert before <= first.at == first.recorded_at <= datetime.now(UTC)
    wall = (datetime.now(ZoneInfo("Pacific/Auckland")) + timedelta(minutes=2)).replace(
        tzinfo=None, microsecond=0)
    second = log.record(PHASE, "note", "alice", reason="long after the window", at=wall
                        .isoformat())
    assert second.at == wall.replace(tzinfo=ZoneInfo("Pacific/Auckland")).astimezone(UTC)
    assert second.at > first.at


def test_details_are_stored_as_plain_json(log):
    recorded = log.record(PHASE, "note", "alice", details={
        "when": datetime(2020, 9, 7, 9, tzinfo=UTC), "latency": float("nan"),
        "hosts": ("a", "b"), "path": Path("x/y")})
    assert recorded.details == {"when": "2020-09-07T09:00:00Z", "latency": None,
                                "hosts": ["a", "b"], "path": "x/y"}
    assert log.events()[0].details == recorded.details


def test_events_filter_by_phase_and_keep_log_order(log):
    bring(log, PHASE, "completed")
    log.record("messaging-core", "go", "bob")
    assert [e.seq for e in log.events()] == [1, 2, 3, 4]
    assert [e.event for e in log.events("messaging-core")] == ["go"]


def test_a_rolled_back_phase_can_be_attempted_again(log):
    bring(log, PHASE, "rolled-back")
    for name in ("go", "start", "complete"):
        log.record(PHASE, name, "alice", UNTICKED if name == "complete" else "")
    frame = log.windows()
    assert list(frame["outcome"]) == ["rolled-back", "completed"]
    assert list(frame["attempt"]) == [1, 2]


# --- the hash chain --------------------------------------------------------------------

def chain(log, n: int = 5) -> list[Event]:
    bring(log, PHASE, "completed")
    log.record("messaging-core", "go", "bob", reason="carriers stable")
    log.record("messaging-core", "note", "bob", reason="waiting for the window")
    return log.events()[:n]


def test_each_record_links_to_the_one_before(log):
    recorded = chain(log)
    assert [e.seq for e in recorded] == [1, 2, 3, 4, 5]
    for before, after in zip(recorded, recorded[1:], strict=False):
        assert after.prev_hash == before.hash
    for e in recorded:
        row = {**e.__dict__, "at": event_log.stamp(e.at),
               "recorded_at": event_log.stamp(e.recorded_at)}
        assert record_hash(row) == e.hash
    result = log.verify()
    assert result.ok and result.count == 5 and result.first_bad is None
    assert result.last_hash == recorded[-1].hash
    assert result.message.startswith(f"event log intact: 5 records, last hash {recorded[-1].hash}")


def test_the_hash_covers_a_fixed_canonical_encoding():
    row = {"seq": 1, "plan": "p", "phase": "a", "event": "go", "operator": "ö", "reason": "",
           "at": "2020-09-07T09:00:00.000000Z", "recorded_at": "2020-09-07T09:00:00.000000Z",
           "source": "cli", "notebook": "", "details": '{"a":2,"b":1}', "prev_hash": "0" * 64}
    same = {**row, "details": {"b": 1, "a": 2}}
    assert record_hash(row) == record_hash(same)
    # The hash covers the stored text: details that read the same but are not the text the
    # log writes (another key order, a duplicated key) are not the record that was hashed.
    for stored in ('{"b":1,"a":2}', '{"a":2,"b":1,"a":3}', '{"a": 2, "b": 1}'):
        with pytest.raises(event_log.NotAsWritten):
            record_hash({**row, "details": stored})
    # Pinned: changing the encoding would make every log written so far fail to verify.
    encoded = ('{"at":"2020-09-07T09:00:00.000000Z","details":{"a":2,"b":1},"event":"go",'
               '"notebook":"","operator":"ö","phase":"a","plan":"p","prev_hash":"' + "0" * 64
               + '","reason":"","recorded_at":"2020-09-07T09:00:00.000000Z","seq":1,'
               '"source":"cli"}').encode("utf-8")
    assert record_hash(row) == hashlib.sha256(encoded).hexdigest() == \
        "45f56b0e97995612859201cb7cdf4521db6ff4cc38b8d8b062b6955f30dabb5d"
    assert record_hash({**row, "operator": "o"}) != record_hash(row)


@pytest.mark.parametrize(("tamper", "first_bad", "says"), [
    ("UPDATE events SET operator = 'mallory' WHERE seq = 3", 3,
     "its contents do not match its hash"),
    ("UPDATE events SET details = '{\"override\":true}' WHERE seq = 2", 2,
     "its contents do not match its hash"),
    ("UPDATE events SET at = '2020-09-07T09:01:00.000000Z' WHERE seq = 4", 4,
     "its contents do not match its hash"),
    ("DELETE FROM events WHERE seq = 2", 2, "there is no record 2 (the next is 3)"),
    ("DELETE FROM events WHERE seq = 5", 5, "the log's head says it ends at record 5"),
    ("DELETE FROM events", 1, "the log's head says it ends at record 5, the records end at 0"),
    ("UPDATE plans SET last_hash = 'x'", 5, "the log's head says it ends at record 5"),
    ("DELETE FROM plans", 5, "the log's head (its row in the plans table) is missing"),
])
def test_tampering_is_caught_and_the_first_bad_record_named(log, tamper, first_bad, says):
    chain(log)
    with log.store.engine.begin() as conn:
        conn.exec_driver_sql(tamper)
    result = log.verify()
    assert not result.ok and result.first_bad == first_bad
    assert result.message.startswith(f"record {first_bad} was edited, deleted or reordered: ")
    assert says in result.message


def test_swapping_two_records_is_caught(log):
    chain(log)
    columns = [c for c in event_log.HASHED if c != "seq"] + ["hash"]
    with log.store.engine.begin() as conn:
        two, three = (conn.execute(text(f"SELECT {', '.join(columns)} FROM events "
                                        f"WHERE seq = {seq}")).mappings().one()
                      for seq in (2, 3))
        for seq, values in ((2, three), (3, two)):
            conn.execute(text(f"UPDATE events SET {', '.join(f'{c} = :{c}' for c in columns)} "
                              f"WHERE seq = {seq}"), dict(values))
    result = log.verify()
    assert not result.ok and result.first_bad == 2
    assert "its previous-record hash does not match record 1" in result.message


def test_a_record_rewritten_with_a_fresh_hash_breaks_the_next_link(log):
    recorded = chain(log)
    row = {**recorded[2].__dict__, "operator": "mallory",
           "at": event_log.stamp(recorded[2].at),
           "recorded_at": event_log.stamp(recorded[2].recorded_at)}
    row["details"] = event_log.canonical_json(recorded[2].details)
    with log.store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET operator = 'mallory', hash = :h WHERE seq = 3"),
                     {"h": record_hash(row)})
    result = log.verify()
    assert result.first_bad == 4
    assert "previous-record hash does not match record 3" in result.message


def test_an_empty_log_verifies_without_creating_anything(log, tmp_path):
    result = log.verify()
    assert result.ok and result.count == 0 and result.last_hash == ""
    assert result.message.startswith("no events recorded yet")
    assert log.events() == [] and set(log.states().values()) == {"planned"}
    assert not any(tmp_path.iterdir())
    assert not created(log)


# --- opening and storage errors ---------------------------------------------------------

def test_open_log_defaults_to_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("RUNBOOK_STORE", raising=False)
    (tmp_path / "project" / "data").mkdir(parents=True)
    (tmp_path / "project" / "pyproject.toml").write_text("")
    copy = tmp_path / "project" / "data" / "plan.yaml"
    copy.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    plan = load_plan(copy)
    # From the project's root, from a folder inside it, from elsewhere: one log.
    for cwd in (tmp_path / "project", tmp_path / "project" / "data", tmp_path):
        monkeypatch.chdir(cwd)
        assert event_log.default_outputs(plan) == \
            tmp_path / "project" / "outputs/omni-hosting-2020"
    log = open_log(plan)
    assert log.location == str(tmp_path / "project/outputs/omni-hosting-2020/events.sqlite")
    log.record(PHASE, "go", "alice")
    assert (tmp_path / "project/outputs/omni-hosting-2020/events.sqlite").exists()
    assert open_log(plan, outputs=tmp_path / "elsewhere").location == \
        str(tmp_path / "elsewhere" / "events.sqlite")


def test_a_run_folder_may_have_url_characters_in_its_name(plan, tmp_path, monkeypatch):
    monkeypatch.delenv("RUNBOOK_STORE", raising=False)
    folder = tmp_path / "run?x=1#2%20"
    with open_log(plan, outputs=folder) as log:
        log.record(PHASE, "go", "alice")
        assert log.verify().ok
    assert (folder / "events.sqlite").exists()


def test_an_unreadable_record_is_a_store_error_and_fails_verify(log):
    chain(log)
    with log.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET at = 'garbage' WHERE seq = 2")
    with pytest.raises(StoreError, match=r"record 2 cannot be read \(.*\); run `runbook "
                                         r"verify`"):
        log.events()
    with pytest.raises(StoreError, match="record 2 cannot be read"):
        log.record(PHASE, "note", "alice")
    assert log.verify().first_bad == 2


def test_the_store_can_come_from_the_environment(plan, tmp_path, monkeypatch):
    monkeypatch.setenv("RUNBOOK_STORE", f"sqlite:///{tmp_path / 'shared.sqlite'}")
    assert open_log(plan, outputs="ignored").location == str(tmp_path / "shared.sqlite")
    assert open_log(plan, store=f"sqlite:///{tmp_path / 'x.sqlite'}").location == \
        str(tmp_path / "x.sqlite")


def test_the_store_records_its_schema_version_and_one_record_a_seq(log):
    log.record(PHASE, "go", "alice")
    if log.store.backend == "sqlite":
        with sqlite3.connect(log.store.path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with log.store.engine.begin() as conn:
        assert conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'"))\
            .scalar() == str(SCHEMA_VERSION)
        assert conn.execute(text("SELECT id, last_seq FROM plans")).all() == \
            [("omni-hosting-2020", 1)]
    with pytest.raises(IntegrityError), log.store.engine.begin() as conn:
        conn.execute(text("INSERT INTO events SELECT * FROM events WHERE seq = 1"))


def test_a_store_from_a_newer_version_is_refused(log):
    log.record(PHASE, "go", "alice")
    with log.store.engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = '99' WHERE key = 'schema_version'"))
    fresh = open_log(log.plan, store=str(log.store.url))
    with pytest.raises(StoreError) as refused:
        fresh.events()
    assert str(refused.value) == (f"{fresh.location}: store schema version 99 is newer than "
                                  f"this runbook ({SCHEMA_VERSION}): upgrade migration-runbook")
    with pytest.raises(StoreError, match="newer"):
        fresh.record(PHASE, "start", "alice")
    with pytest.raises(StoreError, match="newer"):
        fresh.verify()


@pytest.mark.parametrize("url", ["not a url", "mysql://db/x", "sqlite://", "sqlite:///:memory:"])
def test_unsupported_store_urls_are_refused_with_a_hint(url):
    with pytest.raises(StoreError, match="sqlite:///"):
        Store(url)


def test_a_corrupt_database_is_a_store_error(plan, tmp_path):
    path = tmp_path / "events.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    log = open_log(plan, store=f"sqlite:///{path}")
    with pytest.raises(StoreError) as failed:
        log.events()
    assert str(failed.value) == (f"{path}: not a readable event log (file is not a database); "
                                 "move it aside and restore it from a backup")
    with pytest.raises(StoreError, match="not a readable event log"):
        log.record(PHASE, "go", "alice")


def test_an_unwritable_folder_is_a_store_error(plan, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    log = open_log(plan, outputs=blocker / "run")
    assert log.events() == []                         # reading: simply no log there
    with pytest.raises(StoreError, match=r"cannot write the event log \(.*Not a directory.*\); "
                                         r"check that the folder exists and is writable"):
        log.record(PHASE, "go", "alice")


def test_a_locked_database_is_a_store_error_after_the_timeout(plan, tmp_path):
    url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    open_log(plan, store=url).record(PHASE, "go", "alice")
    holder = sqlite3.connect(tmp_path / "events.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        log = event_log.EventLog(plan, Store(url, timeout=0.3))
        with pytest.raises(StoreError, match=r"locked by another process \(waited 0.3s\); retry"):
            log.record(PHASE, "start", "bob")
        assert [e.event for e in log.events()] == ["go"]     # readers are not blocked (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    log.record(PHASE, "start", "bob")


def test_a_full_disk_is_a_store_error_and_keeps_what_was_acknowledged(plan, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'events.sqlite'}")
    sa_event.listen(store.engine, "connect",
                    lambda dbapi, _record: dbapi.execute("PRAGMA max_page_count = 24"))
    log = event_log.EventLog(plan, store)
    acknowledged = []
    with pytest.raises(StoreError) as failed:
        for _ in range(200):
            acknowledged.append(log.record(PHASE, "note", "alice", reason="x" * 3000).seq)
    assert "the disk is full (database or disk is full); free some space and retry" \
        in str(failed.value)
    assert acknowledged and acknowledged == [e.seq for e in log.events()]
    assert log.verify().ok


@pytest.mark.parametrize(("error", "says"), [
    (sqlite3.OperationalError("database is locked"), "locked by another process"),
    (sqlite3.OperationalError("database or disk is full"), "the disk is full"),
    (OSError(28, "No space left on device"), "the disk is full"),
    (sqlite3.DatabaseError("database disk image is malformed"), "not a readable event log"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "choose a writable"),
    (PermissionError(13, "Permission denied"), "choose a writable folder"),
    (sqlite3.OperationalError("unable to open database file"), "cannot write the event log"),
    (RuntimeError("connection refused"), "cannot reach the event store"),
    (RuntimeError("something else"), "event store failed (something else)"),
])
def test_storage_failures_become_one_line_that_says_what_to_do(error, says):
    message = str(store_error(error, "db", write=True, timeout=30))
    assert message.startswith("db: ") and says in message and "\n" not in message


def test_stamp_reads_back_for_every_year():
    from datetime import UTC, datetime

    from migration_runbook.events import parse_stamp, stamp

    for year in (1, 999, 1000, 2020, 9999):
        instant = datetime(year, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
        assert parse_stamp(stamp(instant)) == instant
    assert stamp(datetime(2020, 9, 7, 9, 0, tzinfo=UTC)) == "2020-09-07T09:00:00.000000Z"
