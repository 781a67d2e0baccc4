"""Notices: golden files for every notice of both example plans, escaping, DST, overrides."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from migration_runbook import events, notices
from migration_runbook.notices import NoticeError, markdown_escape, render_notice
from migration_runbook.plan import Plan, load_plan
from tests.conftest import EXAMPLE, EXAMPLE_AUGUST, UNTICKED

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
FORMATS = ("text", "markdown", "html")
EXT = {"text": "txt", "markdown": "md", "html": "html"}
PHASES = ("carrier-connections", "messaging-core", "web-interface", "api-endpoints")


def check_golden(name: str, text: str) -> None:
    """Compare with tests/data/golden/NAME; UPDATE_GOLDEN=1 rewrites it instead."""
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        return
    assert path.exists(), f"missing golden {path}: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden file; if the change is intended, regenerate with "
        "UPDATE_GOLDEN=1 and review the diff")


def played(plan: Plan, outputs: Path) -> events.EventLog:
    """A log where phase 1 completed 3h12m into its window and phase 2 was rolled back."""
    log = events.open_log(plan, outputs=outputs)
    one, two = plan.phases[0].start, plan.phases[1].start
    log.record("carrier-connections", "go", "alice", "all carriers confirmed",
               at=one - timedelta(minutes=10))
    log.record("carrier-connections", "start", "alice", at=one + timedelta(minutes=1))
    log.record("carrier-connections", "complete", "alice", UNTICKED,
               at=one + timedelta(hours=3, minutes=12))
    log.record("messaging-core", "go", "bob", at=two - timedelta(minutes=10))
    log.record("messaging-core", "start", "bob", at=two + timedelta(minutes=2))
    log.record("messaging-core", "rollback", "bob", "row counts differ after restore",
               at=two + timedelta(hours=2, minutes=30))
    log.record("messaging-core", "rolled-back", "bob", at=two + timedelta(hours=3, minutes=20))
    return log


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, events.EventLog]:
    out = {}
    for path in (EXAMPLE, EXAMPLE_AUGUST):
        plan = load_plan(path)
        out[path.stem] = played(plan, tmp_path_factory.mktemp(path.stem))
    yield out
    for log in out.values():
        log.close()


# --- golden files -------------------------------------------------------------------------

CASES = [(path, kind, phase) for path in (EXAMPLE, EXAMPLE_AUGUST)
         for kind, phase in [("announcement", None)]
         + [("reminder", p) for p in PHASES]
         + [("completed", "carrier-connections"), ("completed", "messaging-core")]]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path,kind,phase", CASES,
                         ids=[f"{p.stem}-{k}{'-' + ph if ph else ''}" for p, k, ph in CASES])
def test_notice_matches_golden(path: Path, kind: str, phase: str | None, fmt: str, logs) -> None:
    plan = load_plan(path)
    notice = render_notice(plan, kind, fmt, phase=phase, log=logs[path.stem])
    check_golden(f"{path.stem}/{notice.filename}", notice.body)


@pytest.mark.parametrize("fmt", FORMATS)
def test_reschedule_notice_matches_golden(fmt: str) -> None:
    notice = render_notice(load_plan(EXAMPLE), "reschedule", fmt,
                           previous=load_plan(EXAMPLE_AUGUST))
    check_golden(f"{EXAMPLE.stem}/{notice.filename}", notice.body)


# --- what the notices say -----------------------------------------------------------------

def test_times_are_local_with_abbreviation_and_utc_beside_them() -> None:
    body = render_notice(load_plan(EXAMPLE), "announcement").body
    assert "Mon 7 Sep 21:00 NZST (09:00 UTC)" in body
    # the UTC date is written where it differs from the local one
    assert "Tue 8 Sep 01:00 NZST (Mon 7 Sep 13:00 UTC)" in body
    assert "Fri 11 Sep 01:00 NZST (Thu 10 Sep 13:00 UTC)" in body


def test_reminder_lists_only_the_phases_still_to_come() -> None:
    plan = load_plan(EXAMPLE)
    second = render_notice(plan, "reminder", phase="messaging-core").body
    assert second.startswith("Reminder: Phase 2 - Messaging Core Migration starts "
                             "Tue 8 Sep 21:00 NZST (09:00 UTC)")
    to_come = second.split("PHASES STILL TO COME")[1]
    assert "Phase 3: Omni Web Interface Migration" in to_come
    assert "Phase 4: API End-Point Migration" in to_come
    assert "Phase 1" not in second
    last = render_notice(plan, "reminder", phase="api-endpoints").body
    assert "PHASES STILL TO COME" not in last
    assert "This is the last phase of the migration." in last


def test_completed_notice_lists_the_phases_still_to_come_as_they_were_then(logs) -> None:
    body = render_notice(load_plan(EXAMPLE), "completed", phase="carrier-connections",
                         log=logs[EXAMPLE.stem]).body
    assert "was completed at Tue 8 Sep 00:12 NZST (Mon 7 Sep 12:12 UTC)" in body
    # phase 2 was rolled back later, but when phase 1 completed it was still to come
    for n in (2, 3, 4):
        assert f"Phase {n}:" in body.split("PHASES STILL TO COME")[1]


def test_rolled_back_notice_postpones_the_phases_that_depend_on_it(logs) -> None:
    body = render_notice(load_plan(EXAMPLE), "completed", phase="messaging-core",
                         log=logs[EXAMPLE.stem]).body
    assert body.startswith("Rolled back: Phase 2 - Messaging Core Migration")
    assert "rolled back at Wed 9 Sep 00:20 NZST (Tue 8 Sep 12:20 UTC)" in body
    postponed = body.split("postponed")[1]
    assert "Phase 3: Omni Web Interface Migration" in postponed
    assert "Phase 4: API End-Point Migration" in postponed
    assert "go ahead as planned" not in body


def test_rolled_back_notice_keeps_independent_phases_as_planned(write_plan, tmp_path) -> None:
    plan = load_plan(write_plan(two_phase_plan(depends=False)))
    log = events.open_log(plan, outputs=tmp_path / "run")
    start = plan.phases[0].start
    for event, minutes in (("go", -5), ("start", 0), ("rollback", 60), ("rolled-back", 90)):
        log.record("first", event, "alice", at=start + timedelta(minutes=minutes))
    body = render_notice(plan, "completed", phase="first", log=log).body
    assert "postponed" not in body
    assert "The phases still to come go ahead as planned:" in body
    assert "Phase 2: Second" in body


def test_completed_notice_refuses_a_phase_that_has_not_ended(logs) -> None:
    with pytest.raises(NoticeError) as err:
        render_notice(load_plan(EXAMPLE), "completed", phase="web-interface",
                      log=logs[EXAMPLE.stem])
    assert str(err.value) == ("phase 'web-interface' is planned: a completed notice needs it "
                              "completed or rolled back in the event log")


def test_reschedule_shows_old_and_new_windows_side_by_side() -> None:
    body = render_notice(load_plan(EXAMPLE), "reschedule", "markdown",
                         previous=load_plan(EXAMPLE_AUGUST)).body
    row = next(line for line in body.splitlines() if line.startswith("| Phase 1:"))
    assert row == ("| Phase 1: Carrier Connection Migrations | Mon 7 Sep 21:00 NZST (09:00 UTC) "
                   "| Tue 8 Sep 01:00 NZST (Mon 7 Sep 13:00 UTC) "
                   "| Mon 17 Aug 22:00 NZST (10:00 UTC) | Tue 18 Aug 02:00 NZST "
                   "(Mon 17 Aug 14:00 UTC) |")
    assert "important, the migration date has changed" in body


def test_reschedule_names_added_removed_resized_and_reworded_phases() -> None:
    from migration_runbook.plan import Impact

    old = load_plan(EXAMPLE)
    p1, p2, p3, p4 = old.phases
    p1 = p1.model_copy(update={"end": p1.end + timedelta(hours=1)})
    p2 = p2.model_copy(update={"impacts": [Impact(service="api", level="degraded")]})
    extra = p4.model_copy(update={"id": "cleanup", "name": "Clean-up",
                                  "start": p4.start + timedelta(days=1),
                                  "end": p4.end + timedelta(days=1)})
    new = old.model_copy(update={"phases": [p1, p2, p3, extra]})
    body = render_notice(new, "reschedule", previous=old).body
    assert body.startswith("UPDATE: Omni hosting provider migration - important, the "
                           "migration date has changed\n")
    assert "Phase 1: Carrier Connection Migrations\n  New: Mon 7 Sep 21:00 NZST (09:00 UTC) to\n"\
           "       Tue 8 Sep 02:00 NZST (Mon 7 Sep 14:00 UTC)\n  Was: Mon 7 Sep 21:00 NZST" in body
    assert "  * lengthened: 4h -> 5h\n" in body
    assert "Phase 2: Messaging Core Migration (unchanged)\n" in body
    assert "  * impacts: api unavailable -> degraded; omni removed (was unavailable);" in body
    assert "Phase 4: Clean-up (added)\n  New: Fri 11 Sep 21:00 NZST (09:00 UTC) to\n" in body
    assert "API End-Point Migration (removed)\n  Was: Thu 10 Sep 21:00 NZST (09:00 UTC) to\n" \
        in body
    assert "What each phase affects, with the changes above:" in body


def test_reschedule_refuses_when_no_phase_changed() -> None:
    with pytest.raises(NoticeError, match="no phase changed"):
        render_notice(load_plan(EXAMPLE), "reschedule", previous=load_plan(EXAMPLE))


def test_missing_phase_or_previous_is_a_one_line_error() -> None:
    plan = load_plan(EXAMPLE)
    with pytest.raises(NoticeError, match="needs --phase ID"):
        render_notice(plan, "reminder")
    with pytest.raises(NoticeError, match="needs --previous OLD_PLAN"):
        render_notice(plan, "reschedule")
    with pytest.raises(NoticeError, match="unknown notice format"):
        render_notice(plan, "announcement", "pdf")


# --- daylight saving ----------------------------------------------------------------------

def two_phase_plan(zone: str = "Pacific/Auckland", first: str = "2020-10-05 21:00",
                   first_end: str = "2020-10-06 01:00", second: str = "2020-10-06 21:00",
                   second_end: str = "2020-10-07 01:00", depends: bool = True,
                   text: str = "Sends", extra: str = "") -> str:
    """A small plan; `text` goes into names, details and the rollback plan."""
    return f"""
        id: small
        title: "Small {text} migration"
        timezone: {zone}
        services:
          - {{id: api, name: "API {text}"}}
        phases:
          - id: first
            name: "First {text}"
            start: {first}
            end: {first_end}
            impacts:
              - {{service: api, level: unavailable, detail: "Down {text}"}}
            rollback: {{duration: 30m, plan: "Undo {text}"}}
          - id: second
            name: Second
            start: {second}
            end: {second_end}
            depends_on: {"[first]" if depends else "[]"}
            rollback: {{duration: 30m, plan: Undo}}
        {extra}
    """


def test_reminder_in_daylight_time_shows_nzdt(write_plan) -> None:
    plan = load_plan(write_plan(two_phase_plan()))
    body = render_notice(plan, "reminder", phase="first").body
    assert "Starts: Mon 5 Oct 21:00 NZDT (08:00 UTC)" in body
    assert "Ends:   Tue 6 Oct 01:00 NZDT (Mon 5 Oct 12:00 UTC)" in body
    assert "NZST" not in body


def test_reminder_in_london_summer_shows_bst(write_plan) -> None:
    plan = load_plan(write_plan(two_phase_plan(
        "Europe/London", "2020-07-06 21:00", "2020-07-07 01:00", "2020-07-07 21:00",
        "2020-07-08 01:00")))
    body = render_notice(plan, "reminder", phase="first", fmt="html").body
    assert "Mon 6 Jul 21:00 BST (20:00 UTC)" in body
    assert "Tue 7 Jul 01:00 BST (00:00 UTC)" in body


def test_window_across_the_dst_change_shows_both_abbreviations(write_plan) -> None:
    # NZ clocks go forward at 02:00 NZST on 27 Sep 2020: 01:00-05:00 on the clock is 3 hours.
    plan = load_plan(write_plan(two_phase_plan(
        first="2020-09-27 01:00", first_end="2020-09-27 05:00")))
    body = render_notice(plan, "reminder", phase="first").body
    assert "Starts: Sun 27 Sep 01:00 NZST (Sat 26 Sep 13:00 UTC)" in body
    assert "Ends:   Sun 27 Sep 05:00 NZDT (Sat 26 Sep 16:00 UTC)" in body
    assert "Length: 3 hours" in body


# --- plan text is data --------------------------------------------------------------------

MARKUP = "<img src=x onerror=alert(1)> **bold** [link](http://evil) | &amp; `code`"


def test_html_notice_escapes_markup_in_plan_text(write_plan) -> None:
    plan = load_plan(write_plan(two_phase_plan(text=MARKUP)))
    for kind in ("announcement", "reminder"):
        body = render_notice(plan, kind, "html", phase="first").body
        assert "<img" not in body
        assert "&lt;img src=x onerror=alert(1)&gt;" in body
        assert "&amp;amp;" in body


def test_markdown_notice_renders_plan_text_as_text(write_plan) -> None:
    # markdown-it (CommonMark, raw HTML allowed, as many renderers do) comes with rich.
    from markdown_it import MarkdownIt

    plan = load_plan(write_plan(two_phase_plan(text=MARKUP)))
    for kind in ("announcement", "reminder"):
        body = render_notice(plan, kind, "markdown", phase="first").body
        html = MarkdownIt("commonmark", {"html": True}).enable("table").render(body)
        assert "<img" not in html and "<strong>bold" not in html and "evil\"" not in html
        assert "&lt;img src=x onerror=alert(1)&gt; **bold** [link](http://evil) | &amp;amp; " \
               "`code`" in html
        # the schedule table keeps its four columns: the | in plan text is escaped
        if kind == "announcement":
            assert html.count("<td>") == 8


def test_text_notice_keeps_plan_text_as_typed_minus_control_characters(write_plan) -> None:
    # The loader refuses control characters; a plan built in code may still hold them.
    plan = load_plan(write_plan(two_phase_plan(text="<b>x</b>")))
    first = plan.phases[0]
    first = first.model_copy(update={"name": f"{first.name} \x1b[31m"})
    plan = plan.model_copy(update={"phases": [first, *plan.phases[1:]]})
    body = render_notice(plan, "reminder", phase="first").body
    assert "<b>x</b>" in body
    assert "\x1b" not in body


def test_status_page_becomes_a_link_only_when_it_is_a_web_address(write_plan) -> None:
    extra = "communications: {status_page: \"javascript:alert(1)\"}"
    plan = load_plan(write_plan(two_phase_plan(extra=extra)))
    body = render_notice(plan, "announcement", "html").body
    assert 'href="javascript' not in body
    assert "javascript:alert(1)" in body
    body = render_notice(load_plan(EXAMPLE), "announcement", "html").body
    assert '<a href="https://status.example.com/omni">' in body


@pytest.mark.parametrize("text,expected", [
    ("# heading", r"\# heading"),
    ("1. item", r"1\. item"),
    ("- item", r"\- item"),
    ("+64 4 498 6000", "+64 4 498 6000"),
    ("a\n# b", "a # b"),
    ("<b>&lt;</b>", r"\<b\>\&lt;\</b\>"),
    ("Q&A", "Q&A"),
])
def test_markdown_escape(text: str, expected: str) -> None:
    assert markdown_escape(text) == expected


# --- templates a plan brings --------------------------------------------------------------

def test_plan_templates_override_the_shipped_ones(write_plan, tmp_path) -> None:
    (tmp_path / "notices").mkdir()
    (tmp_path / "notices" / "reminder.txt.j2").write_text(
        "Heads up: {{ phase.label }} at {{ phase.start }}\n", encoding="utf-8")
    plan = load_plan(write_plan(two_phase_plan(extra="communications: {templates: notices}")))
    assert render_notice(plan, "reminder", phase="first").body == \
        "Heads up: Phase 1: First Sends at Mon 5 Oct 21:00 NZDT (08:00 UTC)\n"
    # formats and kinds the folder does not override still come from the package
    assert render_notice(plan, "reminder", "markdown", phase="first").body.startswith(
        "# Reminder: Phase 1 - First Sends")


def test_plan_templates_are_sandboxed_and_errors_are_one_line(write_plan, tmp_path) -> None:
    (tmp_path / "notices").mkdir()
    (tmp_path / "notices" / "reminder.txt.j2").write_text(
        "{{ plan.__class__.__init__.__globals__ }}\n", encoding="utf-8")
    (tmp_path / "notices" / "announcement.txt.j2").write_text(
        "line one\n{% if %}\n", encoding="utf-8")
    plan = load_plan(write_plan(two_phase_plan(extra="communications: {templates: notices}")))
    with pytest.raises(NoticeError) as err:
        render_notice(plan, "reminder", phase="first")
    assert "is unsafe" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(NoticeError) as err:
        render_notice(plan, "announcement")
    assert re.match(r"template .*announcement\.txt\.j2:2: ", str(err.value))


def test_missing_template_folder_is_named(write_plan) -> None:
    plan = load_plan(write_plan(two_phase_plan(extra="communications: {templates: nowhere}")))
    with pytest.raises(NoticeError, match="communications.templates: no folder 'nowhere'"):
        render_notice(plan, "announcement")


# --- when notices go out ------------------------------------------------------------------

def test_comms_schedule_of_the_example() -> None:
    rows = notices.comms_schedule(load_plan(EXAMPLE))
    assert [(r["notice"], r["phase"]) for r in rows][:6] == [
        ("announcement", None), ("reminder", "carrier-connections"),
        ("in-progress", "carrier-connections"), ("extended", "carrier-connections"),
        ("completed", "carrier-connections"), ("reminder", "messaging-core")]
    assert len(rows) == 18 and rows[-1]["notice"] == "reschedule"
    announce, remind, done = rows[0], rows[1], rows[4]
    assert announce["send_at_display"] == "Mon 24 Aug 10:00 NZST (Sun 23 Aug 22:00 UTC)"
    assert announce["rule"].startswith("14 days before the first window")
    assert remind["send_at_display"] == "Mon 7 Sep 20:00 NZST (08:00 UTC)"
    assert remind["send_at_utc"] == "2020-09-07T08:00:00Z"
    assert done["send_at"] == "2020-09-08T01:00+12:00"


def test_comms_schedule_follows_announce_at_and_reminder_before(write_plan) -> None:
    extra = "communications: {announce_at: 2020-09-20 09:30, reminder_before: 30m}"
    rows = notices.comms_schedule(load_plan(write_plan(two_phase_plan(extra=extra))))
    assert rows[0]["rule"] == "communications.announce_at"
    assert rows[0]["send_at_display"] == "Sun 20 Sep 09:30 NZST (Sat 19 Sep 21:30 UTC)"
    assert rows[1]["send_at_display"] == "Mon 5 Oct 20:30 NZDT (07:30 UTC)"
    assert rows[1]["rule"] == "30 minutes before the window"


@pytest.mark.parametrize("minutes,text", [(60, "1 hour"), (30, "30 minutes"),
                                          (90, "1 hour 30 minutes"), (120, "2 hours"),
                                          (0, "0 minutes")])
def test_human_duration(minutes: int, text: str) -> None:
    assert notices.human_duration(timedelta(minutes=minutes)) == text


def test_a_bad_announce_at_is_a_plan_error_naming_file_line_and_field(write_plan) -> None:
    from migration_runbook.errors import PlanInvalid

    path = write_plan(two_phase_plan(extra="communications: {announce_at: someday}"))
    with pytest.raises(PlanInvalid) as err:
        load_plan(path)
    assert len(err.value.lines()) == 1
    assert re.match(rf"{re.escape(str(path))}:\d+: communications.announce_at: invalid time "
                    "'someday'",
                    str(err.value))


# --- subject lines and the previous notices ---------------------------------------------

def test_subject_lines_have_one_colon(logs) -> None:
    plan = load_plan(EXAMPLE)
    log = logs[EXAMPLE.stem]
    subjects = {
        "reminder": render_notice(plan, "reminder", phase="messaging-core").subject,
        "completed": render_notice(plan, "completed", phase="carrier-connections",
                                   log=log).subject,
        "rolled-back": render_notice(plan, "completed", phase="messaging-core", log=log).subject,
        "reschedule": render_notice(plan, "reschedule",
                                    previous=load_plan(EXAMPLE_AUGUST)).subject,
        "announcement": render_notice(plan, "announcement").subject,
    }
    assert subjects["rolled-back"] == "Rolled back: Phase 2 - Messaging Core Migration"
    assert subjects["completed"] == "Completed: Phase 1 - Carrier Connection Migrations"
    assert subjects["reminder"].startswith("Reminder: Phase 2 - Messaging Core Migration starts")
    assert subjects["reschedule"] == ("UPDATE: Omni hosting provider migration - important, "
                                      "the migration date has changed")
    for kind, subject in subjects.items():
        # times (21:00) have colons of their own; a colon and a space marks a label
        assert subject.count(": ") == 1, (kind, subject)


def _previous_plan(tmp_path: Path, sent: list[tuple[str, str]]) -> Plan:
    """The example plan with these previous notices, announced on Mon 24 Aug 2020."""
    text = EXAMPLE.read_text()
    start = text.index("  previous_notices:\n")
    end = start + len("  previous_notices:\n")
    while text[end:].startswith("    - "):
        end = text.index("\n", end) + 1
    listed = "".join(f"    - {{title: '{t}', sent: '{s}'}}\n" for t, s in sent)
    text = text[:start] + "  announce_at: 2020-08-24 10:00\n  previous_notices:\n" + listed \
        + text[end:]
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return load_plan(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_previous_notices_are_listed_in_time_order_and_none_after_this_one(tmp_path,
                                                                           fmt) -> None:
    plan = _previous_plan(tmp_path, [
        ("Reminder sent later", "2020-09-03"),          # after the announcement: left out
        ("Second notice", "2020-08-13"),
        ("First notice", "2020-07-24"),
        ("Same day", "2020-08-24"),                     # the announcement's day: listed
    ])
    body = render_notice(plan, "announcement", fmt).body
    assert "Reminder sent later" not in body
    order = [body.index(t) for t in ("First notice", "Second notice", "Same day")]
    assert order == sorted(order)
    assert "Fri 24 Jul 2020" in body and "Thu 3 Sep 2020" not in body


def test_previous_notices_in_time_order_keep_undated_ones_last(tmp_path) -> None:
    from migration_runbook.notices import previous_notices

    plan = _previous_plan(tmp_path, [("Undated", "last spring"), ("B", "2020-08-13"),
                                     ("A", "2020-07-24")])
    assert [n["title"] for n in previous_notices(plan, None)] == ["A", "B", "Undated"]
    written = plan.start - timedelta(days=40)   # 29 Jul local: B is not sent yet
    assert [n["title"] for n in previous_notices(plan, written)] == ["A", "Undated"]
