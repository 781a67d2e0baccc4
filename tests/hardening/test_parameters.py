"""Odd parameters: what an operator types reaches the log unchanged and never runs as code.

Reasons and operator names with quotes, newlines, backslashes, unicode and great length go
through `runbook phase` (papermill's Python API) and through the papermill command line into
the log, and are compared byte for byte with what was typed (the log trims surrounding
whitespace, nothing else). Payloads that would run if a parameter were pasted into code
instead of written as a literal (`"; import os; os.system('touch PWNED') #`) leave no marker
file. Other odd input (times, paths, ids, zones) is refused in one line.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from papermill.translators import translate_parameters

from migration_runbook.events import MAX_OPERATOR, MAX_REASON, open_log
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE, ROOT
from tests.hardening.conftest import (
    PAPERMILL,
    assert_clean_refusal,
    env_without_store,
    runbook,
)

PHASE = "carrier-connections"


def reasons(marker: Path) -> dict[str, str]:
    """Reasons that would run code if a parameter were pasted into a cell instead of quoted."""
    touch = f"__import__('os').system('touch {marker}')"
    return {
        "close-quote": f"\"; import os; os.system('touch {marker}') #",
        "single-quote": f"'; {touch} #",
        "newline": f"x\n{touch}",
        "triple-quotes": f"'''\n{touch}\n'''\"\"\"\n{touch}\n\"\"\"",
        "backslashes": f"\\\" + {touch} + \\\"  C:\\new\\table \\x41 \\u0041 \\N{{BULLET}} \\",
        "f-string": f"{{{touch}}} {{0}} %s %(reason)s",
        "shell": f"$(touch {marker}) `touch {marker}` ; touch {marker} && echo",
        "unicode": "Zoë 李雷 مرحبا \u202eRTL\u202c \u2028LS\u2029PS 🚀 e\u0301 \u00a0nbsp",
        "json": '{"reason": "x", "__proto__": {}} ]]> <!--',
        "long": ("Carrier bind failed on 2 of 5 links; \"rolled\" back 'per plan'.\n" * 120
                 )[:MAX_REASON - 1].strip(),
    }


def _recorded(outputs: Path) -> list:
    plan = load_plan(EXAMPLE)
    with open_log(plan, outputs) as log:
        return log.events()


# --- papermill's parameter cell ------------------------------------------------------------

@settings(max_examples=300, deadline=timedelta(seconds=2))
@given(st.text(max_size=200), st.text(max_size=50))
def test_papermill_writes_any_text_parameter_as_a_literal_that_reads_back_unchanged(
        reason, operator):
    """The parameters cell papermill injects must evaluate to the very same strings."""
    code = translate_parameters("python", "python", {"reason": reason, "operator": operator},
                                "Injected parameters")
    namespace: dict = {}
    exec(compile(code, "<parameters>", "exec"), {"__builtins__": {}}, namespace)
    assert namespace == {"reason": reason, "operator": operator}


# --- runbook phase ---------------------------------------------------------------------------

@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("name", list(reasons(Path("/m"))))
def test_runbook_phase_records_the_reason_byte_for_byte_and_runs_nothing(tmp_path, name):
    marker = tmp_path / "PWNED"
    reason = reasons(marker)[name]
    operator = f"O'Brien \"the fixer\" \\ <b>{name}</b> Zoë"
    outputs = tmp_path / "run"
    result = runbook("phase", EXAMPLE, PHASE, "note", "--operator", operator, "--reason",
                     reason, "--outputs", outputs, cwd=tmp_path, env=env_without_store())
    assert result.returncode == 0, result.stdout + result.stderr
    (event,) = _recorded(outputs)
    assert event.reason.encode("utf-8") == reason.encode("utf-8")
    assert event.operator.encode("utf-8") == operator.encode("utf-8")
    assert not marker.exists()
    assert not (tmp_path / "PWNED").exists() and not (ROOT / "PWNED").exists()
    # The executed notebook holds the reason as a literal in its parameters cell.
    notebook = nbformat.read(outputs / event.notebook, as_version=4)
    injected = next(c for c in notebook.cells if "injected-parameters" in c.metadata.get(
        "tags", []))
    namespace: dict = {}
    exec(compile(injected.source, "<parameters>", "exec"), {"__builtins__": {}}, namespace)
    assert namespace["reason"] == reason and namespace["operator"] == operator
    # And `runbook log --format json` gives it back unchanged too.
    rows = json.loads(runbook("log", EXAMPLE, "--outputs", outputs, "--format", "json",
                              env=env_without_store()).stdout)
    assert rows[0]["reason"] == reason


@pytest.mark.notebook
@pytest.mark.slow
def test_surrounding_whitespace_is_trimmed_and_nothing_else(tmp_path):
    outputs = tmp_path / "run"
    result = runbook("phase", EXAMPLE, PHASE, "note", "--operator", "  ic  ", "--reason",
                     "\n  keep  \t inner \n\n spacing\t\n", "--outputs", outputs,
                     env=env_without_store())
    assert result.returncode == 0, result.stderr
    (event,) = _recorded(outputs)
    assert (event.operator, event.reason) == ("ic", "keep  \t inner \n\n spacing")


# --- papermill directly ----------------------------------------------------------------------

def _papermill(tmp_path: Path, *params: str, name: str = "out.ipynb"
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PAPERMILL), str(ROOT / "runbooks" / "phase.ipynb"), str(tmp_path / name),
         "-p", "plan", str(EXAMPLE), "-p", "phase", PHASE, "-p", "outputs",
         str(tmp_path / "run"), *params],
        capture_output=True, text=True, cwd=tmp_path, env=env_without_store(), timeout=300)


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("name", ["close-quote", "newline", "triple-quotes", "backslashes",
                                  "unicode", "long"])
def test_papermill_command_line_records_the_reason_byte_for_byte_and_runs_nothing(
        tmp_path, name):
    marker = tmp_path / "PWNED"
    reason = reasons(marker)[name]
    result = _papermill(tmp_path, "-p", "event", "note", "-p", "operator", "O'Brien \"x\"",
                        "-p", "reason", reason)
    assert result.returncode == 0, result.stderr[-3000:]
    (event,) = _recorded(tmp_path / "run")
    assert event.reason.encode("utf-8") == reason.encode("utf-8")
    assert event.operator == "O'Brien \"x\""
    assert event.source == "notebook"
    assert not marker.exists()


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("operator, reason", [("42", "None"), ("True", "1.5"),
                                              ("alice", "3"), ("alice", "False")])
def test_papermill_parameters_that_look_like_numbers_are_kept_as_text(tmp_path, operator,
                                                                      reason):
    """`papermill -p` turns 42, 1.5, True and None into Python values, not text; the notebook
    must still record (as text) or refuse in one line, never fail on `'int'.strip()`."""
    result = _papermill(tmp_path, "-p", "event", "note", "-p", "operator", operator,
                        "-p", "reason", reason)
    notebook = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not any(e["ename"] in ("AttributeError", "TypeError") for e in errors), \
        [f"{e['ename']}: {e['evalue']}" for e in errors]
    if result.returncode == 0:
        (event,) = _recorded(tmp_path / "run")
        assert event.operator == operator
        assert event.reason in (reason, "")  # papermill's None may mean "no reason"


# --- limits and refusals ---------------------------------------------------------------------

@pytest.mark.notebook
@pytest.mark.parametrize("reason", ["line one\r\nline two", "clear\x1b[2J", "bell\x07",
                                    "nul\x01", "c1\x9b31m"])
def test_control_characters_in_a_reason_are_refused_in_one_line(tmp_path, reason):
    """Terminal escapes in the log would reach every operator who reads it."""
    outputs = tmp_path / "run"
    err = assert_clean_refusal(runbook("phase", EXAMPLE, PHASE, "note", "--operator", "ic",
                                       "--reason", reason, "--outputs", outputs,
                                       env=env_without_store()))
    assert "control character" in err and "\x1b" not in err
    assert not (outputs / "events.sqlite").exists() or _recorded(outputs) == []


@pytest.mark.parametrize("args, message", [
    (["--operator", "x" * (MAX_OPERATOR + 1)], "limited to"),
    (["--operator", "ic", "--reason", "r" * (MAX_REASON + 1)], "limited to"),
    (["--operator", "   "], "operator"),
    (["--operator", ""], "operator"),
])
@pytest.mark.notebook
def test_overlong_or_empty_names_are_refused_in_one_line_and_record_nothing(tmp_path, args,
                                                                           message):
    outputs = tmp_path / "run"
    result = runbook("phase", EXAMPLE, PHASE, "note", *args, "--outputs", outputs,
                     env=env_without_store())
    err = assert_clean_refusal(result)
    assert message in err
    assert not (outputs / "events.sqlite").exists() or _recorded(outputs) == []


@pytest.mark.parametrize("phase", ["nope", "<script>x</script>", "../../etc/passwd", "",
                                   "carrier-connections\n", "CARRIER-CONNECTIONS"])
@pytest.mark.notebook
def test_an_unknown_phase_is_refused_in_one_line(tmp_path, phase):
    result = runbook("phase", EXAMPLE, phase, "note", "--operator", "ic", "--outputs",
                     tmp_path / "run", env=env_without_store())
    err = assert_clean_refusal(result)
    assert "no phase" in err or "unknown" in err
    assert not (tmp_path / "run" / "events.sqlite").exists()


@pytest.mark.parametrize("event", ["GO", "go;rm", "", "approved"])
def test_an_unknown_event_is_a_usage_error(tmp_path, event):
    result = runbook("phase", EXAMPLE, PHASE, event, "--operator", "ic", "--outputs",
                     tmp_path / "run")
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize("tz", ["Mars/Olympus", "../../../etc/passwd", "UTC\n", "<b>",
                                "x" * 5000])
@pytest.mark.parametrize("command", ["schedule", "gantt"])
def test_an_unknown_display_zone_is_refused_in_one_line(tmp_path, command, tz):
    extra = ["-o", tmp_path / "g.html"] if command == "gantt" else []
    err = assert_clean_refusal(runbook(command, EXAMPLE, "--tz", tz, *extra))
    assert "--tz" in err
    assert not (tmp_path / "g.html").exists()


@pytest.mark.parametrize("at", ["not a time", "2020-09-07T25:00", "2020-02-30T10:00Z",
                                "2020-09-07 21:00+25:00", "nan", "1e10"])
@pytest.mark.notebook
def test_an_unreadable_time_is_refused_before_anything_runs(tmp_path, at):
    outputs = tmp_path / "run"
    err = assert_clean_refusal(runbook("phase", EXAMPLE, PHASE, "note", "--operator", "ic",
                                       "--at", at, "--outputs", outputs,
                                       env=env_without_store()))
    assert err.startswith("--at: ")
    assert not (outputs / "events.sqlite").exists()


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "0999-12-31T23:00:00Z",
                                "9999-12-31T23:59:59Z"])
def test_a_time_at_the_edge_of_the_calendar_is_recorded_readably_or_refused(tmp_path, at):
    """Whatever `--at` accepts must leave a log that every command can still read."""
    outputs = tmp_path / "run"
    result = runbook("phase", EXAMPLE, PHASE, "note", "--operator", "ic", "--at", at,
                     "--outputs", outputs, env=env_without_store())
    if result.returncode != 0:
        err = assert_clean_refusal(result, lines=None)
        assert "failed in cell" not in err, err  # a refusal, not a crash in the notebook
    env = env_without_store()
    for command in ("log", "status", "verify"):
        after = runbook(command, EXAMPLE, "--outputs", outputs, env=env)
        assert after.returncode == 0, f"{command} after --at {at}: {after.stderr}"


@pytest.mark.notebook
@pytest.mark.slow
def test_an_outputs_path_with_quotes_spaces_and_unicode_works(tmp_path):
    outputs = tmp_path / "run 'x' \"y\" $(z) Zoë\\"
    result = runbook("phase", EXAMPLE, PHASE, "note", "--operator", "ic", "--outputs",
                     outputs, env=env_without_store())
    assert result.returncode == 0, result.stderr
    (event,) = _recorded(outputs)
    assert (outputs / event.notebook).stat().st_size > 0
    assert not (tmp_path / "z").exists()


def test_plan_paths_that_are_not_plans_are_refused_in_one_line(tmp_path):
    for path, message in [(tmp_path / "missing.yaml", "no such plan file"),
                          (tmp_path, "is a folder"),
                          (Path("/proc/self/status"), ""),
                          (Path("/dev/null"), "plan is empty")]:
        err = assert_clean_refusal(runbook("validate", path), lines=None)
        assert message in err, err


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "0999-12-31T23:00:00Z",
                                "9999-12-31T23:59:59Z"])
def test_the_api_refuses_a_time_the_log_could_not_read_back(tmp_path, at):
    """`EventLog.record(at=...)` goes through the same parser: refused, nothing written."""
    from migration_runbook.errors import EventRefused

    plan = load_plan(EXAMPLE)
    with open_log(plan, tmp_path / "run") as log, pytest.raises(EventRefused) as refused:
        log.record(PHASE, "note", "ic", at=at)
    assert "out of range" in str(refused.value)
    assert not (tmp_path / "run" / "events.sqlite").exists()
