"""The plan review's "Will it fit?": risk table, finish histograms and criticality ranking."""

from __future__ import annotations

import numpy as np

from migration_runbook import palette
from migration_runbook.fit_charts import bins, criticality_frame, finish_histogram, risk_frame
from migration_runbook.plan import load_plan
from migration_runbook.risk import plan_risk
from tests.conftest import EXAMPLE
from tests.unit.test_risk import one_phase

PARALLEL = ("steps:\n"
            "  - {id: long, name: Restore <b>bold</b>, duration: 120m, low: 60m, high: 240m}\n"
            "  - {id: short, name: Warm caches, duration: 60m, low: 30m, high: 150m, after: []}\n"
            "  - {id: check, name: Check, duration: 10m, after: [long, short]}\n")


def test_bins_sit_on_the_rollback_deadline_and_count_every_run():
    plan = load_plan(EXAMPLE)
    for r in plan_risk(plan, runs=5_000, seed=3, keep_samples=True):
        edges, counts = bins(r)
        assert counts.sum() == r.runs
        assert np.isclose(edges, r.deadline_minutes).any()     # no bar straddles the deadline
        assert edges[0] < r.finish.min() and r.finish.max() <= edges[-1]
        assert len(counts) <= 60


def test_a_run_finishing_right_at_the_deadline_counts_as_by_it(write_plan):
    # one fixed 180-minute step: every run ends exactly at the deadline (240 - 60)
    plan = load_plan(write_plan(one_phase("steps:\n  - {name: a, duration: 180m}\n")))
    (r,) = plan_risk(plan, runs=100, seed=1, keep_samples=True)
    edges, counts = bins(r)
    assert r.p_before_rollback_deadline == 1.0
    assert edges[np.flatnonzero(counts)[0] + 1] == r.deadline_minutes
    fig = finish_histogram(plan, r)
    by, after = fig.data
    assert list(by.y) == [100.0] and len(after.x) == 0


def test_the_histogram_marks_deadline_and_window_end_in_the_palette(write_plan):
    plan = load_plan(write_plan(one_phase(PARALLEL)))
    (r,) = plan_risk(plan, runs=20_000, seed=1, keep_samples=True)
    fig = finish_histogram(plan, r)
    by, after = fig.data
    assert by.marker.color == palette.OUTCOME["completed"].colour
    assert after.marker.color == palette.OUTCOME["rolled-back"].colour
    assert after.marker.pattern.shape == palette.OUTCOME["rolled-back"].pattern
    # shares of runs on each side of the deadline add up to the Monte Carlo's figure
    assert abs(sum(by.y) / 100 - r.p_before_rollback_deadline) < 1e-9
    assert abs(sum(by.y) + sum(after.y) - 100) < 1e-9
    assert max(by.x) < r.deadline_minutes < min(after.x)
    assert sorted(s.x0 for s in fig.layout.shapes) == [r.deadline_minutes, r.window_minutes]
    texts = [a.text for a in fig.layout.annotations]
    assert texts == ["rollback deadline +3h", "window end +4h"]
    assert fig.layout.title.text == (
        f"Phase a<br><span style='font-size:12px'>{r.p_before_rollback_deadline:.0%} of "
        "20,000 runs finish by the rollback deadline</span>")


def test_steps_are_ranked_by_criticality_then_by_the_width_of_their_estimate(write_plan):
    plan = load_plan(write_plan(one_phase(PARALLEL)))
    risks = plan_risk(plan, runs=20_000, seed=1)
    ranking = criticality_frame(plan, risks)
    assert list(ranking.step) == ["check", "long", "short"] or \
        list(ranking.step) == ["long", "check", "short"]
    crit = risks[0].criticality
    assert crit["check"] == 1.0 and 0.5 < crit["long"] < 1 and 0 < crit["short"] < 0.5
    assert list(ranking["rank"]) == [1, 2, 3]
    assert ranking.iloc[-1]["low / likely / high"] == "30m / 1h / 2h 30m"
    assert ranking.iloc[-1]["on the longest path"] == f"{crit['short']:.0%} of runs"
    # plan text stays text (the notebook's Table escapes it)
    assert "Restore <b>bold</b>" in list(ranking.name)


def test_the_risk_table_leaves_out_phases_without_steps(write_plan):
    plan = load_plan(EXAMPLE)
    risks = plan_risk(plan, runs=2_000, seed=1)
    frame = risk_frame(plan, risks)
    assert list(frame.phase) == [p.id for p in plan.phases]
    assert frame.iloc[1]["rollback deadline"] == "+3h"
    assert frame.iloc[1]["finish by the rollback deadline"] == \
        f"{risks[1].p_before_rollback_deadline:.1%}"
    bare = load_plan(write_plan(one_phase("")))
    assert risk_frame(bare, plan_risk(bare, runs=10, seed=1)).empty
