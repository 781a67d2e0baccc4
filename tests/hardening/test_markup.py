"""Markup and script in a plan, or in a reason or operator name, is shown as text everywhere.

Every free-text field of a plan holds a payload (`<img onerror>`, `<script>`, an attribute
break-out into `<svg onload>`, a `javascript:` link, Markdown link, a Jinja expression), and so
do the reasons and operator names in the event log. Each HTML output (the Gantt page, the HTML
and Markdown notices, the report, the executed notebooks converted by nbconvert) is opened in
headless Chromium: nothing ran (`window.__pwned` undefined), no injected element exists, and
the payload is visible as the literal text the author typed. The terminal gets no escape codes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from migration_runbook.plan import load_plan
from tests.browser import open_offline
from tests.conftest import EXAMPLE_AUGUST, ROOT
from tests.hardening.conftest import (
    LITERAL,
    assert_inert,
    dump,
    env_without_store,
    hostile_data,
    payload,
    rewrite_log,
    runbook,
    write_hostile_plan,
)

REASON = payload("T-reason")
OPERATOR = payload("T-operator", short=True)
STATUS_PAGES = {
    "javascript": "javascript:window.__pwned=1//<svg onload=alert(1)>",
    "attribute-breakout": 'https://status.example.com/"onmouseover="window.__pwned=1"x=',
    "data-url": "data:text/html,<script>window.__pwned=1</script>",
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hostile_plan(tmp_path_factory.mktemp("markup"))


def _record(plan_path: Path, outputs: Path, steps: list[tuple[str, str, str]]) -> None:
    """Record (phase, event, reason) steps with the hostile operator, an hour apart in 2020."""
    from migration_runbook.events import open_log

    plan = load_plan(plan_path)
    at = plan.phase(steps[0][0]).start
    with open_log(plan, outputs) as log:
        for phase, event, reason in steps:
            log.record(phase, event, OPERATOR, reason, at=at)
            at += timedelta(minutes=50)


# --- the Gantt page ------------------------------------------------------------------------

@pytest.mark.chromium
@pytest.mark.parametrize("status_page", list(STATUS_PAGES))
def test_gantt_page_shows_plan_markup_as_text(tmp_path, status_page):
    plan = write_hostile_plan(tmp_path, status_page=STATUS_PAGES[status_page])
    out = tmp_path / "gantt.html"
    result = runbook("gantt", plan, "-o", out)
    assert result.returncode == 0, result.stderr
    with open_offline(out) as page:
        assert page.graphs == 2 and all(page.bars), page.bars  # the figures still draw
        text = assert_inert(page, literal=3)
        assert page.blocked == []
    for tag in ("T-title", "T-phase0-name", "T-phase3-name"):
        assert f"{tag}{LITERAL}" in text, tag


HOVER_ALL_JS = """() => {
  const seen = [];
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    gd.data.forEach((trace, curve) => {
      if (trace.hoverinfo === 'skip') return;
      const n = (trace.x || trace.base || []).length;
      const subplot = (trace.xaxis || 'x') + (trace.yaxis || 'y');  // one panel a night
      for (let point = 0; point < n; point++) {
        Plotly.Fx.hover(gd, [{curveNumber: curve, pointNumber: point}], subplot);
        const layer = gd.querySelector('.hoverlayer');
        if (layer) seen.push(layer.textContent);
      }
    });
  }
  return seen;
}"""


@pytest.mark.chromium
def test_gantt_hover_labels_show_plan_markup_as_text(tmp_path, hostile):
    """Plotly renders a subset of HTML in hover labels (bold, links): every hover, shown."""
    out = tmp_path / "gantt.html"
    assert runbook("gantt", hostile, "-o", out).returncode == 0
    with open_offline(out) as page:
        hovers = page.evaluate(HOVER_ALL_JS)
        assert len(hovers) >= 8
        assert_inert(page)
        shown = "\n".join(hovers)
        assert re.search(r"T-phase\d-name<img src=x onerror=", shown), shown[:500]
        assert re.search(r"T-phase\d-impact\d", shown), shown[:500]
        assert '<a class=pwn href="javascript:window.__pwned=1">' in shown


@pytest.mark.chromium
def test_gantt_page_with_actual_times_shows_reasons_and_names_as_text(tmp_path, hostile):
    outputs = tmp_path / "run"
    _record(hostile, outputs, [("carrier-connections", "go", REASON),
                               ("carrier-connections", "start", REASON),
                               ("carrier-connections", "rollback", REASON)])
    out = tmp_path / "gantt.html"
    result = runbook("gantt", hostile, "-o", out, "--outputs", outputs, env=env_without_store())
    assert result.returncode == 0, result.stderr
    with open_offline(out) as page:
        assert page.graphs == 2
        assert_inert(page, literal=3)


# --- notices -----------------------------------------------------------------------------

def _notice(plan: Path, kind: str, fmt: str, out: Path, *extra: object,
            outputs: Path | None = None) -> Path:
    args = ["notices", plan, kind, "--format", fmt, "-o", out, *extra]
    if outputs is not None:
        args += ["--outputs", outputs]
    result = runbook(*args, env=env_without_store())
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    return out


def _hostile_previous(folder: Path) -> Path:
    """The August version of the plan, with the same payloads (the reschedule quotes both)."""
    import yaml

    data = yaml.safe_load(EXAMPLE_AUGUST.read_text())
    hostile = hostile_data()
    data["title"], data["communications"] = hostile["title"], hostile["communications"]
    for old, new in zip(data["phases"], hostile["phases"], strict=False):
        old["name"], old["impacts"] = new["name"], new["impacts"]
        old["rollback"]["plan"] = new["rollback"]["plan"]
    data["services"] = hostile["services"]
    for phase in data["phases"]:
        phase["start"], phase["end"] = str(phase["start"])[:16], str(phase["end"])[:16]
    path = folder / "previous.yaml"
    path.write_text(dump(data), encoding="utf-8")
    load_plan(path)
    return path


def _all_notices(tmp_path: Path, plan: Path, fmt: str) -> dict[str, Path]:
    suffix = {"html": "html", "markdown": "md"}[fmt]
    outputs = tmp_path / "run"
    _record(plan, outputs, [("carrier-connections", "go", REASON),
                            ("carrier-connections", "start", REASON),
                            ("carrier-connections", "complete", REASON),
                            ("messaging-core", "go", REASON),
                            ("messaging-core", "start", REASON),
                            ("messaging-core", "rollback", REASON),
                            ("messaging-core", "rolled-back", REASON)])
    previous = _hostile_previous(tmp_path)
    return {
        "announcement": _notice(plan, "announcement", fmt, tmp_path / f"a.{suffix}"),
        "reminder": _notice(plan, "reminder", fmt, tmp_path / f"r.{suffix}", "--phase",
                            "messaging-core"),
        "completed": _notice(plan, "completed", fmt, tmp_path / f"c.{suffix}", "--phase",
                             "carrier-connections", outputs=outputs),
        "rolled-back": _notice(plan, "completed", fmt, tmp_path / f"rb.{suffix}", "--phase",
                               "messaging-core", outputs=outputs),
        "reschedule": _notice(plan, "reschedule", fmt, tmp_path / f"s.{suffix}", "--previous",
                              previous),
    }


EXPECTED_TAGS = {
    "announcement": ["T-title", "T-phase0-name", "T-phase0-impact0", "T-sender", "T-contact",
                     "T-oncall", "T-backup", "T-notice0"],
    "reminder": ["T-phase1-name", "T-phase1-impact0", "T-sender"],
    "completed": ["T-phase0-name", "T-sender"],
    "rolled-back": ["T-phase1-name", "T-sender"],
    "reschedule": ["T-title", "T-phase0-name", "T-sender"],
}


@pytest.mark.chromium
@pytest.mark.parametrize("status_page", list(STATUS_PAGES))
def test_html_notices_show_plan_and_log_markup_as_text(tmp_path, status_page):
    plan = write_hostile_plan(tmp_path, status_page=STATUS_PAGES[status_page])
    for kind, path in _all_notices(tmp_path, plan, "html").items():
        with open_offline(path) as page:
            text = assert_inert(page)
            assert page.blocked == [], (kind, page.blocked)
            for tag in EXPECTED_TAGS[kind]:
                assert f"{tag}{LITERAL}" in text, (kind, tag)
            # The status page is a link only when it is a plain http(s) URL.
            hrefs = page.evaluate("() => Array.from(document.querySelectorAll('[href]'))"
                                  ".map((a) => a.getAttribute('href'))")
            assert all(h.startswith(("http://", "https://", "mailto:", "tel:", "#"))
                       for h in hrefs), (kind, hrefs)
            assert not any("__pwned" in h or "onmouseover" in h for h in hrefs), (kind, hrefs)


@pytest.mark.chromium
def test_markdown_notices_render_plan_markup_as_text(tmp_path, hostile):
    """Markdown goes into chat tools and mail clients that allow inline HTML: rendered by a
    permissive renderer (mistune, HTML passed through), the payloads must still be text."""
    import mistune

    render = mistune.create_markdown(escape=False, plugins=["table", "url"])
    for kind, path in _all_notices(tmp_path, hostile, "markdown").items():
        html_path = path.with_suffix(".html")
        html_path.write_text("<!doctype html><meta charset=utf-8><body>"
                             + render(path.read_text(encoding="utf-8")), encoding="utf-8")
        with open_offline(html_path) as page:
            text = assert_inert(page)
            for tag in EXPECTED_TAGS[kind]:
                assert f"{tag}{LITERAL}" in text, (kind, tag)
            assert "[md](javascript:window.__pwned=1)" in text, kind
            hrefs = page.evaluate("() => Array.from(document.links).map((a) => a.href)")
            assert not any(h.startswith("javascript:") for h in hrefs), (kind, hrefs)


def test_text_notices_keep_markup_as_typed_and_drop_terminal_escapes(tmp_path, hostile):
    result = runbook("notices", hostile, "announcement")
    assert result.returncode == 0, result.stderr
    assert LITERAL in result.stdout  # plain text: shown exactly as typed
    assert "\x1b" not in result.stdout


# --- the terminal --------------------------------------------------------------------------

ESCAPES = "\x1b[2J\x1b[1A\x1b[2K\x1b]0;retitled\x07\x9b31m"


def test_terminal_tables_show_escape_codes_from_the_log_as_text(tmp_path):
    """The log refuses control characters, but a log rewritten by hand can hold them: one
    operator's reason still cannot clear or rewrite another's terminal."""
    from migration_runbook.events import open_log

    outputs = tmp_path / "run"
    plan = load_plan(ROOT / "data" / "omni-hosting-2020.yaml")
    with open_log(plan, outputs) as log:
        log.record("carrier-connections", "note", "eve", "placeholder",
                   at=datetime(2020, 9, 7, 8, tzinfo=UTC))
    rewrite_log(outputs / "events.sqlite", {1: {"operator": f"eve{ESCAPES}",
                                                "reason": f"hidden{ESCAPES}line"}})
    env = env_without_store()
    for command in (["log"], ["status"], ["verify"]):
        result = runbook(*command, ROOT / "data" / "omni-hosting-2020.yaml", "--outputs",
                         outputs, env=env)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "\x9b" not in result.stdout, command
        assert "\x07" not in result.stdout
    shown = runbook("log", ROOT / "data" / "omni-hosting-2020.yaml", "--outputs", outputs,
                    env=env).stdout
    assert "\\x1b[2J" in shown  # visible, as an escape
    # JSON keeps the value exactly (escaped by JSON itself).
    import json

    rows = json.loads(runbook("log", ROOT / "data" / "omni-hosting-2020.yaml", "--outputs",
                              outputs, "--format", "json", env=env).stdout)
    assert rows[0]["reason"] == f"hidden{ESCAPES}line"


def test_rich_markup_in_a_plan_is_not_interpreted_in_tables(tmp_path):
    text = (ROOT / "data" / "omni-hosting-2020.yaml").read_text()
    path = tmp_path / "rich.yaml"
    path.write_text(text.replace("name: Carrier Connection Migrations",
                                 'name: "[red]r[/] [link=https://e.x]x[/]"'))
    result = runbook("schedule", path)
    assert result.returncode == 0, result.stderr
    assert "[red]r[/]" in result.stdout and "[link=https://e.x]x[/]" in result.stdout
    assert "\x1b" not in result.stdout  # no colour, no terminal hyperlink


# --- executed notebooks and the report -------------------------------------------------------

def _to_html(notebook: Path) -> Path:
    """The executed notebook as nbconvert's standard HTML (the lab template, outputs as is)."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    out = notebook.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def _phase(plan: Path, outputs: Path, phase: str, event: str) -> Path:
    result = runbook("phase", plan, phase, event, "--operator", OPERATOR, "--reason", REASON,
                     "--outputs", outputs, env=env_without_store())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return Path(result.stdout.strip().splitlines()[-1].removeprefix("notebook: "))


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory, hostile: Path) -> tuple[Path, list]:
    """A run of the hostile plan through `runbook phase`: every event carries the payloads."""
    outputs = tmp_path_factory.mktemp("run") / "out"
    notebooks = [_phase(hostile, outputs, "carrier-connections", event)
                 for event in ("review", "go", "start", "note", "complete")]
    notebooks += [_phase(hostile, outputs, "messaging-core", event)
                  for event in ("go", "start", "rollback", "rolled-back")]
    return outputs, notebooks


@pytest.mark.chromium
@pytest.mark.notebook
@pytest.mark.slow
def test_executed_phase_notebooks_show_markup_as_text(hostile_run):
    _outputs, notebooks = hostile_run
    for notebook in notebooks:
        with open_offline(_to_html(notebook)) as page:
            text = assert_inert(page, page_errors=True)
            assert "T-phase" in text, notebook.name
            for selector in ("img[src='x']", "svg[onload]", ".pwn"):
                assert page.count(selector) == 0, (notebook.name, selector)


@pytest.mark.chromium
@pytest.mark.notebook
@pytest.mark.slow
def test_report_shows_plan_and_log_markup_as_text(hostile_run, hostile):
    outputs, _ = hostile_run
    result = runbook("report", hostile, "--outputs", outputs, env=env_without_store())
    assert result.returncode == 0, result.stderr
    report = outputs / "report.html"
    with open_offline(report) as page:
        assert page.graphs >= 1 and page.blocked == []
        text = assert_inert(page, literal=10)
        for tag in ("T-title", "T-phase0-name", "T-phase1-name", "T-reason", "T-operator"):
            assert f"{tag}{LITERAL}" in text, tag
    # The executed report notebook, exported the standard way, is as inert.
    with open_offline(_to_html(outputs / "report.ipynb")) as page:
        assert_inert(page, page_errors=True)


@pytest.mark.chromium
@pytest.mark.notebook
@pytest.mark.slow
def test_plan_review_notebook_shows_markup_as_text(tmp_path, hostile):
    import papermill

    out = tmp_path / "plan-review.ipynb"
    papermill.execute_notebook(str(ROOT / "runbooks" / "plan.ipynb"), str(out),
                               parameters={"plan": str(hostile)}, progress_bar=False,
                               kernel_name="python3", cwd=str(ROOT))
    with open_offline(_to_html(out)) as page:
        text = assert_inert(page, literal=3, page_errors=True)
        assert "T-phase0-name" in text


# --- the calendar ----------------------------------------------------------------------------

ICS_BREAKOUT = ("Night one\nEND:VEVENT\nBEGIN:VEVENT\nUID:injected@example\nSUMMARY:injected"
                "\nDTSTART:20200101T000000Z\nEND:VEVENT\nBEGIN:VEVENT\nSUMMARY:x;y,z\\\\")


def test_calendar_keeps_plan_text_inside_its_fields(tmp_path):
    """Text that spells out calendar lines stays inside its field: no extra or altered events.
    (A name must be one line, so a line break in it is refused: test_calendar_injection.py.)"""
    import icalendar
    import ics

    data = hostile_data()
    name = "Night one;UID:injected@example,SUMMARY:x;y,z\\"
    data["phases"][0]["name"] = name
    data["phases"][0]["impacts"][0]["detail"] = ICS_BREAKOUT
    plan = tmp_path / "plan.yaml"
    plan.write_text(dump(data), encoding="utf-8")
    out = tmp_path / "w.ics"
    result = runbook("ics", plan, "-o", out)
    assert result.returncode == 0, result.stderr
    calendar = icalendar.Calendar.from_ical(out.read_bytes())
    events = [c for c in calendar.walk() if c.name == "VEVENT"]
    assert len(events) == 4
    assert not any("injected" in str(e.get("UID")) for e in events)
    assert name in str(events[0].get("SUMMARY"))
    assert ICS_BREAKOUT in str(events[0].get("DESCRIPTION"))
    assert len(ics.Calendar(out.read_text()).events) == 4
