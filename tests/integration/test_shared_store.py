"""A team's shared event store on a real PostgreSQL server (tests/postgres.py starts one).

Every command that reads or writes the log takes `--store URL` or $RUNBOOK_STORE; `runbook
store init/info/copy` set a store up and move logs between stores with their chains intact;
a password never shows, and a server that fails is one line with nothing half-written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import text

from migration_runbook.errors import EventRefused, StoreError
from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from migration_runbook.store import SCHEMA_VERSION, Store, mask_url
from tests.conftest import EXAMPLE, ROOT, UNTICKED, race, run_cli
from tests.integration.test_event_concurrency import RACER
from tests.postgres import PASSWORD, PASSWORD_USER

pytestmark = pytest.mark.postgres

PHASE = "carrier-connections"
SCENARIO = [   # phase, event, operator, at (UTC), reason, details
    (PHASE, "go", "alice", "2020-09-07T08:50:00Z", "pre-flight green",
     {"checks": [{"name": "API", "ok": True, "ms": 12.5}]}),
    (PHASE, "start", "Zoë Ōtākou", "2020-09-07T09:00:00Z", "", {}),
    (PHASE, "complete", "alice", "2020-09-07T13:20:00.250000Z", "<b>done</b> [bold]x[/]", {}),
    ("messaging-core", "go", "bob", "2020-09-08T08:55:00Z", "", {"override": True}),
    ("api-endpoints", "note", "carol", "2020-09-28T09:00:00Z", "after NZDT began", {}),
]




def cli(*args, env, cwd: Path | None = None) -> tuple[int, str, str]:
    done = run_cli(*args, env=env, cwd=cwd)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout, done.stderr


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.endswith("\n"), err
    return err.strip()


def fill(plan, url: str, scenario=SCENARIO) -> None:
    with open_log(plan, store=url) as log:
        for phase, event, operator, at, reason, details in scenario:
            log.record(phase, event, operator, reason=reason, at=at, details=details)


def dump(url: str) -> list[dict]:
    """Every stored record of the store, as stored (text times, JSON details, hashes)."""
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text("SELECT * FROM events ORDER BY plan, seq"))
                    .mappings()]
    finally:
        store.close()


def database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def other_plan(write_plan, plan_id: str = "other-plan") -> Path:
    return write_plan(EXAMPLE.read_text(encoding="utf-8").replace(
        "id: omni-hosting-2020", f"id: {plan_id}", 1), name=f"{plan_id}.yaml")


# --- runbook store init / info ------------------------------------------------------------

def test_store_init_creates_the_schema_once_and_is_idempotent(postgres, tmp_path, env):
    url = postgres.new_database()
    code, out, err = cli("store", "init", url, env=env)
    assert code == 0, err
    assert out == f"{url}: event store created (schema version {SCHEMA_VERSION})\n"
    code, out, _ = cli("store", "init", url, env=env)
    assert code == 0
    assert out == f"{url}: event store ready (schema version {SCHEMA_VERSION})\n"
    assert postgres.admin("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                          "ORDER BY 1", database(url)) == [("events",), ("meta",), ("plans",)]
    assert postgres.admin("SELECT key, value FROM meta", database(url)) == \
        [("schema_version", str(SCHEMA_VERSION))]
    code, out, _ = cli("store", "info", url, "--format", "json", env=env)
    assert code == 0 and json.loads(out)["plans"] == []
    assert json.loads(out)["schema_version"] == SCHEMA_VERSION
    # A run folder is a store too (its events.sqlite).
    for word in ("created", "ready"):
        code, out, _ = cli("store", "init", tmp_path / "run", env=env)
        assert code == 0 and f"{tmp_path / 'run' / 'events.sqlite'}: event store {word}" in out
    # $RUNBOOK_STORE when no store is named.
    code, out, _ = cli("store", "init", env={**env, "RUNBOOK_STORE": url})
    assert code == 0 and "event store ready" in out


def test_a_store_of_a_newer_schema_is_refused_with_the_upgrade_message(postgres, plan, env):
    url = postgres.new_database()
    fill(plan, url, SCENARIO[:1])
    postgres.admin("UPDATE meta SET value = '3' WHERE key = 'schema_version'", database(url))
    message = (f"{url}: store schema version 3 is newer than this runbook ({SCHEMA_VERSION}): "
               "upgrade migration-runbook")
    for args in (("store", "init", url), ("store", "info", url),
                 ("status", EXAMPLE, "--store", url), ("log", EXAMPLE, "--store", url),
                 ("verify", EXAMPLE, "--store", url)):
        code, out, err = cli(*args, env=env)
        assert code == 1 and out == "" and one_line(err) == message, args
    with open_log(plan, store=url) as log, pytest.raises(StoreError, match="is newer than"):
        log.record(PHASE, "start", "alice")
    assert len(dump(url)) == 1


def test_store_info_lists_each_plan_with_its_events_and_chain(postgres, plan, write_plan, env):
    url = postgres.new_database()
    fill(plan, url)
    fill(load_plan(other_plan(write_plan)), url, SCENARIO[:2])
    code, out, err = cli("store", "info", url, "--format", "json", env=env)
    assert code == 0, err
    info = json.loads(out)
    assert info["store"] == url and info["backend"] == "postgresql"
    assert [(p["plan"], p["events"], p["chain_ok"]) for p in info["plans"]] == \
        [("omni-hosting-2020", 5, True), ("other-plan", 2, True)]
    assert info["plans"][0]["first_at"] == "2020-09-07 08:50:00 UTC"
    assert info["plans"][0]["last_at"] == "2020-09-28 09:00:00 UTC"
    postgres.admin("UPDATE events SET operator = 'mallory' WHERE plan = 'other-plan' AND seq = 2",
                   database(url))
    code, out, _ = cli("store", "info", url, env=env)
    assert code == 0
    assert "omni-hosting-2020" in out and "intact" in out and "record 2 was edited" in out


# --- runbook store copy -----------------------------------------------------------------

def test_a_log_copied_sqlite_to_postgresql_and_back_keeps_its_chain(postgres, plan, tmp_path,
                                                                    env):
    rehearsal = tmp_path / "rehearsal"
    fill(plan, f"sqlite:///{rehearsal / 'events.sqlite'}")
    url = postgres.new_database()
    code, out, err = cli("store", "copy", rehearsal, url, env=env)
    assert code == 0, err
    original = dump(f"sqlite:///{rehearsal / 'events.sqlite'}")
    last = original[-1]["hash"]
    assert out == (f"omni-hosting-2020: copied 5 records (0 already there); event log intact: "
                   f"5 records, last hash {last} ({url})\n")
    back = tmp_path / "archive" / "events.sqlite"
    code, out, err = cli("store", "copy", url, back, env=env)
    assert code == 0, err
    assert "copied 5 records (0 already there)" in out
    # Verbatim: every field of every record, hashes included, on all three stores.
    assert dump(url) == original == dump(f"sqlite:///{back}")
    assert [len(r["hash"]) for r in original] == [64] * 5
    for where in (("--outputs", rehearsal), ("--store", url), ("--store", f"sqlite:///{back}")):
        code, out, err = cli("verify", EXAMPLE, *where, env=env)
        assert code == 0 and f"event log intact: 5 records, last hash {last}" in out, err
    with open_log(plan, store=url) as log:
        assert log.states()[PHASE] == "completed"
        assert log.events()[1].operator == "Zoë Ōtākou"
        assert log.events()[2].at.microsecond == 250000
    # Copying again adds nothing; a log that grew since adds only its new records.
    code, out, _ = cli("store", "copy", rehearsal, url, env=env)
    assert code == 0 and "copied 0 records (5 already there)" in out
    with open_log(plan, outputs=rehearsal) as log:
        log.record("messaging-core", "start", "bob", at="2020-09-08T09:05:00Z")
    code, out, _ = cli("store", "copy", rehearsal, url, env=env)
    assert code == 0 and "copied 1 records (5 already there); event log intact: 6 records" in out
    with open_log(plan, store=url) as log:
        # the chain goes on
        assert log.record("messaging-core", "complete", "bob", UNTICKED).seq == 7
        assert log.verify().ok


def test_copy_refuses_a_different_log_and_writes_nothing(postgres, plan, tmp_path, env):
    ours = tmp_path / "ours"
    fill(plan, f"sqlite:///{ours / 'events.sqlite'}")
    url = postgres.new_database()
    fill(plan, url, [(PHASE, "go", "bob", "2020-09-07T08:51:00Z", "", {})])
    before = dump(url)
    code, out, err = cli("store", "copy", ours, url, env=env)
    assert code == 1 and out == ""
    assert one_line(err).startswith(f"{url}: plan 'omni-hosting-2020' already has a different "
                                    "record 1 here (hash ")
    assert err.strip().endswith("nothing copied")
    assert dump(url) == before
    # A target that is ahead of the copy is refused too.
    longer = postgres.new_database()
    fill(plan, longer)
    fill_short = tmp_path / "short"
    fill(plan, f"sqlite:///{fill_short / 'events.sqlite'}", SCENARIO[:2])
    code, _, err = cli("store", "copy", fill_short, longer, env=env)
    assert code == 1 and "already has 5 records here, more than the 2 being copied" in err
    # A source whose chain is broken is not copied anywhere.
    tampered = Store(f"sqlite:///{ours / 'events.sqlite'}")
    with tampered.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET reason = 'rewritten' WHERE seq = 2")
    tampered.close()
    target = postgres.new_database()
    code, _, err = cli("store", "copy", ours, target, env=env)
    assert code == 1
    assert one_line(err).startswith("plan 'omni-hosting-2020': not copied, its log does not "
                                    "verify: record 2 was edited")
    assert postgres.admin("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                          database(target)) == [(0,)]


def test_a_sqlite_file_takes_one_plan_of_a_shared_store(postgres, plan, tmp_path, write_plan,
                                                        env):
    url = postgres.new_database()
    fill(plan, url)
    other = load_plan(other_plan(write_plan))
    fill(other, url, SCENARIO[:3])
    code, _, err = cli("store", "copy", url, tmp_path / "one", env=env)
    assert code == 1
    assert one_line(err) == (f"{tmp_path / 'one' / 'events.sqlite'}: a SQLite store holds one "
                             "plan's log, not 2 (omni-hosting-2020, other-plan); choose one "
                             "with --plan")
    assert not (tmp_path / "one" / "events.sqlite").exists()
    code, out, err = cli("store", "copy", url, tmp_path / "one", "--plan", "other-plan", env=env)
    assert code == 0 and out.startswith("other-plan: copied 3 records"), err
    with open_log(other, outputs=tmp_path / "one") as log:
        assert [e.event for e in log.events()] == ["go", "start", "complete"]
    code, _, err = cli("store", "copy", url, tmp_path / "one", "--plan", "omni-hosting-2020",
                       env=env)
    assert code == 1 and "holds the log of plan 'other-plan', not 'omni-hosting-2020'" in err
    code, _, err = cli("store", "copy", url, tmp_path / "two", "--plan", "nope", env=env)
    assert code == 1 and "no log of plan 'nope' there (it holds: omni-hosting-2020, " \
        "other-plan)" in err
    # Server to server: every plan, in one go.
    copy = postgres.new_database()
    code, out, err = cli("store", "copy", url, copy, env=env)
    assert code == 0, err
    assert out.count("\n") == 2 and dump(copy) == dump(url)


# --- credentials and failures -----------------------------------------------------------

def test_a_wrong_password_is_one_line_exit_1_and_never_shown(postgres, plan, tmp_path, env):
    url = postgres.new_database(owner=PASSWORD_USER, password=PASSWORD)
    wrong_password = "Not-" + PASSWORD[::-1]
    wrong = url.replace(PASSWORD, wrong_password)
    masked = mask_url(url)
    assert masked == url.replace(PASSWORD, "***")
    commands = [("status", EXAMPLE, "--store", wrong), ("verify", EXAMPLE, "--store", wrong),
                ("store", "init", wrong), ("store", "copy", wrong, tmp_path / "x"),
                ("notices", EXAMPLE, "completed", "--phase", PHASE, "--store", wrong),
                ("gantt", EXAMPLE, "-o", tmp_path / "g.html", "--store", wrong)]
    for args in commands:
        code, out, err = cli(*args, env=env)
        assert code == 1 and out == "", args
        assert one_line(err) == (f"{masked}: the database refused the credentials (password "
                                 f"authentication failed for user \"{PASSWORD_USER}\"); check the "
                                 "user and password in RUNBOOK_STORE or ~/.pgpass"), args
        assert wrong_password not in err and PASSWORD not in err
    code, _, err = cli("status", EXAMPLE, env={**env, "RUNBOOK_STORE": wrong})
    assert code == 1 and "refused the credentials" in err and wrong_password not in err
    assert not list(tmp_path.iterdir())
    # The right password works, and is not shown either; so does libpq's own $PGPASSWORD
    # (or ~/.pgpass), which keeps the password out of the URL altogether.
    fill(plan, url, SCENARIO[:1])
    code, out, err = cli("status", EXAMPLE, "--store", url, env=env)
    assert code == 0, err
    assert "1 events in" in out and PASSWORD not in out + err
    code, out, err = cli("status", EXAMPLE, "--store", url.replace(f":{PASSWORD}", ""),
                         env={**env, "PGPASSWORD": PASSWORD})
    assert code == 0 and "1 events in" in out, err


def test_a_server_that_stops_between_commands_is_one_line_and_a_rerun_works(postgres, plan,
                                                                            tmp_path, env):
    url = postgres.new_database()
    fill(plan, url, SCENARIO[:1])
    postgres.stop()
    try:
        for args in (("status", EXAMPLE, "--store", url), ("verify", EXAMPLE, "--store", url),
                     ("phase", EXAMPLE, PHASE, "start", "--operator", "alice", "--store", url,
                      "--outputs", tmp_path / "run")):
            code, out, err = cli(*args, env=env)
            assert code == 1 and out == "", args
            assert one_line(err).startswith(f"{url}: cannot reach the event store (connection "
                                            f"to server at \"127.0.0.1\", port {postgres.port} "
                                            "failed: Connection refused)"), err
        assert not list((tmp_path / "run").rglob("*.ipynb"))      # no notebook was run
        with open_log(plan, store=url) as log, pytest.raises(StoreError) as failed:
            log.record(PHASE, "start", "alice")
        assert "nothing was recorded; check RUNBOOK_STORE and that the database server is " \
            "up, then retry" in str(failed.value)
    finally:
        postgres.start()
    code, out, err = cli("status", EXAMPLE, "--store", url, "--format", "json", env=env)
    assert code == 0, err
    assert json.loads(out)[0]["state"] == "approved"            # only what was acknowledged
    with open_log(plan, store=url) as log:                      # the same command, re-run
        log.record(PHASE, "start", "alice")
        assert [e.event for e in log.events()] == ["go", "start"] and log.verify().ok


def test_a_session_cut_in_the_middle_of_an_append_writes_nothing(postgres, plan):
    url = postgres.new_database()
    log = open_log(plan, store=url)
    log.record(PHASE, "go", "alice")
    armed = []

    def cut(_conn, _cursor, statement, *_args) -> None:
        if armed and statement.startswith("INSERT INTO events"):
            armed.clear()
            assert postgres.terminate(database(url)) == 1    # the server drops us mid-append

    sa_event.listen(log.store.engine, "before_cursor_execute", cut)
    armed.append(True)
    with pytest.raises(StoreError) as failed:
        log.record(PHASE, "start", "alice")
    message = str(failed.value)
    assert message.startswith(f"{url}: cannot reach the event store (") and "\n" not in message
    assert "nothing was recorded" in message
    assert [e.event for e in log.events()] == ["go"]             # not half of an event
    assert postgres.admin("SELECT last_seq FROM plans", database(url)) == [(1,)]
    assert log.record(PHASE, "start", "alice").seq == 2          # the retry simply works
    postgres.terminate(database(url))                            # pooled connection cut
    assert log.record(PHASE, "complete", "alice", UNTICKED).seq == 3       # ... and replaced
    assert log.verify().ok
    log.close()


def test_an_operator_role_may_append_but_not_rewrite(postgres, plan, env):
    """The README's least privilege: the owner creates the tables, operators only append."""
    url = postgres.new_database()
    assert cli("store", "init", url, env=env)[0] == 0
    role = f"operator_{database(url)}"
    postgres.admin(f"CREATE ROLE {role} LOGIN")
    postgres.admin(f"GRANT SELECT ON meta TO {role}; GRANT SELECT, INSERT ON events TO {role}; "
                   f"GRANT SELECT, INSERT, UPDATE ON plans TO {role}", database(url))
    operator_url = postgres.url(database(url), user=role)
    fill(plan, operator_url, SCENARIO[:2])
    with Store(operator_url).engine.connect() as conn, pytest.raises(Exception,
                                                                    match="permission denied"):
        conn.exec_driver_sql("UPDATE events SET operator = 'mallory'")
    code, out, _ = cli("verify", EXAMPLE, "--store", operator_url, env=env)
    assert code == 0 and "event log intact: 2 records" in out


# --- one decision wins, across machines -------------------------------------------------

def test_eight_processes_saying_go_at_once_record_exactly_one(postgres, plan, tmp_path, env):
    """Against an initialised store, so the plan's row lock decides (not the schema lock)."""
    url = postgres.new_database()
    assert cli("store", "init", url, env=env)[0] == 0
    signal_file = tmp_path / "now"
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(EXAMPLE), url, f"operator-{i}",
                                str(signal_file)], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(8)]
    results = race(racers, signal_file)
    assert sorted(code for code, _, _ in results) == [0] + [1] * 7
    assert [out for code, out, _ in results if code == 0] == ["recorded 1\n"]
    for code, out, err in results:
        assert err == "" and (code == 0 or out.startswith(
            f"phase '{PHASE}' cannot go: it is approved, not planned"))
    with open_log(plan, store=url) as log:
        assert [(e.seq, e.event) for e in log.events()] == [(1, "go")] and log.verify().ok


# --- every command, and the notebooks --------------------------------------------------

def test_every_log_command_reads_the_shared_store(postgres, plan, tmp_path, env):
    url = postgres.new_database()
    fill(plan, url)
    shared = {**env, "RUNBOOK_STORE": url}
    for run_env, where in ((env, ("--store", url)), (shared, ())):
        code, out, err = cli("status", EXAMPLE, *where, "--format", "json", env=run_env)
        assert code == 0 and json.loads(out)[0]["state"] == "completed", err
        if where:   # (status, log and verify share one way of opening the log)
            code, out, _ = cli("log", EXAMPLE, *where, "--format", "json", env=run_env)
            assert [r["operator"] for r in json.loads(out)][:2] == ["alice", "Zoë Ōtākou"]
            assert cli("verify", EXAMPLE, *where, env=run_env)[0] == 0
        code, out, err = cli("notices", EXAMPLE, "completed", "--phase", PHASE, *where,
                             env=run_env)
        assert code == 0 and "Completed:" in out, err
        page = tmp_path / f"gantt-{len(where)}.html"
        overlay = where or ("--outputs", tmp_path / "unused")   # asks for the overlay
        code, _, err = cli("gantt", EXAMPLE, "-o", page, *overlay, env=run_env)
        assert code == 0, err
        assert f"1 attempt(s) recorded in the event log in {url}" in \
            page.read_text(encoding="utf-8").replace("&#34;", '"')
    # Without the store, the same commands see an empty log in the default folder (of the
    # plan's project: here the copy's own folder).
    alone = tmp_path / "alone.yaml"
    alone.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    code, _, err = cli("notices", alone, "completed", "--phase", PHASE, env=env, cwd=tmp_path)
    assert code == 1 and "is planned: a completed notice needs it completed" in err


@pytest.mark.notebook
def test_a_phase_notebook_records_into_postgresql_and_keeps_no_password(postgres, plan,
                                                                        tmp_path, env):
    url = postgres.new_database(owner=PASSWORD_USER, password=PASSWORD)
    masked = mask_url(url)
    run = tmp_path / "run"
    code, out, err = cli("phase", EXAMPLE, PHASE, "go", "--operator", "alice", "--store", url,
                         "--outputs", run, env=env)
    assert code == 0, err
    assert "go recorded as event #1 by alice" in out and PASSWORD not in out + err
    # $RUNBOOK_STORE alone (the shared set-up): the kernel inherits it.
    code, out, err = cli("phase", EXAMPLE, PHASE, "start", "--operator", "bob", "--outputs", run,
                         env={**env, "RUNBOOK_STORE": url})
    assert code == 0 and "start recorded as event #2 by bob" in out, err
    with open_log(plan, store=url) as log:
        events = log.events()
    assert [(e.event, e.operator, e.source) for e in events] == \
        [("go", "alice", "cli"), ("start", "bob", "cli")]
    assert events[0].notebook == "notebooks/01-carrier-connections-go.ipynb"
    assert not (run / "events.sqlite").exists()                  # nothing went to SQLite
    first = nbformat.read(run / events[0].notebook, as_version=4)
    assert first.metadata.papermill.parameters["store"] == masked
    injected = next(c for c in first.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert f'store = "{masked}"' in injected.source
    assert "Recorded: go of 'carrier-connections'" in json.dumps(first.cells)
    second = nbformat.read(run / events[1].notebook, as_version=4)
    assert second.metadata.papermill.parameters["store"] == ""
    for path in run.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    # The report reads the same store; neither its notebook nor its page holds the password.
    code, out, err = cli("report", EXAMPLE, "--store", url, "--outputs", run, env=env)
    assert code == 0, err
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "runbook_pw:***@" in page and PASSWORD not in page
    assert PASSWORD.encode() not in (run / "report.ipynb").read_bytes()
    report = nbformat.read(run / "report.ipynb", as_version=4)
    assert report.metadata.papermill.parameters["store"] == masked


def test_a_refusal_from_the_shared_store_is_the_same_one_line(postgres, plan):
    url = postgres.new_database()
    fill(plan, url, SCENARIO[:1])
    with open_log(plan, store=url) as log, pytest.raises(EventRefused) as refused:
        log.record(PHASE, "go", "bob")
    assert str(refused.value) == ("phase 'carrier-connections' cannot go: it is approved, not "
                                  "planned, held or rolled-back (allowed: start, no-go, note)")


def test_the_test_server_listens_on_localhost_only(postgres):
    assert postgres.admin("SHOW listen_addresses") == [("127.0.0.1",)]
    assert postgres.admin("SHOW unix_socket_directories") == [(str(postgres.root),)]
    assert postgres.version.startswith(("15", "16", "17"))
