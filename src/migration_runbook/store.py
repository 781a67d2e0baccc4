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

A server store's URL may carry a password: it is never shown. `location` and every error
name the store as `postgresql://user:***@host/db` (`mask_url`), and a masked URL handed to a
notebook is completed from $RUNBOOK_STORE in the kernel's environment (`unmask`).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

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
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from .errors import StoreError
from .files import check_database_file

SCHEMA_VERSION = 2
"""Bumped when the tables change; a store written by a newer version is refused, not guessed at.

1: the first tables. 2: events.login and events.signature (added to a version-1 store by its
next writer; readers of an older store see them empty)."""
GENESIS = "0" * 64
"""The previous hash of a plan's first record."""
STORE_ENV = "RUNBOOK_STORE"
"""The environment variable naming the store every command and notebook uses by default."""
LOG_FILE = "events.sqlite"
"""The SQLite store's file in a run folder."""
MASK = "***"
"""What a password is shown as."""
UPGRADE = "upgrade migration-runbook"
CONNECT_TIMEOUT = 10
"""Seconds to wait for a database server to answer before saying it cannot be reached."""

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
    # Added in schema 2 (see `_migrate`): the database login that wrote the record, and the
    # operator's SSH signature of its hash.
    Column("login", Text, nullable=False, server_default=""),
    Column("signature", Text, nullable=False, server_default=""),
)
"""The append-only log itself."""

Index("ix_events_plan_phase", events.c.plan, events.c.phase, events.c.seq)

COLUMNS = tuple(c.name for c in events.columns)
_MISSING = {"login": "", "signature": ""}
"""What a record of a store older than these columns reads as."""
T = TypeVar("T")


@dataclass
class Snapshot:
    """What one transaction saw of a plan's log: its rows (in seq order) and its chain head."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    last_seq: int = 0
    last_hash: str = GENESIS
    has_head: bool = False
    bound_plan: str | None = None
    created_at: str = ""
    login: str = ""     # the session's database login (PostgreSQL), "" for a file
    first_source: str = ""   # the source of the log's first record, read or not ("" empty):
    # a rehearsal's log is its own, so it says what the log is (`chronology.mixing_refusal`)


@dataclass(frozen=True)
class PlanLog:
    """One plan's log in a store, as `Store.info` lists it."""

    plan: str
    events: int
    last_seq: int
    last_hash: str
    first_at: str       # stamps (fixed-format UTC text), "" for an empty log
    last_at: str


@dataclass(frozen=True)
class StoreInfo:
    """What a store holds: its schema version (None: not initialised) and one entry a plan."""

    location: str
    backend: str
    schema_version: int | None
    plans: list[PlanLog] = field(default_factory=list)
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
            parsed = make_url(url.strip()) if isinstance(url, str) else url
            parsed.port  # noqa: B018 - a port that is not a number fails here, not later
        except (ArgumentError, ValueError, TypeError):
            raise StoreError(f"event store '{mask_url(str(url))}' is not a database URL (use "
                             "sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB, the port a "
                             "number)") from None
        if isinstance(url, str) and parsed.get_backend_name() == "sqlite" and \
                "?" in url.split("://", 1)[-1]:
            # make_url reads '?' as the start of a query and drops the rest of the path: a
            # store at another file would be opened without a word.
            raise StoreError(f"event store '{mask_url(url.strip())}': '?' starts a URL query, "
                             "which a SQLite store does not take; name the file or run folder "
                             "without sqlite:// (or write '?' as %3F)")
        self.given = parsed      # as the user wrote it: what messages show (password masked)
        if parsed.drivername in ("postgresql", "postgres"):
            # psycopg 3 (SQLAlchemy's default for postgresql:// is psycopg2).
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.url = parsed
        self.secret = parsed.password or parsed.query.get("password") or ""
        if isinstance(self.secret, tuple):
            self.secret = self.secret[0]
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
            refused = check_database_file(self.path)
            if refused:  # SQLite would open it and write a -journal or -wal file beside it
                raise StoreError(f"event store '{self.path}' {refused}; name a SQLite file "
                                 "or a run folder")
        self.timeout = timeout
        self.single_plan = self.backend == "sqlite" if single_plan is None else single_plan
        self._engine: Engine | None = None
        self._reader: Engine | None = None
        self._schema_checked = False
        self._columns: tuple[str, ...] | None = None

    # --- where ---------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """The file path, or the URL without its password: what messages call the store."""
        if self.path is not None:
            return str(self.path)
        return mask_url(self.given)

    def exists(self) -> bool:
        """Whether there may be a log to read (a SQLite file that exists; any server store)."""
        return self.path is None or self.path.exists()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (created on first use; tests use it to tamper with rows)."""
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    @property
    def reader(self) -> Engine:
        """The engine reads go through: a SQLite file is opened read-only (`open_readonly`),
        so a log on read-only media, or a copy kept read-only, can be read."""
        if self.backend != "sqlite":
            return self.engine
        if self._reader is None:
            path, timeout = self.path, self.timeout
            self._reader = create_engine("sqlite://",
                                         creator=lambda: open_readonly(path, timeout))
            _sqlite_hooks(self._reader, timeout, readonly=True)
        return self._reader

    def _create_engine(self) -> Engine:
        try:
            if self.backend == "sqlite":
                engine = create_engine(self.url, connect_args={"timeout": self.timeout})
                _sqlite_hooks(engine, self.timeout)
                return engine
            # READ COMMITTED whatever the server's default: a writer that waited for the
            # plan's lock must then read the rows committed meanwhile (a stricter level would
            # fail it with a serialisation error instead).
            # An unreachable host fails within CONNECT_TIMEOUT, not the lock timeout.
            return create_engine(self.url, pool_pre_ping=True, isolation_level="READ COMMITTED",
                                 connect_args={"connect_timeout": max(1, int(min(
                                     self.timeout, CONNECT_TIMEOUT)))})
        except (NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"event store '{self.location}': driver not installed "
                             f"({_scrub(str(exc), self.secret)}); install "
                             "migration-runbook[postgres]") from None

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
            stage = "work"
            try:
                with (self.engine if write else self.reader).connect() as conn:
                    if write:
                        conn.execution_options(runbook_immediate=True)
                    with conn.begin():
                        if write and self.backend == "postgresql":
                            # A writer stuck behind a lock gives up, as SQLite's does.
                            conn.execute(text(f"SET LOCAL lock_timeout = "
                                              f"{int(self.timeout * 1000)}"))
                        result = work(conn)
                        stage = "commit"
                    stage = "done"
                    if write and self.backend == "sqlite":
                        _checkpoint(conn)
                return result
            except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
                if stage == "done":     # committed; only giving the connection back failed
                    return result
                if _busy(exc) and time.monotonic() < deadline:
                    time.sleep(pause)
                    pause = min(pause * 2, 0.1)
                    continue
                raise store_error(exc, self.location, write, self.timeout, secret=self.secret,
                                  committing=stage == "commit") from None

    def _prepare_folder(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise store_error(exc, self.location, True, self.timeout,
                              secret=self.secret) from None

    def _ensure_schema(self, conn: Connection) -> None:
        """Create the tables if need be, inside the writer's transaction (creators cannot race).

        `_schema_checked` is set by the caller only once that transaction has committed.
        """
        if self._schema_checked:
            return
        if self.backend == "postgresql":
            if self._has_tables(conn):
                version = conn.execute(select(meta.c.value)
                                       .where(meta.c.key == "schema_version")).scalar()
                if version is not None and version == str(SCHEMA_VERSION):
                    return      # the usual case: no store-wide lock needed
                if version is not None:
                    self._check_version(version)
            # Serialise first-time creation across processes; released at commit.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('migration_runbook.schema'))"))
        metadata.create_all(conn, checkfirst=True)
        version = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version"))\
            .scalar_one_or_none()
        if version is None:
            conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
        else:
            self._check_version(version)
            self._migrate(conn)
            if version != str(SCHEMA_VERSION):
                conn.execute(update(meta).where(meta.c.key == "schema_version")
                             .values(value=str(SCHEMA_VERSION)))

    def _migrate(self, conn: Connection) -> None:
        """Bring an older store's tables up to this version: add the columns it lacks.

        Only columns are ever added (with a default), so a record written before keeps its
        bytes, and its hash.
        """
        present = self._present_columns(conn)
        for column in events.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE events ADD COLUMN {column.name} {kind} "
                                     "NOT NULL DEFAULT ''")
        self._columns = None

    def _present_columns(self, conn: Connection) -> tuple[str, ...]:
        """The events table's columns as stored (an older store lacks the newer ones)."""
        if self._columns is None:
            if self.backend == "sqlite":
                found = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(events)")]
            else:
                found = [r[0] for r in conn.execute(text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'events' AND table_schema = current_schema()"))]
            self._columns = tuple(found)
        return self._columns

    def _check_version(self, version: str | None) -> None:
        """Refuse a store whose tables a newer migration-runbook laid out."""
        if version is None:
            return
        try:
            number = int(version)
        except ValueError:
            raise StoreError(f"{self.location}: store schema version '{version}' is not a "
                             "number; this is not a migration-runbook event store") from None
        if number > SCHEMA_VERSION:
            raise StoreError(f"{self.location}: store schema version {number} is newer than "
                             f"this runbook ({SCHEMA_VERSION}): {UPGRADE}")

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
        present = self._present_columns(conn)
        query = select(*[c for c in events.columns if c.name in present])\
            .where(events.c.plan == plan_id)
        if phases is not None:
            query = query.where(events.c.phase.in_(sorted(set(phases))))
        if self.backend == "sqlite" and phases is None and not lock:
            rows = _sqlite_rows(conn, plan_id, present)
        else:
            rows = [{**_MISSING, **row} for row in conn.execute(query.order_by(events.c.seq))
                    .mappings()]
        if phases is None or (rows and rows[0]["seq"] == 1):
            first = str(rows[0]["source"]) if rows else ""
        else:   # by the primary key (plan, seq): no scan of a long log
            first = str(conn.execute(select(events.c.source).where(events.c.plan == plan_id)
                                     .order_by(events.c.seq).limit(1)).scalar() or "")
        snap = Snapshot(rows=rows, bound_plan=facts.get("plan"), first_source=first)
        if self.backend == "postgresql":
            snap.login = str(conn.execute(text("SELECT session_user")).scalar() or "")
        if head is not None:
            snap.last_seq, snap.last_hash, snap.has_head = head[0], head[1], True
            snap.created_at = conn.execute(select(plans.c.created_at)
                                           .where(plans.c.id == plan_id)).scalar() or ""
        return snap

    def plan_ids(self) -> list[str]:
        """The plans that have a log here, sorted (nothing created when there is no store)."""
        return [entry.plan for entry in self.info().plans]

    def info(self) -> StoreInfo:
        """Schema version and, for each plan, its event count, chain head and time span."""
        empty = StoreInfo(self.location, self.backend, None)
        if not self.exists():
            return empty

        def read(conn: Connection) -> StoreInfo:
            if not self._has_tables(conn):
                return empty
            facts = {key: value for key, value in conn.execute(select(meta.c.key, meta.c.value))}
            self._check_version(facts.get("schema_version"))
            version = facts.get("schema_version")
            counts = {row.plan: row for row in conn.execute(
                select(events.c.plan, func.count().label("n"), func.min(events.c.at).label("a"),
                       func.max(events.c.at).label("b")).group_by(events.c.plan))}
            heads = {row.id: row for row in conn.execute(select(plans))}
            found = []
            for plan in sorted(set(counts) | set(heads), key=str):   # whatever is stored
                count, head = counts.get(plan), heads.get(plan)
                found.append(PlanLog(plan, count.n if count else 0,
                                     head.last_seq if head else 0,
                                     head.last_hash if head else "",
                                     count.a if count else "", count.b if count else ""))
            return StoreInfo(self.location, self.backend, int(version) if version else None,
                             found, facts.get("plan"))

        return self._run(False, read)

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

    def init(self) -> bool:
        """Create the tables and record the schema version if need be (idempotent).

        True when they were created now. A store of a newer schema is refused (StoreError).
        """
        self._prepare_folder()
        self._schema_checked = False

        def write(conn: Connection) -> bool:
            existed = self._has_tables(conn)
            self._ensure_schema(conn)
            return not existed

        created = self._run(True, write)
        self._schema_checked = True
        return created

    def import_logs(self, logs: dict[str, Snapshot],
                    check: Callable[[str, Snapshot], None]) -> dict[str, int]:
        """Append other stores' records verbatim (hashes included), all plans in one transaction.

        For each plan, the records already here must be the same records as the first ones of
        `logs[plan]` (a copy interrupted, or done before); only the rest are added, and the
        plan's chain head is set to the copied one. `check(plan, snapshot)` then sees the
        plan's whole log as it will be committed and raises to refuse it. Nothing is written
        unless every plan is accepted. Returns how many records were added, by plan.
        """
        self._prepare_folder()
        if self.single_plan and len(logs) > 1:
            raise StoreError(f"{self.location}: a SQLite store holds one plan's log, not "
                             f"{len(logs)} ({', '.join(sorted(logs))}); choose one with --plan")

        def write(conn: Connection) -> dict[str, int]:
            self._ensure_schema(conn)
            added: dict[str, int] = {}
            for plan_id in sorted(logs):        # one lock order for every writer
                source = logs[plan_id]
                conn.execute(_insert_ignore(self.backend, plans).values(
                    id=plan_id, last_seq=0, last_hash=GENESIS,
                    created_at=source.created_at or (source.rows[0]["recorded_at"]
                                                     if source.rows else "")))
                here = self._read(conn, plan_id, None, lock=True)
                if self.single_plan and here.bound_plan not in (None, plan_id):
                    raise StoreError(f"{self.location}: this store holds the log of plan "
                                     f"{here.bound_plan!r}, not {plan_id!r}; copy into another "
                                     "file")
                _check_prefix(self.location, plan_id, here.rows, source.rows)
                new = source.rows[len(here.rows):]
                for row in new:
                    conn.execute(insert(events).values(**{c: row[c] for c in COLUMNS}))
                if source.rows:
                    last = source.rows[-1]
                    conn.execute(update(plans).where(plans.c.id == plan_id)
                                 .values(last_seq=last["seq"], last_hash=last["hash"]))
                if self.single_plan and here.bound_plan is None:
                    conn.execute(_insert_ignore(self.backend, meta).values(key="plan",
                                                                           value=plan_id))
                check(plan_id, self._read(conn, plan_id, None, lock=False))
                added[plan_id] = len(new)
            return added

        added = self._run(True, write)
        self._schema_checked = True
        return added

    def close(self) -> None:
        """Release connections (the store can be used again afterwards)."""
        # Readers first: the writer's connection, closing last, removes the -wal and -shm.
        if self._reader is not None:
            self._reader.dispose()
            self._reader = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _check_prefix(location: str, plan_id: str, here: list[dict[str, Any]],
                  source: list[dict[str, Any]]) -> None:
    """Refuse a copy onto a log that is not the start of the copied one."""
    if len(here) > len(source):
        raise StoreError(f"{location}: plan {plan_id!r} already has {len(here)} records here, "
                         f"more than the {len(source)} being copied; nothing copied")
    for mine, theirs in zip(here, source, strict=False):
        if any(mine[c] != theirs[c] for c in COLUMNS):
            raise StoreError(f"{location}: plan {plan_id!r} already has a different record "
                             f"{mine['seq']} here (hash {str(mine['hash'])[:12]}, copied "
                             f"{str(theirs['hash'])[:12]}); nothing copied")


def open_store(location: str | None = None) -> Store:
    """A store named on the command line: a URL, a SQLite file (a path with an extension) or a
    run folder (its events.sqlite), or, when `location` is empty, $RUNBOOK_STORE."""
    text = (location or "").strip() or os.environ.get(STORE_ENV, "").strip()
    if not text:
        raise StoreError(f"no event store given: name one (postgresql://USER@HOST/DB, "
                         f"sqlite:///PATH or a run folder) or set {STORE_ENV}")
    if "://" in text:
        return Store(unmask(text))
    path = Path(text).expanduser()
    if path.is_dir() or (not path.exists() and not path.suffix):
        path = path / LOG_FILE      # a run folder (one to be, if it has no file extension)
    return Store(sqlite_url(path))


def sqlite_url(path: str | os.PathLike[str]) -> URL:
    """The URL of the SQLite file at `path`: built, not parsed, so a folder name holding
    characters a URL would misread ('?', '#') stays intact (`render_as_string` escapes them)."""
    return URL.create("sqlite", database=str(path))


_USERINFO = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^@\s]*)(?=@)",
                       re.IGNORECASE)
_QUERY_SECRET = re.compile(r"(?P<head>[?&]password=)(?P<secret>[^&\s]*)", re.IGNORECASE)


def mask_url(url: str | URL) -> str:
    """`url` with its password shown as *** (also `?password=`): safe to print or keep."""
    if isinstance(url, URL):
        url = url.render_as_string(hide_password=True)
    text = _USERINFO.sub(lambda m: m["head"] + (MASK if m["secret"] else ""), url)
    return _QUERY_SECRET.sub(lambda m: m["head"] + MASK, text)


def has_secret(url: str | None) -> bool:
    """Whether a store URL carries a password (and so must not be written anywhere)."""
    return bool(url) and mask_url(url) != url


def unmask(url: str) -> str:
    """`url`, or, if its password is masked (***), $RUNBOOK_STORE when that is the same URL.

    So a notebook may show `postgresql://user:***@host/db` as its `store` parameter while its
    kernel's environment holds the real one.
    """
    if MASK not in url or mask_url(url) != url:
        return url
    real = os.environ.get(STORE_ENV, "").strip()
    if real and mask_url(real) == url:
        return real
    raise StoreError(f"event store '{url}': the password is masked; set {STORE_ENV} to the "
                     "full URL in this environment (or use ~/.pgpass)")


def _scrub(text: str, secret: str) -> str:
    """`text` without the password, in case a driver repeats the URL it was given."""
    if secret:
        from urllib.parse import quote

        for form in {secret, quote(secret, safe="")}:
            text = text.replace(form, MASK)
    return mask_url(text)


def _sqlite_rows(conn: Connection, plan_id: str, present: tuple[str, ...]) -> list[dict]:
    """All of a plan's rows in seq order, straight from the sqlite3 cursor: the same values
    SQLAlchemy's rows hold (its String and Integer types leave SQLite's values as they are),
    without its per-row result objects, which cost a third of reading a 20,000-record log."""
    names = [c.name for c in events.columns if c.name in present]
    columns = ", ".join(f'"{name}"' for name in names)
    query = f'SELECT {columns} FROM events WHERE "plan" = ? ORDER BY "seq"'
    raw = conn.connection.dbapi_connection

    def fetch() -> list[dict]:
        cursor = raw.cursor()
        try:
            cursor.execute(query, (plan_id,))
            return [{**_MISSING, **dict(zip(names, values, strict=True))} for values in cursor]
        finally:
            cursor.close()

    own_factory, raw.text_factory = raw.text_factory, str   # UTF-8 text decoded in C
    try:
        return fetch()
    except sqlite3.OperationalError as exc:
        if not str(exc).startswith("Could not decode"):
            raise
    finally:
        raw.text_factory = own_factory
    return fetch()  # a record holding other bytes: read again through `_text`


def _busy(exc: BaseException) -> bool:
    """Whether SQLite refused for a lock held by another process (worth trying again)."""
    original = getattr(exc, "orig", None) or exc
    return isinstance(original, sqlite3.OperationalError) and "locked" in str(original).lower()


def _insert_ignore(backend: str, table: Table):
    """INSERT that leaves an existing row alone, in the backend's own dialect."""
    # Imported here: PostgreSQL's dialect costs a SQLite command (`runbook step`) 0.05 s.
    if backend == "sqlite":
        from sqlalchemy.dialects import sqlite as dialect
    else:
        from sqlalchemy.dialects import postgresql as dialect
    return dialect.insert(table).on_conflict_do_nothing()


def _checkpoint(conn: Connection, tries: int = 20) -> None:
    """Copy the write-ahead log into the database file, so that `events.sqlite` alone holds
    every acknowledged event (a copy of the file, read-only media).

    PASSIVE: never waits on readers; tried again briefly while a reader holds old frames. A
    checkpoint that cannot finish costs nothing: the events are safe in the WAL, and the last
    connection to close checkpoints too.
    """
    for _ in range(tries):
        try:  # on the driver's connection: outside any transaction, as a checkpoint must be
            raw = conn.connection.dbapi_connection
            _busy, frames, done = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except (SQLAlchemyError, sqlite3.Error, AttributeError, TypeError):
            return
        if frames <= 0 or done >= frames:
            return
        time.sleep(0.01)


def open_readonly(path: Path, timeout: float) -> sqlite3.Connection:
    """A read-only connection to the SQLite file at `path` that works on read-only media.

    First `mode=ro` (sees what writers are doing, through the WAL). Where SQLite cannot open
    even that (a WAL file needs its `-shm`, which a read-only folder cannot hold), the file is
    opened `immutable`, or, if a `-wal` file beside it still holds records, a copy of both is
    read from a temporary folder, so no acknowledged event is missed.
    """
    absolute = Path(os.path.abspath(path))
    uri = f"file:{quote(str(absolute))}"
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout,
                               check_same_thread=False)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.Error:
            conn.close()
            raise
    except sqlite3.OperationalError as exc:
        if not _read_only_media(exc):
            raise
    wal = absolute.with_name(absolute.name + "-wal")
    if not (wal.exists() and wal.stat().st_size > 0):
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=timeout,
                               check_same_thread=False)
    folder = tempfile.mkdtemp(prefix="runbook-readonly-")
    try:
        shutil.copyfile(absolute, Path(folder) / absolute.name)
        shutil.copyfile(wal, Path(folder) / wal.name)
        conn = sqlite3.connect(str(Path(folder) / absolute.name), timeout=timeout,
                               check_same_thread=False, factory=_CopyConnection)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    conn.folder = folder
    return conn


class _CopyConnection(sqlite3.Connection):
    """A connection to a temporary copy of a log, removed when the connection closes."""

    folder = ""

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.folder:
                shutil.rmtree(self.folder, ignore_errors=True)


def _read_only_media(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed to open a file for lack of write access around it."""
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")) or \
        "readonly" in str(exc).lower() or "unable to open" in str(exc).lower()


def _text(data: bytes) -> str:
    """SQLite text as str; bytes that are not UTF-8 (a record edited in the database) become
    lone surrogates, which the log's reader names as not UTF-8, instead of a decode error."""
    return data.decode("utf-8", "surrogateescape")


def _sqlite_hooks(engine: Engine, timeout: float, readonly: bool = False) -> None:
    """WAL, full sync, and SQLAlchemy-controlled BEGIN (IMMEDIATE for writers).

    `readonly`: a reader's connection (`open_readonly`) changes nothing, not even the
    journal mode."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None   # we emit BEGIN ourselves
        dbapi_connection.text_factory = _text
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if readonly:
                return
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


def store_error(exc: BaseException, location: str, write: bool, timeout: float, *,
                secret: str = "", committing: bool = False) -> StoreError:
    """A storage failure as one line that says what to do about it (the password scrubbed).

    `committing`: the failure came while committing a write, so whether it was recorded is
    not known until the log is read again.
    """
    original = getattr(exc, "orig", None) or exc
    detail = (str(original).strip().splitlines() or [type(original).__name__])[0]
    detail = _scrub(re.sub(r"\s+", " ", detail), secret)
    lowered = detail.lower()
    number = getattr(original, "errno", None)
    server = "://" in location
    if "password authentication failed" in lowered or "no password supplied" in lowered or \
            ("role" in lowered and "does not exist" in lowered) or \
            "authentication failed" in lowered:
        return StoreError(f"{location}: the database refused the credentials ({_fatal(detail)}); "
                          f"check the user and password in {STORE_ENV} or ~/.pgpass")
    if "database" in lowered and "does not exist" in lowered:
        return StoreError(f"{location}: {_fatal(detail)}; create it (createdb) and run "
                          "`runbook store init`")
    if "locked" in lowered or "lock timeout" in lowered or "could not obtain lock" in lowered:
        return StoreError(f"{location}: the event log is locked by another process (waited "
                          f"{timeout:g}s); retry when the other runbook command has finished")
    if isinstance(original, PermissionError) or "readonly" in lowered or \
            "read-only" in lowered or "permission denied" in lowered or number == errno.EACCES:
        fix = "check the database user's privileges" if server else \
            "choose a writable folder with --outputs"
        return StoreError(f"{location}: cannot write the event log ({_fatal(detail)}); {fix}")
    if server and _lost(lowered):
        if committing:
            return StoreError(f"{location}: the connection to the event store was lost while "
                              f"committing ({_fatal(detail)}); the event may or may not be "
                              "recorded: check with `runbook log` before retrying")
        done = "nothing was recorded; " if write else ""
        return StoreError(f"{location}: cannot reach the event store ({_fatal(detail)}); "
                          f"{done}check {STORE_ENV} and that the database server is up, then "
                          "retry")
    if "full" in lowered or number == errno.ENOSPC:
        return StoreError(f"{location}: the disk is full ({detail}); free some space and "
                          "retry (nothing was recorded)")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return StoreError(f"{location}: not a readable event log ({detail}); move it aside and "
                          "restore it from a backup")
    if isinstance(original, OSError) or "unable to open" in lowered:
        verb = "write" if write else "open"
        return StoreError(f"{location}: cannot {verb} the event log ({detail}); check that the "
                          "folder exists and is writable, or choose another with --outputs")
    if _lost(lowered):
        return StoreError(f"{location}: cannot reach the event store ({detail}); check "
                          f"{STORE_ENV} and that the database server is up")
    if committing:
        return StoreError(f"{location}: event store failed while committing ({detail}); the "
                          "event may or may not be recorded: check with `runbook log`")
    return StoreError(f"{location}: event store failed ({detail}); nothing was recorded; "
                      "run `runbook verify` and retry")


def _lost(lowered: str) -> bool:
    """Whether a driver message says the server could not be reached or went away."""
    return any(words in lowered for words in (
        "connection", "could not connect", "timeout", "server closed", "terminating",
        "shutting down", "starting up", "could not translate host", "failed to resolve",
        "no route to host", "network is unreachable", "consuming input failed",
        "eof detected"))


def _fatal(detail: str) -> str:
    """The server's own words from a libpq message, without the connection preamble."""
    for marker in ("FATAL: ", "ERROR: "):
        if marker in detail:
            return detail.rsplit(marker, 1)[1].strip()
    return detail.removeprefix("connection failed: ").strip()
