"""Benchmark: `runbook gantt` on a large plan (300 phases, 4,500 steps), the real command.

Budget: the median of 3 runs under 6 s. Prints the figures and writes them to
benchmarks/results/gantt.json; exits 1 over budget.

    .venv/bin/python benchmarks/bench_gantt.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "gantt.json"
PHASES, STEPS_PER_PHASE, SERVICES, RUNS, BUDGET_S = 300, 15, 20, 3, 6.0
LEVELS = ("unavailable", "degraded", "delayed", "unaffected")


def large_plan(phases: int = PHASES, steps: int = STEPS_PER_PHASE,
               services: int = SERVICES) -> str:
    """A plan of `phases` chained 4-hour windows, two a day (09:00 and 21:00 NZ time, so
    across both DST changes of the year), each with `steps` steps and a few impacts."""
    lines = ["id: bench", "title: Benchmark migration", "timezone: Pacific/Auckland",
             "services:"]
    lines += [f"  - {{id: s{k}, name: Service {k}}}" for k in range(services)]
    lines.append("phases:")
    first = date(2030, 1, 1)
    for i in range(phases):
        day = first + timedelta(days=i // 2)
        hour = 9 if i % 2 == 0 else 21
        end_day = day + timedelta(days=1) if hour == 21 else day
        end_hour = (hour + 4) % 24
        lines += [f"  - id: p{i}", f"    name: Phase {i} <moves> service {i % services}",
                  f"    start: {day} {hour:02d}:00", f"    end: {end_day} {end_hour:02d}:00",
                  f"    depends_on: [{f'p{i - 1}' if i else ''}]",
                  "    impacts:"]
        lines += [f"      - {{service: s{(i + j) % services}, level: {LEVELS[(i + j) % 4]}, "
                  f"detail: Impact {j} of phase {i} & more detail text.}}" for j in range(4)]
        lines += ["    rollback: {duration: 30m, plan: Put it back the way it was.}",
                  "    steps:"]
        lines += [f"      - {{name: Step {s} of phase {i}, owner: team {s % 5}, duration: 10m}}"
                  for s in range(steps)]
    return "\n".join(lines) + "\n"


def main() -> int:
    runbook = Path(sys.executable).with_name("runbook")
    with tempfile.TemporaryDirectory() as folder:
        plan = Path(folder) / "bench.yaml"
        plan.write_text(large_plan(), encoding="utf-8")
        out = Path(folder) / "timeline.html"
        seconds = []
        for _ in range(RUNS):
            started = time.perf_counter()
            done = subprocess.run([str(runbook), "gantt", str(plan), "-o", str(out)],
                                  capture_output=True, text=True)
            seconds.append(time.perf_counter() - started)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
        size = out.stat().st_size
    median = statistics.median(seconds)
    result = {"benchmark": "runbook gantt", "phases": PHASES,
              "steps": PHASES * STEPS_PER_PHASE, "services": SERVICES, "runs": RUNS,
              "seconds": [round(s, 3) for s in seconds], "median_s": round(median, 3),
              "budget_s": BUDGET_S, "html_bytes": size, "ok": median < BUDGET_S}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"runbook gantt, {PHASES} phases / {PHASES * STEPS_PER_PHASE} steps: median "
          f"{median:.2f} s of {RUNS} (budget {BUDGET_S:.0f} s), page {size / 1e6:.1f} MB"
          f" -> {RESULTS.relative_to(ROOT)}")
    return 0 if median < BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
