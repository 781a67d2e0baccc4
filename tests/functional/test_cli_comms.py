"""The communications commands as an operator runs them: notices, comms, ics, diff."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from migration_runbook import events
from migration_runbook.notices import render_notice
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE, EXAMPLE_AUGUST, UNTICKED, run_cli


def one_line_error(result, *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_notices_prints_the_same_notice_as_the_package(fmt: str) -> None:
    result = run_cli("notices", EXAMPLE, "reminder", "--phase", "messaging-core",
                     "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert result.stdout == render_notice(load_plan(EXAMPLE), "reminder", fmt,
                                          phase="messaging-core").body


def test_notices_writes_a_file_with_o(tmp_path: Path) -> None:
    out = tmp_path / "announcement.html"
    result = run_cli("notices", EXAMPLE, "announcement", "--format", "html", "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"{out}: Omni hosting provider migration: 4 maintenance "
                                     "windows from Mon 7 Sep 2020")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_notices_reschedule_from_the_previous_version() -> None:
    result = run_cli("notices", EXAMPLE, "reschedule", "--previous", EXAMPLE_AUGUST)
    assert result.returncode == 0, result.stderr
    assert "  New: Mon 7 Sep 21:00 NZST (09:00 UTC) to\n" in result.stdout
    assert "  Was: Mon 17 Aug 22:00 NZST (10:00 UTC) to\n" in result.stdout


def test_notices_completed_reads_the_event_log(tmp_path: Path) -> None:
    plan = load_plan(EXAMPLE)
    start = plan.phases[0].start
    with events.open_log(plan, outputs=tmp_path) as log:
        log.record("carrier-connections", "go", "alice", at=start - timedelta(minutes=5))
        log.record("carrier-connections", "start", "alice", at=start)
        log.record("carrier-connections", "complete", "alice", UNTICKED,
                   at=start + timedelta(hours=3))
    result = run_cli("notices", EXAMPLE, "completed", "--phase", "carrier-connections",
                     "--outputs", tmp_path, "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Completed: Phase 1 - Carrier Connection Migrations\n")
    assert "was completed at Tue 8 Sep 00:00 NZST (Mon 7 Sep 12:00 UTC)" in result.stdout
    refused = run_cli("notices", EXAMPLE, "completed", "--phase", "messaging-core",
                      "--outputs", tmp_path)
    one_line_error(refused, "phase 'messaging-core' is planned")
    assert refused.stdout == ""


def test_a_preview_is_not_kept_and_a_send_is_kept_once_for_the_report(tmp_path: Path) -> None:
    """Rendering with --outputs records nothing (it used to be listed as sent); a --send is
    kept once, whatever the number of channels; a damaged index line is skipped."""
    from migration_runbook.notices import sent_notices

    preview = run_cli("notices", EXAMPLE, "reminder", "--phase", "web-interface",
                      "--format", "html", "--outputs", tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert not (tmp_path / "notices").exists() and not (tmp_path / "events.sqlite").exists()
    assert sent_notices(load_plan(EXAMPLE), tmp_path) == []
    sent = run_cli("notices", EXAMPLE, "reminder", "--phase", "web-interface", "--send",
                   "--mark-sent", "--outputs", tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.count("recorded as sent to ") == 2      # customers and ops-chat
    with (tmp_path / "notices" / "notices.jsonl").open("a") as index:
        index.write("not json\n")  # a damaged line is skipped, not fatal
    listed = sent_notices(load_plan(EXAMPLE), tmp_path)
    assert [(n["kind"], n["phase"], n["path"]) for n in listed] == [
        ("reminder", "web-interface", "notices/reminder-web-interface.txt")]
    assert listed[0]["subject"].startswith("Reminder: Phase 3 - Omni Web Interface Migration")
    assert listed[0]["at"].endswith("Z")


def test_notices_completed_without_a_log_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    result = run_cli("notices", EXAMPLE, "completed", "--phase", "carrier-connections",
                     "--outputs", tmp_path / "run")
    one_line_error(result, "phase 'carrier-connections' is planned")
    assert not (tmp_path / "run").exists()


def test_notices_bad_input_is_one_line(tmp_path: Path) -> None:
    one_line_error(run_cli("notices", EXAMPLE, "reminder"), "needs --phase ID")
    one_line_error(run_cli("notices", EXAMPLE, "reminder", "--phase", "nope"),
                   "no phase 'nope'")
    one_line_error(run_cli("notices", EXAMPLE, "reschedule", "--previous", tmp_path / "x.yaml"),
                   "no such plan file")
    out = tmp_path / "missing" / "n.txt"
    one_line_error(run_cli("notices", EXAMPLE, "announcement", "-o", out), "cannot write")
    assert not out.parent.exists()
    assert run_cli("notices", EXAMPLE, "bulletin").returncode == 2


def test_comms_lists_every_notice_in_order() -> None:
    result = run_cli("comms", EXAMPLE, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["notice"] for r in rows] == (
        ["announcement"] + ["reminder", "in-progress", "extended", "completed"] * 4
        + ["reschedule"])
    assert rows[2]["send_at_display"] == "Mon 7 Sep 21:00 NZST (09:00 UTC)"   # in-progress
    assert rows[-1]["send_at_utc"] is None
    assert rows[-1]["command"] == f"runbook notices {EXAMPLE} reschedule --previous OLD_PLAN"
    assert rows[1]["send_at_utc"] == "2020-09-07T08:00:00Z"
    assert rows[1]["send_at_display"] == "Mon 7 Sep 20:00 NZST (08:00 UTC)"
    table = run_cli("comms", EXAMPLE)
    assert table.returncode == 0, table.stderr
    assert "Mon 7 Sep 20:00 NZST (08:00 UTC)" in table.stdout
    assert "Phase 4: API End-Point Migration" in table.stdout


def test_comms_lists_every_kind_of_notice_there_is() -> None:
    """One source of truth: a kind added to `notices.KINDS` shows in `runbook comms`."""
    from migration_runbook.notices import KINDS

    rows = json.loads(run_cli("comms", EXAMPLE, "--format", "json").stdout)
    assert {r["notice"] for r in rows} == set(KINDS)
    table = run_cli("comms", EXAMPLE, "--format", "table")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    for kind in KINDS:
        assert any(f" {kind} " in line for line in lines), kind
    assert any("when a window moves" in line and "reschedule" in line for line in lines)


def test_ics_writes_the_calendar(tmp_path: Path) -> None:
    out = tmp_path / "omni.ics"
    result = run_cli("ics", EXAMPLE, "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{out}: 4 events, sequence 2"
    data = out.read_bytes()
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    assert data.count(b"BEGIN:VEVENT") == 4 and data.count(b"BEGIN:VALARM") == 4


def test_ics_errors_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    out = tmp_path / "nowhere" / "omni.ics"
    one_line_error(run_cli("ics", EXAMPLE, "-o", out), "cannot write", "omni.ics")
    one_line_error(run_cli("ics", tmp_path / "none.yaml", "-o", tmp_path / "x.ics"),
                   "no such plan file")
    assert list(tmp_path.iterdir()) == []


def test_diff_names_all_four_moved_windows() -> None:
    result = run_cli("diff", EXAMPLE_AUGUST, EXAMPLE)
    assert result.returncode == 0, result.stderr
    for phase in ("carrier-connections", "messaging-core", "web-interface", "api-endpoints"):
        assert phase in result.stdout
    assert result.stdout.count("moved 20 days 23h later") == 4
    data = json.loads(run_cli("diff", EXAMPLE_AUGUST, EXAMPLE, "--format", "json").stdout)
    assert [c["phase"] for c in data["changes"] if c["kind"] == "moved"] == [
        "carrier-connections", "messaging-core", "web-interface", "api-endpoints"]


def test_diff_of_a_plan_with_itself_says_no_changes() -> None:
    result = run_cli("diff", EXAMPLE, EXAMPLE)
    assert result.returncode == 0
    assert result.stdout.strip().endswith("no changes")


MARKUP = '<img src=x onerror="document.title=1"><script>document.title=2</script><b>bold</b>'


@pytest.mark.chromium
def test_markup_in_plan_text_stays_text_in_the_html_notice(tmp_path: Path) -> None:
    from tests.browser import open_offline

    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("name: Carrier Connection Migrations",
                        f"name: '{MARKUP} Carrier'")
    text = text.replace("detail: The API will be unavailable during the migration.",
                        f"detail: '{MARKUP} API'")
    text = text.replace("sender: Modica Omni Support", f"sender: '{MARKUP} Support'")
    plan = tmp_path / "plan.yaml"
    plan.write_text(text, encoding="utf-8")
    # reminder: heading, label, phase 2's impact detail, signature; announcement: the
    # schedule table, phase 1's section, the rollback list, phase 2's detail, signature
    for kind, shown in (("reminder", 4), ("announcement", 5)):
        out = tmp_path / f"{kind}.html"
        result = run_cli("notices", plan, kind, "--phase", "carrier-connections",
                         "--format", "html", "-o", out)
        assert result.returncode == 0, result.stderr
        html = out.read_text(encoding="utf-8")
        assert "&lt;script&gt;document.title=2&lt;/script&gt;" in html
        with open_offline(out) as page:
            assert page.count("main img, main script, main b") == 0
            assert page.text.count(MARKUP) == shown
            assert page.page_errors == [] and page.blocked == []
            if kind == "reminder":
                assert page.evaluate("document.title").startswith("Reminder: Phase 1 - <img")
