"""Diff: what changed between two versions of a plan, phase by phase.

Phases are matched by id. The diff is a report (it never refuses), and it is the one source
for the "date has changed" notice, so the notice and `runbook diff` can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from . import times
from .plan import Phase, Plan

KINDS = ("added", "removed", "moved", "lengthened", "shortened", "renamed", "impacts",
         "dependencies", "rollback", "steps")
"""Kinds of phase change, in the order a report lists them."""


@dataclass(frozen=True)
class Change:
    """One thing that changed: `phase` is None for plan-wide changes (title, zone, services)."""

    phase: str | None
    kind: str
    summary: str
    before: Any = None
    after: Any = None

    def row(self) -> dict[str, Any]:
        """JSON-able form (the `runbook diff --format json` contract)."""
        return {"phase": self.phase, "kind": self.kind, "summary": self.summary,
                "before": self.before, "after": self.after}


@dataclass(frozen=True)
class PhasePair:
    """A phase in the old and the new plan (None where it is missing from one of them)."""

    id: str
    old: Phase | None
    new: Phase | None

    @property
    def moved(self) -> bool:
        return self.old is not None and self.new is not None and self.old.start != self.new.start

    @property
    def shift(self) -> timedelta | None:
        """How far the start moved (positive: later), None unless both versions have it."""
        if self.old is None or self.new is None:
            return None
        return self.new.start - self.old.start


@dataclass(frozen=True)
class PlanDiff:
    """Every change from `old` to `new`, plus the phase pairs for side-by-side windows."""

    old: Plan
    new: Plan
    pairs: list[PhasePair]
    changes: list[Change] = field(default_factory=list)

    @property
    def zone(self) -> ZoneInfo:
        """Both versions are shown in the new plan's zone, so the times compare at a glance."""
        return self.new.zone

    def of_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def moved(self) -> list[str]:
        """Ids of the phases whose window starts at a different time."""
        return [c.phase for c in self.of_kind("moved") if c.phase]

    @property
    def phase_changes(self) -> list[Change]:
        return [c for c in self.changes if c.phase is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "old": {"id": self.old.id, "revision": self.old.revision, "file": self.old.source},
            "new": {"id": self.new.id, "revision": self.new.revision, "file": self.new.source},
            "changes": [c.row() for c in self.changes],
            "windows": [_window_row(p) for p in self.pairs],
        }


def diff_plans(old: Plan, new: Plan) -> PlanDiff:
    """Compare two versions of a plan. Phases present in both are matched by id."""
    zone = new.zone
    old_by_id = {p.id: p for p in old.phases}
    new_ids = {p.id for p in new.phases}
    pairs = [PhasePair(p.id, old_by_id.get(p.id), p) for p in new.phases]
    pairs += [PhasePair(p.id, p, None) for p in old.phases if p.id not in new_ids]
    changes = _plan_changes(old, new)
    for pair in pairs:
        changes += _phase_changes(pair, old, new, zone)
    order = {kind: i for i, kind in enumerate(KINDS)}
    position = {pair.id: i for i, pair in enumerate(pairs)}
    changes.sort(key=lambda c: (c.phase is not None, position.get(c.phase or "", -1),
                                order.get(c.kind, -1)))
    return PlanDiff(old, new, pairs, changes)


def _plan_changes(old: Plan, new: Plan) -> list[Change]:
    out = []
    for name in ("id", "title", "timezone", "revision"):
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            out.append(Change(None, name, f"{name}: {before} -> {after}", before, after))
    old_services = {s.id: s.name for s in old.services}
    new_services = {s.id: s.name for s in new.services}
    added = sorted(set(new_services) - set(old_services))
    removed = sorted(set(old_services) - set(new_services))
    if added or removed:
        parts = [f"added {', '.join(added)}"] if added else []
        parts += [f"removed {', '.join(removed)}"] if removed else []
        out.append(Change(None, "services", "services: " + "; ".join(parts),
                          sorted(old_services), sorted(new_services)))
    return out


def _phase_changes(pair: PhasePair, old_plan: Plan, new_plan: Plan,
                   zone: ZoneInfo) -> list[Change]:
    old, new = pair.old, pair.new
    if old is None and new is not None:
        return [Change(pair.id, "added", f"added: {_window(new, zone)}", None,
                       _window_json(new))]
    if new is None and old is not None:
        return [Change(pair.id, "removed", f"removed (was {_window(old, zone)})",
                       _window_json(old), None)]
    assert old is not None and new is not None
    out: list[Change] = []
    if old.start != new.start:
        shift = new.start - old.start
        direction = "later" if shift > timedelta() else "earlier"
        out.append(Change(pair.id, "moved", (
            f"moved {_span(abs(shift))} {direction}: {times.format_both(old.start, zone)} -> "
            f"{times.format_both(new.start, zone)}{_clock_note(old, new, zone)}"),
            _window_json(old), _window_json(new)))
    if old.duration != new.duration:
        kind = "lengthened" if new.duration > old.duration else "shortened"
        out.append(Change(pair.id, kind, (
            f"{kind}: {times.format_duration(old.duration)} -> "
            f"{times.format_duration(new.duration)}"),
            _minutes(old.duration), _minutes(new.duration)))
    if old.name != new.name:
        out.append(Change(pair.id, "renamed", f"renamed: {old.name} -> {new.name}",
                          old.name, new.name))
    impacts = _impact_changes(old, new, old_plan, new_plan)
    if impacts:
        out.append(Change(pair.id, "impacts", "impacts: " + "; ".join(impacts),
                          _impacts_json(old), _impacts_json(new)))
    if list(old.depends_on) != list(new.depends_on):
        added = [d for d in new.depends_on if d not in old.depends_on]
        removed = [d for d in old.depends_on if d not in new.depends_on]
        parts = [f"now depends on {', '.join(added)}"] if added else []
        parts += [f"no longer depends on {', '.join(removed)}"] if removed else []
        out.append(Change(pair.id, "dependencies",
                          "dependencies: " + ("; ".join(parts) or "reordered"),
                          list(old.depends_on), list(new.depends_on)))
    if old.rollback != new.rollback:
        parts = []
        if old.rollback.duration != new.rollback.duration:
            parts.append(f"{times.format_duration(old.rollback.duration)} -> "
                         f"{times.format_duration(new.rollback.duration)}")
        if old.rollback.plan != new.rollback.plan:
            parts.append("plan rewritten")
        out.append(Change(pair.id, "rollback", "rollback: " + ", ".join(parts),
                          _rollback_json(old), _rollback_json(new)))
    if old.steps != new.steps:
        out.append(Change(pair.id, "steps", (
            f"steps: {len(old.steps)} ({times.format_duration(old.steps_duration)}) -> "
            f"{len(new.steps)} ({times.format_duration(new.steps_duration)})"),
            [s.name for s in old.steps], [s.name for s in new.steps]))
    return out


def _impact_changes(old: Phase, new: Phase, old_plan: Plan, new_plan: Plan) -> list[str]:
    before = {i.service: i for i in old.impacts}
    after = {i.service: i for i in new.impacts}
    parts = []
    for service in [*after, *(s for s in before if s not in after)]:
        a, b = before.get(service), after.get(service)
        if a is None and b is not None:
            parts.append(f"{service} added ({b.level})")
        elif b is None and a is not None:
            parts.append(f"{service} removed (was {a.level})")
        elif a is not None and b is not None and a.level != b.level:
            parts.append(f"{service} {a.level} -> {b.level}")
        elif a is not None and b is not None and a.detail != b.detail:
            parts.append(f"{service} detail reworded")
    return parts


def _span(delta: timedelta) -> str:
    """'21 days 1h' / '1h': a shift, as people say it."""
    days, rest = divmod(delta, timedelta(days=1))
    if not days:
        return times.format_duration(rest)
    text = f"{days} day" + ("s" if days != 1 else "")
    return f"{text} {times.format_duration(rest)}" if rest else text


def clock_shift(old: datetime, new: datetime, zone: ZoneInfo) -> timedelta:
    """How far the start moved on the local clock face, ignoring the date: within ±12h.

    A window moved '20 days 23h later' from 22:00 to 21:00 moved an hour earlier in the day,
    which is what a reader of the notice has to change in their diary.
    """
    def of_day(instant: datetime) -> timedelta:
        local = instant.astimezone(zone)
        return timedelta(hours=local.hour, minutes=local.minute, seconds=local.second)

    shift = (of_day(new) - of_day(old)) % timedelta(days=1)
    return shift - timedelta(days=1) if shift > timedelta(hours=12) else shift


def _amount(delta: timedelta) -> str:
    """'an hour', '30m', '2h': a clock shift as a sentence reads it."""
    return "an hour" if delta == timedelta(hours=1) else times.format_duration(delta)


def _clock_note(old: Phase, new: Phase, zone: ZoneInfo) -> str:
    """'; now starts an hour earlier in the day (21:00 NZST, was 22:00 NZST)', or '' when the
    local start time is the same (then, if UTC shifted across a DST change, says so)."""
    local = clock_shift(old.start, new.start, zone)
    was = times.format_local(old.start, zone, with_date=False)
    now = times.format_local(new.start, zone, with_date=False)
    if local:
        direction = "later" if local > timedelta() else "earlier"
        return f"; now starts {_amount(abs(local))} {direction} in the day ({now}, was {was})"
    in_utc = clock_shift(old.start, new.start, times.UTC_ZONE)
    if in_utc:
        direction = "later" if in_utc > timedelta() else "earlier"
        return (f"; same local start time ({now}), {_amount(abs(in_utc))} {direction} in UTC "
                f"(was {times.format_local(old.start, zone, with_date=False)})")
    return ""


def _window(phase: Phase, zone: ZoneInfo) -> str:
    return f"{times.format_both(phase.start, zone)} to {times.format_both(phase.end, zone)}"


def _minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 2)


def _window_json(phase: Phase) -> dict[str, Any]:
    return {"start_utc": times.format_iso_utc(phase.start),
            "end_utc": times.format_iso_utc(phase.end),
            "duration_minutes": _minutes(phase.duration)}


def _impacts_json(phase: Phase) -> list[dict[str, str]]:
    return [{"service": i.service, "level": i.level, "detail": i.detail} for i in phase.impacts]


def _rollback_json(phase: Phase) -> dict[str, Any]:
    return {"duration_minutes": _minutes(phase.rollback.duration), "plan": phase.rollback.plan}


def _window_row(pair: PhasePair) -> dict[str, Any]:
    return {"phase": pair.id,
            "old": _window_json(pair.old) if pair.old else None,
            "new": _window_json(pair.new) if pair.new else None}


def table_rows(diff: PlanDiff) -> list[list[str]]:
    """Rows for the `runbook diff` table: phase, change, what changed."""
    return [[c.phase or "(plan)", c.kind, c.summary] for c in diff.changes]
