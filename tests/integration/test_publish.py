"""`runbook publish`: the static status page, its Atom feed (read back with feedparser) and
calendar, and the refresh after each event when the plan names a publish folder."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest

from migration_runbook import delivery, events
from migration_runbook.plan import load_plan
from tests.browser import open_offline
from tests.conftest import run_cli

PLAN = """
id: publish-test
title: Publish <i>test</i> migration
timezone: Pacific/Auckland
services:
  - {id: api, name: "REST <script>alert(1)</script> API"}
  - {id: web, name: Web app}
phases:
  - id: one
    name: "Core <img src=x onerror=alert(1)> move"
    start: 2021-04-03 22:00
    end: 2021-04-04 04:00
    impacts:
      - {service: api, level: unavailable, detail: "Down <b>entirely</b>."}
      - {service: web, level: unaffected}
    rollback: {duration: 30m, plan: Undo.}
  - id: two
    name: Web move
    start: 2021-04-10 22:00
    end: 2021-04-11 02:00
    depends_on: [one]
    impacts:
      - {service: web, level: degraded}
    rollback: {duration: 30m, plan: Undo.}
communications:
  status_page: https://status.example.com/p
  channels:
    - {id: email, url: "mailto://ops@example.net"}
"""


@pytest.fixture
def run(write_plan, tmp_path):
    """A plan across the end of NZ daylight saving, its first phase started, and the
    announcement and in-progress notice recorded as sent."""
    path = write_plan(PLAN)
    plan = load_plan(path)
    out = tmp_path / "run"
    one = plan.phases[0]
    with events.open_log(plan, out) as log:
        delivery.send(plan, log, "announcement", outputs=out, mark_sent=True,
                      at=one.start - timedelta(days=14))
        log.record("one", "go", "alice", at=one.start - timedelta(minutes=10))
        log.record("one", "start", "alice", reason="on <u>time</u>", at=one.start)
        delivery.send(plan, log, "in-progress", "one", outputs=out, mark_sent=True,
                      at=one.start + timedelta(minutes=2))
    return path, plan, out


def publish(path: Path, out: Path, site: Path) -> None:
    result = run_cli("publish", path, "--outputs", out, "-o", site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"{site / 'index.html'}: status page of publish-test "
                                     "(with feed.atom and calendar.ics)")


def test_the_feed_has_one_entry_per_notice_and_state_change_with_stable_ids(run,
                                                                            tmp_path) -> None:
    path, plan, out = run
    site = tmp_path / "site"
    publish(path, out, site)
    first = feedparser.parse((site / "feed.atom").read_bytes())
    assert not first.bozo, first.bozo_exception
    titles = [e.title for e in first.entries]
    assert len(first.entries) == 4            # 2 notices + go + start, newest first
    assert titles[0] == "In progress: Phase 1 - Core <img src=x onerror=alert(1)> move"
    assert titles[1] == "Phase 1: Core <img src=x onerror=alert(1)> move: in progress"
    assert titles[-1].startswith("Publish <i>test</i> migration: 2 maintenance windows")
    ids = [e.id for e in first.entries]
    assert len(set(ids)) == 4 and all(i.startswith("tag:status.example.com,20") for i in ids)
    assert first.entries[1].updated_parsed[:5] == (2021, 4, 3, 9, 0)    # 22:00 NZDT = 09:00Z
    assert first.feed.updated_parsed[:5] == (2021, 4, 3, 9, 2)
    publish(path, out, site)
    again = feedparser.parse((site / "feed.atom").read_bytes())
    assert [e.id for e in again.entries] == ids
    assert again.feed.updated == first.feed.updated
    one = plan.phases[0]
    with events.open_log(plan, out) as log:     # across the DST change: 04:00 NZST
        log.record("one", "complete", "alice", at=one.end)
    publish(path, out, site)
    third = feedparser.parse((site / "feed.atom").read_bytes())
    assert len(third.entries) == 5 and [e.id for e in third.entries][1:] == ids
    assert third.entries[0].updated_parsed[:5] == (2021, 4, 3, 16, 0)
    assert (site / "calendar.ics").read_bytes().startswith(b"BEGIN:VCALENDAR")


@pytest.mark.chromium
@pytest.mark.parametrize("width", [390, 1400])
def test_the_status_page_reads_offline_at_phone_and_desktop_width(run, tmp_path,
                                                                  width) -> None:
    path, plan, out = run
    site = tmp_path / "site"
    publish(path, out, site)
    with open_offline(site / "index.html", viewport=(width, 900)) as page:
        assert page.blocked == [] and page.page_errors == []
        assert page.count("script") == 0 and page.count("img") == 0 and page.count("b") == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        text = page.text
        assert "Phase 1: Core <img src=x onerror=alert(1)> move is in progress" in text
        assert "REST <script>alert(1)</script> API (unavailable): Down <b>entirely</b>." in text
        assert "Web app" not in text.split("Next window")[0]        # unaffected: not listed
        # the next window: local time with the abbreviation in force (NZST after DST ends)
        assert "Phase 2: Web move: Sat 10 Apr 22:00 NZST (10:00 UTC) to" in text
        notices = text.split("Notices sent")[1]
        assert notices.index("In progress: Phase 1 - ") < notices.index("2 maintenance windows")
        page.screenshot(tmp_path / f"status-{width}.png")


def test_the_plans_publish_folder_is_refreshed_after_a_send(write_plan, tmp_path) -> None:
    path = write_plan(PLAN.replace("  status_page:", "  publish: site\n  status_page:"))
    out = tmp_path / "run"
    result = run_cli("notices", path, "announcement", "--send", "--mark-sent", "--outputs", out)
    assert result.returncode == 0, result.stderr
    index = tmp_path / "site" / "index.html"
    assert f"status page refreshed: {index}" in result.stderr
    html = index.read_text(encoding="utf-8")
    assert "Publish &lt;i&gt;test&lt;/i&gt; migration: 2 maintenance windows" in html
    assert not list((tmp_path / "site").glob(".*")), "a temporary file was left behind"


@pytest.mark.notebook
def test_the_plans_publish_folder_is_refreshed_after_runbook_phase(write_plan, tmp_path) -> None:
    path = write_plan(PLAN.replace("  status_page:", "  publish: site\n  status_page:"))
    out = tmp_path / "run"
    result = run_cli("phase", path, "one", "go", "--operator", "alice", "--outputs", out)
    assert result.returncode == 0, result.stderr
    feed = feedparser.parse((tmp_path / "site" / "feed.atom").read_bytes())
    assert [e.title for e in feed.entries] == [
        "Phase 1: Core <img src=x onerror=alert(1)> move: approved, starting soon"]
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "approved, starting soon" in html


def test_the_plans_publish_folder_is_refreshed_after_a_step_tick(write_plan, tmp_path) -> None:
    """`runbook step` refreshes the page like `phase` and `notices --send` do, and the tick
    shows: the phase's expected end (the clock's forecast) moves."""
    zone = ZoneInfo("Pacific/Auckland")
    start = (datetime.now(UTC) - timedelta(minutes=10)).replace(second=0, microsecond=0)
    local = start.astimezone(zone)
    path = write_plan(f"""
id: publish-test
title: Publish steps
timezone: Pacific/Auckland
services: [{{id: api, name: API}}]
phases:
  - id: one
    name: Core move
    start: {local:%Y-%m-%d %H:%M}
    end: {local + timedelta(hours=6):%Y-%m-%d %H:%M}
    impacts: [{{service: api, level: unavailable}}]
    rollback: {{duration: 30m, plan: Undo.}}
    steps:
      - {{id: freeze, name: Freeze writes, duration: 30m}}
      - {{id: copy, name: Copy the tables, duration: 4h, after: [freeze]}}
communications:
  publish: site
""")
    plan = load_plan(path)
    out = tmp_path / "run"
    with events.open_log(plan, out) as log:
        log.record("one", "go", "alice", at=start - timedelta(minutes=5))
        log.record("one", "start", "alice", at=start)
    publish(path, out, tmp_path / "site")
    index = tmp_path / "site" / "index.html"

    def expected() -> datetime:
        # the UTC part carries its own date when it differs from the local one
        found = re.search(r"Expected to end around <span class=\"time\">[^<]*"
                          r"\((?:[^()<]* )?(\d\d:\d\d) UTC", index.read_text(encoding="utf-8"))
        assert found, "no expected end on the page"
        return datetime.strptime(found[1], "%H:%M")

    before = expected()
    result = run_cli("step", path, "one", "freeze", "skip", "--reason", "read-only already",
                     "--operator", "alice", "--outputs", out)
    assert result.returncode == 0, result.stderr
    assert f"status page refreshed: {index}" in result.stderr
    moved = (before - expected()) % timedelta(days=1)
    assert timedelta(minutes=15) <= moved <= timedelta(minutes=30)   # 30m of steps less
    assert "Publish steps" in index.read_text(encoding="utf-8")
    assert not list((tmp_path / "site").glob(".*")), "a temporary file was left behind"
