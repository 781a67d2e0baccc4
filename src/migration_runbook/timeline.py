"""Timelines: the plan's windows and per-service impacts as plotly figures, and the tables beside.

plotly ignores UTC offsets, so every time is converted to naive wall-clock time in the display
zone (`times.wall`) just before plotting, and every bar is drawn as `base` = wall start plus its
real UTC duration: a window across a DST change is as long on the chart as it is in reality.
Text from the plan is escaped for plotly, which renders a subset of HTML in labels and hovers.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from . import times
from .plan import LEVELS, Phase, Plan

LEVEL_COLOURS = {"unavailable": "#d62728", "degraded": "#ff7f0e", "delayed": "#e3b505",
                 "unaffected": "#c3cbd3"}
"""Impact levels, worst first; unaffected is drawn faint."""
OUTCOME_COLOURS = {"completed": "#2ca02c", "rolled-back": "#9467bd",
                   "in-progress": "#1f77b4", "rolling-back": "#8c564b"}
"""Colours of actual attempts, by how they ended (or that they are still running)."""
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                 "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
"""Figure config: no link to plotly's site, no remote anything."""
ROW_HEIGHT = 26
LABEL_CHARS = 48


# --- text --------------------------------------------------------------------------------

def label(text: Any) -> str:
    """Plan text made safe for plotly labels and hovers: `<`, `>`, `&` become entities."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _wrapped(text: str, width: int = 72) -> str:
    """Escaped text broken into hover lines (plotly does not wrap)."""
    lines = textwrap.wrap(" ".join(str(text).split()), width) or [""]
    return "<br>".join(label(line) for line in lines)


def _short(text: str, chars: int = LABEL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= chars else text[:chars - 1] + "…"


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000.0


def _span_text(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """'Mon 7 Sep 21:00 NZST → Tue 8 Sep 01:00 NZST<br>UTC Mon 7 Sep 09:00 → 13:00'."""
    same_local = start.astimezone(zone).date() == end.astimezone(zone).date()
    same_utc = start.astimezone(times.UTC_ZONE).date() == end.astimezone(times.UTC_ZONE).date()
    return (f"{times.format_local(start, zone)} → {times.format_local(end, zone, not same_local)}"
            f"<br>UTC {times.format_utc(start)} → {times.format_utc(end, not same_utc)}")


def abbreviations(plan: Plan, tz: str | None = None) -> list[str]:
    """The zone abbreviations in force at the plan's window edges, in order: ['NZST', 'NZDT']."""
    zone = plan.display_zone(tz)
    out: list[str] = []
    for phase in plan.phases:
        for instant in (phase.start, phase.end):
            abbrev = times.abbreviation(instant, zone)
            if abbrev not in out:
                out.append(abbrev)
    return out


def axis_title(plan: Plan, tz: str | None = None) -> str:
    """'Time in Pacific/Auckland (NZST, NZDT)': the zone and the abbreviations in force."""
    zone = plan.display_zone(tz)
    return label(f"Time in {zone.key} ({', '.join(abbreviations(plan, tz))})")


def phase_labels(plan: Plan) -> dict[str, str]:
    """Row label of each phase: '1. Carrier Connection Migrations' (numbered, so unique)."""
    return {p.id: label(f"{i}. {_short(p.name)}") for i, p in enumerate(plan.phases, start=1)}


def service_labels(plan: Plan) -> dict[str, str]:
    """Row label of each service: its name, with the id where two services share a name."""
    names = [s.name for s in plan.services]
    return {s.id: label(_short(s.name) if names.count(s.name) == 1 else
                        f"{_short(s.name)} ({s.id})") for s in plan.services}


# --- actual windows ----------------------------------------------------------------------

@dataclass(frozen=True)
class Attempt:
    """One actual attempt at a phase, as drawn: `drawn_end` is `end`, or now while running."""

    phase: Phase
    number: int
    start: datetime
    end: datetime | None
    drawn_end: datetime
    outcome: str


def _instant(value: Any) -> datetime | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC").to_pydatetime()


def attempts(plan: Plan, actual: pd.DataFrame | None, now: datetime | None = None
             ) -> list[Attempt]:
    """The rows of `states.actual_windows` as drawable attempts (unknown phases are skipped).

    A running attempt is drawn up to `now`, but never past twice its planned length, so a
    rehearsal's back-dated attempt cannot stretch the axis to today.
    """
    if actual is None or len(actual) == 0:
        return []
    now = now or times.now()
    by_id = {p.id: p for p in plan.phases}
    out = []
    for row in actual.to_dict("records"):
        phase = by_id.get(str(row.get("phase")))
        start = _instant(row.get("start_utc"))
        if phase is None or start is None:
            continue
        end = _instant(row.get("end_utc"))
        drawn_end = end or min(max(now, start), start + 2 * phase.duration)
        attempt = row.get("attempt")
        number = int(attempt) if attempt is not None and not pd.isna(attempt) else 1
        outcome = str(row.get("outcome") or ("in-progress" if end is None else "completed"))
        out.append(Attempt(phase, number, start, end, drawn_end, outcome))
    return out


def _attempt_hover(attempt: Attempt, zone: ZoneInfo, title: str) -> str:
    p = attempt.phase
    ran = attempt.drawn_end - attempt.start
    ended = (f"{times.format_duration(ran)}, {attempt.outcome}" if attempt.end else
             f"running for {times.format_duration(ran)} ({attempt.outcome}, no end yet)")
    late = attempt.start - p.start
    lateness = ("on time" if abs(late) < timedelta(minutes=1) else
                f"{times.format_duration(abs(late))} {'late' if late > timedelta(0) else 'early'}")
    return (f"<b>{title}</b><br>actual, attempt {attempt.number}: {ended}<br>"
            f"{_span_text(attempt.start, attempt.drawn_end, zone)}<br>"
            f"started {lateness}; planned {times.format_local(p.start, zone)}")


# --- figures -----------------------------------------------------------------------------

def _layout(title: str, rows: list[str], zone_title: str, grouped: bool) -> dict[str, Any]:
    height = max(350, 180 + len(rows) * ROW_HEIGHT * (2 if grouped else 1))
    return dict(
        # The title sits at the top of the page and the legend just above the plot, with room
        # for a legend that wraps to two rows on a narrow page (or a printed one).
        title=dict(text=title, x=0, xanchor="left", y=1, yref="container", yanchor="top",
                   pad=dict(t=12)),
        barmode="group", scattermode="group", bargap=0.25, bargroupgap=0.05,
        height=height, margin=dict(l=10, r=20, t=105, b=60),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
        hoverlabel=dict(align="left"),
        xaxis=dict(type="date", title=dict(text=zone_title), showgrid=True,
                   gridcolor="#e5e8eb", tickformat="%a %-d %b\n%H:%M", automargin=True),
        yaxis=dict(type="category", categoryorder="array", categoryarray=rows,
                   autorange="reversed", automargin=True),
        plot_bgcolor="white",
    )


def _now_line(fig: go.Figure, now: datetime, spans: list[tuple[datetime, datetime]],
              zone: ZoneInfo) -> None:
    """A dotted 'now' line, only when now falls inside the plotted span."""
    if not spans or not (min(s for s, _ in spans) <= now <= max(e for _, e in spans)):
        return
    at = times.wall(now, zone)
    fig.add_shape(type="line", name="now", xref="x", yref="paper", x0=at, x1=at, y0=0, y1=1,
                  line=dict(color="#111111", width=2, dash="dot"))
    fig.add_annotation(name="now", x=at, xref="x", y=1, yref="paper", yanchor="top",
                       xanchor="left", showarrow=False, bgcolor="rgba(255,255,255,0.8)",
                       text=label(f"now {times.format_local(now, zone)}"), font=dict(size=11))


def windows_figure(plan: Plan, tz: str | None = None, actual: pd.DataFrame | None = None,
                   now: datetime | None = None) -> go.Figure:
    """One row a phase: its window coloured by the worst impact in it, a rollback-deadline mark.

    `actual`: the frame of `states.actual_windows` (phase, attempt, start_utc, end_utc,
    outcome); when it has rows, actual attempts are drawn beside the planned windows.
    `now` (UTC, default the current time) draws a line when it falls inside the plotted span.
    """
    zone = plan.display_zone(tz)
    now = now or times.now()
    labels = phase_labels(plan)
    tried = attempts(plan, actual, now)
    names = {s.id: s.name for s in plan.services}
    traces: list[Any] = []
    for level in LEVELS:
        phases = [p for p in plan.phases if p.worst_level == level]
        if not phases:
            continue
        hover = []
        for p in phases:
            impacts = "<br>".join(f"• {label(_short(names.get(i.service, i.service), 40))}: "
                                  f"{i.level}" for i in p.impacts) or "no impact listed"
            hover.append(
                f"<b>{labels[p.id]}</b><br>{_span_text(p.start, p.end, zone)}<br>"
                f"length {times.format_duration(p.duration)}; rollback "
                f"{times.format_duration(p.rollback.duration)}, start it by "
                f"{times.format_local(p.rollback_deadline, zone, with_date=False)}<br>"
                f"worst impact: {level}<br>{impacts}")
        traces.append(go.Bar(
            name=f"worst impact: {level}" if level != "unaffected" else "no impact",
            orientation="h", y=[labels[p.id] for p in phases],
            base=[times.wall(p.start, zone) for p in phases],
            x=[_ms(p.duration) for p in phases],
            marker=dict(color=LEVEL_COLOURS[level], line=dict(width=0)),
            offsetgroup="planned", alignmentgroup="rows", legendgroup=f"planned-{level}",
            hovertext=hover, hoverinfo="text"))
    traces.append(go.Scatter(
        name="rollback deadline", mode="markers", orientation="h",
        y=[labels[p.id] for p in plan.phases],
        x=[times.wall(p.rollback_deadline, zone) for p in plan.phases],
        marker=dict(symbol="line-ns-open", size=18, line=dict(width=3, color="#222222"),
                    color="#222222"),
        offsetgroup="planned", alignmentgroup="rows",
        hovertext=[f"<b>{labels[p.id]}</b><br>rollback deadline "
                   f"{times.format_both(p.rollback_deadline, zone)}<br>last moment to start "
                   f"the {times.format_duration(p.rollback.duration)} rollback:<br>"
                   f"{_wrapped(p.rollback.plan)}" for p in plan.phases],
        hoverinfo="text"))
    for outcome in OUTCOME_COLOURS:
        these = [a for a in tried if a.outcome == outcome]
        if these:
            traces.append(go.Bar(
                name=f"actual: {outcome}", orientation="h",
                y=[labels[a.phase.id] for a in these],
                base=[times.wall(a.start, zone) for a in these],
                x=[_ms(a.drawn_end - a.start) for a in these],
                marker=dict(color=OUTCOME_COLOURS[outcome], line=dict(width=0)),
                offsetgroup="actual", alignmentgroup="rows", legendgroup=f"actual-{outcome}",
                hovertext=[_attempt_hover(a, zone, labels[a.phase.id]) for a in these],
                hoverinfo="text"))
    rows = [labels[p.id] for p in plan.phases]
    title = label(f"{plan.title}: maintenance windows") + (" (planned and actual)" if tried
                                                            else "")
    fig = go.Figure(data=traces, layout=_layout(title, rows, axis_title(plan, tz), bool(tried)))
    spans = [(p.start, p.end) for p in plan.phases] + [(a.start, a.drawn_end) for a in tried]
    _now_line(fig, now, spans, zone)
    return fig


def steps_figure(plan: Plan, phase: Phase, runs: list[Any] | None = None,
                 now: datetime | None = None, tz: str | None = None,
                 title: str | None = None) -> go.Figure:
    """`step_timeline.figure` as a plotly figure (for `show` and HTML pages)."""
    from . import step_timeline

    return go.Figure(step_timeline.figure(plan, phase, runs, now, tz, title))


def impacts_figure(plan: Plan, tz: str | None = None, actual: pd.DataFrame | None = None,
                   now: datetime | None = None) -> go.Figure:
    """One row a service: a bar for each window that affects it, coloured by level.

    Impacts listed as 'unaffected' are drawn faint. With `actual` (see `windows_figure`), each
    attempt's real window is drawn, hatched, beside the planned bar of every affected service.
    """
    zone = plan.display_zone(tz)
    now = now or times.now()
    rows_of = service_labels(plan)
    phases = phase_labels(plan)
    tried = attempts(plan, actual, now)
    impacts = [(p, i) for p in plan.phases for i in p.impacts]
    traces: list[Any] = []
    for level in LEVELS:
        these = [(p, i) for p, i in impacts if i.level == level]
        if not these:
            continue
        traces.append(go.Bar(
            name=level, orientation="h", y=[rows_of[i.service] for _, i in these],
            base=[times.wall(p.start, zone) for p, _ in these],
            x=[_ms(p.duration) for p, _ in these],
            marker=dict(color=LEVEL_COLOURS[level], line=dict(width=0)),
            opacity=0.45 if level == "unaffected" else 1.0,
            offsetgroup="planned", alignmentgroup="rows", legendgroup=level,
            hovertext=[f"<b>{rows_of[i.service]}</b>: {level}<br>during {phases[p.id]}<br>"
                       f"{_span_text(p.start, p.end, zone)}<br>"
                       f"length {times.format_duration(p.duration)}<br>{_wrapped(i.detail)}"
                       for p, i in these],
            hoverinfo="text"))
    for level in LEVELS[:-1]:
        these_actual = [(a, i) for a in tried for i in a.phase.impacts if i.level == level]
        if these_actual:
            traces.append(go.Bar(
                name=f"actual: {level}", orientation="h",
                y=[rows_of[i.service] for _, i in these_actual],
                base=[times.wall(a.start, zone) for a, _ in these_actual],
                x=[_ms(a.drawn_end - a.start) for a, _ in these_actual],
                marker=dict(color=LEVEL_COLOURS[level], line=dict(width=1, color="#333333"),
                            pattern=dict(shape="/", fgcolor="#333333", solidity=0.25)),
                offsetgroup="actual", alignmentgroup="rows", legendgroup=f"actual-{level}",
                hovertext=[f"<b>{rows_of[i.service]}</b>: {level}<br>"
                           f"{_attempt_hover(a, zone, phases[a.phase.id])}"
                           for a, i in these_actual],
                hoverinfo="text"))
    rows = list(rows_of.values())
    title = label(f"{plan.title}: impact on each service") + (" (planned and actual)" if tried
                                                              else "")
    fig = go.Figure(data=traces, layout=_layout(title, rows, axis_title(plan, tz), bool(tried)))
    spans = [(p.start, p.end) for p in plan.phases] + [(a.start, a.drawn_end) for a in tried]
    _now_line(fig, now, spans, zone)
    return fig


# --- tables ------------------------------------------------------------------------------

def schedule_table(plan: Plan, tz: str | None = None) -> pd.DataFrame:
    """The schedule as display text: local times with their abbreviation, UTC, length, impacts."""
    zone = plan.display_zone(tz)
    rows = [{
        "#": i,
        "phase": p.name,
        "id": p.id,
        "window": f"{times.format_local(p.start, zone)} to {times.format_local(p.end, zone)}",
        "UTC": f"{times.format_utc(p.start)} to "
               f"{times.format_utc(p.end, with_date=p.start.date() != p.end.date())}",
        "length": times.format_duration(p.duration),
        "rollback by": times.format_local(p.rollback_deadline, zone, with_date=False),
        "depends on": ", ".join(p.depends_on) or "-",
        "worst impact": p.worst_level if p.impacts else "-",
    } for i, p in enumerate(plan.phases, start=1)]
    return pd.DataFrame(rows)


def impact_matrix(plan: Plan) -> pd.DataFrame:
    """Services x phases: the impact level of each phase on each service ('' if not listed)."""
    columns = [p.id for p in plan.phases]
    frame = pd.DataFrame("", index=[s.name for s in plan.services], columns=columns,
                         dtype=object)
    position = {s.id: k for k, s in enumerate(plan.services)}
    for j, p in enumerate(plan.phases):
        for impact in p.impacts:
            frame.iat[position[impact.service], j] = impact.level
    frame.index.name = "service"
    return frame


def notice_times(plan: Plan, tz: str | None = None) -> pd.DataFrame:
    """When each customer notice would go out (`notices.comms_schedule`), in `tz` or the plan's
    zone: one row a notice, in time order."""
    from .notices import comms_schedule  # notices pulls in Jinja2; only this table needs it

    zone = plan.display_zone(tz)
    rows = comms_schedule(plan)
    frame = pd.DataFrame({
        "kind": [r["notice"] for r in rows],
        "phase": [r["phase"] or "" for r in rows],
        "send_at_utc": [times.parse_instant(r["send_at_utc"]) for r in rows],
        "send_at": [times.format_both(times.parse_instant(r["send_at_utc"]), zone)
                    for r in rows],
        "about": [r["rule"] for r in rows],
    })
    return frame


class Table:
    """A frame shown in a notebook as an HTML table whose cells are escaped text, never markup."""

    def __init__(self, frame: pd.DataFrame, index: bool = False):
        self.frame, self.index = frame, index

    def _repr_html_(self) -> str:
        return self.frame.to_html(escape=True, index=self.index, na_rep="",
                                  classes="runbook-table", border=0)

    def __repr__(self) -> str:
        return self.frame.to_string(index=self.index)


# --- display -----------------------------------------------------------------------------

def figure_html(fig: go.Figure, include_plotlyjs: bool = False, div_id: str | None = None
                ) -> str:
    """The figure as an HTML div (no remote script, no MathJax); plotly.js inline if asked."""
    return pio.to_html(fig, full_html=False, include_plotlyjs=bool(include_plotlyjs),
                       include_mathjax=False, config=PLOTLY_CONFIG, div_id=div_id,
                       validate=False)


def plotly_js() -> str:
    """plotly.js from the installed plotly package: pages embed it, never fetch it."""
    return get_plotlyjs()


_shown = {"plotlyjs": False}


def mimebundle(fig: go.Figure, include_plotlyjs: bool) -> dict[str, Any]:
    """What `show` displays: text/html that draws offline (also after nbconvert), plotly's own
    MIME type for JupyterLab's plotly renderer, and a line of text."""
    title = getattr(fig.layout.title, "text", None) or "figure"
    return {
        "text/html": figure_html(fig, include_plotlyjs=include_plotlyjs),
        "application/vnd.plotly.v1+json": {**json.loads(pio.to_json(fig, validate=False)),
                                           "config": PLOTLY_CONFIG},
        "text/plain": f"<plotly figure: {title}>",
    }


def show(fig: go.Figure) -> None:
    """Display `fig` in a notebook so that it survives nbconvert to HTML and draws offline.

    plotly's default renderer in a papermill kernel emits a MIME type nbconvert drops, and its
    notebook renderer loads plotly.js through require.js from a CDN. Here the first figure of
    the kernel carries plotly.js inline, later ones only their div.
    """
    from IPython.display import display

    first = not _shown["plotlyjs"]
    display(mimebundle(fig, include_plotlyjs=first), raw=True)
    _shown["plotlyjs"] = True
