"""Learn step estimates from past nights: actual step durations in event logs -> a new plan.

A step's actual duration, in one attempt of its phase, runs from its first `step-start` to its
`step-done` (a failed try and its retry count: that is what the night took). Steps never done
(skipped, failed, still running) teach nothing.

The rule, per step with data:
- two observations or more: `low` = the shortest, `duration` = the median, `high` = the longest;
- a single observation x: `duration` = x, `low` = 0.75 x, `high` = 1.25 x (one night says
  little about the spread, so the estimate is widened by 25 % each way).
Durations are written in whole minutes (`low` rounded down, `high` up, `duration` to the
nearest, clamped between them). Steps without data keep what they had.

The plan file is rewritten with ruamel.yaml's round trip, so its comments, key order, flow or
block style and quoting stay as they were; only `low`, `duration` and `high` of calibrated
steps change (`low` and `high` are added after `duration` when the step did not have them).
The result must validate before it is written.
"""

from __future__ import annotations

import io
import math
import os
import statistics
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from . import times
from .errors import OutputError, PlanInvalid, RunbookError
from .plan import Plan, load_plan

WIDEN = 0.25
"""How far a single observation is widened each way."""


@dataclass(frozen=True)
class Calibration:
    """Old and new estimates of one step, and the observations behind the new one."""

    phase: str
    step: str
    index: int                      # the step's position in its phase's list
    observed: tuple[timedelta, ...]
    old: tuple[timedelta, timedelta, timedelta]
    new: tuple[timedelta, timedelta, timedelta]


def observed_durations(plan: Plan, events: Iterable[Any]) -> dict[tuple[str, str], list[timedelta]]:
    """(phase id, step id) -> the step's actual durations, one an attempt it was done in."""
    from .progress import replay_steps

    first: dict[tuple[str, int, str], Any] = {}
    out: dict[tuple[str, str], list[timedelta]] = {}
    for run in replay_steps(plan, events).runs:
        key = (run.phase, run.phase_attempt, run.step)
        if run.start is not None:
            first.setdefault(key, run.start)
        if run.outcome == "done" and run.end is not None and key in first:
            out.setdefault((run.phase, run.step), []).append(run.end - first[key])
    return out


def estimate(observed: Sequence[timedelta]) -> tuple[timedelta, timedelta, timedelta]:
    """(low, likely, high) in whole minutes from the observations (see the module's rule)."""
    minutes = [d.total_seconds() / 60 for d in observed]
    if len(minutes) == 1:
        low, likely, high = minutes[0] * (1 - WIDEN), minutes[0], minutes[0] * (1 + WIDEN)
    else:
        low, likely, high = min(minutes), statistics.median(minutes), max(minutes)
    low, high = math.floor(low + 1e-9), math.ceil(high - 1e-9)
    likely = min(max(round(likely), low), high)
    return timedelta(minutes=low), timedelta(minutes=likely), timedelta(minutes=high)


def calibrations(plan: Plan, observed: dict[tuple[str, str], list[timedelta]]
                 ) -> list[Calibration]:
    """One calibration a step with observations, in plan order."""
    out = []
    for phase in plan.phases:
        for graph_step, step in zip(phase.graph.steps, phase.steps, strict=True):
            seen = observed.get((phase.id, graph_step.id))
            if seen:
                out.append(Calibration(phase.id, graph_step.id, graph_step.index, tuple(seen),
                                       step.estimate, estimate(seen)))
    return out


def read_runs(plan: Plan, runs: Sequence[str]) -> list[Any]:
    """The events of every RUN (a run folder holding events.sqlite, or a store URL)."""
    from .events import EventLog
    from .store import LOG_FILE, Store, sqlite_url, unmask

    events: list[Any] = []
    for run in runs:
        if "://" in run:
            store = Store(unmask(run))
        else:
            path = Path(run) / LOG_FILE
            if not path.is_file():
                raise RunbookError(f"--from {run}: no event log there (expected {path})")
            store = Store(sqlite_url(path))
        with EventLog(plan, store) as log:
            found = log.events()
        if not found:
            raise RunbookError(f"--from {run}: the log holds no events of plan '{plan.id}'")
        events.append(found)
    return [e for found in events for e in found]


def _text(delta: timedelta) -> str:
    """A duration as the plan writes it: '45m', '1h30m'."""
    hours, minutes = divmod(int(delta.total_seconds() // 60), 60)
    return f"{hours}h{minutes:02d}m" if hours and minutes else f"{hours}h" if hours \
        else f"{minutes}m"


def rewrite(source: str, changes: Sequence[Calibration]) -> str:
    """The plan's text with the calibrated steps' estimates replaced (round trip)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    _, indent, dash = load_yaml_guess_indent(source)   # the file's own indentation
    # The round-trip loader builds plain maps and lists only (no python tags), like safe_load.
    editor = YAML(typ="rt")
    editor.preserve_quotes = True
    editor.width = 4096                  # never re-wrap the plan's long lines
    indent, dash = indent or 2, dash or 0
    editor.indent(mapping=max(2, indent - dash), sequence=indent, offset=dash)
    data = editor.load(source)
    phase_index = {str(p.get("id")).strip(): i for i, p in enumerate(data["phases"])}
    for change in changes:
        step = data["phases"][phase_index[change.phase]]["steps"][change.index]
        low, likely, high = (_text(d) for d in change.new)
        step["duration"] = likely
        keys = list(step.keys())
        at = keys.index("duration") + 1
        for key, value in (("low", low), ("high", high)):
            if key in step:
                step[key] = value
            else:
                step.insert(at, key, value)
            at += 1
    out = io.StringIO()
    editor.dump(data, out)
    return out.getvalue()


def calibrate(plan_path: str, runs: Sequence[str], output: str) -> list[Calibration]:
    """Write `output`: the plan at `plan_path` with estimates learned from `runs`.

    Refused (nothing written) when the logs teach nothing or the new plan does not validate,
    e.g. its likely durations no longer fit a window with its rollback.
    """
    plan = load_plan(plan_path)
    changes = calibrations(plan, observed_durations(plan, read_runs(plan, runs)))
    if not changes:
        raise RunbookError("no step was done in the logs given: nothing to calibrate")
    text = rewrite(Path(plan_path).read_text(encoding="utf-8-sig"), changes)
    target = Path(output)
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".yaml",
                                        dir=target.parent if str(target.parent) else ".")
    except OSError as exc:
        raise OutputError(f"{output}: cannot be written ({exc.strerror})") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            load_plan(temp)
        except PlanInvalid as exc:
            raise RunbookError(f"{output}: not written: the calibrated plan does not validate: "
                               + "; ".join(e.message if not e.phase else
                                           f"phase '{e.phase}': {e.message}"
                                           for e in exc.errors)) from None
        os.replace(temp, target)
    except OSError as exc:
        raise OutputError(f"{output}: cannot be written ({exc.strerror})") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return changes


def table_rows(changes: Sequence[Calibration]) -> list[list[str]]:
    """phase, step, runs, old low / likely / high, new low / likely / high."""
    def three(points: tuple[timedelta, timedelta, timedelta]) -> str:
        return " / ".join(times.format_duration(d) for d in points)

    return [[c.phase, c.step, str(len(c.observed)), three(c.old), three(c.new)]
            for c in changes]
