"""Pre-flight checks against real local servers and real commands."""

from __future__ import annotations

import socket
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from migration_runbook import checks
from migration_runbook.errors import EventRefused
from migration_runbook.plan import Check, load_plan
from tests.conftest import EXAMPLE

SHORT = timedelta(milliseconds=300)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        status = {"/health": 200, "/created": 201, "/broken": 500, "/missing": 404}.get(
            self.path, 200)
        if self.path == "/slow":
            time.sleep(1.5)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        try:
            self.wfile.write(b"ok")
        except BrokenPipeError:  # the timeout test gave up on us, as it should
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_http_check_passes_on_2xx(http_server):
    for path in ("/health", "/created"):
        result = checks.run_check(Check(name="API health", http=http_server + path))
        assert result.ok, result
        assert result.kind == "http" and result.target == http_server + path
        assert result.detail.startswith("HTTP 20")


def test_http_check_fails_on_500_and_404(http_server):
    broken = checks.run_check(Check(name="API health", http=http_server + "/broken"))
    assert not broken.ok and broken.detail.startswith("HTTP 500")
    missing = checks.run_check(Check(name="API health", http=http_server + "/missing"))
    assert not missing.ok and missing.detail.startswith("HTTP 404")


def test_http_check_fails_on_a_closed_port():
    result = checks.run_check(Check(name="API", http=f"http://127.0.0.1:{_closed_port()}/"))
    assert not result.ok
    assert result.detail == "connection refused"


def test_http_check_times_out(http_server):
    result = checks.run_check(Check(name="slow", http=http_server + "/slow", timeout=SHORT))
    assert not result.ok
    assert "within 0.3s" in result.detail
    assert result.elapsed < 1.4


def test_http_check_ignores_proxy_settings(http_server, monkeypatch):
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert checks.run_check(Check(name="API", http=http_server + "/health")).ok


def test_http_check_refuses_other_schemes(tmp_path):
    result = checks.run_check(Check(name="file", http=f"file://{tmp_path}"))
    assert not result.ok and "not an http(s) URL" in result.detail


def test_tcp_check_connects_to_a_listening_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = checks.run_check(Check(name="db", tcp=f"127.0.0.1:{port}", timeout="2s"))
    assert result.ok and result.kind == "tcp"


def test_tcp_check_fails_on_a_closed_port_and_a_bad_port():
    closed = checks.run_check(Check(name="db", tcp=f"127.0.0.1:{_closed_port()}"))
    assert not closed.ok and closed.detail == "connection refused"
    bad = checks.run_check(Check(name="db", tcp="127.0.0.1:http"))
    assert not bad.ok and "not a number" in bad.detail


def test_command_check_passes_on_exit_0_and_fails_otherwise():
    ok = checks.run_check(Check(name="ready", command=f"{sys.executable} -c 'print(42)'"))
    assert ok.ok and ok.detail == "exit 0: 42"
    failed = checks.run_check(Check(name="ready", command=(
        f"{sys.executable} -c 'import sys; print(\"queue not empty\"); sys.exit(3)'")))
    assert not failed.ok and failed.detail == "exit 3: queue not empty"


def test_command_check_runs_without_a_shell(tmp_path):
    marker = tmp_path / "marker"
    result = checks.run_check(Check(name="echo", command=f"echo hi; touch {marker}"))
    assert result.ok and result.detail == f"exit 0: hi; touch {marker}"
    assert not marker.exists()


def test_command_check_is_killed_on_timeout():
    started = time.monotonic()
    result = checks.run_check(Check(name="hang", command="sleep 30", timeout=SHORT))
    assert not result.ok and result.detail == "no result within 0.3s; killed"
    assert time.monotonic() - started < 5


def test_command_check_reports_a_missing_program_and_bad_quoting():
    missing = checks.run_check(Check(name="x", command="no-such-program-here --flag"))
    assert not missing.ok and missing.detail == "command not found: no-such-program-here"
    quoting = checks.run_check(Check(name="x", command="echo 'unbalanced"))
    assert not quoting.ok and "cannot split" in quoting.detail


def test_checks_run_side_by_side_in_plan_order():
    started = time.monotonic()
    results = checks.run_checks([Check(name=f"c{i}", command="sleep 0.5") for i in range(4)])
    assert [r.name for r in results] == ["c0", "c1", "c2", "c3"]
    assert all(r.ok for r in results)
    assert time.monotonic() - started < 1.8


def _result(name: str, ok: bool, detail: str) -> checks.CheckResult:
    return checks.CheckResult(name, "http", "http://127.0.0.1:1/", ok, detail, 0.01)


def test_a_failing_check_refuses_go_without_a_reason():
    phase = load_plan(EXAMPLE).phases[0]
    with pytest.raises(EventRefused) as refused:
        checks.go_details(phase, [_result("API health", False, "HTTP 500 Internal Server Error"),
                                  _result("DB", True, "HTTP 200")])
    assert str(refused.value) == (
        "phase 'carrier-connections' cannot go: pre-flight check 'API health' failed: "
        "HTTP 500 Internal Server Error; give a reason to override")
    assert refused.value.event == "go"


def test_a_reason_overrides_failing_checks_and_is_recorded_as_such():
    phase = load_plan(EXAMPLE).phases[0]
    results = [_result("API health", False, "HTTP 500"), _result("DB", False, "refused"),
               _result("Queue", True, "HTTP 200")]
    details = checks.go_details(phase, results, reason="carrier confirmed; API known flaky")
    assert details["override"] is True
    assert details["failed_checks"] == ["API health", "DB"]
    assert [c["name"] for c in details["checks"]] == ["API health", "DB", "Queue"]
    assert set(details["checks"][0]) == {"name", "kind", "target", "ok", "detail", "elapsed"}


def test_passing_checks_are_recorded_without_override():
    phase = load_plan(EXAMPLE).phases[0]
    details = checks.go_details(phase, [_result("API health", True, "HTTP 200")])
    assert "override" not in details and details["checks"][0]["ok"] is True


def test_several_failures_are_named_in_one_line():
    text = checks.describe([_result("A", False, "HTTP 500"), _result("B", False, "refused")])
    assert text == "pre-flight checks failed: 'A': HTTP 500; 'B': refused"
    assert "\n" not in text
