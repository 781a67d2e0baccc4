"""HTML notices on a phone: every kind, opened offline in headless Chromium at 390 px, fits
the screen (no sideways scrolling) and carries the project's palette."""

from __future__ import annotations

from datetime import timedelta

import pytest

from migration_runbook import events
from migration_runbook.notices import render_notice
from migration_runbook.plan import load_plan
from tests.browser import open_offline
from tests.conftest import EXAMPLE, EXAMPLE_AUGUST, UNTICKED

PHONE = (390, 844)


@pytest.fixture(scope="module")
def notices(tmp_path_factory) -> dict:
    """Every notice kind of the example, as HTML files: the second phase rolled back; in
    another log, the first running (late, for the extended notice)."""
    plan = load_plan(EXAMPLE)
    folder = tmp_path_factory.mktemp("notices")
    one, two = (p.start for p in plan.phases[:2])
    with events.open_log(plan, outputs=folder / "run") as log:
        log.record("carrier-connections", "go", "alice", at=one - timedelta(minutes=10))
        log.record("carrier-connections", "start", "alice", at=one)
        log.record("carrier-connections", "complete", "alice", UNTICKED,
                   at=one + timedelta(hours=3))
        log.record("messaging-core", "go", "bob", at=two - timedelta(minutes=10))
        log.record("messaging-core", "start", "bob", at=two)
        log.record("messaging-core", "rollback", "bob", "row counts differ", at=two
                   + timedelta(hours=2))
        log.record("messaging-core", "rolled-back", "bob", at=two + timedelta(hours=3))
        rendered = {
            "announcement": render_notice(plan, "announcement", "html"),
            "reminder": render_notice(plan, "reminder", "html", phase="messaging-core"),
            "completed": render_notice(plan, "completed", "html", phase="carrier-connections",
                                       log=log),
            "rolled-back": render_notice(plan, "completed", "html", phase="messaging-core",
                                         log=log),
        }
    with events.open_log(plan, outputs=folder / "running") as log:
        log.record("carrier-connections", "go", "alice", at=one - timedelta(minutes=10))
        log.record("carrier-connections", "start", "alice", at=one)
        rendered.update({
            "in-progress": render_notice(plan, "in-progress", "html", phase="carrier-connections",
                                         log=log, as_of=one + timedelta(hours=1)),
            "extended": render_notice(plan, "extended", "html", phase="carrier-connections",
                                      log=log, as_of=one + timedelta(hours=5)),
            "reschedule": render_notice(plan, "reschedule", "html",
                                        previous=load_plan(EXAMPLE_AUGUST)),
        })
    out = {}
    for name, notice in rendered.items():
        path = folder / f"{name}.html"
        path.write_text(notice.body, encoding="utf-8")
        out[name] = path
    return out


@pytest.mark.chromium
@pytest.mark.parametrize("kind", ["announcement", "reminder", "completed", "rolled-back",
                                  "in-progress", "extended", "reschedule"])
def test_html_notices_fit_a_390_px_phone(notices, kind) -> None:
    with open_offline(notices[kind], viewport=PHONE) as page:
        assert page.blocked == [] and page.page_errors == []
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE[0], f"{kind}: {width} px wide at {PHONE[0]} px"
        # nothing inside is cut off instead: no element wider than the screen
        wide = page.evaluate(f"""Array.from(document.querySelectorAll('main *'))
            .filter((e) => e.getBoundingClientRect().right > {PHONE[0]} + 0.5)
            .map((e) => e.tagName + ' ' + e.textContent.slice(0, 40))""")
        assert wide == [], (kind, wide)
        # the schedule and the old/new windows stack a phase per block, each cell the screen's
        # width, rather than columns narrow enough to break words ("unavailab-le")
        narrow = page.evaluate("""Array.from(document.querySelectorAll(
            'table.schedule td, table.windows td')).map((td) => td.getBoundingClientRect().width)
            .filter((w) => w < 300).length""")
        assert narrow == 0, (kind, narrow)
        # the palette's custom properties are there for the levels
        assert page.evaluate("getComputedStyle(document.documentElement)"
                             ".getPropertyValue('--impact-unavailable').trim()") == "#D55E00"
