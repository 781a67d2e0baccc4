"""`benchmarks/run.py --quick`: the one benchmark command runs end to end and writes every row.

Only the shape of the results is checked (every row measured, with a time and a ratio to the
papermill floor), never the goals: machines, and the load on them, differ.
"""

from __future__ import annotations

import json
import subprocess
import sys
from numbers import Real

import pytest

from tests.conftest import ROOT

EVENTS = ("review", "note", "go", "start", "complete", "no-go", "rollback", "rolled-back")
SCALE = ("validate", "schedule", "gantt", "status", "report")
QUICK_STEP_SIZES = (10, 100)   # benchmarks/run.py: status with steps, --quick


@pytest.mark.slow
@pytest.mark.notebook
def test_quick_benchmark_writes_a_time_and_a_ratio_for_every_row(tmp_path):
    output = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick",
                           "--output", str(output)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(output.read_text(encoding="utf-8"))

    rows = {row["id"]: row for row in result["rows"]}
    expected = ["floor", *(f"phase-{e}" for e in EVENTS), "rehearse",
                *(f"{c}-{n}" for n in (10, 100) for c in SCALE),
                # the night on the clock: the notebook alone, a step tick, status with steps;
                # then the Monte Carlo beside the validation of its plan (30 phases, quick)
                "notebook-review", "step", *(f"status-steps-{n}" for n in QUICK_STEP_SIZES),
                "risk-validate-30", "risk-30"]
    assert sorted(rows) == sorted(expected)
    for row in rows.values():
        assert not row["error"], row
        assert isinstance(row["seconds"], Real) and row["seconds"] > 0, row
        assert isinstance(row["ratio"], Real) and row["ratio"] > 0, row
        assert isinstance(row["max_rss_mb"], Real) and row["max_rss_mb"] > 0, row
        assert row["runs"] >= 1
    assert rows["floor"]["ratio"] == 1.0
    assert result["quick"] is True and result["sizes"] == [10, 100]
    assert isinstance(result["floor_seconds"], Real)

    assert result["report"]["bytes"] > 1_000_000
    assert isinstance(result["report"]["plotlyjs_copies"], int)
    for command in SCALE:
        assert set(result["scale"][command]["seconds"]) == {"10", "100"}

    goals = result["goals"]
    assert goals and {g["verdict"] for g in goals} <= {"PASS", "FAIL", "SKIP"}
    assert result["ok"] == all(g["verdict"] != "FAIL" for g in goals)
    assert done.returncode == (0 if result["ok"] else 1)
    assert result["machine"]["nproc"] >= 1 and result["machine"]["python"]
    assert len(result["load_average"]["start"]) == 3
    for line in ("PASS", "papermill", "scale curve"):
        assert line in done.stdout
