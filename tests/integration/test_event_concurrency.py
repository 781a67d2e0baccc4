"""The event log under real concurrency and real crashes, in separate processes.

Writers are `python -c` processes calling the package's API (the `runbook phase` command runs
a notebook that does the same), against the store given by the `store_url` fixture.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from migration_runbook.errors import EventRefused, RunbookError
from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE, ROOT, env_without_store, race, run_cli

PHASE = "carrier-connections"

RACER = """
import sys, time
from pathlib import Path
from migration_runbook.errors import EventRefused, RunbookError
from migration_runbook.events import open_log
from migration_runbook.plan import load_plan

plan_path, url, operator, signal_file = sys.argv[1:5]
log = open_log(load_plan(plan_path), store=url)
print("ready", flush=True)
while not Path(signal_file).exists():
    time.sleep(0.001)
try:
    event = log.record("carrier-connections", "go", operator)
except RunbookError as exc:
    print(exc, flush=True)
    sys.exit(1)
print("recorded", event.seq, flush=True)
"""

WRITER = """
import sys
from migration_runbook.events import open_log
from migration_runbook.plan import load_plan

NEXT = {"planned": "go", "approved": "start", "in-progress": "rollback",
        "rolling-back": "rolled-back", "rolled-back": "go"}
plan_path, url = sys.argv[1:3]
log = open_log(load_plan(plan_path), store=url)
print("ready", flush=True)
for i in range(100000):
    phase = ("carrier-connections", "web-interface")[i % 2]
    if i % 3 == 0:
        event = "note"
    else:
        event = NEXT[log.states()[phase]] if phase == "carrier-connections" else "note"
    recorded = log.record(phase, event, "writer", reason=f"step {i}", details={"i": i})
    print(recorded.seq, flush=True)
"""


def python(script: str, *args: str) -> subprocess.Popen[str]:
    env = env_without_store()
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_eight_operators_saying_go_at_once_record_exactly_one(store_url, tmp_path):
    signal_file = tmp_path / "now"
    racers = [python(RACER, EXAMPLE, store_url, f"operator-{i}", signal_file) for i in range(8)]
    results = race(racers, signal_file)
    winners = [r for r in results if r[0] == 0]
    losers = [r for r in results if r[0] != 0]
    assert len(winners) == 1 and winners[0][1] == "recorded 1\n"
    assert len(losers) == 7
    for code, out, err in losers:
        assert code == 1 and err == ""
        assert out == ("phase 'carrier-connections' cannot go: it is approved, not planned, "
                       "held or rolled-back (allowed: start, no-go, note)\n")
    log = open_log(load_plan(EXAMPLE), store=store_url)
    assert [(e.seq, e.event) for e in log.events()] == [(1, "go")]
    assert log.verify().ok
    env = {**os.environ, "RUNBOOK_STORE": store_url}
    verified = run_cli("verify", EXAMPLE, env=env)
    assert verified.returncode == 0, verified.stderr
    assert "event log intact: 1 records" in verified.stdout


@pytest.mark.slow
def test_a_writer_killed_at_random_points_leaves_a_valid_log_with_every_acknowledged_event(
        store_url):
    chance = random.Random(int(os.environ.get("RUNBOOK_TEST_SEED", time.time())))
    acknowledged: list[int] = []
    for kills in range(1, 6):
        writer = python(WRITER, EXAMPLE, store_url)
        try:
            assert writer.stdout.readline() == "ready\n"
            time.sleep(chance.uniform(0.05, 1.0))
        finally:
            writer.send_signal(signal.SIGKILL)
            out, _ = writer.communicate(timeout=60)
        assert writer.returncode == -signal.SIGKILL
        acknowledged += [int(line) for line in out.splitlines() if line.strip().isdigit()]
        log = open_log(load_plan(EXAMPLE), store=store_url)
        result = log.verify()
        assert result.ok, result.message
        seqs = {e.seq for e in log.events()}
        assert set(acknowledged) <= seqs
        # Each kill may cut off at most one acknowledgement of a committed record.
        assert len(seqs) - len(acknowledged) <= kills
        log.close()
    assert len(acknowledged) > 20, "the writer should have got some work done"
    events = open_log(load_plan(EXAMPLE), store=store_url).events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {e.event for e in events} >= {"note", "go", "start"}



def _race_fresh_logs(worker: int, folder: str, trials: int, barrier, results) -> None:
    plan = load_plan(EXAMPLE)
    for trial in range(trials):
        log = open_log(plan, store=f"sqlite:///{folder}/trial-{trial}/events.sqlite")
        barrier.wait()
        try:
            log.record(PHASE, "go", f"operator-{worker}")
            results.put((trial, "recorded"))
        except EventRefused:
            results.put((trial, "refused"))
        except RunbookError as exc:          # a StoreError here is the bug this test guards
            results.put((trial, f"error: {exc}"))
        log.close()


@pytest.mark.slow
def test_racing_writers_never_see_a_lock_error_while_a_fresh_log_is_created(tmp_path):
    """SQLite may answer "locked" at once (no waiting) while another process creates the file
    and switches it to WAL; the store must retry, not fail. Forked workers race on 30 fresh
    logs, released together by a barrier, so the window is hit many times."""
    trials, workers = 30, 8
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [context.Process(target=_race_fresh_logs,
                                 args=(i, str(tmp_path), trials, barrier, results))
                 for i in range(workers)]
    for process in processes:
        process.start()
    outcomes: dict[int, list[str]] = {}
    try:
        for _ in range(trials * workers):
            trial, outcome = results.get(timeout=120)
            outcomes.setdefault(trial, []).append(outcome)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    plan = load_plan(EXAMPLE)
    for trial in range(trials):
        assert sorted(outcomes[trial]) == ["recorded"] + ["refused"] * 7, (trial, outcomes[trial])
        log = open_log(plan, store=f"sqlite:///{tmp_path}/trial-{trial}/events.sqlite")
        assert log.verify().ok and [e.event for e in log.events()] == ["go"]
