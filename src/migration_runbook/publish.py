"""The public status page: a static folder any web host can serve, rebuilt from the plan and
the event log.

`index.html` (the migration's state now, what is affected right now, the next window, the
notices sent, newest first; no JavaScript, nothing fetched), `feed.atom` (one entry per notice
sent and per phase state change, each with a stable `tag:` id; feedgen) and `calendar.ics`.
Every file is written whole or not at all. With `communications.publish: DIR` in the plan,
`refresh_site` rebuilds it after each event (`runbook phase`, `runbook step`, `runbook notices
--send`, and whatever else records events: call `refresh_site(plan, outputs, store)`). A phase
in progress shows when it is expected to end (`notices.expected_end`, the in-progress notice's
forecast), which each step tick moves.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jinja2

from . import times
from .errors import RunbookError
from .plan import Plan

FILES = ("index.html", "feed.atom", "calendar.ics")
STATE_WORDS = {"planned": "planned", "approved": "approved, starting soon", "held": "on hold",
               "in-progress": "in progress", "completed": "completed",
               "rolling-back": "rolling back", "rolled-back": "rolled back"}
"""How the page words each phase state."""
STATE_CHANGES = ("go", "no-go", "start", "complete", "rollback", "rolled-back")


class PublishError(RunbookError):
    """A status page that cannot be written (folder not writable, log unreadable)."""


@dataclass(frozen=True)
class Entry:
    """One item of the feed: a notice sent or a phase's state change."""

    id: str
    title: str
    updated: datetime
    summary: str


def _authority(plan: Plan) -> str:
    """The `tag:` authority: the status page's host if it has one (stable as long as the
    page's address is), else a name that cannot clash with a real domain."""
    host = urlparse(plan.communications.status_page or "").hostname or ""
    return host if re.fullmatch(r"[a-z0-9.-]+", host) else "migration-runbook.invalid"


def tag(plan: Plan, at: datetime, what: str) -> str:
    """A stable `tag:` URI (RFC 4151): authority, the date it happened (UTC), plan and item."""
    return f"tag:{_authority(plan)},{at.astimezone(times.UTC):%Y-%m-%d}:{plan.id}/{what}"


def site_model(plan: Plan, events: list[Any], as_of: datetime | None = None) -> dict[str, Any]:
    """Everything the page and the feed show, derived from the plan and the event log."""
    from .delivery import deliveries, sent
    from .notices import expected_end, phase_label, phase_views
    from .states import RESULT, replay

    now = as_of or times.now()
    zone = plan.zone
    states = replay(plan, events)
    views = {v.id: v for v in phase_views(plan)}
    phases = [{"view": views[p.id], "state": states[p.id],
               "state_text": STATE_WORDS.get(states[p.id], states[p.id]), "expected_end": ""}
              for p in plan.phases]
    running = [row for row in phases if row["state"] in ("in-progress", "rolling-back")]
    for row in running:
        if row["state"] == "in-progress":   # a step tick moves it: the page shows it
            row["expected_end"] = times.format_both(
                expected_end(plan, row["view"].id, events, now), zone)
    upcoming = [row for row in phases if row["state"] in ("planned", "approved", "held")]
    upcoming.sort(key=lambda row: row["view"].start_utc)
    done = sum(1 for row in phases if row["state"] == "completed")
    if running:
        headline = "; ".join(f"{r['view'].label} is {r['state_text']}" for r in running)
    elif done == len(phases):
        headline = "The migration is complete: every phase has been completed."
    elif done or any(row["state"] == "rolled-back" for row in phases):
        headline = f"{done} of {len(phases)} phases completed; no window is open right now."
    else:
        headline = "The migration has not started yet."
    notices = list(reversed(sent(deliveries(events))))
    labels = {p.id: phase_label(plan, p) for p in plan.phases}
    entries = []
    for n in notices:
        where = "recorded in a rehearsal" if n["rehearsal"] else \
            "sent to " + ", ".join(n["channels"])
        entries.append(Entry(tag(plan, n["at"], f"notice/{n['seq']}"), n["subject"], n["at"],
                             f"{n['kind']} notice, {where}, "
                             f"{times.format_both(n['at'], zone)}"))
    for e in events:
        if e.event in STATE_CHANGES and e.phase in labels:
            state = STATE_WORDS.get(RESULT[e.event], RESULT[e.event])
            entries.append(Entry(tag(plan, e.at, f"event/{e.seq}"),
                                 f"{labels[e.phase]}: {state}", e.at,
                                 f"{times.format_both(e.at, zone)}"
                                 + (f": {e.reason}" if e.reason else "")))
    entries.sort(key=lambda x: (x.updated, x.id), reverse=True)
    return {
        "plan": plan, "title": plan.title, "zone": plan.timezone,
        "as_of": times.format_both(now, zone), "as_of_iso": times.format_iso_utc(now),
        "headline": headline, "phases": phases,
        "affected": [(row["view"], impact) for row in running
                     for impact in row["view"].impacts if impact.level != "unaffected"],
        "running": running,
        "next": upcoming[0] if upcoming else None,
        "notices": [{**n, "when": times.format_both(n["at"], zone),
                     "phase_label": labels.get(n["phase"], "")} for n in notices],
        "entries": entries,
        "status_page": plan.communications.status_page,
    }


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("migration_runbook", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env


def render_index(model: dict[str, Any]) -> str:
    """index.html: plan text is escaped (autoescape), so markup in a plan stays text."""
    return _environment().get_template("status.html.j2").render(**model)


def render_feed(plan: Plan, model: dict[str, Any]) -> bytes:
    """feed.atom: newest first; `updated` of the feed is its newest entry's (stable while
    nothing new happens), the plan's first window before anything has."""
    from feedgen.feed import FeedGenerator

    feed = FeedGenerator()
    feed.id(f"tag:{_authority(plan)},2000:{plan.id}/feed")   # no date that a plan edit moves
    feed.title(f"{plan.title}: status")
    feed.author({"name": plan.communications.sender or plan.title})
    if plan.communications.status_page.startswith(("http://", "https://")):
        feed.link(href=plan.communications.status_page, rel="alternate")
    feed.subtitle(f"Notices and phase changes of {plan.title}")
    entries = model["entries"]
    feed.updated(entries[0].updated if entries else plan.start)
    for item in reversed(entries):        # feedgen lists the last added first
        entry = feed.add_entry()
        entry.id(item.id)
        entry.title(item.title)
        entry.updated(item.updated)
        entry.content(item.summary, type="text")
    return feed.atom_str(pretty=True)


def build_site(plan: Plan, events: list[Any], as_of: datetime | None = None
               ) -> dict[str, bytes]:
    """The site's files, by name."""
    from .calendar import ics_bytes

    model = site_model(plan, events, as_of)
    last = max((e.at for e in events), default=plan.start)
    return {"index.html": render_index(model).encode("utf-8"),
            "feed.atom": render_feed(plan, model),
            "calendar.ics": ics_bytes(plan, stamp=last)}


def publish(plan: Plan, site: str | os.PathLike[str], outputs: str | os.PathLike[str] | None
            = None, store: str | None = None, as_of: datetime | None = None) -> Path:
    """Write the status page for `plan` into the folder `site` (each file atomically)."""
    from .events import open_log
    from .files import write_atomic

    with open_log(plan, outputs, store) as log:
        events = log.events()
    files = build_site(plan, events, as_of)
    folder = Path(site)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            write_atomic(folder / name, data)
    except OSError as exc:
        raise PublishError(f"cannot write the status page in {folder}: "
                           f"{exc.strerror or exc}") from None
    return folder / "index.html"


def site_folder(plan: Plan) -> Path | None:
    """The plan's `communications.publish` folder (relative to the plan file), if any."""
    folder = plan.communications.publish
    if not folder:
        return None
    base = Path(plan.source).parent if plan.source else Path.cwd()
    return base / folder


def refresh_site(plan: Plan, outputs: str | os.PathLike[str] | None = None,
                 store: str | None = None) -> Path | None:
    """Rebuild the plan's status page after an event, if the plan asks for one
    (`communications.publish`); returns its index.html, or None when there is none.

    Called by `runbook phase`, `runbook notices --send` and `runbook step`.
    """
    folder = site_folder(plan)
    if folder is None:
        return None
    return publish(plan, folder, outputs, store)
