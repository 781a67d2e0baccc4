"""A hostile machine: outputs that cannot be written, a full disk, a broken kernel, a plan
that disappears between commands, an event store that is not one.

Each must give what an operator at 2 a.m. needs: exit 1, one line saying what is wrong and
where (and, for the kernel, how to fix it), no traceback, and a log that is still valid and
never holds an event the operator was told was not recorded.

Tests run as root, so `chmod` does not stop a write: an unwritable folder is a path under a
regular file (`file/sub`), under /proc, or a read-only tmpfs; a full disk is a tiny tmpfs
(when this process may mount) or a file-size limit (RLIMIT_FSIZE, which makes writes fail
with EFBIG) in the child process.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE
from tests.hardening.conftest import (
    RUNBOOK,
    assert_clean_refusal,
    env_without_store,
    runbook,
)

PHASE = "carrier-connections"
FIX_KERNEL = ("make setup", "ipykernel install")


def commands(names, xfail: dict[str, str] | None = None) -> list:
    """`names` as parameters, those that start a kernel marked `notebook` (`slow` for the
    report and the rehearsal); `xfail`: name -> reason of a known bug."""
    marks = {"phase": [pytest.mark.notebook],
             "report": [pytest.mark.notebook, pytest.mark.slow],
             "rehearse": [pytest.mark.notebook, pytest.mark.slow]}
    return [pytest.param(name, marks=marks.get(name, []) + (
        [pytest.mark.xfail(strict=True, reason=xfail[name])] if name in (xfail or {}) else []))
        for name in names]


UNWRITABLE_NOTEBOOKS = (
    "lead: execute.reserve_output (via phase.execute_phase): an outputs folder that cannot "
    "be created (under a file, in /proc, read-only) is an uncaught OSError traceback; raise "
    "OutputError('DIR: cannot write (...); choose a writable folder with --outputs')")
NOTEBOOK_WRITE_FAILS = (
    "lead: execute.run: papermill's OSError writing the executed notebook (EFBIG, ENOSPC) is "
    "an uncaught traceback; catch OSError, say in one line what failed and whether the event "
    "is in the log")
BROKEN_KERNEL = (
    "lead: execute.Kernel/run: a python3 kernel that cannot start (interpreter deleted: "
    "FileNotFoundError traceback; no ipykernel: 3 lines of kernel and jupyter_client noise) "
    "must be one line saying to run `make setup` or `python -m ipykernel install --sys-prefix "
    "--name python3`")


def _events(outputs: Path, plan: Path = EXAMPLE) -> list:
    if not (outputs / "events.sqlite").exists():
        return []
    with open_log(load_plan(plan), outputs) as log:
        return log.events()


def _verify_ok(outputs: Path, plan: Path = EXAMPLE) -> None:
    result = runbook("verify", plan, "--outputs", outputs, env=env_without_store())
    assert result.returncode == 0, result.stdout + result.stderr


# --- mounts (root only) ------------------------------------------------------------------------

def _mount(target: Path, options: str) -> bool:
    """Mount a tmpfs at `target`; False when this process may not mount."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                          capture_output=True, text=True)
    return done.returncode == 0


def _umount(target: Path) -> None:
    for args in (["umount", str(target)], ["umount", "-l", str(target)]):
        if subprocess.run(args, capture_output=True).returncode == 0:
            return


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: room for an event log, not for a notebook or a Gantt page."""
    target = tmp_path / "tiny"
    if not _mount(target, "size=64k"):
        pytest.skip("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN); the "
                    "RLIMIT_FSIZE tests cover a full disk")
    try:
        yield target
    finally:
        _umount(target)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "ro"
    if not _mount(target, "ro,size=64k"):
        pytest.skip("cannot mount a read-only tmpfs here (not root, or no CAP_SYS_ADMIN)")
    try:
        yield target
    finally:
        _umount(target)


def _file_size_limit(limit: int):
    """preexec_fn: writes past `limit` bytes fail with EFBIG (Python ignores SIGXFSZ)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


# --- outputs that cannot be written ----------------------------------------------------------

def _writers(base: Path) -> dict[str, list[object]]:
    """Every command that writes, pointed at `base` (a folder that cannot be written)."""
    return {
        "gantt": ["gantt", EXAMPLE, "-o", base / "g.html"],
        "gantt-outputs": ["gantt", EXAMPLE, "-o", base / "g.html", "--outputs", base],
        "notice-file": ["notices", EXAMPLE, "announcement", "-o", base / "a.txt"],
        "notice-kept": ["notices", EXAMPLE, "announcement", "--send", "--mark-sent",
                        "--outputs", base],
        "ics": ["ics", EXAMPLE, "-o", base / "w.ics"],
        "phase": ["phase", EXAMPLE, PHASE, "go", "--operator", "ic", "--outputs", base],
        "report": ["report", EXAMPLE, "--outputs", base],
        "rehearse": ["rehearse", EXAMPLE, "--outputs", base],
    }


@pytest.mark.parametrize("command", commands(_writers(Path("/x"))))
@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_an_outputs_folder_that_cannot_be_written_is_one_line(tmp_path, command, where):
    blocker = tmp_path / "file"
    blocker.write_text("a regular file, not a folder\n")
    base = blocker / "sub" if where == "under-a-file" else Path("/proc") / uuid.uuid4().hex
    result = runbook(*_writers(base)[command], env=env_without_store(), timeout=300)
    err = assert_clean_refusal(result)
    assert str(base) in err or str(blocker) in err, err
    assert blocker.read_text() == "a regular file, not a folder\n"


@pytest.mark.parametrize("command", commands(["gantt", "notice-file", "ics", "phase",
                                               "report"]))
def test_a_read_only_outputs_folder_is_one_line(read_only, command):
    result = runbook(*_writers(read_only / "run")[command], env=env_without_store(),
                     timeout=300)
    err = assert_clean_refusal(result)
    assert str(read_only) in err, err
    assert "Read-only" in err or "read-only" in err or "cannot" in err, err


# --- a full disk --------------------------------------------------------------------------------

def _fill(disk: Path) -> None:
    """Fill `disk` to its last page, so that the next file written there cannot be."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                continue
    finally:
        os.close(fd)


# What each command finds on the 64 KiB disk: room for the event log (phase) or none at all
# (a notice: a few kB, which fit in 64 KiB and so would test nothing).
FULL_BEFORE = {"notice-kept": True}


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("command", ["gantt", "notice-kept", "ics", "phase", "report"])
def test_a_full_disk_is_one_line_and_the_log_survives(tiny_disk, command):
    outputs = tiny_disk / "run"
    if FULL_BEFORE.get(command):
        _fill(tiny_disk)
    result = runbook(*_writers(outputs)[command], env=env_without_store(), timeout=300)
    assert result.returncode != 0, f"{command} fitted on the disk: it tested nothing"
    err = assert_clean_refusal(result)
    assert "space" in err or "full" in err, err
    # Whatever was not written, the log is valid and holds nothing the operator was not told.
    if command == "phase":
        subprocess.run(["mount", "-o", "remount,size=50m", str(tiny_disk)], check=True)
        _verify_ok(outputs)
        assert _events(outputs) == []
        again = runbook(*_writers(outputs)["phase"], env=env_without_store())
        assert again.returncode == 0, again.stderr
        assert [e.event for e in _events(outputs)] == ["go"]


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("command, limit", [
    ("gantt", 100_000),
    # 40 kB: room for the event log (32 kB), not for the executed notebook (47 kB).
    ("phase", 40_000),
    ("report", 200_000), ("ics", 100), ("notice-kept", 100)])
def test_a_file_size_limit_is_one_line_and_the_log_survives(tmp_path, command, limit):
    """RLIMIT_FSIZE in the child: every write past `limit` bytes fails (EFBIG), like a disk
    that fills up half-way through a file."""
    outputs = tmp_path / "run"
    outputs.mkdir()
    result = runbook(*_writers(outputs)[command], env=env_without_store(), timeout=300,
                     preexec_fn=_file_size_limit(limit))
    assert result.returncode != 0, f"{command} fitted in {limit} bytes: it tested nothing"
    err = assert_clean_refusal(result)
    # EFBIG: "File too large"; SQLite reports it as a disk I/O error.
    assert any(word in err.lower() for word in ("too large", "full", "space", "i/o error")), \
        err
    if (outputs / "events.sqlite").exists():
        _verify_ok(outputs)
    if command == "phase":
        told_recorded = "recorded as event" in result.stdout
        assert [e.event for e in _events(outputs)] == (["go"] if told_recorded else [])


# --- the kernel -----------------------------------------------------------------------------

def _kernelspec(folder: Path, argv: list[str]) -> dict[str, str]:
    """An environment whose `python3` kernel is the broken one described by `argv`."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [*argv, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (broken)", "language": "python"}))
    return env_without_store() | {"JUPYTER_PATH": str(folder)}


KERNELS = {
    "deleted-virtualenv": ["/nonexistent/venv/bin/python"],
    "no-ipykernel": [shutil.which("python3") or "/usr/bin/python3", "-I", "-S"],
}


@pytest.mark.parametrize("command", commands(["phase", "report", "rehearse"]))
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_a_broken_kernel_says_how_to_fix_it_in_one_line(tmp_path, kernel, command):
    env = _kernelspec(tmp_path / "jupyter", KERNELS[kernel])
    outputs = tmp_path / "run"
    result = runbook(*_writers(outputs)[command], env=env, timeout=180)
    err = assert_clean_refusal(result)
    assert any(fix in err for fix in FIX_KERNEL), err
    assert _events(outputs) == []


def test_a_missing_runbooks_folder_is_one_line(tmp_path):
    env = env_without_store() | {"RUNBOOK_NOTEBOOKS": str(tmp_path / "nowhere")}
    err = assert_clean_refusal(runbook("phase", EXAMPLE, PHASE, "go", "--operator", "ic",
                                       "--outputs", tmp_path / "run", env=env))
    assert "phase.ipynb" in err
    assert _events(tmp_path / "run") == []


# --- the plan between commands ----------------------------------------------------------------

def _readers(plan: Path, outputs: Path) -> dict[str, list[object]]:
    return {
        "status": ["status", plan, "--outputs", outputs],
        "log": ["log", plan, "--outputs", outputs],
        "verify": ["verify", plan, "--outputs", outputs],
        "gantt": ["gantt", plan, "-o", outputs / "g.html", "--outputs", outputs],
        "notices": ["notices", plan, "completed", "--phase", PHASE, "--outputs", outputs],
        "phase": ["phase", plan, PHASE, "start", "--operator", "ic", "--outputs", outputs],
        "report": ["report", plan, "--outputs", outputs],
    }


@pytest.fixture(scope="module")
def started_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the example plan and a run folder in which its first phase said go."""
    folder = tmp_path_factory.mktemp("between")
    plan = folder / "plan.yaml"
    shutil.copy(EXAMPLE, plan)
    outputs = folder / "run"
    with open_log(load_plan(plan), outputs) as log:
        log.record(PHASE, "go", "ic")
    return plan, outputs


@pytest.mark.parametrize("command", commands(_readers(Path("p"), Path("o"))))
def test_a_plan_deleted_between_commands_is_one_line(tmp_path, started_run, command):
    plan, outputs = started_run
    gone = tmp_path / "plan.yaml"
    shutil.copy(plan, gone)
    gone.unlink()
    err = assert_clean_refusal(runbook(*_readers(gone, outputs)[command],
                                       env=env_without_store()))
    assert err == f"{gone}: no such plan file"
    _verify_ok(outputs, plan)


@pytest.mark.parametrize("command", commands(["status", "verify", "phase"]))
def test_a_plan_broken_between_commands_names_the_problem(tmp_path, started_run, command):
    plan, outputs = started_run
    broken = tmp_path / "plan.yaml"
    broken.write_text(plan.read_text()[:1500])  # saved half-way by an editor
    err = assert_clean_refusal(runbook(*_readers(broken, outputs)[command],
                                       env=env_without_store()), lines=None)
    assert all(line.startswith(f"{broken}") for line in err.splitlines()), err


@pytest.mark.notebook
@pytest.mark.slow
def test_a_plan_deleted_while_a_phase_runs_is_clean_either_way(tmp_path):
    """Deleted once the notebook is reserved: the run records (it had read the plan) or
    refuses in one line; the log stays valid and says which."""
    plan = tmp_path / "plan.yaml"
    shutil.copy(EXAMPLE, plan)
    outputs = tmp_path / "run"
    proc = subprocess.Popen([str(RUNBOOK), "phase",
                             str(plan), PHASE, "go", "--operator", "ic", "--outputs",
                             str(outputs)], env=env_without_store(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if list((outputs / "notebooks").glob("*.ipynb")) if outputs.exists() else []:
            break
        time.sleep(0.01)
    plan.unlink()
    out, err = proc.communicate(timeout=300)
    assert "Traceback" not in err, err
    assert proc.returncode in (0, 1), err
    shutil.copy(EXAMPLE, plan)
    _verify_ok(outputs, plan)
    recorded = [e.event for e in _events(outputs, plan)]
    if proc.returncode == 0:
        assert recorded == ["go"] and "recorded as event #1" in out
    else:
        assert len([line for line in err.splitlines() if line.strip()]) == 1, err
        assert recorded == []


@pytest.mark.parametrize("command", commands(["status", "log", "verify", "gantt", "report"]))
def test_a_phase_renamed_between_commands_does_not_break_reading_the_log(tmp_path,
                                                                          started_run,
                                                                          command):
    plan, outputs = started_run
    renamed = tmp_path / "plan.yaml"
    renamed.write_text(plan.read_text().replace(PHASE, "carriers"))
    run = tmp_path / "run"
    shutil.copytree(outputs, run)
    result = runbook(*_readers(renamed, run)[command], env=env_without_store())
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


# --- an event store that is not one -----------------------------------------------------------

@pytest.mark.parametrize("store", ["directory", "garbage", "empty", "truncated"])
@pytest.mark.parametrize("command", commands(["status", "verify", "phase"]))
def test_an_unusable_event_log_file_is_one_line(tmp_path, started_run, store, command):
    plan, outputs = started_run
    run = tmp_path / "run"
    run.mkdir()
    target = run / "events.sqlite"
    if store == "directory":
        target.mkdir()
    elif store == "garbage":
        target.write_bytes(b"not a database\n" * 100)
    elif store == "empty":
        target.write_bytes(b"")
    else:
        target.write_bytes((outputs / "events.sqlite").read_bytes()[:1024])
    result = runbook(*_readers(plan, run)[command], env=env_without_store())
    if store == "empty":
        # An empty file is an empty SQLite database: a log with no events yet.
        assert result.returncode == 0 or "not approved" in assert_clean_refusal(result)
        return
    err = assert_clean_refusal(result)
    assert "events.sqlite" in err, err


@pytest.mark.parametrize("url", ["postgresql://nobody@127.0.0.1:1/none", "mysql://x/y",
                                 "not a url", "sqlite:////proc/nope/events.sqlite"])
@pytest.mark.parametrize("command", commands(["status", "verify", "phase"]))
def test_an_unreachable_or_unknown_store_url_is_one_line(tmp_path, started_run, url,
                                                         command):
    plan, _ = started_run
    env = env_without_store() | {"RUNBOOK_STORE": url}
    started = time.monotonic()
    result = runbook(*_readers(plan, tmp_path / "run")[command], env=env, timeout=120)
    if url.startswith("sqlite") and command != "phase":
        # Reading creates nothing: a log that is not there yet reads as empty.
        assert result.returncode == 0 and "Traceback" not in result.stderr
    else:
        assert_clean_refusal(result)
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("command", commands(["status", "log", "verify", "phase", "report"]))
def test_a_store_password_never_reaches_the_screen_or_the_outputs(tmp_path, started_run,
                                                                  command):
    plan, _ = started_run
    secret = "s3cret-" + uuid.uuid4().hex[:8]
    url = f"postgresql://runbook:{secret}@127.0.0.1:1/runbook"
    outputs = tmp_path / "run"
    result = runbook(*_readers(plan, outputs)[command], env=env_without_store() | {
        "RUNBOOK_STORE": url}, timeout=120)
    err = assert_clean_refusal(result)
    assert secret not in result.stdout + err
    assert "***" in err or "runbook@" not in err
    for path in outputs.rglob("*") if outputs.exists() else []:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
