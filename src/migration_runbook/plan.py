"""The plan: YAML file -> validated model -> pandas frames.

The model is the one source of truth: every frame, figure, notice and calendar event is
derived from it. Times are UTC-aware from the moment they are parsed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import times
from .errors import PlanError, PlanInvalid

LEVELS = ("unavailable", "degraded", "delayed", "unaffected")
"""Impact levels, worst first."""
SLUG = r"^[A-Za-z0-9][A-Za-z0-9-]*$"
MAX_PLAN_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 500_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Service(_Model):
    """Something customers use, which phases affect."""

    id: str = Field(pattern=SLUG, max_length=100)
    name: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=5000)


class Impact(_Model):
    """What happens to one service during a phase's window."""

    service: str = Field(max_length=100)
    level: Literal["unavailable", "degraded", "delayed", "unaffected"]
    detail: str = Field(default="", max_length=5000)


class Rollback(_Model):
    """How to undo a phase, and how long that takes."""

    duration: timedelta
    plan: str = Field(min_length=1, max_length=10000)

    _duration = field_validator("duration", mode="before")(
        lambda v: times.parse_duration(v))


class Step(_Model):
    """One item of a phase's checklist."""

    name: str = Field(min_length=1, max_length=1000)
    owner: str = Field(default="", max_length=500)
    duration: timedelta

    _duration = field_validator("duration", mode="before")(
        lambda v: times.parse_duration(v))


class Check(_Model):
    """A pre-flight check: exactly one of `http`, `tcp` or `command`."""

    name: str = Field(min_length=1, max_length=500)
    http: str | None = Field(default=None, max_length=2000)
    tcp: str | None = Field(default=None, max_length=500)
    command: str | None = Field(default=None, max_length=5000)
    timeout: timedelta = timedelta(seconds=10)

    _timeout = field_validator("timeout", mode="before")(lambda v: times.parse_duration(v))

    @model_validator(mode="after")
    def _one_kind(self) -> Check:
        kinds = [k for k in ("http", "tcp", "command") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("a check needs exactly one of http, tcp or command")
        if self.tcp and ":" not in self.tcp:
            raise ValueError(f"tcp check '{self.tcp}' must be host:port")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("http", "tcp", "command") if getattr(self, k))

    @property
    def target(self) -> str:
        return getattr(self, self.kind)


class Contact(_Model):
    """Someone customers can reach during the migration."""

    name: str = Field(max_length=500)
    email: str = Field(default="", max_length=500)
    phone: str = Field(default="", max_length=200)
    urgent_phone: str = Field(default="", max_length=200)


class PreviousNotice(_Model):
    """A notice already sent, listed in later ones."""

    title: str = Field(max_length=1000)
    sent: str = Field(max_length=100)


class Communications(_Model):
    """Who speaks to customers, where they can follow along, what they can ask for."""

    sender: str = Field(default="", max_length=500)
    contacts: list[Contact] = []
    status_page: str = Field(default="", max_length=2000)
    on_call_request: str = Field(default="", max_length=5000)
    backup_connection: str = Field(default="", max_length=5000)
    reminder_before: timedelta = timedelta(hours=1)
    previous_notices: list[PreviousNotice] = []

    _reminder = field_validator("reminder_before", mode="before")(
        lambda v: times.parse_duration(v))


class Phase(_Model):
    """One maintenance window: what it changes, what it affects, how to undo it."""

    id: str = Field(pattern=SLUG, max_length=100)
    name: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=10000)
    start: datetime
    end: datetime
    depends_on: list[str] = []
    impacts: list[Impact] = []
    rollback: Rollback
    steps: list[Step] = []
    checks: list[Check] = []

    @field_validator("start", "end", mode="before")
    @classmethod
    def _in_plan_zone(cls, value: Any, info: ValidationInfo) -> datetime:
        tz = (info.context or {}).get("zone") or times.UTC_ZONE
        return times.parse_time(value, tz)

    @property
    def duration(self) -> timedelta:
        """Real elapsed time of the window (a DST change is not on the clock face)."""
        return self.end - self.start

    @property
    def rollback_deadline(self) -> datetime:
        """The last moment a rollback can start and still finish inside the window."""
        return self.end - self.rollback.duration

    @property
    def steps_duration(self) -> timedelta:
        return sum((s.duration for s in self.steps), timedelta())

    @property
    def worst_level(self) -> str:
        levels = [i.level for i in self.impacts]
        return next((lv for lv in LEVELS if lv in levels), "unaffected")


class Plan(_Model):
    """A whole migration: services, and phases in order."""

    id: str = Field(pattern=SLUG, max_length=100)
    title: str = Field(min_length=1, max_length=500)
    timezone: str
    revision: int = Field(default=1, ge=0)
    description: str = Field(default="", max_length=20000)
    services: list[Service] = Field(min_length=1)
    phases: list[Phase] = Field(min_length=1)
    communications: Communications = Communications()
    source: str = Field(default="", exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        times.zone(value)
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return times.zone(self.timezone)

    def phase(self, phase_id: str) -> Phase:
        """The phase called `phase_id`; a clear error naming the known ones otherwise."""
        for phase in self.phases:
            if phase.id == phase_id:
                return phase
        known = ", ".join(p.id for p in self.phases)
        raise PlanError(self.source or self.id, None, f"no phase '{phase_id}' (phases: {known})")

    def service(self, service_id: str) -> Service:
        return next(s for s in self.services if s.id == service_id)

    @property
    def start(self) -> datetime:
        return min(p.start for p in self.phases)

    @property
    def end(self) -> datetime:
        return max(p.end for p in self.phases)

    def display_zone(self, tz: str | None = None) -> ZoneInfo:
        """`tz` when given, else the plan's zone."""
        return times.zone(tz) if tz else self.zone


# --- loading ---------------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """Safe loading, with times kept as text so that the plan's zone decides what they mean."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

Path_ = tuple[str | int, ...]


def _walk(node: yaml.Node, loader: _Loader, path: Path_, lines: dict[Path_, int],
          file: str, errors: list[PlanError], depth: int, count: list[int]) -> Any:
    """Build Python data from the node tree, recording the line of every path."""
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_NODES:
        what = "nested too deeply" if depth > MAX_DEPTH else "too large"
        raise PlanInvalid([PlanError(file, node.start_mark.line + 1,
                                     f"plan is {what} to be a migration plan")])
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                errors.append(PlanError(file, key_node.start_mark.line + 1,
                                        f"key {key!r} must be a name"))
                continue
            key = str(key)
            if key in out:
                errors.append(PlanError(file, key_node.start_mark.line + 1,
                                        f"duplicate key '{key}'"))
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _walk(value_node, loader, path + (key,), lines, file, errors,
                             depth + 1, count)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, loader, path + (i,), lines, file, errors, depth + 1, count)
                for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def read_yaml(path: str | os.PathLike[str]) -> tuple[Any, dict[Path_, int], list[PlanError]]:
    """Parse `path` safely; the data, the line of each path in it, and structural errors."""
    file = str(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_PLAN_BYTES:
            raise PlanInvalid([PlanError(file, None, f"plan is {size // 1024} KiB; the limit is "
                                         f"{MAX_PLAN_BYTES // 1024 // 1024} MiB")])
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise PlanInvalid([PlanError(file, None, "no such plan file")]) from None
    except IsADirectoryError:
        raise PlanInvalid([PlanError(file, None, "is a folder, not a plan file")]) from None
    except PermissionError:
        raise PlanInvalid([PlanError(file, None, "cannot be read (permission denied)")]) from None
    except UnicodeDecodeError as exc:
        raise PlanInvalid([PlanError(file, None, f"is not UTF-8 text ({exc.reason})")]) from None
    loader = _Loader(text)
    lines: dict[Path_, int] = {}
    errors: list[PlanError] = []
    try:
        node = loader.get_single_node()
        if node is None:
            raise PlanInvalid([PlanError(file, 1, "plan is empty")])
        data = _walk(node, loader, (), lines, file, errors, 0, [0])
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = (exc.problem or exc.context or "not valid YAML").strip()
        if isinstance(exc, yaml.constructor.ConstructorError):
            problem = f"{problem} (only plain YAML is allowed)"
        raise PlanInvalid([PlanError(file, line, f"YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise PlanInvalid([PlanError(file, None, f"YAML: {exc}")]) from None
    except RecursionError:
        raise PlanInvalid([PlanError(file, None, "plan is nested too deeply")]) from None
    finally:
        loader.dispose()
    return data, lines, errors


class _Locator:
    """Turns a location inside the data into `FILE:LINE: phase 'ID':`."""

    def __init__(self, file: str, data: Any, lines: dict[Path_, int]):
        self.file, self.data, self.lines = file, data, lines

    def line(self, path: Iterable[str | int]) -> int | None:
        path = tuple(path)
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path)

    def phase_id(self, path: Path_) -> str | None:
        if len(path) >= 2 and path[0] == "phases" and isinstance(path[1], int):
            try:
                raw = self.data["phases"][path[1]]
                return str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else \
                    f"#{path[1] + 1}"
            except (KeyError, IndexError, TypeError):
                return None
        return None

    def error(self, path: Iterable[str | int], message: str) -> PlanError:
        path = tuple(path)
        field = ".".join(str(p) for p in path if isinstance(p, str)) or None
        return PlanError(self.file, self.line(path), message, self.phase_id(path), field)


def _pydantic_errors(exc: ValidationError, where: _Locator, prefix: Path_) -> list[PlanError]:
    out = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "plan")
        kind = err["type"]
        if kind == "extra_forbidden":
            message = f"unknown key '{name}'"
        elif kind == "missing":
            message = f"missing required key '{name}'"
        elif kind == "literal_error" and name == "level":
            message = (f"unknown impact level {err['input']!r} (use one of "
                       f"{', '.join(LEVELS)})")
        elif kind == "string_pattern_mismatch":
            message = f"{name} {err['input']!r} must be letters, digits and '-'"
        elif kind == "value_error":
            message = f"{name}: {str(err['ctx']['error'])}"
        elif kind == "too_short" and name in ("phases", "services"):
            message = f"a plan needs at least one entry in '{name}'"
        else:
            message = f"{name}: {err['msg'].removeprefix('Value error, ')}"
        out.append(where.error(loc, message))
    return out


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read, validate and return the plan at `path`; raise `PlanInvalid` listing every problem."""
    plan, _ = load_plan_with_warnings(path)
    return plan


def load_plan_with_warnings(path: str | os.PathLike[str]) -> tuple[Plan, list[PlanError]]:
    """Like `load_plan`, also returning warnings (e.g. independent phases that overlap)."""
    file = str(path)
    data, lines, errors = read_yaml(path)
    where = _Locator(file, data, lines)
    if not isinstance(data, dict):
        raise PlanInvalid([PlanError(file, 1, "a plan must be a mapping with id, title, "
                                     "timezone, services and phases")])
    zone_name = data.get("timezone")
    try:
        tz = times.zone(zone_name) if zone_name is not None else times.UTC_ZONE
    except ValueError:
        tz = times.UTC_ZONE  # reported by the model below
    context = {"zone": tz}
    try:
        plan = Plan.model_validate({**data, "source": file}, context=context)
    except ValidationError as exc:
        errors += _pydantic_errors(exc, where, ())
        plan = None
    if plan is None:
        # Report the cross-phase rules too, over the phases that are valid on their own.
        phases = []
        for i, raw in enumerate(data.get("phases") or [] if isinstance(data.get("phases"),
                                                                         list) else []):
            try:
                phases.append((i, Phase.model_validate(raw, context=context)))
            except ValidationError:
                pass
        services = _valid_services(data.get("services"))
        known = {str(p.get("id")) for p in data.get("phases") or []
                 if isinstance(p, dict)} if isinstance(data.get("phases"), list) else None
        errors += _rules(phases, services, where, tz, known)[0]
        raise PlanInvalid(errors)
    rule_errors, warnings = _rules(list(enumerate(plan.phases)), {s.id for s in plan.services},
                                   where, tz)
    errors += rule_errors
    if errors:
        raise PlanInvalid(errors)
    return plan, warnings


def _valid_services(raw: Any) -> set[str] | None:
    if not isinstance(raw, list):
        return None
    return {str(s["id"]) for s in raw if isinstance(s, dict) and "id" in s}


def _rules(phases: list[tuple[int, Phase]], services: set[str] | None,
           where: _Locator, tz: ZoneInfo,
           known: set[str] | None = None) -> tuple[list[PlanError], list[PlanError]]:
    """The rules that span fields or phases; (errors, warnings)."""
    errors: list[PlanError] = []
    warnings: list[PlanError] = []
    seen: dict[str, int] = {}
    for i, phase in phases:
        at = ("phases", i)
        if phase.id in seen:
            errors.append(where.error(at + ("id",), f"duplicate phase id '{phase.id}' (also "
                                      f"phase #{seen[phase.id] + 1})"))
        seen.setdefault(phase.id, i)
        if phase.end <= phase.start:
            errors.append(where.error(at + ("end",), "end must be after start"))
        elif phase.steps_duration + phase.rollback.duration > phase.duration:
            errors.append(where.error(at + ("steps",), (
                f"steps ({times.format_duration(phase.steps_duration)}) plus rollback "
                f"({times.format_duration(phase.rollback.duration)}) do not fit in the "
                f"{times.format_duration(phase.duration)} window")))
        listed: set[str] = set()
        for j, impact in enumerate(phase.impacts):
            if services is not None and impact.service not in services:
                errors.append(where.error(at + ("impacts", j, "service"),
                                          f"unknown service '{impact.service}'"))
            if impact.service in listed:
                errors.append(where.error(at + ("impacts", j, "service"),
                                          f"service '{impact.service}' is listed twice"))
            listed.add(impact.service)
        for j, dep in enumerate(phase.depends_on):
            if dep == phase.id:
                errors.append(where.error(at + ("depends_on", j), "a phase cannot depend on "
                                          "itself"))
            elif dep not in (known or {p.id for _, p in phases}):
                errors.append(where.error(at + ("depends_on", j),
                                          f"depends on unknown phase '{dep}'"))
    by_id = {p.id: (i, p) for i, p in phases}
    cycle = _find_cycle({p.id: [d for d in p.depends_on if d in by_id and d != p.id]
                         for _, p in phases})
    if cycle:
        i = by_id[cycle[0]][0]
        errors.append(where.error(("phases", i, "depends_on"),
                                  "dependency cycle: " + " -> ".join(cycle + [cycle[0]])))
        return errors, warnings
    ancestors = _ancestors({p.id: [d for d in p.depends_on if d in by_id] for _, p in phases})
    for i, phase in phases:
        late = [by_id[d][1] for d in ancestors.get(phase.id, ()) if by_id[d][1].end > phase.start]
        if late:
            dep = max(late, key=lambda d: d.end)
            errors.append(where.error(("phases", i, "start"), (
                f"starts before '{dep.id}', which it depends on, ends; it must start at or "
                f"after {times.format_both(dep.end, tz)}")))
    ordered = sorted(phases, key=lambda ip: ip[1].start)
    for a, (_, first) in enumerate(ordered):
        for j, second in ordered[a + 1:]:
            if second.start >= first.end:
                break
            if first.id not in ancestors.get(second.id, ()) and \
                    second.id not in ancestors.get(first.id, ()):
                warnings.append(where.error(("phases", j, "start"), (
                    f"warning: window overlaps independent phase '{first.id}'")))
    return errors, warnings


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _ancestors(graph: dict[str, list[str]]) -> dict[str, set[str]]:
    memo: dict[str, set[str]] = {}

    def of(node: str) -> set[str]:
        if node not in memo:
            memo[node] = set()
            for dep in graph.get(node, []):
                memo[node] |= {dep} | of(dep)
        return memo[node]

    for node in graph:
        of(node)
    return memo


# --- frames ----------------------------------------------------------------------------

def phases_frame(plan: Plan, tz: str | None = None) -> pd.DataFrame:
    """One row a phase: its window in UTC and in the display zone, length, rollback deadline."""
    zone = plan.display_zone(tz)
    rows = []
    for order, p in enumerate(plan.phases, start=1):
        rows.append({
            "order": order,
            "id": p.id,
            "name": p.name,
            "start_utc": p.start,
            "end_utc": p.end,
            "start_local": p.start.astimezone(zone),
            "end_local": p.end.astimezone(zone),
            "start_abbrev": times.abbreviation(p.start, zone),
            "end_abbrev": times.abbreviation(p.end, zone),
            "duration": p.duration,
            "duration_minutes": p.duration.total_seconds() / 60,
            "depends_on": list(p.depends_on),
            "worst_level": p.worst_level,
            "rollback_duration": p.rollback.duration,
            "rollback_minutes": p.rollback.duration.total_seconds() / 60,
            "rollback_deadline_utc": p.rollback_deadline,
            "rollback_plan": p.rollback.plan,
            "steps_minutes": p.steps_duration.total_seconds() / 60,
        })
    frame = pd.DataFrame(rows)
    return frame


def impacts_frame(plan: Plan) -> pd.DataFrame:
    """One row a phase x service that the plan lists: level and detail."""
    names = {s.id: s.name for s in plan.services}
    rows = [{"phase": p.id, "phase_name": p.name, "service": i.service,
             "service_name": names.get(i.service, i.service), "level": i.level,
             "detail": i.detail, "start_utc": p.start, "end_utc": p.end}
            for p in plan.phases for i in p.impacts]
    columns = ["phase", "phase_name", "service", "service_name", "level", "detail",
               "start_utc", "end_utc"]
    return pd.DataFrame(rows, columns=columns)


def steps_frame(plan: Plan) -> pd.DataFrame:
    """One row a checklist step, with its planned slot if steps run back to back from the start."""
    rows = []
    for p in plan.phases:
        at = p.start
        for order, s in enumerate(p.steps, start=1):
            rows.append({"phase": p.id, "order": order, "name": s.name, "owner": s.owner,
                         "duration": s.duration,
                         "duration_minutes": s.duration.total_seconds() / 60,
                         "planned_start_utc": at, "planned_end_utc": at + s.duration})
            at += s.duration
    columns = ["phase", "order", "name", "owner", "duration", "duration_minutes",
               "planned_start_utc", "planned_end_utc"]
    return pd.DataFrame(rows, columns=columns)


def schedule_rows(plan: Plan, tz: str | None = None) -> list[dict[str, Any]]:
    """The schedule as plain rows (the `runbook schedule --format json` contract)."""
    zone = plan.display_zone(tz)
    names = {s.id: s.name for s in plan.services}
    return [{
        "id": p.id,
        "name": p.name,
        "start": times.format_iso_local(p.start, zone),
        "end": times.format_iso_local(p.end, zone),
        "start_abbrev": times.abbreviation(p.start, zone),
        "end_abbrev": times.abbreviation(p.end, zone),
        "start_utc": times.format_iso_utc(p.start),
        "end_utc": times.format_iso_utc(p.end),
        "duration_minutes": round(p.duration.total_seconds() / 60, 2),
        "depends_on": list(p.depends_on),
        "impacts": [{"service": i.service, "service_name": names.get(i.service, i.service),
                     "level": i.level, "detail": i.detail} for i in p.impacts],
        "rollback_minutes": round(p.rollback.duration.total_seconds() / 60, 2),
        "rollback_deadline_utc": times.format_iso_utc(p.rollback_deadline),
    } for p in plan.phases]
