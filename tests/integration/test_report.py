"""The post-migration report: executed for real with papermill, exported with nbconvert, opened
offline in headless Chromium. Every figure must draw, no code may show, plotly.js is inlined
exactly once, and nothing may leave the machine."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from migration_runbook import report as report_module
from migration_runbook.events import open_log
from migration_runbook.notices import keep_notice, render_notice
from migration_runbook.plan import load_plan
from migration_runbook.report import ReportError, load, render_report
from tests.browser import open_offline
from tests.conftest import EXAMPLE, UNTICKED, run_cli

MAX_BYTES = 5_500_000
HOSTILE = "<img src=x onerror=\"window.__pwned=1\"><b>bold</b> & <script>window.__pwned=2</script>"


# --- event logs for the tests ----------------------------------------------------------

def _notebook(outputs: Path, name: str) -> str:
    """An executed phase notebook as the phase runner would leave it (content irrelevant)."""
    path = outputs / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    return str(path)


def record_partial(plan, outputs: Path, operator: str = "alice", reason: str = "") -> None:
    """Carrier connections completed; messaging core started, then rolled back; nothing after."""
    log = open_log(plan, outputs=outputs)
    try:
        log.record("carrier-connections", "go", operator, reason or "all checks green",
                   at="2020-09-07T08:30:00Z",
                   notebook=_notebook(outputs, "01-carrier-connections-go.ipynb"),
                   details={"checks": [{"name": "API health", "kind": "http",
                                        "target": "http://127.0.0.1:8080/health", "ok": True,
                                        "detail": "HTTP 200", "elapsed": 0.012}]})
        log.record("carrier-connections", "start", operator, "", at="2020-09-07T09:02:00Z")
        log.record("carrier-connections", "complete", operator, "binds moved",
                   at="2020-09-07T12:40:00Z")
        log.record("messaging-core", "go", "bob", "ready", at="2020-09-08T08:45:00Z",
                   details={"checks": [{"name": "DB replica lag", "kind": "command",
                                        "target": "check-lag", "ok": False,
                                        "detail": "exit 1: lag 40s", "elapsed": 0.5}],
                            "override": True, "failed_checks": ["DB replica lag"]})
        log.record("messaging-core", "start", "bob", "", at="2020-09-08T09:00:00Z")
        log.record("messaging-core", "rollback", "bob", "row counts differ after restore",
                   at="2020-09-08T11:30:00Z",
                   notebook=_notebook(outputs, "05-messaging-core-rollback.ipynb"))
        log.record("messaging-core", "rolled-back", "bob", "old core back",
                   at="2020-09-08T12:20:00Z")
    finally:
        log.close()


RETRY_TICKS = [   # messaging core's second night, step by step: a failure, overruns, a skip
    ("1", "start", "", "09:00"), ("1", "done", "", "09:10"),
    ("2", "start", "", "09:10"), ("2", "failed", "snapshot locked", "09:20"),
    ("2", "start", "", "09:25"), ("2", "done", "", "10:05"),          # 40m of 30m: +10m
    ("3", "start", "", "10:05"), ("3", "done", "", "11:35"),          # 90m of 60m: +30m
    ("4", "start", "", "11:35"), ("4", "done", "", "12:05"),
    ("5", "skip", "queues were empty", "12:05"),
    ("6", "start", "", "12:05"), ("6", "done", "", "13:20"),          # 75m of 20m: +55m
]
STEP_ATTEMPTS = sum(1 for _, event, _, _ in RETRY_TICKS if event == "start")


def record_complete(plan, outputs: Path) -> None:
    """The partial run, then a retry of messaging core a night later and the last two phases."""
    record_partial(plan, outputs)
    log = open_log(plan, outputs=outputs)
    try:
        # A night late, more than 12 hours past each window: every event says why.
        late = "a night late, after the retry"
        log.record("messaging-core", "go", "bob", "retry", at="2020-09-09T08:40:00Z")
        log.record("messaging-core", "start", "bob", "retry", at="2020-09-09T09:00:00Z")
        for step, event, reason, at in RETRY_TICKS:   # a night late: each needs a reason
            log.record_step("messaging-core", step, event, "bob", reason or "retry",
                            at=f"2020-09-09T{at}:00Z")
        log.record("messaging-core", "complete", "bob", "retry", at="2020-09-09T13:25:00Z")
        for phase, day in (("web-interface", 10), ("api-endpoints", 11)):
            log.record(phase, "go", "carol", late, at=f"2020-09-{day}T08:50:00Z")
            log.record(phase, "start", "carol", late, at=f"2020-09-{day}T09:00:00Z")
            log.record(phase, "complete", "carol", f"{late}; {UNTICKED}",
                       at=f"2020-09-{day}T12:00:00Z")
    finally:
        log.close()


def expected_bars(plan, outputs: Path) -> list[int]:
    """Bars each figure must draw: windows (planned + attempts), impacts (planned impacts +
    each attempt's non-unaffected impacts), downtime (non-zero planned, actual and planned
    but not run values)."""
    data = load(plan, outputs)
    attempts = list(data.windows["phase"])
    windows = len(plan.phases) + len(attempts)
    impacts = sum(len(p.impacts) for p in plan.phases) + sum(
        len([i for i in plan.phase(a).impacts if i.level != "unaffected"]) for a in attempts)
    frame = data.downtime()
    downtime = int((frame["planned_minutes"] > 0).sum() + (frame["actual_minutes"] > 0).sum()
                   + (frame["planned_not_run_minutes"] > 0).sum())
    # one step timeline a phase with ticked steps: a planned bar a step, a bar a step attempt
    steps = [len(p.steps) + sum(1 for r in data._step_log.runs
                                if r.phase == p.id and r.start is not None)
             for p in plan.phases if any(r.phase == p.id for r in data._step_log.runs)]
    return [windows, impacts, *steps, downtime]


@pytest.fixture(scope="module")
def kernel():
    """One kernel for the module's renders, as the rehearsal does."""
    from migration_runbook.execute import Kernel

    with Kernel() as running:
        yield running


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory) -> Path:
    """The whole example migration, rendered by the real `runbook report` command."""
    outputs = tmp_path_factory.mktemp("complete")
    record_complete(load_plan(EXAMPLE), outputs)
    result = run_cli("report", str(EXAMPLE), "--outputs", str(outputs))
    assert result.returncode == 0, result.stderr
    assert "report.html" in result.stdout
    return outputs


@pytest.fixture(scope="module")
def partial_run(tmp_path_factory, kernel) -> Path:
    """Messaging core rolled back; web interface and API end-points never started."""
    outputs = tmp_path_factory.mktemp("partial")
    plan = load_plan(EXAMPLE)
    record_partial(plan, outputs)
    keep_notice(render_notice(plan, "reminder", phase="messaging-core"), outputs)
    render_report(plan, outputs, km=kernel)
    return outputs


def seen(path: Path) -> dict:
    """Open a report offline once and keep what the tests look at."""
    with open_offline(path) as page:
        return {
            "blocked": page.blocked, "errors": page.page_errors, "divs": page.divs,
            "graphs": page.graphs, "bars": page.bars, "text": page.text,
            "input_areas": page.count(".jp-InputArea"),
            "prompts": page.count(".jp-InputPrompt, .jp-OutputPrompt"),
            "plotly": page.evaluate("typeof window.Plotly"),
            "tables": page.evaluate(
                "Object.fromEntries(Array.from(document.querySelectorAll('table.report-table'))"
                ".map((t) => [t.classList[1] || 'summary', t.innerText]))"),
            "hrefs_all": page.evaluate(
                "Array.from(document.querySelectorAll('main a[href]'))"
                ".map((a) => a.getAttribute('href'))"),
            "hrefs": page.evaluate(
                "Array.from(document.querySelectorAll('table.report-notebooks a'))"
                ".map((a) => a.getAttribute('href'))"),
        }


@pytest.fixture(scope="module")
def complete_page(complete_run) -> dict:
    return seen(complete_run / "report.html")


@pytest.fixture(scope="module")
def partial_page(partial_run) -> dict:
    return seen(partial_run / "report.html")


# --- the complete migration -------------------------------------------------------------

@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_report_of_a_whole_migration_draws_every_figure_offline(complete_run, complete_page):
    plan = load_plan(EXAMPLE)
    page = complete_page
    assert page["blocked"] == []
    assert page["errors"] == []
    assert page["graphs"] == page["divs"] == 4
    assert page["bars"] == expected_bars(plan, complete_run)
    # 4 windows + 5 attempts; 16 planned impacts + the attempts' 3 + 4 + 4 + 4 + 2
    assert page["bars"][:2] == [4 + 5, 16 + 3 + 4 * 2 + 4 + 2]
    for phase in plan.phases:
        assert phase.name in page["text"]
    # no code: no input areas, no prompts, no source
    assert page["input_areas"] == 0
    assert page["prompts"] == 0
    assert "report.load(" not in page["text"] and "import" not in page["text"]
    assert page["plotly"] == "object"


@pytest.mark.notebook
@pytest.mark.slow
def test_report_html_embeds_plotlyjs_once_and_nothing_remote(complete_run):
    html = (complete_run / "report.html").read_text(encoding="utf-8")
    assert html.count(get_plotlyjs()[:2000]) == 1
    assert len(re.findall(r"<script[^>]*\bsrc=", html)) == 0
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=[\"']?https?:", html)
    for remote in ("cdnjs", "require.min.js", "MathJax.js", "mermaid.esm"):
        assert remote not in html
    assert "from migration_runbook import report" not in html
    assert (complete_run / "report.html").stat().st_size <= MAX_BYTES


@pytest.mark.notebook
@pytest.mark.slow
def test_report_keeps_the_executed_notebook_and_no_temporary_file(complete_run):
    notebook = json.loads((complete_run / "report.ipynb").read_text(encoding="utf-8"))
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    assert notebook["metadata"]["papermill"]["parameters"]["plan"] == str(EXAMPLE.resolve())
    assert not [p.name for p in complete_run.iterdir() if p.name.startswith(".")]


@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_report_summarises_outcome_overrun_rollback_and_downtime(complete_page):
    text = complete_page["text"]
    assert "Outcome: completed" in text
    assert "Rollbacks: Messaging Core Migration (attempt 1): rollback started" in text
    assert "Messaging Core Migration (attempt 2) by 25m" in text
    # unavailable time, union over services: 3h20 + 4h25 (messaging core, twice) + 3h + 3h
    assert "Total customer-facing downtime: 13h 45m actual, 12h planned" in text
    # decisions with local time, abbreviation and UTC, who and why
    decisions = complete_page["tables"]["report-decisions"]
    assert "Mon 7 Sep 21:02 NZST (09:02 UTC)" in decisions
    assert "row counts differ after restore" in decisions and "carol" in decisions
    assert "override of failed pre-flight checks: DB replica lag" in decisions
    # the API: unavailable 3h20 + 4h25 + 3h against 8h planned
    downtime = complete_page["tables"]["report-downtime"]
    assert re.search(r"REST API\s+unavailable\s+.*\s+8h\s+10h 45m\s+2h 45m over plan",
                     downtime)
    assert "Intact: 29 records" in text
    assert "No notices recorded." in text


# --- a partial migration ----------------------------------------------------------------

@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_report_of_a_rolled_back_migration_shows_the_rollback_and_what_never_started(
        partial_run, partial_page):
    plan = load_plan(EXAMPLE)
    page = partial_page
    assert page["blocked"] == [] and page["errors"] == []
    assert page["bars"] == expected_bars(plan, partial_run)
    assert page["bars"][0] == 4 + 2            # four planned windows, two attempts
    text = page["text"]
    assert "Outcome: partial" in text
    assert "1 of 4 phases completed; rolled back at Messaging Core Migration" in text
    assert "1 completed, 1 rolled back, 2 deferred" in text
    for phase in plan.phases:
        assert phase.name in text
    rollbacks = page["tables"]["report-rollbacks"]
    assert "row counts differ after restore" in rollbacks
    assert "Tue 8 Sep 23:30 NZST (11:30 UTC)" in rollbacks
    assert "50m" in rollbacks and "planned 1h" in rollbacks
    # only what ran is compared: messaging core's 3h 20m against its 4h
    assert ("Total customer-facing downtime: 3h 20m actual vs 4h planned for the phases "
            "that ran; 8h planned for the phases not run.") in text
    downtime = page["tables"]["report-downtime"]
    assert "not run" in downtime and "under plan" in downtime and "-" + "40m" not in downtime
    # links to the executed notebooks, relative to the report
    assert page["hrefs"] == ["01-carrier-connections-go.ipynb",
                             "05-messaging-core-rollback.ipynb"]
    checks = page["tables"]["report-checks"]
    assert "API health" in checks and "passed" in checks
    assert "DB replica lag" in checks and "failed" in checks
    assert page["input_areas"] == 0
    notices = page["tables"]["report-notices"]
    assert "reminder" in notices and "Messaging Core Migration" in notices
    assert "notices/reminder-messaging-core.txt" in page["hrefs_all"]


@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_report_of_a_plan_with_an_empty_log_says_not_started(tmp_path, kernel):
    plan = load_plan(EXAMPLE)
    outputs = tmp_path / "not" / "yet"          # the folder does not exist yet
    path = render_report(plan, outputs, km=kernel)
    assert path == outputs / "report.html"
    with open_offline(path) as page:
        assert page.blocked == [] and page.page_errors == []
        assert page.bars == [4, 16, 9]          # planned only: 9 (service, level) rows of downtime
        text = page.text
    assert "Outcome: not started" in text
    assert "No event recorded: the migration has not started." in text
    assert "No phase was rolled back." in text
    assert "Intact: 0 records" in text
    assert not (outputs / "events.sqlite").exists()


@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_markup_in_the_plan_and_the_log_is_shown_as_text(tmp_path, write_plan, kernel):
    quoted = HOSTILE.replace("'", "''")
    path = write_plan(f"""
        id: hostile
        title: '{quoted}'
        timezone: Europe/London
        services:
          - {{id: api, name: '{quoted}'}}
        phases:
          - id: one
            name: '{quoted}'
            start: 2021-03-28 00:00
            end: 2021-03-28 04:00
            impacts:
              - {{service: api, level: unavailable, detail: '{quoted}'}}
            rollback: {{duration: 30m, plan: '{quoted}'}}
        """)
    plan = load_plan(path)
    outputs = tmp_path / "out"
    log = open_log(plan, outputs=outputs)
    log.record("one", "go", HOSTILE, HOSTILE, at="2021-03-28T00:00:00Z")
    log.record("one", "start", HOSTILE, HOSTILE, at="2021-03-28T00:10:00Z")
    log.record("one", "complete", HOSTILE, HOSTILE, at="2021-03-28T02:10:00Z")
    log.close()
    render_report(plan, outputs, km=kernel)
    with open_offline(outputs / "report.html") as page:
        assert page.evaluate("window.__pwned === undefined")
        assert page.count("img") == 0
        assert page.count("main b") == 0
        text = page.text
        assert HOSTILE in text
        assert page.bars[0] == 2
        # across the start of BST: 00:10 GMT -> 03:10 BST is 2h real, not 3h
        assert "Sun 28 Mar 00:10 GMT" in text and "03:10 BST" in text
    data = load(plan, outputs)
    assert data.customer_facing() == (timedelta(hours=3), timedelta(hours=2))


# --- errors -------------------------------------------------------------------------------

def test_an_unwritable_outputs_folder_is_one_line_and_exit_1(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_cli("report", str(EXAMPLE), "--outputs", str(blocker / "sub"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write the report there" in lines[0]
    assert "Traceback" not in result.stderr


def test_an_unusable_event_store_is_one_line_and_no_report(tmp_path):
    result = run_cli("report", str(EXAMPLE), "--outputs", str(tmp_path),
                     "--store", "mysql://someone@127.0.0.1:1/db")
    assert result.returncode == 1
    # refused before any kernel starts: one line from the store, nothing written
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "mysql://someone@127.0.0.1:1/db" in lines[0]
    assert "supported" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_a_missing_plan_is_one_line_and_exit_1(tmp_path):
    result = run_cli("report", str(tmp_path / "nope.yaml"), "--outputs", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == f"{tmp_path / 'nope.yaml'}: no such plan file"
    assert not (tmp_path / "report.html").exists()


def test_pdf_without_chromium_says_so_in_one_line(tmp_path, monkeypatch):
    html = tmp_path / "report.html"
    html.write_text("<p>x</p>")
    monkeypatch.setattr(report_module, "chromium", lambda: None)
    with pytest.raises(ReportError) as caught:
        report_module.print_pdf(html, tmp_path / "report.pdf")
    assert "Chromium is not installed" in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1
    assert not (tmp_path / "report.pdf").exists()


@pytest.mark.chromium
@pytest.mark.slow
def test_pdf_is_printed_by_headless_chromium(tmp_path):
    from tests.browser import require_chromium

    require_chromium()
    html = tmp_path / "report.html"
    html.write_text("<html><body><h1>Report</h1></body></html>")
    pdf = report_module.print_pdf(html, tmp_path / "report.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --- the report's data, without a notebook ------------------------------------------------

def test_a_tampered_log_shows_as_broken_in_the_audit(tmp_path):
    from sqlalchemy import text

    plan = load_plan(EXAMPLE)
    record_partial(plan, tmp_path)
    log = open_log(plan, outputs=tmp_path)
    with log.store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET reason = 'nothing to see' WHERE seq = 6"))
    log.close()
    audit = load(plan, tmp_path).audit()
    assert audit.text.startswith("BROKEN at record 6")
    assert "tampered" in audit.html


def test_a_running_attempt_counts_until_as_of(tmp_path):
    plan = load_plan(EXAMPLE)
    log = open_log(plan, outputs=tmp_path)
    log.record("carrier-connections", "go", "alice", at="2020-09-07T08:50:00Z")
    log.record("carrier-connections", "start", "alice", at="2020-09-07T09:00:00Z")
    log.close()
    data = load(plan, tmp_path, as_of="2020-09-07T10:30:00Z")
    assert data.outcome() == "in progress"
    frame = data.downtime()
    mo = frame[(frame["service"] == "mo") & (frame["level"] == "delayed")].iloc[0]
    assert mo["actual_minutes"] == 90
    # without as_of, "now" is long after 2020: the attempt runs on
    assert load(plan, tmp_path).downtime()["actual_minutes"].max() > 90


# --- the report at the end of a rehearsal -------------------------------------------------

@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_the_example_rehearsal_ends_in_a_report_under_5_5_mb_that_draws(tmp_path):
    from migration_runbook.rehearsal import rehearse

    result = rehearse(EXAMPLE, outputs=tmp_path / "rehearsal")
    assert result.report == result.outputs / "report.html"
    assert result.report.stat().st_size <= MAX_BYTES
    page = seen(result.report)
    assert page["blocked"] == [] and page["errors"] == []
    assert page["bars"] == expected_bars(result.plan, result.outputs)
    assert page["bars"][0] == 4 + 4
    assert "Outcome: completed" in page["text"]
    links = page["hrefs"]
    assert len(links) == 12 and all((result.outputs / href).is_file() for href in links)


@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_a_rehearsed_rollback_of_messaging_core_reports_a_partial_migration(tmp_path):
    from migration_runbook.rehearsal import rehearse

    result = rehearse(EXAMPLE, outputs=tmp_path / "rollback", rollback="messaging-core")
    page = seen(result.report)
    assert page["blocked"] == [] and page["errors"] == []
    assert page["bars"] == expected_bars(result.plan, result.outputs)
    text = page["text"]
    assert "1 completed, 1 rolled back, 2 deferred" in text
    # rolled back at its deadline, 00:00 NZST, for the planned hour
    rollbacks = page["tables"]["report-rollbacks"]
    assert "Wed 9 Sep 00:00 NZST (Tue 8 Sep 12:00 UTC)" in rollbacks
    assert "1h planned 1h" in " ".join(rollbacks.split())
    # the messaging core's whole window: the API and Omni unavailable 09:00-13:00 UTC
    assert ("Total customer-facing downtime: 4h actual vs 4h planned for the phases that "
            "ran; 8h planned for the phases not run.") in text


# --- steps ----------------------------------------------------------------------------------

@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_report_step_timeline_draws_one_bar_per_step_attempt(complete_page):
    core = load_plan(EXAMPLE).phase("messaging-core")
    # windows, impacts, then messaging core's steps: 6 planned bars and one a step attempt
    # (step 2 failed once and ran again: 6 attempts; step 5 skipped: a cross, not a bar)
    assert complete_page["bars"][2] == len(core.steps) + STEP_ATTEMPTS == 12
    steps = complete_page["tables"]["report-steps"]
    assert "snapshot locked" in steps and "queues were empty" in steps
    assert re.search(r"Take the final database snapshot[^\n]*\n\(2\)\t[^\t]*\t30m\t40m\t\+10m",
                     steps)
    text = complete_page["text"]
    assert ("Steps that overran: Messaging Core Migration: 2 by 10m; Messaging Core "
            "Migration: 3 by 30m; Messaging Core Migration: 6 by 55m.") in text


def test_summary_lists_late_rollbacks_and_overruns_first(tmp_path):
    plan = load_plan(EXAMPLE)
    with open_log(plan, outputs=tmp_path) as log:
        log.record("carrier-connections", "go", "alice", at="2020-09-07T08:50:00Z")
        log.record("carrier-connections", "start", "alice", at="2020-09-07T09:00:00Z")
        # the deadline is 12:15 UTC (4 h window, 45 m rollback): 20 minutes late
        log.record("carrier-connections", "rollback", "alice", "binds failing",
                   at="2020-09-07T12:35:00Z")
        log.record("carrier-connections", "rolled-back", "alice", at="2020-09-07T13:30:00Z")
    report = load(plan, tmp_path, as_of="2020-09-07T14:00:00Z")
    assert report.late_rollbacks() == [("carrier-connections", 1, timedelta(minutes=20))]
    html = str(report.summary().html)
    late = html.index("Rollbacks:")
    assert late < html.index("started 20m after its rollback deadline") \
        < html.index('<span class="badge badge-bad">late</span>') \
        < html.index("Overruns:") \
        < html.index("Carrier Connection Migrations (attempt 1) by 30m") \
        < html.index("Total customer-facing downtime")


# --- paths, the notebooks table, the downtime chart's colours -----------------------------

def test_report_shows_paths_relative_to_the_run_folder_never_absolute(tmp_path):
    plan = load_plan(EXAMPLE)
    outputs = tmp_path / "run"
    record_partial(plan, outputs)   # the notebooks are recorded by their absolute paths
    with open_log(plan, outputs=outputs) as log:
        log.record("web-interface", "note", "alice", "kept elsewhere",
                   at="2020-09-08T12:30:00Z", notebook="/home/alice/secret/old.ipynb")
    report = load(plan, outputs, as_of="2020-09-09T00:00:00Z")
    page = "".join(str(getattr(report, s)().html) for s in (
        "header", "summary", "decisions", "notebooks", "notices", "rollbacks", "checks"))
    assert str(tmp_path) not in page and "/home/alice" not in page
    assert "Event log: events.sqlite (relative to the run folder)" in page
    notebooks = str(report.notebooks().html)
    assert '<a href="01-carrier-connections-go.ipynb">01-carrier-connections-go.ipynb</a>' \
        in notebooks
    assert "old.ipynb (outside the run folder) (missing)" in notebooks


def test_the_notebooks_table_does_not_repeat_the_decisions_table(tmp_path):
    plan = load_plan(EXAMPLE)
    record_partial(plan, tmp_path)
    report = load(plan, tmp_path, as_of="2020-09-09T00:00:00Z")
    decisions, notebooks = str(report.decisions().html), str(report.notebooks().html)
    assert ".ipynb" not in decisions and "<th>notebook</th>" not in decisions
    heads = re.findall(r"<th>(.*?)</th>", notebooks)
    assert heads == ["decision #", "notebook"]
    # each notebook once, by its decision's number: no when, phase or event again
    assert re.findall(r"<td>(\d+)</td>", notebooks) == ["1", "6"]
    assert "Messaging Core" not in notebooks and "NZST" not in notebooks


def test_the_downtime_chart_uses_the_palette(tmp_path):
    from migration_runbook import palette

    plan = load_plan(EXAMPLE)
    record_partial(plan, tmp_path)
    figure = load(plan, tmp_path, as_of="2020-09-09T00:00:00Z").downtime_figure().figure
    colours = {trace.name: trace.marker.color for trace in figure.data}
    assert colours["planned"] == palette.GREY
    assert colours["actual, unavailable"] == palette.IMPACT["unavailable"].colour
    assert {trace.marker.pattern.shape for trace in figure.data
            if trace.name.startswith("actual")} <= {s.pattern for s in palette.IMPACT.values()}
    assert set(colours.values()) <= {palette.GREY, *(s.colour for s in palette.IMPACT.values())}
    # planned and actual of one row sit side by side, whatever the level
    assert {trace.offsetgroup for trace in figure.data} == {"planned", "actual"}


# --- print -------------------------------------------------------------------------------

def _sections() -> list[tuple[str, str]]:
    """(heading, its introduction) of each section of runbooks/report.ipynb."""
    from migration_runbook.execute import notebook

    cells = json.loads(notebook("report").read_text())["cells"]
    out = []
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and text.startswith("## "):
            heading, _, intro = text[3:].partition("\n")
            out.append((heading.strip(), " ".join(intro.replace("`", "").split())))
    return out


@pytest.mark.notebook
@pytest.mark.chromium
@pytest.mark.slow
def test_the_printed_report_opens_with_the_summary_and_strands_no_heading(complete_run,
                                                                          tmp_path):
    import unicodedata

    import pypdf

    from tests.browser import require_chromium

    require_chromium()
    pdf = report_module.print_pdf(complete_run / "report.html", tmp_path / "report.pdf")
    # NFKC: the PDF's text has ligatures ("Pre-\ufb02ight" for "Pre-flight")
    pages = [" ".join(unicodedata.normalize("NFKC", p.extract_text()).split())
             for p in pypdf.PdfReader(pdf).pages]
    # The first page carries the title, the header and the summary's outcome and exceptions
    # (JupyterLab's print rule kept each output whole and pushed the summary to page 2); the
    # facts follow on the next page at the latest.
    first = pages[0]
    for expected in ("Post-migration report", "Report as of:", "Executive summary",
                     "Outcome: completed", "Late starts:", "Overruns:"):
        assert expected in first, expected
    assert "Total customer-facing downtime" in " ".join(pages[:2])
    # No heading is the last thing on its page: its introduction and some of what it
    # introduces come on the same page.
    sections = _sections()
    assert len(sections) >= 10
    for heading, intro in sections:
        # the heading where it stands: followed by the first words of its introduction
        start = " ".join([heading, *intro.split()[:3]])
        found = [k for k, page in enumerate(pages) if re.search(
            rf"(^| ){re.escape(start)}( |$)", page)]
        assert found, heading
        page = pages[found[0]]
        after = page[re.search(rf"(^| ){re.escape(start)}", page).end() - len(start)
                     + len(heading):]
        if intro:
            tail = " ".join(intro.split()[-4:])
            assert tail in after, (heading, tail)   # the introduction not cut from it
            after = after[after.index(tail) + len(tail):]
        assert after.strip(), f"'{heading}' ends page {found[0] + 1}"
