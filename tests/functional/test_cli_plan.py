"""`runbook validate` and `runbook schedule`, run for real as an operator would."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, EXAMPLE_AUGUST, ROOT, run_cli

PLANS = ROOT / "tests" / "data" / "plans"
EXAMPLE_ARG = str(EXAMPLE.relative_to(ROOT))


def plan_arg(name: str) -> str:
    """The path of a test plan as typed from the repository root (as messages show it)."""
    return str((PLANS / f"{name}.yaml").relative_to(ROOT))


def line_of(name: str, needle: str | tuple[str, int], nth: int = 1) -> int:
    """The line of `name` holding `needle` (the `nth` such line; a tuple gives both)."""
    if isinstance(needle, tuple):
        needle, nth = needle
    lines = (PLANS / f"{name}.yaml").read_text().splitlines()
    hits = [n for n, line in enumerate(lines, start=1) if needle in line]
    return hits[nth - 1]


def assert_refused(result, expected: list[str]) -> None:
    """Exit 1, exactly the expected one-line errors on stderr, nothing on stdout."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == expected


# Each kind of defect: (file in tests/data/plans, text on the line the error names, message).
DEFECTS = [
    ("unknown-key", "depend_on", "phase 'b': unknown key 'depend_on' (did you mean "
     "'depends_on'?)"),
    ("missing-key", "- id: a", "phase 'a': missing required key 'rollback'"),
    ("duplicate-id", ("- id: a", 2), "phase 'a': duplicate phase id 'a' (also phase #1)"),
    ("unknown-service", "service: sms", "phase 'a': unknown service 'sms' (services: api, "
     "web)"),
    ("unknown-dependency", "depends_on", "phase 'a': depends on unknown phase 'carrier'"),
    ("dependency-cycle", "depends_on: [b]", "phase 'a': dependency cycle: a -> b -> a (each "
     "depends on the next)"),
    ("end-before-start", "end:", "phase 'a': end must be after start (the window is Tue 8 Sep "
     "01:00 NZST to Mon 7 Sep 21:00 NZST)"),
    ("dst-gap", "start:", "phase 'a': start: 2020-09-27 02:30 does not exist in "
     "Pacific/Auckland (clocks skip it for daylight saving)"),
    ("dst-overlap", "end:", "phase 'a': end: 2021-04-04 02:30 happens twice in "
     "Pacific/Auckland (daylight saving ends); write it with its offset, e.g. "
     "2021-04-04T02:30+13:00 or 2021-04-04T02:30+12:00"),
    ("offset-disagrees", "start:", "phase 'a': start: offset +13:00 of "
     "'2020-09-07T21:00+13:00' disagrees with Pacific/Auckland, which is +12:00 (NZST) at that "
     "moment; write 2020-09-07T20:00+12:00, or the local time without an offset"),
    ("unknown-level", "level: slow", "phase 'a': unknown impact level 'slow' (use one of "
     "unavailable, degraded, delayed, unaffected)"),
    ("steps-do-not-fit", "steps:", "phase 'a': steps (3h 45m) plus rollback (30m) do not fit "
     "in the 4h window"),
    ("dependent-overlap", "start: 2020-09-07 23:00", "phase 'b': starts before 'a', which it "
     "depends on, ends; it must start at or after Tue 8 Sep 01:00 NZST (Mon 7 Sep 13:00 UTC)"),
    ("bad-duration", "rollback:", "phase 'a': rollback.duration: invalid duration '45 "
     "minutes' (write e.g. 45m, 1h30m or PT45M)"),
    ("unknown-zone", "timezone:", "timezone: unknown time zone 'Pacific/Atlantis' (use an "
     "IANA name such as 'Pacific/Auckland')"),
    ("python-tag", "!!python", "phase 'a': YAML tag '!!python/object/apply:os.system' is not "
     "allowed: a plan is plain YAML (no Python objects or custom types)"),
    ("duplicate-key", "end:", None),  # second `end:`; message checked below
    ("phases-not-a-list", "phases:", "phases must be a list, not 'the four night windows'"),
    ("step-not-a-mapping", "Drain", "phase 'a': each entry of steps must be a mapping (id, "
     "name, owner, duration, after, low, high), not 'Drain the queues'"),
    ("number-for-text", "- id: 2020", "phase '2020': id must be text, not int 2020 (put it in "
     "quotes)"),
    ("impossible-date", "start:", "phase 'a': start: invalid time '2020-13-45 21:00' (write "
     "'YYYY-MM-DD HH:MM' in the plan's zone, or ISO 8601 with an offset)"),
    ("top-level-list", "- id: a", "a plan must be a mapping with id, title, timezone, services "
     "and phases"),
]


@pytest.mark.parametrize("name, needle, message", [d for d in DEFECTS if d[2]],
                         ids=[d[0] for d in DEFECTS if d[2]])
def test_validate_refuses_each_kind_of_defect_in_one_line_naming_file_and_line(
        name, needle, message):
    result = run_cli("validate", plan_arg(name))
    assert_refused(result, [f"{plan_arg(name)}:{line_of(name, needle)}: {message}"])


def test_validate_refuses_a_duplicate_yaml_key_at_its_second_occurrence():
    name = "duplicate-key"
    result = run_cli("validate", plan_arg(name))
    assert_refused(result, [f"{plan_arg(name)}:{line_of(name, 'end:', 2)}: phase 'a': duplicate "
                            f"key 'end' (first on line {line_of(name, 'end:')})"])


def test_validate_refuses_a_yaml_syntax_error_at_its_line():
    name = "yaml-syntax"
    result = run_cli("validate", plan_arg(name))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{plan_arg(name)}:{line_of(name, 'name: Phase a')}: YAML: ")


def test_validate_reports_every_problem_of_a_file_with_several():
    name = "several-problems"
    result = run_cli("validate", plan_arg(name))
    file = plan_arg(name)
    assert_refused(result, [
        f"{file}:{line_of(name, 'level: slow')}: phase 'a': unknown impact level 'slow' (use "
        "one of unavailable, degraded, delayed, unaffected)",
        f"{file}:{line_of(name, 'level: slow')}: phase 'a': unknown service 'sms' (services: "
        "api, web)",
        f"{file}:{line_of(name, '02:30')}: phase 'b': start: 2020-09-27 02:30 does not exist "
        "in Pacific/Auckland (clocks skip it for daylight saving)",
        f"{file}:{line_of(name, 'depends_on: [z]')}: phase 'b': depends on unknown phase 'z'",
    ])


def test_validate_never_runs_a_python_tag(tmp_path):
    marker = tmp_path / "pwned"
    plan = tmp_path / "plan.yaml"
    plan.write_text(EXAMPLE.read_text().replace(
        "title: Omni hosting provider migration",
        f"title: !!python/object/apply:os.system ['touch {marker}']"))
    result = run_cli("validate", plan)
    assert result.returncode == 1 and "YAML tag '!!python/object/apply:os.system'" in \
        result.stderr
    assert not marker.exists()


def test_validate_accepts_the_example_plans():
    for plan in (EXAMPLE, EXAMPLE_AUGUST):
        result = run_cli("validate", plan)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert "valid: 4 phases, 7 services" in result.stdout
    assert "Mon 7 Sep 21:00 NZST (09:00 UTC) to Fri 11 Sep 01:00 NZST (Thu 10 Sep 13:00 UTC)" \
        in run_cli("validate", EXAMPLE).stdout


def test_validate_warns_about_independent_overlapping_windows_but_exits_0():
    name = "independent-overlap"
    result = run_cli("validate", plan_arg(name))
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"{plan_arg(name)}:{line_of(name, 'start: 2020-09-07 23:00')}: phase 'b': warning: "
        "window overlaps independent phase 'a' (Mon 7 Sep 21:00 NZST to Tue 8 Sep 01:00 NZST)"]
    assert "valid: 2 phases" in result.stdout


@pytest.mark.parametrize("argument, message", [
    ("no-such-plan.yaml", "no-such-plan.yaml: no such plan file"),
    ("tests", "tests: is a folder, not a plan file"),
])
def test_validate_refuses_a_missing_file_or_a_folder(argument, message):
    assert_refused(run_cli("validate", argument), [message])


def test_validate_without_a_plan_is_a_usage_error():
    result = run_cli("validate")
    assert result.returncode == 2 and "Traceback" not in result.stderr


# --- schedule ---------------------------------------------------------------------------

def test_schedule_json_rows_carry_the_contract_fields_with_local_and_utc_times():
    result = run_cli("schedule", EXAMPLE, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ["carrier-connections", "messaging-core",
                                       "web-interface", "api-endpoints"]
    for row, day in zip(rows, (7, 8, 9, 10), strict=True):
        assert {"id", "name", "start", "end", "start_utc", "end_utc", "duration_minutes",
                "depends_on", "impacts", "rollback_deadline_utc"} <= set(row)
        assert row["start"] == f"2020-09-{day:02d}T21:00+12:00"
        assert row["end"] == f"2020-09-{day + 1:02d}T01:00+12:00"
        assert row["start_utc"] == f"2020-09-{day:02d}T09:00:00Z"
        assert row["end_utc"] == f"2020-09-{day:02d}T13:00:00Z"
        assert row["duration_minutes"] == 240
        assert row["start_abbrev"] == row["end_abbrev"] == "NZST"
    assert rows[1]["depends_on"] == ["carrier-connections"]
    assert rows[1]["rollback_deadline_utc"] == "2020-09-08T12:00:00Z"
    assert {"service": "api", "service_name": "REST API", "level": "unavailable",
            "detail": "The API will be unavailable during the migration."} in rows[1]["impacts"]


def test_schedule_csv_has_a_header_and_one_row_a_phase():
    result = run_cli("schedule", EXAMPLE, "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 4
    assert rows[0]["id"] == "carrier-connections"
    assert rows[0]["start_utc"] == "2020-09-07T09:00:00Z"
    assert rows[0]["start"] == "2020-09-07T21:00+12:00"
    assert json.loads(rows[3]["depends_on"]) == ["web-interface"]
    assert json.loads(rows[3]["impacts"])[0]["level"] == "unavailable"


def test_schedule_table_shows_local_time_with_abbreviation_and_utc_beside_it():
    result = run_cli("schedule", EXAMPLE)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Omni hosting provider migration (revision 2) - times in Pacific/Auckland" in out
    assert "Mon 7 Sep 21:00-01:00 NZST" in out and "09:00-13:00 UTC" in out
    assert "4h, rollback by 00:15 NZST" in out and "after carrier-connections" in out
    assert "Carrier Connection" in out and "api-endpoints" in out
    assert "api: unavailable" in out


@pytest.mark.parametrize("columns", [80, 160])
def test_schedule_table_fits_the_width_and_cuts_nothing(columns):
    out = run_cli("schedule", EXAMPLE, env=os.environ | {"COLUMNS": str(columns)}).stdout
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= columns and "…" not in out
    for phase in ("carrier-connections", "messaging-core", "web-interface", "api-endpoints"):
        assert any(line.split()[1:2] == [phase] for line in lines), phase
    assert len(lines) <= 30


def test_schedule_wide_has_a_column_a_field_and_each_time_in_full():
    out = run_cli("schedule", EXAMPLE, "--wide", env=os.environ | {"COLUMNS": "160"}).stdout
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 160
    assert "Mon 7 Sep 21:00 NZST" in out and "(09:00 UTC)" in out
    assert "depends on" in out and "rollback by" in out


@pytest.mark.parametrize("zone, start, abbrev", [
    ("UTC", "2020-09-07T09:00+00:00", "UTC"),
    ("America/New_York", "2020-09-07T05:00-04:00", "EDT"),
])
def test_schedule_tz_shows_the_same_instants_in_another_zone(zone, start, abbrev):
    result = run_cli("schedule", EXAMPLE, "--format", "json", "--tz", zone)
    assert result.returncode == 0, result.stderr
    first = json.loads(result.stdout)[0]
    assert first["start"] == start
    assert first["start_abbrev"] == abbrev
    assert first["start_utc"] == "2020-09-07T09:00:00Z"


def test_schedule_table_in_new_york_time():
    result = run_cli("schedule", EXAMPLE, "--tz", "America/New_York")
    assert result.returncode == 0, result.stderr
    assert "times in America/New_York" in result.stdout
    assert "Mon 7 Sep 05:00-09:00 EDT" in result.stdout and "09:00-13:00 UTC" in result.stdout
    assert "NZST" not in result.stdout


def test_schedule_table_in_utc():
    result = run_cli("schedule", EXAMPLE, "--tz", "UTC")
    assert result.returncode == 0, result.stderr
    assert "Mon 7 Sep 09:00-13:00 UTC" in result.stdout and "NZST" not in result.stdout
    assert "UTC below" not in result.stdout


def test_schedule_with_an_unknown_tz_is_a_one_line_error():
    result = run_cli("schedule", EXAMPLE, "--tz", "Mars/Olympus")
    assert_refused(result, ["--tz: unknown time zone 'Mars/Olympus' (use an IANA name such as "
                            "'Pacific/Auckland')"])


def test_schedule_of_an_invalid_plan_is_refused_like_validate():
    name = "dst-gap"
    result = run_cli("schedule", plan_arg(name), "--format", "json")
    assert_refused(result, [f"{plan_arg(name)}:{line_of(name, 'start:')}: phase 'a': start: "
                            "2020-09-27 02:30 does not exist in Pacific/Auckland (clocks skip "
                            "it for daylight saving)"])


def test_schedule_with_an_unknown_format_is_a_usage_error():
    result = run_cli("schedule", EXAMPLE, "--format", "xml")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_schedule_across_nz_dst_shows_nzst_then_nzdt_and_the_real_length(write_plan):
    plan = write_plan("""
        id: spring
        title: Across the NZ change to daylight saving
        timezone: Pacific/Auckland
        services: [{id: api, name: REST API}]
        phases:
          - id: night
            name: The short night
            start: 2020-09-26 23:00
            end: 2020-09-27 05:00
            rollback: {duration: 1h, plan: Undo.}
        """)
    result = run_cli("schedule", plan, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows[0]["start_abbrev"] == "NZST" and rows[0]["end_abbrev"] == "NZDT"
    assert rows[0]["start_utc"] == "2020-09-26T11:00:00Z"
    assert rows[0]["end_utc"] == "2020-09-26T16:00:00Z"
    assert rows[0]["duration_minutes"] == 300
    table = run_cli("schedule", plan).stdout
    assert "Sat 26 Sep 23:00 NZST-05:00 NZDT" in table and "11:00-16:00 UTC" in table
    assert "5h, rollback by 04:00 NZDT" in table


def test_schedule_shows_markup_in_a_plan_as_text(tmp_path: Path):
    plan = tmp_path / "markup.yaml"
    plan.write_text(EXAMPLE.read_text().replace(
        "name: Carrier Connection Migrations", "name: '[bold red]Carriers[/] <b>now</b>'"))
    result = run_cli("schedule", plan)
    assert result.returncode == 0, result.stderr
    assert "[bold red]Carriers[/]" in result.stdout and "<b>now</b>" in result.stdout
