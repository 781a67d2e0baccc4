"""Pre-flight checks: is the platform ready for this phase to go?

A plan's phase lists checks of three kinds (`plan.Check`): `http` (answers 2xx within the
timeout; no proxies, so a check of 127.0.0.1 really asks 127.0.0.1), `tcp` (a connection is
accepted within the timeout) and `command` (exits 0 within the timeout; split with `shlex`,
run without a shell, killed on timeout). A failing check refuses `go` unless the operator gives
a reason, which is then recorded as an override.
"""

from __future__ import annotations

import http.client
import os
import selectors
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import EventRefused
from .plan import Check, Phase
from .terminal import visible

MAX_DETAIL = 200


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check; `detail` is one line for people, `elapsed` in seconds."""

    name: str
    kind: str
    target: str
    ok: bool
    detail: str
    elapsed: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, for the event's `details`."""
        return {**asdict(self), "elapsed": round(self.elapsed, 3)}


def run_check(check: Check) -> CheckResult:
    """Run one check; never raises for a failure of the thing checked (that is a result)."""
    timeout = max(check.timeout.total_seconds(), 0.001)
    started = time.monotonic()
    runner = {"http": _http, "tcp": _tcp, "command": _command}[check.kind]
    ok, detail = runner(check.target, timeout)
    elapsed = time.monotonic() - started
    if ok and elapsed > timeout:
        ok, detail = False, f"answered after {elapsed:.1f}s, beyond the {_secs(timeout)} timeout"
    return CheckResult(check.name, check.kind, check.target, ok, _one_line(detail), elapsed)


def run_checks(checks: Iterable[Check]) -> list[CheckResult]:
    """Run checks side by side (a slow one does not delay the others); results in plan order."""
    checks = list(checks)
    if not checks:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(checks))) as pool:
        return list(pool.map(run_check, checks))


def failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [r for r in results if not r.ok]


def go_details(phase: Phase, results: list[CheckResult], reason: str = "") -> dict[str, Any]:
    """The `details` to record with `go`; refuses it when a check failed and no reason is given.

    The refusal reads "phase 'x' cannot go: pre-flight check 'API health' failed: HTTP 500;
    give a reason to override". With a reason, the go is recorded as an override listing the
    failed checks.
    """
    details: dict[str, Any] = {"checks": [r.as_dict() for r in results]}
    failed = failures(results)
    if not failed:
        return details
    if not reason.strip():
        raise EventRefused(phase.id, "go", f"phase '{phase.id}' cannot go: {describe(failed)}; "
                                           "give a reason to override")
    details["override"] = True
    details["failed_checks"] = [r.name for r in failed]
    return details


def describe(failed: list[CheckResult]) -> str:
    """"pre-flight check 'A' failed: detail" (or every failed check, for several)."""
    if len(failed) == 1:
        return f"pre-flight check '{failed[0].name}' failed: {failed[0].detail}"
    return "pre-flight checks failed: " + "; ".join(f"'{r.name}': {r.detail}" for r in failed)


# --- the three kinds ------------------------------------------------------------------------

def _http(url: str, timeout: float) -> tuple[bool, str]:
    """GET `url` within `timeout` for the whole exchange, not for each read: a server that
    drips its status line and headers a byte at a time is cut off at the deadline."""
    if urlsplit(url).scheme not in ("http", "https"):
        return False, f"not an http(s) URL: {url}"
    sockets: list[socket.socket] = []
    outcome: list[tuple[bool, str]] = []
    worker = threading.Thread(target=lambda: outcome.append(_http_exchange(url, timeout,
                                                                          sockets)),
                              name="runbook-http-check", daemon=True)
    worker.start()
    worker.join(timeout)
    if outcome:
        return outcome[0]
    for sock in list(sockets):  # unblock the worker's read; it ends on its own
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    return False, f"no answer within {_secs(timeout)}"


def _http_exchange(url: str, timeout: float, sockets: list[socket.socket]) -> tuple[bool, str]:
    # An empty ProxyHandler: $http_proxy must not send a check of 127.0.0.1 elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         _TrackedHTTP(sockets), _TrackedHTTPS(sockets))
    request = urllib.request.Request(url, headers={"User-Agent": "migration-runbook check"})
    try:
        with opener.open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code} {exc.reason}".strip()
    except urllib.error.URLError as exc:
        return False, _network_reason(exc.reason, timeout)
    except (TimeoutError, OSError, ValueError, http.client.HTTPException) as exc:
        return False, _network_reason(exc, timeout)
    if 200 <= status < 300:
        return True, f"HTTP {status}"
    return False, f"HTTP {status}"


def _tracking(base: type[http.client.HTTPConnection], sockets: list[socket.socket]) -> Any:
    """`base` that lists each socket it connects, so the deadline can shut it down."""

    class Tracked(base):  # type: ignore[valid-type, misc]
        def connect(self) -> None:
            super().connect()
            sockets.append(self.sock)

    return Tracked


class _TrackedHTTP(urllib.request.HTTPHandler):
    def __init__(self, sockets: list[socket.socket]):
        super().__init__()
        self._connection = _tracking(http.client.HTTPConnection, sockets)

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._connection, req)


class _TrackedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, sockets: list[socket.socket]):
        super().__init__()
        self._connection = _tracking(http.client.HTTPSConnection, sockets)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._connection, req, context=self._context)


def _tcp(target: str, timeout: float) -> tuple[bool, str]:
    """Connect within `timeout`, name lookup included (the socket's own timeout does not
    cover a resolver that hangs)."""
    outcome: list[tuple[bool, str]] = []
    worker = threading.Thread(target=lambda: outcome.append(_tcp_connect(target, timeout)),
                              name="runbook-tcp-check", daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else (False, f"no answer within {_secs(timeout)}")


def _tcp_connect(target: str, timeout: float) -> tuple[bool, str]:
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    try:
        number = int(port)
    except ValueError:
        return False, f"port '{port}' is not a number"
    try:
        with socket.create_connection((host, number), timeout=timeout):
            return True, f"connected to {host}:{number}"
    except OSError as exc:
        return False, _network_reason(exc, timeout)


def _command(command: str, timeout: float) -> tuple[bool, str]:
    """Run `command` with `timeout` as the deadline for the whole check: the command killed
    (with its process group) if it has not exited by then, and its output read only until
    then, even when a process it started outside its group (`setsid ... &`) keeps the output
    open; the check never waits for such a process."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return False, f"cannot split the command: {exc}"
    if not argv:
        return False, "empty command"
    deadline = time.monotonic() + timeout
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except FileNotFoundError:
        return False, f"command not found: {argv[0]}"
    except PermissionError:
        return False, f"cannot run {argv[0]}: permission denied"
    except OSError as exc:
        return False, f"cannot run {argv[0]}: {exc.strerror or exc}"
    assert proc.stdout is not None
    output, held = _read_until(proc, deadline)
    try:
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait()
            return False, f"no result within {_secs(timeout)}; killed"
        _kill_group(proc)  # what it left running in its group goes with it
    finally:
        proc.stdout.close()
    last = _last_line(output)
    note = "; a process it started still holds its output" if held else ""
    if proc.returncode == 0:
        return True, "exit 0" + (f": {last}" if last else "") + note
    if proc.returncode < 0:
        return False, f"killed by signal {-proc.returncode}" + (f": {last}" if last else "")
    return False, f"exit {proc.returncode}" + (f": {last}" if last else "")


OUTPUT_GRACE = 0.5
"""Seconds to wait for the end of a command's output once the command itself has exited."""
MAX_OUTPUT = 64 * 1024
"""The tail of a command's output that is kept (only its last line is reported)."""


def _read_until(proc: subprocess.Popen, deadline: float) -> tuple[bytes, bool]:
    """Read `proc`'s output until it ends, or the deadline, or OUTPUT_GRACE after `proc`
    exited; the output's tail, and whether something still held the output open."""
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    kept = bytearray()
    exited_at = None
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            end = deadline if exited_at is None else min(deadline, exited_at + OUTPUT_GRACE)
            if now >= end:
                return bytes(kept), True
            if not selector.select(min(end - now, 0.05)):
                continue
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                if exited_at is None:  # output closed; the command may still be running
                    try:
                        proc.wait(max(deadline - time.monotonic(), 0))
                    except subprocess.TimeoutExpired:
                        pass
                return bytes(kept), False
            kept += chunk
            del kept[:-MAX_OUTPUT]


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the command and anything it started (it runs in its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _network_reason(reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError | socket.timeout) or "timed out" in str(reason):
        return f"no answer within {_secs(timeout)}"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"unknown host ({reason.strerror or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _last_line(output: bytes | None) -> str:
    lines = [line.strip() for line in (output or b"").decode("utf-8", "replace").splitlines()]
    return next((line for line in reversed(lines) if line), "")


def _one_line(text: str) -> str:
    """What a server or command said, as one line that shows escape sequences instead of
    sending them on: it is recorded, printed in the refusal and shown in the report."""
    text = visible(" ".join(text.split()), one_line=True)
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL - 1] + "…"


def _secs(seconds: float) -> str:
    return f"{seconds:g}s"
