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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import progress, times
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

SOURCES = ("cli", "notebook", "rehearsal")
MAX_OPERATOR = 200
MAX_REASON = 10_000
HASHED = ("seq", "plan", "phase", "event", "operator", "reason", "at", "recorded_at", "source",
          "notebook", "details", "prev_hash")
"""The fields a record's hash covers (every field but the hash itself)."""


class ChainBroken(RunbookError):
    """The log's hash chain does not hold: a record was edited, deleted or reordered."""


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

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Event:
        """An event from a stored row (times as fixed-format text, details as JSON text)."""
        return cls(seq=row["seq"], plan=row["plan"], phase=row["phase"], event=row["event"],
                   operator=row["operator"], reason=row["reason"],
                   at=parse_stamp(row["at"]), recorded_at=parse_stamp(row["recorded_at"]),
                   source=row["source"], notebook=row["notebook"],
                   details=json.loads(row["details"]) if row["details"] else {},
                   prev_hash=row["prev_hash"], hash=row["hash"])

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
    """SHA-256 over the canonical encoding of a stored row's fields and its previous hash."""
    fields = {key: row[key] for key in HASHED}
    details = fields["details"]
    fields["details"] = json.loads(details) if isinstance(details, str) else details
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


# --- opening ------------------------------------------------------------------------------

def default_outputs(plan: Plan) -> Path:
    """Where a run keeps its log, notebooks and report: outputs/<plan id>."""
    return Path("outputs") / plan.id


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

    def check(self, phase: str, event: str, reason: str = "") -> None:
        """Raise EventRefused if `event` may not be recorded for `phase` now; writes nothing."""
        self._refuse_unknown(phase, event)
        snap = self.store.snapshot(self.plan.id, self._relevant(phase))
        self._judge(snap, phase, event, at=None, reason=reason)

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
               details: dict | None = None) -> Event:
        """Check and append one event in one transaction; EventRefused (nothing written) if not.

        `at` is when it happened (default now; ISO text without an offset means UTC), for
        back-filling and rehearsals; it may not be earlier than the phase's previous event.
        """
        self._refuse_unknown(phase, event)
        operator = (operator or "").strip()
        if not operator:
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: an operator name "
                                             "is required (--operator NAME)")
        if len(operator) > MAX_OPERATOR or len(reason or "") > MAX_REASON:
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: operator is "
                               f"limited to {MAX_OPERATOR} and reason to {MAX_REASON} "
                               "characters")
        bad = _control(operator, "") or _control(reason or "", "\n\t")
        if bad:
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: control "
                               f"character U+{ord(bad):04X} is not allowed in operator or "
                               "reason")
        if source not in SOURCES:
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: unknown source "
                               f"'{source}' (sources: {', '.join(SOURCES)})")
        try:
            when = None if at is None or (isinstance(at, str) and not at.strip()) \
                else times.parse_instant(at)
        except (ValueError, TypeError) as exc:
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: at: {exc}") \
                from None
        if details is not None and not isinstance(details, dict):
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: details must be "
                               "a mapping")
        details_text = canonical_json(jsonable(details or {}))

        def decide(snap: Snapshot) -> dict[str, Any]:
            recorded = times.now()
            happened = when or recorded
            extra = self._judge(snap, phase, event, at=happened, reason=reason or "",
                                details=details)
            row = {"seq": snap.last_seq + 1, "plan": self.plan.id, "phase": phase,
                   "event": event, "operator": operator, "reason": (reason or "").strip(),
                   "at": stamp(happened), "recorded_at": stamp(recorded), "source": source,
                   "notebook": str(notebook or ""),
                   "details": canonical_json(jsonable({**(details or {}), **extra}))
                   if extra else details_text,
                   "prev_hash": snap.last_hash}
            row["hash"] = record_hash(row)
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
               reason: str = "", details: dict | None = None) -> dict[str, Any]:
        """Raise EventRefused unless the snapshot allows `event` for `phase` (at `at`).

        Returns details to add to the record (the unfinished steps a `complete` overrides).
        """
        if snap.bound_plan is not None and snap.bound_plan != self.plan.id:
            raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: the event log "
                               f"{self.location} belongs to plan '{snap.bound_plan}', not "
                               f"'{self.plan.id}' (use another --outputs folder)")
        events = self._rows_to_events(snap.rows)
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
            if not refused and event == "complete":
                model = self.plan.phase(phase)
                refused = progress.completion_refusal(model, ticked, reason)
                left = progress.unfinished(model, ticked)
                if left:
                    extra["unfinished_steps"] = [{"step": s, "state": st} for s, st in left]
        if refused:
            raise EventRefused(phase, event, refused)
        previous = next((e for e in reversed(events) if e.phase == phase), None)
        if at is not None and previous is not None and at < previous.at:
            zone = self.plan.zone
            raise EventRefused(phase, event, (
                f"phase '{phase}' cannot {event} at {times.format_both(at, zone)}: that is "
                f"before its previous event ({previous.event} at "
                f"{times.format_both(previous.at, zone)})"))
        return extra

    # --- reading -------------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        snap = self.store.snapshot(self.plan.id)
        if snap.bound_plan is not None and snap.bound_plan != self.plan.id:
            raise StoreError(f"{self.location}: this event log belongs to plan "
                             f"'{snap.bound_plan}', not '{self.plan.id}' (use the right "
                             "--outputs folder)")
        return snap

    def events(self, phase: str | None = None) -> list[Event]:
        """The log in order (all phases, or one)."""
        rows = self._snapshot().rows
        return self._rows_to_events([r for r in rows if phase is None or r["phase"] == phase])

    def _rows_to_events(self, rows: list[dict[str, Any]]) -> list[Event]:
        """Stored rows as events; a row that cannot be read is a store error, not a traceback."""
        out = []
        for row in rows:
            try:
                out.append(Event.from_row(row))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise StoreError(f"{self.location}: record {row.get('seq')} cannot be read "
                                 f"({exc}); run `runbook verify` and restore the log from a "
                                 "backup") from None
        return out

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
    """Check a snapshot's chain: seqs 1..n without gaps, each linking to and matching its hash."""
    where = f" ({location})" if location else ""
    previous, expected = GENESIS, 1
    for row in snap.rows:
        problem = None
        if row["seq"] != expected:
            problem = (f"there is no record {expected} (the next is {row['seq']})"
                       if row["seq"] > expected else
                       f"a record numbered {row['seq']} is out of sequence")
        elif row["prev_hash"] != previous:
            problem = f"its previous-record hash does not match record {expected - 1}" \
                if expected > 1 else "it does not start the chain"
        else:
            try:
                good = record_hash(row) == row["hash"]
            except (ValueError, TypeError, KeyError):
                good = False
            if not good:
                problem = "its contents do not match its hash"
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
        raise StoreError(f"{src.location}: no log of plan '{unknown[0]}' there (it holds: "
                         f"{', '.join(available)})")
    logs: dict[str, Snapshot] = {}
    for plan_id in chosen:
        snap = src.snapshot(plan_id)
        result = verify_rows(snap, src.location)
        if not result.ok:
            raise ChainBroken(f"plan '{plan_id}': not copied, its log does not verify: "
                              f"{result.message}")
        logs[plan_id] = snap

    def check(plan_id: str, copied: Snapshot) -> None:
        result = verify_rows(copied, dst.location)
        if not result.ok or (copied.rows and result.last_hash != logs[plan_id].last_hash):
            raise ChainBroken(f"plan '{plan_id}': the copy does not verify, nothing copied: "
                              f"{result.message}")

    added = dst.import_logs(logs, check)
    done = []
    for plan_id in chosen:
        verification = verify_rows(dst.snapshot(plan_id), dst.location)
        if not verification.ok:     # committed, yet not intact: say so, loudly
            raise ChainBroken(f"plan '{plan_id}': copied, but the copy does not verify: "
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


def _utc_text(stamped: str) -> str:
    """A stored stamp as '2020-09-07 08:50:00 UTC' ('' stays '')."""
    return f"{parse_stamp(stamped):%Y-%m-%d %H:%M:%S} UTC" if stamped else ""


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
               "source", "notebook", "recorded_at_utc", "details", "prev_hash", "hash"]


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
    } for e in events]
