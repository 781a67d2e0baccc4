"""runbooks/plan.ipynb: run for real with papermill, converted with nbconvert, drawn offline."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from migration_runbook.clock import plan_rows
from migration_runbook.fit_charts import bins, risk_frame
from migration_runbook.plan import load_plan
from migration_runbook.risk import plan_risk
from tests.browser import open_offline
from tests.conftest import EXAMPLE, ROOT
from tests.unit.test_timeline import HOSTILE_PLAN

NOTEBOOK = ROOT / "runbooks" / "plan.ipynb"


def _execute(tmp_path: Path, cwd: Path, **parameters: str) -> tuple[Path, Path]:
    """Run the notebook in a real python3 kernel, then convert it to HTML (nbconvert's default)."""
    import papermill
    from nbconvert import HTMLExporter

    executed = tmp_path / "plan-review.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(executed), parameters=parameters,
                               kernel_name="python3", cwd=str(cwd), progress_bar=False)
    body, _ = HTMLExporter().from_filename(str(executed))
    html = tmp_path / "plan-review.html"
    html.write_text(body, encoding="utf-8")
    return executed, html


def test_notebook_is_committed_without_outputs_and_takes_plan_and_tz():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    parameters = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1
    assert 'plan = "../data/omni-hosting-2020.yaml"' in parameters[0].source
    assert 'tz = ""' in parameters[0].source
    assert "risk_runs = 20000" in parameters[0].source and "risk_seed = 1" in \
        parameters[0].source
    assert max(len(c.source.splitlines()) for c in code) <= 8  # short cells
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_defaults_run_from_the_repo_root_and_figures_draw_after_nbconvert(tmp_path):
    plan = load_plan(EXAMPLE)
    executed, html = _execute(tmp_path, cwd=ROOT)  # default plan path, as `make` runs it
    nb = nbformat.read(executed, as_version=4)
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs)
    assert "Omni hosting provider migration (revision 2): valid, 4 phases, 7 services" in text
    # nbconvert's default template asks a CDN for require.js and MathJax: blocked here, and the
    # figures must draw all the same (plotly.js is inline in the first figure's output).
    risks = plan_risk(plan, runs=20_000, seed=1, keep_samples=True)
    with open_offline(html) as page:
        stepped = [p for p in plan.phases if p.steps]
        # the windows, a step timeline and a finish histogram a phase with steps, the impacts
        assert page.graphs == 2 + 2 * len(stepped)
        assert page.bars == [len(plan.phases), *(len(p.steps) for p in stepped),
                             *(int((bins(r)[1] > 0).sum()) for r in risks),
                             sum(len(p.impacts) for p in plan.phases)]
        # each histogram: the rollback deadline and the window's end
        assert page.shapes[1 + len(stepped):1 + 2 * len(stepped)] == [2] * len(stepped)
        assert page.points[0] == len(plan.phases)
        assert page.page_errors == []
        assert all("cdnjs" in url for url in page.blocked)  # only the template's own scripts
        for heading in ("Validation", "Schedule", "Maintenance windows",
                        "Impact on each service", "Impact matrix", "Customer notices",
                        "Steps and the critical path", "Will it fit?"):
            assert heading in page.text
        # the risk table (as `runbook risk --seed 1` computes it) and the ranking
        for row in risk_frame(plan, risks).to_dict("records"):
            assert all(str(v) in page.text for v in row.values()), row
        assert "70.4%" in page.text                  # messaging-core: the example's risky night
        for phase, r in zip(plan.phases, risks, strict=True):
            assert phase.name in page.text
            assert f"{r.p_before_rollback_deadline:.0%} of 20,000 runs finish by the rollback " \
                "deadline" in page.text
        assert "100% of runs" in page.text and "Restore the snapshot" in page.text
        assert "Mon 7 Sep 20:00 NZST (08:00 UTC)" in page.text  # first reminder, 1 h before
        # the margin before each rollback deadline, as the clock computes it
        for row in plan_rows(plan):
            assert row["steps planned to end"] in page.text and row["margin"] in page.text


@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_from_runbooks_folder_markup_in_the_plan_stays_text(tmp_path, write_plan):
    hostile = write_plan(HOSTILE_PLAN)
    runbooks = ROOT / "runbooks"
    # relative to runbooks/, as a path typed in JupyterLab would be
    _, html = _execute(tmp_path, cwd=runbooks, plan=os.path.relpath(hostile, runbooks),
                       tz="Europe/London")
    with open_offline(html) as page:
        assert page.bars == [1, 1]
        assert page.count("img") == 0 and page.count("[onerror]") == 0
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert "<script>window.__pwned=1</script>" in page.text
        assert "Time in Europe/London (BST)" in page.text
