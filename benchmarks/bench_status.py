"""Benchmark: `runbook status` on a 300-phase plan with a log of about 2,000 events.

The plan is `bench_plan.generate_plan`'s (300 phases, a chain of dependencies, across both NZ
DST changes); the log holds go/start/complete for the first 250 phases, one attempt rolled back
and retried, and notes, about 2,200 records. It is written in one transaction with a valid hash
chain (the per-event API fsyncs each record, which is setup, not what is measured) and checked
with `verify` before timing.

Measured, median of `--runs`: `runbook status --format json`, and beside it `runbook validate`
on the same plan (interpreter and CLI start-up plus loading the plan, which `bench_plan.py`
measures), so the difference is what the event log adds: importing SQLAlchemy, reading the
log, the state machine, the output. In process: `open_log` + `events()` + `status_rows`.
Goal: status under 0.5 s of CPU beyond validate (CPU time, because wall time on a small shared
machine measures the neighbours; both are recorded). Prints the figures, writes
benchmarks/results/status.json, exits 1 over the goal.

    .venv/bin/python benchmarks/bench_status.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy

from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from migration_runbook.states import status_rows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_log import BrokenChain, write_chain  # noqa: E402
from bench_plan import generate_plan  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "status.json"
RUNBOOK = Path(sys.executable).with_name("runbook")
GOAL_SECONDS = 0.5


def script(plan) -> list[tuple[str, str, object]]:
    """(phase, event, at) for a plausible long run."""
    steps = []
    for i, phase in enumerate(plan.phases):
        at = phase.start
        if i < 250:
            names = ["go", "start", "complete"]
            if i == 7:
                names = ["go", "start", "rollback", "rolled-back", "go", "start", "complete"]
            steps += [(phase.id, name, at + timedelta(minutes=k)) for k, name in enumerate(names)]
        steps += [(phase.id, "note", at + timedelta(minutes=30 + k)) for k in range(5)]
    return steps


def write_log(plan, folder: Path) -> int:
    """The script as a valid chain, in one transaction (setup, not measured)."""
    try:
        return write_chain(plan, folder, [(phase, name, at, f"{name} {phase}", {"n": seq})
                                          for seq, (phase, name, at)
                                          in enumerate(script(plan), start=1)])
    except BrokenChain as exc:
        raise SystemExit(str(exc)) from None


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run: CPU time holds steady on a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plan_path = Path(tmp) / "plan.yaml"
        plan_path.write_text(generate_plan(300, 15), encoding="utf-8")
        plan = load_plan(plan_path)
        folder = Path(tmp) / "run"
        count = write_log(plan, folder)
        status_cmd = [str(RUNBOOK), "status", str(plan_path), "--outputs", str(folder),
                      "--format", "json"]
        floor_cmd = [str(RUNBOOK), "validate", str(plan_path)]
        timed(status_cmd)                                   # warm the page cache
        cli, floor, inproc = [], [], []
        for _ in range(args.runs):
            floor.append(timed(floor_cmd))
            cli.append(timed(status_cmd))
            model = load_plan(plan_path)
            started = time.perf_counter()
            with open_log(model, folder) as log:
                rows = status_rows(model, log.events())
            inproc.append(time.perf_counter() - started)
        assert len(rows) == 300
    def median(runs: list[tuple[float, float]], which: int) -> float:
        return round(statistics.median(r[which] for r in runs), 3)

    beyond = median(cli, 0) - median(floor, 0)
    beyond_cpu = median(cli, 1) - median(floor, 1)
    result = {
        "phases": 300, "events": count, "runs": args.runs,
        "status_cli_median_seconds": median(cli, 0),
        "validate_median_seconds": median(floor, 0),
        "beyond_validate_seconds": round(beyond, 3),
        "status_cli_cpu_median_seconds": median(cli, 1),
        "validate_cpu_median_seconds": median(floor, 1),
        "beyond_validate_cpu_seconds": round(beyond_cpu, 3),
        "in_process_median_seconds": round(statistics.median(inproc), 3),
        "goal_seconds": GOAL_SECONDS,
        "python": platform.python_version(), "sqlalchemy": sqlalchemy.__version__,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"runbook status, 300 phases, {count} events: {result['status_cli_median_seconds']} s "
          f"(validate, i.e. start-up and load_plan: {result['validate_median_seconds']} s; "
          f"beyond it {beyond:.3f} s wall, {beyond_cpu:.3f} s CPU, goal < {GOAL_SECONDS} s "
          f"CPU); log read and status rows in process {result['in_process_median_seconds']} s "
          f"-> {RESULTS.relative_to(ROOT)}")
    return 0 if beyond_cpu < GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
