"""A throwaway PostgreSQL server for the tests: started once a session, one database a test.

    def test_x(postgres):
        url = postgres.new_database()        # postgresql://runbook@127.0.0.1:PORT/t_3

`initdb` and `pg_ctl` (found on PATH or in /usr/lib/postgresql/*/bin) build a cluster in a
temporary folder, listening on 127.0.0.1 only, on a free port, with its unix socket in that
folder. `runbook` is a trust user; `runbook_pw` must give its password (the wrong-credentials
tests). Run as root, the server runs as the `postgres` user (initdb refuses root). It is
stopped (`pg_ctl stop -m fast`) and its folder removed at the end of the session, on failure
or Ctrl-C too. Without PostgreSQL the tests are skipped, except in CI (CI=true), where a
missing server is a failure. `make postgres` installs it on Debian.
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ADMIN = "runbook_admin"
"""The cluster's superuser (the tests' own connections only)."""
USER = "runbook"
"""A plain login user (trust): what a team member's store URL would name."""
PASSWORD_USER = "runbook_pw"
PASSWORD = "Sw0rdf1sh-Tr0ub4dor"
"""A user that must give this password (scram-sha-256): it must never show up anywhere."""
SERVICE_ACCOUNT = "postgres"
"""Who runs the server when the tests run as root (the Debian package creates it)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip the test for want of PostgreSQL; fail it in CI, where the server must be there."""
    if in_ci():
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason} (run `make postgres`)")


def find_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: PATH first, then Debian's newest."""
    found = shutil.which("initdb")
    if found:
        folder = Path(found).resolve().parent
        if (folder / "pg_ctl").exists():
            return folder
    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (0,)
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One cluster in a temporary folder; `start`, `stop` (and start again), `new_database`."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.as_user: list[str] = []
        owner = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(SERVICE_ACCOUNT)
            except KeyError:
                raise RuntimeError(f"running as root and there is no '{SERVICE_ACCOUNT}' user "
                                   "to run the server as (install the postgresql package)") \
                    from None
            self.as_user = ["runuser", "-u", SERVICE_ACCOUNT, "--"]
        self.root = Path(tempfile.mkdtemp(prefix="runbook-pg-"))
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.running = False
        self._numbers = itertools.count(1)
        self.version = ""
        self.created: list[str] = []
        """Databases made for the running test, dropped after it (`drop_test_databases`)."""

    # --- running the server ----------------------------------------------------------------

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True,
                              timeout=timeout, cwd=self.root, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
            raise RuntimeError(f"{Path(args[0]).name} failed: {' / '.join(tail)}")
        return done

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", ADMIN,
                  "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        self.port = free_port()
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                "\n# tests/postgres.py\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\n"
                # A throwaway cluster: durability is not what these tests are about.
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 60\nshared_buffers = 32MB\n"
                "password_encryption = 'scram-sha-256'\n")
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n", encoding="utf-8")

    def start(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "start", "-D", str(self.data), "-l",
                  str(self.log), "-w", "-t", "60")
        self.running = True

    def stop(self) -> None:
        """Stop at once (`-m fast`: sessions are cut, open transactions rolled back)."""
        if self.running:
            self.running = False
            self._run(str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast",
                      "-w", "-t", "60")

    def cleanup(self) -> None:
        try:
            self.stop()
        except (RuntimeError, subprocess.SubprocessError):
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    # --- using it ----------------------------------------------------------------------------

    def url(self, database: str, user: str = USER, password: str | None = None) -> str:
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str, database: str = "postgres") -> list[tuple]:
        """Run `sql` as the superuser (autocommit) and return its rows."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=ADMIN, dbname=database,
                             autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def setup_roles(self) -> None:
        self.admin(f"CREATE ROLE {USER} LOGIN CREATEDB")
        self.admin(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}'")
        self.version = self.admin("SHOW server_version")[0][0]

    def new_database(self, owner: str = USER, password: str | None = None) -> str:
        """A fresh, empty database owned by `owner`; its URL (with `password`, if given)."""
        name = f"t_{next(self._numbers)}"
        self.admin(f"CREATE DATABASE {name} OWNER {owner} TEMPLATE template0")
        self.created.append(name)
        return self.url(name, owner, password)

    def drop_created(self) -> None:
        """Drop the databases made since the last call (each is some megabytes on disk)."""
        while self.created:
            name = self.created.pop()
            if self.running:
                self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def terminate(self, database: str) -> int:
        """Cut every session connected to `database` (as a crashed or restarted server would)."""
        rows = self.admin("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                          f"WHERE datname = '{database}' AND pid <> pg_backend_pid()")
        return int(rows[0][0])


_server: PostgresServer | None = None


def _stop_at_exit() -> None:
    if _server is not None:
        _server.cleanup()


@pytest.fixture(autouse=True)
def drop_test_databases() -> Iterator[None]:
    """After each test, drop the databases it made (nothing to do when no server runs)."""
    yield
    if _server is not None and _server.created:
        _server.drop_created()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (skipped, or failed in CI, when there is none)."""
    global _server
    bindir = find_bindir()
    if bindir is None:
        missing("initdb and pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing("the psycopg package is not installed (pip install 'migration-runbook[postgres]')")
    server = None
    try:
        server = PostgresServer(bindir)
        _server = server
        atexit.register(_stop_at_exit)      # even if the session is torn down abruptly
        server.init()
        server.start()
        server.setup_roles()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        log = ""
        if server is not None and server.log.exists():
            log = " | ".join(server.log.read_text(errors="replace").splitlines()[-3:])
            server.cleanup()
        missing(f"the test server did not start: {exc}" + (f" ({log})" if log else ""))
    try:
        yield server
    finally:
        server.cleanup()
        _server = None
