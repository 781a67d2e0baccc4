"""A phase run killed at any moment never breaks the log, loses a decision or records it twice.

`runbook phase` (and papermill run directly on the phase notebook) is started in its own
process group and killed with SIGKILL after a random delay: while the kernel starts, while the
checks run, while the event is recorded, while the notebook is saved. Then:

- `runbook verify` exits 0 (the chain is intact);
- the event was recorded once or not at all;
- running the same event again records it (if the killed run had not) or refuses it in one
  line because it is already recorded: either way it is in the log exactly once.

The kernel runs in a session of its own (jupyter_client starts it so); a killed run's kernel
finishes the cell it is in and then exits when it sees its parent gone. Each run is tagged in
its environment, so the test waits for those kernels and never leaves one behind.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE, ROOT
from tests.hardening.conftest import (
    PAPERMILL,
    RUNBOOK,
    assert_clean_refusal,
    env_without_store,
    runbook,
)

TAG = "RUNBOOK_HARDENING_RUN"
SEED = int(os.environ.get("RUNBOOK_CRASH_SEED", "20200907"))
STEPS = [("carrier-connections", "go"), ("carrier-connections", "start"),
         ("carrier-connections", "complete"), ("messaging-core", "go"),
         ("messaging-core", "start"), ("messaging-core", "rollback"),
         ("messaging-core", "rolled-back"), ("messaging-core", "go")]
"""Events that change a phase's state, so a second identical one is refused (a `note`
would be allowed twice and could not tell a duplicate from two notes)."""


def _tagged(tag: str) -> list[int]:
    """Pids of live processes started by the run tagged `tag` (the CLI, papermill, kernels)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"{TAG}={tag}".encode() in environ.split(b"\0") and state != "Z":
            pids.append(int(entry.name))
    return pids


def _wait_for_orphans(tag: str, timeout: float = 20.0) -> list[int]:
    """Wait for a killed run's kernel to exit by itself; kill what is left (by pid); return
    the pids that outlived `timeout` (there should be none)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = _tagged(tag)
        if not left:
            return []
        time.sleep(0.2)
    left = _tagged(tag)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def _kill_after(command: list[str], delay: float, tag: str) -> int:
    """Start `command` in its own process group, SIGKILL the group after `delay` seconds."""
    env = env_without_store() | {TAG: tag}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode


def _count(outputs: Path, phase: str, event: str) -> int:
    plan = load_plan(EXAMPLE)
    with open_log(plan, outputs) as log:
        return sum(1 for e in log.events(phase) if e.event == event)


def _verify(outputs: Path) -> str:
    result = runbook("verify", EXAMPLE, "--outputs", outputs, env=env_without_store())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def _typical_run(outputs: Path) -> float:
    """How long one `runbook phase` takes on this machine (a review: records nothing)."""
    started = time.monotonic()
    result = runbook("phase", EXAMPLE, "carrier-connections", "review", "--operator", "tester",
                     "--outputs", outputs, env=env_without_store())
    assert result.returncode == 0, result.stderr
    return time.monotonic() - started


def _crash_and_rerun(outputs: Path, command: list[str], rerun: list[str], phase: str,
                     event: str, delay: float, context: str) -> str:
    """Kill `command` after `delay`, check the log, run `rerun`; 'before', 'after' or ''."""
    before = _count(outputs, phase, event)
    tag = uuid.uuid4().hex
    code = _kill_after(command, delay, tag)
    survivors = _wait_for_orphans(tag)
    assert survivors == [], f"{context}: processes outlived the killed run: {survivors}"
    _verify(outputs)
    after_kill = _count(outputs, phase, event)
    assert after_kill in (before, before + 1), f"{context}: recorded {after_kill - before} times"
    again = runbook(*rerun, env=env_without_store())
    if after_kill == before + 1:
        # Already recorded by the killed run: the same event again is refused in one line.
        err = assert_clean_refusal(again)
        assert f"cannot {event}" in err, f"{context}: {err}"
    else:
        assert again.returncode == 0, f"{context}: {again.stdout}{again.stderr}"
    assert _count(outputs, phase, event) == before + 1, f"{context}: not exactly once"
    _verify(outputs)
    return "done" if code == 0 else ("recorded" if after_kill > before else "not recorded")


@pytest.mark.notebook
@pytest.mark.slow
def test_killing_runbook_phase_at_random_moments_never_breaks_or_duplicates(tmp_path):
    outputs = tmp_path / "run"
    typical = _typical_run(tmp_path / "timing")
    rng = random.Random(SEED)
    outcomes = []
    for i, (phase, event) in enumerate(STEPS):
        delay = rng.uniform(0.05, typical * 1.1)
        command = [str(RUNBOOK), "phase", str(EXAMPLE), phase, event, "--operator", "ic",
                   "--reason", f"step {i}", "--outputs", str(outputs)]
        outcomes.append(_crash_and_rerun(
            outputs, command, command[1:], phase, event, delay,
            f"seed {SEED} step {i} ({phase} {event}) killed after {delay:.2f}s"))
    plan = load_plan(EXAMPLE)
    with open_log(plan, outputs) as log:
        events = log.events()
        states = log.states()
    assert [(e.phase, e.event) for e in events] == STEPS
    assert states["carrier-connections"] == "completed"
    assert states["messaging-core"] == "approved"
    print(f"outcomes of the killed runs: {outcomes}")


@pytest.mark.notebook
@pytest.mark.slow
def test_killing_papermill_at_random_moments_never_breaks_or_duplicates(tmp_path):
    outputs = tmp_path / "run"
    typical = _typical_run(tmp_path / "timing")
    rng = random.Random(SEED + 1)
    for i, (phase, event) in enumerate(STEPS[:4]):
        delay = rng.uniform(0.5, typical * 1.5)
        notebook = tmp_path / f"{i:02d}-{phase}-{event}.ipynb"
        command = [str(PAPERMILL), str(ROOT / "runbooks" / "phase.ipynb"), str(notebook),
                   "-p", "plan", str(EXAMPLE), "-p", "phase", phase, "-p", "event", event,
                   "-p", "operator", "ic", "-p", "reason", f"step {i}",   # complete: unticked
                   "-p", "outputs", str(outputs)]
        rerun = ["phase", EXAMPLE, phase, event, "--operator", "ic", "--reason", f"step {i}",
                 "--outputs", outputs]
        _crash_and_rerun(outputs, command, rerun, phase, event, delay,
                         f"seed {SEED + 1} step {i} ({phase} {event}) killed after "
                         f"{delay:.2f}s")


def _kill_just_after_the_record(outputs: Path) -> None:
    """`runbook phase ... go`, killed as soon as the event is in the log (polling it): the
    moment the CLI is still reading it back and saving the notebook."""
    tag = uuid.uuid4().hex
    command = [str(RUNBOOK), "phase", str(EXAMPLE), "carrier-connections", "go",
               "--operator", "ic", "--outputs", str(outputs)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env_without_store() | {TAG: tag},
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if (outputs / "events.sqlite").exists() and \
                    _count(outputs, "carrier-connections", "go"):
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _wait_for_orphans(tag) == []


@pytest.mark.notebook
@pytest.mark.slow
def test_a_kill_just_after_the_record_leaves_it_recorded_once(tmp_path):
    outputs = tmp_path / "run"
    _kill_just_after_the_record(outputs)
    _verify(outputs)
    assert _count(outputs, "carrier-connections", "go") == 1
    again = runbook("phase", EXAMPLE, "carrier-connections", "go", "--operator", "ic",
                    "--outputs", outputs, env=env_without_store())
    assert "cannot go" in assert_clean_refusal(again)
    assert _count(outputs, "carrier-connections", "go") == 1


@pytest.mark.notebook
@pytest.mark.slow
def test_the_notebook_recorded_with_a_decision_survives_a_kill_after_the_record(tmp_path):
    """The log names the executed notebook of each event as its evidence; a run killed
    after recording must not leave that notebook empty."""
    outputs = tmp_path / "run"
    _kill_just_after_the_record(outputs)
    kept = _notebook_of_each_record(outputs)
    assert kept == {1: "notebook"}, f"the recorded event's notebook is {kept.get(1)}"


def _notebook_of_each_record(outputs: Path) -> dict[int, str]:
    """seq -> what the recorded notebook path holds: 'notebook', 'empty', 'missing', 'corrupt'."""
    import nbformat

    plan = load_plan(EXAMPLE)
    with open_log(plan, outputs) as log:
        events = log.events()
    found = {}
    for e in events:
        path = outputs / e.notebook
        if not e.notebook or not path.exists():
            found[e.seq] = "missing"
        elif path.stat().st_size == 0:
            found[e.seq] = "empty"
        else:
            try:
                nbformat.read(path, as_version=4)
                found[e.seq] = "notebook"
            except Exception:  # noqa: BLE001 - any unreadable file is the finding
                found[e.seq] = "corrupt"
    return found


@pytest.mark.notebook
@pytest.mark.slow
def test_a_failure_after_the_record_does_not_say_nothing_was_recorded(tmp_path):
    """A cell after the record failing (a chart that cannot draw, say) must not tell the
    operator that nothing was recorded when the decision is in the log."""
    import nbformat

    books = tmp_path / "runbooks"
    shutil.copytree(ROOT / "runbooks", books)
    notebook = nbformat.read(books / "phase.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('the chart failed')"))
    nbformat.write(notebook, books / "phase.ipynb")
    outputs = tmp_path / "run"
    result = runbook("phase", EXAMPLE, "carrier-connections", "go", "--operator", "ic",
                     "--outputs", outputs, env=env_without_store() | {
                         "RUNBOOK_NOTEBOOKS": str(books)})
    assert "Traceback" not in result.stderr
    recorded = _count(outputs, "carrier-connections", "go")
    assert recorded == 1  # the record cell ran before the failing one
    assert "nothing recorded" not in result.stdout + result.stderr, result.stdout
