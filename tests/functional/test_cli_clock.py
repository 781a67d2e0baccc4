"""`runbook status --as-of` and `--watch`: the clock's fields and warnings, run for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import run_cli
from tests.functional.test_step_events import PLAN


@pytest.fixture
def run(tmp_path) -> tuple[Path, Path]:
    """A plan and a run folder where freeze is done and hot has been running since 09:41."""
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    outputs = tmp_path / "run"
    with open_log(load_plan(path), outputs) as log:
        log.record("db", "go", "alice", at="2020-09-07T08:50:00Z")
        log.record("db", "start", "alice", at="2020-09-07T09:00:00Z")
        log.record_step("db", "freeze", "start", "bob", at="2020-09-07T09:01:00Z")
        log.record_step("db", "freeze", "done", "bob", at="2020-09-07T09:40:00Z")
        log.record_step("db", "hot", "start", "carol", at="2020-09-07T09:41:00Z")
    return path, outputs


def test_status_json_as_of_carries_steps_forecast_countdowns_and_warnings(run):
    path, outputs = run
    done = run_cli("status", path, "--outputs", outputs, "--as-of", "2020-09-07T11:50:00Z",
                   "--format", "json")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)[0]
    # hot (2h from 09:41) runs to 11:41, past: ends now (11:50); cold 11:50-12:50; switch to
    # 13:00, 45 minutes after the 12:15 rollback deadline.
    assert row["forecast_end_utc"] == "2020-09-07T13:00:00Z"
    assert row["minutes_to_rollback_deadline"] == 25.0
    assert row["minutes_to_window_end"] == 70.0
    assert row["critical_path"] == ["freeze", "hot", "switch"]
    assert [w["code"] for w in row["warnings"]] == ["forecast-past-rollback-deadline"]
    steps = {s["id"]: s for s in row["steps"]}
    assert steps["freeze"]["state"] == "done"
    assert steps["freeze"]["actual_end_utc"] == "2020-09-07T09:40:00Z"
    assert steps["hot"] == {**steps["hot"], "state": "running", "owner": "",
                            "planned_start_utc": "2020-09-07T09:30:00Z",
                            "planned_end_utc": "2020-09-07T11:30:00Z",
                            "actual_start_utc": "2020-09-07T09:41:00Z",
                            "actual_end_utc": None}
    assert row["steps_done"] == 1 and row["steps_total"] == 4
    assert row["steps_running"] == ["hot"]


def test_status_as_of_earlier_leaves_out_later_events(run):
    path, outputs = run
    done = run_cli("status", path, "--outputs", outputs, "--as-of", "2020-09-07T09:20:00Z",
                   "--format", "json")
    row = json.loads(done.stdout)[0]
    assert row["events"] == 3 and row["steps_running"] == ["freeze"]
    assert row["warnings"] == []


def test_status_table_puts_the_warnings_first(run):
    path, outputs = run
    done = run_cli("status", path, "--outputs", outputs, "--as-of", "2020-09-07T12:20:00Z")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "rollback-deadline-passed" in lines[0]
    assert "forecast-past-rollback-deadline" in lines[1]
    assert lines[2].startswith("db: steps 1/4 done, running hot; elapsed 3h 20m; forecast end")
    assert "rollback deadline passed 5m ago; window end in 40m" in lines[2]
    assert "Steps test - 5 events in" in lines[3]


def test_status_table_colours_the_warnings_on_a_terminal(run):
    path, outputs = run
    env = {**os.environ, "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    done = run_cli("status", path, "--outputs", outputs, "--as-of", "2020-09-07T12:20:00Z",
                   env=env)
    first = done.stdout.splitlines()[0]
    assert "\x1b[" in first and "rollback-deadline-passed" in first


def test_status_as_of_that_is_not_a_time_is_refused_in_one_line(run):
    path, outputs = run
    done = run_cli("status", path, "--outputs", outputs, "--as-of", "tonight")
    assert done.returncode == 1 and done.stderr.startswith("--as-of: invalid time 'tonight'")
    assert len(done.stderr.splitlines()) == 1


def test_status_watch_redraws_until_interrupted(run):
    path, outputs = run
    runbook = Path(sys.executable).with_name("runbook")
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen([str(runbook), "status", str(path), "--outputs", str(outputs),
                             "--as-of", "2020-09-07T11:50:00Z", "--watch", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        # Piped, rich's Live draws the last frame when it stops; a terminal sees each redraw.
        time.sleep(5)
        assert proc.poll() is None            # still watching
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        reader.join(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(seen)
    assert proc.returncode == 0, proc.stderr.read()
    assert "Steps test" in out
    assert "forecast-past-rollback-deadline" in out


def test_status_watch_refuses_json(run):
    path, outputs = run
    done = run_cli("status", path, "--outputs", outputs, "--watch", "--format", "json")
    assert done.returncode == 2 and "--watch" in done.stderr
