"""A naive time typed into runbooks/phase.ipynb (papermill) and `runbook phase --at`: read in
the plan's zone, shown back in local time and UTC, refused in the cell when it does not fit."""

from __future__ import annotations

from datetime import UTC, datetime

import nbformat
import papermill
import pytest
from papermill.exceptions import PapermillExecutionError

from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE, ROOT, env_without_store, run_cli

NOTEBOOK = ROOT / "runbooks" / "phase.ipynb"
PHASE = "carrier-connections"
ECHO = ("'2020-09-07 20:50' (no offset: Pacific/Auckland time) is Mon 7 Sep 2020 20:50 NZST = "
        "Mon 7 Sep 2020 08:50 UTC")

pytestmark = pytest.mark.notebook


def _text(path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "")
                     for c in nb.cells for o in c.get("outputs", []))


def test_papermill_reads_a_naive_at_in_the_plan_s_zone_and_shows_it_back(tmp_path):
    outputs = tmp_path / "run"
    out = tmp_path / "go.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), kernel_name="python3",
                               progress_bar=False, parameters={
                                   "plan": str(EXAMPLE), "phase": PHASE, "event": "note",
                                   "operator": "alice", "outputs": str(outputs),
                                   "at": "2020-09-07 20:50"})
    with open_log(load_plan(EXAMPLE), outputs) as log:
        [event] = log.events()
    assert event.at == datetime(2020, 9, 7, 8, 50, tzinfo=UTC)    # not 20:50 UTC
    text = _text(out)
    assert ECHO in text
    assert "at | Mon 7 Sep 20:50 NZST (08:50 UTC)" in text

    # The same notebook refuses, in its record cell, a go dated before the log allows.
    refused = tmp_path / "start.ipynb"
    with pytest.raises(PapermillExecutionError) as failed:
        papermill.execute_notebook(str(NOTEBOOK), str(refused), kernel_name="python3",
                                   progress_bar=False, parameters={
                                       "plan": str(EXAMPLE), "phase": PHASE, "event": "go",
                                       "operator": "alice", "outputs": str(outputs),
                                       "at": "2020-09-07 20:49"})
    assert failed.value.ename == "EventRefused"
    assert "that is before its previous event (note at Mon 7 Sep 20:50 NZST" in \
        failed.value.evalue
    with open_log(load_plan(EXAMPLE), outputs) as log:
        assert len(log.events()) == 1


def test_runbook_phase_echoes_a_naive_at_in_local_time_and_utc(tmp_path):
    env = env_without_store()
    outputs = tmp_path / "run"
    done = run_cli("phase", EXAMPLE, PHASE, "note", "--operator", "alice", "--at",
                   "2020-09-07 20:50", "--outputs", outputs, env=env)
    assert done.returncode == 0, done.stderr
    assert f"--at {ECHO}" in done.stdout.splitlines()
    assert "recorded as event #1 by alice at Mon 7 Sep 20:50 NZST (08:50 UTC)" in done.stdout


@pytest.mark.slow
def test_a_plan_for_next_month_still_rehearses_at_its_own_future_times(tmp_path, write_plan):
    """The rehearsal plays future times into a log of its own; typed by hand, they are refused."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from migration_runbook.errors import EventRefused
    from migration_runbook.rehearsal import rehearse

    day = (datetime.now(ZoneInfo("Pacific/Auckland")) + timedelta(days=30)).date()
    plan = load_plan(write_plan(f"""\
id: next-month
title: Next month
timezone: Pacific/Auckland
services: [{{id: api, name: API}}]
phases:
  - {{id: only, name: Only, start: {day} 12:00, end: {day} 16:00,
     rollback: {{duration: 30m, plan: back}}}}
"""))
    result = rehearse(plan, tmp_path / "rehearsal", report=False)
    assert result.states == {"only": "completed"} and result.verified_ok
    with open_log(plan, tmp_path / "rehearsal") as log:
        events = log.events()
    events = [e for e in events if e.event in ("go", "start", "complete")]   # not ticks, notices
    assert [e.event for e in events] == ["go", "start", "complete"]
    assert events[1].at == plan.phases[0].start > datetime.now(UTC) + timedelta(days=29)
    with open_log(plan, tmp_path / "real") as log, pytest.raises(EventRefused,
                                                                 match="in the future"):
        log.record("only", "go", "alice", at=f"{day} 11:50")


@pytest.mark.slow
def test_runbook_report_echoes_a_naive_as_of_in_local_time_and_utc(tmp_path):
    env = env_without_store()
    outputs = tmp_path / "run"
    with open_log(load_plan(EXAMPLE), outputs) as log:
        log.record(PHASE, "go", "alice", at="2020-09-07 20:50")
        log.record(PHASE, "start", "alice", at="2020-09-07 21:00")
    done = run_cli("report", EXAMPLE, "--outputs", outputs, "--as-of", "2020-09-07 22:30",
                   env=env)
    assert done.returncode == 0, done.stderr
    assert ("--as-of '2020-09-07 22:30' (no offset: Pacific/Auckland time) is Mon 7 Sep 2020 "
            "22:30 NZST = Mon 7 Sep 2020 10:30 UTC") in done.stdout.splitlines()
    assert "Mon 7 Sep 22:30 NZST" in (outputs / "report.html").read_text(encoding="utf-8")
