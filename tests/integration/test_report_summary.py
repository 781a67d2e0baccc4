"""The report's executive summary on a messy night: the outcome first, then every exception (a
no-go, an overridden check, a 40-minute overrun, a late rollback, a next-night second attempt),
each linking to a row that exists further down; checked in the HTML and in Chromium."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from migration_runbook.report import load, render_report
from tests.browser import open_offline
from tests.conftest import EXAMPLE, UNTICKED

AS_OF = "2020-09-09T14:00:00Z"
NIGHT = "a night late, the retry"


def record_messy_night(plan, outputs: Path) -> None:
    """Carrier connections: go over a failed check, 40 minutes over. Messaging core: a no-go,
    then a go 15 minutes late, a rollback 20 minutes after its deadline, and a second attempt
    the next night. Web interface: its window passed unstarted; API end-points deferred."""
    with open_log(plan, outputs=outputs) as log:
        log.record("carrier-connections", "go", "alice", "lag is within what carriers accept",
                   at="2020-09-07T08:50:00Z",
                   details={"checks": [{"name": "DB replica lag", "ok": False,
                                        "detail": "lag 40s"}],
                            "override": True, "failed_checks": ["DB replica lag"]})
        log.record("carrier-connections", "start", "alice", at="2020-09-07T09:00:00Z")
        # window ends 13:00 UTC: 40 minutes over
        log.record("carrier-connections", "complete", "alice", UNTICKED,
                   at="2020-09-07T13:40:00Z")
        log.record("messaging-core", "no-go", "bob", "carrier binds unstable",
                   at="2020-09-08T08:40:00Z")
        log.record("messaging-core", "go", "bob", "binds stable again",
                   at="2020-09-08T09:10:00Z")
        log.record("messaging-core", "start", "bob", at="2020-09-08T09:15:00Z")
        # the rollback deadline is 12:00 UTC (4h window, 1h rollback): 20 minutes late
        log.record("messaging-core", "rollback", "bob", "row counts differ",
                   at="2020-09-08T12:20:00Z")
        log.record("messaging-core", "rolled-back", "bob", at="2020-09-08T13:10:00Z")
        log.record("messaging-core", "go", "bob", NIGHT, at="2020-09-09T08:50:00Z")
        log.record("messaging-core", "start", "bob", NIGHT, at="2020-09-09T09:00:00Z")
        log.record("messaging-core", "complete", "bob", f"{NIGHT}; {UNTICKED}",
                   at="2020-09-09T12:30:00Z")


class Anchors(HTMLParser):
    """Every id, and every in-page link (href="#..."), of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and (attrs.get("href") or "").startswith("#"):
            self.links.append(attrs["href"][1:])


def anchors(html: str) -> Anchors:
    parsed = Anchors()
    parsed.feed(html)
    return parsed


@pytest.fixture(scope="module")
def plan():
    return load_plan(EXAMPLE)


@pytest.fixture(scope="module")
def messy(plan, tmp_path_factory) -> Path:
    outputs = tmp_path_factory.mktemp("messy")
    record_messy_night(plan, outputs)
    return outputs


def test_the_summary_opens_with_the_outcome_then_lists_every_exception(plan, messy):
    report = load(plan, messy, as_of=AS_OF)
    data = report.summary_data()
    assert data["outcome"] == "partial"
    assert data["headline"] == "2 of 4 phases completed; not run: Omni Web Interface Migration"
    assert data["counts"] == "4 phases: 2 completed, 1 not run, 1 deferred"
    groups = {g["key"]: [i["text"] for i in g["items"]] for g in data["exceptions"]}
    assert list(groups) == ["no-go", "override", "rollback", "late-start", "overrun",
                            "not-run"]
    assert groups["no-go"] == ["Messaging Core Migration: no-go by bob, Tue 8 Sep 20:40 NZST "
                               "(08:40 UTC): carrier binds unstable"]
    assert groups["override"] == [
        "Carrier Connection Migrations: go by alice despite failed DB replica lag, Mon 7 Sep "
        "20:50 NZST (08:50 UTC): lag is within what carriers accept"]
    assert groups["rollback"] == [
        "Messaging Core Migration (attempt 1): rollback started Wed 9 Sep 00:20 NZST (Tue 8 "
        "Sep 12:20 UTC) by bob: row counts differ; started 20m after its rollback deadline "
        "(Wed 9 Sep 00:00 NZST (Tue 8 Sep 12:00 UTC))"]
    assert [g for g in data["exceptions"] if g["key"] == "rollback"][0]["items"][0]["late"]
    assert groups["late-start"] == [
        "Messaging Core Migration (attempt 1) started 15m late, Tue 8 Sep 2020 21:15 NZST "
        "(09:15 UTC)",
        "Messaging Core Migration (attempt 2) started 24h late, Wed 9 Sep 2020 21:00 NZST "
        "(09:00 UTC), the night after its window"]
    # attempt 1 was rolled back by 13:10, 10m past 13:00; attempt 2 ran inside its own window
    assert groups["overrun"] == ["Carrier Connection Migrations (attempt 1) by 40m",
                                 "Messaging Core Migration (attempt 1) by 10m"]
    assert groups["not-run"] == [
        "Omni Web Interface Migration: not run (its window ended before it started)",
        "API End-Point Migration: deferred (Omni Web Interface Migration did not run)"]


def test_the_summary_html_says_each_exception_before_the_facts(plan, messy):
    html = str(load(plan, messy, as_of=AS_OF).summary().html)
    assert html.index("Outcome:") < html.index("No-go decisions:") < \
        html.index("Overridden checks:") < html.index("Rollbacks:") < \
        html.index("Late starts:") < html.index("Overruns:") < \
        html.index("Deferred or not run:") < html.index("Total customer-facing downtime")
    assert 'class="badge badge-bad">late</span>' in html
    # autoescaped: a reason is text, never markup
    assert "<script" not in html


def test_every_summary_link_resolves_to_a_row_of_the_report(plan, messy):
    report = load(plan, messy, as_of=AS_OF)
    summary = anchors(str(report.summary().html))
    page = anchors("".join(str(section.html) for section in
                           (report.summary(), report.decisions(), report.rollbacks())))
    assert len(summary.links) == 9
    assert set(summary.links) <= page.ids, set(summary.links) - page.ids
    assert {"event-4", "event-1", "rollback-messaging-core-1",
            "phase-carrier-connections", "phase-web-interface"} <= set(summary.links)


def test_a_night_without_exceptions_says_so(plan, tmp_path):
    with open_log(plan, outputs=tmp_path) as log:
        log.record("carrier-connections", "go", "alice", at="2020-09-07T08:50:00Z")
        log.record("carrier-connections", "start", "alice", at="2020-09-07T09:00:00Z")
        log.record("carrier-connections", "complete", "alice", UNTICKED,
                   at="2020-09-07T12:50:00Z")
    html = str(load(plan, tmp_path, as_of="2020-09-07T13:00:00Z").summary().html)
    assert "No exceptions: no no-go" in html
    assert "1 of 4 phases completed" in html


@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_the_rendered_report_shows_the_summary_and_its_links_land_on_rows(plan, messy):
    render_report(plan, messy, as_of=AS_OF)
    with open_offline(messy / "report.html") as page:
        assert page.blocked == [] and page.page_errors == []
        summary = page.evaluate("document.querySelector('section.report-summary').innerText")
        links = page.evaluate(
            "Array.from(document.querySelectorAll('section.report-summary a[href^=\"#\"]'))"
            ".map((a) => [a.getAttribute('href').slice(1), "
            "!!document.getElementById(a.getAttribute('href').slice(1)), "
            "(document.getElementById(a.getAttribute('href').slice(1)) || {}).tagName])")
        first = page.evaluate(
            "document.querySelector('section.report-summary').getBoundingClientRect().top"
            " < document.querySelector('table.report-decisions').getBoundingClientRect().top")
    assert summary.startswith("Outcome: partial")
    for words in ("No-go decisions:", "Overridden checks:", "Rollbacks:", "late",
                  "Late starts:", "the night after its window", "Overruns:",
                  "Carrier Connection Migrations (attempt 1) by 40m", "Deferred or not run:"):
        assert words in summary, words
    assert len(links) == 9 and all(found and tag == "TR" for _, found, tag in links), links
    assert first
