"""The event store: where the event log's rows are kept, behind a small SQL interface.

The rules of the log (phase states, the hash chain) live in `states` and `events`; this module
only keeps rows safely, so that the one SQLite file a run writes today can become a shared
PostgreSQL database tomorrow without touching those rules.

Safety of the append, on either backend:
- one transaction checks and appends (`Store.append` hands the caller a snapshot taken inside
  it); SQLite serialises writers with `BEGIN IMMEDIATE`, PostgreSQL with a row lock
  (`SELECT ... FOR UPDATE`) on the plan's row in `plans`;
- `plans` holds the head of each plan's chain (last seq and hash), so a deleted tail shows;
- the primary key (plan, seq) is the UNIQUE constraint that backs the lock up.
"""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from .errors import StoreError

SCHEMA_VERSION = 1
"""Bumped when the tables change; a store written by a newer version is refused, not guessed at."""
GENESIS = "0" * 64
"""The previous hash of a plan's first record."""

metadata = MetaData()

meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
"""Store-wide facts: `schema_version`, and `plan` for a single-plan (file) store."""

plans = Table(
    "plans", metadata,
    Column("id", String(100), primary_key=True),
    Column("last_seq", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
)
"""One row a plan: the lock that serialises its writers and the head of its hash chain."""

events = Table(
    "events", metadata,
    # The primary key (plan, seq) is the UNIQUE(plan, seq) constraint.
    Column("plan", String(100), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("phase", String(100), nullable=False),
    Column("event", String(20), nullable=False),
    Column("operator", Text, nullable=False),
    Column("reason", Text, nullable=False),
    # Times are kept as fixed-format UTC text ('2020-09-07T09:00:00.000000Z') so that they
    # round-trip byte for byte on every backend: they are part of what the hash covers.
    Column("at", String(32), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("source", String(20), nullable=False),
    Column("notebook", Text, nullable=False),
    Column("details", Text, nullable=False),      # canonical JSON text, for the same reason
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
"""The append-only log itself."""

Index("ix_events_plan_phase", events.c.plan, events.c.phase, events.c.seq)

COLUMNS = tuple(c.name for c in events.columns)
T = TypeVar("T")


@dataclass
class Snapshot:
    """What one transaction saw of a plan's log: its rows (in seq order) and its chain head."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    last_seq: int = 0
    last_hash: str = GENESIS
    has_head: bool = False
    bound_plan: str | None = None


class Store:
    """An event store opened from a URL: `sqlite:///path` or `postgresql://...`.

    Nothing is created until the first append, so read-only commands on a run that has no
    log yet see an empty one and leave no file behind. A SQLite store is bound to the first
    plan written to it (one run folder, one plan); a PostgreSQL store is shared by plans.
    """

    def __init__(self, url: str | URL, *, timeout: float = 30.0,
                 single_plan: bool | None = None):
        try:
            parsed = make_url(url) if isinstance(url, str) else url
        except ArgumentError:
            raise StoreError(f"event store '{url}' is not a database URL (use sqlite:///PATH "
                             "or postgresql://USER@HOST/DB)") from None
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.url = parsed
        self.backend = parsed.get_backend_name()
        self.path: Path | None = None
        if self.backend not in ("sqlite", "postgresql"):
            raise StoreError(f"event store '{self.location}': only sqlite:///PATH and "
                             "postgresql:// stores are supported")
        if self.backend == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise StoreError("event store: a SQLite store needs a file "
                                 "(sqlite:///outputs/PLAN/events.sqlite)")
            self.path = Path(parsed.database)
        self.timeout = timeout
        self.single_plan = self.backend == "sqlite" if single_plan is None else single_plan
        self._engine: Engine | None = None
        self._schema_checked = False

    # --- where ---------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """The file path, or the URL without its password: what messages call the store."""
        if self.path is not None:
            return str(self.path)
        return self.url.render_as_string(hide_password=True)

    def exists(self) -> bool:
        """Whether there may be a log to read (a SQLite file that exists; any server store)."""
        return self.path is None or self.path.exists()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (created on first use; tests use it to tamper with rows)."""
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        try:
            if self.backend == "sqlite":
                engine = create_engine(self.url, connect_args={"timeout": self.timeout})
                _sqlite_hooks(engine, self.timeout)
                return engine
            return create_engine(self.url, pool_pre_ping=True,
                                 connect_args={"connect_timeout": max(1, int(self.timeout))})
        except (NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"event store '{self.location}': driver not installed ({exc}); "
                             "install migration-runbook[postgres]") from None

    # --- transactions --------------------------------------------------------------------

    def _run(self, write: bool, work: Callable[[Connection], T]) -> T:
        """`work(conn)` in one transaction; SQLite writers lock up front (BEGIN IMMEDIATE).

        SQLite sometimes answers "database is locked" at once instead of waiting (while another
        process creates the file, switches it to WAL or recovers it): the whole transaction,
        which has written nothing, is tried again until `timeout` has passed.
        """
        deadline = time.monotonic() + self.timeout
        pause = 0.005
        while True:
            try:
                with self.engine.connect() as conn:
                    if write:
                        conn.execution_options(runbook_immediate=True)
                    with conn.begin():
                        return work(conn)
            except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
                if _busy(exc) and time.monotonic() < deadline:
                    time.sleep(pause)
                    pause = min(pause * 2, 0.1)
                    continue
                raise store_error(exc, self.location, write, self.timeout) from None

    def _prepare_folder(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise store_error(exc, self.location, True, self.timeout) from None

    def _ensure_schema(self, conn: Connection) -> None:
        """Create the tables if need be, inside the writer's transaction (creators cannot race).

        `_schema_checked` is set by the caller only once that transaction has committed.
        """
        if self._schema_checked:
            return
        if self.backend == "postgresql":
            # Serialise first-time creation across processes; released at commit.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('migration_runbook.schema'))"))
        metadata.create_all(conn, checkfirst=True)
        version = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version"))\
            .scalar_one_or_none()
        if version is None:
            conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
        else:
            self._check_version(version)

    def _check_version(self, version: str | None) -> None:
        if version is not None and int(version) > SCHEMA_VERSION:
            raise StoreError(f"{self.location}: event log schema {version} was written by a "
                             f"newer migration-runbook (this one reads {SCHEMA_VERSION}); "
                             "upgrade migration-runbook")

    def _has_tables(self, conn: Connection) -> bool:
        if self.backend == "sqlite":
            found = conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='events'").scalar()
        else:
            found = conn.execute(text("SELECT to_regclass('events') IS NOT NULL")).scalar()
        return bool(found)

    # --- reading -------------------------------------------------------------------------

    def snapshot(self, plan_id: str, phases: Collection[str] | None = None) -> Snapshot:
        """A consistent read of one plan's rows (all, or only `phases`) and chain head.

        No log yet (no file, or no tables) reads as an empty log and creates nothing.
        """
        if not self.exists():
            return Snapshot()

        def read(conn: Connection) -> Snapshot:
            if not self._has_tables(conn):
                return Snapshot()
            return self._read(conn, plan_id, phases, lock=False)

        return self._run(False, read)

    def _read(self, conn: Connection, plan_id: str, phases: Collection[str] | None,
              lock: bool) -> Snapshot:
        facts = {key: value for key, value in conn.execute(select(meta.c.key, meta.c.value))}
        self._check_version(facts.get("schema_version"))
        head_query = select(plans.c.last_seq, plans.c.last_hash).where(plans.c.id == plan_id)
        if lock:
            head_query = head_query.with_for_update()
        head = conn.execute(head_query).first()
        query = select(events).where(events.c.plan == plan_id)
        if phases is not None:
            query = query.where(events.c.phase.in_(sorted(set(phases))))
        rows = [dict(row) for row in conn.execute(query.order_by(events.c.seq)).mappings()]
        snap = Snapshot(rows=rows, bound_plan=facts.get("plan"))
        if head is not None:
            snap.last_seq, snap.last_hash, snap.has_head = head[0], head[1], True
        return snap

    # --- writing -------------------------------------------------------------------------

    def append(self, plan_id: str, phases: Collection[str] | None,
               decide: Callable[[Snapshot], dict[str, Any]], created_at: str) -> dict[str, Any]:
        """Check and append in one transaction: `decide(snapshot)` returns the row or raises.

        Whatever `decide` raises (a refusal) rolls the transaction back: nothing is written.
        """
        self._prepare_folder()

        def write(conn: Connection) -> dict[str, Any]:
            self._ensure_schema(conn)
            conn.execute(_insert_ignore(self.backend, plans).values(
                id=plan_id, last_seq=0, last_hash=GENESIS, created_at=created_at))
            snap = self._read(conn, plan_id, phases, lock=True)
            row = decide(snap)
            conn.execute(insert(events).values(**row))
            conn.execute(update(plans).where(plans.c.id == plan_id)
                         .values(last_seq=row["seq"], last_hash=row["hash"]))
            if self.single_plan and snap.bound_plan is None:
                conn.execute(_insert_ignore(self.backend, meta).values(key="plan", value=plan_id))
            return row

        row = self._run(True, write)
        self._schema_checked = True
        return row

    def close(self) -> None:
        """Release connections (the store can be used again afterwards)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _busy(exc: BaseException) -> bool:
    """Whether SQLite refused for a lock held by another process (worth trying again)."""
    original = getattr(exc, "orig", None) or exc
    return isinstance(original, sqlite3.OperationalError) and "locked" in str(original).lower()


def _insert_ignore(backend: str, table: Table):
    """INSERT that leaves an existing row alone, in the backend's own dialect."""
    dialect = sqlite_dialect if backend == "sqlite" else pg_dialect
    return dialect.insert(table).on_conflict_do_nothing()


def _sqlite_hooks(engine: Engine, timeout: float) -> None:
    """WAL, full sync, and SQLAlchemy-controlled BEGIN (IMMEDIATE for writers)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None   # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            # An acknowledged event survives a power cut, not only a killed process.
            cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("runbook_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def store_error(exc: BaseException, location: str, write: bool, timeout: float) -> StoreError:
    """A storage failure as one line that says what to do about it."""
    original = getattr(exc, "orig", None) or exc
    detail = (str(original).strip().splitlines() or [type(original).__name__])[0]
    lowered = detail.lower()
    number = getattr(original, "errno", None)
    if "locked" in lowered or "lock timeout" in lowered or "could not obtain lock" in lowered:
        return StoreError(f"{location}: the event log is locked by another process (waited "
                          f"{timeout:g}s); retry when the other runbook command has finished")
    if "full" in lowered or number == errno.ENOSPC:
        return StoreError(f"{location}: the disk is full ({detail}); free some space and "
                          "retry (nothing was recorded)")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return StoreError(f"{location}: not a readable event log ({detail}); move it aside and "
                          "restore it from a backup")
    if isinstance(original, PermissionError) or "readonly" in lowered or \
            "read-only" in lowered or "permission denied" in lowered or number == errno.EACCES:
        fix = "check the database user's privileges" if "://" in location else \
            "choose a writable folder with --outputs"
        return StoreError(f"{location}: cannot write the event log ({detail}); {fix}")
    if isinstance(original, OSError) or "unable to open" in lowered:
        verb = "write" if write else "open"
        return StoreError(f"{location}: cannot {verb} the event log ({detail}); check that the "
                          "folder exists and is writable, or choose another with --outputs")
    if "connection" in lowered or "could not connect" in lowered or "timeout" in lowered:
        return StoreError(f"{location}: cannot reach the event store ({detail}); check "
                          "RUNBOOK_STORE and that the database server is up")
    return StoreError(f"{location}: event store failed ({detail}); nothing was recorded; "
                      "run `runbook verify` and retry")
