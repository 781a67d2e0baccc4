"""`runbook status`, `log` and `verify`, run for real against event logs in a run folder.

Tests taking `where` run twice: on a run folder's SQLite file (`--outputs DIR`) and on a
PostgreSQL database (`--store URL`, tests/postgres.py).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from migration_runbook.errors import EventRefused
from migration_runbook.events import HASHED, LOG_COLUMNS, open_log
from migration_runbook.store import Store
from tests.conftest import EXAMPLE, run_cli

MARKUP = "[bold red]carriers[/] <b>fine</b>"
SCENARIO = [   # phase, event, operator, at (UTC), reason
    ("carrier-connections", "go", "alice", "2020-09-07T08:50:00Z", "pre-flight green"),
    ("carrier-connections", "start", "alice", "2020-09-07T09:00:00Z", ""),
    ("carrier-connections", "complete", "alice", "2020-09-07T13:20:00Z", MARKUP),
    ("messaging-core", "go", "bob", "2020-09-08T08:55:00Z", ""),
    ("messaging-core", "start", "bob", "2020-09-08T09:05:00Z", ""),
    ("api-endpoints", "note", "carol", "2020-09-28T09:00:00Z", "after NZDT began"),
]




@pytest.fixture
def outputs(plan, tmp_path) -> Path:
    folder = tmp_path / "run"
    with open_log(plan, store=f"sqlite:///{folder / 'events.sqlite'}") as log:
        for phase, event, operator, at, reason in SCENARIO:
            log.record(phase, event, operator, reason=reason, at=at,
                       details={"checks": [{"name": "API", "ok": True}]})
    return folder


class Where:
    """A filled event log and the CLI arguments that name it."""

    def __init__(self, args: list, url: str):
        self.args, self.url = args, url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def where(request, plan, tmp_path) -> Where:
    if request.param == "sqlite":
        folder = request.getfixturevalue("outputs")
        return Where(["--outputs", folder], f"sqlite:///{folder / 'events.sqlite'}")
    url = request.getfixturevalue("postgres").new_database()
    with open_log(plan, store=url) as log:
        for phase, event, operator, at, reason in SCENARIO:
            log.record(phase, event, operator, reason=reason, at=at,
                       details={"checks": [{"name": "API", "ok": True}]})
    return Where(["--store", url], url)


def cli(*args, env) -> tuple[int, str, str]:
    done = run_cli(*args, env=env)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout, done.stderr


def db_records(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def test_status_json_gives_state_gate_actuals_and_next_events(where, env):
    code, out, err = cli("status", EXAMPLE, *where.args, "--format", "json", env=env)
    assert code == 0, err
    rows = {r["id"]: r for r in json.loads(out)}
    assert [r["state"] for r in rows.values()] == ["completed", "in-progress", "planned",
                                                    "planned"]
    done, running, blocked = (rows["carrier-connections"], rows["messaging-core"],
                              rows["web-interface"])
    assert done["actual_start_utc"] == "2020-09-07T09:00:00Z"
    assert done["actual_end"] == "2020-09-08T01:20+12:00" and done["actual_end_abbrev"] == "NZST"
    assert done["overrun_minutes"] == 20 and done["next_events"] == ["note"]
    assert running["running"] and running["start_delay_minutes"] == 5
    assert running["next_events"] == ["complete", "rollback", "note"]
    assert running["overrun_minutes"] > 0          # its window ended in 2020
    assert blocked["gate"] == "blocked by 'messaging-core' (in-progress)"
    assert blocked["gate_open"] is False and blocked["next_events"] == ["no-go", "note"]
    assert rows["api-endpoints"]["last_event"]["event"] == "note"


def test_status_table_shows_local_and_utc_times_and_the_gate(where, env):
    code, out, err = cli("status", EXAMPLE, *where.args, env=env)
    assert code == 0, err
    for expected in ("6 events in", "completed", "in-progress", "blocked: messaging-core",
                     "Mon 7 Sep 21:00-01:00 NZST", "09:00-13:00 UTC", "21:00-01:20 NZST",
                     "09:00-13:20 UTC", "overrun +20m", "so far", "rollback"):
        assert expected in out, expected


PHASES = ["carrier-connections", "messaging-core", "web-interface", "api-endpoints"]


@pytest.mark.parametrize("columns", [80, 160])
def test_status_fits_the_width_in_columns_with_every_id_state_and_window_whole(outputs, env,
                                                                                columns):
    """Piped, as in a test, `COLUMNS` sets the width (a terminal sets it itself)."""
    code, out, err = cli("status", EXAMPLE, "--outputs", outputs,
                         env=env | {"COLUMNS": str(columns)})
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= columns
    assert "…" not in out
    rows = {line.split()[0]: line for line in lines if line.split() and
            line.split()[0] in PHASES}
    assert list(rows) == PHASES                      # each id whole, at the start of a line
    assert "Mon 7 Sep 21:00-01:00 NZST" in rows["carrier-connections"]  # planned, one line
    assert "21:00-01:20 NZST" in rows["carrier-connections"]            # actual, one line
    for state in ("completed", "in-progress", "planned"):
        assert any(line.split()[:1] == [state] for line in lines), state
    # Four phases in about four lines each, not sixty lines (the clock's warnings, for the
    # phase still in progress since 2020, come above the table).
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["phase"])
    assert len(lines) - header <= 22


def test_status_wide_view_has_names_gates_and_full_times_in_160_columns(outputs, env):
    code, out, err = cli("status", EXAMPLE, "--outputs", outputs, "--wide",
                         env=env | {"COLUMNS": "160"})
    assert code == 0, err
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 160 and "…" not in out
    for expected in ("Carrier Connection Migrations", "(carrier-connections)",
                     "blocked by 'messaging-core' (in-progress)", "note by carol",
                     "start by bob"):
        assert expected in out, expected


def test_status_in_another_zone(where, env):
    code, out, _ = cli("status", EXAMPLE, *where.args, "--format", "json",
                       "--tz", "UTC", env=env)
    assert code == 0
    assert json.loads(out)[0]["planned_start"] == "2020-09-07T09:00+00:00"


def test_the_store_may_be_named_by_url(outputs, tmp_path, env):
    url = f"sqlite:///{outputs / 'events.sqlite'}"
    code, out, err = cli("log", EXAMPLE, "--store", url, "--outputs", tmp_path / "unused",
                         "--format", "json", env=env)
    assert code == 0, err
    assert len(json.loads(out)) == len(SCENARIO)
    assert not (tmp_path / "unused").exists()


def test_log_json_lists_every_field_in_order(where, env):
    code, out, err = cli("log", EXAMPLE, *where.args, "--format", "json", env=env)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert list(rows[0]) == LOG_COLUMNS
    assert rows[0]["at"] == "2020-09-07T20:50+12:00" and rows[0]["at_abbrev"] == "NZST"
    assert rows[0]["at_utc"] == "2020-09-07T08:50:00Z"
    assert rows[5]["at_abbrev"] == "NZDT" and rows[5]["at"] == "2020-09-28T22:00+13:00"
    assert rows[2]["reason"] == MARKUP
    assert rows[0]["details"] == {"checks": [{"name": "API", "ok": True}]}
    assert rows[1]["prev_hash"] == rows[0]["hash"]


def test_log_csv_has_a_header_and_one_row_an_event(where, env):
    code, out, err = cli("log", EXAMPLE, *where.args, "--format", "csv", env=env)
    assert code == 0, err
    reader = csv.DictReader(io.StringIO(out))
    assert reader.fieldnames == LOG_COLUMNS
    rows = list(reader)
    assert [r["event"] for r in rows] == ["go", "start", "complete", "go", "start", "note"]
    assert json.loads(rows[0]["details"]) == {"checks": [{"name": "API", "ok": True}]}
    assert rows[2]["reason"] == MARKUP


def test_log_table_shows_markup_as_typed_and_the_abbreviation_in_force(where, env):
    code, out, err = cli("log", EXAMPLE, *where.args, env=env)
    assert code == 0, err
    assert MARKUP in out
    assert "Mon 7 Sep 20:50 NZST (08:50 UTC)" in out
    assert "Mon 28 Sep 22:00 NZDT (09:00 UTC)" in out


def test_verify_prints_the_count_and_last_hash(plan, where, env):
    code, out, err = cli("verify", EXAMPLE, *where.args, env=env)
    assert code == 0, err
    last = open_log(plan, store=where.url).events()[-1].hash
    assert out.startswith(f"omni-hosting-2020: event log intact: 6 records, last hash {last}")


def test_commands_on_a_run_without_a_log_report_it_empty_and_create_nothing(tmp_path, env):
    empty = tmp_path / "never-run"
    code, out, _ = cli("status", EXAMPLE, "--outputs", empty, "--format", "json", env=env)
    assert code == 0 and {r["state"] for r in json.loads(out)} == {"planned"}
    assert cli("log", EXAMPLE, "--outputs", empty, "--format", "json", env=env)[1] == "[]\n"
    assert cli("log", EXAMPLE, "--outputs", empty, "--format", "csv", env=env)[1] == \
        ",".join(LOG_COLUMNS) + "\n"
    assert "no events recorded yet" in cli("log", EXAMPLE, "--outputs", empty, env=env)[1]
    code, out, _ = cli("verify", EXAMPLE, "--outputs", empty, env=env)
    assert code == 0 and "no events recorded yet" in out
    assert not empty.exists() and list(tmp_path.iterdir()) == []


def test_the_default_run_folder_is_outputs_plan_id(tmp_path, env):
    """outputs/<plan id> in the plan's project (here, the copy's own folder), not in the
    folder the command runs in."""
    (tmp_path / "project").mkdir()
    copy = tmp_path / "project" / "plan.yaml"
    copy.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    done = run_cli("verify", copy, cwd=tmp_path, env=env)
    assert done.returncode == 0
    assert f"{tmp_path}/project/outputs/omni-hosting-2020/events.sqlite" in done.stdout
    assert not (tmp_path / "outputs").exists()


def test_a_refused_event_leaves_the_log_byte_identical(plan, outputs, env):
    database = outputs / "events.sqlite"
    records, raw = db_records(database), database.read_bytes()
    with open_log(plan, outputs) as log, pytest.raises(EventRefused, match="cannot go"):
        log.record("web-interface", "go", "mallory")
    assert db_records(database) == records
    assert database.read_bytes() == raw
    assert cli("verify", EXAMPLE, "--outputs", outputs, env=env)[0] == 0


@pytest.mark.parametrize(("tamper", "record"), [
    ("UPDATE events SET operator = 'mallory' WHERE seq = 3", 3),
    ("UPDATE events SET reason = 'all fine' WHERE seq = 5", 5),
    ("DELETE FROM events WHERE seq = 2", 2),
    ("DELETE FROM events WHERE seq = 6", 6),
    ("SWAP 2 3", 2),
])
def test_verify_fails_naming_the_record_that_was_tampered_with(where, env, tamper, record):
    store = Store(where.url)
    with store.engine.begin() as conn:
        if tamper.startswith("SWAP"):
            # Swap the two records' contents; the seq numbers stay in order.
            names = [n for n in (*HASHED, "hash") if n not in ("plan", "seq")]
            rows = {seq: conn.exec_driver_sql(f"SELECT {', '.join(names)} FROM events WHERE "
                                              f"seq = {seq}").one() for seq in (2, 3)}
            for seq, other in ((2, 3), (3, 2)):
                conn.execute(text(f"UPDATE events SET {', '.join(f'{n} = :{n}' for n in names)} "
                                  f"WHERE seq = {seq}"), dict(zip(names, rows[other], strict=True)))
        else:
            conn.exec_driver_sql(tamper)
    store.close()
    code, out, err = cli("verify", EXAMPLE, *where.args, env=env)
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"record {record} was edited, deleted or reordered: ")


def test_a_corrupt_log_is_one_line_and_exit_1(tmp_path, env):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "events.sqlite").write_bytes(b"\x00garbage" * 512)
    for command in ("status", "log", "verify"):
        code, out, err = cli(command, EXAMPLE, "--outputs", folder, env=env)
        assert code == 1 and out == ""
        assert err.count("\n") == 1 and "not a readable event log" in err, command


def test_a_log_of_another_plan_is_refused(outputs, env, write_plan):
    other = write_plan(EXAMPLE.read_text(encoding="utf-8").replace(
        "id: omni-hosting-2020", "id: someone-else", 1))
    code, _, err = cli("status", other, "--outputs", outputs, env=env)
    assert code == 1
    assert "belongs to plan 'omni-hosting-2020', not 'someone-else'" in err
