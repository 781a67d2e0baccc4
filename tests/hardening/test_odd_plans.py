"""Plans that validated but broke a later command, and files that are not plans at all."""

from __future__ import annotations

import copy
import os
from datetime import timedelta
from pathlib import Path

import pytest

from migration_runbook import times
from migration_runbook.events import open_log
from migration_runbook.notices import NoticeError, render_notice
from migration_runbook.plan import load_plan
from migration_runbook.rehearsal import rehearse, script
from tests.conftest import EXAMPLE
from tests.hardening.conftest import assert_clean_refusal, dump, example_data, runbook

BASE = example_data()


def _write(tmp_path: Path, data: dict, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dump(data), encoding="utf-8")
    return path


def _shifted(data: dict, year: int) -> dict:
    data = copy.deepcopy(data)
    for phase in data["phases"]:
        for key in ("start", "end"):
            phase[key] = f"{year:04d}" + str(phase[key])[4:]
    return data


@pytest.mark.parametrize("year", [1, 1899, 9999])
def test_a_plan_out_of_the_years_every_command_can_show_is_refused_at_validation(tmp_path,
                                                                                 year):
    path = _write(tmp_path, _shifted(BASE, year))
    for command in (["validate", path], ["comms", path], ["schedule", path, "--tz", "Etc/GMT-14"],
                    ["rehearse", path, "--outputs", tmp_path / "run"]):
        err = assert_clean_refusal(runbook(*command), lines=None)
        assert "is out of range (years 1900 to 9998)" in err, err
        assert "--at" not in err
    assert not (tmp_path / "run").exists()


def test_the_first_and_last_years_allowed_work_in_every_zone(tmp_path):
    for year in (1901, 9997):
        path = _write(tmp_path, _shifted(BASE, year), f"plan-{year}.yaml")
        for command in (["comms", path], ["schedule", path, "--tz", "Etc/GMT-14"],
                        ["schedule", path, "--tz", "Etc/GMT+12"]):
            result = runbook(*command)
            assert result.returncode == 0, (command, result.stderr)


def test_an_offset_with_seconds_is_written_with_its_seconds():
    # Monrovia kept local mean time, -00:44:30, until 1972.
    with pytest.raises(ValueError) as err:
        times.parse_time("1960-09-07T21:00-00:44", times.zone("Africa/Monrovia"))
    assert "offset -00:44 of '1960-09-07T21:00-00:44' disagrees with Africa/Monrovia, which " \
        "is -00:44:30 (MMT) at that moment; write 1960-09-07T20:59:30-00:44:30" in str(err.value)
    assert times.parse_time("1960-09-07T20:59:30-00:44:30", times.zone("Africa/Monrovia"))


def test_phases_listed_out_of_dependency_order_rehearse_in_dependency_order(tmp_path):
    data = copy.deepcopy(BASE)
    data["phases"].reverse()
    plan = load_plan(_write(tmp_path, data))
    steps = script(plan)
    order = [s.phase for s in steps if s.event == "go"]
    assert order == [p["id"] for p in BASE["phases"]]
    # The same events through the real event log and its gate: every one is accepted.
    with open_log(plan, tmp_path / "run") as log:
        for step in steps:
            if step.step:     # a step tick, as `runbook step` records it
                log.record_step(step.phase, step.step, step.event.removeprefix("step-"),
                                step.operator, step.reason, at=step.at)
            else:
                log.record(step.phase, step.event, step.operator, step.reason, at=step.at)
        assert set(log.states().values()) == {"completed"}
    # Rolling back the phase listed last (the first to run) leaves out what depends on it.
    first = BASE["phases"][0]["id"]
    held = script(plan, rollback=first)
    assert {s.phase for s in held} == {p["id"] for p in BASE["phases"]
                                       if first not in _ancestors(p["id"])}
    assert [s.event for s in held if s.phase == first][-1] == "rolled-back"


def _ancestors(phase_id: str) -> set[str]:
    by_id = {p["id"]: p for p in BASE["phases"]}
    out, todo = set(), list(by_id[phase_id].get("depends_on", []))
    while todo:
        dep = todo.pop()
        if dep not in out:
            out.add(dep)
            todo += by_id[dep].get("depends_on", [])
    return out


def test_a_real_rehearsal_of_phases_listed_backwards_completes_them_all(tmp_path):
    data = copy.deepcopy(BASE)
    data["phases"] = list(reversed(data["phases"][:2]))
    result = rehearse(_write(tmp_path, data), tmp_path / "run", report=False)
    assert result.states == {p["id"]: "completed" for p in BASE["phases"][:2]}
    assert result.verified_ok


@pytest.mark.parametrize("template", [
    "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    '{% include "announcement.txt.j2" %}',
])
def test_a_plan_template_that_recurses_for_ever_is_one_line(tmp_path, template):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "announcement.txt.j2").write_text(template)
    data = copy.deepcopy(BASE)
    data["communications"]["templates"] = "tpl"
    path = _write(tmp_path, data)
    with pytest.raises(NoticeError, match="recursion too deep"):
        render_notice(load_plan(path), "announcement")
    err = assert_clean_refusal(runbook("notices", path, "announcement"))
    assert err == ("template announcement.txt.j2: recursion too deep (a macro or include that "
                   "calls itself without end)")


def test_a_file_that_is_not_a_plan_is_not_echoed_back(tmp_path):
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$s3cr3tSalt$h4sh:19000:0:99999:7:::\n"
                      "daemon:*:19000:0:99999:7:::\n")
    err = assert_clean_refusal(runbook("validate", shadow))
    assert err == (f"{shadow}:1: not a migration plan: none of its 2 top-level keys is a plan "
                   "key (id, title, timezone, services, phases)")
    if os.access("/etc/shadow", os.R_OK):
        err = assert_clean_refusal(runbook("validate", "/etc/shadow"))
        assert "not a migration plan" in err and "root" not in err


def test_an_unknown_key_that_is_not_a_name_is_not_quoted(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(EXAMPLE.read_text() + '"root:$6$s3cr3t:19000": 1\nsecond_key: 2\n')
    err = assert_clean_refusal(runbook("validate", path), lines=2)
    assert "s3cr3t" not in err
    assert "unknown key (not a key name: keys are letters, digits, '_' and '-')" in err
    assert "unknown key 'second_key'" in err


def test_windows_near_the_limits_keep_their_length(tmp_path):
    plan = load_plan(_write(tmp_path, _shifted(BASE, 9997)))
    assert all(p.duration > timedelta(0) for p in plan.phases)
