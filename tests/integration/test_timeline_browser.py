"""A messy night's timeline in headless Chromium, on a phone and on a desk: labels drawn, the
UTC axis there, the as-of label clear of every bar, a next-night attempt named as such."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from migration_runbook import gantt
from migration_runbook.plan import load_plan
from tests.browser import open_offline
from tests.conftest import EXAMPLE, UNTICKED

MESSY_NIGHT = (  # carrier-connections done; messaging-core rolled back, tried again next night
    ("carrier-connections", "go", "2020-09-07T08:50:00Z"),
    ("carrier-connections", "start", "2020-09-07T09:05:00Z"),
    ("carrier-connections", "complete", "2020-09-07T12:40:00Z"),
    ("messaging-core", "go", "2020-09-08T08:50:00Z"),
    ("messaging-core", "start", "2020-09-08T09:00:00Z"),
    ("messaging-core", "rollback", "2020-09-08T12:10:00Z"),
    ("messaging-core", "rolled-back", "2020-09-08T12:50:00Z"),
    ("messaging-core", "go", "2020-09-09T08:50:00Z"),
    ("messaging-core", "start", "2020-09-09T09:00:00Z"),
)
AS_OF = datetime(2020, 9, 9, 11, 0, tzinfo=UTC)  # 23:00 NZST, the second attempt running

_BOXES_JS = """(id) => {
  const g = document.getElementById(id);
  const box = (el) => { const r = el.getBoundingClientRect();
                        return {x: r.left, y: r.top, w: r.width, h: r.height}; };
  const notes = Array.from(g.querySelectorAll('.annotation')).map((a) => ({
      text: a.textContent, name: g.layout.annotations[+a.getAttribute('data-index')].name,
      ...box(a.querySelector('.annotation-text-g') || a)}));
  const bars = Array.from(g.querySelectorAll('.barlayer .point path')).map(box);
  const ticks = Array.from(g.querySelectorAll('g[class$="tick"] > text')).map((t) => t.textContent);
  return {notes, bars, ticks, width: document.documentElement.scrollWidth};
}"""


def _overlap(a: dict, b: dict, slack: float = 0.5) -> bool:
    return (a["x"] + slack < b["x"] + b["w"] and b["x"] + slack < a["x"] + a["w"] and
            a["y"] + slack < b["y"] + b["h"] and b["y"] + slack < a["y"] + a["h"])


@pytest.fixture(scope="module")
def messy_page(tmp_path_factory) -> Path:
    events = pytest.importorskip("migration_runbook.events")
    folder = tmp_path_factory.mktemp("messy")
    plan = load_plan(EXAMPLE)
    log = events.open_log(plan, folder / "run")
    try:
        for phase, event, at in MESSY_NIGHT:   # typed times a night late need a reason
            log.record(phase, event, "alice", UNTICKED if event == "complete" else "a messy night",
                       at=at)
    finally:
        log.close()
    actual, note = gantt.actual_windows(plan, folder / "run")
    page = folder / "timeline.html"
    page.write_text(gantt.render_gantt(plan, None, actual, AS_OF, note), encoding="utf-8")
    return page


@pytest.mark.chromium
@pytest.mark.parametrize("width", [390, 1400])
def test_messy_night_reads_at_phone_and_desk_width(messy_page, width):
    with open_offline(messy_page, viewport=(width, 900)) as page:
        assert page.blocked == [] and page.page_errors == []
        assert page.bars == [4 + 3, 16 + 11]
        for graph in ("windows", "impacts"):
            drawn = page.evaluate(_BOXES_JS, graph)
            texts = [n["text"] for n in drawn["notes"]]
            # labels: each row names its phase (or service) and each bar carries its times
            if graph == "windows":
                for row in ("1. Carrier Connection Migrations, planned",
                            "1. Carrier Connection Migrations, attempt 1: completed",
                            "2. Messaging Core Migration, attempt 1: rolled back",
                            "2. Messaging Core Migration, attempt 2: in progress",
                            "4. API End-Point Migration, planned"):
                    assert row in texts
                assert texts.count("21:00–01:00 NZST") == 4
                assert "21:05–00:40 NZST" in texts and "21:00–… NZST" in texts
            # the UTC axis along the top of each panel, and the year on the local axis
            assert drawn["ticks"].count("09:00 UTC") == 4
            assert "Mon 7 Sep 2020" in " ".join(drawn["ticks"])
            # the as-of label: there, and clear of every bar (and every other label)
            (as_of,) = [n for n in drawn["notes"] if n["text"].startswith("as of")]
            assert as_of["text"] == "as of 23:00 NZST (11:00 UTC)"
            assert as_of["w"] > 0 and as_of["x"] >= 0 and as_of["x"] + as_of["w"] <= width
            assert not [b for b in drawn["bars"] if _overlap(as_of, b)]
            others = [n for n in drawn["notes"] if n is not as_of]
            assert not [n for n in others if _overlap(as_of, n)]
            # row labels sit above their bars, never on one
            rows = [n for n in others if n["name"] == "row"]
            assert rows and not [(n["text"], b) for n in rows for b in drawn["bars"]
                                 if _overlap(n, b, slack=1)]
        # nothing wider than the phone: the schedule table scrolls inside its own box
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(messy_page.with_name(f"timeline-{width}.png"))
