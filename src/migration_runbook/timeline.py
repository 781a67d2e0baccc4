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
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from . import outcomes, palette, times
from .plan import Phase, Plan

if TYPE_CHECKING:  # imported where used: the phase notebook draws its windows without them
    import pandas as pd
    import plotly.graph_objects as go

LEVEL_COLOURS = {level: swatch.colour for level, swatch in palette.IMPACT.items()}
"""Impact levels, worst first (`palette.IMPACT`, where each also has its pattern)."""
OUTCOME_COLOURS = {outcome: swatch.colour for outcome, swatch in palette.OUTCOME.items()}
"""Colours of actual attempts, by how they ended (`palette.OUTCOME`)."""
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                 "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
"""Figure config: no link to plotly's site, no remote anything."""
ROW_HEIGHT = 38
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
    if type(value) is datetime and value.tzinfo is not None:  # rows of `states.attempts`
        return value.astimezone(UTC)
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC").to_pydatetime()


def attempts(plan: Plan, actual: pd.DataFrame | list[dict[str, Any]] | None,
             now: datetime | None = None) -> list[Attempt]:
    """The rows of `states.actual_windows` (or the plain rows of `states.attempts`, which
    need no pandas) as drawable attempts (unknown phases are skipped).

    A running attempt is drawn up to `now`, but never past twice its planned length, so a
    rehearsal's back-dated attempt cannot stretch the axis to today.
    """
    if actual is None or len(actual) == 0:
        return []
    now = now or times.now()
    by_id = {p.id: p for p in plan.phases}
    out = []
    for row in (actual if isinstance(actual, list) else actual.to_dict("records")):
        phase = by_id.get(str(row.get("phase")))
        start = _instant(row.get("start_utc"))
        if phase is None or start is None:
            continue
        end = _instant(row.get("end_utc"))
        drawn_end = end or min(max(now, start), start + 2 * phase.duration)
        attempt = row.get("attempt")
        number = int(attempt) if attempt is not None and not _missing(attempt) else 1
        outcome = str(row.get("outcome") or ("in-progress" if end is None else "completed"))
        out.append(Attempt(phase, number, start, end, drawn_end, outcome))
    return out


def _missing(value: Any) -> bool:
    if isinstance(value, int):
        return False
    import pandas as pd

    return bool(pd.isna(value))


def _attempt_hover(attempt: Attempt, zone: ZoneInfo, title: str) -> str:
    p = attempt.phase
    ran = attempt.drawn_end - attempt.start
    ended = (f"{times.format_duration(ran)}, {attempt.outcome}" if attempt.end else
             f"running for {times.format_duration(ran)} ({attempt.outcome}, no end yet)")
    lateness = outcomes.delay_text(outcomes.start_delay(p, attempt.start))
    span = _span_text(attempt.start, attempt.drawn_end, zone)
    planned = times.format_local(p.start, zone)
    if attempt.start.astimezone(zone).year != p.start.astimezone(zone).year:
        # 'Mon 30 Nov' against 'Mon 7 Sep' could be any year: say which
        span = f"{attempt.start.astimezone(zone).year}: {span}"
        at = p.start.astimezone(zone)
        planned = f"{_day(at, year=True)} {at:%H:%M} {at.tzname()}"
    return (f"<b>{title}</b><br>actual, attempt {attempt.number}: {ended}<br>{span}<br>"
            f"started {lateness}; planned {planned}")


# --- figures -----------------------------------------------------------------------------
#
# A figure is one panel per night: windows (and attempts) closer than NIGHT_GAP share a panel,
# so a 4-hour window is never a sliver on a week-long axis, and an attempt made years after the
# plan gets a panel of its own. Inside a panel the x axis is real elapsed time from the panel's
# first window (`_Panel.at`), drawn as wall-clock time in the display zone, ticked from that
# first window's start (the window's own hours), with the UTC time of the same instants on a
# second axis along the top. Planned windows and every attempt have rows of their own, labelled
# with the phase and the attempt, so a second attempt the next night never reads as the next
# phase. The as-of line's label sits in an empty band above the panel's first row.

NIGHT_GAP = timedelta(hours=6)
"""Windows further apart than this are drawn in separate panels (separate nights)."""
TICK_STEPS = [timedelta(minutes=m) for m in (15, 30, 60, 120, 180, 360, 720)] + \
    [timedelta(days=d) for d in (1, 2, 7, 14, 28)]
MAX_TICKS = 4
"""At most this many steps between ticks (five labels fit a phone's width)."""
PANEL_CHROME = 118
"""Pixels a panel needs around its rows: heading, UTC ticks, local ticks (two lines), title."""
TOP = 150
"""Pixels above the first panel: the figure title and a legend that may wrap on a phone."""


@dataclass
class _Bar:
    row: str
    start: datetime
    end: datetime
    legend: str
    swatch: palette.Swatch
    text: str
    hover: str
    opacity: float = 1.0


@dataclass
class _Mark:
    row: str
    at: datetime
    hover: str


@dataclass
class _Panel:
    start: datetime
    end: datetime
    bars: list[_Bar]
    marks: list[_Mark]
    rows: list[str]
    now: datetime | None = None

    def at(self, instant: datetime, zone: ZoneInfo) -> datetime:
        """Where an instant sits on this panel's axis: the first start's wall time plus the
        real time since it (so a window across a DST change is as long as it really is)."""
        return times.wall(self.start, zone) + (instant - self.start)


def nights(spans: list[tuple[datetime, datetime]], gap: timedelta = NIGHT_GAP
           ) -> list[tuple[datetime, datetime]]:
    """The spans merged into nights: those less than `gap` apart share one, in time order."""
    out: list[list[datetime]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1] + gap:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def _panels(bars: list[_Bar], marks: list[_Mark], order: list[str],
            now: datetime | None) -> list[_Panel]:
    panels = []
    for start, end in nights([(b.start, max(b.end, b.start)) for b in bars]):
        these = [b for b in bars if start <= b.start <= end]
        rows = [r for r in order if any(b.row == r for b in these)]
        inside = now if now is not None and start <= now <= end else None
        panels.append(_Panel(start, end, these, [m for m in marks if start <= m.at <= end
                                                 and m.row in rows], rows, inside))
    return panels


def _ticks(panel: _Panel, zone: ZoneInfo) -> tuple[list[datetime], list[datetime]]:
    """Tick instants from the panel's first window start, at a step giving <= MAX_TICKS."""
    span = panel.end - panel.start
    step = next((s for s in TICK_STEPS if span / s <= MAX_TICKS), TICK_STEPS[-1])
    count = int(span / step)
    instants = [panel.start + k * step for k in range(count + 1)]
    return instants, [panel.at(t, zone) for t in instants]


def _day(at: datetime, year: bool = False) -> str:
    return f"{at:%a} {at.day} {at:%b}" + (f" {at:%Y}" if year else "")


def _tick_text(instants: list[datetime], zone: ZoneInfo, utc: bool) -> list[str]:
    """'21:00 NZST<br>Mon 7 Sep 2020' on the first tick, the date again where it changes, the
    abbreviation again where it changes (DST); the UTC axis reads '09:00 UTC' likewise."""
    out, last_day, last_abbrev = [], None, None
    for k, instant in enumerate(instants):
        at = instant.astimezone(times.UTC_ZONE if utc else zone)
        abbrev = "UTC" if utc else at.tzname()
        text = f"{at:%H:%M}" + (f" {abbrev}" if abbrev != last_abbrev else "")
        if at.date() != last_day:
            text += f"<br>{_day(at, year=k == 0)}"
        if utc and k == 0:  # the top axis grows upwards: the label reads first
            text = f"{at:%H:%M} UTC" + (f"<br>{_day(at, year=True)}"
                                        if at.date() != instants[0].astimezone(zone).date()
                                        else "")
        out.append(text)
        last_day, last_abbrev = at.date(), abbrev
    return out


def _rank(legend: str) -> int:
    """Legend order: impact levels worst first, then outcomes, then the deadline mark."""
    keys = [*palette.IMPACT, *palette.OUTCOME]
    key = legend.replace("no impact", "unaffected").replace(" ", "-")
    return 100 + keys.index(key) if key in keys else 900


def _panel_zone_title(panel: _Panel, zone: ZoneInfo) -> str:
    """'Time in Pacific/Auckland (NZDT)': the abbreviations in force in this panel's bars."""
    abbrevs = list(dict.fromkeys(times.abbreviation(t, zone) for b in panel.bars
                                 for t in (b.start, b.end)))
    return label(f"Time in {zone.key} ({', '.join(abbrevs)})")


def _axis_id(k: int) -> str:
    return "" if k == 1 else str(k)


def _panel_figure(title: str, zone_title: str, bars: list[_Bar], marks: list[_Mark],
                  order: list[str], zone: ZoneInfo, now: datetime) -> go.Figure:
    """Bars and rollback marks drawn in one panel per night (see the comment above)."""
    import plotly.graph_objects as go

    return go.Figure(_panel_spec(title, zone_title, bars, marks, order, zone, now))


def _panel_spec(title: str, zone_title: str, bars: list[_Bar], marks: list[_Mark],
                order: list[str], zone: ZoneInfo, now: datetime) -> dict[str, Any]:
    """`_panel_figure` as plain plotly JSON data (`{"data": [...], "layout": {...}}`), built
    without plotly: the phase notebook sends it as is."""
    panels = _panels(bars, marks, order, now) or [
        _Panel(now, now, [], [], [])]
    plot_px = [round(max(1, len(p.rows) + 0.3 + (1 if p.now else 0)) * ROW_HEIGHT)
               for p in panels]
    height = TOP + sum(plot_px) + PANEL_CHROME * len(panels) + 10
    paper = height - TOP - 10
    traces: list[dict[str, Any]] = []
    shown: set[str] = set()
    layout: dict[str, Any] = {}
    annotations: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    top = 0.0  # pixels from the top of the paper
    for k, (panel, rows_px) in enumerate(zip(panels, plot_px, strict=True), start=1):
        x, y, u = f"x{_axis_id(k)}", f"y{_axis_id(k)}", f"x{len(panels) + k}"
        top += 62  # heading and the UTC ticks above the rows
        domain = [1 - (top + rows_px) / paper, 1 - top / paper]
        top += rows_px + PANEL_CHROME - 62
        pad = max((panel.end - panel.start) * 0.03, timedelta(minutes=10))
        span = [panel.at(panel.start - pad, zone), panel.at(panel.end + pad, zone)]
        instants, positions = _ticks(panel, zone)
        axis = dict(type="date", range=span, tickmode="array", tickvals=positions,
                    ticktext=_tick_text(instants, zone, utc=False), showgrid=True,
                    gridcolor="#e5e8eb", anchor=y, domain=[0, 1], automargin=False,
                    title=dict(text=_panel_zone_title(panel, zone) if len(panels) > 1
                               else zone_title, standoff=4, font=dict(size=12)),
                    ticks="outside", zeroline=False, tickangle=0, tickfont=dict(size=11))
        layout[f"xaxis{_axis_id(k)}"] = axis
        layout[f"xaxis{len(panels) + k}"] = dict(
            type="date", range=span, tickmode="array", tickvals=positions,
            ticktext=_tick_text(instants, zone, utc=True), overlaying=x, side="top",
            anchor=y, showgrid=False, ticks="outside", zeroline=False, automargin=False,
            tickangle=0, tickfont=dict(size=11, color="#4a5560"))
        band = 1 if panel.now else 0
        # Row labels are written above each row's bar, across the full width (a phone has
        # no room for a column of labels beside the bars); the category ticks are hidden.
        layout[f"yaxis{_axis_id(k)}"] = dict(
            type="category", categoryorder="array", categoryarray=panel.rows,
            range=[len(panel.rows) - 0.5, -0.8 - band], domain=domain, anchor=x,
            showticklabels=False, showgrid=False, fixedrange=True)
        for row in panel.rows:
            annotations.append(dict(
                name="row", x=0, xref=f"{x} domain", xanchor="left", y=row, yref=y,
                yanchor="bottom", yshift=ROW_HEIGHT * 0.27, showarrow=False, align="left",
                font=dict(size=11, color=palette.INK), text=row.replace("<br>", ", ")))
        for bar in panel.bars:  # its times, on a pale box so the pattern cannot hide them
            annotations.append(dict(
                name="bar", x=panel.at(bar.start, zone), xref=x, xanchor="left", xshift=3,
                y=bar.row, yref=y, yanchor="middle",
                showarrow=False, font=dict(size=10, color=palette.INK), text=bar.text,
                bgcolor="rgba(255,255,255,0.85)", borderpad=1))
        first = panel.start.astimezone(zone)
        annotations.append(dict(
            xref="paper", yref="paper", x=0, xanchor="left", y=domain[1], yanchor="bottom",
            yshift=40, showarrow=False, align="left", font=dict(size=13),
            text=f"<b>{_day(first, year=True)}</b> ({first.tzname()})"))
        # The UTC axis needs a trace of its own to be drawn: an invisible two-point line.
        traces.append(dict(type="scatter", x=span, y=[None, None], xaxis=u, yaxis=y,
                           mode="lines", hoverinfo="skip", showlegend=False, name="UTC axis"))
        for legend in dict.fromkeys(b.legend for b in panel.bars):
            these = [b for b in panel.bars if b.legend == legend]
            swatch = these[0].swatch
            traces.append(dict(
                type="bar", name=legend, orientation="h", xaxis=x, yaxis=y,
                y=[b.row for b in these], base=[panel.at(b.start, zone) for b in these],
                x=[_ms(b.end - b.start) for b in these], customdata=[b.text for b in these],
                marker=swatch.marker(), opacity=these[0].opacity, legendgroup=legend,
                showlegend=legend not in shown, hovertext=[b.hover for b in these],
                hoverinfo="text", width=0.52, offset=-0.26, legendrank=_rank(legend)))
            shown.add(legend)
        if panel.marks:
            traces.append(dict(
                type="scatter", name="rollback deadline", mode="markers", xaxis=x, yaxis=y,
                y=[m.row for m in panel.marks], x=[panel.at(m.at, zone) for m in panel.marks],
                marker=dict(symbol="line-ns-open", size=14, color=palette.DEADLINE,
                            line=dict(width=3, color=palette.DEADLINE)),
                legendgroup="deadline", showlegend="deadline" not in shown, legendrank=999,
                hovertext=[m.hover for m in panel.marks], hoverinfo="text"))
            shown.add("deadline")
        if panel.now is not None:
            at = panel.at(panel.now, zone)
            shapes.append(dict(type="line", name="now", xref=x, yref=f"{y} domain", x0=at,
                               x1=at, y0=0, y1=1, line=dict(color=palette.NOW, width=2,
                                                            dash="dot")))
            left = (panel.now - panel.start) < (panel.end - panel.start) / 2
            annotations.append(dict(
                name="now", x=at, xref=x, y=-1.15, yref=y, yanchor="middle",
                xanchor="left" if left else "right", xshift=3 if left else -3,
                showarrow=False, font=dict(size=11), bgcolor="rgba(255,255,255,0.9)",
                text=label(f"as of {times.format_local(panel.now, zone, with_date=False)} "
                           f"({times.format_utc(panel.now, with_date=False)})")))
    return {"data": traces, "layout": dict(
        title=dict(text=title, x=0, xanchor="left", y=1, yref="container", yanchor="top",
                   pad=dict(t=16), font=dict(size=15)),
        barmode="overlay", height=height, margin=dict(l=48, r=24, t=TOP, b=10),
        legend=dict(orientation="h", yanchor="top", y=1 + (TOP - 58) / paper, xanchor="left",
                    x=0,
                    font=dict(size=11)),
        hoverlabel=dict(align="left"), plot_bgcolor="white", showlegend=True,
        annotations=annotations, **({"shapes": shapes} if shapes else {}),  # as plotly drops []
        **layout)}


def _clock(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """'21:00–01:00 NZST' (both abbreviations when a DST change falls inside)."""
    a, b = start.astimezone(zone), end.astimezone(zone)
    first = f" {a.tzname()}" if a.tzname() != b.tzname() else ""
    return f"{a:%H:%M}{first}–{b:%H:%M} {b.tzname()}"


def row_labels(plan: Plan, tried: list[Attempt]) -> dict[tuple[str, int], str]:
    """Row label of the planned window (phase id, 0) and of each attempt (phase id, n):
    '2. Messaging Core Migration<br>attempt 2: rolled back'."""
    numbers = {p.id: i for i, p in enumerate(plan.phases, start=1)}
    out = {}
    for p in plan.phases:
        out[(p.id, 0)] = label(f"{numbers[p.id]}. {_short(p.name, 30)}") + "<br>planned"
    for a in tried:
        out[(a.phase.id, a.number)] = (label(f"{numbers[a.phase.id]}. {_short(a.phase.name, 30)}")
                                       + f"<br>attempt {a.number}: "
                                       + a.outcome.replace("-", " "))
    return out


def _row_order(plan: Plan, tried: list[Attempt], labels: dict[tuple[str, int], str]
               ) -> list[str]:
    order = []
    for p in plan.phases:
        order.append(labels[(p.id, 0)])
        order += [labels[(a.phase.id, a.number)] for a in sorted(tried, key=lambda a: a.number)
                  if a.phase.id == p.id]
    return order


def windows_figure(plan: Plan, tz: str | None = None, actual: pd.DataFrame | None = None,
                   now: datetime | None = None) -> go.Figure:
    """`windows_spec` as a plotly figure."""
    import plotly.graph_objects as go

    return go.Figure(windows_spec(plan, tz, actual, now))


def windows_spec(plan: Plan, tz: str | None = None,
                 actual: pd.DataFrame | list[dict[str, Any]] | None = None,
                 now: datetime | None = None) -> dict[str, Any]:
    """One panel a night; a row for each phase's planned window, coloured and patterned by the
    worst impact in it, with its rollback-deadline mark, and a row for each actual attempt,
    coloured and patterned by how it ended.

    `actual`: the frame of `states.actual_windows` (phase, attempt, start_utc, end_utc,
    outcome); when it has rows, actual attempts are drawn on rows below their phase's plan.
    `now` (UTC, default the current time) draws a labelled as-of line when it falls in a night.
    """
    zone = plan.display_zone(tz)
    now = now or times.now()
    names = phase_labels(plan)
    tried = attempts(plan, actual, now)
    rows = row_labels(plan, tried)
    services = {s.id: s.name for s in plan.services}
    bars: list[_Bar] = []
    for p in plan.phases:
        level = p.worst_level
        impacts = "<br>".join(f"• {label(_short(services.get(x.service, x.service), 40))}: "
                              f"{x.level}" for x in p.impacts) or "no impact listed"
        bars.append(_Bar(
            rows[(p.id, 0)], p.start, p.end,
            level if level != "unaffected" else "no impact",
            palette.IMPACT[level], _clock(p.start, p.end, zone),
            f"<b>{names[p.id]}</b>, planned<br>{_span_text(p.start, p.end, zone)}<br>"
            f"length {times.format_duration(p.duration)}; rollback "
            f"{times.format_duration(p.rollback.duration)}, start it by "
            f"{times.format_both(p.rollback_deadline, zone)}<br>"
            f"worst impact: {level}<br>{impacts}"))
    for a in tried:
        end = _clock(a.start, a.end or a.drawn_end, zone) if a.end else \
            f"{a.start.astimezone(zone):%H:%M}–… {a.start.astimezone(zone).tzname()}"
        bars.append(_Bar(rows[(a.phase.id, a.number)], a.start, a.drawn_end,
                         a.outcome.replace("-", " "),
                         palette.OUTCOME.get(a.outcome, palette.OUTCOME["in-progress"]),
                         end, _attempt_hover(a, zone, names[a.phase.id])))
    marks = [_Mark(rows[(p.id, 0)], p.rollback_deadline,
                   f"<b>{names[p.id]}</b><br>rollback deadline "
                   f"{times.format_both(p.rollback_deadline, zone)}<br>last moment to start "
                   f"the {times.format_duration(p.rollback.duration)} rollback:<br>"
                   f"{_wrapped(p.rollback.plan)}") for p in plan.phases]
    title = label(plan.title) + "<br>maintenance windows" + (", planned and actual" if tried
                                                              else "")
    return _panel_spec(title, axis_title(plan, tz), bars, marks,
                       _row_order(plan, tried, rows), zone, now)


def steps_figure(plan: Plan, phase: Phase, runs: list[Any] | None = None,
                 now: datetime | None = None, tz: str | None = None,
                 title: str | None = None) -> go.Figure:
    """`step_timeline.figure` as a plotly figure (for `show` and HTML pages)."""
    import plotly.graph_objects as go

    from . import step_timeline

    return go.Figure(step_timeline.figure(plan, phase, runs, now, tz, title))


def impacts_figure(plan: Plan, tz: str | None = None, actual: pd.DataFrame | None = None,
                   now: datetime | None = None) -> go.Figure:
    """One panel a night; a row for each service with a bar for each window that affects it,
    coloured and patterned by level ('unaffected' faint), and with `actual` (see
    `windows_figure`) a row below it, 'Service, actual', with each attempt's real window."""
    zone = plan.display_zone(tz)
    now = now or times.now()
    rows_of = service_labels(plan)
    phases = phase_labels(plan)
    number = {p.id: i for i, p in enumerate(plan.phases, start=1)}
    tried = attempts(plan, actual, now)
    bars: list[_Bar] = []
    for p in plan.phases:
        for x in p.impacts:
            bars.append(_Bar(
                rows_of[x.service], p.start, p.end, x.level, palette.IMPACT[x.level],
                f"{number[p.id]}. {_clock(p.start, p.end, zone)}",
                f"<b>{rows_of[x.service]}</b>: {x.level}<br>during {phases[p.id]}<br>"
                f"{_span_text(p.start, p.end, zone)}<br>"
                f"length {times.format_duration(p.duration)}<br>{_wrapped(x.detail)}",
                opacity=0.45 if x.level == "unaffected" else 1.0))
    actual_rows = {}
    for a in tried:
        for x in a.phase.impacts:
            if x.level == "unaffected":
                continue
            row = actual_rows.setdefault(x.service, rows_of[x.service] + "<br>actual")
            bars.append(_Bar(
                row, a.start, a.drawn_end, x.level, palette.IMPACT[x.level],
                f"{number[a.phase.id]}. attempt {a.number} "
                + (_clock(a.start, a.end, zone) if a.end else
                   f"{a.start.astimezone(zone):%H:%M}–… {a.start.astimezone(zone).tzname()}"),
                f"<b>{rows_of[x.service]}</b>: {x.level}<br>"
                f"{_attempt_hover(a, zone, phases[a.phase.id])}"))
    order = []
    for s in plan.services:
        order.append(rows_of[s.id])
        if s.id in actual_rows:
            order.append(actual_rows[s.id])
    title = label(plan.title) + "<br>impact on each service" + (", planned and actual"
                                                                  if tried else "")
    return _panel_figure(title, axis_title(plan, tz), bars, [], order, zone, now)


# --- tables ------------------------------------------------------------------------------

def schedule_table(plan: Plan, tz: str | None = None) -> pd.DataFrame:
    """The schedule as display text: local times with their abbreviation, UTC, length, impacts."""
    import pandas as pd

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
    import pandas as pd

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
    import pandas as pd

    from .notices import comms_schedule  # notices pulls in Jinja2; only this table needs it

    zone = plan.display_zone(tz)
    rows = [r for r in comms_schedule(plan) if r["send_at_utc"]]   # not the untimed ones
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
    import plotly.io as pio

    return pio.to_html(fig, full_html=False, include_plotlyjs=bool(include_plotlyjs),
                       include_mathjax=False, config=PLOTLY_CONFIG, div_id=div_id,
                       validate=False)


def plotly_js() -> str:
    """plotly.js from the installed plotly package: pages embed it, never fetch it."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


_shown = {"plotlyjs": False}


def mimebundle(fig: go.Figure, include_plotlyjs: bool) -> dict[str, Any]:
    """What `show` displays: text/html that draws offline (also after nbconvert), plotly's own
    MIME type for JupyterLab's plotly renderer, and a line of text."""
    import plotly.io as pio

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
