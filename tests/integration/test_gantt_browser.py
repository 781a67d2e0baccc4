"""`runbook gantt`: the real command writes a page that draws in headless Chromium, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration_runbook.plan import load_plan
from tests.browser import open_offline
from tests.conftest import EXAMPLE, UNTICKED, run_cli
from tests.unit.test_timeline import DST_PLAN, HOSTILE_PLAN


def _gantt(tmp_path: Path, plan: Path, *extra: str) -> Path:
    out = tmp_path / "timeline.html"
    done = run_cli("gantt", plan, "-o", out, *extra)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return out


@pytest.mark.chromium
def test_page_draws_every_window_deadline_and_impact_with_the_network_off(tmp_path):
    plan = load_plan(EXAMPLE)
    out = _gantt(tmp_path, EXAMPLE)
    with open_offline(out) as page:
        assert page.graphs == 2
        windows, impacts = page.bars
        assert windows == len(plan.phases) == 4
        assert impacts == sum(len(p.impacts) for p in plan.phases) == 16
        assert page.points[0] == len(plan.phases)  # rollback-deadline markers
        assert page.blocked == []
        assert page.console_errors == [] and page.page_errors == []
        text = page.text
        for expected in ("Time in Pacific/Auckland (NZST)", "1. Carrier Connection Migrations",
                         "Delivery receipts (DLR)", "Mon 7 Sep 21:00 NZST to Tue 8 Sep 01:00 NZST",
                         "Planned times only."):
            assert expected in text
        assert page.count("script[src], link[href], iframe") == 0


@pytest.mark.chromium
def test_markup_in_a_plan_shows_as_text_and_injects_nothing(tmp_path, write_plan):
    out = _gantt(tmp_path, write_plan(HOSTILE_PLAN))
    with open_offline(out) as page:
        assert page.bars == [1, 1]
        assert page.count("img") == 0
        assert page.count("[onerror]") == 0
        assert page.count("b") == 0
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert "<script>window.__pwned=1</script>" in page.text  # shown, as typed
        assert page.page_errors == [] and page.blocked == []


@pytest.mark.chromium
def test_window_across_a_dst_change_draws_as_long_as_it_really_is(tmp_path, write_plan):
    plan = write_plan(DST_PLAN.format(zone="Pacific/Auckland", start="2020-09-27 00:30",
                                      end="2020-09-27 04:30"))
    out = _gantt(tmp_path, plan)
    with open_offline(out) as page:
        assert page.bars == [1, 2]
        # Width of the bar in pixels against the axis scale: 3 real hours, not 4 on the clock.
        hours = page.evaluate("""() => {
            const g = document.getElementById('windows');
            const xa = g._fullLayout.xaxis;
            const box = g.querySelector('.barlayer .point path').getBBox();
            return (xa.p2l(box.x + box.width) - xa.p2l(box.x)) / 3600000;
        }""")
        assert hours == pytest.approx(3, abs=0.02)
        assert "Time in Pacific/Auckland (NZST, NZDT)" in page.text


@pytest.mark.chromium
def test_actual_windows_from_the_event_log_are_drawn_beside_the_plan(tmp_path):
    events = pytest.importorskip("migration_runbook.events")
    pytest.importorskip("migration_runbook.states")
    plan = load_plan(EXAMPLE)
    outputs = tmp_path / "run"
    log = events.open_log(plan, outputs)
    try:
        for event, at in (("go", "2020-09-07T08:30:00Z"), ("start", "2020-09-07T09:05:00Z"),
                          ("complete", "2020-09-07T12:40:00Z")):
            log.record("carrier-connections", event, "alice", at=at,
                       reason=UNTICKED if event == "complete" else "")
    finally:
        log.close()
    out = _gantt(tmp_path, EXAMPLE, "--outputs", outputs)
    with open_offline(out) as page:
        # one actual window; its phase affects 3 services (mo, dlr, api: delayed)
        assert page.bars == [4 + 1, 16 + 3]
        assert "attempt 1: completed" in page.text
        assert "1 attempt(s) recorded in the event log" in page.text
        assert page.blocked == [] and page.page_errors == []


def test_outputs_without_an_event_log_draws_the_plan_only(tmp_path):
    empty = tmp_path / "no-run-yet"
    empty.mkdir()
    out = _gantt(tmp_path, EXAMPLE, "--outputs", empty)
    assert "Planned times only: no event log in" in out.read_text()
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize("target", ["missing-folder/timeline.html", "a-file/timeline.html", "."])
def test_unwritable_output_is_one_line_exit_1_and_writes_nothing(tmp_path, target):
    (tmp_path / "a-file").write_text("not a folder")
    before = sorted(p.name for p in tmp_path.iterdir())
    done = run_cli("gantt", EXAMPLE, "-o", tmp_path / target)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "cannot write" in done.stderr or "is a folder" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_bad_plan_is_one_line_exit_1_and_keeps_the_old_page(tmp_path, write_plan):
    bad = write_plan("id: broken\ntitle: x\ntimezone: Mars/Olympus\n", name="bad.yaml")
    out = tmp_path / "timeline.html"
    out.write_text("yesterday's page")
    done = run_cli("gantt", bad, "-o", out)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"{bad}:")
    assert out.read_text() == "yesterday's page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "timeline.html"]


def test_unknown_display_zone_is_one_line(tmp_path):
    done = run_cli("gantt", EXAMPLE, "-o", tmp_path / "t.html", "--tz", "Nowhere/Land")
    assert done.returncode == 1
    assert done.stderr.startswith("--tz: unknown time zone")
    assert not (tmp_path / "t.html").exists()
