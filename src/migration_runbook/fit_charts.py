"""Will it fit? The plan review's view of `risk`: a table, a histogram a phase, a ranking.

Each histogram shows when a phase's steps finish over the Monte Carlo's runs, in minutes after
the window's start, with the rollback deadline and the window's end drawn on it. Bins are
aligned on the rollback deadline and closed on the right, so every bar is wholly on one side:
bluish green for the runs that finish by the deadline, reddish purple and hatched (the palette's
completed and rolled-back) for those that would be rolled back. The rest stays with `risk`.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from . import palette, times
from .timeline import label

if TYPE_CHECKING:
    from .plan import Plan
    from .risk import PhaseRisk

BIN_MINUTES = (1, 2, 5, 10, 15, 30, 60)
"""Bin widths to choose from: the smallest giving at most `MAX_BINS` bins."""
MAX_BINS = 60


def _offset(minutes: float) -> str:
    """'+2h 58m': minutes after the window's start, as the risk table prints them."""
    return "+" + times.format_duration(timedelta(minutes=round(minutes)))


def risk_frame(plan: Plan, risks: list[PhaseRisk], tz: str | None = None) -> pd.DataFrame:
    """One row a phase with steps: median and 90th percentile finish, the rollback deadline
    (after the window's start, and the p90 finish in local time and UTC) and the chance of
    finishing by the deadline."""
    zone = plan.display_zone(tz)
    rows = []
    for r in risks:
        phase = plan.phase(r.id)
        if not phase.steps:
            continue
        rows.append({
            "phase": r.id, "p50 finish": _offset(r.p50_minutes),
            "p90 finish": _offset(r.p90_minutes),
            "p90 finish at": times.format_both(
                phase.start + timedelta(minutes=r.p90_minutes), zone),
            "rollback deadline": _offset(r.deadline_minutes),
            "finish by the rollback deadline": f"{r.p_before_rollback_deadline:.1%}",
            "runs": f"{r.runs:,}"})
    return pd.DataFrame(rows)


def bins(risk: PhaseRisk) -> tuple[np.ndarray, np.ndarray]:
    """(edges, counts) of the finish times: edges on the rollback deadline's grid, each bin
    (a, b] so that a run finishing right at the deadline counts as finishing by it."""
    if risk.finish is None:
        raise ValueError("bins need the runs' finish times (plan_risk(keep_samples=True))")
    finish = np.asarray(risk.finish, dtype=np.float64)
    low, high = float(finish.min()), float(finish.max())
    span = max(high - low, 1.0)
    width = next((w for w in BIN_MINUTES if span / w <= MAX_BINS), BIN_MINUTES[-1])
    deadline = risk.deadline_minutes
    first = deadline - width * math.ceil((deadline - low) / width + 1e-9)
    if first >= low:
        first -= width
    count = max(1, math.ceil((high - first) / width - 1e-9))
    edges = first + width * np.arange(count + 1, dtype=np.float64)
    where = np.clip(np.searchsorted(edges, finish, side="left") - 1, 0, count - 1)
    return edges, np.bincount(where, minlength=count)


def finish_histogram(plan: Plan, risk: PhaseRisk) -> go.Figure:
    """The share of runs finishing in each bin, the rollback deadline and window end marked."""
    phase = plan.phase(risk.id)
    edges, counts = bins(risk)
    centres = (edges[:-1] + edges[1:]) / 2
    width = float(edges[1] - edges[0])
    share = counts / max(risk.runs, 1) * 100
    fig = go.Figure()
    for name, outcome, side in (("finish by the rollback deadline", "completed",
                                 edges[1:] <= risk.deadline_minutes + 1e-9),
                                ("finish after it: rolled back", "rolled-back",
                                 edges[1:] > risk.deadline_minutes + 1e-9)):
        keep = side & (counts > 0)
        fig.add_bar(x=centres[keep], y=share[keep], width=width, name=name,
                    marker=palette.OUTCOME[outcome].marker(),
                    customdata=np.stack([edges[:-1][keep], edges[1:][keep]], axis=-1),
                    hovertemplate="%{customdata[0]:.0f} to %{customdata[1]:.0f} min: "
                                  "%{y:.1f}% of runs<extra></extra>")
    marks = [(risk.deadline_minutes, "rollback deadline", "dash"),
             (risk.window_minutes, "window end", "solid")]
    for minutes, text, dash in marks:   # labelled above the plot, left of their line
        fig.add_vline(x=minutes, layer="above",
                      line=dict(color=palette.DEADLINE, width=2.5, dash=dash),
                      annotation=dict(text=f"{text} {_offset(minutes)}", font=dict(size=11),
                                      yref="paper", y=1, yanchor="bottom", xanchor="right"))
    ticks = np.arange(0, max(float(edges[-1]), risk.window_minutes) + 31, 30)
    fig.update_layout(
        title=dict(text=f"{label(phase.name)}<br><span style='font-size:12px'>"
                        f"{risk.p_before_rollback_deadline:.0%} of {risk.runs:,} runs finish "
                        "by the rollback deadline</span>", font=dict(size=15)),
        bargap=0.05, height=350, margin=dict(l=60, r=30, t=90, b=50), plot_bgcolor="white",
        legend=dict(orientation="h", y=-0.25, font=dict(size=11)),
        xaxis=dict(title=dict(text="steps finish, after the window's start", standoff=4),
                   tickvals=ticks, ticktext=[_offset(t) for t in ticks], gridcolor="#e5e8eb",
                   range=[min(float(edges[0]), risk.deadline_minutes) - width,
                          max(float(edges[-1]), risk.window_minutes) + width]),
        yaxis=dict(title=dict(text="% of runs"), gridcolor="#e5e8eb", rangemode="tozero"))
    return fig


def criticality_frame(plan: Plan, risks: list[PhaseRisk]) -> pd.DataFrame:
    """Per phase, its steps ranked by criticality (the share of runs in which the step is on
    the longest path); ties by the width of the estimate, the wider first."""
    rows: list[dict[str, Any]] = []
    for r in risks:
        phase = plan.phase(r.id)
        by_id = {s.id: phase.steps[s.index] for s in phase.graph.steps}
        spread = {i: step.estimate[2] - step.estimate[0] for i, step in by_id.items()}
        ranked = sorted(r.criticality, key=lambda i: (-r.criticality[i], -spread[i]))
        for rank, step_id in enumerate(ranked, start=1):
            step = by_id[step_id]
            low, likely, high = step.estimate
            rows.append({"phase": r.id, "rank": rank, "step": step_id, "name": step.name,
                         "owner": step.owner,
                         "low / likely / high": " / ".join(
                             times.format_duration(d) for d in (low, likely, high)),
                         "on the longest path": f"{r.criticality[step_id]:.0%} of runs"})
    return pd.DataFrame(rows)
