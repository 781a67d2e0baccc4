"""The Gantt page: one self-contained HTML file with both timelines and the schedule.

It must open on a laptop in a machine room with no network: plotly.js is embedded once, inline,
from the installed plotly package; nothing is fetched. Plan text goes through Jinja2's
autoescape (page) and `timeline.label` (figures), so markup in a plan stays text.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from . import timeline, times
from .errors import OutputError  # noqa: F401  (re-exported: callers catch it here)
from .files import check_writable, write_atomic
from .plan import Plan

TEMPLATES = Path(__file__).parent / "templates"


def actual_windows(plan: Plan, outputs: str | os.PathLike[str] | None,
                   store: str | None = None) -> tuple[pd.DataFrame | None, str]:
    """The actual windows recorded in the event log, and a note saying so.

    The log is the one `events.open_log` finds: `store` (a URL), else $RUNBOOK_STORE, else
    the SQLite file under `outputs`. (None, why) when there is no event log there yet.
    Reading never creates a log.
    """
    from .events import open_log  # the log (SQLAlchemy) only when actual times are asked for
    from .store import LOG_FILE, STORE_ENV

    folder = Path(outputs) if outputs else None
    server = store or os.environ.get(STORE_ENV)
    if not server and folder is not None and not (folder / LOG_FILE).exists():
        return None, f"Planned times only: no event log in {folder}."
    with open_log(plan, folder, store) as log:
        frame = log.windows()
        where = f"of {folder}" if not server else f"in {log.location}"
    return frame, (f"Planned and actual times: {len(frame)} attempt(s) recorded in the event "
                   f"log {where}.")


def render_gantt(plan: Plan, tz: str | None = None, actual: pd.DataFrame | None = None,
                 now: datetime | None = None, actual_note: str = "Planned times only.") -> str:
    """The whole page as HTML text; `actual`, `now` as for `timeline.windows_figure`."""
    zone = plan.display_zone(tz)
    now = now or times.now()
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, keep_trailing_newline=True)
    windows = timeline.windows_figure(plan, zone.key, actual, now)
    impacts = timeline.impacts_figure(plan, zone.key, actual, now)
    return env.get_template("gantt.html.j2").render(
        plan=plan,
        zone=zone.key,
        abbreviations=", ".join(timeline.abbreviations(plan, zone.key)),
        generated=times.format_both(now, zone),
        actual_note=actual_note,
        plotlyjs=Markup(timeline.plotly_js()),
        windows_div=Markup(timeline.figure_html(windows, div_id="windows")),
        impacts_div=Markup(timeline.figure_html(impacts, div_id="impacts")),
        schedule=timeline.schedule_table(plan, zone.key),
    )


def write_gantt(plan: Plan, output: str | os.PathLike[str], tz: str | None = None,
                outputs: str | os.PathLike[str] | None = None, now: datetime | None = None,
                store: str | None = None) -> Path:
    """Write the page to `output`; with `outputs` or `store`, overlay the actual windows of the
    event log there."""
    target = Path(output)
    check_writable(target)
    actual, note = (None, "Planned times only.") if outputs is None and not store else \
        actual_windows(plan, outputs, store)
    write_atomic(target, render_gantt(plan, tz, actual, now, note))
    return target


