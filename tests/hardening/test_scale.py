"""Plans shaped to make the tool quadratic stay near-linear: overlapping windows are reported
as bounded groups, and what looks a phase up for every phase does it in constant time.

Growth is measured in CPU time (`process_time`) between a size and four times that size, so a
loaded machine does not fail the test: linear work grows about 4x, quadratic work 16x.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

from migration_runbook.calendar import ics_bytes
from migration_runbook.notices import _dependents, phase_label, render_notice
from migration_runbook.plan import (
    MAX_OVERLAP_NAMED,
    MAX_OVERLAP_WARNINGS,
    load_plan,
    load_plan_with_warnings,
)
from tests.hardening.conftest import runbook


def plan_text(phases: int, shape: str, groups: int = 1) -> str:
    """`shape` 'overlap': `phases` independent phases spread over `groups` windows that do
    not touch; 'chain': each phase depends on the one before, one window a day."""
    lines = ["id: scale", "title: Scale", "timezone: UTC", "services:",
             "  - {id: api, name: API}", "phases:"]
    first = datetime(2030, 3, 1, 21, 0)
    for i in range(phases):
        day = i % groups if shape == "overlap" else i
        start = first + timedelta(days=day, minutes=i % 7)
        depends = f"[p{i - 1}]" if shape == "chain" and i else "[]"
        lines += [f"  - id: p{i}", f"    name: Phase {i}",
                  f"    start: {start:%Y-%m-%d %H:%M}",
                  f"    end: {start + timedelta(hours=4):%Y-%m-%d %H:%M}",
                  f"    depends_on: {depends}",
                  "    impacts: [{service: api, level: degraded}]",
                  "    rollback: {duration: 30m, plan: Undo.}"]
    return "\n".join(lines) + "\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _cpu(work, repeat: int = 3) -> float:
    """The least CPU time of `repeat` runs: a garbage collection or a busy machine only ever
    adds time, so the minimum is the figure to compare (as timeit advises)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def test_phases_in_one_window_are_one_warning_naming_a_bounded_few(tmp_path):
    path = _write(tmp_path, "one.yaml", plan_text(300, "overlap"))
    _, warnings = load_plan_with_warnings(path)
    assert len(warnings) == 1
    text = str(warnings[0])
    assert text.startswith(f"{path}:")
    assert "phase 'p7': warning: the windows of 300 independent phases overlap between " in text
    assert text.count("'p") == MAX_OVERLAP_NAMED + 1 and text.endswith(" and 290 more")


def test_two_overlapping_windows_keep_the_pair_warning(tmp_path):
    path = _write(tmp_path, "pair.yaml", plan_text(2, "overlap"))
    _, warnings = load_plan_with_warnings(path)
    assert [w.message for w in warnings] == [
        "warning: window overlaps independent phase 'p0' (Fri 1 Mar 21:00 UTC to Sat 2 Mar "
        "01:00 UTC)"]


def test_the_warnings_printed_are_bounded(tmp_path):
    groups = MAX_OVERLAP_WARNINGS + 15
    path = _write(tmp_path, "many.yaml", plan_text(groups * 3, "overlap", groups=groups))
    result = runbook("validate", path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == MAX_OVERLAP_WARNINGS + 1
    assert lines[-1] == f"{path}: warning: 15 more groups of overlapping windows (45 phases) " \
        "not listed"


def test_checking_overlaps_grows_linearly(tmp_path):
    small = _write(tmp_path, "small.yaml", plan_text(250, "overlap"))
    large = _write(tmp_path, "large.yaml", plan_text(1000, "overlap"))
    load_plan(small)  # warm imports and caches
    ratio = _cpu(lambda: load_plan_with_warnings(large)) / \
        max(_cpu(lambda: load_plan_with_warnings(small)), 1e-3)
    assert ratio < 8, ratio  # quadratic: about 16


def test_calendar_and_reminder_of_a_long_chain_grow_linearly(tmp_path):
    small = load_plan(_write(tmp_path, "small.yaml", plan_text(500, "chain")))
    large = load_plan(_write(tmp_path, "large.yaml", plan_text(2000, "chain")))

    def work(plan):
        return lambda: (ics_bytes(plan), render_notice(plan, "reminder", phase="p0"),
                        _dependents(plan, "p0"))

    work(small)()
    ratio = _cpu(work(large)) / max(_cpu(work(small)), 1e-3)
    assert ratio < 8, ratio
    assert _dependents(large, "p1997") == {"p1998", "p1999"}
    assert phase_label(large, large.phases[1999]) == "Phase 2000: Phase 1999"
    # A copy with other phases does not answer from the original's index.
    copy = large.model_copy(update={"phases": large.phases[1:]})
    assert copy.phase("p1") is large.phases[1] and copy.position("p1") == 0
