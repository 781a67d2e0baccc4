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

On the night (`runbook risk` with a log, and `runbook status`), each phase is forecast from
where it stands at a moment, as the clock (`clock.clocks`) reads it from the log:
- in progress (basis `live`): a step done or skipped keeps its actual start and end; a
  running step is drawn from its distribution conditioned on having already lasted as long
  as it has (it ends now if that is past its `high`); a step not started (or failed, to be
  tried again) starts when the steps it comes after are done, and not before the moment;
- completed, rolling back or rolled back (basis `decided`): nothing is drawn; a completed
  phase finished when its last step did (or when it completed, if a step was left undone),
  and the chance is 1 or 0; a phase rolled back (or rolling back) never finishes its steps:
  chance 0, no finish time;
- planned, approved or held (basis `plan`): drawn as before the night, from the window's
  start, or from the moment if the window has already begun (its steps cannot start earlier).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import RunbookError
from .progress import FINISHED

if TYPE_CHECKING:
    from .clock import PhaseClock
    from .events import Event
    from .plan import Phase, Plan

DEFAULT_RUNS = 20_000
MAX_RUNS = 1_000_000
MAX_CELLS = 20_000_000
"""Steps x runs of one phase at most: about six float32 arrays of that size are alive at once
(some 500 MB), so a huge phase asks for fewer runs instead of exhausting memory."""
_SLACK = 1e-3
"""Minutes of slack under which a step counts as on the longest path (float32 rounding of
sums of minutes: well under a second)."""
FIT_RUNS = 2_000
"""Runs of the live chance `runbook status` shows: quick (a few milliseconds a phase), and
within about two points of the truth at 80 %."""
FIT_SEED = 0
"""The status draws with a fixed seed, so the same log and moment give the same figures."""
LIVE = "in-progress"
DECIDED = ("completed", "rolling-back", "rolled-back")
"""Phase states whose outcome is known: nothing is drawn for them."""
_GRID = 4097
"""Points of the numeric Beta distribution function used to condition a running PERT step."""


@dataclass(frozen=True)
class PhaseRisk:
    """What the runs say about one phase (minutes after the window's start)."""

    id: str
    runs: int
    p50_minutes: float | None
    p90_minutes: float | None
    p_before_rollback_deadline: float
    criticality: dict[str, float]
    deadline_minutes: float
    window_minutes: float
    finish: np.ndarray | None = None
    """Every run's finish time, when asked for (`keep_samples`), e.g. for a histogram."""
    state: str | None = None
    """The phase's state in the log at the moment (None: forecast from the plan alone)."""
    basis: str = "plan"
    """`plan` (drawn from the estimates), `live` (conditioned on the night so far) or
    `decided` (the outcome is known; `runs` 0, and no finish time for a rollback)."""

    def as_dict(self) -> dict[str, Any]:
        """The `runbook risk --format json` contract for one phase (with a log, `state` and
        `basis` too)."""
        out = {"id": self.id, "runs": self.runs,
               "p50_minutes": _round(self.p50_minutes, 2),
               "p90_minutes": _round(self.p90_minutes, 2),
               "p_before_rollback_deadline": round(self.p_before_rollback_deadline, 4),
               "criticality": {k: round(v, 4) for k, v in self.criticality.items()}}
        if self.state is not None:
            out.update(state=self.state, basis=self.basis)
        return out


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


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


def sample_beyond(rng: np.random.Generator, three_points: Sequence[float], elapsed: float,
                  runs: int, distribution: str = "triangular") -> np.ndarray:
    """(runs,) float32 durations in minutes of a step that has been running for `elapsed`
    minutes: its distribution conditioned on lasting longer than that.

    Inverse transform on the uniform restricted to [F(elapsed), 1]: for the triangular
    distribution F and its inverse in closed form; for PERT the Beta distribution function
    integrated numerically on a fine grid (no closed form, and no scipy). A fixed step, or
    one already past its `high`, ends at the later of its likely duration and now.
    """
    low, likely, high = (float(x) for x in three_points)
    if high <= low or elapsed >= high:
        return np.full(runs, max(likely, elapsed), dtype=np.float32)
    width = high - low
    if distribution == "pert":
        alpha = 1 + 4 * (likely - low) / width
        beta = 1 + 4 * (high - likely) / width
        grid = np.linspace(0.0, 1.0, _GRID)
        density = grid ** (alpha - 1) * (1 - grid) ** (beta - 1)
        cdf = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2)])
        cdf /= cdf[-1]
        floor = float(np.interp(max(elapsed - low, 0.0) / width, grid, cdf))
        u = floor + (1 - floor) * rng.random(runs)
        drawn = low + width * np.interp(u, cdf, grid)
    else:
        left, right = likely - low, high - likely
        if elapsed <= low:
            floor = 0.0
        elif elapsed <= likely:
            floor = (elapsed - low) ** 2 / (width * left)
        else:
            floor = 1 - (high - elapsed) ** 2 / (width * right)
        u = floor + (1 - floor) * rng.random(runs)
        drawn = np.where(u < left / width, low + np.sqrt(u * width * left),
                         high - np.sqrt((1 - u) * width * right))
    return np.maximum(drawn, elapsed).astype(np.float32)


def _walk(order: Sequence[int], after: Sequence[Sequence[int]],
          durations: np.ndarray, fixed: Sequence[float | None] | None = None,
          floor: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(finish of every run, (steps, runs) booleans: the step has no slack in the run).

    `fixed`: step index -> its actual start (a step done, skipped or running), None for a
    step that starts when the steps before it end, and not before `floor` (minutes).
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
        if fixed is not None and fixed[i] is not None:
            start[i] = np.full(runs, fixed[i], dtype=durations.dtype)
        elif len(before) == 1:
            start[i] = end[before[0]]
        elif before:
            start[i] = np.maximum.reduce([end[b] for b in before])
        if floor is not None and (fixed is None or fixed[i] is None):
            start[i] = np.maximum(start[i], np.float32(floor))
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
               distribution: str = "triangular", keep_samples: bool = False, *,
               clock: PhaseClock | None = None, ended: datetime | None = None) -> PhaseRisk:
    """The Monte Carlo of one phase of a valid plan.

    `clock`: the phase on the clock at a moment (`clock.clocks`), to forecast it from where
    it stands then (see the module docstring); `ended`: when its latest attempt ended (for a
    completed phase whose steps were not all finished). Without a clock, from the plan alone.
    """
    points = estimates(phase)
    fixed: list[float | None] | None = None
    floor: float | None = None
    basis = "plan"
    if clock is not None:
        if clock.state in DECIDED:
            return _decided(phase, clock, ended)
        moment = _minutes(clock.as_of - phase.start)
        if clock.state == LIVE:
            basis, floor = "live", moment
        elif moment > 0:
            floor = moment
    graph = phase.graph
    index = {s.id: s.index for s in graph.steps}
    order = [index[i] for i in graph.order]
    after = [[index[a] for a in s.after] for s in graph.steps]
    durations = sample(rng, points, runs, distribution)
    if basis == "live" and clock is not None:
        fixed = _where_steps_stand(phase, clock, points, durations, rng, distribution)
    finish, critical = _walk(order, after, durations, fixed, floor)
    deadline = _minutes(phase.rollback_deadline - phase.start)
    p50, p90 = np.percentile(finish, [50, 90])
    share = critical.mean(axis=1)
    return PhaseRisk(
        id=phase.id, runs=runs, p50_minutes=float(p50), p90_minutes=float(p90),
        p_before_rollback_deadline=float(np.count_nonzero(finish <= deadline + _SLACK) / runs),
        criticality={s.id: float(share[s.index]) for s in graph.steps},
        deadline_minutes=deadline, window_minutes=_minutes(phase.duration),
        finish=finish if keep_samples else None,
        state=None if clock is None else clock.state, basis=basis)


def _where_steps_stand(phase: Phase, clock: PhaseClock, points: np.ndarray,
                       durations: np.ndarray, rng: np.random.Generator, distribution: str
                       ) -> list[float | None]:
    """Step index -> actual start (minutes after the window's start) of each step done,
    skipped or running, None for the others; `durations` rows of those steps replaced by
    their actual duration (done, skipped) or a conditioned draw (running)."""
    fixed: list[float | None] = [None] * len(durations)
    moment = _minutes(clock.as_of - phase.start)
    index = {s.id: s.index for s in phase.graph.steps}
    for step in clock.steps:
        if step.forecast_start is None or step.state not in (*FINISHED, "running"):
            continue
        i = index[step.id]
        start = _minutes(step.forecast_start - phase.start)
        fixed[i] = start
        if step.state == "running":
            durations[i] = sample_beyond(rng, points[i], moment - start, durations.shape[1],
                                         distribution)
        else:
            end = step.forecast_end or clock.as_of
            durations[i] = _minutes(end - step.forecast_start)
    return fixed


def _decided(phase: Phase, clock: PhaseClock, ended: datetime | None) -> PhaseRisk:
    """A phase whose outcome is known: completed (it finished then: chance 1 or 0) or rolled
    back, or rolling back (its steps never finish: chance 0, no finish time)."""
    deadline = _minutes(phase.rollback_deadline - phase.start)
    finish: float | None = None
    if clock.state == "completed":
        ends = [s.actual_end for s in clock.steps if s.state in FINISHED]
        if clock.steps and len(ends) == len(clock.steps) and all(ends):
            finish = _minutes(max(e for e in ends if e is not None) - phase.start)
        else:
            finish = _minutes((ended or clock.as_of) - phase.start)
    fits = finish is not None and finish <= deadline + _SLACK
    return PhaseRisk(id=phase.id, runs=0, p50_minutes=finish, p90_minutes=finish,
                     p_before_rollback_deadline=1.0 if fits else 0.0, criticality={},
                     deadline_minutes=deadline, window_minutes=_minutes(phase.duration),
                     state=clock.state, basis="decided")


def plan_risk(plan: Plan, runs: int = DEFAULT_RUNS, seed: int | None = None,
              phases: Sequence[str] | None = None, keep_samples: bool = False, *,
              clocks: Mapping[str, PhaseClock] | None = None,
              ended: Mapping[str, datetime] | None = None) -> list[PhaseRisk]:
    """The Monte Carlo of every phase (or those named), in plan order.

    Phase k draws from the k-th stream spawned from `seed` (fresh entropy without one), so the
    same seed gives the same figures, and a phase's figures do not depend on the others.
    `clocks` (phase id -> the phase on the clock, `clock.clocks`) and `ended` (phase id -> when
    its latest attempt ended) forecast each phase from where it stands (`log_risk`).
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
                       keep_samples, clock=None if clocks is None else clocks[p.id],
                       ended=(ended or {}).get(p.id)) for p in chosen]


def log_risk(plan: Plan, events: Iterable[Event], as_of: datetime | None = None,
             runs: int = DEFAULT_RUNS, seed: int | None = None,
             phases: Sequence[str] | None = None, keep_samples: bool = False
             ) -> list[PhaseRisk]:
    """`plan_risk` with every phase forecast from where the log says it stands at `as_of`
    (default now): only events dated by then count, as for `runbook status`."""
    from . import times
    from .clock import clocks
    from .states import attempts

    as_of = as_of or times.now()
    seen = [e for e in events if e.at <= as_of]
    ended = {a["phase"]: a["end_utc"] for a in attempts(seen) if a["end_utc"] is not None}
    return plan_risk(plan, runs, seed, phases, keep_samples, clocks=clocks(plan, seen, as_of),
                     ended=ended)


def fit_probability(plan: Plan, phase: Phase, clock: PhaseClock) -> float | None:
    """The chance that a phase in progress finishes its steps by the rollback deadline, from
    where it stands on `clock`: `FIT_RUNS` draws with `FIT_SEED` (what `runbook status`
    shows). None for a phase without steps, or not in progress."""
    if clock.state != LIVE or not phase.steps:
        return None
    result = phase_risk(phase, np.random.default_rng(FIT_SEED), FIT_RUNS,
                        plan.estimates.distribution, clock=clock)
    return result.p_before_rollback_deadline


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
