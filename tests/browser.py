"""Open a local HTML file in headless Chromium with the network off, and see what drew.

Shared by every test that checks an HTML output (Gantt page, report, notices):

    from tests.browser import open_offline

    with open_offline(path) as page:
        assert page.bars == [4, 13]          # drawn bar shapes, one count per plotly graph
        assert page.blocked == []            # remote requests attempted (all were aborted)
        assert page.evaluate("document.querySelectorAll('img').length") == 0

Every request that is not file:, data:, blob: or about: is recorded and aborted, and the
host resolver maps every name to nothing, so a page that needs the network shows it here.
Chromium is Debian's (/usr/bin/chromium); without it the test is skipped, except in CI
(CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("RUNBOOK_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-default-apps",
        "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND"]
LOCAL = ("file:", "data:", "blob:", "about:")

_COUNT_JS = """() => {
  const graphs = Array.from(document.querySelectorAll('.js-plotly-plot'));
  const drawn = (paths) => Array.from(paths).filter((p) => {
    const d = p.getAttribute('d');
    return d && d !== 'M0,0Z' && !/NaN/.test(d);
  }).length;
  return {
    divs: document.querySelectorAll('.plotly-graph-div').length,
    graphs: graphs.length,
    bars: graphs.map((g) => drawn(g.querySelectorAll('.barlayer .trace.bars .point path'))),
    points: graphs.map((g) => drawn(g.querySelectorAll('.scatterlayer .trace .points path'))),
    shapes: graphs.map((g) => drawn(g.querySelectorAll('.shapelayer path'))),
    ready: graphs.every((g) => g._fullLayout && g.querySelector('.main-svg')),
  };
}"""


def require_chromium() -> str:
    """The Chromium binary; skip the test without it (fail in CI, where it must be there)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright Python package is not installed")
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium, or `make browser`)")
    return CHROMIUM


def _missing(why: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"headless Chromium is required in CI: {why}")
    pytest.skip(f"headless Chromium not available: {why}")


@dataclass
class OfflinePage:
    """What one page did once loaded: graphs drawn, requests refused, errors, its text."""

    page: Any
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    divs: int = 0
    graphs: int = 0
    bars: list[int] = field(default_factory=list)
    points: list[int] = field(default_factory=list)
    shapes: list[int] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The page's visible text (SVG labels included)."""
        return self.page.evaluate("() => document.body.innerText + '\\n' + "
                                  "Array.from(document.querySelectorAll('svg text'))"
                                  ".map((t) => t.textContent).join('\\n')")

    def evaluate(self, script: str, arg: Any = None) -> Any:
        """Run JavaScript in the page (an expression, or a function taking `arg`)."""
        return self.page.evaluate(script, arg) if arg is not None else \
            self.page.evaluate(script)

    def count(self, selector: str) -> int:
        """How many elements match a CSS selector (e.g. injected `img[onerror]`)."""
        return self.page.evaluate("(s) => document.querySelectorAll(s).length", selector)

    def refresh(self) -> bool:
        """Recount the drawn graphs (after an interaction, say); True once all have a layout."""
        counts = self.page.evaluate(_COUNT_JS)
        self.divs, self.graphs = counts["divs"], counts["graphs"]
        self.bars, self.points, self.shapes = counts["bars"], counts["points"], counts["shapes"]
        return bool(counts["ready"])

    def screenshot(self, path: str | Path) -> Path:
        """A full-page PNG, to look at what a person would see."""
        self.page.screenshot(path=str(path), full_page=True)
        return Path(path)


@contextmanager
def open_offline(path: str | Path, timeout: float = 60.0, init_script: str | None = None,
                 viewport: tuple[int, int] = (1400, 1000)) -> Iterator[OfflinePage]:
    """Open `path` offline in headless Chromium and wait for its plotly graphs to draw.

    `init_script` runs before the page's own scripts (e.g. to stub `define`).
    """
    binary = require_chromium()
    from playwright.sync_api import sync_playwright

    url = Path(path).resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": viewport[0],
                                                    "height": viewport[1]},
                                          service_workers="block")
            result = OfflinePage(page=None)

            def seen(request: Any) -> None:
                if not request.url.startswith(LOCAL) and request.url not in result.blocked:
                    result.blocked.append(request.url)

            def route(route: Any) -> None:
                if route.request.url.startswith(LOCAL):
                    route.continue_()
                else:
                    seen(route.request)
                    route.abort()

            context.route("**/*", route)
            page = context.new_page()
            result.page = page
            page.on("request", seen)
            page.on("websocket", lambda ws: result.blocked.append(ws.url))
            page.on("requestfailed", seen)
            page.on("console", lambda msg: result.console_errors.append(msg.text)
                    if msg.type == "error" else None)
            page.on("pageerror", lambda exc: result.page_errors.append(str(exc)))
            if init_script:
                page.add_init_script(init_script)
            page.goto(url, wait_until="load", timeout=timeout * 1000)
            _wait_for_plotly(result, timeout)
            yield result
        finally:
            browser.close()


def _wait_for_plotly(result: OfflinePage, timeout: float) -> None:
    """Wait until every plotly div has drawn and the counts hold still for a moment.

    Gives up early when the counts have not moved for 3 s while graphs are still missing
    (plotly.js failed to load, say): the test then sees what did draw.
    """
    deadline = time.monotonic() + timeout
    previous, still = None, 0
    while time.monotonic() < deadline:
        ready = result.refresh()
        snapshot = (result.divs, result.graphs, result.bars, result.points, result.shapes)
        still = still + 1 if snapshot == previous else 0
        if (ready and result.graphs >= result.divs and still >= 1) or still >= 12:
            return
        previous = snapshot
        result.page.wait_for_timeout(250)
