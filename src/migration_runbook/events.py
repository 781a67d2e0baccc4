"""The event log: an append-only, hash-chained record of every decision and action of a run.

Each record says who did what to which phase, when it happened (UTC; back-filled times are
allowed) and when it was written. Each carries the hash of the record before it, so editing,
deleting or reordering records afterwards breaks the chain, and `verify` names where.

What may be recorded is decided by the state machine in `states`, inside the same transaction
that appends (see `store`), so two operators saying `go` at once record exactly one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import approvals, chronology, progress, signing, times
from . import states as machine
from .errors import EventRefused, RunbookError, StoreError
from .plan import Plan
from .store import (
    GENESIS,
    LOG_FILE,
    STORE_ENV,
    Snapshot,
    Store,
    open_store,
    sqlite_url,
    unmask,
)
from .terminal import visible

SOURCES = ("cli", "notebook", "rehearsal")
MAX_OPERATOR = 200
MAX_REASON = 10_000
MAX_NOTEBOOK = 4_096
"""The longest notebook path recorded (PATH_MAX)."""
MAX_DETAILS = 1_000_000
"""The longest `details` JSON text recorded or read (characters)."""
MAX_DEPTH = 32
"""The deepest nesting of `details` recorded or read (a deeper one is refused, not parsed)."""
HASHED = ("seq", "plan", "phase", "event", "operator", "reason", "at", "recorded_at", "source",
          "notebook", "details", "prev_hash")
"""The fields a record's hash covers (every field but the hash itself)."""
HASHED_IF_SET = ("login",)
"""Fields added later: covered by the hash when set, so older records keep their hashes."""


class ChainBroken(RunbookError):
    """The log's hash chain does not hold: a record was edited, deleted or reordered."""


class RecordProblem(ValueError):
    """A stored record's field that cannot be read as written (`Event.from_row`)."""

    def __init__(self, name: str, problem: str):
        self.field, self.problem = name, problem
        super().__init__(f"{name} {problem}")


class UnreadableRecord(StoreError):
    """A record of the log cannot be read (it was edited in the database): named, one line."""

    def __init__(self, location: str, seq: Any, problem: str):
        self.seq, self.problem = seq, problem
        super().__init__(f"{location}: {record_label(seq)} cannot be read ({problem}); run "
                         "`runbook verify` and restore the log from a backup")


@dataclass(frozen=True)
class Unreadable:
    """A record that could not be read, as the lenient reader (`EventLog.read`) marks it."""

    seq: Any
    problem: str

    @property
    def label(self) -> str:
        return record_label(self.seq)


TEXT_FIELDS = ("plan", "phase", "event", "operator", "reason", "source", "notebook",
               "prev_hash", "hash")
_HASH = re.compile(r"[0-9a-f]{64}")
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def brief(value: Any, limit: int = 40) -> str:
    """A stored value as a short, printable description: `'abc'`, `a number (3.5)`, `empty`."""
    if value is None:
        return "empty"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"{len(bytes(value))} bytes of binary data"
    if isinstance(value, bool | int | float):
        return f"a number ({value!r})"[:limit + 12]
    return "'" + printable(value, limit) + "'"


def printable(value: Any, limit: int = 100) -> str:
    """Stored text for a message: on one line, control characters and bytes that were not
    UTF-8 as escapes (`\\x1b`), cut to `limit` characters (`terminal.visible`)."""
    return visible(value, one_line=True, limit=limit)


def record_label(seq: Any) -> str:
    """'record 3', or a description of a record number that is not one."""
    return f"record {seq}" if type(seq) is int else f"a record numbered {brief(seq)}"


def _optional_text(row: dict[str, Any], name: str) -> str:
    """A column added by a later schema (login, signature): empty when absent, else text."""
    value = row.get(name) or ""
    if not isinstance(value, str) or _not_utf8(value):
        raise RecordProblem(name, f"is {brief(value)}, not text")
    return value


def _not_utf8(text: str) -> bool:
    """Whether `text` holds bytes that were not UTF-8 (read back as lone surrogates)."""
    if text.isascii():   # the usual case, and no surrogate is ASCII: no copy made
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _read_stamp(value: Any, name: str) -> datetime:
    if not isinstance(value, str) or not _STAMP.fullmatch(value):
        raise RecordProblem(name, f"is {brief(value)}, not a time as the log writes them")
    try:
        instant = parse_stamp(value)
    except (ValueError, OverflowError):
        raise RecordProblem(name, f"is {brief(value)}, not a real time") from None
    if not times.EARLIEST_INSTANT <= instant <= times.LATEST_INSTANT:
        raise RecordProblem(name, f"is {brief(value)}, out of range (years "
                            f"{times.EARLIEST_INSTANT.year} to {times.LATEST_INSTANT.year})")
    return instant


def nesting(text: str) -> int:
    """How deep the arrays and objects of JSON `text` nest, counted without parsing it."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    depth = deepest = 0
    for char in bare:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_details(text: str) -> dict[str, Any]:
    """A record's `details` JSON text as a mapping; ValueError (one line) if it is not one.

    Limits first, so that no stored text can exhaust memory or the recursion limit.
    """
    if len(text) > MAX_DETAILS:
        raise ValueError(f"is {len(text)} characters long (at most {MAX_DETAILS})")
    if not text:
        return {}
    # Fewer brackets than the limit cannot nest deeper than it: most records skip the count.
    if text.count("[") + text.count("{") > MAX_DEPTH and nesting(text) > MAX_DEPTH:
        raise ValueError(f"nest deeper than {MAX_DEPTH} levels")
    if _not_utf8(text):
        raise ValueError("is not valid UTF-8 text")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"is not JSON ({str(exc)[:80]})") from None
    if not isinstance(value, dict):
        raise ValueError(f"is {type(value).__name__} JSON, not an object")
    return value


@dataclass(frozen=True)
class Event:
    """One record of the log, as written."""

    seq: int
    plan: str
    phase: str
    event: str
    operator: str
    reason: str
    at: datetime            # when it happened, UTC aware
    recorded_at: datetime   # when it was written, UTC aware
    source: str
    notebook: str           # path of the executed notebook, "" if none
    details: dict = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""
    login: str = ""         # the database login that wrote it (PostgreSQL), "" if none
    signature: str = ""     # ssh-keygen -Y sign of `hash` by the operator's key, "" if none

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Event:
        """An event from a stored row (times as fixed-format text, details as JSON text).

        Every field is checked, as input from outside: a record edited in the database raises
        `RecordProblem` naming the field, never anything else.
        """
        if not isinstance(row, dict):
            raise RecordProblem("record", "is not a row of the events table")
        seq = row.get("seq")
        if type(seq) is not int or seq < 1:
            raise RecordProblem("seq", f"is {brief(seq)}, not a record number")
        texts = {}
        for name in TEXT_FIELDS:
            value = row.get(name)
            if type(value) is str and value.isascii():   # the usual case, checked inline
                texts[name] = value
                continue
            if not isinstance(value, str):
                raise RecordProblem(name, f"is {brief(value)}, not text")
            if _not_utf8(value):
                raise RecordProblem(name, "is not valid UTF-8 text")
            texts[name] = value
        for name in ("prev_hash", "hash"):
            if not _HASH.fullmatch(texts[name]):
                raise RecordProblem(name, f"is {brief(texts[name])}, not a SHA-256 hash")
        when = {name: _read_stamp(row.get(name), name) for name in ("at", "recorded_at")}
        details = row.get("details")
        if not isinstance(details, str):
            raise RecordProblem("details", f"is {brief(details)}, not JSON text")
        try:
            parsed = parse_details(details)
        except ValueError as exc:
            raise RecordProblem("details", str(exc)) from None
        return cls(seq=seq, plan=texts["plan"], phase=texts["phase"], event=texts["event"],
                   operator=texts["operator"], reason=texts["reason"], at=when["at"],
                   recorded_at=when["recorded_at"], source=texts["source"],
                   notebook=texts["notebook"], details=parsed,
                   prev_hash=texts["prev_hash"], hash=texts["hash"],
                   login=_optional_text(row, "login"),
                   signature=_optional_text(row, "signature"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 UTC with a Z."""
        data = asdict(self)
        data["at"], data["recorded_at"] = iso_utc(self.at), iso_utc(self.recorded_at)
        return data


@dataclass(frozen=True)
class Verification:
    """The result of checking a log's hash chain."""

    ok: bool
    count: int
    first_bad: int | None
    message: str
    last_hash: str


# --- canonical form and hashing ---------------------------------------------------------

def stamp(instant: datetime) -> str:
    """The fixed text form of a time in the store and the hash: '2020-09-07T09:00:00.000000Z'."""
    at = instant.astimezone(UTC)
    # The year by hand: strftime's %Y drops the leading zeros of years before 1000 on glibc,
    # which `parse_stamp` could not read back.
    return f"{at.year:04d}-{at:%m-%dT%H:%M:%S.%f}Z"


def parse_stamp(text: str) -> datetime:
    """The inverse of `stamp`."""
    return datetime.fromisoformat(text).astimezone(UTC)


def iso_utc(instant: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the second unless the time has a fraction."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is: one text for one value on every machine."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(row: dict[str, Any]) -> str:
    """SHA-256 over the canonical encoding of a stored row's fields and its previous hash.

    The hash covers what is stored: `details` text must be exactly the canonical JSON of its
    value (as `record` writes it), so a text that parses to the same value but reads
    differently elsewhere (a duplicated key, other spacing) is `NotAsWritten`, not verified.
    (For canonical text, hashing the parsed value is hashing the text: logs written before
    this check verify as they did.)
    """
    fields = {key: row[key] for key in HASHED}
    fields.update({key: row[key] for key in HASHED_IF_SET if row.get(key)})
    details = fields["details"]
    if isinstance(details, str):
        fields["details"] = parse_details(details)
        if details and canonical_json(fields["details"]) != details:
            raise NotAsWritten("its details are not the JSON text the log writes (a duplicated "
                               "key, or re-encoded)")
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


class NotAsWritten(ValueError):
    """A stored field that the log could not have written in that form."""


# --- opening ------------------------------------------------------------------------------

PROJECT_MARKERS = ("runbooks", "pyproject.toml", ".git")
"""What makes a folder the project a plan belongs to (`project_of`)."""


def project_of(plan_file: str | os.PathLike[str]) -> Path:
    """The project a plan file belongs to: the nearest folder above it holding runbooks/,
    pyproject.toml or .git; else the plan's own folder."""
    folder = Path(plan_file).expanduser().resolve().parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in PROJECT_MARKERS):
            return candidate
    return folder


def default_outputs(plan: Plan) -> Path:
    """Where a run keeps its log, notebooks and report: outputs/<plan id> in the plan's
    project (`project_of`), whichever folder a command is run from: two operators in two
    folders must record into one log. (A plan built in code, with no file: from here.)"""
    if not plan.source:
        return Path("outputs") / plan.id
    return project_of(plan.source) / "outputs" / plan.id


def open_log(plan: Plan, outputs: str | Path | None = None,
             store: str | None = None) -> EventLog:
    """The event log of `plan`; opening creates nothing (the first `record` does).

    The store is `store` (a URL), else $RUNBOOK_STORE, else the SQLite file
    <outputs>/events.sqlite, where `outputs` defaults to outputs/<plan id>. A `store` whose
    password is masked (what an executed notebook shows) takes the real URL from
    $RUNBOOK_STORE.
    """
    chosen = (store or "").strip() or os.environ.get(STORE_ENV, "").strip()
    if chosen:
        return EventLog(plan, Store(unmask(chosen)))
    folder = Path(outputs) if outputs else default_outputs(plan)
    return EventLog(plan, Store(sqlite_url(folder / LOG_FILE)))


class EventLog:
    """One plan's event log in a store: check, record, read back, verify."""

    def __init__(self, plan: Plan, store: Store):
        self.plan = plan
        self.store = store
        self._phase_ids = {p.id for p in plan.phases}

    @property
    def location(self) -> str:
        return self.store.location

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    # --- writing -------------------------------------------------------------------------

    def check(self, phase: str, event: str, at: datetime | None = None, reason: str = "",
              source: str = "cli", operator: str | None = None) -> None:
        """Raise EventRefused if `event` may not be recorded for `phase` now; writes nothing.

        `at`: a typed time (UTC) the event would carry, judged as `record` judges it.
        `operator`: also judge who asks (the team, approvals); None judges the event only.
        """
        self._refuse_unknown(phase, event)
        snap = self.store.snapshot(self.plan.id, self._relevant(phase))
        self._judge(snap, phase, event, at=at, typed=at is not None, reason=reason,
                    source=source, operator=operator.strip() if operator is not None else None)

    def record_step(self, phase: str, step: str, event: str, operator: str, reason: str = "",
                    at: datetime | str | None = None, source: str = "cli") -> Event:
        """Check and append one step event (`progress.STEP_EVENTS`) of `step` of `phase`.

        Recorded as `step-<event>` with `{"step": step}` in its details, in the same hash
        chain and transaction discipline as phase events; EventRefused (nothing written) if
        the step rules (`progress.refusal`) say no.
        """
        step = str(step or "").strip()
        if phase not in self._phase_ids:
            known = ", ".join(p.id for p in self.plan.phases[:10])
            raise EventRefused(phase, event, f"step '{step}' cannot {event}: plan "
                               f"'{self.plan.id}' has no phase '{phase}' (phases: {known})")
        if event not in progress.STEP_EVENTS:
            raise EventRefused(phase, event, f"step '{step}' of phase '{phase}': unknown step "
                               f"event '{event}' (events: {', '.join(progress.STEP_EVENTS)})")
        if step not in self.plan.phase(phase).graph.by_id:
            raise EventRefused(phase, event, progress.refusal(
                self.plan, "planned", {}, phase, step, event, reason) or "")
        return self.record(phase, progress.PREFIX + event, operator, reason, at, source,
                           details={"step": step})

    def record(self, phase: str, event: str, operator: str, reason: str = "",
               at: datetime | str | None = None, source: str = "cli", notebook: str = "",
               details: dict | None = None, sign: str | None = None) -> Event:
        """Check and append one event in one transaction; EventRefused (nothing written) if not.

        `at` is when it happened (default now; ISO text without an offset is in the plan's
        zone), for back-filling and rehearsals. A given `at` is judged by
        `chronology.typed_refusal`: not over 5 minutes ahead (but in a rehearsal's own log),
        not over 12 hours from the phase's window without a reason, not before the phase's
        previous event, and a `go` not before its dependencies completed.
        `sign`: the operator's SSH key (a private key file, or a public one whose private half
        is in the ssh-agent); None: $RUNBOOK_SIGNING_KEY, else an agent key the plan's
        allowed_signers gives the operator, else unsigned (see `signing.signer_for`).
        """
        self._refuse_unknown(phase, event)
        operator = (operator or "").strip() if isinstance(operator, str) else operator
        reason = (reason or "").strip() if isinstance(reason, str) else reason
        check_fields(phase, event, operator=operator, reason=reason, notebook=notebook)
        if source not in SOURCES:
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: unknown source "
                               f"{brief(source)} (sources: {', '.join(SOURCES)})")
        try:
            when = None if at is None or (isinstance(at, str) and not at.strip()) \
                else times.parse_typed(at, self.plan.zone)
        except (ValueError, TypeError) as exc:
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: at: {exc}") \
                from None
        if details is not None and not isinstance(details, dict):
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: details must be "
                               "a mapping")
        try:
            given = jsonable(details or {})
            parse_details(canonical_json(given))
        except (ValueError, RecursionError) as exc:
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: details "
                               f"{str(exc)[:120]}") from None
        why = approvals.operator_refusal(self.plan, phase, event, operator)
        if why:
            raise EventRefused(phase, event, why)
        signer = signing.signer_for(self.plan, phase, event, operator, sign, source)

        def decide(snap: Snapshot) -> dict[str, Any]:
            recorded = times.now()
            happened = when or recorded
            extra = self._judge(snap, phase, event, at=happened, typed=when is not None,
                                reason=reason or "", source=source, now=recorded,
                                operator=operator, details=details)
            if event == "approve":
                extra.update(approvals.approve_details(self.plan, phase, operator))
            elif event == "go":
                extra.update(approvals.go_details(self.plan, self._rows_to_events(snap.rows),
                                                  phase, operator))
            row = {"seq": snap.last_seq + 1, "plan": self.plan.id, "phase": phase,
                   "event": event, "operator": operator, "reason": reason or "",
                   "at": stamp(happened), "recorded_at": stamp(recorded), "source": source,
                   "notebook": notebook or "",
                   "details": canonical_json(jsonable({**given, **extra})),
                   "prev_hash": snap.last_hash, "login": snap.login}
            row["hash"] = record_hash(row)
            row["signature"] = signer.sign(row["hash"], operator) if signer else ""
            return row

        if not self.store.exists():
            decide(Snapshot())   # refuse before anything is created
        row = self.store.append(self.plan.id, self._relevant(phase), decide,
                                created_at=stamp(times.now()))
        return Event.from_row(row)

    def _relevant(self, phase: str) -> set[str]:
        return {phase, *self.plan.phase(phase).depends_on}

    def _refuse_unknown(self, phase: str, event: str) -> None:
        if progress.is_step_event(event) and phase in self._phase_ids:
            return
        if event not in machine.EVENTS or phase not in self._phase_ids:
            raise EventRefused(phase, event, machine.refusal(self.plan, {}, phase, event) or "")

    def _judge(self, snap: Snapshot, phase: str, event: str, at: datetime | None,
               typed: bool = False, reason: str = "", source: str = "cli",
               now: datetime | None = None, operator: str | None = None,
               details: dict | None = None) -> dict[str, Any]:
        """Raise EventRefused unless the snapshot allows `event` for `phase` (at `at`, a
        typed time when `typed`: see `chronology.typed_refusal`; by `operator` when given:
        the team, its database login, approvals).

        Returns details to add to the record (the unfinished steps a `complete` overrides).
        """
        if snap.bound_plan is not None and snap.bound_plan != self.plan.id:
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: the event log "
                               f"{self.location} belongs to plan {brief(snap.bound_plan, 100)}, "
                               f"not '{self.plan.id}' (use another --outputs folder)")
        mixed = chronology.mixing_refusal(f"phase '{phase}' cannot {event}", source,
                                          snap.first_source)
        if mixed:
            raise EventRefused(phase, event, mixed)
        events = self._rows_to_events(snap.rows)
        if operator is not None:
            who = approvals.operator_refusal(self.plan, phase, event, operator) or \
                approvals.login_refusal(self.plan, phase, event, operator, snap.login,
                                        self.store.backend)
            if who:
                raise EventRefused(phase, event, who)
        current = machine.replay(self.plan, events)
        extra: dict[str, Any] = {}
        if progress.is_step_event(event) or event == "complete":
            steps = progress.replay_steps(self.plan, [e for e in events if e.phase == phase])
            ticked = steps.current.get(phase, {})
        if progress.is_step_event(event):
            refused = progress.refusal(self.plan, current[phase], ticked, phase,
                                       str((details or {}).get("step", "")),
                                       event[len(progress.PREFIX):], reason)
        else:
            refused = machine.refusal(self.plan, current, phase, event)
            if not refused and event in machine.APPROVAL_EVENTS and operator is not None:
                refused = approvals.approval_refusal(self.plan, events, phase, event, operator)
            if not refused and event == "go":
                refused = approvals.go_refusal(self.plan, events, phase, operator)
            if not refused and event == "complete":
                model = self.plan.phase(phase)
                refused = progress.completion_refusal(model, ticked, reason)
                left = progress.unfinished(model, ticked)
                if left:
                    extra["unfinished_steps"] = [{"step": s, "state": st} for s, st in left]
        if refused:
            raise EventRefused(phase, event, refused)
        if at is None:
            return extra
        if typed:
            late = chronology.typed_refusal(self.plan, events, phase, event, at,
                                            now or times.now(), reason, source)
        else:
            late = chronology.order_refusal(self.plan, events, phase, event, at)
        if late:
            raise EventRefused(phase, event, late)
        return extra

    # --- reading -------------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        snap = self.store.snapshot(self.plan.id)
        if snap.bound_plan is not None and snap.bound_plan != self.plan.id:
            raise StoreError(f"{self.location}: this event log belongs to plan "
                             f"{brief(snap.bound_plan, 100)}, not '{self.plan.id}' (use the "
                             "right --outputs folder)")
        return snap

    def events(self, phase: str | None = None) -> list[Event]:
        """The log in order (all phases, or one)."""
        rows = self._snapshot().rows
        return self._rows_to_events([r for r in rows if phase is None or r["phase"] == phase])

    def _rows_to_events(self, rows: list[dict[str, Any]]) -> list[Event]:
        """Stored rows as events; a row that cannot be read is `UnreadableRecord` (one line
        naming it), never a traceback."""
        out = []
        for row in rows:
            try:
                out.append(Event.from_row(row))
            except RecordProblem as exc:
                raise UnreadableRecord(self.location, row.get("seq"), str(exc)) from None
        return out

    def read(self) -> tuple[list[Event], list[Unreadable]]:
        """The log in order, and the records that cannot be read, marked instead of raised.

        For views that must show what they can whatever the log holds (the report).
        """
        good, bad = [], []
        for row in self._snapshot().rows:
            try:
                good.append(Event.from_row(row))
            except RecordProblem as exc:
                bad.append(Unreadable(row.get("seq"), str(exc)))
        return good, bad

    def states(self) -> dict[str, str]:
        """Every phase of the plan -> its state."""
        return machine.replay(self.plan, self.events())

    def windows(self):
        """`states.actual_windows` of this log: one row a phase attempt."""
        return machine.actual_windows(self.plan, self.events())

    def verify(self) -> Verification:
        """Recompute the hash chain; name the first record that was edited, deleted or moved."""
        snap = self._snapshot()
        return verify_rows(snap, self.location)


def verify_rows(snap: Snapshot, location: str = "") -> Verification:
    """Check a snapshot's chain: seqs 1..n without gaps, each linking to and matching its hash,
    each readable. Whatever the rows hold, this returns (the first bad record named)."""
    where = f" ({location})" if location else ""
    previous, expected = GENESIS, 1
    for row in snap.rows:
        problem = _row_problem(row, expected, previous)
        if problem:
            return Verification(False, len(snap.rows), expected,
                                f"record {expected} was edited, deleted or reordered: "
                                f"{problem}{where}", previous)
        previous, expected = row["hash"], expected + 1
    last_seq = expected - 1
    if snap.rows and not snap.has_head:
        return Verification(False, len(snap.rows), last_seq,
                            f"record {last_seq} was edited, deleted or reordered: the log's "
                            f"head (its row in the plans table) is missing{where}", previous)
    if snap.has_head and (type(snap.last_seq) is not int or not isinstance(snap.last_hash, str)):
        bad = last_seq or 1
        return Verification(False, len(snap.rows), bad,
                            f"record {bad} was edited, deleted or reordered: the log's head "
                            f"cannot be read (it ends at {brief(snap.last_seq)}){where}",
                            previous)
    if snap.has_head and (snap.last_seq, snap.last_hash) != (last_seq, previous):
        bad = min(last_seq, snap.last_seq) + 1 if snap.last_seq != last_seq else last_seq
        return Verification(False, len(snap.rows), bad,
                            f"record {bad} was edited, deleted or reordered: the log's head "
                            f"says it ends at record {snap.last_seq}, the records end at "
                            f"{last_seq}{where}", previous)
    if not snap.rows:
        return Verification(True, 0, None, f"no events recorded yet{where}", "")
    return Verification(True, len(snap.rows), None,
                        f"event log intact: {len(snap.rows)} records, last hash {previous}{where}",
                        previous)


def _row_problem(row: dict[str, Any], expected: int, previous: str) -> str | None:
    """Why stored `row` is not record `expected` linking to `previous`; None when it is."""
    seq = row.get("seq")
    if type(seq) is not int:
        return f"its number is {brief(seq)}"
    if seq != expected:
        return (f"there is no record {expected} (the next is {seq})" if seq > expected else
                f"a record numbered {seq} is out of sequence")
    if row.get("prev_hash") != previous:
        return (f"its previous-record hash does not match record {expected - 1}"
                if expected > 1 else "it does not start the chain")
    try:
        Event.from_row(row)
    except RecordProblem as exc:
        return f"it cannot be read ({exc})"
    try:
        good = record_hash(row) == row.get("hash")
    except NotAsWritten as exc:
        return str(exc)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError):
        good = False
    if not good:
        return "its contents do not match its hash"
    return None


# --- moving logs between stores ----------------------------------------------------------

@dataclass(frozen=True)
class Copied:
    """One plan's log copied: records added, records there already, the verified chain."""

    plan: str
    added: int
    kept: int
    verification: Verification


def copy_logs(source: str | Store | None, target: str | Store | None,
              plans: list[str] | None = None) -> list[Copied]:
    """Copy plans' logs from one store to another, records verbatim (hashes included).

    source, target: URLs, SQLite files or run folders (see `store.open_store`). plans: the plan
    ids to copy (default: every plan in `source`; a SQLite target takes one). Each source log
    must verify first. A target that already holds some of a plan's records must hold exactly
    the first ones of the copy (a copy re-run, or extended after more events): only the rest
    is added; anything else is refused. The copied chain is verified inside the target's
    transaction, so a copy is complete and intact, or nothing is written.
    """
    src = source if isinstance(source, Store) else open_store(source)
    dst = target if isinstance(target, Store) else open_store(target)
    try:
        return _copy(src, dst, plans)
    finally:
        src.close()
        dst.close()


def _copy(src: Store, dst: Store, plans: list[str] | None) -> list[Copied]:
    if src.location == dst.location:
        raise StoreError(f"{src.location}: copying a store onto itself; name another target")
    available = src.plan_ids()
    if not available:
        raise StoreError(f"{src.location}: no event log to copy there")
    chosen = list(dict.fromkeys(plans)) if plans else available
    unknown = [p for p in chosen if p not in available]
    if unknown:
        raise StoreError(f"{src.location}: no log of plan {brief(unknown[0], 100)} there (it "
                         f"holds: {', '.join(printable(p) for p in available[:20])})")
    logs: dict[str, Snapshot] = {}
    for plan_id in chosen:
        snap = src.snapshot(plan_id)
        result = verify_rows(snap, src.location)
        if not result.ok:
            raise ChainBroken(f"plan {brief(plan_id, 100)}: not copied, its log does not verify: "
                              f"{result.message}")
        logs[plan_id] = snap

    def check(plan_id: str, copied: Snapshot) -> None:
        result = verify_rows(copied, dst.location)
        if not result.ok or (copied.rows and result.last_hash != logs[plan_id].last_hash):
            raise ChainBroken(f"plan {brief(plan_id, 100)}: the copy does not verify, nothing "
                              f"copied: {result.message}")

    added = dst.import_logs(logs, check)
    done = []
    for plan_id in chosen:
        verification = verify_rows(dst.snapshot(plan_id), dst.location)
        if not verification.ok:     # committed, yet not intact: say so, loudly
            raise ChainBroken(f"plan {brief(plan_id, 100)}: copied, but the copy does not verify: "
                              f"{verification.message}")
        done.append(Copied(plan_id, added[plan_id], len(logs[plan_id].rows) - added[plan_id],
                           verification))
    return done


def describe_store(location: str | Store | None = None) -> dict[str, Any]:
    """What a store holds, JSON-ready: schema version and, a plan, its events and chain check.

    location: a URL, SQLite file or run folder (default $RUNBOOK_STORE). Creates nothing.
    """
    store = location if isinstance(location, Store) else open_store(location)
    try:
        info = store.info()
        plans = []
        for entry in info.plans:
            result = verify_rows(store.snapshot(entry.plan))
            plans.append({"plan": entry.plan, "events": entry.events,
                          "first_at": _utc_text(entry.first_at),
                          "last_at": _utc_text(entry.last_at),
                          "last_hash": entry.last_hash, "chain_ok": result.ok,
                          "chain": "intact" if result.ok else result.message})
    finally:
        store.close()
    return {"store": info.location, "backend": info.backend,
            "schema_version": info.schema_version, "bound_plan": info.bound_plan,
            "plans": plans}


def _utc_text(stamped: Any) -> str:
    """A stored stamp as '2020-09-07 08:50:00 UTC' ('' stays ''; one that cannot be read is
    described, not parsed)."""
    if not stamped:
        return ""
    try:
        return f"{_read_stamp(stamped, 'at'):%Y-%m-%d %H:%M:%S} UTC"
    except RecordProblem:
        return f"unreadable: {brief(stamped)}"


FIELDS = {"operator": (MAX_OPERATOR, ""), "reason": (MAX_REASON, "\n\t"),
          "notebook": (MAX_NOTEBOOK, "")}
"""Free-text fields of a record: (longest, control characters allowed)."""


def check_fields(phase: str, event: str, **values: Any) -> None:
    """Raise `EventRefused` unless each free-text field (`FIELDS`) may be recorded as given.

    One rule for every source (CLI, notebook, rehearsal): text, valid UTF-8, within its
    length, no control characters (but tab and newline in a reason): what the log accepts,
    every reader of the log can show. An `operator` given must not be blank. Callers check
    early, before anything is written; `EventLog.record` checks again.
    """
    for name, value in values.items():
        value = "" if value is None else value
        longest, allowed = FIELDS[name]
        problem = None
        if not isinstance(value, str):
            problem = f"{name} must be text, not {type(value).__name__}"
        elif _not_utf8(value):
            problem = f"{name} is not valid UTF-8 text ({brief(value)})"
        elif len(value) > longest:
            problem = f"{name} is limited to {longest} characters"
        elif (bad := _control(value, allowed)) is not None:
            problem = f"control character U+{ord(bad):04X} is not allowed in {name}"
        elif name == "operator" and not value.strip():
            problem = "an operator name is required (--operator NAME)"
        if problem:
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: {problem}")


def _control(text: str, allowed: str) -> str | None:
    """The first control character in `text` not in `allowed` (terminals would obey it)."""
    return next((c for c in text if (ord(c) < 32 or 127 <= ord(c) < 160) and c not in allowed),
                None)


def jsonable(value: Any) -> Any:
    """`value` as plain JSON: times as ISO UTC, other objects as text, NaN and infinity as null.

    Check results carry whatever the checks returned; recording them must not fail a go.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, datetime):
        return iso_utc(value) if value.tzinfo else value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


# --- rows for people ---------------------------------------------------------------------

LOG_COLUMNS = ["seq", "at", "at_abbrev", "at_utc", "phase", "event", "operator", "reason",
               "source", "notebook", "recorded_at_utc", "details", "prev_hash", "hash",
               "login", "signed"]


def log_rows(plan: Plan, events: list[Event], tz: str | None = None) -> list[dict[str, Any]]:
    """The log as plain rows for `runbook log` (local time with abbreviation, and UTC)."""
    zone = plan.display_zone(tz)
    return [{
        "seq": e.seq,
        "at": times.format_iso_local(e.at, zone),
        "at_abbrev": times.abbreviation(e.at, zone),
        "at_utc": iso_utc(e.at),
        "phase": e.phase,
        "event": e.event,
        "operator": e.operator,
        "reason": e.reason,
        "source": e.source,
        "notebook": e.notebook,
        "recorded_at_utc": iso_utc(e.recorded_at),
        "details": e.details,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
        "login": e.login,
        "signed": bool(e.signature),
    } for e in events]
