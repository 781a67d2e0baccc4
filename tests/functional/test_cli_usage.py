"""What a tired operator mistypes: a usage error, an empty --operator, a wrong --outputs.

Each is one line on stderr that says what is wrong and what would be right, and costs nothing
(no notebook number, no folder, no event)."""

from __future__ import annotations

import pytest

from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE, run_cli

EVENTS = ("'review', 'go', 'no-go', 'start', 'complete', 'rollback', 'rolled-back', 'note', "
          "'approve', 'revoke'")



def test_an_unknown_event_is_one_usage_line_listing_the_events(tmp_path):
    result = run_cli("phase", EXAMPLE, "carrier-connections", "gogo", "--operator", "alice",
                     "--outputs", tmp_path / "run")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"runbook phase: Invalid value for 'EVENT': 'gogo' is not one of {EVENTS}. "
        "(usage: runbook phase --help)"]
    assert not (tmp_path / "run").exists()


def test_a_missing_event_lists_the_choices_on_one_line():
    result = run_cli("phase", EXAMPLE, "carrier-connections")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "runbook phase: Missing argument 'EVENT'. Choose from: review, go, no-go, start, "
        "complete, rollback, rolled-back, note, approve, revoke (usage: runbook phase --help)"]


def test_an_unknown_command_is_one_line():
    result = run_cli("stauts", EXAMPLE)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "runbook: No such command 'stauts'. Did you mean 'status'? (usage: runbook --help)"]


@pytest.mark.notebook
def test_an_empty_operator_is_refused_in_the_cli_s_terms_and_takes_no_notebook_number(
        tmp_path, env):
    outputs = tmp_path / "run"
    for empty in ("", "  "):
        result = run_cli("phase", EXAMPLE, "carrier-connections", "go", "--operator", empty,
                         "--outputs", outputs, env=env)
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            "phase 'carrier-connections' cannot go: --operator is empty (say who decides: "
            "--operator NAME)"]
        assert not outputs.exists()
    result = run_cli("phase", EXAMPLE, "carrier-connections", "go", "--operator", "alice",
                     "--outputs", outputs, env=env)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (outputs / "notebooks").iterdir()] == [
        "01-carrier-connections-go.ipynb"]


def test_a_refusal_against_an_empty_log_says_the_log_is_empty(tmp_path, env):
    """A mistyped --outputs opens a new, empty log, where every phase is planned."""
    typo = tmp_path / "omni-hosting-202"
    result = run_cli("phase", EXAMPLE, "messaging-core", "go", "--operator", "alice",
                     "--outputs", typo, env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "phase 'messaging-core' cannot go: 'carrier-connections' is planned, not completed; "
        f"the event log {typo / 'events.sqlite'} holds no events yet (is --outputs the "
        "run's?)"]
    assert not typo.exists()
    url = f"sqlite:///{typo / 'events.sqlite'}"
    result = run_cli("phase", EXAMPLE, "messaging-core", "go", "--operator", "alice",
                     "--store", url, env=env)
    assert result.returncode == 1 and "(is --store the run's?)" in result.stderr


def test_a_refusal_against_a_log_with_events_has_no_such_hint(tmp_path, env):
    outputs = tmp_path / "run"
    with open_log(load_plan(EXAMPLE), outputs) as log:
        log.record("carrier-connections", "go", "alice", at="2020-09-07T08:50:00Z")
    result = run_cli("phase", EXAMPLE, "messaging-core", "go", "--operator", "alice",
                     "--outputs", outputs, env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "phase 'messaging-core' cannot go: 'carrier-connections' is approved, not completed"]
