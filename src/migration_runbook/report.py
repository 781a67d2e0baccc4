"""The post-migration report: what happened, against what was planned, for people who weren't there.

`runbooks/report.ipynb` calls `load(...)` once and then one method of `Report` a section; each
returns an HTML fragment (plan text is always escaped, never live markup) or a figure that
displays as a div plus a `Plotly.newPlot` script. `render_report` executes the notebook with
papermill and exports it with nbconvert and the `report` template (templates/report/), which
drops every code cell and prompt, inlines plotly.js exactly once and loads nothing from the
network: the page reads the same with the network off.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pandas as pd
from markupsafe import Markup

from . import downtime as dt
from . import outcomes, palette, times, views
from .errors import RunbookError
from .files import install, output_target, write_atomic
from .plan import Plan, impacts_frame, load_plan

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
TEMPLATE = "report"
NOTEBOOK_NAME = "report.ipynb"
HTML_NAME = "report.html"
PDF_NAME = "report.pdf"
KERNEL_WARM = ("migration_runbook.report", "migration_runbook.events", "migration_runbook.states",
               "migration_runbook.phase", "migration_runbook.notices", "migration_runbook.timeline",
               "plotly.graph_objects", "plotly.io")
"""What report.ipynb imports: a kernel started for it (`execute.Kernel(warm=...)`) imports
these while `runbook report` is still reading the plan."""


class ReportError(RunbookError):
    """The report cannot be rendered or written; nothing half-written is left behind."""


# --- HTML fragments ------------------------------------------------------------------------

class Html:
    """An HTML fragment that notebooks display as text/html (and print as text)."""

    def __init__(self, html: str, text: str = ""):
        self.html, self.text = str(html), text

    def _repr_html_(self) -> str:
        return self.html

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self.html, "text/plain": self.text or "(HTML section)"}

    def __str__(self) -> str:
        return self.html


class Figure:
    """A plotly figure that displays as text/html: a div and its `Plotly.newPlot` script.

    plotly.js itself is not included: the report template inlines it once in the page head.
    (plotly 6+'s default renderer in a papermill kernel emits a mimetype nbconvert drops.)
    """

    def __init__(self, figure: Any, div_id: str, title: str = ""):
        self.figure, self.div_id, self.title = figure, div_id, title

    def to_html(self) -> str:
        from .timeline import figure_html

        return figure_html(self.figure, include_plotlyjs=False, div_id=self.div_id)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/html": f'<div class="report-figure">{self.to_html()}</div>',
                "text/plain": f"<figure: {self.title or self.div_id}>"}


def _lines(*parts: Any) -> views.Lines:
    """Several lines in one cell."""
    return views.Lines(tuple(parts))


def _badge(text: str, kind: str) -> views.Badge:
    return views.Badge(text, kind)


def _section(name: str, plain: str, **context: Any) -> Html:
    """Section `name` rendered from templates/report/`name`.html.j2."""
    return Html(views.render(f"report/{name}.html.j2", **context), plain)


def _anchor(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)


def phase_anchor(phase_id: str) -> str:
    """The id of a phase's row in the summary's table."""
    return "phase-" + _anchor(str(phase_id))


def event_anchor(seq: Any) -> str:
    """The id of an event's row in the decisions table."""
    return "event-" + _anchor(str(seq))


def rollback_anchor(phase_id: str, attempt: Any) -> str:
    """The id of a rollback's row in the rollbacks table."""
    return f"rollback-{_anchor(str(phase_id))}-{_anchor(str(attempt))}"


def _outcome_kind(outcome: str) -> str:
    return {"completed": "ok", "rolled-back": "bad", "rolling-back": "bad",
            "in-progress": "warn", "deferred": "warn", "not-run": "warn"}.get(outcome, "muted")


def _length(delta: timedelta | pd.Timedelta | None) -> str:
    if delta is None or pd.isna(delta):
        return ""
    return times.format_duration(pd.Timedelta(delta).to_pytimedelta())


# --- the report's data ---------------------------------------------------------------------

@dataclass
class Report:
    """Everything the report shows, read once from the plan and its event log."""

    plan: Plan
    outputs: Path
    events: list[Any]
    windows: pd.DataFrame
    states: dict[str, str]
    verification: Any
    as_of: datetime
    store: str = ""          # where the event log is: a file, or a URL without password
    sent_notices: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[Any] = field(default_factory=list)
    """Records of the log that cannot be read (`events.Unreadable`): shown, not counted."""
    unreadable_notices: list[int] = field(default_factory=list)
    """Lines of notices/notices.jsonl that cannot be read."""

    @property
    def zone(self) -> ZoneInfo:
        return self.plan.zone

    @cached_property
    def impacts(self) -> pd.DataFrame:
        """The plan's impacts frame: the planned windows of each (phase, service, level)."""
        return impacts_frame(self.plan)

    def when(self, instant: datetime | pd.Timestamp | None) -> str:
        """'Mon 7 Sep 21:00 NZST (09:00 UTC)'."""
        if instant is None or pd.isna(instant):
            return ""
        return times.format_both(pd.Timestamp(instant).to_pydatetime(), self.zone)

    # --- executive summary -------------------------------------------------------------

    def outcome(self) -> str:
        """'not started', 'completed', 'in progress' or 'partial'."""
        if not self.events:
            return "not started"
        states = [self.states.get(p.id, "planned") for p in self.plan.phases]
        if all(s == "completed" for s in states):
            return "completed"
        if any(s in ("in-progress", "rolling-back") for s in states):
            return "in progress"
        return "partial"

    def attempts(self, phase_id: str) -> pd.DataFrame:
        return self.windows[self.windows["phase"] == phase_id]

    @cached_property
    def _phases(self) -> dict[str, Any]:
        """The plan's phases by id: sections look a phase up once a row, not once a scan."""
        return {p.id: p for p in self.plan.phases}

    def overrun(self, phase_id: str, attempt: pd.Series | dict[str, Any]) -> timedelta:
        """How far an attempt ran past the window it is held to (`outcomes.overrun`: a retry
        on another night gets a window of the planned length from its own start)."""
        phase = self._phases.get(phase_id)
        if phase is None:   # renamed or removed since: no planned window to overrun
            return timedelta()
        start = pd.Timestamp(attempt["start_utc"]).to_pydatetime()
        end = attempt["end_utc"]
        end = self.as_of if pd.isna(end) else pd.Timestamp(end).to_pydatetime()
        return outcomes.overrun(phase, start, max(end, start))

    @cached_property
    def phase_outcomes(self) -> dict[str, outcomes.PhaseOutcome]:
        """Each phase's outcome at the as-of time (`outcomes.phase_outcomes`): what ran, what
        was deferred or not run, each attempt's start delay and overrun."""
        return outcomes.phase_outcomes(self.plan, self.events, self.as_of)

    def downtime(self) -> pd.DataFrame:
        """Planned and actual downtime a service and level (see `downtime.downtime`)."""
        return self._downtime.copy()

    def customer_facing(self) -> tuple[timedelta, timedelta]:
        """(planned, actual) customer-facing downtime of the phases that ran."""
        return self._customer_facing

    @cached_property
    def customer_facing_not_run(self) -> timedelta:
        """Planned customer-facing downtime of the phases that did not run (not compared)."""
        return dt.customer_facing_not_run(self.impacts, self.windows, self.as_of)

    def downtime_sentence(self) -> str:
        """'13h 45m actual, 12h planned.' when every phase ran; for a partial migration
        '4h actual vs 4h planned for the phases that ran; 8h planned for the phases not run.'"""
        planned, actual = self.customer_facing()
        left = self.customer_facing_not_run
        if not left:
            return f"{_length(actual)} actual, {_length(planned)} planned."
        if not dt.phases_run(self.windows, self.as_of):
            return f"none yet; {_length(left)} planned for the phases not run."
        return (f"{_length(actual)} actual vs {_length(planned)} planned for the phases that "
                f"ran; {_length(left)} planned for the phases not run.")

    # Computed once: the table, the figure and the summary all show them.
    @cached_property
    def _downtime(self) -> pd.DataFrame:
        return dt.downtime(self.impacts, self.windows, self.as_of)

    @cached_property
    def _customer_facing(self) -> tuple[timedelta, timedelta]:
        return dt.customer_facing(self.impacts, self.windows, self.as_of)

    def summary_data(self) -> dict[str, Any]:
        """What the executive summary says, for templates/report/summary.html.j2: the outcome
        first, then the exceptions a reviewer looks for (each with the anchor of its row
        below), then the facts, then one row a phase. Words come from `outcomes.py`."""
        outcome = self.outcome()
        found = self.phase_outcomes
        total = len(self.plan.phases)
        done = sum(1 for o in found.values() if o.outcome == "completed")
        rolled = [p.name for p in self.plan.phases
                  if found[p.id].outcome in ("rolled-back", "rolling-back")]
        running = [p.name for p in self.plan.phases if found[p.id].outcome == "in-progress"]
        stopped = [p.name for p in self.plan.phases if found[p.id].outcome == "not-run"]
        if outcome == "completed":
            headline = f"all {total} phases completed"
        elif outcome == "not started":
            headline = "no phase has started"
        else:
            headline = f"{done} of {total} phases completed"
            if rolled:
                headline += "; rolled back at " + ", ".join(rolled)
            if running:
                headline += "; in progress: " + ", ".join(running)
            if stopped:
                headline += "; not run: " + ", ".join(stopped)
        counts = outcomes.summary_counts(found)
        rows = []
        for order, p in enumerate(self.plan.phases, start=1):
            result = found[p.id]
            actual_cells, over_cells = [], []
            for a in result.attempts:
                length = (a.end or max(self.as_of, a.start)) - a.start
                ended = self.when(a.end) if a.end else f"still {a.outcome}"
                lines = [f"#{a.number}: {self.when(a.start)} to {ended} ({_length(length)}, "
                         f"{a.outcome})"]
                if a.late_start:
                    lines.append(f"started {outcomes.delay_text(a.start_delay)}" + (
                        f", held to {_length(p.duration)} from its start" if a.rescheduled
                        else ""))
                actual_cells.append("; ".join(lines))
                if a.overrun > timedelta():
                    over_cells.append(f"#{a.number}: +{_length(a.overrun)}"
                                      + (" so far" if a.running else ""))
            rows.append({
                "id": phase_anchor(p.id),
                "cells": [order, _lines(p.name, f"({p.id})"),
                          _lines(_badge(result.label, _outcome_kind(result.outcome)),
                                 result.reason),
                          _lines(self.when(p.start), f"to {self.when(p.end)}",
                                 f"{_length(p.duration)}"),
                          _lines(*actual_cells) if actual_cells else "-",
                          _lines(*over_cells) if over_cells else "none",
                          sum(a.outcome in ("rolled-back", "rolling-back")
                              for a in result.attempts)]})
        step_overruns = [f"{self._phase_name(r['phase'])}: {r['step']} by "
                         f"{_length(r['overrun'])}" for r in self.step_rows()
                         if r["overrun"] > timedelta()]
        facts = [
            *(["Steps that overran: " + "; ".join(step_overruns[:10])
               + (f" and {len(step_overruns) - 10} more" if len(step_overruns) > 10 else "")
               + "."] if step_overruns else []),
            "Total customer-facing downtime: " + self.downtime_sentence() + " (Time during "
            "which at least one service was unavailable: the union over services, so two "
            "services down at once count once.)",
            f"Events recorded: {len(self.events)}; audit chain "
            f"{'intact' if self.verification.ok else 'BROKEN'}."
            + (f" {len(self.unreadable)} records cannot be read and are not counted (see "
               "Decisions)." if self.unreadable else ""),
        ]
        return {"outcome": outcome,
                "kind": {"completed": "ok", "not started": "muted",
                         "in progress": "warn"}.get(outcome, "bad"),
                "headline": headline,
                "counts": _counts_text(counts, total),
                "exceptions": [g for g in self.exceptions() if g["items"]],
                "facts": facts,
                "columns": ["#", "phase", "outcome", "planned window", "actual", "overrun",
                            "rollbacks"],
                "rows": rows}

    def exceptions(self) -> list[dict[str, Any]]:
        """The governance facts, in the order a reviewer asks for them: no-go decisions,
        overridden checks (who, why), rollbacks (late ones flagged), late starts, overruns,
        deferred or unrun phases. Each group: `key`, `title`, `items` (text, href, late)."""
        found = self.phase_outcomes
        no_go, overridden, rollbacks, late_starts, overruns, unrun = [], [], [], [], [], []
        for e in self.events:
            if e.event == "no-go":
                no_go.append({"text": f"{self._phase_name(e.phase)}: no-go by {e.operator}, "
                                      f"{self.when(e.at)}: {e.reason or 'no reason given'}",
                              "href": "#" + event_anchor(e.seq)})
            details = e.details if isinstance(e.details, dict) else {}
            if details.get("override"):
                listed = details.get("failed_checks")
                failed = ", ".join(map(str, listed if isinstance(listed, list) else [])) \
                    or "checks"
                overridden.append({
                    "text": f"{self._phase_name(e.phase)}: {e.event} by {e.operator} despite "
                            f"failed {failed}, {self.when(e.at)}: {e.reason or '-'}",
                    "href": "#" + event_anchor(e.seq)})
        for p in self.plan.phases:
            result = found[p.id]
            for a in result.attempts:
                name = f"{p.name} (attempt {a.number})"
                if a.rollback_start is not None:
                    decided = self._event(p.id, "rollback", a.rollback_start)
                    text = f"{name}: rollback started {self.when(a.rollback_start)}" + (
                        f" by {decided.operator}: {decided.reason or '-'}" if decided else "")
                    if a.late_rollback is not None:
                        deadline = outcomes.rollback_deadline(p, a.start)
                        text += (f"; started {_length(a.late_rollback)} after its rollback "
                                 f"deadline ({self.when(deadline)})")
                    rollbacks.append({"text": text, "late": a.late_rollback is not None,
                                      "href": "#" + rollback_anchor(p.id, a.number)})
                if a.late_start:
                    late_starts.append({
                        "text": f"{name} {outcomes.late_start_text(p, a.start, self.zone)}",
                        "href": "#" + phase_anchor(p.id)})
                if a.overrun > timedelta():
                    overruns.append({"text": f"{name} by {_length(a.overrun)}"
                                             + (" so far" if a.running else ""),
                                     "href": "#" + phase_anchor(p.id)})
            if result.outcome in ("deferred", "not-run"):
                unrun.append({"text": f"{p.name}: {result.label} ({result.reason})",
                              "href": "#" + phase_anchor(p.id)})
        for item in (*no_go, *overridden, *late_starts, *overruns, *unrun):
            item["late"] = False
        return [{"key": "no-go", "title": "No-go decisions", "items": no_go},
                {"key": "override", "title": "Overridden checks", "items": overridden},
                {"key": "rollback", "title": "Rollbacks", "items": rollbacks},
                {"key": "late-start", "title": "Late starts", "items": late_starts},
                {"key": "overrun", "title": "Overruns", "items": overruns},
                {"key": "not-run", "title": "Deferred or not run", "items": unrun}]

    def summary(self) -> Html:
        """Executive summary: the outcome, then the exceptions (each linking to its row
        below), the facts, and each phase's result; rendered by templates/report/
        summary.html.j2."""
        data = self.summary_data()
        html = views.render("report/summary.html.j2", **data)
        planned, actual = self.customer_facing()
        text = f"Outcome: {data['outcome']}; customer-facing downtime {_length(actual)}"
        return Html(html, text)

    def header(self) -> Html:
        """Title block: the plan, the report's as-of time, the event store."""
        p = self.plan
        lines = [f"Plan: {p.title} ({p.id}), revision {p.revision}",
                 f"Windows planned: {self.when(p.start)} to {self.when(p.end)}",
                 f"Report as of: {self.when(self.as_of)}",
                 f"Times are shown in {p.timezone} with the abbreviation in force on the day, "
                 "and in UTC."]
        if self.store:
            lines.append(f"Event log: {self._store_shown()}")
        return _section("header", f"{p.title}: post-migration report", lines=lines)

    # --- timelines ---------------------------------------------------------------------

    def timeline(self) -> Figure:
        """Each phase's planned window with its actual attempts beside it."""
        from . import timeline

        figure = timeline.windows_figure(self.plan, actual=self.windows, now=self.as_of)
        return Figure(figure, "report-windows", "planned vs actual windows")

    def impacts_timeline(self) -> Figure:
        """Each service's planned impacts with the actual windows that caused them."""
        from . import timeline

        figure = timeline.impacts_figure(self.plan, actual=self.windows, now=self.as_of)
        return Figure(figure, "report-impacts", "planned vs actual impact on each service")

    def downtime_figure(self) -> Any:
        """Planned vs actual downtime per service and level, as horizontal bars."""
        import plotly.graph_objects as go

        frame = self.downtime()
        if frame.empty:
            return _section("message", "no downtime planned", text="No phase plans any downtime.")
        from .timeline import service_labels

        names = service_labels(self.plan)   # escaped: plotly renders markup in labels
        labels = [f"{names.get(r.service, r.service)} ({r.level})" for r in frame.itertuples()]
        fig = go.Figure()
        # The palette's meanings: planned in the neutral grey (the plan of phases that did not
        # run dotted, after it on the same bar), actual in its impact level's colour and
        # pattern (as the timelines draw impacts), one legend entry a level.
        planned = palette.Swatch(palette.GREY, "", outline="#888888")
        unrun = palette.Swatch(palette.GREY, ".", outline="#888888")
        series = [("planned_minutes", "planned", planned, None),
                  ("planned_not_run_minutes", "planned, not run", unrun, None)] + [
            ("actual_minutes", f"actual, {level}", swatch, level)
            for level, swatch in palette.IMPACT.items()]
        ran = dict(zip(labels, frame["planned_minutes"], strict=True))
        for column, name, swatch, level in series:
            # No bar at all for no downtime (plotly draws even a None as a zero-width bar).
            shown = [(label, round(v, 1)) for label, v, lv in zip(
                labels, frame[column], frame["level"], strict=True)
                     if v > 0 and (level is None or lv == level)]
            if not shown:
                continue
            base = ([round(ran[y], 1) for y, _ in shown]
                    if column == "planned_not_run_minutes" else None)
            fig.add_trace(go.Bar(y=[y for y, _ in shown], x=[x for _, x in shown], name=name,
                                 orientation="h", marker=swatch.marker(), base=base,
                                 offsetgroup="planned" if level is None else "actual",
                                 hovertemplate="%{y}: %{x} min<extra>" + name + "</extra>"))
        fig.update_layout(barmode="group", height=120 + 40 * len(labels),
                          margin={"l": 10, "r": 10, "t": 40, "b": 40},
                          title="Downtime per service and impact level (minutes)",
                          xaxis_title="minutes",
                          yaxis={"autorange": "reversed", "type": "category",
                                 "categoryorder": "array", "categoryarray": labels},
                          legend={"orientation": "h"})
        return Figure(fig, "report-downtime", "downtime per service")

    # --- decisions, rollbacks, downtime --------------------------------------------------

    # --- steps -------------------------------------------------------------------------

    @cached_property
    def _step_log(self) -> Any:
        from .progress import replay_steps

        return replay_steps(self.plan, self.events)

    def late_rollbacks(self) -> list[tuple[str, int, timedelta]]:
        """(phase, attempt, how late) of each rollback started after its deadline (for a
        retry on another night, the deadline at the same point of a window from its start)."""
        return [(a.phase, a.number, a.late_rollback) for found in self.phase_outcomes.values()
                for a in found.attempts if a.late_rollback is not None]

    @cached_property
    def _step_rows(self) -> list[dict[str, Any]]:
        rows = []
        by_key: dict[tuple[str, int, str], list[Any]] = {}
        for run in self._step_log.runs:
            by_key.setdefault((run.phase, run.phase_attempt, run.step), []).append(run)
        for (phase_id, attempt, step_id), runs in by_key.items():
            phase = self._phases.get(phase_id)
            step = phase.graph.by_id.get(step_id) if phase else None
            if step is None:
                continue
            last = runs[-1]
            started = [r for r in runs if r.start is not None]
            took = None
            if last.outcome == "done" and last.start is not None:
                took = last.end - last.start
            elif last.outcome == "running" and last.start is not None:
                took = max(self.as_of - last.start, timedelta())
            rows.append({"phase": phase_id, "attempt": attempt, "step": step_id,
                         "name": step.name, "owner": step.owner, "planned": step.duration,
                         "took": took, "runs": runs, "outcome": last.outcome,
                         "tries": len(started),
                         "overrun": max((took or timedelta()) - step.duration, timedelta())})
        return rows

    def step_rows(self) -> list[dict[str, Any]]:
        """One row a (phase attempt, step) the log ticked: planned and actual duration, the
        overrun, the outcome, the runs (each with who and why)."""
        return list(self._step_rows)

    def steps(self) -> Html:
        """Per phase, each step planned vs actual: which overran and by how much, what was
        skipped or failed, with who and why; then the phase's step timeline."""
        from . import step_timeline
        from .timeline import figure_html

        rows = self.step_rows()
        if not rows:
            return _section("steps", "no steps", phases=[])
        parts = []
        for phase in self.plan.phases:
            mine = [r for r in rows if r["phase"] == phase.id]
            if not mine:
                continue
            cells = []
            for r in mine:
                notes = []
                for run in r["runs"]:
                    if run.outcome == "failed":
                        notes.append(f"failed at {self.when(run.end)} ({run.end_operator}): "
                                     f"{run.reason or '-'}")
                    elif run.outcome == "skipped":
                        notes.append(f"skipped by {run.operator}: {run.reason or '-'}")
                over = f"+{_length(r['overrun'])}" if r["overrun"] > timedelta() else "-"
                cells.append([r["attempt"], _lines(r["name"], f"({r['step']})"), r["owner"],
                              _length(r["planned"]),
                              _length(r["took"]) if r["took"] is not None else "-",
                              over, _badge(r["outcome"], {"done": "ok", "skipped": "muted",
                                                          "running": "warn"}.get(
                                  r["outcome"], "bad")),
                              _lines(*notes) if notes else "-"])
            runs = [run for run in self._step_log.runs if run.phase == phase.id]
            spec = step_timeline.figure(self.plan, phase, runs, now=self.as_of)
            # plotly's own div and script; every label in it was escaped by step_timeline.
            figure = Markup(figure_html(spec, include_plotlyjs=False,
                                        div_id=f"report-steps-{phase.id}"))
            parts.append({"name": phase.name, "rows": cells, "figure": figure})
        overran = sum(1 for r in rows if r["overrun"] > timedelta())
        return _section("steps", f"{len(rows)} steps ticked, {overran} overran", phases=parts)

    def decisions(self) -> Html:
        """Every event: who decided what, when, and why, with its notebook."""
        if not self.events and not self.unreadable:
            return _section("decisions", "no events", rows=[], ids=[])
        from .delivery import EVENTS as DELIVERIES

        rows, ids = [], []
        for e in self.events:
            if e.event in DELIVERIES:   # notice deliveries: listed under Notices, not decisions
                continue
            ids.append(event_anchor(e.seq))
            when = [self.when(e.at)]
            if e.source != "rehearsal" and abs((e.recorded_at - e.at).total_seconds()) > 300:
                # Back-filled: say when it was written as well as when it happened.
                when.append(f"(recorded {self.when(e.recorded_at)})")
            why = [e.reason or "-"]
            details = e.details if isinstance(e.details, dict) else {}
            if details.get("override"):
                listed = details.get("failed_checks")
                failed = ", ".join(map(str, listed if isinstance(listed, list) else [])) \
                    or "checks"
                why.append(f"override of failed pre-flight checks: {failed}")
            rows.append([e.seq, _lines(*when), self._phase_name(e.phase),
                         _badge(e.event, _event_kind(e.event)), e.operator, _lines(*why),
                         e.source])
        for bad in self.unreadable:
            ids.append("")
            rows.append([_printable(bad.seq), "-", "-", _badge("unreadable", "bad"), "-",
                         f"{bad.label} cannot be read: {_printable(bad.problem)}", "-"])
        return _section("decisions", f"{len(rows)} events", rows=rows, ids=ids)

    def approvals(self) -> Html:
        """Who approved each phase's go, as which role, when, and what became of it; and
        which decisions were signed."""
        from . import approvals

        rows = []
        for a in approvals.history(self.plan, self.events):
            ended = f" ({self.when(a.ended_at)}, #{a.ended_seq})" if a.ended_at else ""
            rows.append([a.seq, self._phase_name(a.phase), a.person, ", ".join(a.roles),
                         self.when(a.at), a.status + ended])
        signed = [e for e in self.events if e.signature]
        who = sorted({e.operator for e in signed})
        required = [p for p in self.plan.phases if approvals.required_roles(self.plan, p.id)]
        return _section("approvals", f"{len(rows)} approvals" if rows else "no approvals",
                        rows=rows, required=bool(required), signed=len(signed),
                        decisions=len(self.events), signers=who)

    def rollbacks(self) -> Html:
        """Each rollback: why, when it started and ended, how long it took against the plan."""
        rolled = self.windows[self.windows["outcome"].isin(["rolled-back", "rolling-back"])]
        if rolled.empty:
            return _section("rollbacks", "no rollbacks", rows=[], ids=[])
        overdue = {(phase, attempt) for phase, attempt, _ in self.late_rollbacks()}
        rows, ids = [], []
        for _, a in rolled.iterrows():
            ids.append(rollback_anchor(a["phase"], a["attempt"]))
            phase = self._phases.get(a["phase"])
            started = a["rollback_start_utc"]
            event = self._event(a["phase"], "rollback", started)
            done = a["outcome"] == "rolled-back"
            if pd.isna(started):
                took = "-"
            elif done:
                took = _length(a["end_utc"] - started)
            else:
                took = f"still rolling back after {_length(pd.Timestamp(self.as_of) - started)}"
            late = ""
            if (a["phase"], int(a["attempt"])) in overdue:
                deadline = outcomes.rollback_deadline(
                    phase, pd.Timestamp(a["start_utc"]).to_pydatetime())
                late = f"started after the rollback deadline ({self.when(deadline)})"
            # A phase renamed or removed since its rollback keeps its row, under its old id.
            name = _lines(phase.name, f"({phase.id})") if phase is not None else \
                _lines(a["phase"], "(not in this plan revision)")
            planned = f"planned {_length(phase.rollback.duration)}" if phase is not None else ""
            rows.append([
                name, a["attempt"],
                _lines(event.reason or "-" if event else "-",
                       f"decided by {event.operator}" if event else ""),
                self.when(started) or "-",
                self.when(a["end_utc"]) if done else "-",
                _lines(took, planned, late),
            ])
        return _section("rollbacks", f"{len(rolled)} rollbacks", rows=rows, ids=ids)

    def downtime_table(self) -> Html:
        """Downtime per service at each impact level, planned against actual."""
        frame = self.downtime()
        planned, actual = self.customer_facing()
        if frame.empty:
            return _section("downtime", "no downtime", rows=[], sentence=self.downtime_sentence())
        names = {p.id: p.name for p in self.plan.phases}
        rows = []
        for r in frame.itertuples():
            left = _lines(_length(r.planned_not_run),
                          f"({', '.join(names.get(p, p) for p in r.phases_not_run)})") \
                if r.phases_not_run else "-"
            if r.ran:
                rows.append([r.service_name, _badge(r.level, r.level),
                             ", ".join(names.get(p, p) for p in r.phases), _length(r.planned),
                             _length(r.actual), _signed(r.difference_minutes), left])
            else:   # nothing that touches it ran: no comparison, so no "under"
                rows.append([r.service_name, _badge(r.level, r.level),
                             ", ".join(names.get(p, p) for p in r.phases), "-", "not run", "-",
                             left])
        return _section("downtime", f"customer-facing downtime {_length(actual)}", rows=rows,
                        sentence=self.downtime_sentence())

    # --- checks, audit, notebooks, notices ----------------------------------------------

    def checks(self) -> Html:
        """Pre-flight check results recorded with the events (details["checks"])."""
        rows = []
        for e in self.events:
            results = (e.details if isinstance(e.details, dict) else {}).get("checks")
            if not results or not isinstance(results, dict | list):
                continue
            items = results.items() if isinstance(results, dict) else \
                ((r.get("name", ""), r) for r in results if isinstance(r, dict))
            for name, r in items:
                r = r if isinstance(r, dict) else {"ok": bool(r)}
                ok = r.get("ok", r.get("passed"))
                rows.append([self.when(e.at), self._phase_name(e.phase), e.event, name,
                             f"{r.get('kind', '')} {r.get('target', '')}".strip(),
                             _badge("passed" if ok else "failed", "ok" if ok else "bad"),
                             r.get("detail", ""),
                             f"{r['elapsed']:.2f}s" if isinstance(r.get("elapsed"), int | float)
                             else ""])
        if not rows:
            return _section("checks", "no checks", rows=[])
        return _section("checks", f"{len(rows)} check results", rows=rows)

    def audit(self) -> Html:
        """The hash chain's verification: is the log as it was written?"""
        v = self.verification
        if v.ok:
            text = (f"Intact: {v.count} records; every record's hash matches its content and "
                    f"the one before it. Last hash: {v.last_hash or '-'}")
            return _section("audit", text, badge=_badge("verified", "ok"), text=text)
        text = f"BROKEN at record {v.first_bad}: {v.message}"
        return _section("audit", text, badge=_badge("tampered", "bad"), text=text)

    def notebooks(self) -> Html:
        """Links to the executed phase notebooks, relative to the report; each names its
        decision by number (its row in Decisions says when, who and why, not repeated here)."""
        rows = [[e.seq, self._notebook_link(e.notebook)] for e in self.events if e.notebook]
        if not rows:
            return _section("notebooks", "no notebooks", rows=[])
        return _section("notebooks", f"{len(rows)} notebooks", rows=rows)

    def notices(self) -> Html:
        """The customer notices sent, as the notices module kept them in the run folder."""
        lines = ", ".join(map(str, self.unreadable_notices[:20])) + \
            (" ..." if len(self.unreadable_notices) > 20 else "")
        rows = [[self.when(_instant(n.get("at"))), n.get("kind", ""),
                 self._phase_name(n["phase"]) if n.get("phase") else "-",
                 n.get("subject", ""), self._notebook_link(n.get("path", ""))]
                for n in self.sent_notices]
        return _section("notices", f"{len(rows)} notices" if rows else "no notices recorded",
                        rows=rows, unreadable=len(self.unreadable_notices), lines=lines)

    # --- helpers -------------------------------------------------------------------------

    def _phase_name(self, phase_id: str) -> str:
        phase = self._phases.get(phase_id)
        return phase.name if phase is not None else phase_id

    @cached_property
    def _events_of(self) -> dict[tuple[str, str], list[Any]]:
        """The events of each (phase, event), in log order."""
        grouped: dict[tuple[str, str], list[Any]] = {}
        for e in self.events:
            grouped.setdefault((e.phase, e.event), []).append(e)
        return grouped

    def _event(self, phase: str, event: str, at: Any) -> Any:
        found = self._events_of.get((phase, event), [])
        for e in found:
            if not pd.isna(at) and pd.Timestamp(e.at) == pd.Timestamp(at):
                return e
        return found[-1] if found else None

    def _store_shown(self) -> str:
        """The event store as the report shows it: a SQLite file relative to the run folder
        (a management report carries no machine's absolute paths), a URL as it is."""
        if "://" in self.store:
            return self.store
        return self._relative(self.store) + " (relative to the run folder)"

    def _relative(self, path: str | Path) -> str:
        """`path` relative to the run folder, '/'-separated; the file name alone if it is on
        another drive."""
        try:
            return Path(os.path.relpath(Path(path).resolve(), self.outputs.resolve())).as_posix()
        except (OSError, ValueError):
            return Path(path).name

    def _notebook_link(self, path: str) -> views.Link | str:
        """A link to `path` relative to the report's folder (text only if it is gone)."""
        if not path:
            return ""
        if not isinstance(path, str) or _printable(path) != path:
            # Recorded by an older version, or edited: shown as text, never opened (and only
            # its last part: no absolute path of the machine it came from).
            return f"{_printable(PurePath(path).name if isinstance(path, str) else path)} " \
                "(not a readable path)"
        try:
            target = Path(path)
            if not target.is_absolute():
                inside = self.outputs / target
                target = inside if inside.exists() else Path.cwd() / target
            relative = os.path.relpath(target.resolve(), self.outputs.resolve())
            exists = target.exists()
        except (OSError, ValueError):
            return f"{PurePath(path).name} (not a readable path)"
        href = quote(Path(relative).as_posix())
        label = Path(relative).as_posix()
        if label.startswith("../"):   # not in the run folder: its name, not the way there
            label = f"{Path(relative).name} (outside the run folder)"
        if not exists:
            return f"{label} (missing)"
        return views.Link(href, label)


def _instant(value: Any) -> datetime | None:
    if not value or not isinstance(value, str | datetime):
        return None
    try:
        return times.parse_instant(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _printable(value: Any, limit: int = 200) -> str:
    """Text read from outside (the log, the notices index) with control characters and bytes
    that were not UTF-8 shown as escapes, cut to `limit` characters."""
    from .events import printable

    return printable(value if isinstance(value, str) else repr(value), limit)


def _signed(minutes: float) -> str:
    """'2h 15m under plan', '40m over plan', 'as planned' (`outcomes.under_over_text`)."""
    return outcomes.under_over_text(timedelta(minutes=minutes))


def _counts_text(counts: dict[str, int], total: int) -> str:
    parts = [f"{n} {label}" for label, n in counts.items()]
    return f"{total} phases: " + ", ".join(parts)


def _event_kind(event: str) -> str:
    return {"complete": "ok", "go": "ok", "rollback": "bad", "rolled-back": "bad",
            "no-go": "warn", "start": "warn"}.get(event, "muted")


def _sent_notices(plan: Plan, outputs: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The notices kept in the run folder (`runbook notices ... --outputs`), oldest first,
    and the lines of its index that cannot be read."""
    from .notices import read_notices_index

    return read_notices_index(outputs)


def as_of_moment(as_of: str | datetime | None, events: list[Any]) -> datetime:
    """The moment attempts still running are counted to: `as_of`, or now (or the last event,
    if later: a rehearsal in simulated time). ReportError, one line, for an `as_of` that is
    not a time or is earlier than a recorded event (durations would come out negative)."""
    last = max(events, key=lambda e: e.at, default=None)
    if not as_of:
        return max([times.now(), *([last.at] if last else [])])
    try:
        moment = times.parse_instant(as_of)
    except ValueError as exc:
        raise ReportError(f"--as-of: {exc}") from None
    if last is not None and moment < last.at:
        raise ReportError(f"--as-of {times.format_iso_utc(moment)} is earlier than the last "
                          f"recorded event (#{last.seq}, {_printable(last.event)} of "
                          f"'{_printable(last.phase)}' at {times.format_iso_utc(last.at)}); "
                          "give a time at or after it, or leave --as-of out")
    return moment


def load(plan: str | os.PathLike[str] | Plan, outputs: str | os.PathLike[str] = "",
         store: str | None = None, as_of: str | datetime | None = None) -> Report:
    """Read the plan and its event log for the report.

    `plan`: a plan or its file; `outputs`: the run's folder (default outputs/<plan id>);
    relative paths are looked up as the phase notebook does. `store`: an event store URL
    (default $RUNBOOK_STORE, else the SQLite file in `outputs`); `as_of`: the moment attempts
    still running are counted to (naive: in the plan's zone; see `chronology.read_as_of`;
    default: now, or the last event if that is later, as in a
    rehearsal in simulated time).
    """
    from .events import open_log
    from .phase import locate_outputs, locate_plan
    from .states import actual_windows, replay

    # Relative paths work from JupyterLab (cwd runbooks/) and from the project folder alike.
    model = plan if isinstance(plan, Plan) else load_plan(locate_plan(plan))
    folder = locate_outputs(outputs or None, model)
    log = open_log(model, outputs=folder, store=store or None)
    try:
        # Whatever the log holds, the report renders: records that cannot be read are
        # marked (and the audit says the chain is broken), never a reason to fail.
        events, unreadable = log.read()
        verification = log.verify()
        location = log.location   # a server URL without its password
    finally:
        log.close()
    states = replay(model, events)
    windows = actual_windows(model, events)
    if as_of:
        from .chronology import read_as_of

        as_of = read_as_of(model, as_of, events, option="as_of")
    moment = as_of_moment(as_of, events)
    notices, bad_lines = _sent_notices(model, folder)
    return Report(plan=model, outputs=folder, events=events, windows=windows, states=states,
                  verification=verification, as_of=moment, store=location,
                  sent_notices=notices, unreadable=unreadable, unreadable_notices=bad_lines)


# --- rendering -----------------------------------------------------------------------------

def report_css() -> str:
    """The project's palette (templates/palette.css, shared with the notices, the status
    page and the Gantt page), the report's own screen and print rules, and the executive
    summary's."""
    return "\n".join([palette.STYLESHEET.read_text(encoding="utf-8")] + [
        (TEMPLATES / TEMPLATE / name).read_text(encoding="utf-8")
        for name in ("report.css", "summary.css")])


def _nbformat() -> Any:
    """nbformat, imported after papermill the way `execute.run` imports it: without jsonschema
    building the rfc3987 grammar, which costs a second at import and checks nothing a notebook
    uses. (`runbook report` imported nbformat first, and paid that second on every report.)"""
    from .execute import _import_papermill

    _import_papermill()
    import nbformat

    return nbformat


def export_html(notebook: Any, title: str) -> str:
    """The executed notebook as one offline HTML page: no code, no prompts, plotly.js once."""
    nbformat = _nbformat()
    from nbconvert import HTMLExporter
    from plotly.offline import get_plotlyjs

    nb = nbformat.from_dict(notebook) if isinstance(notebook, dict) else notebook
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            # Warnings and logs a library printed are not part of the story.
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    nb.metadata["title"] = title
    exporter = HTMLExporter(template_name=TEMPLATE, extra_template_basedirs=[str(TEMPLATES)],
                            exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"plotly_js": get_plotlyjs(),
                                                         "report_css": report_css()})
    return body


def _prepare(outputs: Path) -> None:
    """Create the outputs folder and prove it writable, before any work is done."""
    try:
        outputs.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".report-probe.", dir=outputs)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ReportError(f"{outputs}: cannot write the report there ({reason}); choose a "
                          "writable folder with --outputs") from None


def execute(plan_path: Path, outputs: Path, store: str | None, as_of: str | None,
            destination: Path, km: Any = None) -> Path:
    """Run runbooks/report.ipynb with papermill (execute.run) into `destination`.

    `km`: a running kernel to reuse, an `execute.Kernel` or a bare jupyter kernel manager.
    """
    from . import execute as runner

    parameters = {"plan": str(plan_path), "outputs": str(outputs.resolve()),
                  "store": store or "", "as_of": as_of or ""}
    kernel = km if km is None or hasattr(km, "manager") else _Borrowed(km)
    return runner.run("report", destination, parameters, kernel=kernel)


class _Borrowed:
    """A kernel manager someone else started and stops, in the shape `execute.run` takes."""

    def __init__(self, manager: Any):
        self.manager = manager


def render_report(plan: Plan, outputs: Path, store: str | None = None, pdf: bool = False,
                  km: Any = None, as_of: str | None = None) -> Path:
    """Execute the report notebook and export it; the path of `outputs/report.html`.

    Keeps the executed notebook as `outputs/report.ipynb`. Both are written through
    temporary files, so a failure leaves the previous report (or none), never half of one;
    a notebook that fails is kept as `outputs/report-failed.ipynb` for the post-mortem.
    With `pdf`, also prints `outputs/report.pdf` with headless Chromium. `km` is a running
    kernel to reuse (the rehearsal runs many notebooks in one kernel). `as_of` (ISO time)
    is the moment attempts still running are counted to (default: now).
    """
    nbformat = _nbformat()

    from .events import open_log

    outputs = Path(outputs)
    _prepare(outputs)
    for name in (HTML_NAME, NOTEBOOK_NAME) + ((PDF_NAME,) if pdf else ()):
        output_target(outputs / name)  # a folder or device there: refused before any work
    if not plan.source:
        raise ReportError(f"plan '{plan.id}' has no file to give the report notebook")
    with open_log(plan, outputs, store) as log:
        # An unreachable or foreign store fails here, in one line, cheaply; so does an
        # --as-of before the last event. Unreadable records are the report's to show.
        as_of_moment(as_of, log.read()[0])
    fd, tmp_name = tempfile.mkstemp(prefix=".report.", suffix=".ipynb", dir=outputs)
    os.close(fd)
    tmp = Path(tmp_name)
    target = outputs / HTML_NAME
    try:
        try:
            execute(Path(plan.source).resolve(), outputs, store, as_of, tmp, km=km)
        except RunbookError as exc:
            failed = outputs / "report-failed.ipynb"
            if tmp.exists() and tmp.stat().st_size:
                install(tmp, failed)
            raise ReportError(str(exc).replace(str(tmp), str(failed))) from None
        executed = nbformat.read(tmp, as_version=4)
        html = export_html(executed, f"{plan.title}: post-migration report")
        write_atomic(target, html)
        install(tmp, outputs / NOTEBOOK_NAME)
    except OSError as exc:
        raise ReportError(f"{outputs}: cannot write the report ({exc.strerror or exc})") \
            from None
    finally:
        tmp.unlink(missing_ok=True)
    if pdf:
        print_pdf(target, outputs / PDF_NAME)
    return target


def chromium() -> str | None:
    """The headless browser that prints the PDF, if one is installed."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(html: Path, pdf: Path, timeout: float = 180) -> Path:
    """Print `html` to `pdf` with headless Chromium (network not needed: the page is offline)."""
    browser = chromium()
    if browser is None:
        raise ReportError(f"{html} written; no PDF: Chromium is not installed (apt-get install "
                          "chromium, or run `make browser`)")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{pdf.name}.", suffix=".tmp", dir=pdf.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with tempfile.TemporaryDirectory(prefix="runbook-chromium-") as profile:
            result = subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu",
                 "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
                 # Figures lay out once, at the window width: make it the landscape page's.
                 "--window-size=1040,1400",
                 "--virtual-time-budget=10000", f"--user-data-dir={profile}",
                 f"--print-to-pdf={tmp}", html.resolve().as_uri()],
                capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if result.returncode != 0 or tmp.stat().st_size == 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise ReportError(f"{html} written; no PDF: Chromium failed ({last})")
        install(tmp, pdf)
    except subprocess.TimeoutExpired:
        raise ReportError(f"{html} written; no PDF: Chromium did not finish within "
                          f"{timeout:g}s") from None
    finally:
        tmp.unlink(missing_ok=True)
    return pdf
