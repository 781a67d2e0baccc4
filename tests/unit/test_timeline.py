"""Timelines: bar geometry in real time, zones, colours, actual windows, now line, escaping."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from migration_runbook import gantt, palette, timeline
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE

HOUR_MS = 3_600_000

DST_PLAN = """
id: dst
title: Across a DST change
timezone: {zone}
services:
  - {{id: api, name: API}}
  - {{id: web, name: Web}}
phases:
  - id: night
    name: Night window
    start: {start}
    end: {end}
    impacts:
      - {{service: api, level: unavailable, detail: Down.}}
      - {{service: web, level: delayed}}
    rollback: {{duration: 30m, plan: Undo it.}}
"""

HOSTILE = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"> & <b>x</b>"

HOSTILE_PLAN = f"""
id: hostile
title: '{HOSTILE}'
timezone: Pacific/Auckland
services:
  - {{id: api, name: '{HOSTILE}'}}
phases:
  - id: one
    name: '{HOSTILE}'
    start: 2020-09-07 21:00
    end: 2020-09-08 01:00
    impacts:
      - {{service: api, level: unavailable, detail: '{HOSTILE}'}}
    rollback: {{duration: 30m, plan: '{HOSTILE}'}}
"""


@pytest.fixture
def example():
    return load_plan(EXAMPLE)


def _actual(*rows: tuple) -> pd.DataFrame:
    frame = pd.DataFrame([dict(phase=p, attempt=a, start_utc=s, end_utc=e, outcome=o)
                          for p, a, s, e, o in rows])
    for column in ("start_utc", "end_utc"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _bars(fig, group: str | None = None) -> list:
    """Bar traces; group 'planned' (planned windows and impacts) or 'actual' (attempts)."""
    def kind(bar) -> str:
        return "actual" if any("<br>attempt" in r or r.endswith("<br>actual")
                               for r in bar.y) else "planned"
    return [t for t in fig.data if t.type == "bar" and (group is None or kind(t) == group)]


def _by_name(bars: list) -> dict[str, list]:
    """Bar lengths by legend name, summed over the panels (one trace a name a panel)."""
    out: dict[str, list] = {}
    for bar in bars:
        out.setdefault(bar.name, []).extend(bar.x)
    return out


def _panel_rows(fig) -> list[list[str]]:
    axes = sorted((k for k in fig.layout.to_plotly_json() if k.startswith("yaxis")),
                  key=lambda k: int(k[5:] or 1))
    return [list(fig.layout[k].categoryarray) for k in axes]


def _strings(fig) -> str:
    """Every text plotly will render from this figure, as one JSON string."""
    return json.dumps(fig.to_plotly_json(), default=str)


PLANNED = "<br>planned"


@pytest.mark.parametrize("zone, start, end, real_hours, clock_hours", [
    # NZ daylight saving starts 27 Sep 2020 02:00 NZST -> 03:00 NZDT: 4 h on the clock, 3 real.
    ("Pacific/Auckland", "2020-09-27 00:30", "2020-09-27 04:30", 3, 4),
    # UK summer time ends 25 Oct 2020 02:00 BST -> 01:00 GMT: 3 h on the clock, 4 real.
    ("Europe/London", "2020-10-25 00:30", "2020-10-25 03:30", 4, 3),
])
def test_bar_across_a_dst_change_is_as_long_as_the_real_window(
        write_plan, zone, start, end, real_hours, clock_hours):
    plan = load_plan(write_plan(DST_PLAN.format(zone=zone, start=start, end=end)))
    assert plan.phases[0].duration == timedelta(hours=real_hours)
    for fig in (timeline.windows_figure(plan), timeline.impacts_figure(plan)):
        for bar in _bars(fig):
            assert list(bar.x) == [real_hours * HOUR_MS]
            assert bar.base[0] == datetime.fromisoformat(start)  # wall time, naive
            assert bar.base[0].tzinfo is None
    wall_end = datetime.fromisoformat(end)
    assert wall_end - datetime.fromisoformat(start) == timedelta(hours=clock_hours)


def test_ticks_across_a_dst_change_read_the_local_time_in_force(write_plan):
    plan = load_plan(write_plan(DST_PLAN.format(zone="Pacific/Auckland",
                                                start="2020-09-27 00:30",
                                                end="2020-09-27 04:30")))
    fig = timeline.windows_figure(plan)
    # one hour a tick of real time from 00:30 NZST; 02:30 NZST does not exist: 03:30 NZDT
    assert list(fig.layout.xaxis.ticktext) == [
        "00:30 NZST<br>Sun 27 Sep 2020", "01:30", "03:30 NZDT", "04:30"]
    assert list(fig.layout.xaxis2.ticktext) == ["12:30 UTC<br>Sat 26 Sep 2020", "13:30",
                                                "14:30", "15:30"]
    ticks = list(fig.layout.xaxis.tickvals)
    hours = [(b - a) / timedelta(hours=1) for a, b in zip(ticks, ticks[1:], strict=False)]
    assert hours == [1, 1, 1]  # evenly spaced: the axis is real time


def test_axis_title_names_the_zone_and_the_abbreviations_in_force(write_plan, example):
    plan = load_plan(write_plan(DST_PLAN.format(zone="Pacific/Auckland",
                                                start="2020-09-27 00:30",
                                                end="2020-09-27 04:30")))
    fig = timeline.windows_figure(plan)
    assert fig.layout.xaxis.title.text == "Time in Pacific/Auckland (NZST, NZDT)"
    assert timeline.impacts_figure(example).layout.xaxis.title.text == \
        "Time in Pacific/Auckland (NZST)"
    in_utc = timeline.windows_figure(example, tz="UTC")
    assert in_utc.layout.xaxis.title.text == "Time in UTC (UTC)"
    assert in_utc.layout.xaxis.type == "date"
    first = next(b for b in _bars(in_utc) if "1. Carrier" in "".join(b.y))
    assert first.base[list(first.y).index("1. Carrier Connection Migrations" + PLANNED)] == \
        datetime(2020, 9, 7, 9, 0)


def test_one_panel_a_night_ticked_on_the_windows_own_hours_with_a_utc_axis(example):
    fig = timeline.windows_figure(example, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert _panel_rows(fig) == [[f"{label}{PLANNED}"] for label in
                                timeline.phase_labels(example).values()]
    layout = fig.layout
    assert list(layout.xaxis.ticktext) == ["21:00 NZST<br>Mon 7 Sep 2020", "22:00", "23:00",
                                           "00:00<br>Tue 8 Sep", "01:00"]
    assert layout.xaxis.tickvals[0] == datetime(2020, 9, 7, 21, 0)
    assert layout.xaxis.range[0] < datetime(2020, 9, 7, 21) and \
        layout.xaxis.range[1] > datetime(2020, 9, 8, 1)
    assert (layout.xaxis.range[1] - layout.xaxis.range[0]) < timedelta(hours=5)
    # the top axis of each panel: the same instants in UTC
    utc = layout.xaxis5
    assert utc.overlaying == "x" and utc.side == "top"
    assert list(utc.tickvals) == list(layout.xaxis.tickvals)
    assert list(utc.ticktext) == ["09:00 UTC", "10:00", "11:00", "12:00", "13:00"]
    headings = [a.text for a in layout.annotations if a.xref == "paper"]
    assert headings == ["<b>Mon 7 Sep 2020</b> (NZST)", "<b>Tue 8 Sep 2020</b> (NZST)",
                        "<b>Wed 9 Sep 2020</b> (NZST)", "<b>Thu 10 Sep 2020</b> (NZST)"]


def test_bars_are_labelled_with_the_phase_and_their_times(example):
    fig = timeline.windows_figure(example)
    texts = [a.text for a in fig.layout.annotations if a.name in ("row", "bar")]
    assert texts[:2] == ["1. Carrier Connection Migrations, planned", "21:00–01:00 NZST"]


def test_each_window_is_coloured_and_patterned_by_the_worst_impact_in_it(example):
    fig = timeline.windows_figure(example)
    drawn = {}
    for bar in _bars(fig):
        for row in bar.y:
            drawn[row] = (bar.marker.color, bar.marker.pattern.shape)
    swatch = {level: (s.colour, s.pattern) for level, s in palette.IMPACT.items()}
    assert drawn == {
        "1. Carrier Connection Migrations" + PLANNED: swatch["delayed"],
        "2. Messaging Core Migration" + PLANNED: swatch["unavailable"],
        "3. Omni Web Interface Migration" + PLANNED: swatch["unavailable"],
        "4. API End-Point Migration" + PLANNED: swatch["unavailable"],
    }
    assert timeline.LEVEL_COLOURS["delayed"] == palette.IMPACT["delayed"].colour


def test_rollback_deadline_marker_for_every_phase(example):
    fig = timeline.windows_figure(example)
    marks = [t for t in fig.data if t.type == "scatter" and t.name == "rollback deadline"]
    assert sum(len(m.x) for m in marks) == 4
    assert marks[0].x[0] == datetime(2020, 9, 8, 0, 15)  # 01:00 NZST minus 45m
    assert "00:15 NZST (Mon 7 Sep 12:15 UTC)" in marks[0].hovertext[0]


def test_hover_gives_local_time_abbreviation_utc_length_and_impacts(example):
    row = "1. Carrier Connection Migrations" + PLANNED
    bar = next(b for b in _bars(timeline.windows_figure(example)) if row in b.y)
    hover = bar.hovertext[list(bar.y).index(row)]
    for part in ("Mon 7 Sep 21:00 NZST", "01:00 NZST", "UTC Mon 7 Sep 09:00 UTC → 13:00 UTC",
                 "length 4h", "Inbound messages (MO): delayed", "worst impact: delayed"):
        assert part in hover


def test_impacts_figure_has_a_bar_per_listed_impact_coloured_by_level(example):
    fig = timeline.impacts_figure(example)
    by_level = _by_name(_bars(fig))
    assert {name: len(x) for name, x in by_level.items()} == {
        "unavailable": 6, "degraded": 1, "delayed": 6, "unaffected": 3}
    for bar in _bars(fig):
        assert bar.marker.color == palette.IMPACT[bar.name].colour
        assert bar.marker.pattern.shape == palette.IMPACT[bar.name].pattern
        assert bar.opacity == (0.45 if bar.name == "unaffected" else 1.0)
    rows = [r for panel in _panel_rows(fig) for r in panel]
    assert set(rows) == {s.name for s in example.services}
    degraded = next(b for b in _bars(fig) if b.name == "degraded")
    assert degraded.y == ("REST API",)
    assert "Existing API applications should work normally" in degraded.hovertext[0]


def test_each_attempt_has_its_own_row_and_a_next_night_attempt_names_its_phase(example):
    actual = _actual(
        ("carrier-connections", 1, "2020-09-07 09:05", "2020-09-07 12:40", "completed"),
        ("messaging-core", 1, "2020-09-08 09:00", "2020-09-08 11:30", "rolled-back"),
        ("messaging-core", 2, "2020-09-09 09:00", None, "in-progress"))
    now = datetime(2020, 9, 9, 10, 0, tzinfo=UTC)
    fig = timeline.windows_figure(example, actual=actual, now=now)
    assert fig.layout.barmode == "overlay"  # rows of their own: nothing drawn side by side
    assert sum(len(b.x) for b in _bars(fig, "planned")) == 4
    assert _by_name(_bars(fig, "actual")) == {
        "completed": [(3 * 60 + 35) * 60_000],
        "rolled back": [2.5 * HOUR_MS],
        "in progress": [1 * HOUR_MS],  # running: drawn up to now
    }
    assert _panel_rows(fig) == [
        ["1. Carrier Connection Migrations" + PLANNED,
         "1. Carrier Connection Migrations<br>attempt 1: completed"],
        ["2. Messaging Core Migration" + PLANNED,
         "2. Messaging Core Migration<br>attempt 1: rolled back"],
        # the second attempt, drawn the next night, says whose attempt it is
        ["2. Messaging Core Migration<br>attempt 2: in progress",
         "3. Omni Web Interface Migration" + PLANNED],
        ["4. API End-Point Migration" + PLANNED]]
    completed = next(b for b in _bars(fig, "actual") if b.name == "completed")
    assert completed.marker.color == timeline.OUTCOME_COLOURS["completed"]
    assert completed.base[0] == datetime(2020, 9, 7, 21, 5)
    assert "5m late" in completed.hovertext[0]
    impacts = timeline.impacts_figure(example, actual=actual, now=now)
    # every affected (not 'unaffected') service of each attempt's phase gets an actual bar
    actual_rows = [r for b in _bars(impacts) for r in b.y if r.endswith("<br>actual")]
    assert len(actual_rows) == 3 + 4 + 4
    assert "planned and actual" in fig.layout.title.text


def test_planned_only_when_actual_is_empty_or_missing(example):
    empty = _actual(("x", 1, "2020-01-01", None, "in-progress")).iloc[0:0]
    for actual in (None, empty):
        fig = timeline.windows_figure(example, actual=actual)
        assert _bars(fig, "actual") == []
        assert "actual" not in fig.layout.title.text


def test_a_running_attempt_long_ago_does_not_stretch_the_axis_to_today(example):
    actual = _actual(("carrier-connections", 1, "2020-09-07 09:00", None, "in-progress"))
    fig = timeline.windows_figure(example, actual=actual,
                                  now=datetime(2025, 1, 1, tzinfo=UTC))
    assert list(_bars(fig, "actual")[0].x) == [8 * HOUR_MS]  # twice the planned 4h window


def test_an_attempt_years_after_the_plan_gets_its_own_panel_with_its_year(example):
    actual = _actual(("carrier-connections", 1, "2026-11-30 09:00", "2026-11-30 10:00",
                      "completed"))
    fig = timeline.windows_figure(example, actual=actual,
                                  now=datetime(2026, 11, 30, 9, 30, tzinfo=UTC))
    assert len(_panel_rows(fig)) == 5
    last = fig.layout.xaxis5
    assert last.ticktext[0] == "22:00 NZDT<br>Mon 30 Nov 2026"
    assert fig.layout.xaxis.ticktext[0] == "21:00 NZST<br>Mon 7 Sep 2020"
    assert last.title.text == "Time in Pacific/Auckland (NZDT)"  # that panel's own zone time
    assert fig.layout.xaxis.title.text == "Time in Pacific/Auckland (NZST)"
    assert [s.xref for s in fig.layout.shapes if s.name == "now"] == ["x5"]
    (hover,) = [h for b in _bars(fig, "actual") for h in b.hovertext]
    assert "2026: Mon 30 Nov 22:00 NZDT" in hover
    assert "planned Mon 7 Sep 2020 21:00 NZST" in hover


@pytest.mark.parametrize("now, drawn", [
    (datetime(2020, 9, 8, 11, 0, tzinfo=UTC), True),     # inside the second window
    (datetime(2020, 9, 7, 9, 0, tzinfo=UTC), True),      # the first window's start
    (datetime(2020, 9, 8, 20, 0, tzinfo=UTC), False),    # between two nights
    (datetime(2020, 9, 7, 8, 59, tzinfo=UTC), False),    # before the span
    (datetime(2020, 9, 10, 13, 1, tzinfo=UTC), False),   # after the span
])
def test_as_of_line_is_drawn_only_inside_a_night(example, now, drawn):
    for fig in (timeline.windows_figure(example, now=now),
                timeline.impacts_figure(example, now=now)):
        lines = [s for s in fig.layout.shapes if s.name == "now"]
        assert len(lines) == (1 if drawn else 0)
        if drawn:
            assert lines[0].x0 == now.astimezone(example.zone).replace(tzinfo=None)
            (note,) = [a for a in fig.layout.annotations if a.name == "now"]
            # in the empty band above the panel's first row (row 0 is at 0, the band at -1)
            assert note.yref == lines[0].yref.split()[0] and note.y < -0.8
            assert note.text.startswith("as of ") and "UTC)" in note.text


def test_now_line_span_includes_actual_windows(example):
    late = _actual(("api-endpoints", 1, "2020-09-10 09:00", "2020-09-10 15:00", "completed"))
    now = datetime(2020, 9, 10, 14, 0, tzinfo=UTC)  # after the plan, inside the overrun
    fig = timeline.windows_figure(example, actual=late, now=now)
    assert [s.name for s in fig.layout.shapes] == ["now"]


def test_markup_in_a_plan_is_escaped_in_labels_hovers_and_titles(write_plan):
    plan = load_plan(write_plan(HOSTILE_PLAN))
    for fig in (timeline.windows_figure(plan), timeline.impacts_figure(plan)):
        text = _strings(fig)
        assert "<script" not in text and "<img" not in text and "<b>x" not in text
        assert "&lt;script&gt;" in text and "&amp;" in text
        assert fig.layout.title.text.startswith("&lt;script&gt;")
    assert timeline.label("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_schedule_table_shows_local_time_with_abbreviation_and_utc(example):
    table = timeline.schedule_table(example)
    first = table.iloc[0]
    assert first["window"] == "Mon 7 Sep 21:00 NZST to Tue 8 Sep 01:00 NZST"
    assert first["UTC"] == "Mon 7 Sep 09:00 UTC to 13:00 UTC"
    assert first["rollback by"] == "00:15 NZST"
    assert list(table["#"]) == [1, 2, 3, 4]


def test_impact_matrix_is_services_by_phases(example):
    matrix = timeline.impact_matrix(example)
    assert list(matrix.columns) == [p.id for p in example.phases]
    assert list(matrix.index) == [s.name for s in example.services]
    assert matrix.loc["REST API"].tolist() == ["delayed", "unavailable", "degraded",
                                               "unavailable"]
    assert matrix.loc["Email2SMS"].tolist() == ["", "", "", "delayed"]


def test_notice_times_reminder_one_hour_before_each_window(example):
    notices = timeline.notice_times(example)
    assert list(notices["send_at_utc"]) == sorted(notices["send_at_utc"])
    reminders = notices[notices["kind"] == "reminder"]
    assert len(reminders) == 4
    for phase, (_, row) in zip(example.phases, reminders.iterrows(), strict=True):
        assert row["phase"] == phase.id
        assert row["send_at_utc"] == phase.start - timedelta(hours=1)
    assert reminders.iloc[0]["send_at"] == "Mon 7 Sep 20:00 NZST (08:00 UTC)"
    assert "1 hour before the window" in reminders.iloc[0]["about"]
    announcement = notices.iloc[0]
    assert announcement["kind"] == "announcement"
    assert announcement["send_at"] == "Mon 24 Aug 10:00 NZST (Sun 23 Aug 22:00 UTC)"
    assert (notices["kind"] == "completed").sum() == 4


def test_table_in_a_notebook_escapes_plan_text(write_plan):
    plan = load_plan(write_plan(HOSTILE_PLAN))
    html = timeline.Table(timeline.schedule_table(plan))._repr_html_()
    assert "<script" not in html and "&lt;script&gt;" in html


def test_show_embeds_plotlyjs_with_the_first_figure_only(example, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda b, raw=False: shown.append(b))
    monkeypatch.setitem(timeline._shown, "plotlyjs", False)
    timeline.show(timeline.windows_figure(example))
    timeline.show(timeline.impacts_figure(example))
    first, second = (b["text/html"] for b in shown)
    plotlyjs = timeline.plotly_js()
    assert first.count(plotlyjs) == 1 and "window.Plotly = Plotly" not in second
    for html in (first.replace(plotlyjs, ""), second):
        assert "Plotly.newPlot" in html
        assert "src=" not in html and "require(" not in html and "cdn" not in html.lower()
    assert shown[0]["application/vnd.plotly.v1+json"]["data"]


def test_page_embeds_plotlyjs_once_and_escapes_plan_text(write_plan):
    plan = load_plan(write_plan(HOSTILE_PLAN))
    html = gantt.render_gantt(plan, now=datetime(2020, 9, 7, 10, 0, tzinfo=UTC))
    plotlyjs = timeline.plotly_js()
    assert html.count(plotlyjs) == 1
    html = html.replace(plotlyjs, "")  # the rest is ours: no remote script, no plan markup
    assert "window.Plotly = Plotly" not in html
    assert not re.search(r"<(script|img|iframe|link)[^>]*(src|href)=", html)
    assert "<img" not in html and "<b>x" not in html
    assert html.count("<script>window.__pwned") == 0
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html  # title, table


def test_write_leaves_no_half_written_file_when_the_rename_fails(example, tmp_path,
                                                                 monkeypatch):
    target = tmp_path / "timeline.html"
    target.write_text("old page")

    def broken(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(gantt.OutputError, match="No space left on device"):
        gantt.write_gantt(example, target)
    assert target.read_text() == "old page"
    assert [p.name for p in tmp_path.iterdir()] == ["timeline.html"]


def test_outputs_without_an_event_log_draws_planned_only(example, tmp_path):
    actual, note = gantt.actual_windows(example, tmp_path)
    assert actual is None and "no event log" in note
    assert list(tmp_path.iterdir()) == []  # reading created nothing



@pytest.mark.parametrize("now", [datetime(2020, 9, 9, 10, 0, tzinfo=UTC),
                                 datetime(2020, 9, 1, 0, 0, tzinfo=UTC)])
def test_phase_notebook_draws_the_same_windows_without_plotly_objects_or_pandas(example, now):
    """The notebook sends `windows_spec` of `states.attempts` rows (no frame, no go.Figure):
    the same figure, key for key, as `windows_figure` of `states.actual_windows`."""
    from migration_runbook import phase, states
    from migration_runbook.events import Event

    def ev(seq: int, phase_id: str, event: str, at: str) -> Event:
        when = datetime.fromisoformat(at).replace(tzinfo=UTC)
        return Event(seq=seq, plan=example.id, phase=phase_id, event=event, operator="ann",
                     reason="", at=when, recorded_at=when, source="cli", notebook="")

    log = [ev(1, "carrier-connections", "go", "2020-09-07 08:50"),
           ev(2, "carrier-connections", "start", "2020-09-07 09:05"),
           ev(3, "carrier-connections", "complete", "2020-09-07 12:40"),
           ev(4, "messaging-core", "go", "2020-09-08 08:55"),
           ev(5, "messaging-core", "start", "2020-09-08 09:00"),
           ev(6, "messaging-core", "rollback", "2020-09-08 11:00"),
           ev(7, "messaging-core", "rolled-back", "2020-09-08 11:30"),
           ev(8, "messaging-core", "start", "2020-09-09 09:00")]
    for events in (log, log[:3], []):
        figure = phase.light_bundle(timeline.windows_figure(
            example, actual=states.actual_windows(example, events), now=now))
        spec = phase.light_bundle(timeline.windows_spec(
            example, actual=states.attempts(events), now=now))
        assert json.loads(json.dumps(spec)) == json.loads(json.dumps(figure))
        assert spec["text/plain"] == figure["text/plain"]
        assert spec["application/vnd.plotly.v1+json"]["layout"]["template"]  # plotly's look
