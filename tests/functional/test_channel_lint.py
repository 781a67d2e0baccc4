"""`runbook validate` warns about a channel that depends on a service a notice's window takes
down (an SMS channel for the in-progress notice of the phase that takes the SMS API down)."""

from __future__ import annotations

from migration_runbook.delivery import channel_lint
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE, run_cli

LINTED = """
id: lint-test
title: Lint test
timezone: Pacific/Auckland
services:
  - {id: api, name: REST API}
  - {id: sms, name: SMS API}
phases:
  - id: sms-move
    name: SMS move
    start: 2020-09-07 21:00
    end: 2020-09-08 01:00
    impacts:
      - {service: sms, level: unavailable}
    rollback: {duration: 30m, plan: Undo.}
  - id: api-move
    name: API move
    start: 2020-09-08 21:00
    end: 2020-09-09 01:00
    depends_on: [sms-move]
    impacts:
      - {service: api, level: degraded}
    rollback: {duration: 30m, plan: Undo.}
communications:
  channels:
    - {id: email, url: "mailto://ops@example.net"}
    - id: sms-alerts
      url: "json://hooks.example.net/sms"
      kinds: [in-progress, completed]
      depends_on: [sms]
"""


def test_validate_warns_naming_channel_notice_phase_and_service(write_plan) -> None:
    path = write_plan(LINTED)
    result = run_cli("validate", path)
    assert result.returncode == 0, result.stderr
    [warning] = result.stderr.strip().splitlines()
    assert warning.startswith(f"{path}:26: warning: channel 'sms-alerts' depends on service "
                              "'sms', which is unavailable during phase 'sms-move' when the "
                              "in-progress notice of phase 'sms-move' is due (Mon 7 Sep 21:00")
    assert "valid: 2 phases" in result.stdout


def test_validate_strict_exits_1_on_the_warning(write_plan) -> None:
    result = run_cli("validate", write_plan(LINTED), "--strict")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        "1 warning(s) (above); --strict refuses them")


def test_a_degraded_service_or_a_notice_outside_the_window_is_not_flagged(write_plan) -> None:
    text = LINTED.replace("depends_on: [sms]", "depends_on: [api]")
    assert channel_lint(load_plan(write_plan(text))) == []


def test_the_example_plan_is_clean_even_with_strict() -> None:
    assert channel_lint(load_plan(EXAMPLE)) == []
    result = run_cli("validate", EXAMPLE, "--strict")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
