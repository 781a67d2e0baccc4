"""Will it fit? A Monte Carlo over each phase's step graph, from three-point estimates.

A step has a likely `duration` and may have `low` and `high` beside it (each defaulting to
`duration`). Every run draws every step's duration from the plan's distribution
(`estimates.distribution`):

- triangular (default): density rising linearly from `low` to the likely duration and
  falling to `high`; mean (low + likely + high) / 3;
- pert: low + (high - low) * Beta(alpha, beta) with alpha = 1 + 4 (likely - low) / (high - low)
  and beta = 1 + 4 (high - likely) / (high - low); mean (low + 4 likely + high) / 6.

A step with `low == high` always takes its likely duration. Each run, every step starts as
soon as the steps it comes after are done (`steps`), and the phase's steps finish with the
longest path. Per phase this reports the finish time's median and 90th percentile (minutes
after the window's start), the chance of finishing by the rollback deadline, and each step's
criticality: the fraction of runs in which it has no slack, i.e. lies on a longest path.

Vectorised: one array of all runs a step, the graph walked once in topological order over
arrays (a forward pass for the earliest finish, a backward one for the latest), never a Python
loop per run. The runs of phase k use the k-th stream spawned from the seed, so a phase's
result does not depend on the phases before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import RunbookError

if TYPE_CHECKING:
    from .plan import Phase, Plan

DEFAULT_RUNS = 20_000
MAX_RUNS = 1_000_000
MAX_CELLS = 20_000_000
"""Steps x runs of one phase at most: about six float32 arrays of that size are alive at once
(some 500 MB), so a huge phase asks for fewer runs instead of exhausting memory."""
_SLACK = 1e-3
"""Minutes of slack under which a step counts as on the longest path (float32 rounding of
sums of minutes: well under a second)."""


@dataclass(frozen=True)
class PhaseRisk:
    """What the runs say about one phase (minutes after the window's start)."""

    id: str
    runs: int
    p50_minutes: float
    p90_minutes: float
    p_before_rollback_deadline: float
    criticality: dict[str, float]
    deadline_minutes: float
    window_minutes: float
    finish: np.ndarray | None = None
    """Every run's finish time, when asked for (`keep_samples`), e.g. for a histogram."""

    def as_dict(self) -> dict[str, Any]:
        """The `runbook risk --format json` contract for one phase."""
        return {"id": self.id, "runs": self.runs,
                "p50_minutes": round(self.p50_minutes, 2),
                "p90_minutes": round(self.p90_minutes, 2),
                "p_before_rollback_deadline": round(self.p_before_rollback_deadline, 4),
                "criticality": {k: round(v, 4) for k, v in self.criticality.items()}}


def _minutes(delta: Any) -> float:
    return delta.total_seconds() / 60


def estimates(phase: Phase) -> np.ndarray:
    """(steps, 3) array of (low, likely, high) minutes, in the phase's plan order."""
    rows = [[_minutes(d) for d in step.estimate] for step in phase.steps]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), 3)


def sample(rng: np.random.Generator, three_points: np.ndarray, runs: int,
           distribution: str = "triangular") -> np.ndarray:
    """(steps, runs) float32 durations in minutes, every run of every step drawn at once.

    Triangular draws use the min-max method (Stein and Keblis, 2009): with U, V uniform on
    [0, 1], (1 - m) min(U, V) + m max(U, V) is triangular on [0, 1] with mode m. It needs no
    square root and no branch, which makes it several times faster than the inverse of the
    distribution function over arrays. Minutes in float32 are exact to well under a second.
    """
    points = np.asarray(three_points, dtype=np.float32)
    low, likely, high = (points[:, k:k + 1] for k in range(3))
    width = high - low
    if distribution == "pert":
        out = np.empty((len(points), runs), dtype=np.float32)
        out[:] = likely
        varies = (width > 0).ravel()    # Beta needs a width; a fixed step is its duration
        if varies.any():
            low, likely, high, width = low[varies], likely[varies], high[varies], width[varies]
            alpha = 1 + 4 * (likely - low) / width
            beta = 1 + 4 * (high - likely) / width
            out[varies] = low + width * rng.beta(alpha, beta, size=(len(low), runs))
        return out
    # low + width min + (likely - low) (max - min); a fixed step (width 0) comes out as low.
    u = rng.random((2, len(points), runs), dtype=np.float32)
    smaller = np.minimum(u[0], u[1])
    larger = np.maximum(u[0], u[1], out=u[1])
    larger -= smaller
    larger *= likely - low
    smaller *= width
    smaller += larger
    smaller += low
    return smaller


def _walk(order: Sequence[int], after: Sequence[Sequence[int]],
          durations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(finish of every run, (steps, runs) booleans: the step has no slack in the run).

    Arrays are shared, not copied, where a step has a single step before (or after) it.
    """
    steps, runs = durations.shape
    if steps == 0:
        return np.zeros(runs, dtype=durations.dtype), np.zeros((0, runs), dtype=bool)
    zero = np.zeros(runs, dtype=durations.dtype)
    start: list[np.ndarray] = [zero] * steps
    end: list[np.ndarray] = [zero] * steps
    followers: list[list[int]] = [[] for _ in range(steps)]
    for i in order:
        before = after[i]
        if len(before) == 1:
            start[i] = end[before[0]]
        elif before:
            start[i] = np.maximum.reduce([end[b] for b in before])
        end[i] = start[i] + durations[i]
        for b in before:
            followers[b].append(i)
    finish = np.maximum.reduce(end) if steps > 1 else end[0]
    latest_start: list[np.ndarray] = [zero] * steps
    critical = np.empty((steps, runs), dtype=bool)
    for i in reversed(order):
        later = followers[i]
        if not later:
            latest_end = finish
        elif len(later) == 1:
            latest_end = latest_start[later[0]]
        else:
            latest_end = np.minimum.reduce([latest_start[k] for k in later])
        latest_start[i] = latest_end - durations[i]
        np.less_equal(latest_start[i] - start[i], _SLACK, out=critical[i])
    return finish, critical


def phase_risk(phase: Phase, rng: np.random.Generator, runs: int = DEFAULT_RUNS,
               distribution: str = "triangular", keep_samples: bool = False) -> PhaseRisk:
    """The Monte Carlo of one phase of a valid plan."""
    graph = phase.graph
    index = {s.id: s.index for s in graph.steps}
    order = [index[i] for i in graph.order]
    after = [[index[a] for a in s.after] for s in graph.steps]
    durations = sample(rng, estimates(phase), runs, distribution)
    finish, critical = _walk(order, after, durations)
    deadline = _minutes(phase.rollback_deadline - phase.start)
    p50, p90 = np.percentile(finish, [50, 90])
    share = critical.mean(axis=1)
    return PhaseRisk(
        id=phase.id, runs=runs, p50_minutes=float(p50), p90_minutes=float(p90),
        p_before_rollback_deadline=float(np.count_nonzero(finish <= deadline + _SLACK) / runs),
        criticality={s.id: float(share[s.index]) for s in graph.steps},
        deadline_minutes=deadline, window_minutes=_minutes(phase.duration),
        finish=finish if keep_samples else None)


def plan_risk(plan: Plan, runs: int = DEFAULT_RUNS, seed: int | None = None,
              phases: Sequence[str] | None = None, keep_samples: bool = False
              ) -> list[PhaseRisk]:
    """The Monte Carlo of every phase (or those named), in plan order.

    Phase k draws from the k-th stream spawned from `seed` (fresh entropy without one), so the
    same seed gives the same figures, and a phase's figures do not depend on the others.
    """
    if not 1 <= runs <= MAX_RUNS:
        raise RunbookError(f"--runs must be between 1 and {MAX_RUNS:,}, not {runs}")
    chosen = [plan.phase(p) for p in phases] if phases else list(plan.phases)
    biggest = max(chosen, key=lambda p: len(p.steps))
    if len(biggest.steps) * runs > MAX_CELLS:
        raise RunbookError(f"--runs {runs}: phase '{biggest.id}' has {len(biggest.steps)} steps; "
                           f"at most {MAX_CELLS // len(biggest.steps):,} runs fit in memory")
    position = {p.id: k for k, p in enumerate(plan.phases)}
    streams = np.random.SeedSequence(seed).spawn(len(plan.phases))
    distribution = plan.estimates.distribution
    return [phase_risk(p, np.random.default_rng(streams[position[p.id]]), runs, distribution,
                       keep_samples) for p in chosen]


def draw_durations(plan: Plan, seed: int) -> dict[str, dict[str, timedelta]]:
    """One night's step durations (phase id -> step id -> duration), drawn reproducibly.

    The first run of `plan_risk(plan, runs=1, seed=seed)`, phase by phase from the same
    streams, rounded to whole minutes as people time a step; a rehearsal with `--seed` plays
    these instead of the likely durations.
    """
    streams = np.random.SeedSequence(seed).spawn(len(plan.phases))
    distribution = plan.estimates.distribution
    out: dict[str, dict[str, timedelta]] = {}
    for phase, stream in zip(plan.phases, streams, strict=True):
        drawn = sample(np.random.default_rng(stream), estimates(phase), 1, distribution)[:, 0]
        out[phase.id] = {s.id: timedelta(minutes=round(float(drawn[s.index])))
                         for s in phase.graph.steps}
    return out
