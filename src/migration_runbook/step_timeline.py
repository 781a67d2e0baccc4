"""A phase's step timeline as a plotly figure spec: planned vs actual, critical path, deadline.

Built as plain plotly JSON (`{"data": [...], "layout": {...}}`) without importing plotly or
pandas, so that the phase notebook draws it for the price of a few dictionaries (JupyterLab
renders the spec; `timeline.steps_figure` wraps it in a `go.Figure` for HTML pages). As in
`timeline`, times are naive wall-clock times in the display zone, and each bar is its wall
start plus its real duration, so a DST change does not stretch it.
"""

from __future__ import annotations

import html
import textwrap
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import times

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from .plan import Phase, Plan
    from .progress import StepRun

STEP_COLOURS = {"done": "#2ca02c", "failed": "#d62728", "running": "#1f77b4"}
"""Colours of actual step runs, by how they ended (or that they are still running)."""
PLANNED_COLOURS = {True: "#4a5561", False: "#c3cbd3"}
"""Planned slots: on the critical path (dark) or not."""
ROW_HEIGHT = 26
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                 "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
"""The same figure config as `timeline.PLOTLY_CONFIG` (that module imports plotly)."""


def _label(text: Any) -> str:
    """Text made safe for plotly labels and hovers (which render a subset of HTML)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _wrapped(text: str, width: int = 72) -> str:
    return "<br>".join(_label(line) for line in
                       textwrap.wrap(" ".join(str(text).split()), width) or [""])


def _wall(instant: datetime, zone: ZoneInfo) -> str:
    return times.wall(instant, zone).isoformat()


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000.0


def _span(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    same = start.astimezone(zone).date() == end.astimezone(zone).date()
    return (f"{times.format_local(start, zone)} → {times.format_local(end, zone, not same)}"
            f"<br>UTC {times.format_utc(start)} → {times.format_utc(end)}")


def _vertical(name: str, at: str, colour: str, dash: str, text: str, top: bool
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    shape = {"type": "line", "name": name, "xref": "x", "yref": "paper", "x0": at, "x1": at,
             "y0": 0, "y1": 1, "line": {"color": colour, "width": 2, "dash": dash}}
    note = {"name": name, "x": at, "xref": "x", "y": 1 if top else 0, "yref": "paper",
            "yanchor": "top" if top else "bottom", "xanchor": "left" if top else "right",
            "showarrow": False, "bgcolor": "rgba(255,255,255,0.8)",
            "font": {"size": 11, "color": colour}, "text": _label(text)}
    return shape, note


def figure(plan: Plan, phase: Phase, runs: list[StepRun] | None = None,
           now: datetime | None = None, tz: str | None = None, title: str | None = None
           ) -> dict[str, Any]:
    """One row a step of `phase`: its planned slot (the critical path darker), one bar per
    actual run of it (`progress.StepRun`s with a start: done, failed, or running to `now`), a
    cross where it was skipped, a dashed line at the rollback deadline and a dotted one at
    `now` (when it falls in the plotted span)."""
    zone = plan.display_zone(tz)
    now = now or times.now()
    graph = phase.graph
    planned = graph.planned(phase.start)
    critical = set(graph.critical_path())
    names = {s.id: _label(f"{' '.join(s.name.split())[:40]} ({s.id})") for s in graph.steps}
    data: list[dict[str, Any]] = []
    for on_path in (True, False):
        these = [s for s in graph.steps if (s.id in critical) == on_path]
        if these:
            data.append({
                "type": "bar", "orientation": "h",
                "name": "planned, critical path" if on_path else "planned",
                "y": [names[s.id] for s in these],
                "base": [_wall(planned[s.id][0], zone) for s in these],
                "x": [_ms(s.duration) for s in these],
                "marker": {"color": PLANNED_COLOURS[on_path], "line": {"width": 0}},
                "offsetgroup": "planned", "alignmentgroup": "rows", "legendgroup": "planned",
                "hoverinfo": "text",
                "hovertext": [f"<b>{names[s.id]}</b><br>planned {_span(*planned[s.id], zone)}"
                              f"<br>{times.format_duration(s.duration)}"
                              + ("; on the critical path" if on_path else "")
                              + (f"<br>owner: {_label(s.owner)}" if s.owner else "")
                              for s in these]})
    runs = [r for r in (runs or []) if r.phase == phase.id and r.step in names]
    drawn = []
    for outcome, colour in STEP_COLOURS.items():
        these = [r for r in runs if r.outcome == outcome and r.start is not None]
        if not these:
            continue
        ends = [r.end if r.end is not None else max(now, r.start) for r in these]
        drawn += list(zip([r.start for r in these], ends, strict=True))
        data.append({
            "type": "bar", "orientation": "h", "name": f"actual: {outcome}",
            "y": [names[r.step] for r in these],
            "base": [_wall(r.start, zone) for r in these],
            "x": [_ms(end - r.start) for r, end in zip(these, ends, strict=True)],
            "marker": {"color": colour, "line": {"width": 0}},
            "offsetgroup": "actual", "alignmentgroup": "rows",
            "legendgroup": f"actual-{outcome}", "hoverinfo": "text",
            "hovertext": [f"<b>{names[r.step]}</b> run {r.run}<br>{_span(r.start, end, zone)}"
                          f"<br>{outcome} (started by {_label(r.operator)})"
                          + (f"<br>{_wrapped(r.reason)}" if r.reason else "")
                          for r, end in zip(these, ends, strict=True)]})
    skipped = [r for r in runs if r.outcome == "skipped" and r.end is not None]
    if skipped:
        data.append({
            "type": "scatter", "mode": "markers", "name": "skipped",
            "y": [names[r.step] for r in skipped], "x": [_wall(r.end, zone) for r in skipped],
            "marker": {"symbol": "x", "size": 12, "color": "#7f7f7f"}, "hoverinfo": "text",
            "hovertext": [f"<b>{names[r.step]}</b> skipped by {_label(r.operator)} at "
                          f"{times.format_both(r.end, zone)}<br>{_wrapped(r.reason)}"
                          for r in skipped]})
    rows = [names[s.id] for s in graph.steps]
    heading = title or f"{phase.name}: steps planned" + (" and actual" if runs else "")
    abbrevs = list(dict.fromkeys(times.abbreviation(t, zone) for t in (phase.start, phase.end)))
    layout: dict[str, Any] = {
        "title": {"text": _label(heading), "x": 0, "xanchor": "left", "y": 1,
                  "yref": "container", "yanchor": "top", "pad": {"t": 12}},
        "barmode": "group", "bargap": 0.25, "bargroupgap": 0.05,
        "height": max(300, 180 + len(rows) * ROW_HEIGHT * (2 if runs else 1)),
        "margin": {"l": 10, "r": 20, "t": 105, "b": 60},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left",
                   "x": 0},
        "hoverlabel": {"align": "left"}, "plot_bgcolor": "white",
        "xaxis": {"type": "date", "showgrid": True, "gridcolor": "#e5e8eb",
                  "tickformat": "%a %-d %b\n%H:%M", "automargin": True,
                  "title": {"text": _label(f"Time in {zone.key} ({', '.join(abbrevs)})")}},
        "yaxis": {"type": "category", "categoryorder": "array", "categoryarray": rows,
                  "autorange": "reversed", "automargin": True},
    }
    deadline = phase.rollback_deadline
    shape, note = _vertical("rollback deadline", _wall(deadline, zone), "#d62728", "dash",
                            f"rollback deadline {times.format_local(deadline, zone, False)}",
                            top=False)
    shapes, notes = [shape], [note]
    spans = [(phase.start, phase.end), *drawn]
    if min(s for s, _ in spans) <= now <= max(e for _, e in spans):
        shape, note = _vertical("now", _wall(now, zone), "#111111", "dot",
                                f"now {times.format_local(now, zone)}", top=True)
        shapes.append(shape)
        notes.append(note)
    layout["shapes"], layout["annotations"] = shapes, notes
    return {"data": data, "layout": layout}


def bundle(spec: dict[str, Any]) -> dict[str, Any]:
    """A figure spec as the MIME bundle JupyterLab draws, with a text stand-in."""
    title = html.unescape(str(spec.get("layout", {}).get("title", {}).get("text", "figure")))
    return {"application/vnd.plotly.v1+json": {**spec, "config": PLOTLY_CONFIG},
            "text/plain": f"<plotly figure: {title}>"}
