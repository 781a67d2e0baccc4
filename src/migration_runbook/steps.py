"""The step graph of a phase: step ids, what each waits for, their order and critical path.

A phase's steps form a small directed acyclic graph. Each step has an `id` (default its
1-based position, "1", "2", ...) and `after`, the ids of the steps that must be done or
skipped before it may start (default: the step before it, so a plan written as a list means a
chain; `after: []` starts with the window). `duration` is the likely duration.

Everything here is pure arithmetic on durations (offsets from the phase's start), so that the
forecast (`clock`), the plan's validation and a Monte Carlo over other durations (one
`durations` mapping per draw) share one implementation of the graph.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plan import Phase, Step

Problem = tuple[tuple[str | int, ...], str]
"""A broken rule: the path of the offending field inside the phase, and a one-line message."""


@dataclass(frozen=True)
class GraphStep:
    """One step with its defaults resolved: id, what it waits for, its likely duration."""

    index: int              # 0-based position in the phase's list
    id: str
    name: str
    owner: str
    duration: timedelta
    after: tuple[str, ...]


@dataclass(frozen=True)
class StepGraph:
    """A phase's steps as a graph: resolved ids and `after`, order and critical path.

    Built by `graph_of` (valid plans) or `resolve` (any list of steps, with its problems).
    `order` is a topological order (each step after everything it waits for, ties in plan
    order); it is empty when the graph has a cycle or an unknown id.
    """

    steps: tuple[GraphStep, ...]
    order: tuple[str, ...]

    @cached_property
    def ids(self) -> list[str]:
        return [s.id for s in self.steps]

    @cached_property
    def by_id(self) -> dict[str, GraphStep]:
        return {s.id: s for s in self.steps}

    def __len__(self) -> int:
        return len(self.steps)

    def successors(self) -> dict[str, list[str]]:
        """Step id -> the ids of the steps waiting for it, in plan order."""
        out: dict[str, list[str]] = {s.id: [] for s in self.steps}
        for step in self.steps:
            for before in step.after:
                out[before].append(step.id)
        return out

    def earliest(self, durations: Mapping[str, timedelta] | None = None
                 ) -> dict[str, tuple[timedelta, timedelta]]:
        """Step id -> (start, end) as offsets from the phase's start, each step starting as
        soon as what it waits for is done. `durations` replaces the planned ones (by id)."""
        durations = durations or {}
        by_id = self.by_id
        slots: dict[str, tuple[timedelta, timedelta]] = {}
        for step_id in self.order:
            step = by_id[step_id]
            start = max((slots[a][1] for a in step.after), default=timedelta())
            slots[step_id] = (start, start + durations.get(step_id, step.duration))
        return slots

    def critical_path(self, durations: Mapping[str, timedelta] | None = None) -> list[str]:
        """The ids of the longest chain of durations, first to last ([] without steps).

        Ties go to the step listed first in the plan, so the answer is stable.
        """
        if not self.order:
            return []
        slots = self.earliest(durations)
        by_id = self.by_id
        position = {s.id: s.index for s in self.steps}
        end = max(slots.values(), key=lambda slot: slot[1])[1]
        current = min((i for i in slots if slots[i][1] == end), key=position.__getitem__)
        path = [current]
        while by_id[current].after:
            start = slots[current][0]
            current = min((a for a in by_id[current].after if slots[a][1] == start),
                          key=position.__getitem__)
            path.append(current)
        return path[::-1]

    def length(self, durations: Mapping[str, timedelta] | None = None) -> timedelta:
        """How long the steps take when each starts as soon as it may: the critical path."""
        slots = self.earliest(durations)
        return max((end for _, end in slots.values()), default=timedelta())

    def planned(self, start: datetime) -> dict[str, tuple[datetime, datetime]]:
        """Step id -> planned (start, end) in UTC for a window that starts at `start`."""
        return {i: (start + a, start + b) for i, (a, b) in self.earliest().items()}


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value.strip() if isinstance(value, str) else None


def resolve(steps: Sequence[Step | Mapping[str, Any]]) -> tuple[StepGraph, list[Problem]]:
    """The graph of `steps` (models or raw mappings) and every broken rule in it.

    Rules: ids unique in the phase; `after` names steps of the same phase, not the step
    itself; no cycles. Paths are relative to the phase: ("steps", 2, "after", 0).
    """
    problems: list[Problem] = []
    resolved: list[GraphStep] = []
    seen: dict[str, int] = {}
    previous: str | None = None
    for index, step in enumerate(steps):
        get = step.get if isinstance(step, Mapping) else (lambda k, s=step: getattr(s, k, None))
        raw_id = get("id")
        step_id = _text(raw_id) if raw_id is not None else str(index + 1)
        if not step_id:
            step_id = f"#{index + 1}"   # reported by the model; keep the graph going
        if step_id in seen:
            problems.append((("steps", index, "id"), f"duplicate step id '{step_id}' (also "
                                                     f"step #{seen[step_id] + 1})"))
        seen.setdefault(step_id, index)
        raw_after = get("after")
        if raw_after is None:
            after = (previous,) if previous is not None else ()
        elif isinstance(raw_after, list | tuple):
            after = tuple(a for a in (_text(x) for x in raw_after) if a)
        else:
            after = ()
        duration = get("duration")
        resolved.append(GraphStep(index, step_id, str(get("name") or ""), str(get("owner") or ""),
                                  duration if isinstance(duration, timedelta) else timedelta(),
                                  tuple(dict.fromkeys(after))))
        previous = step_id
    unique: dict[str, GraphStep] = {}
    for step in resolved:
        unique.setdefault(step.id, step)    # the first step of a duplicated id
    bad = False
    for step in resolved:
        for k, before in enumerate(step.after):
            if before == step.id:
                problems.append((("steps", step.index, "after", k),
                                 f"step '{step.id}' cannot come after itself"))
                bad = True
            elif before not in unique:
                problems.append((("steps", step.index, "after", k),
                                 f"step '{step.id}' comes after unknown step '{before}' "
                                 f"(steps: {', '.join(unique) or 'none'})"))
                bad = True
    if bad or len(unique) != len(resolved):
        return StepGraph(tuple(resolved), ()), problems
    order, cycle = _order(resolved)
    if cycle:
        first = min(cycle, key=lambda i: unique[i].index)
        at = cycle.index(first)
        cycle = cycle[at:] + cycle[:at]
        problems.append((("steps", unique[first].index, "after"),
                         "step cycle: " + " -> ".join(cycle + [first]) +
                         " (each comes after the next)"))
        return StepGraph(tuple(resolved), ()), problems
    return StepGraph(tuple(resolved), tuple(order)), problems


def _order(steps: list[GraphStep]) -> tuple[list[str], list[str]]:
    """(topological order with ties in plan order, []) or ([], a cycle of ids)."""
    waiting = {s.id: len(s.after) for s in steps}
    followers: dict[str, list[str]] = {s.id: [] for s in steps}
    for s in steps:
        for before in s.after:
            followers[before].append(s.id)
    position = {s.id: s.index for s in steps}
    ready = [(position[i], i) for i, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, current = heapq.heappop(ready)
        order.append(current)
        for follower in followers[current]:
            waiting[follower] -= 1
            if waiting[follower] == 0:
                heapq.heappush(ready, (position[follower], follower))
    if len(order) == len(steps):
        return order, []
    # A cycle among what is left: walk `after` links until a step repeats.
    left = {s.id: s for s in steps if s.id not in set(order)}
    current = min(left, key=position.__getitem__)
    walk: list[str] = []
    while current not in walk:
        walk.append(current)
        current = next(a for a in left[current].after if a in left)
    return [], walk[walk.index(current):]   # each step comes after the next


def graph_of(phase: Phase) -> StepGraph:
    """The step graph of a phase of a valid plan (cached on the phase)."""
    return phase.graph
