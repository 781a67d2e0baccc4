"""Shared fixtures: paths to the example plans and a helper to write plans for a test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.postgres import drop_test_databases, postgres  # noqa: F401  (fixtures)
from tests.receivers import http_inbox, smtp_inbox  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
EXAMPLE = DATA / "omni-hosting-2020.yaml"
EXAMPLE_AUGUST = DATA / "omni-hosting-2020-08.yaml"


@pytest.fixture(autouse=True)
def _no_inherited_columns() -> None:
    """pytest imports readline, which exports COLUMNS=80 (and LINES) to every child process,
    unseen in `os.environ`; `runbook` honours COLUMNS when piped, so its tables would be 80
    columns in every test. A test that wants a width sets COLUMNS in the child's env."""
    os.unsetenv("COLUMNS")
    os.unsetenv("LINES")


@pytest.fixture
def example_plan() -> Path:
    return EXAMPLE


@pytest.fixture
def write_plan(tmp_path: Path):
    """Write YAML text (dedented) to a file in tmp_path and return its path."""

    def write(text: str, name: str = "plan.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300,
            env: dict | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed `runbook` command for real, as an operator would."""
    runbook = Path(sys.executable).with_name("runbook")
    return subprocess.run([str(runbook), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def plan():
    """The example plan, loaded once a test file (a file with a plan of its own defines its
    own `plan` fixture, which wins)."""
    from migration_runbook.plan import load_plan

    return load_plan(EXAMPLE)


def env_without_store() -> dict[str, str]:
    """This environment without $RUNBOOK_STORE, so --outputs (or --store) says where the log
    is."""
    return {k: v for k, v in os.environ.items() if k != "RUNBOOK_STORE"}


@pytest.fixture
def env() -> dict[str, str]:
    """`env_without_store()` for a test's `runbook` commands."""
    return env_without_store()


def race(racers: list[subprocess.Popen], signal_file: Path) -> list[tuple[int, str, str]]:
    """Start processes racing at once: each prints `ready` once it has imported and opened
    its log, then waits for `signal_file`; returns (exit status, stdout, stderr) of each.
    A racer still running when this fails is killed."""
    try:
        for racer in racers:
            assert racer.stdout is not None and racer.stdout.readline() == "ready\n"
        signal_file.touch()
        return [(racer.wait(timeout=120), *racer.communicate()) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()


UNTICKED = "steps not ticked in this test"
"""The reason that completes a phase whose steps a test does not tick (see `progress`)."""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty event store for one test, on every backend: a SQLite file in tmp_path, and a
    fresh database of the session's PostgreSQL server (tests/postgres.py)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'events.sqlite'}"
    return request.getfixturevalue("postgres").new_database()
