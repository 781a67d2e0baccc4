"""The phase notebook's steps: the step table on the clock and the step timeline, for real."""

from __future__ import annotations

import json

import nbformat
import pytest

from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.functional.test_step_events import PLAN
from tests.integration.test_phase_notebook import _outputs_text, _run, kernel  # noqa: F401

pytestmark = pytest.mark.notebook


@pytest.fixture
def ticked(tmp_path):
    """freeze failed once then done; hot running since 09:41; cold skipped."""
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    outputs = tmp_path / "run"
    with open_log(load_plan(path), outputs) as log:
        log.record("db", "go", "alice", at="2020-09-07T08:50:00Z")
        log.record("db", "start", "alice", at="2020-09-07T09:00:00Z")
        log.record_step("db", "freeze", "start", "bob", at="2020-09-07T09:01:00Z")
        log.record_step("db", "freeze", "failed", "bob", "lock wait", at="2020-09-07T09:10:00Z")
        log.record_step("db", "freeze", "start", "bob", at="2020-09-07T09:11:00Z")
        log.record_step("db", "freeze", "done", "bob", at="2020-09-07T09:40:00Z")
        log.record_step("db", "hot", "start", "carol", at="2020-09-07T09:41:00Z")
        log.record_step("db", "cold", "skip", "carol", "copied yesterday",
                        at="2020-09-07T09:42:00Z")
    return path, outputs


def _plotly(path, title: str) -> dict:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            figure = output.get("data", {}).get("application/vnd.plotly.v1+json")
            if figure and title in json.dumps(figure["layout"].get("title", {})):
                return figure
    raise AssertionError(f"no figure titled {title!r}")


def test_phase_notebook_shows_the_steps_on_the_clock_and_their_timeline(ticked, tmp_path,
                                                                        kernel):  # noqa: F811
    path, outputs = ticked
    out = _run(tmp_path / "note.ipynb", kernel, plan=str(path), phase="db", event="note",
               operator="ic", reason="status", outputs=str(outputs),
               at="2020-09-07T11:50:00Z")
    text = _outputs_text(out)
    assert "Steps: 2 of 4 done or skipped; running: hot (in-progress" in text
    assert "forecast-past-rollback-deadline: steps forecast to finish at Tue 8 Sep 00:10 NZST" \
        not in text    # cold was skipped: hot ends now (11:50), switch to 12:00, before 12:15
    assert "Forecast end of the steps: Tue 8 Sep 00:00 NZST (Mon 7 Sep 12:00 UTC); rollback " \
           "deadline in 25m; window end in 1h 10m. 100.0% chance the steps finish by the " \
           "rollback deadline." in text
    assert "hot | Copy hot tables |  | running | 21:30 NZST - 23:30 NZST | 21:41 NZST - | " \
           "21:41 NZST - 23:50 NZST | yes" in text
    assert "cold | Copy cold tables |  | skipped |" in text
    figure = _plotly(out, "Database: steps")
    bars = {t["name"]: t for t in figure["data"]}
    assert len(bars["actual: done"]["y"]) == 1 and len(bars["actual: failed"]["y"]) == 1
    assert len(bars["actual: running"]["y"]) == 1 and len(bars["skipped"]["y"]) == 1
    assert bars["planned, critical path"]["y"] == ["Freeze writes (freeze)",
                                                   "Copy hot tables (hot)",
                                                   "Switch over (switch)"]
    shapes = {s.get("name") for s in figure["layout"]["shapes"]}
    assert {"rollback deadline", "now"} <= shapes
