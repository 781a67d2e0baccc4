"""runbooks/phase.ipynb executed for real with papermill, and `runbook phase` around it."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import papermill
import pytest
from papermill.exceptions import PapermillExecutionError

from migration_runbook import execute, phase
from migration_runbook.errors import EventRefused
from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE, ROOT, UNTICKED, run_cli

NOTEBOOK = ROOT / "runbooks" / "phase.ipynb"
DOCS = ROOT / "docs" / "phase-notebook.md"
PARAMETERS = ["plan", "phase", "event", "operator", "reason", "outputs", "at", "source",
              "notebook_path", "store", "sign"]

pytestmark = pytest.mark.notebook


# --- helpers ----------------------------------------------------------------------------------

class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(500 if self.path.startswith("/broken") else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def kernel():
    """One kernel for the module's notebook runs (the rehearsal's way; each run is still a
    full papermill execution)."""
    with execute.Kernel() as running:
        yield running


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CHECKED_PLAN = """\
id: checked
title: Checked <b>migration</b>
timezone: Pacific/Auckland
services:
  - {{id: api, name: "REST <script>alert(1)</script> API"}}
phases:
  - id: prepare
    name: Prepare <i>things</i>
    start: 2020-09-07 21:00
    end: 2020-09-08 01:00
    impacts:
      - {{service: api, level: degraded, detail: "Slow <img src=x onerror=alert(2)>"}}
    rollback: {{duration: 30m, plan: "Undo it & <b>pray</b>"}}
    steps:
      - {{name: "Step <u>one</u>", owner: "ops & co", duration: 1h}}
    checks:
{checks}
  - id: cutover
    name: Cutover
    start: 2020-09-08 21:00
    end: 2020-09-09 01:00
    depends_on: [prepare]
    rollback: {{duration: 30m, plan: Switch back.}}
"""


def _checked_plan(write_plan, *checks: str) -> Path:
    lines = "\n".join(f"      - {c}" for c in checks) or "      []"
    if not checks:
        return write_plan(CHECKED_PLAN.format(checks="").replace("    checks:\n", ""))
    return write_plan(CHECKED_PLAN.format(checks=lines))


def _run(out: Path, kernel=None, **parameters) -> Path:
    """papermill.execute_notebook on runbooks/phase.ipynb; `kernel` reuses a running one."""
    extra = {"km": kernel.manager} if kernel is not None else {}
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters=parameters,
                               kernel_name="python3", progress_bar=False, **extra)
    return out


def _outputs_text(path: Path, mime: str = "text/plain") -> str:
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if mime in output.get("data", {}):
                parts.append(str(output["data"][mime]))
            elif output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
    return "\n".join(parts)


def _error_outputs(path: Path) -> list[dict]:
    nb = nbformat.read(path, as_version=4)
    return [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


# --- the notebook as committed -----------------------------------------------------------------

def test_notebook_is_committed_without_outputs_on_the_python3_kernel():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    # short cells; the parameters cell holds one parameter a line, however many there are
    assert all(len(c.source.splitlines()) <= 10 for c in code
               if "parameters" not in c.metadata.get("tags", []))
    headings = [line for c in nb.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("## ")]
    assert headings == ["## The phase at a glance", "## The gate", "## Pre-flight checks",
                        "## The event", "## Steps on the clock", "## Progress so far"]


def test_inspect_notebook_agrees_with_the_documented_parameters():
    found = papermill.inspect_notebook(str(NOTEBOOK))
    assert list(found) == PARAMETERS
    documented = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", DOCS.read_text(), re.MULTILINE)
    assert [name for name, _ in documented] == PARAMETERS
    for name, default in documented:
        shown = found[name]["default"].strip('"')
        assert (default.strip().strip("`") or "") == shown or \
            (default.strip() == "empty" and shown == ""), name
    assert found["event"]["default"] == '"review"'


# --- every event ------------------------------------------------------------------------------

def test_every_event_runs_through_the_notebook(tmp_path, kernel):
    outputs = tmp_path / "run"
    common = {"plan": str(EXAMPLE), "phase": "carrier-connections", "operator": "alice",
              "outputs": str(outputs)}
    sequence = [("review", "2020-09-07T08:40:00Z", ""), ("go", "2020-09-07T08:50:00Z", ""),
                ("start", "2020-09-07T09:00:00Z", ""),
                ("note", "2020-09-07T09:30:00Z", "carrier B slow to re-bind"),
                ("rollback", "2020-09-07T12:15:00Z", "binds failing"),
                ("rolled-back", "2020-09-07T13:00:00Z", ""),
                ("go", "2020-09-08T08:00:00Z", "second attempt"),
                ("no-go", "2020-09-08T08:30:00Z", "wait for the carrier"),
                ("go", "2020-09-08T08:50:00Z", "carrier fixed"),
                # The next night is more than 12 hours after the window: a reason is needed.
                ("start", "2020-09-08T09:00:00Z", "second attempt, next night"),
                ("complete", "2020-09-08T11:55:00Z", "second attempt, next night; " + UNTICKED)]
    for n, (event, at, reason) in enumerate(sequence, start=1):
        out = _run(tmp_path / f"{n:02d}-{event}.ipynb", kernel, event=event, at=at,
                   reason=reason, notebook_path=f"nb/{n:02d}.ipynb", **common)
        text = _outputs_text(out)
        assert "Carrier Connection Migrations" in text
        if event == "review":
            assert "Review only: nothing recorded." in text
        else:
            assert f"Recorded: {event} of 'carrier-connections'" in text
    with open_log(load_plan(EXAMPLE), outputs) as log:
        events = log.events()
        assert log.verify().ok
        states = log.states()
    assert [e.event for e in events] == [e for e, _, _ in sequence[1:]]
    assert {e.source for e in events} == {"notebook"}
    assert {e.operator for e in events} == {"alice"}
    assert events[0].notebook == "nb/02.ipynb"
    assert events[2].reason == "carrier B slow to re-bind"
    assert events[3].at.isoformat() == "2020-09-07T12:15:00+00:00"
    assert states["carrier-connections"] == "completed"
    assert states["messaging-core"] == "planned"


def test_review_shows_the_window_in_local_time_and_utc_and_records_nothing(tmp_path, kernel):
    outputs = tmp_path / "run"
    out = _run(tmp_path / "review.ipynb", kernel, plan=str(EXAMPLE), phase="messaging-core",
               event="review", outputs=str(outputs))
    text = _outputs_text(out)
    assert "Tue 8 Sep 21:00 NZST (09:00 UTC) to Wed 9 Sep 01:00 NZST (Tue 8 Sep 13:00 UTC)" \
        in text
    assert "start it by Wed 9 Sep 00:00 NZST (Tue 8 Sep 12:00 UTC)" in text
    assert "Restore the snapshot on the new core and check row counts" in text
    assert "'messaging-core' is planned; gate: blocked by 'carrier-connections' (planned)" in text
    assert not (outputs / "events.sqlite").exists()


def test_a_window_across_a_dst_change_shows_both_abbreviations(write_plan, tmp_path, kernel):
    plan = write_plan("""
        id: dst
        title: DST night
        timezone: Pacific/Auckland
        services: [{id: api, name: API}]
        phases:
          - id: overnight
            name: Overnight
            start: 2020-09-27 00:30
            end: 2020-09-27 05:00
            rollback: {duration: 30m, plan: Back.}
    """)
    text = _outputs_text(_run(tmp_path / "dst.ipynb", kernel, plan=str(plan), phase="overnight",
                              outputs=str(tmp_path / "run")))
    assert "Sun 27 Sep 00:30 NZST (Sat 26 Sep 12:30 UTC) to Sun 27 Sep 05:00 NZDT " \
           "(Sat 26 Sep 16:00 UTC)" in text
    assert "length | 3h 30m" in text


def test_plan_text_is_escaped_in_html_tables(write_plan, tmp_path, kernel):
    plan = _checked_plan(write_plan, '{name: "<b>ok</b>", command: "true"}')
    out = _run(tmp_path / "html.ipynb", kernel, plan=str(plan), phase="prepare",
               outputs=str(tmp_path / "run"))
    html = _outputs_text(out, "text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "Undo it &amp; &lt;b&gt;pray&lt;/b&gt;" in html
    assert "&lt;b&gt;ok&lt;/b&gt;" in html
    for live in ("<script", "<img", "<b>pray", "<u>one", "<i>things", "<b>ok"):
        assert live not in html


def test_executed_notebook_stays_light(tmp_path, kernel):
    out = _run(tmp_path / "light.ipynb", kernel, plan=str(EXAMPLE), phase="carrier-connections",
               outputs=str(tmp_path / "run"))
    assert out.stat().st_size < 300_000
    nb = nbformat.read(out, as_version=4)
    figures = [o for c in nb.cells for o in c.get("outputs", [])
               if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 2        # the step timeline and the windows
    for figure in figures:
        assert "text/html" not in figure["data"]
        assert figure["data"]["application/vnd.plotly.v1+json"]["data"]
    assert "plotly.js" not in out.read_text() and "Plotly.newPlot" not in out.read_text()


# --- refusals ----------------------------------------------------------------------------------

def test_go_is_refused_until_dependencies_complete(tmp_path, kernel):
    outputs = tmp_path / "run"
    common = {"plan": str(EXAMPLE), "operator": "alice", "outputs": str(outputs)}
    _run(tmp_path / "1.ipynb", kernel, phase="carrier-connections", event="go", **common)
    _run(tmp_path / "2.ipynb", kernel, phase="carrier-connections", event="start", **common)
    before = _digest(outputs / "events.sqlite")
    refused = tmp_path / "3.ipynb"
    with pytest.raises(PapermillExecutionError) as raised:
        _run(refused, kernel, phase="messaging-core", event="go", **common)
    line = "phase 'messaging-core' cannot go: 'carrier-connections' is in-progress, not completed"
    assert raised.value.ename == "EventRefused"
    assert raised.value.evalue == line
    errors = _error_outputs(refused)
    assert len(errors) == 1 and errors[0]["evalue"] == line
    shown = "".join(errors[0]["traceback"])
    assert line in shown and "Traceback" not in shown and "File " not in shown
    assert "will be refused: " + line in _outputs_text(refused)
    assert _digest(outputs / "events.sqlite") == before
    with open_log(load_plan(EXAMPLE), outputs) as log:
        assert [e.event for e in log.events()] == ["go", "start"]


def test_execute_turns_a_refusal_in_the_notebook_into_event_refused(tmp_path, kernel):
    parameters = {"plan": str(EXAMPLE), "phase": "carrier-connections", "event": "complete",
                  "operator": "alice", "outputs": str(tmp_path / "run")}
    with pytest.raises(EventRefused) as raised:
        execute.run("phase", tmp_path / "out.ipynb", parameters, kernel=kernel)
    assert str(raised.value) == ("phase 'carrier-connections' cannot complete: it is planned, "
                                 "not in-progress (allowed: go, no-go, note)")
    assert raised.value.phase == "carrier-connections" and raised.value.event == "complete"
    assert (tmp_path / "out.ipynb").exists()


def test_an_event_needs_an_operator(tmp_path, kernel):
    with pytest.raises(EventRefused, match="no operator given"):
        execute.run("phase", tmp_path / "out.ipynb",
                    {"plan": str(EXAMPLE), "phase": "carrier-connections", "event": "go",
                     "outputs": str(tmp_path / "run")}, kernel=kernel)


# --- pre-flight checks ---------------------------------------------------------------------

def _go(plan: Path, tmp_path: Path, kernel, reason: str = "") -> tuple[Path, list]:
    outputs = tmp_path / "run"
    out = tmp_path / f"go-{len(list(tmp_path.glob('go-*')))}.ipynb"
    try:
        _run(out, kernel, plan=str(plan), phase="prepare", event="go", operator="bob",
             reason=reason, outputs=str(outputs))
    finally:
        with open_log(load_plan(plan), outputs) as log:
            events = log.events()
    return out, events


def test_go_records_passing_http_tcp_and_command_checks(write_plan, tmp_path, kernel,
                                                        http_server):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        plan = _checked_plan(write_plan, f'{{name: API health, http: "{http_server}/health"}}',
                             f'{{name: Database, tcp: "127.0.0.1:{port}", timeout: 5s}}',
                             f'{{name: Queue empty, command: "{sys.executable} -c pass"}}')
        out, events = _go(plan, tmp_path, kernel)
    assert [e.event for e in events] == ["go"]
    checks = events[0].details["checks"]
    assert [(c["name"], c["kind"], c["ok"]) for c in checks] == [
        ("API health", "http", True), ("Database", "tcp", True), ("Queue empty", "command", True)]
    assert "override" not in events[0].details
    assert "All 3 checks passed." in _outputs_text(out)


@pytest.mark.parametrize("check, detail", [
    ("{{name: API health, http: \"{server}/broken\"}}", "HTTP 500 Internal Server Error"),
    ("{{name: API health, http: \"http://127.0.0.1:{closed}/\"}}", "connection refused"),
    ("{{name: API health, tcp: \"127.0.0.1:{closed}\"}}", "connection refused"),
    ("{{name: API health, command: \"false\"}}", "exit 1"),
])
def test_a_failing_check_refuses_go_and_records_nothing(write_plan, tmp_path, kernel,
                                                        http_server, check, detail):
    plan = _checked_plan(write_plan, check.format(server=http_server, closed=_closed_port()))
    with pytest.raises(PapermillExecutionError) as raised:
        _go(plan, tmp_path, kernel)
    assert raised.value.ename == "EventRefused"
    assert raised.value.evalue == (f"phase 'prepare' cannot go: pre-flight check 'API health' "
                                   f"failed: {detail}; give a reason to override")
    assert not (tmp_path / "run" / "events.sqlite").exists()


def test_a_reason_overrides_a_failing_check_and_says_so(write_plan, tmp_path, kernel,
                                                        http_server):
    plan = _checked_plan(write_plan, f'{{name: API health, http: "{http_server}/broken"}}',
                         f'{{name: Web, http: "{http_server}/health"}}')
    out, events = _go(plan, tmp_path, kernel, reason="API check is known to be flaky")
    assert [e.event for e in events] == ["go"]
    details = events[0].details
    assert details["override"] is True
    assert details["failed_checks"] == ["API health"]
    assert [c["ok"] for c in details["checks"]] == [False, True]
    assert events[0].reason == "API check is known to be flaky"
    assert "override" in _outputs_text(out)


def test_review_runs_the_checks_and_records_nothing(write_plan, tmp_path, kernel, http_server):
    plan = _checked_plan(write_plan, f'{{name: API health, http: "{http_server}/broken"}}')
    out = _run(tmp_path / "r.ipynb", kernel, plan=str(plan), phase="prepare",
               outputs=str(tmp_path / "run"))
    text = _outputs_text(out)
    assert "API health | http" in text and "FAILED | HTTP 500" in text
    assert "go would be refused unless a reason to override is given" in text
    assert not (tmp_path / "run" / "events.sqlite").exists()


def test_the_gate_is_judged_before_the_checks(write_plan, tmp_path, kernel):
    plan = write_plan("""
        id: gated
        title: Gated
        timezone: Pacific/Auckland
        services: [{id: api, name: API}]
        phases:
          - id: prepare
            name: Prepare
            start: 2020-09-07 21:00
            end: 2020-09-08 01:00
            rollback: {duration: 30m, plan: Back.}
          - id: cutover
            name: Cutover
            start: 2020-09-08 21:00
            end: 2020-09-09 01:00
            depends_on: [prepare]
            rollback: {duration: 30m, plan: Back.}
            checks:
              - {name: Slow, command: "sleep 30", timeout: 20s}
    """)
    with pytest.raises(PapermillExecutionError) as raised:
        _run(tmp_path / "g.ipynb", kernel, plan=str(plan), phase="cutover", event="go",
             operator="bob", outputs=str(tmp_path / "run"))
    assert raised.value.evalue == ("phase 'cutover' cannot go: 'prepare' is planned, "
                                   "not completed")
    assert "Not run: go is refused" in _outputs_text(tmp_path / "g.ipynb")


# --- without the CLI, and from JupyterLab ----------------------------------------------------

def _papermill_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    papermill_bin = Path(sys.executable).with_name("papermill")
    return subprocess.run([str(papermill_bin), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_plain_papermill_records_an_event(tmp_path):
    out = tmp_path / "phase-1-go.ipynb"
    result = _papermill_cli(str(NOTEBOOK), str(out), "-p", "plan", "data/omni-hosting-2020.yaml",
                            "-p", "phase", "carrier-connections", "-p", "event", "go",
                            "-p", "operator", "alice", "-p", "outputs", str(tmp_path / "run"),
                            "-p", "notebook_path", str(out), cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    with open_log(load_plan(EXAMPLE), tmp_path / "run") as log:
        [event] = log.events()
    assert (event.event, event.operator, event.source) == ("go", "alice", "notebook")
    assert event.notebook == str(out)


def test_plain_papermill_fails_on_a_refusal(tmp_path):
    result = _papermill_cli(str(NOTEBOOK), str(tmp_path / "x.ipynb"), "-p", "plan",
                            str(EXAMPLE), "-p", "phase", "api-endpoints", "-p", "event", "go",
                            "-p", "operator", "alice", "-p", "outputs", str(tmp_path / "run"),
                            cwd=tmp_path)
    assert result.returncode != 0
    assert "phase 'api-endpoints' cannot go: 'web-interface' is planned, not completed" \
        in result.stderr
    assert not (tmp_path / "run" / "events.sqlite").exists()


def test_defaults_review_the_first_phase_from_jupyterlab_and_from_the_project(tmp_path):
    """No parameters at all: JupyterLab's "Run all" (kernel in runbooks/) and papermill in the
    project folder both review the example's first phase; a review creates no log."""
    log = ROOT / "outputs" / "omni-hosting-2020" / "events.sqlite"
    existed = log.exists()
    for n, cwd in enumerate((ROOT / "runbooks", ROOT)):
        out = tmp_path / f"default-{n}.ipynb"
        result = _papermill_cli(str(NOTEBOOK), str(out), cwd=cwd)
        assert result.returncode == 0, result.stderr[-2000:]
        text = _outputs_text(out)
        assert "Phase 1 of 4: Carrier Connection Migrations (carrier-connections)" in text
        assert "Review only: nothing recorded." in text
    assert log.exists() == existed
    assert not (ROOT / "runbooks" / "outputs").exists()


def test_relative_plan_paths_are_found_from_runbooks_and_the_project(monkeypatch):
    monkeypatch.chdir(ROOT / "runbooks")
    assert phase.locate_plan("../data/omni-hosting-2020.yaml").resolve() == EXAMPLE
    assert phase.locate_plan("data/omni-hosting-2020.yaml").resolve() == EXAMPLE
    assert phase.base_dir() == ROOT
    monkeypatch.chdir(ROOT)
    assert phase.locate_plan("../data/omni-hosting-2020.yaml").resolve() == EXAMPLE
    assert phase.base_dir() == ROOT
    assert phase.locate_plan("nowhere.yaml") == Path("nowhere.yaml")


# --- runbook phase ----------------------------------------------------------------------------

def test_runbook_phase_records_the_event_and_keeps_the_notebook(tmp_path):
    outputs = tmp_path / "run"
    first = run_cli("phase", EXAMPLE, "carrier-connections", "go", "--operator", "alice",
                    "--at", "2020-09-07T08:50:00Z", "--outputs", outputs)
    assert first.returncode == 0, first.stderr
    assert "go recorded as event #1 by alice at Mon 7 Sep 20:50 NZST (08:50 UTC)" in first.stdout
    assert first.stderr == ""
    second = run_cli("phase", EXAMPLE, "carrier-connections", "start", "--operator", "bob",
                     "--outputs", outputs, "--reason", "on time")
    assert second.returncode == 0, second.stderr
    review = run_cli("phase", EXAMPLE, "carrier-connections", "review", "--operator", "carol",
                     "--outputs", outputs)
    assert review.returncode == 0 and "nothing recorded" in review.stdout
    kept = sorted(p.name for p in (outputs / "notebooks").iterdir())
    assert kept == ["01-carrier-connections-go.ipynb", "02-carrier-connections-start.ipynb",
                    "03-carrier-connections-review.ipynb"]
    with open_log(load_plan(EXAMPLE), outputs) as log:
        events = log.events()
    assert [(e.event, e.operator, e.source) for e in events] == [
        ("go", "alice", "cli"), ("start", "bob", "cli")]
    assert [e.notebook for e in events] == ["notebooks/01-carrier-connections-go.ipynb",
                                            "notebooks/02-carrier-connections-start.ipynb"]
    assert all((outputs / e.notebook).is_file() for e in events)
    assert events[1].reason == "on time"
    assert "Recorded: start of 'carrier-connections'" in _outputs_text(
        outputs / events[1].notebook)


def test_runbook_phase_refuses_in_one_line_before_running_anything(tmp_path):
    outputs = tmp_path / "run"
    result = run_cli("phase", EXAMPLE, "messaging-core", "go", "--operator", "alice",
                     "--outputs", outputs)
    assert result.returncode == 1
    assert result.stderr.startswith("phase 'messaging-core' cannot go: 'carrier-connections' "
                                    "is planned, not completed; the event log ")
    assert result.stderr.endswith(" holds no events yet (is --outputs the run's?)\n")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert not (outputs / "notebooks").exists()
    assert not (outputs / "events.sqlite").exists()


def test_runbook_phase_keeps_the_notebook_of_a_refusal_and_records_nothing(
        write_plan, tmp_path, http_server):
    plan = _checked_plan(write_plan, f'{{name: API health, http: "{http_server}/broken"}}')
    outputs = tmp_path / "run"
    result = run_cli("phase", plan, "prepare", "go", "--operator", "alice", "--outputs", outputs)
    assert result.returncode == 1
    assert result.stderr == ("phase 'prepare' cannot go: pre-flight check 'API health' failed: "
                             "HTTP 500 Internal Server Error; give a reason to override\n")
    assert "Traceback" not in result.stdout + result.stderr
    kept = outputs / "notebooks" / "01-prepare-go.ipynb"
    assert f"notebook (nothing recorded): {kept}" in result.stdout
    assert _error_outputs(kept)[0]["ename"] == "EventRefused"
    assert not (outputs / "events.sqlite").exists()
    override = run_cli("phase", plan, "prepare", "go", "--operator", "alice", "--outputs",
                       outputs, "--reason", "health endpoint is being replaced")
    assert override.returncode == 0, override.stderr
    assert "(override of failed checks)" in override.stdout
    with open_log(load_plan(plan), outputs) as log:
        [event] = log.events()
    assert event.details["override"] is True
    assert event.notebook == "notebooks/02-prepare-go.ipynb"


@pytest.mark.parametrize("args, message", [
    (["carrier-connections", "go", "--at", "yesterday"], "--at: invalid time 'yesterday'"),
    (["no-such-phase", "go"], "no phase 'no-such-phase'"),
])
def test_runbook_phase_rejects_bad_input_in_one_line(tmp_path, args, message):
    result = run_cli("phase", EXAMPLE, *args, "--operator", "alice", "--outputs", tmp_path)
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_runbook_phase_names_the_failing_cell_of_a_broken_notebook(tmp_path):
    broken = tmp_path / "runbooks"
    broken.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("{}['missing']"))
    nbformat.write(nb, broken / "phase.ipynb")
    result = run_cli("phase", EXAMPLE, "carrier-connections", "review", "--operator", "a",
                     "--outputs", tmp_path / "run",
                     env={**_environ(), "RUNBOOK_NOTEBOOKS": str(broken)})
    assert result.returncode == 1
    assert re.search(r"^phase\.ipynb failed in cell \d+: KeyError: 'missing' \(see .*"
                     r"01-carrier-connections-review\.ipynb\)$", result.stderr.strip())
    assert len(result.stderr.splitlines()) == 1


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_failure_mapping_keeps_runbook_errors_as_one_line():
    refused = execute.failure("EventRefused", "phase 'a' cannot go: no", "phase", "o.ipynb",
                              {"phase": "a", "event": "go"})
    assert isinstance(refused, EventRefused) and str(refused) == "phase 'a' cannot go: no"
    invalid = execute.failure("PlanInvalid", "p.yaml:3: bad\np.yaml:4: worse", "phase",
                              "o.ipynb", {})
    assert invalid.lines() == ["p.yaml:3: bad", "p.yaml:4: worse"]
    bug = execute.failure("ZeroDivisionError", "division by zero", "phase", "o.ipynb", {}, 4)
    assert bug.lines() == ["phase.ipynb failed in cell 4: ZeroDivisionError: division by zero "
                           "(see o.ipynb)"]


def test_reserved_notebook_names_never_overwrite(tmp_path):
    first = execute.reserve_output(tmp_path, "a", "go")
    second = execute.reserve_output(tmp_path, "a", "go")
    (tmp_path / "07-b-start.ipynb").write_text("{}")
    third = execute.reserve_output(tmp_path, "b", "complete")
    assert [first.name, second.name, third.name] == ["01-a-go.ipynb", "02-a-go.ipynb",
                                                      "08-b-complete.ipynb"]
    assert json.loads((tmp_path / "07-b-start.ipynb").read_text()) == {}
