"""Benchmark: load a large plan and build its three frames.

A generated plan of 300 phases and 4,500 steps (a chain of dependencies, one window a night
in Pacific/Auckland across both DST changes, three to five impacts a phase) is loaded with
`load_plan` and turned into the phases, impacts and steps frames. The median of several runs
is printed and written as JSON to benchmarks/results/plan.json. Goal: under 2 s; the script
exits 1 when the median is over it.

    .venv/bin/python benchmarks/bench_plan.py [--runs 7] [--phases 300] [--steps 15]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pydantic

from migration_runbook.plan import impacts_frame, load_plan, phases_frame, steps_frame

GOAL_SECONDS = 2.0
RESULTS = Path(__file__).resolve().parent / "results" / "plan.json"
SERVICES = ["api", "omni", "web2sms", "campaign-manager", "email2sms", "mo", "dlr", "reports"]
LEVELS = ["unavailable", "degraded", "delayed", "unaffected"]
OWNERS = ["network team", "messaging team", "database team", "platform team", "QA"]


def generate_plan(phases: int = 300, steps_per_phase: int = 15,
                  three_point: bool = False) -> str:
    """YAML text of a valid plan: one 4-hour window a night, each phase after the one before.

    Windows run 21:00-01:00 local from 1 June 2020 on, so they cross the end of NZST (27
    September) and of NZDT (4 April) without touching the DST gap or overlap. `three_point`
    gives every step `low` and `high` (0.6x and 1.8x the likely duration) and makes the step
    graph branch (see `_three_point`), for `runbook risk`.
    """
    lines = [
        "id: bench-plan",
        "title: Generated benchmark plan",
        "timezone: Pacific/Auckland",
        "revision: 3",
        "description: A long chain of phases, to measure loading and the frames.",
        "services:",
    ]
    lines += [f"  - {{id: {s}, name: Service {s}, description: What customers use.}}"
              for s in SERVICES]
    lines.append("phases:")
    first = date(2020, 6, 1)
    step_minutes = 160 // steps_per_phase or 1
    for i in range(phases):
        day = first + timedelta(days=i)
        lines += [
            f"  - id: phase-{i + 1:04d}",
            f"    name: Phase {i + 1} <migration of shard {i % 17}>",
            f"    description: Moves shard {i % 17} and its queues to the new hosting.",
            f"    start: {day:%Y-%m-%d} 21:00",
            f"    end: {day + timedelta(days=1):%Y-%m-%d} 01:00",
            f"    depends_on: [{f'phase-{i:04d}' if i else ''}]",
            "    impacts:",
        ]
        for k in range(3 + i % 3):
            service = SERVICES[(i + k) % len(SERVICES)]
            level = LEVELS[(i + k) % len(LEVELS)]
            lines += [f"      - service: {service}",
                      f"        level: {level}",
                      f"        detail: {service} is {level} while shard {i % 17} moves."]
        lines += [
            "    rollback:",
            "      duration: 45m",
            "      plan: Re-point traffic to the old platform and replay the queue.",
            "    steps:",
        ]
        lines += [f"      - {{name: Step {k + 1} of phase {i + 1}, "
                  f"owner: {OWNERS[k % len(OWNERS)]}, duration: {step_minutes}m"
                  + (_three_point(k, step_minutes) if three_point else "") + "}"
                  for k in range(steps_per_phase)]
        lines += ["    checks:",
                  "      - {name: API health, http: 'http://127.0.0.1:8080/health', timeout: 5s}"]
    return "\n".join(lines) + "\n"


def _three_point(k: int, likely: int) -> str:
    """`low`/`high` of the k-th (0-based) step; steps 3 and 4 of every 4 (ids are 1-based)
    run side by side after the one before them, and the next step waits for both."""
    after = f", after: [{k - 1}]" if k % 4 == 2 else \
        f", after: [{k - 1}, {k}]" if k % 4 == 3 else ""
    return f", low: {likely * 0.6:g}m, high: {likely * 1.8:g}m{after}"


def measure(path: Path) -> dict[str, float]:
    """Seconds for load_plan, the three frames, and the whole."""
    start = time.perf_counter()
    plan = load_plan(path)
    loaded = time.perf_counter()
    phases_frame(plan)
    impacts_frame(plan)
    steps_frame(plan)
    done = time.perf_counter()
    return {"load_plan": loaded - start, "frames": done - loaded, "total": done - start}


def run(runs: int = 7, phases: int = 300, steps_per_phase: int = 15) -> dict[str, Any]:
    """Generate the plan, time `runs` runs (after one warm-up), return the result record."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench-plan.yaml"
        path.write_text(generate_plan(phases, steps_per_phase), encoding="utf-8")
        plan = load_plan(path)  # warm-up, and proof that the generated plan is valid
        counts = {"phases": len(plan.phases), "steps": sum(len(p.steps) for p in plan.phases),
                  "impacts": sum(len(p.impacts) for p in plan.phases),
                  "plan_bytes": path.stat().st_size}
        samples = [measure(path) for _ in range(runs)]
    medians = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
    return {
        "benchmark": "plan",
        "what": "load_plan + phases_frame + impacts_frame + steps_frame",
        **counts,
        "runs": runs,
        "median_seconds": round(medians["total"], 4),
        "load_plan_median_seconds": round(medians["load_plan"], 4),
        "frames_median_seconds": round(medians["frames"], 4),
        "min_seconds": round(min(s["total"] for s in samples), 4),
        "max_seconds": round(max(s["total"] for s in samples), 4),
        "goal_seconds": GOAL_SECONDS,
        "within_goal": medians["total"] < GOAL_SECONDS,
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "pydantic": pydantic.VERSION,
        "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--phases", type=int, default=300)
    parser.add_argument("--steps", type=int, default=15, help="steps a phase")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(args.runs, args.phases, args.steps)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    verdict = "within" if result["within_goal"] else "OVER"
    print(f"plan: median {result['median_seconds']:.3f} s for {result['phases']} phases and "
          f"{result['steps']} steps ({verdict} the {GOAL_SECONDS:g} s goal); "
          f"written to {args.output}", file=sys.stderr)
    return 0 if result["within_goal"] else 1


if __name__ == "__main__":
    sys.exit(main())
