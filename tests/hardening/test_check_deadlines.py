"""A check's timeout is a deadline for the whole check, against a real server on 127.0.0.1
that drips its headers and real commands whose children escape their process group; and
what a server or command says reaches the terminal shown, never obeyed."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from migration_runbook import checks
from migration_runbook.plan import Check
from tests.hardening.conftest import (
    assert_clean_refusal,
    dump,
    env_without_store,
    example_data,
    runbook,
)


@contextmanager
def raw_server(respond) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that hands each connection to `respond(conn)`; its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=_answer, args=(respond, conn), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()


def _answer(respond, conn: socket.socket) -> None:
    with conn:
        try:
            conn.recv(4096)
            respond(conn)
        except OSError:
            pass  # the check hung up on us, as it should


def drip(conn: socket.socket) -> None:
    """A status line, then a header byte every 0.2 s for a minute: each read is quick."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(300):
        conn.sendall(b"X")
        time.sleep(0.2)


def escapes(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 500 \x1b[2J\x1b]0;pwned\x07\x9b31m\r\nContent-Length: 0\r\n\r\n")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_an_http_check_against_a_dripping_server_ends_at_its_timeout():
    with raw_server(drip) as port:
        started = time.monotonic()
        result = checks.run_check(Check(name="API", http=f"http://127.0.0.1:{port}/",
                                        timeout=timedelta(seconds=2)))
        took = time.monotonic() - started
    assert not result.ok and result.detail == "no answer within 2s"
    assert took < 3, took


def test_a_command_whose_child_escapes_its_group_does_not_hold_the_check(tmp_path):
    # The command exits at once; the child it started with setsid keeps its output open.
    result = checks.run_check(Check(name="daemon", command="sh -c 'setsid sleep 60 & echo $!'",
                                    timeout=timedelta(seconds=5)))
    pid = int(result.detail.split(":")[1].split(";")[0])
    try:
        assert result.ok, result
        assert result.elapsed < 2, result
        assert "a process it started still holds its output" in result.detail
    finally:
        _kill(pid)


def test_a_command_that_hangs_after_its_child_escapes_is_killed_at_the_deadline(tmp_path):
    pid_file = tmp_path / "pid"
    command = f"sh -c 'setsid sleep 60 & echo $! > {pid_file}; sleep 60'"
    started = time.monotonic()
    result = checks.run_check(Check(name="hang", command=command, timeout=timedelta(seconds=1)))
    took = time.monotonic() - started
    try:
        assert not result.ok and result.detail == "no result within 1s; killed"
        assert took < 2, took
    finally:
        _kill(int(pid_file.read_text()))


def test_a_command_that_closes_its_output_and_runs_on_is_killed_at_the_deadline():
    started = time.monotonic()
    result = checks.run_check(Check(name="quiet", command="sh -c 'exec >/dev/null; sleep 60'",
                                    timeout=timedelta(seconds=1)))
    assert not result.ok and result.detail == "no result within 1s; killed"
    assert time.monotonic() - started < 2


def test_a_command_with_a_lot_of_output_keeps_its_last_line():
    result = checks.run_check(Check(name="loud", command="sh -c 'seq 1 200000'",
                                    timeout=timedelta(seconds=10)))
    assert result.ok and result.detail == "exit 0: 200000"


def test_escape_sequences_from_a_server_or_a_command_are_shown_not_sent():
    with raw_server(escapes) as port:
        result = checks.run_check(Check(name="API", http=f"http://127.0.0.1:{port}/",
                                        timeout=timedelta(seconds=5)))
    assert not result.ok
    assert "\x1b" not in result.detail and "\x9b" not in result.detail
    assert "\\x1b[2J" in result.detail and "\\x07" in result.detail
    result = checks.run_check(Check(name="cmd", command="printf 'ok\\033[2J\\033]0;t\\007'",
                                    timeout=timedelta(seconds=5)))
    assert result.detail == "exit 0: ok\\x1b[2J\\x1b]0;t\\x07"


def test_go_refused_by_a_check_prints_its_answer_without_escapes(tmp_path: Path):
    with raw_server(escapes) as port:
        data = example_data()
        data["phases"][0]["checks"] = [{"name": "API health", "timeout": "5s",
                                        "http": f"http://127.0.0.1:{port}/health"}]
        plan = tmp_path / "plan.yaml"
        plan.write_text(dump(data))
        result = runbook("phase", plan, data["phases"][0]["id"], "go", "--operator", "alice",
                         "--outputs", tmp_path / "run", env=env_without_store())
    err = assert_clean_refusal(result, lines=None)
    assert "cannot go: pre-flight check 'API health' failed: HTTP 500 \\x1b[2J" in err
    assert not any(ch in result.stderr + result.stdout for ch in "\x1b\x07\x9b")


def test_error_lines_show_control_characters_typed_on_the_command_line(tmp_path):
    result = runbook("validate", tmp_path / "no\x1b[2Jsuch\u202eplan.yaml")
    err = assert_clean_refusal(result)
    assert "\x1b" not in err and "\u202e" not in err
    assert err.endswith("no\\x1b[2Jsuch\\u202eplan.yaml: no such plan file")
    usage = runbook("notices", tmp_path / "x.yaml", "\x1b]0;title\x07")
    assert usage.returncode == 2 and "\x1b" not in usage.stderr and "\\x1b]0;" in usage.stderr
