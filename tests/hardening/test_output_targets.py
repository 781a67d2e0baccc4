"""What `-o FILE` means for each kind of thing already at FILE, for every command that writes
a path the user named (files.output_target): a link is written through and stays a link, a
device or FIFO is streamed to and never replaced, anything else is refused in one line."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from migration_runbook.errors import OutputError
from migration_runbook.files import install, output_target, write_atomic
from tests.conftest import EXAMPLE
from tests.hardening.conftest import assert_clean_refusal, env_without_store, runbook

# Every command that writes a user-named file, as (arguments before the path, text expected).
WRITERS = {
    "ics": (["ics", EXAMPLE, "-o"], b"BEGIN:VCALENDAR"),
    "gantt": (["gantt", EXAMPLE, "-o"], b"<html"),
    "notices": (["notices", EXAMPLE, "announcement", "-o"], b"Omni"),
}


def _run(writer: str, target: Path | str) -> subprocess.CompletedProcess[str]:
    args, _ = WRITERS[writer]
    return runbook(*args, target, timeout=120)


@pytest.mark.parametrize("writer", WRITERS)
def test_a_symlinked_output_is_written_through_and_stays_a_link(tmp_path, writer):
    real = tmp_path / "elsewhere" / "real.out"
    real.parent.mkdir()
    real.write_text("old")
    os.chmod(real, 0o600)
    link = tmp_path / "link.out"
    link.symlink_to(real)
    result = _run(writer, link)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert WRITERS[writer][1] in real.read_bytes()
    assert stat.S_IMODE(real.stat().st_mode) == 0o600  # the file kept its permissions
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.out"]  # no temp left


@pytest.mark.parametrize("writer", WRITERS)
def test_a_fifo_output_is_streamed_to_and_stays_a_fifo(tmp_path, writer):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = _run(writer, fifo)
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert WRITERS[writer][1] in received[0]


@pytest.mark.parametrize("writer", WRITERS)
def test_a_character_device_is_streamed_to_never_replaced(writer):
    before = os.lstat("/dev/null")
    assert _run(writer, "/dev/null").returncode == 0
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    full = os.lstat("/dev/full")
    err = assert_clean_refusal(_run(writer, "/dev/full"))
    assert err == "/dev/full: cannot write: No space left on device"
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)
    assert os.lstat("/dev/full").st_rdev == full.st_rdev


@pytest.mark.parametrize("writer", WRITERS)
def test_a_socket_a_folder_and_a_link_loop_are_refused_in_one_line(tmp_path, writer):
    sock_path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        err = assert_clean_refusal(_run(writer, sock_path))
        assert "is a socket" in err
        assert stat.S_ISSOCK(os.lstat(sock_path).st_mode)
    assert "is a folder" in assert_clean_refusal(_run(writer, tmp_path))
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert "loop of symbolic links" in assert_clean_refusal(_run(writer, tmp_path / "a"))
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


def test_a_block_device_is_refused(tmp_path):
    block = next((Path("/dev") / name for name in sorted(os.listdir("/dev"))
                  if stat.S_ISBLK(os.lstat(Path("/dev") / name).st_mode)), None)
    if block is None:
        pytest.skip("no block device node in this container's /dev")
    with pytest.raises(OutputError, match="is a block device"):
        output_target(block)


def test_a_dangling_link_creates_the_file_it_names(tmp_path):
    link = tmp_path / "link.ics"
    link.symlink_to("made.ics")
    write_atomic(link, "calendar")
    assert link.is_symlink() and (tmp_path / "made.ics").read_text() == "calendar"


def test_install_puts_a_finished_file_through_a_link_into_another_folder(tmp_path):
    # report.ipynb and report.pdf are written by papermill and Chromium into a temp file first.
    (tmp_path / "run").mkdir()
    (tmp_path / "kept").mkdir()
    (tmp_path / "run" / "report.pdf").symlink_to(tmp_path / "kept" / "report.pdf")
    finished = tmp_path / "run" / ".report.pdf.tmp"
    finished.write_bytes(b"%PDF")
    install(finished, tmp_path / "run" / "report.pdf")
    assert (tmp_path / "run" / "report.pdf").is_symlink()
    assert (tmp_path / "kept" / "report.pdf").read_bytes() == b"%PDF"
    assert not finished.exists()


def test_report_refuses_a_socket_where_its_html_goes_before_running_anything(tmp_path):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "report.html"))
        result = runbook("report", EXAMPLE, "--outputs", tmp_path, timeout=120)
    assert "report.html: is a socket" in assert_clean_refusal(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


@pytest.mark.parametrize("target", ["/dev/null", "fifo", "socket", "folder-loop"])
def test_store_init_never_opens_a_device_or_fifo_as_a_database(tmp_path, target):
    if target == "fifo":
        path = tmp_path / "events.sqlite"
        os.mkfifo(path)
    elif target == "socket":
        path = tmp_path / "events.sqlite"
        holder = socket.socket(socket.AF_UNIX)
        holder.bind(str(path))
    elif target == "folder-loop":
        path = tmp_path / "events.sqlite"
        path.symlink_to(tmp_path / "events.sqlite")
    else:
        path = Path(target)
    before = set(os.listdir(path.parent))
    err = assert_clean_refusal(runbook("store", "init", path, timeout=60))
    assert err.startswith(f"event store '{path}' is ")
    assert set(os.listdir(path.parent)) == before  # no -journal or -wal beside it
    for command in (["store", "info", path], ["status", EXAMPLE, "--store", f"sqlite:///{path}"]):
        assert_clean_refusal(runbook(*command, timeout=60))


def test_report_writes_its_html_and_notebook_through_links(tmp_path):
    run, kept = tmp_path / "run", tmp_path / "kept"
    run.mkdir()
    kept.mkdir()
    for name in ("report.html", "report.ipynb"):
        (kept / name).write_text("old")
        (run / name).symlink_to(kept / name)
    result = runbook("report", EXAMPLE, "--outputs", run, env=env_without_store(), timeout=600)
    assert result.returncode == 0, result.stderr
    for name in ("report.html", "report.ipynb"):
        assert (run / name).is_symlink() and os.readlink(run / name) == str(kept / name)
        assert (kept / name).read_text() != "old"
    assert b"<html" in (kept / "report.html").read_bytes()[:2000].lower()
    assert sorted(p.name for p in kept.iterdir()) == ["report.html", "report.ipynb"]
