"""Naming a store: URLs, masked passwords, and storage failures as one line without secrets."""

from __future__ import annotations

import pytest

from migration_runbook import execute
from migration_runbook.errors import StoreError
from migration_runbook.store import (
    Store,
    has_secret,
    mask_url,
    open_store,
    store_error,
    unmask,
)

SECRET = "p@ss:w0rd/x"
QUOTED = "p%40ss%3Aw0rd%2Fx"
URL = f"postgresql://ops:{QUOTED}@db.example:5432/runbook"
MASKED = "postgresql://ops:***@db.example:5432/runbook"


@pytest.mark.parametrize(("url", "shown"), [
    (URL, MASKED),
    ("postgresql://ops:plain@db/runbook", "postgresql://ops:***@db/runbook"),
    ("postgresql://ops@db/runbook", "postgresql://ops@db/runbook"),
    ("postgresql://db:5432/runbook", "postgresql://db:5432/runbook"),
    ("postgresql://ops@db/runbook?password=hunter2&sslmode=require",
     "postgresql://ops@db/runbook?password=***&sslmode=require"),
    ("could not connect to postgresql://ops:hunter2@db/x: refused",
     "could not connect to postgresql://ops:***@db/x: refused"),
    ("sqlite:///outputs/p/events.sqlite", "sqlite:///outputs/p/events.sqlite"),
])
def test_a_password_is_masked_wherever_a_url_is_shown(url, shown):
    assert mask_url(url) == shown
    assert has_secret(url) == (url != shown)
    assert not has_secret(shown)


def test_a_store_names_itself_without_its_password_and_uses_psycopg_3():
    store = Store(URL)
    assert store.location == MASKED
    assert store.url.drivername == "postgresql+psycopg"
    assert store.url.password == SECRET and store.secret == SECRET
    assert SECRET not in repr(store.url) and SECRET not in str(store.url)
    assert Store("postgres://ops@db/runbook").url.drivername == "postgresql+psycopg"


def test_a_masked_url_is_completed_from_the_environment_only_when_it_is_the_same_store(
        monkeypatch):
    monkeypatch.setenv("RUNBOOK_STORE", URL)
    assert unmask(MASKED) == URL
    assert unmask(URL) == URL
    assert unmask("sqlite:///x.sqlite") == "sqlite:///x.sqlite"
    with pytest.raises(StoreError, match=r"^event store 'postgresql://ops:\*\*\*@other/runbook'"
                                         r": the password is masked; set RUNBOOK_STORE"):
        unmask("postgresql://ops:***@other/runbook")
    monkeypatch.delenv("RUNBOOK_STORE")
    with pytest.raises(StoreError, match="the password is masked"):
        unmask(MASKED)


def test_a_url_with_a_password_reaches_a_kernel_through_its_environment_only():
    assert execute.store_env(URL) == {"RUNBOOK_STORE": URL}
    assert execute.store_env("postgresql://ops@db/runbook") == {}
    assert execute.store_env("") == {} and execute.store_env(None) == {}


def test_open_store_takes_a_url_a_file_a_run_folder_or_the_environment(tmp_path, monkeypatch):
    assert open_store(str(tmp_path)).location == str(tmp_path / "events.sqlite")
    assert open_store(str(tmp_path / "x.sqlite")).location == str(tmp_path / "x.sqlite")
    assert open_store("postgresql://ops@db/runbook").backend == "postgresql"
    monkeypatch.setenv("RUNBOOK_STORE", URL)
    assert open_store(None).location == MASKED
    assert open_store(MASKED).secret == SECRET
    monkeypatch.delenv("RUNBOOK_STORE")
    with pytest.raises(StoreError, match="no event store given: name one"):
        open_store("")


def test_a_malformed_url_is_refused_without_echoing_its_password():
    with pytest.raises(StoreError) as refused:
        Store("mysql://ops:hunter2@db/x")
    assert "hunter2" not in str(refused.value) and "ops:***@" in str(refused.value)


class PgError(Exception):
    """Stands in for psycopg's OperationalError (only its text matters here)."""


LOCATION = MASKED


@pytest.mark.parametrize(("message", "says"), [
    ('connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
     'password authentication failed for user "ops"',
     'the database refused the credentials (password authentication failed for user "ops"); '
     "check the user and password in RUNBOOK_STORE or ~/.pgpass"),
    ('connection failed: connection to server at "10.0.0.5", port 5432 failed: '
     "fe_sendauth: no password supplied", "the database refused the credentials"),
    ('connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
     'database "runbook" does not exist',
     'database "runbook" does not exist; create it (createdb) and run `runbook store init`'),
    ('connection failed: connection to server at "10.0.0.5", port 5432 failed: Connection '
     "refused\n\tIs the server running on that host and accepting TCP/IP connections?",
     "cannot reach the event store (connection to server at \"10.0.0.5\", port 5432 failed: "
     "Connection refused); nothing was recorded; check RUNBOOK_STORE and that the database "
     "server is up, then retry"),
    ("terminating connection due to administrator command",
     "cannot reach the event store (terminating connection due to administrator command)"),
    ("canceling statement due to lock timeout", "locked by another process (waited 30s)"),
    ("permission denied for schema public",
     "cannot write the event log (permission denied for schema public); check the database "
     "user's privileges"),
    (f"invalid dsn: bad option in postgresql://ops:{SECRET}@db", "postgresql://ops:***@db"),
])
def test_server_failures_become_one_line_that_says_what_to_do(message, says):
    error = str(store_error(PgError(message), LOCATION, write=True, timeout=30, secret=SECRET))
    assert error.startswith(f"{LOCATION}: ") and says in error
    assert "\n" not in error and SECRET not in error and QUOTED not in error


def test_a_connection_lost_while_committing_says_the_event_may_be_recorded():
    error = str(store_error(PgError("server closed the connection unexpectedly"), LOCATION,
                            write=True, timeout=30, committing=True))
    assert "lost while committing" in error
    assert "may or may not be recorded: check with `runbook log` before retrying" in error
