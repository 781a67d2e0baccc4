"""All the benchmarks in one run (`make bench`): ratios against papermill's floor, a scale curve.

Every figure is a real command run as an operator runs it, timed from outside (wall time, CPU
time and peak memory through `os.wait4`), and set against papermill's own floor measured in the
same run: `papermill` executing a one-cell `print(1)` notebook on the python3 kernel (a kernel
start, one cell, the save). Kernel start-up is that floor; everything above it is ours, and the
ratios hold on a slow or a busy machine where absolute seconds do not.

Measured:
- the floor: median of 3 (after a warm-up run, which is not counted);
- `runbook phase` on the example plan: `review` and `note` (median of 3, one outputs folder),
  `go`, `start`, `complete` in sequence in a fresh outputs folder, and `no-go`, `rollback`,
  `rolled-back` in another (the go and start between them are recorded through the Python
  API), each sequence repeated 3 times; goal: each within 1.5x the floor;
- `runbook risk` (20,000 runs) of a 300-phase x 15-step plan with three-point estimates, beside
  `runbook validate` of it (median of 3): under 2 s of CPU beyond validate;
- `runbook rehearse` of the example plan (12 notebooks and the report): within 8x the floor;
  its report.html at most 5.5 MB (10^6 bytes) with plotly.js embedded exactly once;
- the scale curve: `bench_plan.generate_plan` plans of 10, 100, 300 and 1,000 phases with 15
  steps each, and an event log of go/start/complete for every phase (written through the
  Python API with back-filled times, before timing): `runbook validate`, `schedule --format
  json`, `gantt`, `status --format json` (median of 3 each) and `report` (once a size: a
  kernel, a notebook and nbconvert, seconds a run); goals: 300 phases validate in under 2 s
  and draw (gantt) in under 6 s, and no command grows worse than linearly (time at 1,000
  phases at most 10x, with 1.5x slack, its time at 100).

Peak memory is `ru_maxrss` of the one command's process tree as Linux's `wait4` reports it:
the largest of the command and the children it waited for (such as the kernel it started).

Prints the tables and a PASS/FAIL line a goal, writes everything to
benchmarks/results/bench.json (also when a goal fails), exits 1 if a goal fails.

    .venv/bin/python benchmarks/run.py [--quick] [--runs N] [--output FILE]

`--quick`: sizes 10 and 100 only, one run of each (a smoke run; the 300-phase goals are
skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_plan import generate_plan  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "bench.json"
PLAN = ROOT / "data" / "omni-hosting-2020.yaml"
PHASE = "carrier-connections"
"""The example plan's first phase: no dependencies, no pre-flight checks to wait on."""
BIN = Path(sys.executable).parent
RUNBOOK, PAPERMILL = str(BIN / "runbook"), str(BIN / "papermill")

EVENT_GOAL = 1.5        # a phase event, x the floor
NOTEBOOK_GOAL = 1.25    # the phase notebook under plain papermill, x the floor
STEP_GOAL = 0.25        # a `runbook step` tick, x the floor
STATUS_STEPS_S = 3.0    # `runbook status` of 1,000 phases x 15 steps, 20,000 step events
RISK_RUNS, RISK_PHASES = 20_000, 300
RISK_S = 2.0            # `runbook risk`: 20,000 runs of 300 phases x 15 steps, beyond validate
STEP_SIZES, QUICK_STEP_SIZES = (100, 300, 1000), (10, 100)
TICKED_STEPS = 10       # steps ticked (start, done) a phase: 20 step events a phase
REHEARSAL_GOAL = 8.0    # the whole rehearsal, x the floor
REPORT_MAX_BYTES = 5_500_000
VALIDATE_300_S = 2.0
GANTT_300_S = 6.0
LINEAR_SLACK = 1.5      # time(big)/time(small) may be (big/small) x this
SIZES, QUICK_SIZES = (10, 100, 300, 1000), (10, 100)
STEPS_PER_PHASE = 15
SCALE_COMMANDS = ("validate", "schedule", "gantt", "status", "report")


class BenchFailed(Exception):
    """A benchmarked command failed: its figures mean nothing."""


# --- measuring one command ---------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    """One run of one command."""

    wall: float     # seconds
    cpu: float      # user + system seconds of the command and the children it waited for
    max_rss_kb: int


LAUNCHER = """
import json, os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(out, "w") as f:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
               "max_rss_kb": usage.ru_maxrss}, f)
sys.exit(os.waitstatus_to_exitcode(status))
"""
"""Runs one command and reports its own figures: `os.wait4` on a child of this small process,
so that the peak memory is the command's (a child forked from the bench itself would start
with the bench's memory), and the wall time leaves out the launcher's start-up."""


def run_once(argv: list[str], cwd: Path = ROOT) -> Sample:
    """Run `argv` (an absolute program path first) through `LAUNCHER`; its figures."""
    # Without PYTHONDONTWRITEBYTECODE: an installed package runs from its bytecode, and a
    # command that compiled every module from source at every run measures the compiler.
    env = {k: v for k, v in os.environ.items()
           if k not in ("RUNBOOK_STORE", "PYTHONDONTWRITEBYTECODE")}
    with tempfile.TemporaryDirectory(prefix="run-") as folder:
        figures = Path(folder) / "figures.json"
        err = Path(folder) / "stderr"
        with open(err, "wb") as stderr:
            done = subprocess.run([sys.executable, "-c", LAUNCHER, str(figures), *argv],
                                  cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=stderr)
        if done.returncode != 0 or not figures.exists():
            tail = err.read_text("utf-8", "replace").strip().splitlines()[-5:]
            raise BenchFailed(f"exit {done.returncode}: {' '.join(argv)}: " + " | ".join(tail))
        data = json.loads(figures.read_text())
    return Sample(data["wall"], data["cpu"], data["max_rss_kb"])


@dataclass
class Row:
    """One line of the table: a command, its runs, and its figures against the floor."""

    id: str
    group: str
    label: str
    samples: list[Sample] = field(default_factory=list)
    phases: int | None = None
    goal: str = ""
    ok: bool | None = None
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        return statistics.median(s.wall for s in self.samples) if self.samples else None

    @property
    def cpu(self) -> float | None:
        return statistics.median(s.cpu for s in self.samples) if self.samples else None

    @property
    def max_rss_mb(self) -> float | None:
        return max(s.max_rss_kb for s in self.samples) / 1024 if self.samples else None

    def ratio(self, floor: float | None) -> float | None:
        return self.seconds / floor if self.seconds is not None and floor else None

    def to_json(self, floor: float | None) -> dict[str, Any]:
        ratio = self.ratio(floor)
        return {
            "id": self.id, "group": self.group, "label": self.label, "phases": self.phases,
            "runs": len(self.samples),
            "seconds": _round(self.seconds), "ratio": _round(ratio, 2),
            "cpu_seconds": _round(self.cpu),
            "max_rss_mb": _round(self.max_rss_mb, 1),
            "samples_seconds": [round(s.wall, 3) for s in self.samples],
            "goal": self.goal, "ok": self.ok, "error": self.error, **self.extra,
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class Goal:
    """A goal checked at the end: PASS, FAIL, or SKIP (not measured in this run)."""

    name: str
    ok: bool | None
    detail: str

    @property
    def verdict(self) -> str:
        return "SKIP" if self.ok is None else ("PASS" if self.ok else "FAIL")


# --- the bench ---------------------------------------------------------------------------

class Bench:
    """Collects rows and goals; every section survives another section's failure."""

    def __init__(self, runs: int, sizes: tuple[int, ...], work: Path, console: Console):
        self.runs, self.sizes, self.work, self.console = runs, sizes, work, console
        self.rows: list[Row] = []
        self.goals: list[Goal] = []
        self.floor: float | None = None
        self.report: dict[str, Any] = {}
        self.setup: dict[str, float] = {}
        self.load_start = [round(x, 2) for x in os.getloadavg()]
        self.load_peak = self.load_start[0]

    def row(self, id: str, group: str, label: str, **kw: Any) -> Row:
        row = Row(id, group, label, **kw)
        self.rows.append(row)
        return row

    def measure(self, row: Row, argv: list[str], cwd: Path = ROOT) -> Sample | None:
        """One timed run into `row` (a failure is kept in the row and ends its runs)."""
        self.load_peak = max(self.load_peak, os.getloadavg()[0])
        if row.error:
            return None
        try:
            sample = run_once(argv, cwd)
        except BenchFailed as exc:
            row.error = str(exc)
            return None
        row.samples.append(sample)
        return sample

    def say(self, text: str) -> None:
        self.console.print(Text(f"  {text}", style="dim"))

    # --- the floor -----------------------------------------------------------------------

    def measure_floor(self) -> None:
        import nbformat

        one = self.work / "one-cell.ipynb"
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")], metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3",
                           "language": "python"}})
        nbformat.write(nb, one)

        def argv(n: int | str) -> list[str]:
            return [PAPERMILL, "--no-progress-bar", "-k", "python3", str(one),
                    str(self.work / f"one-cell-{n}.ipynb")]

        self.say("papermill floor: a one-cell notebook")
        row = self.row("floor", "floor", "papermill, one-cell print(1) notebook (the floor)",
                       goal="the baseline of every ratio")
        try:
            run_once(argv("warm"))          # disk cache and bytecode, not counted
        except BenchFailed as exc:
            row.error = str(exc)
        for n in range(max(self.runs, 3)):
            self.measure(row, argv(n))
        self.floor = row.seconds
        row.ok = self.floor is not None
        self.goals.append(Goal("papermill floor measured", row.ok,
                               f"median {self.floor:.2f} s of {len(row.samples)}"
                               if self.floor else row.error))

    # --- phase events --------------------------------------------------------------------

    def phase_argv(self, event: str, outputs: Path) -> list[str]:
        return [RUNBOOK, "phase", str(PLAN), PHASE, event, "--operator", "bench",
                "--reason", f"benchmark {event}", "--outputs", str(outputs)]

    def measure_events(self) -> None:
        from migration_runbook.events import open_log
        from migration_runbook.plan import load_plan

        self.say("runbook phase: review and note")
        review = self.row("phase-review", "phase", f"runbook phase ... {PHASE} review")
        note = self.row("phase-note", "phase", f"runbook phase ... {PHASE} note")
        folder = self.work / "events-review"
        try:
            run_once(self.phase_argv("review", self.work / "events-warm"))   # not counted
        except BenchFailed as exc:
            review.error = str(exc)
        for _ in range(self.runs):
            self.measure(review, self.phase_argv("review", folder))
            self.measure(note, self.phase_argv("note", folder))
        rows = {e: self.row(f"phase-{e}", "phase", f"runbook phase ... {PHASE} {e}")
                for e in ("go", "start", "complete", "no-go", "rollback", "rolled-back")}
        plan = load_plan(PLAN)
        reps = max(self.runs, 1)
        for rep in range(reps):
            self.say(f"runbook phase: go, start, complete / no-go, rollback, rolled-back "
                     f"({rep + 1} of {reps})")
            forward = self.work / f"events-forward-{rep}"
            for event in ("go", "start", "complete"):
                self.measure(rows[event], self.phase_argv(event, forward))
            back = self.work / f"events-rollback-{rep}"
            self.measure(rows["no-go"], self.phase_argv("no-go", back))
            with open_log(plan, back) as log:     # setup, not measured
                log.record(PHASE, "go", "bench", "benchmark setup")
                log.record(PHASE, "start", "bench", "benchmark setup")
            for event in ("rollback", "rolled-back"):
                self.measure(rows[event], self.phase_argv(event, back))
        for row in (review, note, *rows.values()):
            row.goal = f"<= {EVENT_GOAL:g}x floor"
            ratio = row.ratio(self.floor)
            row.ok = ratio is not None and ratio <= EVENT_GOAL
            event = row.id.removeprefix("phase-")
            self.goals.append(Goal(f"phase {event} <= {EVENT_GOAL:g}x the floor", row.ok,
                                   f"{ratio:.2f}x ({row.seconds:.2f} s)" if ratio is not None
                                   else row.error or "no floor"))

    # --- the steps: a tick, the notebook, status on a big log ------------------------------

    def measure_notebook(self) -> None:
        """The phase notebook run by plain papermill (no kernel overlap, as a user would)."""
        self.say("papermill runbooks/phase.ipynb: a review, plain papermill")
        row = self.row("notebook-review", "steps", "papermill runbooks/phase.ipynb (review)",
                       goal=f"<= {NOTEBOOK_GOAL:g}x floor")
        for n in range(max(self.runs, 3)):
            self.measure(row, [PAPERMILL, "--no-progress-bar", "-k", "python3",
                               str(ROOT / "runbooks" / "phase.ipynb"),
                               str(self.work / f"phase-review-{n}.ipynb"), "-p", "plan",
                               str(PLAN), "-p", "phase", PHASE, "-p", "event", "review",
                               "-p", "outputs", str(self.work / "notebook-review")])
        ratio = row.ratio(self.floor)
        row.ok = ratio is not None and ratio <= NOTEBOOK_GOAL
        self.goals.append(Goal(f"phase notebook under papermill <= {NOTEBOOK_GOAL:g}x the "
                               "floor", row.ok, f"{ratio:.2f}x ({row.seconds:.2f} s)"
                               if ratio is not None else row.error or "no floor"))

    def measure_step(self) -> None:
        """`runbook step`: a tick recorded in the log, no notebook."""
        from migration_runbook.events import open_log
        from migration_runbook.plan import load_plan

        self.say("runbook step: start and done of each step")
        row = self.row("step", "steps", f"runbook step ... {PHASE} STEP start|done",
                       goal=f"<= {STEP_GOAL:g}x floor")
        outputs = self.work / "steps"
        plan = load_plan(PLAN)
        with open_log(plan, outputs) as log:            # setup, not measured
            log.record(PHASE, "go", "bench", "benchmark setup")
            log.record(PHASE, "start", "bench", "benchmark setup")
        for step in plan.phase(PHASE).graph.ids[:max(self.runs, 3)]:
            for event in ("start", "done"):
                self.measure(row, [RUNBOOK, "step", str(PLAN), PHASE, step, event,
                                   "--operator", "bench", "--outputs", str(outputs)])
        ratio = row.ratio(self.floor)
        row.ok = ratio is not None and ratio <= STEP_GOAL
        self.goals.append(Goal(f"runbook step <= {STEP_GOAL:g}x the floor", row.ok,
                               f"{ratio:.2f}x ({row.seconds:.2f} s)" if ratio is not None
                               else row.error or "no floor"))

    def measure_step_status(self, quick: bool) -> None:
        """`runbook status` with the clock on plans of N phases x 15 steps and a log of 20
        step events a phase (20,000 at 1,000 phases), one phase still running."""
        sizes = QUICK_STEP_SIZES if quick else STEP_SIZES
        for n in sizes:
            self.say(f"status with steps: {n} phases, {n * TICKED_STEPS * 2} step events")
            folder = self.work / f"steps-{n}"
            folder.mkdir()
            plan_path = folder / "plan.yaml"
            plan_path.write_text(generate_plan(n, STEPS_PER_PHASE), encoding="utf-8")
            started = time.perf_counter()
            count, steps, last = write_step_log(plan_path, folder / "run")
            self.setup[f"step-log-{n}"] = round(time.perf_counter() - started, 2)
            row = self.row(f"status-steps-{n}", "steps", "runbook status (steps, clock)",
                           phases=n)
            row.extra["events"], row.extra["step_events"] = count, steps
            for _ in range(self.runs):
                self.measure(row, [RUNBOOK, "status", str(plan_path), "--outputs",
                                   str(folder / "run"), "--format", "json", "--as-of", last])
        big = next((r for r in self.rows if r.id == f"status-steps-{sizes[-1]}"), None)
        small = next((r for r in self.rows if r.id == f"status-steps-{sizes[0]}"), None)
        if 1000 in sizes and big is not None:
            big.goal = f"< {STATUS_STEPS_S:g} s"
            big.ok = big.seconds is not None and big.seconds < STATUS_STEPS_S
            self.goals.append(Goal(f"status of 1,000 phases x 15 steps, 20,000 step events < "
                                   f"{STATUS_STEPS_S:g} s", big.ok,
                                   f"{big.seconds:.2f} s" if big.seconds else big.error))
        else:
            self.goals.append(Goal(f"status of 1,000 phases with steps < {STATUS_STEPS_S:g} s",
                                   None, "not measured (--quick)"))
        if big is not None and small is not None and big.seconds and small.seconds:
            allowed = sizes[-1] / sizes[0] * LINEAR_SLACK
            growth = big.seconds / small.seconds
            big.extra["growth"] = round(growth, 2)
            self.goals.append(Goal(f"status with steps grows no worse than linearly: "
                                   f"time({sizes[-1]}) <= {allowed:g} x time({sizes[0]})",
                                   growth <= allowed, f"{growth:.2f}x ({small.seconds:.2f} s "
                                   f"-> {big.seconds:.2f} s)"))

    # --- window-fit risk ----------------------------------------------------------------

    def measure_risk(self, quick: bool) -> None:
        """`runbook risk` of a plan of 300 phases x 15 steps, each step with low/high and the
        graph branching, 20,000 runs, beside `runbook validate` of the same plan: the
        difference is the Monte Carlo (plus importing numpy). CPU time for the goal, because
        wall time on a small shared machine measures the neighbours; both are recorded."""
        phases = 30 if quick else RISK_PHASES
        self.say(f"risk: {RISK_RUNS:,} runs of {phases} phases x {STEPS_PER_PHASE} steps")
        folder = self.work / "risk"
        folder.mkdir()
        plan_path = folder / "plan.yaml"
        plan_path.write_text(generate_plan(phases, STEPS_PER_PHASE, three_point=True),
                             encoding="utf-8")
        base = self.row(f"risk-validate-{phases}", "risk", "runbook validate (three-point plan)",
                        phases=phases)
        row = self.row(f"risk-{phases}", "risk", f"runbook risk ({RISK_RUNS:,} runs)",
                       phases=phases)
        for _ in range(self.runs):
            self.measure(base, [RUNBOOK, "validate", str(plan_path)])
            self.measure(row, [RUNBOOK, "risk", str(plan_path), "--runs", str(RISK_RUNS),
                               "--seed", "1", "--format", "json"])
        name = (f"risk: {RISK_RUNS:,} runs of {RISK_PHASES} phases x {STEPS_PER_PHASE} steps "
                f"< {RISK_S:g} s of CPU beyond validate")
        if quick:
            self.goals.append(Goal(name, None, "not measured (--quick)"))
            return
        if row.cpu is None or base.cpu is None:
            self.goals.append(Goal(name, False, row.error or base.error or "no figures"))
            return
        beyond = row.cpu - base.cpu
        row.extra["cpu_beyond_validate"] = round(beyond, 3)
        row.goal = f"< {RISK_S:g} s CPU beyond validate"
        row.ok = beyond < RISK_S
        self.goals.append(Goal(name, row.ok, f"{beyond:.2f} s CPU ({row.seconds:.2f} s wall, "
                                             f"validate {base.seconds:.2f} s)"))

    # --- the rehearsal and its report ----------------------------------------------------

    def measure_rehearsal(self) -> None:
        from plotly.offline import get_plotlyjs

        self.say("runbook rehearse: the whole example migration and the report")
        row = self.row("rehearse", "rehearsal", "runbook rehearse (12 notebooks + report)",
                       goal=f"<= {REHEARSAL_GOAL:g}x floor")
        outputs = self.work / "rehearsal"
        self.measure(row, [RUNBOOK, "rehearse", str(PLAN), "--outputs", str(outputs)])
        ratio = row.ratio(self.floor)
        row.ok = ratio is not None and ratio <= REHEARSAL_GOAL
        self.goals.append(Goal(f"rehearsal <= {REHEARSAL_GOAL:g}x the floor", row.ok,
                               f"{ratio:.2f}x ({row.seconds:.1f} s)" if ratio is not None
                               else row.error or "no floor"))
        page = outputs / "report.html"
        if not page.exists():
            self.goals.append(Goal(f"report <= {REPORT_MAX_BYTES / 1e6:g} MB, plotly.js once",
                                   False, row.error or "no report.html written"))
            return
        html = page.read_text(encoding="utf-8")
        size = page.stat().st_size
        copies = html.count(get_plotlyjs()[:2000])
        self.report = {"bytes": size, "mb": round(size / 1e6, 2), "plotlyjs_copies": copies,
                       "goal_bytes": REPORT_MAX_BYTES}
        row.extra["report_bytes"], row.extra["plotlyjs_copies"] = size, copies
        ok = size <= REPORT_MAX_BYTES and copies == 1
        self.goals.append(Goal(f"rehearsal report <= {REPORT_MAX_BYTES / 1e6:g} MB, "
                               "plotly.js embedded once", ok,
                               f"{size / 1e6:.2f} MB, plotly.js {copies}x"))

    # --- the scale curve -----------------------------------------------------------------

    def measure_scale(self) -> None:
        for n in self.sizes:
            self.say(f"scale: {n} phases, {n * STEPS_PER_PHASE} steps")
            folder = self.work / f"scale-{n}"
            folder.mkdir()
            plan_path = folder / "plan.yaml"
            plan_path.write_text(generate_plan(n, STEPS_PER_PHASE), encoding="utf-8")
            outputs = folder / "run"
            started = time.perf_counter()
            try:
                count, last = write_log(plan_path, outputs)
            except Exception as exc:  # noqa: BLE001  (setup failed: every row says why)
                count, last, error = 0, None, f"event log setup failed: {exc}"
            else:
                error = ""
            self.setup[f"log-{n}"] = round(time.perf_counter() - started, 2)
            commands = {
                "validate": [RUNBOOK, "validate", str(plan_path)],
                "schedule": [RUNBOOK, "schedule", str(plan_path), "--format", "json"],
                "gantt": [RUNBOOK, "gantt", str(plan_path), "-o", str(folder / "gantt.html")],
                "status": [RUNBOOK, "status", str(plan_path), "--outputs", str(outputs),
                           "--format", "json"],
                "report": [RUNBOOK, "report", str(plan_path), "--outputs", str(outputs),
                           "--as-of", last or "2030-01-01T00:00:00Z"],
            }
            for name, argv in commands.items():
                row = self.row(f"{name}-{n}", "scale", f"runbook {name}", phases=n)
                if name in ("status", "report") and error:
                    row.error = error
                    continue
                row.extra["events"] = count if name in ("status", "report") else None
                for _ in range(1 if name == "report" else self.runs):
                    self.measure(row, argv)
            for command, page in (("report", outputs / "report.html"),
                                  ("gantt", folder / "gantt.html")):
                row = self.scale_row(command, n)
                if row is not None and page.exists():
                    row.extra["html_bytes"] = page.stat().st_size
        self.scale_goals()

    def scale_row(self, command: str, n: int) -> Row | None:
        return next((r for r in self.rows if r.id == f"{command}-{n}"), None)

    def scale_goals(self) -> None:
        for command, limit in (("validate", VALIDATE_300_S), ("gantt", GANTT_300_S)):
            row = self.scale_row(command, 300)
            name = f"{command} of 300 phases < {limit:g} s"
            if row is None:
                self.goals.append(Goal(name, None, "not measured (--quick)"))
                continue
            row.goal = f"< {limit:g} s"
            row.ok = row.seconds is not None and row.seconds < limit
            self.goals.append(Goal(name, row.ok, f"{row.seconds:.2f} s" if row.seconds
                                   else row.error))
        small, big = (100, 1000) if {100, 1000} <= set(self.sizes) else \
            (self.sizes[0], self.sizes[-1])
        allowed = big / small * LINEAR_SLACK
        for command in SCALE_COMMANDS:
            a, b = self.scale_row(command, small), self.scale_row(command, big)
            name = (f"{command} grows no worse than linearly: time({big}) <= "
                    f"{allowed:g} x time({small})")
            if not (a and b and a.seconds and b.seconds):
                self.goals.append(Goal(name, False, (a and a.error) or (b and b.error)
                                       or "not measured"))
                continue
            growth = b.seconds / a.seconds
            b.extra["growth"] = round(growth, 2)
            b.goal = f"growth <= {allowed:g}x"
            b.ok = growth <= allowed
            self.goals.append(Goal(name, b.ok, f"{growth:.2f}x ({a.seconds:.2f} s -> "
                                   f"{b.seconds:.2f} s)"))

    def curve(self) -> dict[str, Any]:
        """Per command: seconds and cost a phase at each size, and the marginal cost a phase
        between sizes (which stays flat when the work grows linearly)."""
        out: dict[str, Any] = {}
        for command in SCALE_COMMANDS:
            points = [(n, r.seconds) for n in self.sizes
                      if (r := self.scale_row(command, n)) and r.seconds]
            marginal = [{"from": a, "to": b, "ms_a_phase": round((tb - ta) / (b - a) * 1000, 3)}
                        for (a, ta), (b, tb) in zip(points, points[1:], strict=False)]
            for m, previous in zip(marginal[1:], marginal, strict=False):
                if previous["ms_a_phase"] > 0:
                    m["vs_previous"] = round(m["ms_a_phase"] / previous["ms_a_phase"], 2)
            out[command] = {
                "seconds": {str(n): round(t, 3) for n, t in points},
                "ms_a_phase": {str(n): round(t / n * 1000, 2) for n, t in points},
                "marginal": marginal,
            }
        return out

    # --- output --------------------------------------------------------------------------

    def print_tables(self) -> None:
        table = Table(title=Text("migration-runbook benchmarks (ratios: median wall time / "
                                 "papermill floor)"), title_justify="left")
        for column, justify in (("benchmark", "left"), ("phases", "right"),
                                ("runs", "right"), ("median s", "right"),
                                ("x floor", "right"), ("CPU s", "right"),
                                ("peak MB", "right"), ("goal", "left"), ("", "left")):
            table.add_column(column, justify=justify)
        for r in self.rows:
            ratio = r.ratio(self.floor)
            verdict = "" if r.ok is None else ("PASS" if r.ok else "FAIL")
            if r.error:
                verdict = "ERROR"
            table.add_row(Text(r.label), str(r.phases or ""), str(len(r.samples)),
                          _fmt(r.seconds, 2), _fmt(ratio, 2, "x"), _fmt(r.cpu, 2),
                          _fmt(r.max_rss_mb, 0), Text(r.goal),
                          Text(verdict, style={"PASS": "green", "FAIL": "bold red",
                                               "ERROR": "bold red"}.get(verdict, "")))
        self.console.print(table)
        curve = self.curve()
        scale = Table(title=Text("scale curve: seconds (ms a phase); marginal ms a phase "
                                 "between sizes, and its growth"), title_justify="left")
        scale.add_column("command")
        for n in self.sizes:
            scale.add_column(f"{n}", justify="right")
        scale.add_column("marginal ms/phase", justify="left")
        for command, c in curve.items():
            cells = [f"{c['seconds'][str(n)]:.2f} ({c['ms_a_phase'][str(n)]:g})"
                     if str(n) in c["seconds"] else "-" for n in self.sizes]
            marginal = ", ".join(
                f"{m['from']}->{m['to']}: {m['ms_a_phase']:.2f}"
                + (f" (x{m['vs_previous']:g})" if "vs_previous" in m else "")
                for m in c["marginal"])
            scale.add_row(command, *cells, marginal)
        self.console.print(scale)
        if self.report:
            self.console.print(Text(f"rehearsal report: {self.report['mb']:.2f} MB, plotly.js "
                                    f"embedded {self.report['plotlyjs_copies']}x"))
        for goal in self.goals:
            style = {"PASS": "green", "FAIL": "bold red", "SKIP": "yellow"}[goal.verdict]
            line = Text(f"{goal.verdict} ", style=style)
            line.append(f"{goal.name}: {goal.detail}")
            self.console.print(line)
        for r in self.rows:
            if r.error:
                self.console.print(Text(f"ERROR {r.label} ({r.id}): {r.error}",
                                        style="bold red"))

    def to_json(self, started: datetime, seconds: float, quick: bool) -> dict[str, Any]:
        return {
            "benchmark": "make bench",
            "quick": quick,
            "started_utc": started.isoformat().replace("+00:00", "Z"),
            "duration_seconds": round(seconds, 1),
            "runs": self.runs,
            "sizes": list(self.sizes),
            "machine": machine(),
            "load_average": {"start": self.load_start,
                             "end": [round(x, 2) for x in os.getloadavg()],
                             "peak_1min": round(self.load_peak, 2)},
            "floor_seconds": _round(self.floor),
            "rows": [r.to_json(self.floor) for r in self.rows],
            "scale": self.curve(),
            "report": self.report,
            "setup_seconds": self.setup,
            "goals": [{"goal": g.name, "verdict": g.verdict, "ok": g.ok, "detail": g.detail}
                      for g in self.goals],
            "ok": all(g.ok is not False for g in self.goals)
                  and not any(r.error for r in self.rows),
        }


def _fmt(value: float | None, digits: int, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def write_log(plan_path: Path, outputs: Path) -> tuple[int, str | None]:
    """go, start and complete for every phase, through the Python API at back-filled times
    (go 10 minutes before the window, start on time, complete 15 minutes before its end).
    Returns the number of events and the last one's time (ISO, UTC)."""
    from migration_runbook.events import open_log
    from migration_runbook.plan import load_plan
    from migration_runbook.times import format_iso_utc

    plan = load_plan(plan_path)
    last = None
    with open_log(plan, outputs) as log:
        for phase in plan.phases:
            for event, at in (("go", phase.start - timedelta(minutes=10)),
                              ("start", phase.start),
                              ("complete", phase.end - timedelta(minutes=15))):
                log.record(phase.id, event, "bench", f"benchmark {event}", at=at,
                           source="rehearsal")
                last = at
        count = len(log.events())
    return count, format_iso_utc(last) if last else None


def write_step_log(plan_path: Path, outputs: Path) -> tuple[int, int, str]:
    """A night in progress on every phase of a generated plan: go, start, the first
    `TICKED_STEPS` steps started and done at their planned times, and complete (with a reason:
    the other steps were not ticked), but for the last phase, still running. Written as a
    valid hash chain in one transaction (setup, not measured; the API fsyncs each record).
    Returns (events, step events, the time of the last event, ISO UTC)."""
    from bench_log import BrokenChain, write_chain

    from migration_runbook import times
    from migration_runbook.plan import load_plan

    plan = load_plan(plan_path)
    script = []
    for i, phase in enumerate(plan.phases):
        planned = phase.graph.planned(phase.start)
        script += [(phase.id, "go", phase.start - timedelta(minutes=10), ""),
                   (phase.id, "start", phase.start, "")]
        for step in phase.graph.order[:TICKED_STEPS]:
            script += [(phase.id, "step-start", planned[step][0], step),
                       (phase.id, "step-done", planned[step][1], step)]
        if i < len(plan.phases) - 1:
            script.append((phase.id, "complete", phase.end - timedelta(minutes=15), ""))
    try:
        count = write_chain(plan, outputs, [
            (phase, name, at, "benchmark" if name == "complete" else "",
             {"step": step} if step else {}) for phase, name, at, step in script])
    except BrokenChain as exc:
        raise BenchFailed(str(exc)) from None
    steps = sum(1 for _, name, _, _ in script if name.startswith("step-"))
    return count, steps, times.format_iso_utc(script[-1][2])


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in ("papermill", "nbclient", "jupyter_client", "ipykernel", "nbconvert",
                    "plotly", "pandas", "pydantic", "SQLAlchemy", "PyYAML"):
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            versions[package] = None
    return {"nproc": os.cpu_count(), "cpu_model": cpu or platform.processor(),
            "python": platform.python_version(), "platform": platform.platform(),
            "packages": versions}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="sizes 10 and 100 only, one run of each (a smoke run)")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs of each command (default 3; 1 with --quick)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the JSON file")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    sizes = QUICK_SIZES if args.quick else SIZES
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    started, clock = datetime.now(UTC), time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="runbook-bench-"))
    bench = Bench(runs, sizes, work, console)
    console.print(Text(f"benchmarks: {runs} run(s) each, sizes {', '.join(map(str, sizes))}; "
                       f"{os.cpu_count()} CPUs, load average {bench.load_start[0]:.2f}"))
    try:
        bench.measure_floor()
        bench.measure_events()
        bench.measure_notebook()
        bench.measure_step()
        bench.measure_step_status(args.quick)
        bench.measure_risk(args.quick)
        bench.measure_rehearsal()
        bench.measure_scale()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = bench.to_json(started, time.perf_counter() - clock, args.quick)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    bench.print_tables()
    load = result["load_average"]
    console.print(Text(f"{'ALL GOALS MET' if result['ok'] else 'SOME GOALS FAILED'} in "
                       f"{result['duration_seconds']:.0f} s; load average {load['start'][0]:.2f} "
                       f"at the start, {load['end'][0]:.2f} at the end, peak "
                       f"{load['peak_1min']:.2f}; written to {args.output}"))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
