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


def record_night(path: Path, outputs: Path) -> Path:
    """The night so far: db started at 09:00, freeze done, hot running since 09:41."""
    with open_log(load_plan(path), outputs) as log:
        log.record("db", "go", "alice", at="2020-09-07T08:50:00Z")
        log.record("db", "start", "alice", at="2020-09-07T09:00:00Z")
        log.record_step("db", "freeze", "start", "bob", at="2020-09-07T09:01:00Z")
        log.record_step("db", "freeze", "done", "bob", at="2020-09-07T09:40:00Z")
        log.record_step("db", "hot", "start", "carol", at="2020-09-07T09:41:00Z")
    return outputs


@pytest.fixture
def run(tmp_path) -> tuple[Path, Path]:
    """A plan and a run folder where freeze is done and hot has been running since 09:41."""
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    outputs = tmp_path / "run"
    return path, record_night(path, outputs)


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
    # The phase's line (wrapped at 160 columns) carries the chance beside the forecast.
    assert lines[2].startswith("db: steps 1/4 done, running hot; elapsed 3h 20m; forecast end")
    assert ("(Mon 7 Sep 13:30 UTC), 0.0% by the rollback deadline; rollback deadline passed 5m "
            "ago; window end in 40m") in " ".join(line.strip() for line in lines[2:4])
    assert "Steps test - 5 events in" in lines[4]


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


def watch(path: Path, outputs: Path, as_of: str) -> tuple[int, str, str]:
    """`runbook status --watch 0.5` run for real, interrupted (SIGINT) once it is watching:
    (exit status, stdout, stderr). Piped, rich's Live draws the last frame when it stops; a
    terminal sees each redraw."""
    runbook = Path(sys.executable).with_name("runbook")
    proc = subprocess.Popen([str(runbook), "status", str(path), "--outputs", str(outputs),
                             "--as-of", as_of, "--watch", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()
    echoed: list[str] = []
    # The --as-of echo on stderr comes once the plan and the log are read: then it watches
    # (however slow the start-up on a loaded machine).
    echo = threading.Thread(target=lambda: echoed.append(proc.stderr.readline()), daemon=True)
    echo.start()
    try:
        echo.join(timeout=60)
        assert echoed and echoed[0].startswith("--as-of "), echoed
        time.sleep(3)                         # a few redraws
        assert proc.poll() is None            # still watching
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        reader.join(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "".join(seen), proc.stderr.read()


def test_status_watch_redraws_until_interrupted(run):
    path, outputs = run
    returncode, out, err = watch(path, outputs, "2020-09-07T11:50:00Z")
    assert returncode == 0, err
    assert "Steps test" in out
    assert "forecast-past-rollback-deadline" in out


def test_status_watch_refuses_json(run):
    path, outputs = run
    done = run_cli("status", path, "--outputs", outputs, "--watch", "--format", "json")
    assert done.returncode == 2 and "--watch" in done.stderr


# --- the live chance of fitting, and fit-at-risk -------------------------------------------

HOT = "      - {id: hot, name: Copy hot tables, duration: 2h, after: [freeze]}\n"


def night_with_hot(tmp_path, high: str, head: str = "") -> tuple[Path, Path]:
    """The `run` night, hot given low 1h and `high`: freeze done 09:01-09:40, hot running
    since 09:41. At 10:30 cold (1h) starts now and switch (10m) follows both copies, so the
    steps finish by the 12:15 rollback deadline when hot takes at most 144 minutes."""
    assert HOT in PLAN
    path = tmp_path / "plan.yaml"
    path.write_text(head + PLAN.replace(HOT, HOT.replace("duration: 2h",
                                                         f"low: 1h, duration: 2h, high: {high}")))
    outputs = tmp_path / "run"
    return path, record_night(path, outputs)


def status_json(path: Path, outputs: Path, as_of: str) -> dict:
    done = run_cli("status", path, "--outputs", outputs, "--as-of", as_of, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[0]


def test_a_long_tail_on_the_running_step_raises_fit_at_risk(tmp_path):
    # hot (60, 120, 360) running 49 minutes, under its low: P(T <= 144) = 1 - 216² / (300 · 240)
    # = 0.352, though the likely forecast (hot to 11:41, switch to 11:51) fits.
    path, outputs = night_with_hot(tmp_path, "6h")
    row = status_json(path, outputs, "2020-09-07T10:30:00Z")
    assert row["forecast_end_utc"] == "2020-09-07T11:51:00Z"
    assert row["p_before_rollback_deadline"] == pytest.approx(0.352, abs=0.045)
    assert [w["code"] for w in row["warnings"]] == ["fit-at-risk"]
    percent = f"{row['p_before_rollback_deadline']:.1%}"
    assert row["warnings"][0]["message"] == (
        f"{percent} chance the steps finish by the rollback deadline (Tue 8 Sep 00:15 NZST "
        "(Mon 7 Sep 12:15 UTC)); warning below 80%")
    # The same log and moment give the same figure (a fixed seed).
    assert status_json(path, outputs, "2020-09-07T10:30:00Z") == row
    table = run_cli("status", path, "--outputs", outputs, "--as-of", "2020-09-07T10:30:00Z")
    lines = table.stdout.splitlines()
    assert lines[0] == f" fit-at-risk  db: {row['warnings'][0]['message']}"
    assert lines[1].startswith("db: steps 1/4 done, running hot; elapsed 1h 30m; forecast end")
    assert (f"(11:51 UTC), {percent} by the rollback deadline; rollback deadline in "
            "1h 45m; window end in 2h 30m") in " ".join(line.strip() for line in lines[1:3])


def test_a_short_tail_is_comfortable_and_raises_nothing(tmp_path):
    # hot (60, 120, 150): P(T <= 144) = 1 - 6² / (90 · 30) = 0.987.
    path, outputs = night_with_hot(tmp_path, "150m")
    row = status_json(path, outputs, "2020-09-07T10:30:00Z")
    assert row["p_before_rollback_deadline"] == pytest.approx(0.987, abs=0.01)
    assert row["warnings"] == []
    table = run_cli("status", path, "--outputs", outputs, "--as-of", "2020-09-07T10:30:00Z")
    assert "fit-at-risk" not in table.stdout
    assert table.stdout.splitlines()[0].startswith("db: steps 1/4 done")


def test_fit_probability_warning_follows_the_plan_key(tmp_path):
    path, outputs = night_with_hot(tmp_path, "6h", head="alerts: {fit_probability_warning: 0.3}\n")
    assert status_json(path, outputs, "2020-09-07T10:30:00Z")["warnings"] == []


def test_status_json_of_a_phase_not_running_has_no_chance(run):
    path, outputs = run
    row = status_json(path, outputs, "2020-09-07T08:55:00Z")     # approved, not started
    assert row["p_before_rollback_deadline"] is None


def test_fit_at_risk_is_left_out_when_the_forecast_already_misses_the_deadline(run):
    # The first test's moment: the likely forecast ends 45 minutes late; the chance is 0.
    path, outputs = run
    row = status_json(path, outputs, "2020-09-07T11:50:00Z")
    assert row["p_before_rollback_deadline"] == 0.0
    assert [w["code"] for w in row["warnings"]] == ["forecast-past-rollback-deadline"]


def test_status_watch_shows_fit_at_risk(tmp_path):
    path, outputs = night_with_hot(tmp_path, "6h")
    returncode, out, err = watch(path, outputs, "2020-09-07T10:30:00Z")
    assert returncode == 0, err
    assert "fit-at-risk" in out and "by the rollback deadline;" in out
