"""`runbook review`: plan.ipynb run for real and exported offline; the page draws with the
network off and asks for nothing remote."""

from __future__ import annotations

import re

import pytest
from plotly.offline import get_plotlyjs

from migration_runbook.fit_charts import bins
from migration_runbook.plan import load_plan
from migration_runbook.risk import plan_risk
from tests.browser import open_offline
from tests.conftest import EXAMPLE, run_cli


@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_review_exports_one_offline_page_whose_figures_draw(tmp_path):
    plan = load_plan(EXAMPLE)
    out = tmp_path / "review.html"
    done = run_cli("review", EXAMPLE, "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{out}: plan review (") and done.stderr == ""
    executed = out.with_suffix(".ipynb")
    assert executed.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["review.html", "review.ipynb"]
    html = out.read_text(encoding="utf-8")
    # no CDN: no script or stylesheet by address, no require.js or MathJax loader; plotly.js
    # once (inline, in the first figure's output)
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=\"?https?:", html)
    assert "require.min.js" not in html and "MathJax.js" not in html
    assert html.count(get_plotlyjs()[:40]) == 1
    with open_offline(out) as page:
        assert page.blocked == []
        assert page.page_errors == [] and page.console_errors == []
        # the windows, one step timeline a phase (a bar a step), a finish histogram a phase
        # (a bar a bin with runs, as `runbook risk --seed 1` draws them), then the impacts
        risks = plan_risk(plan, runs=20_000, seed=1, keep_samples=True)
        assert page.graphs == 2 + 2 * len(plan.phases)
        assert page.bars == [len(plan.phases), *(len(p.steps) for p in plan.phases),
                             *(int((bins(r)[1] > 0).sum()) for r in risks),
                             sum(len(p.impacts) for p in plan.phases)]
        assert "Will it fit?" in page.text
        assert page.count("script[src], link[href], iframe") == 0
        text = page.text
        for expected in ("Validation", "Schedule", "Maintenance windows",
                         "Impact on each service", "Customer notices", "09:00 UTC",
                         "1. Carrier Connection Migrations, planned"):
            assert expected in text
        assert "import " not in page.evaluate("document.body.innerText")  # no code cells


def test_bad_plan_is_one_line_exit_1_and_writes_nothing(tmp_path, write_plan):
    bad = write_plan("id: broken\ntitle: x\ntimezone: Mars/Olympus\n", name="bad.yaml")
    out = tmp_path / "review.html"
    done = run_cli("review", bad, "-o", out)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    # one line a problem, each naming the file and line, as `runbook validate` says them
    assert all(line.startswith(f"{bad}:") for line in done.stderr.strip().splitlines())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


@pytest.mark.parametrize("target, says", [("missing-folder/review.html", "no such folder"),
                                          (".", "is a folder")])
def test_unwritable_output_is_one_line_exit_1(tmp_path, target, says):
    before = sorted(p.name for p in tmp_path.iterdir())
    done = run_cli("review", EXAMPLE, "-o", tmp_path / target)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_unknown_display_zone_is_one_line(tmp_path):
    done = run_cli("review", EXAMPLE, "-o", tmp_path / "r.html", "--tz", "Nowhere/Land")
    assert done.returncode == 1 and done.stderr.startswith("--tz: unknown time zone")
    assert list(tmp_path.iterdir()) == []
