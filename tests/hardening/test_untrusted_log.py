"""The event log as untrusted input: records edited in the database, read-only media, a log
that lives only in the write-ahead file, phases renamed since, arguments that are not text.

Whatever the store holds, `verify` names the record and exits 1, `log`, `status` and
`store info` give one line (or mark the record), and the report renders, marking what it
cannot read. What the log accepts is checked alike for every source, before anything is
written.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from migration_runbook import events as event_log
from migration_runbook import report
from migration_runbook.errors import EventRefused, StoreError
from migration_runbook.events import open_log, record_hash
from migration_runbook.plan import load_plan
from migration_runbook.store import GENESIS, Store
from tests.conftest import EXAMPLE
from tests.hardening.conftest import (
    RUNBOOK,
    assert_clean_refusal,
    dump,
    env_without_store,
    example_data,
    rewrite_log,
    runbook,
)

PHASE = "carrier-connections"
T0 = datetime(2020, 9, 7, 8, 50, tzinfo=UTC)
DEEP = '{"a":' + "[" * 100_000 + "]" * 100_000 + "}"


def fill(log, n: int = 4) -> None:
    """go, start, rollback, rolled-back of the first phase (4 records)."""
    for i, name in enumerate(["go", "start", "rollback", "rolled-back"][:n]):
        log.record(PHASE, name, "alice", reason=f"step {i}", at=T0 + timedelta(minutes=10 * i))


@pytest.fixture
def run(tmp_path) -> Path:
    folder = tmp_path / "run"
    with open_log(load_plan(EXAMPLE), folder) as log:
        fill(log)
    return folder


def tamper(folder: Path, sql: str, *params) -> None:
    """Edit the run's SQLite log as someone with the file could (no hash recomputed)."""
    db = sqlite3.connect(folder / "events.sqlite")
    try:
        db.execute(sql, params)
        db.commit()
    finally:
        db.close()


def cli(*args, **kwargs):
    """The real `runbook` command, in its own process."""
    return runbook(*args, env=env_without_store(), **kwargs)


@pytest.fixture
def main(capsys, monkeypatch):
    """`runbook ARGS` in this process (quick: no interpreter to start), as a CompletedProcess.

    An exception that escaped `cli.main` would fail the test as the traceback it would be.
    """
    from migration_runbook.cli import main as runbook_main

    monkeypatch.delenv("RUNBOOK_STORE", raising=False)

    def run(*args) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        try:
            runbook_main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return run


# --- 1. crafted records ---------------------------------------------------------------------

CRAFTED = {
    # name: (SQL on record 2, what the message says)
    "deeply nested details": (f"UPDATE events SET details = '{DEEP}' WHERE seq = 2",
                              "details nest deeper than 32 levels"),
    "details not an object": ("UPDATE events SET details = '[1, 2]' WHERE seq = 2",
                              "details is list JSON, not an object"),
    "details not JSON": ("UPDATE events SET details = '{oops' WHERE seq = 2",
                         "details is not JSON"),
    "year 1": ("UPDATE events SET at = '0001-01-01T00:00:00.000000Z' WHERE seq = 2",
               "at is '0001-01-01T00:00:00.000000Z', out of range"),
    "year 9999": ("UPDATE events SET at = '9999-12-31T23:59:59.999999Z' WHERE seq = 2",
                  "out of range"),
    "unparsable time": ("UPDATE events SET recorded_at = 'yesterday' WHERE seq = 2",
                        "recorded_at is 'yesterday', not a time as the log writes them"),
    "impossible date": ("UPDATE events SET at = '2020-13-45T00:00:00.000000Z' WHERE seq = 2",
                        "not a real time"),
    "number as time": ("UPDATE events SET at = 12345 WHERE seq = 2",
                       "at is '12345', not a time as the log writes them"),
    "binary operator": ("UPDATE events SET operator = X'00ff1b' WHERE seq = 2",
                        "operator is 3 bytes of binary data, not text"),
    "not UTF-8": ("UPDATE events SET reason = CAST(X'636166e9' AS TEXT) WHERE seq = 2",
                  "reason is not valid UTF-8 text"),
    "number as details": ("UPDATE events SET details = 42 WHERE seq = 2",
                          "details is int JSON, not an object"),
    "blob as details": ("UPDATE events SET details = X'7b7d' WHERE seq = 2",
                        "details is 2 bytes of binary data, not JSON text"),
    # Sorted after the numbers: record 2 is missing from the chain, 'two' unreadable.
    "text as seq": ("UPDATE events SET seq = 'two' WHERE seq = 2",
                    "there is no record 2 (the next is 3)"),
    "hash not a hash": ("UPDATE events SET hash = 'x' || char(27) || '[2J' WHERE seq = 2",
                        "hash is 'x\\x1b[2J', not a SHA-256 hash"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_verify_names_a_crafted_record_and_never_crashes(run, case, main):
    sql, says = CRAFTED[case]
    tamper(run, sql)
    err = assert_clean_refusal(main("verify", EXAMPLE, "--outputs", run))
    assert "record 2 was edited, deleted or reordered" in err, err
    assert says in err, err
    assert "\x1b" not in err


@pytest.mark.parametrize("case", list(CRAFTED))
def test_log_status_and_store_info_name_a_crafted_record(run, case, main):
    sql, says = CRAFTED[case]
    tamper(run, sql)
    for command in ("log", "status"):
        for fmt in ("table", "json"):
            err = assert_clean_refusal(main(command, EXAMPLE, "--outputs", run, "--format", fmt))
            if case == "text as seq":
                assert "a record numbered 'two' cannot be read" in err, err
            else:
                assert "record 2 cannot be read" in err and says in err, err
            assert "runbook verify" in err and "\x1b" not in err
    info = main("store", "info", run, "--format", "json")
    assert info.returncode == 0, info.stderr
    [entry] = json.loads(info.stdout)["plans"]
    assert entry["chain_ok"] is False and "record 2 was edited" in entry["chain"]
    table = main("store", "info", run)
    assert table.returncode == 0 and "\x1b" not in table.stdout


def test_a_nul_in_a_stored_field_is_shown_escaped_and_fails_verify(run, main):
    tamper(run, "UPDATE events SET operator = 'mal' || char(0) || char(27) || '[2Jlory' "
                "WHERE seq = 3")
    err = assert_clean_refusal(main("verify", EXAMPLE, "--outputs", run))
    assert "record 3 was edited" in err and "do not match its hash" in err
    shown = main("log", EXAMPLE, "--outputs", run)
    assert shown.returncode == 0 and "mal\\x00\\x1b[2Jlory" in shown.stdout
    assert "\x1b" not in shown.stdout and "\x00" not in shown.stdout


def test_a_crafted_head_is_named_not_a_crash(run, main):
    tamper(run, "UPDATE plans SET last_seq = 'four'")
    err = assert_clean_refusal(main("verify", EXAMPLE, "--outputs", run))
    assert "record 4 was edited" in err and "head cannot be read" in err


PG_CRAFTED = ["deeply nested details", "details not an object", "year 1", "unparsable time",
              "impossible date", "hash not a hash"]


@pytest.mark.parametrize("case", PG_CRAFTED)
def test_crafted_records_on_every_backend(store_url, case):
    """The same crafted records through the library, on SQLite and PostgreSQL."""
    sql, says = CRAFTED[case]
    plan = load_plan(EXAMPLE)
    with open_log(plan, store=store_url) as log:
        fill(log)
        if log.store.backend == "postgresql":
            sql = sql.replace("char(27)", "chr(27)")
        with log.store.engine.begin() as conn:
            conn.execute(text(sql.replace("WHERE seq = 2", "WHERE seq = 2 AND plan = :p")),
                         {"p": plan.id})
        result = log.verify()
        assert not result.ok and result.first_bad == 2 and says in result.message
        with pytest.raises(StoreError) as raised:
            log.events()
        assert "record 2 cannot be read" in str(raised.value) and says in str(raised.value)
        good, bad = log.read()
        assert [e.seq for e in good] == [1, 3, 4] and [b.seq for b in bad] == [2]
        info = event_log.describe_store(log.store)
        assert info["plans"][0]["chain_ok"] is False


def test_the_hash_covers_the_stored_details_text(tmp_path, main):
    """A duplicated key: Python reads the last value, SQLite's JSON functions the first; the
    hash must cover the text, so the edit is caught."""
    folder = tmp_path / "run"
    with open_log(load_plan(EXAMPLE), folder) as log:
        log.record(PHASE, "go", "alice", details={"override": False})
    tamper(folder, """UPDATE events SET details = '{"override":true,"override":false}'""")
    db = sqlite3.connect(folder / "events.sqlite")
    assert db.execute("SELECT json_extract(details, '$.override') FROM events").fetchone() == (1,)
    db.close()
    err = assert_clean_refusal(main("verify", EXAMPLE, "--outputs", folder))
    assert "record 1 was edited" in err and "not the JSON text the log writes" in err


def test_logs_written_before_keep_verifying(tmp_path, main):
    """Hashing the stored text is hashing the canonical value: an existing chain verifies."""
    folder = tmp_path / "run"
    with open_log(load_plan(EXAMPLE), folder) as log:
        log.record(PHASE, "go", "alice", details={"checks": [{"name": "b", "ok": True}],
                                                  "override": False, "a": 1.5})
        row = log.store.snapshot(log.plan.id).rows[0]
    old = event_log.hashlib.sha256(event_log.canonical_json(
        {**{k: row[k] for k in event_log.HASHED}, "details": json.loads(row["details"])}
    ).encode()).hexdigest()
    assert record_hash(row) == old == row["hash"]
    assert main("verify", EXAMPLE, "--outputs", folder).returncode == 0


# --- 2. what the log accepts, and a report whatever it holds -------------------------------

@pytest.mark.parametrize(("fields", "says"), [
    ({"notebook": "notebooks/01.ipynb\x00"}, "control character U+0000 is not allowed in notebook"),
    ({"notebook": "nb\x1b]0;pwned\x07.ipynb"}, "control character U+001B is not allowed in "
                                               "notebook"),
    ({"notebook": "x" * 5000}, "notebook is limited to 4096 characters"),
    ({"notebook": 42}, "notebook must be text, not int"),
    ({"reason": "caf\udce9"}, "reason is not valid UTF-8 text"),
    ({"operator": "al\udcffice"}, "operator is not valid UTF-8 text"),
    ({"operator": ["alice"]}, "operator must be text, not list"),
    ({"details": {"a": json.loads("[" * 40 + "]" * 40)}}, "details nest deeper than 32"),
])
def test_every_recorded_field_is_checked(tmp_path, fields, says):
    folder = tmp_path / "run"
    with open_log(load_plan(EXAMPLE), folder) as log:
        with pytest.raises(EventRefused) as refused:
            log.record(PHASE, "go", **{"operator": "alice", **fields})
    assert says in str(refused.value)
    assert not folder.exists()


def _legacy(folder: Path, changes: dict[int, dict]) -> None:
    """Records as an older version accepted them: changed, and the chain rehashed."""
    rewrite_log(folder / "events.sqlite", changes)


def test_the_report_renders_whatever_the_log_and_notices_hold(run, tmp_path):
    """Accepted-before data (a NUL in a notebook path), an unreadable record, a broken line of
    notices.jsonl: each is marked, the rest of the report is there."""
    _legacy(run, {1: {"notebook": "notebooks/01\x00\x1b[2J.ipynb"},
                  2: {"notebook": "../" * 30 + "etc/passwd"}})
    plan = load_plan(EXAMPLE)
    (run / "notices").mkdir()
    (run / "notices" / "notices.jsonl").write_bytes(
        b'{"kind": "completed", "phase": ["x"], "subject": "s"}\n'
        b'{"kind": "completed", "at": 5, "path": 7}\n'
        b'not json\n\xff\xfe\n' + b"[" * 100_000 + b"\n"
        + json.dumps({"kind": "completed", "phase": PHASE, "subject": "Done <b>",
                      "at": "2020-09-07T10:00:00Z", "path": "notices/x.txt"}).encode() + b"\n")
    data = report.load(plan, run)
    assert len(data.events) == 4 and data.verification.ok
    notebooks = str(data.notebooks())   # the notebooks' own table, not the decisions'
    assert "01\\x00\\x1b[2J.ipynb (not a readable path)" in notebooks
    assert "\x00" not in notebooks and "\x1b" not in notebooks
    assert ">passwd (outside the run folder)<" in notebooks
    notices = str(data.notices())
    assert "Done &lt;b&gt;" in notices
    assert "5 lines of notices/notices.jsonl cannot be read" in notices
    assert "(line 1, 2, 3, 4, 5)" in notices
    # And a record that cannot be read at all.
    tamper(run, "UPDATE events SET at = 'soon' WHERE seq = 3")
    data = report.load(plan, run)
    assert [e.seq for e in data.events] == [1, 2, 4] and not data.verification.ok
    assert [u.seq for u in data.unreadable] == [3]
    assert "record 3 cannot be read: at is &#39;soon&#39;" in str(data.decisions())
    assert "1 records cannot be read" in str(data.summary())
    assert "tampered" in str(data.audit())
    for section in ("header", "summary", "timeline", "impacts_timeline", "rollbacks",
                    "downtime_table", "downtime_figure", "checks", "notebooks"):
        getattr(data, section)()


@pytest.mark.notebook
@pytest.mark.slow
def test_runbook_report_renders_a_log_it_cannot_fully_read(run):
    _legacy(run, {1: {"notebook": "notebooks/01\x00.ipynb"}})
    tamper(run, f"UPDATE events SET details = '{DEEP}' WHERE seq = 2")
    (run / "notices").mkdir()
    (run / "notices" / "notices.jsonl").write_text('{"kind": "completed", "phase": 1}\n')
    done = cli("report", EXAMPLE, "--outputs", run, timeout=600)
    assert done.returncode == 0, done.stderr
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "record 2 cannot be read" in page and "tampered" in page
    assert "1 lines of notices/notices.jsonl cannot be read" in page


# --- 3 and 4. read-only media, and the write-ahead log -----------------------------------

def _mount(target: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    target.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(target)],
                          capture_output=True).returncode == 0


@pytest.fixture
def media(tmp_path):
    """A tmpfs, remounted read-only by the test (`read_only(media)`)."""
    target = tmp_path / "media"
    if not _mount(target):
        pytest.skip("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN)")
    try:
        yield target
    finally:
        for args in (["umount", str(target)], ["umount", "-l", str(target)]):
            if subprocess.run(args, capture_output=True).returncode == 0:
                break


def read_only(target: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True)
    with pytest.raises(OSError):
        (target / "probe").write_text("x")


def test_a_read_only_run_folder_can_be_read(media):
    run = media / "run"
    with open_log(load_plan(EXAMPLE), run) as log:
        fill(log)
    read_only(media)
    for args in (("status", EXAMPLE, "--outputs", run), ("log", EXAMPLE, "--outputs", run),
                 ("verify", EXAMPLE, "--outputs", run), ("store", "info", run),
                 ("log", EXAMPLE, "--store", f"sqlite:///{run}/events.sqlite")):
        done = cli(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "readonly" not in done.stderr
    assert "event log intact: 4 records" in cli("verify", EXAMPLE, "--outputs", run).stdout
    assert sorted(p.name for p in run.iterdir()) == ["events.sqlite"]


WRITER_KILLED = """
import os, sys
from migration_runbook import store
from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
store._checkpoint = lambda conn, tries=0: None      # as a writer killed before it checkpoints
log = open_log(load_plan(sys.argv[1]), sys.argv[2])
log.record("carrier-connections", "note", "bob", reason="only in the WAL")
os._exit(0)
"""


def test_records_left_in_the_write_ahead_file_are_read_on_read_only_media(media):
    run = media / "run"
    with open_log(load_plan(EXAMPLE), run) as log:
        fill(log, 2)
    subprocess.run([sys.executable, "-c", WRITER_KILLED, str(EXAMPLE), str(run)], check=True,
                   env=env_without_store())
    assert (run / "events.sqlite-wal").stat().st_size > 0
    read_only(media)
    done = cli("log", EXAMPLE, "--outputs", run, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [r["reason"] for r in json.loads(done.stdout)] == ["step 0", "step 1",
                                                              "only in the WAL"]
    assert cli("verify", EXAMPLE, "--outputs", run).returncode == 0


def test_an_acknowledged_event_is_in_the_database_file_itself(tmp_path, main):
    """Copying events.sqlite alone (as a backup might) while a writer still has it open."""
    run = tmp_path / "run"
    log = open_log(load_plan(EXAMPLE), run)
    try:
        fill(log)
        assert (run / "events.sqlite-wal").exists()      # the writer is still connected
        backup = tmp_path / "backup" / "events.sqlite"
        backup.parent.mkdir()
        shutil.copyfile(run / "events.sqlite", backup)
    finally:
        log.close()
    done = main("verify", EXAMPLE, "--outputs", backup.parent)
    assert done.returncode == 0 and "event log intact: 4 records" in done.stdout, done.stderr


def test_store_copy_gives_a_complete_file(run, tmp_path, main):
    target = tmp_path / "backup.sqlite"
    done = main("store", "copy", run, target)
    assert done.returncode == 0, done.stderr
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copyfile(target, alone / "events.sqlite")    # the file without any -wal
    assert "event log intact: 4 records" in main("verify", EXAMPLE, "--outputs", alone).stdout


# --- 5. a phase renamed after its rollback ---------------------------------------------------

def test_every_reader_copes_with_a_phase_the_plan_no_longer_has(run, tmp_path, main):
    data = example_data()
    old = data["phases"][0]["id"]
    data["phases"][0]["id"] = "carriers"
    for phase in data["phases"]:
        phase["depends_on"] = ["carriers" if d == old else d for d in phase.get("depends_on",
                                                                                 [])]
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(dump(data), encoding="utf-8")
    for args in (("status",), ("log",), ("verify",), ("status", "--format", "json")):
        done = main(args[0], renamed, "--outputs", run, *args[1:])
        assert done.returncode == 0, (args, done.stderr)
    gantt = main("gantt", renamed, "-o", tmp_path / "g.html", "--outputs", run)
    assert gantt.returncode == 0, gantt.stderr
    plan = load_plan(renamed)
    data = report.load(plan, run)
    rollbacks = str(data.rollbacks())
    assert "carrier-connections" in rollbacks and "not in this plan revision" in rollbacks
    for section in ("summary", "timeline", "impacts_timeline", "decisions", "downtime_table",
                    "checks", "audit", "notebooks", "notices"):
        getattr(data, section)()


# --- 6. arguments that are not UTF-8 ---------------------------------------------------------

def test_arguments_that_are_not_utf8_are_refused_before_anything_is_written(tmp_path):
    run = tmp_path / "run"
    for extra in ([b"--reason", b"caf\xe9"], [b"--reason=caf\xe9"], [b"--operator", b"\xff"]):
        args = [os.fsencode(RUNBOOK), b"phase", os.fsencode(EXAMPLE), PHASE.encode(), b"note",
                b"--outputs", os.fsencode(run)]
        if extra[0] != b"--operator":
            args += [b"--operator", b"alice"]
        done = subprocess.run(args + extra, capture_output=True, env=env_without_store(),
                              timeout=120)
        err = done.stderr.decode("utf-8", "replace")
        assert done.returncode == 1 and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err
        assert "is not valid UTF-8 text" in err and extra[0].split(b"=")[0].decode() in err
        assert not run.exists()


def test_the_library_refuses_them_too_before_a_kernel_or_notebook(tmp_path):
    from migration_runbook.phase import execute_phase

    with pytest.raises(EventRefused) as refused:
        execute_phase(EXAMPLE, PHASE, "note", "alice", reason="caf\udce9",
                      outputs=tmp_path / "run", source="rehearsal")
    assert "reason is not valid UTF-8 text" in str(refused.value)
    assert not (tmp_path / "run").exists()


# --- 7. the rest ---------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "postgresql://runbook:Sw0rdf1sh@127.0.0.1:notaport/db",
    "postgresql://runbook:Sw0rdf1sh@[::1:5432/db",
])
def test_a_malformed_store_url_is_one_line_and_keeps_the_password(url, main):
    err = assert_clean_refusal(main("log", EXAMPLE, "--store", url))
    assert "Sw0rdf1sh" not in err and "not a database URL" in err


def test_a_question_mark_in_a_sqlite_url_is_not_a_query(tmp_path, main):
    err = assert_clean_refusal(main("log", EXAMPLE, "--store",
                                   f"sqlite:///{tmp_path}/run?x.sqlite"))
    assert "'?' starts a URL query" in err
    # Written as %3F, or as a plain path, it names the file it says.
    folder = tmp_path / "a?b"
    with open_log(load_plan(EXAMPLE), folder) as log:
        fill(log, 1)
    for args in (("--store", f"sqlite:///{tmp_path}/a%3Fb/events.sqlite"),
                 ("--outputs", folder)):
        done = main("log", EXAMPLE, *args, "--format", "json")
        assert done.returncode == 0 and len(json.loads(done.stdout)) == 1, done.stderr
    with pytest.raises(StoreError):
        Store(f"sqlite:///{tmp_path}/run?mode=ro")


def test_store_copy_shows_plan_ids_from_the_source_as_text(run, tmp_path, main):
    hostile = "omni\x1b]0;pwned\x07\x1b[2J"
    db = sqlite3.connect(run / "events.sqlite")
    db.row_factory = sqlite3.Row
    previous = GENESIS
    for row in [dict(r) for r in db.execute("SELECT * FROM events ORDER BY seq")]:
        row.update(plan=hostile, prev_hash=previous)
        row["hash"] = previous = record_hash(row)
        db.execute("UPDATE events SET plan = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                   (hostile, row["prev_hash"], row["hash"], row["seq"]))
    db.execute("UPDATE plans SET id = ?, last_hash = ?", (hostile, previous))
    db.execute("UPDATE meta SET value = ? WHERE key = 'plan'", (hostile,))
    db.commit()
    db.close()
    done = main("store", "copy", run, tmp_path / "copy.sqlite")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "omni\\x1b]0;pwned\\x07\\x1b[2J: copied 4 records" in done.stdout
    err = assert_clean_refusal(main("store", "copy", run, tmp_path / "c2.sqlite", "--plan", "x"))
    assert "\x1b" not in err and "omni\\x1b" in err


def test_the_default_log_is_the_project_s_whichever_folder_a_command_runs_in(tmp_path):
    project = tmp_path / "project"
    (project / "runbooks").mkdir(parents=True)
    (project / "data").mkdir()
    plan = project / "data" / "plan.yaml"
    plan.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    with open_log(load_plan(plan)) as log:
        fill(log, 1)
    assert (project / "outputs" / "omni-hosting-2020" / "events.sqlite").exists()
    for cwd, path in ((project, "data/plan.yaml"), (project / "runbooks", "../data/plan.yaml"),
                      (tmp_path, "project/data/plan.yaml")):
        done = cli("log", path, "--format", "json", cwd=cwd)
        assert done.returncode == 0 and len(json.loads(done.stdout)) == 1, (cwd, done.stderr)
    assert not (project / "runbooks" / "outputs").exists()
    assert not (tmp_path / "outputs").exists()


def test_report_as_of_before_the_recorded_events_is_refused(run):
    plan = load_plan(EXAMPLE)
    with pytest.raises(report.ReportError) as refused:
        report.load(plan, run, as_of="2020-09-07T08:00:00Z")
    message = str(refused.value)
    assert "--as-of 2020-09-07T08:00:00Z is earlier than the last recorded event (#4" in message
    data = report.load(plan, run, as_of="2020-09-07T09:20:00Z")
    assert "-" not in "".join(str(v) for v in data.downtime()["actual_minutes"])
    err = assert_clean_refusal(cli("report", EXAMPLE, "--outputs", run, "--as-of",
                                   "2020-09-07T08:00:00Z", timeout=300))
    assert "is earlier than the last recorded event" in err
    assert not (run / "report.html").exists() and not (run / "report-failed.ipynb").exists()


@pytest.mark.notebook
def test_ctrl_c_during_a_phase_is_one_line(tmp_path):
    import signal
    import time

    data = example_data()
    data["phases"][0]["checks"] = [{"name": "slow", "command": "sleep 30", "timeout": "60s"}]
    plan = tmp_path / "slow.yaml"
    plan.write_text(dump(data), encoding="utf-8")
    run = tmp_path / "run"
    child = subprocess.Popen([str(RUNBOOK), "phase", str(plan), PHASE, "review", "--operator",
                              "alice", "--outputs", str(run)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             env=env_without_store())
    try:
        deadline = time.monotonic() + 120
        while not any((run / "notebooks").glob("*.ipynb")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(4)     # the checks cell is running
        os.killpg(child.pid, signal.SIGINT)     # what Ctrl-C does to the foreground group
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 130, (out, err)
    assert [line for line in err.splitlines() if line.strip()] == ["runbook: interrupted"], err


@pytest.mark.notebook
def test_a_kernel_port_taken_by_another_process_is_retried(tmp_path):
    """Many `runbook phase` at once: a port picked for a kernel is taken before the kernel
    binds it. The kernel dies at start; the run starts another on fresh ports."""
    import socket

    from migration_runbook.execute import Kernel
    from migration_runbook.phase import execute_phase

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with Kernel(ports={"shell_port": port}) as kernel:
            outcome = execute_phase(EXAMPLE, PHASE, "review", "alice", outputs=tmp_path / "run",
                                    kernel=kernel)
            assert kernel.manager.shell_port != port
    assert outcome.notebook.stat().st_size > 0
    assert "Phase 1 of 4" in outcome.notebook.read_text(encoding="utf-8")
