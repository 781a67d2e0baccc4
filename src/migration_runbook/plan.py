"""The plan: YAML file -> validated model -> pandas frames.

The model is the one source of truth: every frame, figure, notice and calendar event is
derived from it. Times are UTC-aware from the moment they are parsed.
"""

from __future__ import annotations

import difflib
import graphlib
import os
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import collector, times
from .errors import PlanError, PlanInvalid

if TYPE_CHECKING:  # pandas is imported where frames are built: `runbook validate` stays quick
    import pandas as pd

    from .steps import StepGraph

LEVELS = ("unavailable", "degraded", "delayed", "unaffected")
"""Impact levels, worst first."""
SLUG = r"^[A-Za-z0-9][A-Za-z0-9-]*$"
MAX_PLAN_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 200_000
MAX_REVISION = 2**31 - 1
"""The largest `revision`: it is the calendar's SEQUENCE, a 32-bit integer (RFC 5545)."""


_LINE_BREAKS = re.compile("[\n\r\u2028\u2029]")


def _single_line(value: str) -> str:
    if _LINE_BREAKS.search(value):
        raise ValueError("must be one line (no line breaks): it becomes a calendar line, a "
                         "subject or a table cell")
    return value


Line = Annotated[str, AfterValidator(_single_line)]
"""Text that cannot carry a line break: names, titles, addresses, URLs."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Service(_Model):
    """Something customers use, which phases affect."""

    id: str = Field(pattern=SLUG, max_length=100)
    name: Line = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=5000)


class Impact(_Model):
    """What happens to one service during a phase's window."""

    service: str = Field(max_length=100)
    level: Literal["unavailable", "degraded", "delayed", "unaffected"]
    detail: str = Field(default="", max_length=5000)


class Rollback(_Model):
    """How to undo a phase, and how long that takes.

    `plan` is the team's runbook and never reaches customers; `customer` is what a notice
    tells them about a rollback (default: a plain sentence the templates write).
    """

    duration: timedelta
    plan: str = Field(min_length=1, max_length=10000)
    customer: str = Field(default="", max_length=5000)

    _duration = field_validator("duration", mode="before")(
        lambda v: times.parse_duration(v))


def _step_id(value: Any) -> Any:
    """A step id written as a number (`after: [1]`, the default ids) is the same id as text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Step(_Model):
    """One item of a phase's checklist: a node of the phase's step graph (see `steps`)."""

    id: str | None = Field(default=None, pattern=SLUG, max_length=100)
    """Unique in the phase; default its 1-based position ("1", "2", ...)."""
    name: Line = Field(min_length=1, max_length=1000)
    owner: Line = Field(default="", max_length=500)
    duration: timedelta
    """The likely duration."""
    after: list[str] | None = Field(default=None, max_length=1000)
    """Ids of the steps that must be done or skipped first; default the step before."""
    low: timedelta | None = None
    """The shortest it may take (three-point estimate, see `risk`); default `duration`."""
    high: timedelta | None = None
    """The longest it may take; default `duration`."""

    _duration = field_validator("duration", mode="before")(
        lambda v: times.parse_duration(v))
    _id = field_validator("id", mode="before")(_step_id)
    _range = field_validator("low", "high", mode="before")(
        lambda v: None if v is None else times.parse_duration(v))

    @field_validator("low", "high")
    @classmethod
    def _around_likely(cls, value: timedelta | None, info: ValidationInfo
                       ) -> timedelta | None:
        likely = info.data.get("duration")
        if value is None or likely is None:
            return value
        if info.field_name == "low" and value > likely:
            raise ValueError(f"low ({times.format_duration(value)}) must not be longer than "
                             f"duration ({times.format_duration(likely)})")
        if info.field_name == "high" and value < likely:
            raise ValueError(f"high ({times.format_duration(value)}) must not be shorter than "
                             f"duration ({times.format_duration(likely)})")
        return value

    @property
    def estimate(self) -> tuple[timedelta, timedelta, timedelta]:
        """(low, likely, high), the missing ends defaulting to the likely duration."""
        return (self.duration if self.low is None else self.low, self.duration,
                self.duration if self.high is None else self.high)

    @field_validator("after", mode="before")
    @classmethod
    def _after_ids(cls, value: Any) -> Any:
        return [_step_id(v) for v in value] if isinstance(value, list) else value


class Alerts(_Model):
    """When the clock warns (`runbook status`, the notebooks)."""

    rollback_deadline_warning: timedelta = timedelta(minutes=15)
    """Warn `rollback-deadline-soon` this long before a running phase's rollback deadline."""

    fit_probability_warning: float = Field(default=0.8, gt=0, le=1, allow_inf_nan=False)
    """Warn `fit-at-risk` when a running phase's chance of finishing its steps by the
    rollback deadline (`risk`, conditioned on the night so far) falls below this."""

    _warning = field_validator("rollback_deadline_warning", mode="before")(
        lambda v: times.parse_duration(v))

    @field_validator("fit_probability_warning", mode="before")
    @classmethod
    def _a_probability(cls, value: Any) -> Any:
        if isinstance(value, bool):     # YAML's true would pass as 1
            raise ValueError(f"must be a number above 0 and at most 1, not {str(value).lower()}")
        return value


class Estimates(_Model):
    """How a step's three-point estimate (low, duration, high) is read (see `risk`)."""

    distribution: Literal["triangular", "pert"] = "triangular"


class Check(_Model):
    """A pre-flight check: exactly one of `http`, `tcp` or `command`."""

    name: Line = Field(min_length=1, max_length=500)
    http: Line | None = Field(default=None, max_length=2000)
    tcp: Line | None = Field(default=None, max_length=500)
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

    name: Line = Field(max_length=500)
    email: Line = Field(default="", max_length=500)
    phone: Line = Field(default="", max_length=200)
    urgent_phone: Line = Field(default="", max_length=200)


class PreviousNotice(_Model):
    """A notice already sent, listed in later ones."""

    title: Line = Field(max_length=1000)
    sent: Line = Field(max_length=100)


NOTICE_KINDS = ("announcement", "reminder", "in-progress", "extended", "completed",
                "reschedule")
"""Every notice kind, in the order a migration meets them."""
CHANNEL_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"


class Channel(_Model):
    """Where notices go: an Apprise URL (`mailtos://`, `json://`, Slack, Teams ...).

    `${VAR}` in the URL is read from the environment when sending, so a secret stays out of the
    plan file and out of every output. `kinds` (default all) says which notices it receives;
    `depends_on` names the plan's services the channel itself needs to deliver.
    """

    id: str = Field(pattern=CHANNEL_ID, max_length=100)
    url: str = Field(min_length=1, max_length=4000)
    kinds: list[Literal["announcement", "reminder", "in-progress", "extended", "completed",
                        "reschedule"]] = list(NOTICE_KINDS)
    depends_on: list[str] = []

    def receives(self, kind: str) -> bool:
        return kind in self.kinds


class Communications(_Model):
    """Who speaks to customers, where they can follow along, what they can ask for."""

    sender: Line = Field(default="", max_length=500)
    contacts: list[Contact] = []
    status_page: Line = Field(default="", max_length=2000)
    on_call_request: str = Field(default="", max_length=5000)
    backup_connection: str = Field(default="", max_length=5000)
    reminder_before: timedelta = timedelta(hours=1)
    previous_notices: list[PreviousNotice] = []
    announce_at: datetime | None = None
    """When the announcement goes out; default 10:00 local, 14 days before the first window."""
    templates: Line = Field(default="", max_length=1000)
    """A folder of notice templates (relative to the plan file) that override the shipped ones."""
    note: str = Field(default="", max_length=5000)
    """A paragraph every notice carries (e.g. "if you get a rejected response, re-send")."""
    channels: list[Channel] = []
    """Where `runbook notices --send` delivers (see delivery.py)."""
    publish: str = Field(default="", max_length=1000)
    """A folder (relative to the plan file) where the status page is refreshed after events."""

    _reminder = field_validator("reminder_before", mode="before")(
        lambda v: times.parse_duration(v))

    @field_validator("announce_at", mode="before")
    @classmethod
    def _announce_in_plan_zone(cls, value: Any, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        context = info.context or {}  # same zone convention as Phase._in_plan_zone
        return times.parse_time(value, context["zone"] if "zone" in context else times.UTC_ZONE)


class Member(_Model):
    """Someone on the migration team: who may be `--operator`, and the roles they hold."""

    name: str = Field(min_length=1, max_length=200)
    roles: list[typing.Annotated[str, Field(pattern=SLUG, max_length=100)]] = []
    login: str = Field(default="", max_length=200)
    """Their database login: on a PostgreSQL store, `session_user` must be this to record."""


class Approvals(_Model):
    """Who must approve a phase's `go` (roles), and whether decisions must be signed.

    At the plan's top level it applies to every phase; a phase's own `approvals` overrides
    each key it sets (an unset key, None, falls back to the plan's).
    """

    go: list[typing.Annotated[str, Field(pattern=SLUG, max_length=100)]] | None = None
    require_signatures: bool | None = None


class Phase(_Model):
    """One maintenance window: what it changes, what it affects, how to undo it."""

    id: str = Field(pattern=SLUG, max_length=100)
    name: Line = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=10000)
    start: datetime
    end: datetime
    depends_on: list[str] = []
    impacts: list[Impact] = []
    rollback: Rollback
    steps: list[Step] = []
    checks: list[Check] = []
    approvals: Approvals | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _in_plan_zone(cls, value: Any, info: ValidationInfo) -> datetime:
        # No context: UTC. Context zone None: the plan's zone is unknown (reported already).
        context = info.context or {}
        return times.parse_time(value, context["zone"] if "zone" in context else times.UTC_ZONE)

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
        """The sum of the steps' durations (what one person doing them all would take)."""
        return sum((s.duration for s in self.steps), timedelta())

    @cached_property
    def graph(self) -> StepGraph:
        """The steps as a graph: ids, order, critical path (see `steps`)."""
        from .steps import resolve

        return resolve(self.steps)[0]

    @property
    def critical_path_duration(self) -> timedelta:
        """How long the steps take when each starts as soon as what it follows is done."""
        return self.graph.length()

    @property
    def worst_level(self) -> str:
        levels = [i.level for i in self.impacts]
        return next((lv for lv in LEVELS if lv in levels), "unaffected")


class Plan(_Model):
    """A whole migration: services, and phases in order."""

    id: str = Field(pattern=SLUG, max_length=100)
    title: Line = Field(min_length=1, max_length=500)
    timezone: str
    revision: int = Field(default=1, ge=0, le=MAX_REVISION)
    description: str = Field(default="", max_length=20000)
    services: list[Service] = Field(min_length=1)
    phases: list[Phase] = Field(min_length=1)
    communications: Communications = Communications()
    team: list[Member] = []
    approvals: Approvals = Approvals()
    allowed_signers: str = Field(default="", max_length=1000)
    """An ssh-keygen allowed_signers file (relative to the plan file): whose key is whose."""
    alerts: Alerts = Alerts()
    estimates: Estimates = Estimates()
    source: str = Field(default="", exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        times.zone(value)
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return times.zone(self.timezone)

    @cached_property
    def phase_positions(self) -> dict[str, int]:
        """Each phase id's index in `phases`: looking a phase up is constant time, so what
        does it for every phase stays linear (5,000 phases)."""
        return {p.id: i for i, p in reversed(list(enumerate(self.phases)))}

    def position(self, phase_id: str) -> int | None:
        """The index of phase `phase_id` in `phases`, or None."""
        i = self.phase_positions.get(phase_id) if isinstance(phase_id, str) else None
        if i is not None and i < len(self.phases) and self.phases[i].id == phase_id:
            return i
        # Not there, or a copy (model_copy) that kept the cache of other phases.
        return next((k for k, p in enumerate(self.phases) if p.id == phase_id), None)

    def phase(self, phase_id: str) -> Phase:
        """The phase called `phase_id`; a clear error naming the known ones otherwise."""
        i = self.position(phase_id)
        if i is not None:
            return self.phases[i]
        known = ", ".join(p.id for p in self.phases)
        shown = f"'{phase_id}'" if str(phase_id).isprintable() else _short(phase_id)
        raise PlanError(self.source or self.id, None, f"no phase {shown} (phases: {known})")

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

# libyaml's parser when PyYAML has it: twenty times faster than the pure-Python one on a
# large plan, with the same nodes and line marks.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[misc, valid-type]
    """Safe loading, with times kept as text so that the plan's zone decides what they mean."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        """The tag of a node, remembered by scalar text: a scalar's tag depends on its text
        and style only (this loader has no path resolvers), and a large plan repeats the same
        few hundred values (durations, owners, levels) across 100,000 scalars."""
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        resolvers = self.yaml_implicit_resolvers
        if not implicit[0] or (value and value[0] not in resolvers and None not in resolvers):
            # Quoted, or plain text no implicit resolver is keyed on (names, descriptions:
            # most of a plan's distinct values): super() would find none to try.
            return self.DEFAULT_SCALAR_TAG
        key = (value, implicit)
        tag = _SCALAR_TAG_MEMO.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(_SCALAR_TAG_MEMO) < 10_000:
                _SCALAR_TAG_MEMO[key] = tag
        return tag


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}

_SCALAR_TAG_MEMO: dict[tuple[Any, Any], str] = {}
"""Scalar (text, style) -> tag, for `_Loader.resolve` (valid while it has no path resolvers)."""


Path_ = tuple[str | int, ...]
_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MERGE = _TAG + "merge"
_STR = _TAG + "str"
_EXPECTED = {yaml.MappingNode: _TAG + "map", yaml.SequenceNode: _TAG + "seq"}
"""The tag a mapping or a sequence node must have (scalars: one of `_SCALAR_TAGS`)."""
_KEY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ .-]{0,59}")
"""What an unknown key may look like to be quoted back; anything else is not echoed."""
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters other than tab and newline: written as YAML escapes ("\\e[2J"), they
would reach terminals, notices and calendars as escape sequences, so a plan may not hold them."""


class _Refused:
    """Stands in for a YAML value already reported as refused, so it is not reported twice."""

    def __repr__(self) -> str:
        return "<refused YAML value>"


REFUSED = _Refused()


class _Builder:
    """Plain Python data from YAML nodes, with the line of every path in it.

    Only plain YAML is built: mappings, sequences, text, numbers, booleans and null, with
    anchors, aliases and `<<` merges. Any other tag (`!!python/...`, `!!binary`, `!custom`)
    is a problem reported at its line and never constructed. Problems are collected, not
    raised, so that a file with several of them reports all.
    """

    def __init__(self, loader: _Loader, file: str):
        self.loader, self.file = loader, file
        self.lines: dict[Path_, int] = {}
        self.problems: list[tuple[Path_, int, str]] = []
        self.nodes = 0

    def build(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.nodes += 1
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            what = "nested too deeply" if depth > MAX_DEPTH else "too large"
            raise PlanInvalid([PlanError(self.file, line,
                                         f"plan is {what} to be a migration plan")])
        self.lines.setdefault(path, line)
        if node.tag == _STR and type(node) is yaml.ScalarNode:  # most nodes: as below, sooner
            if _CONTROL.search(node.value):
                self.problems.append((path, line, _control_problem(node.value, path)))
                return REFUSED
            return node.value
        if node.tag != _EXPECTED.get(type(node)) and node.tag not in _SCALAR_TAGS:
            tag = node.tag.replace(_TAG, "!!", 1) if node.tag.startswith(_TAG) else node.tag
            self.problems.append((path, line, f"YAML tag '{_one_line(tag)}' is not allowed: "
                                  "a plan is plain YAML (no Python objects or custom types)"))
            return REFUSED
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        if node.tag == _TAG + "str":
            if _CONTROL.search(node.value):
                self.problems.append((path, line, _control_problem(node.value, path)))
                return REFUSED
            return node.value  # what SafeLoader would build, without its overhead
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError):
            kind = node.tag.replace(_TAG, "", 1)
            self.problems.append((path, line, f"YAML: {_short(node.value)} is not a valid "
                                  f"{kind}"))
            return REFUSED

    def _mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merges = []
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                self.problems.append((path, line, "a key must be a plain name, not a list, a "
                                      "mapping or a tagged value"))
                continue
            # The key as written: `on:` or `yes:` stay names instead of becoming booleans.
            key = key_node.value
            if _CONTROL.search(key):
                self.problems.append((path, line, _control_problem(key, path, key=True)))
                continue
            if key in first_line:
                self.problems.append((path + (key,), line, f"duplicate key '{_one_line(key)}' "
                                      f"(first on line {first_line[key]})"))
            first_line.setdefault(key, line)
            where = path + (key,)
            self.lines[where] = line
            out[key] = self.build(value_node, where, depth + 1)
        for value_node in merges:
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) \
                else [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self.problems.append((path, source.start_mark.line + 1, "'<<' merges "
                                          "mappings only (write e.g. '<<: *defaults')"))
                    continue
                own_lines, self.lines = self.lines, {}
                merged = self.build(source, path, depth + 1)
                merged = merged if isinstance(merged, dict) else {}
                merged_lines, self.lines = self.lines, own_lines
                taken = {key for key in merged if key not in out}
                for key in taken:
                    out[key] = merged[key]
                for where, line in merged_lines.items():
                    if len(where) > len(path) and where[len(path)] in taken:
                        self.lines.setdefault(where, line)
        return out


def _read_text(path: str | os.PathLike[str]) -> str:
    file = str(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_PLAN_BYTES:
            raise PlanInvalid([PlanError(file, None, f"plan is {size // 1024} KiB; the limit is "
                                         f"{MAX_PLAN_BYTES // 1024 // 1024} MiB")])
        # Bounded read: a pipe or device (/dev/zero, `<(yes)`) has no size to check up front.
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read(MAX_PLAN_BYTES + 1)
        if len(text) > MAX_PLAN_BYTES or len(text.encode("utf-8")) > MAX_PLAN_BYTES:
            raise PlanInvalid([PlanError(file, None, "plan is larger than the limit of "
                                         f"{MAX_PLAN_BYTES // 1024 // 1024} MiB")])
        return text
    except FileNotFoundError:
        raise PlanInvalid([PlanError(file, None, "no such plan file")]) from None
    except IsADirectoryError:
        raise PlanInvalid([PlanError(file, None, "is a folder, not a plan file")]) from None
    except PermissionError:
        raise PlanInvalid([PlanError(file, None, "cannot be read (permission denied)")]) from None
    except UnicodeDecodeError as exc:
        raise PlanInvalid([PlanError(file, None, f"is not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise PlanInvalid([PlanError(file, None, f"cannot be read ({exc.strerror})")]) from None


def _control_problem(text: str, path: Path_, key: bool = False) -> str:
    char = _CONTROL.search(text).group()
    where = f"a key in {_label(path)}" if key else _label(path)
    return f"{where}: control character U+{ord(char):04X} is not allowed in a plan"


def _refuse_too_many_nodes(text: str, file: str) -> None:
    """Count parser events before composing: libyaml builds every node of a document first,
    13 s for 5 MiB of `[1,1,...]`; counting stops at the limit in under half a second.
    A node takes at least two characters, so a shorter text cannot hold too many."""
    if len(text) <= 2 * MAX_NODES:
        return
    scanner = _SafeLoader(text)
    try:
        # libyaml counts the events itself, building no Python objects: six times quicker
        # on a 1,000-phase plan. Only a plan over the limit is counted again below, for the
        # line where it goes over.
        if hasattr(scanner, "raw_parse") and scanner.raw_parse() <= 2 * MAX_NODES:
            return
    finally:
        scanner.dispose()
    scanner = _SafeLoader(text)
    try:
        count = 0
        while scanner.check_event():
            event = scanner.get_event()
            count += 1
            if count > 2 * MAX_NODES:
                raise PlanInvalid([PlanError(file, event.start_mark.line + 1,
                                             "plan is too large to be a migration plan")])
    finally:
        scanner.dispose()


def read_yaml(path: str | os.PathLike[str]) -> tuple[Any, dict[Path_, int], list[PlanError]]:
    """Parse `path` safely; the data, the line of each path in it, and structural errors."""
    file = str(path)
    text = _read_text(path)
    loader = None
    try:
        _refuse_too_many_nodes(text, file)
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            raise PlanInvalid([PlanError(file, 1, "plan is empty")])
        builder = _Builder(loader, file)
        data = builder.build(node, (), 0)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = _one_line(exc.problem or exc.context or "not valid YAML")
        if exc.context and exc.problem:
            problem = f"{problem} ({_one_line(exc.context)})"
        raise PlanInvalid([PlanError(file, line, f"YAML: {problem}")]) from None
    except yaml.reader.ReaderError as exc:
        # The first such character is the one refused (positions count bytes in libyaml).
        at = text.find(chr(exc.character)) if isinstance(exc.character, int) else -1
        line = text.count("\n", 0, at) + 1 if at >= 0 else None
        raise PlanInvalid([PlanError(file, line, f"YAML: character #x{exc.character:04x} is "
                                     "not allowed in a plan")]) from None
    except yaml.YAMLError as exc:
        raise PlanInvalid([PlanError(file, None, f"YAML: {_one_line(str(exc))}")]) from None
    except RecursionError:
        raise PlanInvalid([PlanError(file, None, "plan is nested too deeply")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    where = _Locator(file, data, builder.lines)
    errors = [where.error(p, message, line=line) for p, line, message in builder.problems]
    return data, builder.lines, errors


def _one_line(text: str, limit: int = 200) -> str:
    """`text` with its whitespace runs made single spaces, cut to `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _short(value: Any, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters: user input quoted inside a one-line error."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


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
            except (KeyError, IndexError, TypeError):
                return None
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) and \
                    str(raw_id).strip():
                return _one_line(str(raw_id), 60)
            return f"#{path[1] + 1}"
        return None

    def error(self, path: Iterable[str | int], message: str, line: int | None = None
              ) -> PlanError:
        path = tuple(path)
        field = ".".join(str(p) for p in path if isinstance(p, str)) or None
        return PlanError(self.file, line or self.line(path), _one_line(message, 400),
                         self.phase_id(path), field)


def _label(loc: Path_) -> str:
    """The field an error is about, as the plan's author names it: 'rollback.duration'."""
    if len(loc) >= 2 and loc[0] == "phases" and isinstance(loc[1], int):
        keys = [str(p) for p in loc[2:] if isinstance(p, str)]
        return ".".join(keys) or "phase"
    return ".".join(str(p) for p in loc if isinstance(p, str)) or "plan"


def _model_at(loc: Path_) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc` (for listing its keys)."""
    model: Any = Plan
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return None
        model = fields[part].annotation
        while typing.get_origin(model) in (list, typing.Union, types.UnionType):
            model = next(a for a in typing.get_args(model) if a is not type(None))
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _keys_of(model: type[BaseModel] | None) -> list[str]:
    return [k for k in (model.model_fields if model else {}) if k != "source"]


def _pydantic_errors(exc: ValidationError, where: _Locator, prefix: Path_) -> list[PlanError]:
    out = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        label, kind, value = _label(loc), err["type"], err.get("input")
        if value is REFUSED and kind != "extra_forbidden":
            continue  # the YAML problem is reported already
        name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "plan")
        if kind == "extra_forbidden":
            allowed = _keys_of(_model_at(loc[:-1]))
            close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else \
                f"allowed here: {', '.join(allowed)}" if allowed else ""
            if not _KEY_NAME.fullmatch(name):  # a line of some other file: not echoed
                name, hint = "", "not a key name: keys are letters, digits, '_' and '-'"
            message = f"unknown key '{name}'" + (f" ({hint})" if hint else "")
            message = message.replace("unknown key '' ", "unknown key ")
        elif kind == "missing":
            message = f"missing required key '{name}'"
        elif value is None and kind in ("string_type", "list_type", "dict_type",
                                        "model_type", "int_type", "literal_error"):
            message = f"{label} is empty"
        elif kind == "literal_error" and name == "level":
            message = (f"unknown impact level {_short(value)} (use one of "
                       f"{', '.join(LEVELS)})")
        elif kind == "literal_error" and "kinds" in loc:
            message = (f"unknown notice kind {_short(value)} (use one of "
                       f"{', '.join(NOTICE_KINDS)})")
        elif kind == "string_type":
            message = (f"{label} must be text, not {type(value).__name__} {_short(value)} "
                       "(put it in quotes)")
        elif kind == "string_too_short":
            message = f"{label} must not be empty"
        elif kind == "list_type":
            message = f"{label} must be a list, not {_short(value)}"
        elif kind in ("dict_type", "model_type", "model_attributes_type"):
            keys = ", ".join(_keys_of(_model_at(loc)))
            what = f"each entry of {label}" if isinstance(loc[-1], int) else label
            if loc[:1] == ("phases",) and len(loc) == 2:
                what = "each phase"
            message = f"{what} must be a mapping ({keys}), not {_short(value)}"
        elif kind == "string_pattern_mismatch":
            message = (f"{label} {_short(value)} must be letters, digits and '-', starting "
                       "with a letter or digit")
        elif kind == "less_than_equal":
            message = f"{label} must be at most {err['ctx']['le']}, not {_short(value)}"
        elif kind.startswith("int_"):
            message = f"{label} must be a whole number, not {_short(value)}"
        elif kind == "value_error":
            message = f"{label}: {err['ctx']['error']}"
        elif kind == "too_short" and name in ("phases", "services"):
            message = f"a plan needs at least one entry in '{name}'"
        else:
            message = f"{label}: {err['msg'].removeprefix('Value error, ')}"
        out.append(where.error(loc, message))
    return out


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read, validate and return the plan at `path`; raise `PlanInvalid` listing every problem."""
    plan, _ = load_plan_with_warnings(path)
    return plan


def load_plan_with_warnings(path: str | os.PathLike[str]) -> tuple[Plan, list[PlanError]]:
    """Like `load_plan`, also returning warnings (e.g. independent phases that overlap)."""
    with collector.paused():  # half the time of a large plan otherwise
        return _load_plan_with_warnings(path)


def _load_plan_with_warnings(path: str | os.PathLike[str]) -> tuple[Plan, list[PlanError]]:
    file = str(path)
    data, lines, errors = read_yaml(path)
    where = _Locator(file, data, lines)
    if not isinstance(data, dict):
        raise PlanInvalid(errors + [PlanError(file, lines.get((), 1), (
            "a plan must be a mapping with id, title, timezone, services and phases"))])
    plan_keys = set(Plan.model_fields) - {"source"}
    if data and not plan_keys & set(data):
        # Not a plan at all (/etc/shadow reads as one key a line): say so once, and do not
        # echo its lines back as "unknown keys".
        raise PlanInvalid(errors + [PlanError(file, lines.get((), 1), (
            f"not a migration plan: none of its {len(data)} top-level keys is a plan key "
            "(id, title, timezone, services, phases)"))])
    if "source" in data:  # a field the loader fills in, not one a plan may set
        errors.append(where.error(("source",), "unknown key 'source'"))
        data = {k: v for k, v in data.items() if k != "source"}
    zone_name = data.get("timezone")
    try:
        tz: ZoneInfo | None = times.zone(zone_name) if zone_name is not None else None
    except ValueError:
        tz = None  # reported by the model below
    context = {"zone": tz}
    errors += _duplicate_services(data.get("services"), where)
    try:
        plan = Plan.model_validate({**data, "source": file}, context=context)
    except ValidationError as exc:
        errors += _pydantic_errors(exc, where, ())
        plan = None
    if plan is None:
        # Report the cross-phase rules too: for every phase, valid on its own or not.
        raw_phases = data.get("phases") if isinstance(data.get("phases"), list) else []
        facts = []
        for i, raw in enumerate(raw_phases):
            try:
                phase = Phase.model_validate(raw, context=context)
            except ValidationError:
                phase = None
            facts.append(_Facts.raw(i, raw, phase))
        errors += _rules(facts, _valid_services(data.get("services")), where, tz)[0]
        raise PlanInvalid(errors)
    rule_errors, warnings = _rules([_Facts.of(i, p) for i, p in enumerate(plan.phases)],
                                   {s.id for s in plan.services}, where, tz)
    errors += rule_errors
    errors += _team_rules(plan, where)
    errors += _channel_services(plan, where)
    if errors:
        raise PlanInvalid(errors)
    return plan, warnings


def _team_rules(plan: Plan, where: _Locator) -> list[PlanError]:
    """The team, approvals and allowed_signers keys: names unique, required roles held by
    someone, approvals only with a team, the signers file present beside the plan."""
    errors = []
    seen: dict[str, int] = {}
    logins: dict[str, int] = {}
    for i, member in enumerate(plan.team):
        if member.name in seen:
            errors.append(where.error(("team", i, "name"), f"team member '{member.name}' is "
                                      f"listed twice (also entry {seen[member.name] + 1})"))
        seen.setdefault(member.name, i)
        if member.login and member.login in logins:
            errors.append(where.error(("team", i, "login"), f"login '{member.login}' belongs "
                                      f"to two team members"))
        if member.login:
            logins.setdefault(member.login, i)
    held = {role for member in plan.team for role in member.roles}
    places: list[tuple[Path_, Approvals]] = [(("approvals",), plan.approvals)]
    places += [(("phases", i, "approvals"), p.approvals) for i, p in enumerate(plan.phases)
               if p.approvals is not None]
    for loc, rules in places:
        for j, role in enumerate(rules.go or []):
            if not plan.team:
                errors.append(where.error(loc + ("go",), "approvals.go names roles, but the "
                                          "plan has no team (add team: [{name, roles}])"))
                break
            if role not in held:
                errors.append(where.error(loc + ("go", j), f"approvals.go: no team member "
                                          f"holds the role '{role}' (roles held: "
                                          f"{', '.join(sorted(held)) or 'none'})"))
        if rules.require_signatures and not plan.allowed_signers:
            errors.append(where.error(loc + ("require_signatures",), "approvals."
                                      "require_signatures needs the plan's allowed_signers "
                                      "file (allowed_signers: PATH)"))
    if plan.allowed_signers and plan.source:
        path = signers_path(plan)
        try:
            present = path is not None and path.is_file()
        except OSError:     # a name too long for the file system, say
            present = False
        if path is not None and not present:
            errors.append(where.error(("allowed_signers",), f"allowed_signers: no file "
                                      f"{path} (a path relative to the plan file)"))
    return errors


def signers_path(plan: Plan) -> Path | None:
    """The plan's allowed_signers file, relative to the plan file (None when it names none)."""
    if not plan.allowed_signers:
        return None
    given = Path(plan.allowed_signers).expanduser()
    return given if given.is_absolute() else Path(plan.source).parent / given


def _channel_services(plan: Plan, where: _Locator) -> list[PlanError]:
    """Channel ids are unique; a channel's `depends_on` names the plan's services."""
    known = {s.id for s in plan.services}
    errors, seen = [], {}
    for i, channel in enumerate(plan.communications.channels):
        if channel.id in seen:
            errors.append(where.error(("communications", "channels", i, "id"), (
                f"duplicate channel id '{channel.id}' (also channel #{seen[channel.id] + 1})")))
        seen.setdefault(channel.id, i)
        errors += [where.error(("communications", "channels", i, "depends_on", j), (
            f"channel '{channel.id}' depends on unknown service '{service}' (services: "
            f"{', '.join(sorted(known))})"))
            for j, service in enumerate(channel.depends_on) if service not in known]
    return errors


def _valid_services(raw: Any) -> set[str] | None:
    if not isinstance(raw, list):
        return None
    return {str(s["id"]) for s in raw if isinstance(s, dict) and "id" in s}


def _duplicate_services(raw: Any, where: _Locator) -> list[PlanError]:
    errors, seen = [], {}
    for i, service in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(service, dict) and isinstance(service.get("id"), str):
            service_id = service["id"].strip()
            if service_id in seen:
                errors.append(where.error(("services", i, "id"), (
                    f"duplicate service id '{service_id}' (also service "
                    f"#{seen[service_id] + 1})")))
            seen.setdefault(service_id, i)
    return errors


@dataclass
class _Facts:
    """What the cross-phase rules need of one phase, even when the phase itself is invalid."""

    index: int
    id: str | None
    depends_on: list[tuple[int, str]]
    services: list[tuple[int, str]]
    phase: Phase | None

    @classmethod
    def of(cls, index: int, phase: Phase) -> _Facts:
        return cls(index, phase.id, list(enumerate(phase.depends_on)),
                   [(j, i.service) for j, i in enumerate(phase.impacts)], phase)

    @classmethod
    def raw(cls, index: int, raw: Any, phase: Phase | None) -> _Facts:
        if phase is not None:
            return cls.of(index, phase)
        raw = raw if isinstance(raw, dict) else {}

        def texts(items: Any, key: str | None = None) -> list[tuple[int, str]]:
            items = items if isinstance(items, list) else []
            values = [(j, item.get(key) if key and isinstance(item, dict) else item)
                      for j, item in enumerate(items)]
            return [(j, v.strip()) for j, v in values if isinstance(v, str)]

        phase_id = raw.get("id").strip() if isinstance(raw.get("id"), str) else None
        return cls(index, phase_id, texts(raw.get("depends_on")),
                   texts(raw.get("impacts"), "service"), None)


def _step_rules(phase: Phase, at: Path_, where: _Locator) -> list[PlanError]:
    """The step graph's rules (`steps.resolve`), then: its critical path plus the rollback
    fits the window (the critical path, not the sum: parallel steps share the time)."""
    from .steps import resolve

    graph, problems = resolve(phase.steps)
    if problems:
        return [where.error(at + path, message) for path, message in problems]
    phase.__dict__["graph"] = graph     # what the cached property would compute again
    length = graph.length()
    if length + phase.rollback.duration <= phase.duration:
        return []
    path = graph.critical_path()
    chain = f"critical path {' -> '.join(path)}: " if len(path) > 1 and \
        len(path) < len(graph) else ""
    return [where.error(at + (("steps",) if phase.steps else ("rollback", "duration")), (
        f"steps ({chain}{times.format_duration(length)}) plus rollback "
        f"({times.format_duration(phase.rollback.duration)}) do not fit in the "
        f"{times.format_duration(phase.duration)} window"))]


def _rules(facts: list[_Facts], services: set[str] | None, where: _Locator,
           tz: ZoneInfo | None) -> tuple[list[PlanError], list[PlanError]]:
    """The rules that span fields or phases; (errors, warnings).

    Rules about ids, services and dependencies are checked for every phase, valid or not;
    rules about times only for phases whose times are valid.
    """
    display = tz or times.UTC_ZONE
    errors: list[PlanError] = []
    warnings: list[PlanError] = []
    first: dict[str, _Facts] = {}
    for f in facts:
        if f.id is not None:
            if f.id in first:
                errors.append(where.error(("phases", f.index, "id"), (
                    f"duplicate phase id '{f.id}' (also phase #{first[f.id].index + 1})")))
            first.setdefault(f.id, f)
        at = ("phases", f.index)
        listed: set[str] = set()
        for j, service in f.services:
            if services is not None and service not in services:
                errors.append(where.error(at + ("impacts", j, "service"), (
                    f"unknown service '{service}' (services: "
                    f"{', '.join(sorted(services)) or 'none'})")))
            if service in listed:
                errors.append(where.error(at + ("impacts", j, "service"),
                                          f"service '{service}' is listed twice"))
            listed.add(service)
        phase = f.phase
        if phase is None:
            continue
        if phase.end <= phase.start:
            errors.append(where.error(at + ("end",), (
                f"end must be after start (the window is {times.format_local(phase.start, display)}"
                f" to {times.format_local(phase.end, display)})")))
        else:
            errors += _step_rules(phase, at, where)
    for f in facts:
        for j, dep in f.depends_on:
            if dep == f.id:
                errors.append(where.error(("phases", f.index, "depends_on", j),
                                          "a phase cannot depend on itself"))
            elif dep not in first:
                errors.append(where.error(("phases", f.index, "depends_on", j),
                                          f"depends on unknown phase '{dep}'"))
    graph = {i: sorted({d for _, d in f.depends_on if d in first and d != i})
             for i, f in first.items()}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        # graphlib lists each node before the one that depends on it; read it the other way.
        cycle = list(reversed(exc.args[1][:-1]))
        start = min(range(len(cycle)), key=lambda k: first[cycle[k]].index)
        cycle = cycle[start:] + cycle[:start]
        errors.append(where.error(("phases", first[cycle[0]].index, "depends_on"), (
            "dependency cycle: " + " -> ".join(cycle + [cycle[0]]) +
            " (each depends on the next)")))
        return errors, warnings
    # The valid ancestor that ends last, one pass in dependency order.
    last: dict[str, Phase | None] = {}
    for node in order:
        latest = None
        for dep in graph[node]:
            for candidate in (first[dep].phase, last[dep]):
                if candidate is not None and (latest is None or candidate.end > latest.end):
                    latest = candidate
        last[node] = latest
    for node in order:
        f, dep = first[node], last[node]
        if f.phase is not None and dep is not None and dep.end > f.phase.start:
            errors.append(where.error(("phases", f.index, "start"), (
                f"starts before '{dep.id}', which it depends on, ends; it must start at or "
                f"after {times.format_both(dep.end, display)}")))
    if not errors:
        # Phases whose windows overlap are independent here: one that depends on another,
        # directly or not, starts after it ends (or that was an error just above).
        warnings += _overlap_warnings([f for f in first.values() if f.phase is not None],
                                      where, display)
    return errors, warnings


MAX_OVERLAP_WARNINGS = 20
"""Groups of overlapping windows reported one by one; beyond that, one line counts the rest."""
MAX_OVERLAP_NAMED = 10
"""Phases named in one group's warning; beyond that, the group says how many more."""


def _overlap_warnings(facts: list[_Facts], where: _Locator, display: ZoneInfo
                      ) -> list[PlanError]:
    """One warning for each group of windows that overlap one another (a sweep over the
    windows sorted by start: a group ends where a window starts after all before it ended),
    so that a thousand phases in one window are one line, not half a million."""
    timed = sorted(facts, key=lambda f: (f.phase.start, f.index))
    groups: list[list[_Facts]] = []
    group_end = None
    for f in timed:
        if group_end is not None and f.phase.start < group_end:
            groups[-1].append(f)
            group_end = max(group_end, f.phase.end)
        else:
            groups.append([f])
            group_end = f.phase.end
    warnings = []
    groups = [g for g in groups if len(g) > 1]
    for group in groups[:MAX_OVERLAP_WARNINGS]:
        one, other = group[0], group[1]
        if len(group) == 2:
            message = (f"warning: window overlaps independent phase '{one.id}' "
                       f"({times.format_local(one.phase.start, display)} to "
                       f"{times.format_local(one.phase.end, display)})")
        else:
            named = ", ".join(f"'{g.id}'" for g in group[:MAX_OVERLAP_NAMED])
            more = len(group) - MAX_OVERLAP_NAMED
            end = max(g.phase.end for g in group)
            message = (f"warning: the windows of {len(group)} independent phases overlap "
                       f"between {times.format_local(one.phase.start, display)} and "
                       f"{times.format_local(end, display)}: {named}"
                       + (f" and {more} more" if more > 0 else ""))
        warnings.append(where.error(("phases", other.index, "start"), message))
    if len(groups) > MAX_OVERLAP_WARNINGS:
        rest = groups[MAX_OVERLAP_WARNINGS:]
        warnings.append(PlanError(where.file, None, (
            f"warning: {len(rest)} more groups of overlapping windows "
            f"({sum(len(g) for g in rest)} phases) not listed")))
    return warnings


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
    import pandas as pd

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
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def steps_frame(plan: Plan) -> pd.DataFrame:
    """One row a checklist step, with its planned slot: each step starts at the window's start
    or as soon as the steps it comes after are done (`steps`); `critical` marks the critical
    path."""
    rows = []
    for p in plan.phases:
        graph = p.graph
        slots = graph.planned(p.start)
        critical = set(graph.critical_path())
        for order, s in enumerate(graph.steps, start=1):
            start, end = slots.get(s.id, (p.start, p.start + s.duration))
            rows.append({"phase": p.id, "order": order, "id": s.id, "name": s.name,
                         "owner": s.owner, "after": list(s.after), "duration": s.duration,
                         "duration_minutes": s.duration.total_seconds() / 60,
                         "planned_start_utc": start, "planned_end_utc": end,
                         "critical": s.id in critical})
    columns = ["phase", "order", "id", "name", "owner", "after", "duration", "duration_minutes",
               "planned_start_utc", "planned_end_utc", "critical"]
    import pandas as pd

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
