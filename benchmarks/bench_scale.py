"""Benchmark: plans that used to take quadratic time.

Two shapes, each generated, written to a temporary file and run through the real `runbook`
command in a fresh process (time and peak resident memory from `getrusage`):
- `overlap`: N independent phases all in the same window (every pair overlaps);
- `chain`: N phases, each depending on the one before, one window a night.

    .venv/bin/python benchmarks/bench_scale.py overlap 1000 2000
    .venv/bin/python benchmarks/bench_scale.py chain 5000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

RUNBOOK = Path(sys.executable).with_name("runbook")


def generate(shape: str, phases: int) -> str:
    """YAML text of a valid plan of `phases` phases of the given shape."""
    lines = ["id: bench-scale", "title: Generated plan", "timezone: UTC", "services:",
             "  - {id: api, name: API}", "phases:"]
    first = datetime(2030, 3, 1, 21, 0)
    for i in range(phases):
        start = first if shape == "overlap" else first + timedelta(days=i)
        end = start + timedelta(hours=4)
        depends = f"[p{i - 1}]" if shape == "chain" and i else "[]"
        lines += [f"  - id: p{i}", f"    name: Phase {i}",
                  f"    start: {start:%Y-%m-%d %H:%M}", f"    end: {end:%Y-%m-%d %H:%M}",
                  f"    depends_on: {depends}",
                  "    impacts: [{service: api, level: degraded}]",
                  "    rollback: {duration: 30m, plan: Undo.}"]
    return "\n".join(lines) + "\n"


def measure(args: list[str]) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds, peak RSS in MB and exit status of `runbook ARGS` (its own
    output discarded)."""
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child runs runbook, so the rusage is runbook's alone
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.execv(str(RUNBOOK), [str(RUNBOOK), *args])
    _, status, usage = os.wait4(pid, 0)
    return (time.perf_counter() - started, usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=["overlap", "chain"])
    parser.add_argument("sizes", nargs="+", type=int)
    options = parser.parse_args()
    commands = {"overlap": [["validate", "{plan}"]],
                "chain": [["validate", "{plan}"],
                          ["notices", "{plan}", "reminder", "--phase", "p0"],
                          ["ics", "{plan}", "-o", "{out}"]]}[options.shape]
    with tempfile.TemporaryDirectory() as folder:
        for size in options.sizes:
            plan = Path(folder) / f"{options.shape}-{size}.yaml"
            plan.write_text(generate(options.shape, size))
            for command in commands:
                args = [a.format(plan=plan, out=Path(folder) / "out.ics") for a in command]
                wall, cpu, peak, code = measure(args)
                print(f"{options.shape:8} {size:6} runbook {command[0]:9} {wall:8.2f} s wall "
                      f"{cpu:8.2f} s CPU {peak:7.0f} MB  exit {code}", flush=True)


if __name__ == "__main__":
    main()
