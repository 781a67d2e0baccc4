"""Benchmark: a phase review and a whole rehearsal against papermill's own floor.

The floor is `papermill` running a one-cell notebook (a kernel start, one cell, the save),
measured in the same run so that the ratios hold on a slow or busy machine. Goals: `runbook
phase ... review` within 1.5x the floor, `runbook rehearse` (12 notebooks and the report)
within 8x. Floor and review are the median of 3 runs, taken alternately; the rehearsal of
`--rehearsals` (default 1). Prints the figures, writes benchmarks/results/phase.json, exits 1
over a goal.

    .venv/bin/python benchmarks/bench_phase.py [--rehearsals N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "phase.json"
PLAN = ROOT / "data" / "omni-hosting-2020.yaml"
RUNS = 3
REVIEW_GOAL, REHEARSAL_GOAL = 1.5, 8.0


def _one_cell_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(argv)}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rehearsals", type=int, default=1)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    papermill, runbook = str(bin_dir / "papermill"), str(bin_dir / "runbook")
    floor, review, rehearsal = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        one = tmp / "one.ipynb"
        _one_cell_notebook(one)
        # Warm the disk cache for both, so the first measured run is not the odd one out.
        _timed([papermill, "--no-progress-bar", str(one), str(tmp / "warm.ipynb")])
        _timed([runbook, "phase", str(PLAN), "carrier-connections", "review", "--operator",
                "bench", "--outputs", str(tmp / "warm")])
        for n in range(RUNS):
            floor.append(_timed([papermill, "--no-progress-bar", str(one),
                                 str(tmp / f"one-{n}.ipynb")]))
            review.append(_timed([runbook, "phase", str(PLAN), "carrier-connections",
                                  "review", "--operator", "bench", "--outputs",
                                  str(tmp / "review")]))
        for n in range(args.rehearsals):
            rehearsal.append(_timed([runbook, "rehearse", str(PLAN), "--outputs",
                                     str(tmp / f"rehearsal-{n}")]))
        notebooks = len(list((tmp / "rehearsal-0" / "notebooks").glob("*.ipynb")))
        report = (tmp / "rehearsal-0" / "report.html").exists()
    base = statistics.median(floor)
    result = {
        "benchmark": "phase notebook",
        "cpus": os.cpu_count(),
        "floor_s": [round(s, 3) for s in floor], "floor_median_s": round(base, 3),
        "review_s": [round(s, 3) for s in review],
        "review_median_s": round(statistics.median(review), 3),
        "review_ratio": round(statistics.median(review) / base, 2),
        "review_goal": REVIEW_GOAL,
        "rehearsal_s": [round(s, 3) for s in rehearsal],
        "rehearsal_median_s": round(statistics.median(rehearsal), 3),
        "rehearsal_ratio": round(statistics.median(rehearsal) / base, 2),
        "rehearsal_goal": REHEARSAL_GOAL,
        "rehearsal_notebooks": notebooks, "rehearsal_report": report,
    }
    result["ok"] = (result["review_ratio"] <= REVIEW_GOAL
                    and result["rehearsal_ratio"] <= REHEARSAL_GOAL)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"papermill floor (one-cell notebook): median {base:.2f} s of {RUNS}")
    print(f"runbook phase ... review:            median {result['review_median_s']:.2f} s "
          f"= {result['review_ratio']:.2f}x the floor (goal <= {REVIEW_GOAL}x)")
    print(f"runbook rehearse ({notebooks} notebooks{' + report' if report else ''}): "
          f"{result['rehearsal_median_s']:.2f} s = {result['rehearsal_ratio']:.2f}x the floor "
          f"(goal <= {REHEARSAL_GOAL}x) -> {RESULTS.relative_to(ROOT)}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
