"""Plan text cannot add lines to the calendar (or to any other line-based output): text that
must be one line is refused at validation, naming file, line and field, and every free-text
value the calendar carries is escaped as TEXT, even under `python -O`."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from migration_runbook.calendar import ics_bytes
from migration_runbook.plan import MAX_REVISION, load_plan
from tests.conftest import EXAMPLE
from tests.hardening.conftest import assert_clean_refusal, dump, example_data, runbook

STAMP = datetime(2020, 8, 13, 1, 2, 3, tzinfo=UTC)
INJECTION = "Omni\nEND:VEVENT\nBEGIN:VEVENT\nUID:evil\nSUMMARY:evil"
BASE = example_data()


def _set(data: dict, where: str, value: object) -> None:
    *path, last = where.split(".")
    for part in path:
        data = data[int(part)] if part.isdigit() else data[part]
    data[int(last) if last.isdigit() else last] = value


ONE_LINE_FIELDS = {
    "title": "title",
    "services.0.name": "services.name",
    "phases.0.name": "name",
    "phases.0.steps.0.name": "steps.name",
    "phases.0.steps.0.owner": "steps.owner",
    "communications.status_page": "communications.status_page",
    "communications.sender": "communications.sender",
    "communications.contacts.0.name": "communications.contacts.name",
    "communications.contacts.0.phone": "communications.contacts.phone",
    "communications.previous_notices.0.title": "communications.previous_notices.title",
}


@pytest.mark.parametrize("where", ONE_LINE_FIELDS)
@pytest.mark.parametrize("brk", ["\n", "\u2028", "\u2029"])  # "\r": a control character
def test_a_line_break_in_one_line_text_is_refused_naming_line_and_field(tmp_path, where, brk):
    data = copy.deepcopy(BASE)
    _set(data, where, f"Omni{brk}BEGIN:VEVENT")
    path = tmp_path / "plan.yaml"
    path.write_text(dump(data), encoding="utf-8")
    err = assert_clean_refusal(runbook("ics", path, "-o", tmp_path / "out.ics"))
    assert re.fullmatch(rf"{re.escape(str(path))}:\d+:( phase '[a-z-]+':)? "
                        rf"{re.escape(ONE_LINE_FIELDS[where])}: must be one line \(no line "
                        r"breaks\).*", err), err
    assert not (tmp_path / "out.ics").exists()


def test_descriptions_and_details_keep_their_lines_and_stay_inside_their_event(tmp_path):
    data = copy.deepcopy(BASE)
    data["phases"][0]["description"] = INJECTION
    data["phases"][0]["impacts"][0]["detail"] = INJECTION + "; a, b"
    data["phases"][0]["rollback"]["plan"] = INJECTION
    path = tmp_path / "plan.yaml"
    path.write_text(dump(data), encoding="utf-8")
    plan = load_plan(path)
    calendar = Calendar.from_ical(ics_bytes(plan, stamp=STAMP))
    events = [c for c in calendar.walk("VEVENT")]
    assert len(events) == len(plan.phases)
    assert all(str(e["UID"]) != "evil" for e in events)
    assert INJECTION + "; a, b" in str(events[0]["DESCRIPTION"])


@pytest.mark.parametrize("optimise", [[], ["-O"]])
def test_a_title_with_line_breaks_cannot_add_events_even_under_python_o(optimise):
    # Validation refuses it; the calendar must still escape it if a model carries one.
    program = (
        "import sys\n"
        "from migration_runbook.calendar import ics_bytes\n"
        "from migration_runbook.plan import load_plan\n"
        f"plan = load_plan({str(EXAMPLE)!r})\n"
        f"plan = plan.model_copy(update={{'title': {INJECTION!r}}})\n"
        "sys.stdout.buffer.write(ics_bytes(plan))\n")
    out = subprocess.run([sys.executable, *optimise, "-c", program], capture_output=True,
                         check=True).stdout
    calendar = Calendar.from_ical(out)
    assert len(list(calendar.walk("VEVENT"))) == 4
    assert b"X-WR-CALNAME:Omni\\nEND:VEVENT\\nBEGIN:VEVENT\\nUID:evil\\nSUMMARY:evil\r\n" in out
    assert all(str(e["SUMMARY"]).startswith(INJECTION + ": ") for e in calendar.walk("VEVENT"))
    assert b"\r\nUID:evil" not in out and b"\r\nBEGIN:VEVENT\r\nUID:evil" not in out


def test_a_status_page_that_is_not_a_plain_url_is_left_out_of_the_calendar():
    plan = load_plan(EXAMPLE)
    odd = plan.model_copy(update={"communications": plan.communications.model_copy(
        update={"status_page": "https://x\r\nBEGIN:VEVENT"})})
    calendar = Calendar.from_ical(ics_bytes(odd, stamp=STAMP))
    assert all("URL" not in e for e in calendar.walk("VEVENT"))


def test_a_revision_beyond_the_calendar_sequence_is_refused(tmp_path):
    data = copy.deepcopy(BASE)
    data["revision"] = 10 ** 22
    path = tmp_path / "plan.yaml"
    path.write_text(dump(data), encoding="utf-8")
    err = assert_clean_refusal(runbook("ics", path, "-o", tmp_path / "out.ics"))
    assert err == f"{path}:4: revision must be at most {MAX_REVISION}, not {10 ** 22}"
    data["revision"] = MAX_REVISION
    path.write_text(dump(data), encoding="utf-8")
    result = runbook("ics", path, "-o", tmp_path / "out.ics")
    assert result.returncode == 0, result.stderr
    assert f"SEQUENCE:{MAX_REVISION}" in (tmp_path / "out.ics").read_text()
