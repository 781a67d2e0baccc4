"""The phase runbook: what `runbooks/phase.ipynb` shows and does, one call a cell.

A `PhaseRun` is one decision about one phase: `review` (look, run the checks, record nothing)
or an event of the state machine (`go`, `no-go`, `start`, `complete`, `rollback`,
`rolled-back`, `note`). It shows the phase at a glance, its gate, the pre-flight checks, then
records the event or raises `EventRefused` with a one-line reason, and draws the progress so
far. Everything shown comes from the plan model and the event log; plan text is escaped.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import times
from .errors import EventRefused, RunbookError
from .execute import project_dir, runbooks_dir
from .plan import Phase, Plan, load_plan
from .states import EVENTS

if TYPE_CHECKING:
    from .checks import CheckResult
    from .events import Event, EventLog
    from .execute import Kernel

REVIEW = "review"
CHOICES = (REVIEW, *EVENTS)
"""What a phase run can do: look (`review`, records nothing) or record an event."""
CHECKED = ("go", REVIEW)
"""The events before which the pre-flight checks run."""


# --- paths ------------------------------------------------------------------------------------

def base_dir() -> Path:
    """Where relative paths start: the current folder, or the project folder when the notebook
    runs inside runbooks/ (JupyterLab starts kernels beside the notebook)."""
    cwd = Path.cwd()
    try:
        if cwd.resolve() == runbooks_dir().resolve():
            return project_dir()
    except RunbookError:
        pass
    return cwd


def locate_plan(path: str | os.PathLike[str]) -> Path:
    """`path` as given when it exists, else relative to runbooks/ or to the project folder.

    So the notebook's default `../data/omni-hosting-2020.yaml` works from JupyterLab (in
    runbooks/) and from papermill run in the project folder alike.
    """
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists():
        return given
    for root in _roots():
        if (root / given).exists():
            return (root / given).resolve()
    return given


def _roots() -> list[Path]:
    try:
        return [runbooks_dir(), project_dir()]
    except RunbookError:
        return []


def locate_outputs(outputs: str | os.PathLike[str] | None, plan: Plan) -> Path:
    """The outputs folder: `outputs` (default `outputs/<plan id>`) from `base_dir()`."""
    from .events import default_outputs

    folder = Path(outputs).expanduser() if outputs else default_outputs(plan)
    return folder if folder.is_absolute() else base_dir() / folder


# --- what a notebook displays ----------------------------------------------------------------

@dataclass
class View:
    """A block for the notebook: HTML from templates/phase/view.html.j2 (autoescaped), and the
    same as plain text."""

    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str) -> View:
        self.blocks.append(("h", text))
        return self

    def line(self, text: str, strong: bool = False) -> View:
        self.blocks.append(("b" if strong else "p", text))
        return self

    def table(self, columns: list[str], rows: list[list[Any]]) -> View:
        self.blocks.append(("table", (columns, rows)))
        return self

    def _repr_html_(self) -> str:
        from . import views

        blocks = [(kind, ([_text(c) for c in value[0]], [[_text(c) for c in row]
                                                         for row in value[1]])
                   if kind == "table" else _text(value)) for kind, value in self.blocks]
        return str(views.render("phase/view.html.j2", blocks=blocks))

    def __repr__(self) -> str:
        out = []
        for kind, value in self.blocks:
            if kind == "table":
                columns, rows = value
                out.append(" | ".join(columns))
                out.extend(" | ".join(_text(cell) for cell in row) for row in rows)
            else:
                out.append(str(value))
        return "\n".join(out)


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def one_line_errors() -> None:
    """In IPython, show a `RunbookError` (a refusal) as its one line, not a traceback.

    The cell still fails, so papermill stops and reports the error's name and message.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # not in a notebook
        return
    shell = get_ipython()
    if shell is None:
        return

    def handler(shell: Any, etype: type, value: BaseException, tb: Any,
                tb_offset: int | None = None) -> list[str]:
        # `_showtraceback` is IPython's hook for showing a prepared traceback (ipykernel
        # sends it as the cell's error output); the prepared one is just "Name: message".
        shell._showtraceback(etype, value, shell.InteractiveTB.get_exception_only(etype, value))
        return []

    shell.set_custom_exc((RunbookError,), handler)


# --- one run ---------------------------------------------------------------------------------

@dataclass
class PhaseRun:
    """One execution of the phase notebook: a plan, a phase, an event and who asks for it."""

    plan: Plan
    phase: Phase
    event: str
    operator: str = ""
    reason: str = ""
    outputs: Path = Path("outputs")
    at: datetime | None = None
    source: str = "notebook"
    notebook: str = ""
    store: str | None = None
    results: list[CheckResult] | None = None
    recorded: Event | None = None
    at_typed: str = ""
    """`at` as the operator typed it (shown beside how it was read)."""
    sign: str = ""

    @property
    def records(self) -> bool:
        """Whether this run writes to the log (every event but `review`)."""
        return self.event != REVIEW

    @contextmanager
    def log(self) -> Iterator[EventLog]:
        from .events import open_log

        log = open_log(self.plan, self.outputs, self.store)
        try:
            yield log
        finally:
            log.close()

    # The phase at a glance ---------------------------------------------------------------------

    def glance(self) -> View:
        """Window (local with abbreviation, and UTC), impacts, rollback plan and deadline,
        checklist."""
        plan, p, zone = self.plan, self.phase, self.plan.zone
        order = [x.id for x in plan.phases].index(p.id) + 1
        names = {s.id: s.name for s in plan.services}
        view = View().heading(f"Phase {order} of {len(plan.phases)}: {p.name} ({p.id})")
        if p.description:
            view.line(p.description)
        view.table(["", ""], [
            ["plan", f"{plan.title} ({plan.id}, revision {plan.revision})"],
            ["window", f"{times.format_both(p.start, zone)} to {times.format_both(p.end, zone)}"],
            ["length", times.format_duration(p.duration)],
            ["depends on", ", ".join(p.depends_on) or "nothing"],
            ["worst impact", p.worst_level],
            ["rollback", f"takes {times.format_duration(p.rollback.duration)}; start it by "
                         f"{times.format_both(p.rollback_deadline, zone)} at the latest"],
            ["this run", f"{self.event}" + (f" by {self.operator}" if self.operator else "")
             + (f" at {times.format_both(self.at, zone)}" if self.at else "")],
            *([["time typed", times.describe_typed(self.at_typed, self.at, zone)]]
              if self.at and self.at_typed else []),
        ])
        view.line("Impacts", strong=True)
        if p.impacts:
            view.table(["service", "level", "what customers notice"],
                       [[f"{names.get(i.service, i.service)} ({i.service})", i.level, i.detail]
                        for i in p.impacts])
        else:
            view.line("No impact listed.")
        view.line("Rollback plan", strong=True).line(p.rollback.plan)
        view.line("Checklist", strong=True)
        if p.steps:
            graph = p.graph
            planned, critical = graph.planned(p.start), set(graph.critical_path())
            rows = [[s.id, s.name, s.owner, ", ".join(s.after) or "-",
                     times.format_duration(s.duration),
                     f"{times.format_local(planned[s.id][0], zone, with_date=False)} - "
                     f"{times.format_local(planned[s.id][1], zone, with_date=False)}",
                     "yes" if s.id in critical else ""] for s in graph.steps]
            view.table(["id", "step", "owner", "after", "takes", "planned", "critical path"],
                       rows)
        else:
            view.line("No steps listed.")
        return view

    # The gate ----------------------------------------------------------------------------------

    def gate(self) -> View:
        """Each dependency and its state, the gate, this phase's state and what it allows."""
        from .states import allowed_events, gate

        with self.log() as log:
            states = log.states()
            refusal = self._refusal(log) if self.records else None
            events = log.events(self.phase.id)
        phase_gate = gate(self.plan, states, self.phase.id)
        state = states.get(self.phase.id, "planned")
        view = View().heading(f"'{self.phase.id}' is {state}; gate: {phase_gate.reason()}")
        if self.phase.depends_on:
            names = {p.id: p.name for p in self.plan.phases}
            view.table(["dependency", "name", "state", "ready"],
                       [[dep, names.get(dep, dep), states.get(dep, "planned"),
                         "yes" if states.get(dep) == "completed" else "no"]
                        for dep in self.phase.depends_on])
        else:
            view.line("No dependencies: the gate is always open.")
        allowed = [e for e in allowed_events(state) if e != "go" or phase_gate.is_open]
        view.line(f"Events allowed now: {', '.join(allowed) or 'none'}")
        self._approvals(view, events)
        if not self.records:
            view.line("This is a review: nothing will be recorded.", strong=True)
        elif refusal:
            view.line(f"'{self.event}' will be refused: {refusal}", strong=True)
        else:
            view.line(f"'{self.event}' is allowed.", strong=True)
        return view

    def _approvals(self, view: View, events: list[Event]) -> None:
        """Who must approve the go, who has (and when), and what became of each approval."""
        from . import approvals

        roles = approvals.required_roles(self.plan, self.phase.id)
        rows = approvals.rows(self.plan, events, self.phase.id)
        if not roles and not rows:
            return
        info = approvals.summary(self.plan, events, self.phase.id)
        view.line(f"Approvals the go needs: {', '.join(roles) or 'none'}; missing: "
                  f"{', '.join(info['missing']) or 'none'}", strong=True)
        if rows:
            view.table(["#", "approved by", "roles", "at", "status"],
                       [[r["seq"], r["by"], ", ".join(r["roles"]), r["at"],
                         r["status"] + (f" ({r['ended']})" if r["ended"] else "")]
                        for r in rows])

    def _refusal(self, log: EventLog) -> str | None:
        try:
            log.check(self.phase.id, self.event, at=self.at, reason=self.reason,
                      source=self.source, operator=self.operator)
        except EventRefused as exc:
            return str(exc)
        return None

    # Pre-flight checks -------------------------------------------------------------------------

    def checks(self) -> View:
        """Run the phase's checks (for `go` and `review`) and show their results."""
        from .checks import run_checks

        view = View()
        if self.event not in CHECKED:
            return view.line(f"Pre-flight checks run before go (and in a review), not before "
                             f"'{self.event}'.")
        if not self.phase.checks:
            self.results = []
            return view.line("This phase lists no pre-flight checks.")
        if self.event == "go":
            with self.log() as log:
                refusal = self._refusal(log)
            if refusal:
                return view.line(f"Not run: go is refused whatever they say ({refusal}).")
        self.results = run_checks(self.phase.checks)
        failed = [r for r in self.results if not r.ok]
        view.table(["check", "kind", "target", "result", "detail", "took"],
                   [[r.name, r.kind, r.target, "ok" if r.ok else "FAILED", r.detail,
                     f"{r.elapsed:.2f}s"] for r in self.results])
        if not failed:
            view.line(f"All {len(self.results)} checks passed.", strong=True)
        elif self.event == "go" and self.reason.strip():
            view.line(f"{len(failed)} failed; the go will be recorded as an override "
                      f"with the reason: {self.reason}", strong=True)
        else:
            view.line(f"{len(failed)} of {len(self.results)} failed: go would be refused "
                      "unless a reason to override is given.", strong=True)
        return view

    # The event ---------------------------------------------------------------------------------

    def record(self) -> View:
        """Record the event (checked again atomically by the log) or raise `EventRefused`."""
        from .checks import go_details, run_checks

        if not self.records:
            return View().line("Review only: nothing recorded.", strong=True)
        details: dict[str, Any] = {}
        if self.event == "go":
            with self.log() as log:
                # the gate first: its reason is the real one
                log.check(self.phase.id, "go", at=self.at, reason=self.reason,
                          source=self.source, operator=self.operator)
            if self.results is None:
                self.results = run_checks(self.phase.checks)
            details = go_details(self.phase, self.results, self.reason)
        with self.log() as log:
            self.recorded = log.record(self.phase.id, self.event, self.operator,
                                       reason=self.reason, at=self.at, source=self.source,
                                       notebook=self.notebook, details=details,
                                       sign=self.sign or None)
        ev, zone = self.recorded, self.plan.zone
        view = View().heading(f"Recorded: {ev.event} of '{ev.phase}' (event #{ev.seq})")
        rows = [["by", ev.operator], ["at", times.format_both(ev.at, zone)],
                ["recorded at", times.format_both(ev.recorded_at, zone)],
                ["reason", ev.reason or "-"], ["source", ev.source],
                ["notebook", ev.notebook or "-"], ["hash", ev.hash[:16]],
                ["signed", "yes (ssh-keygen -Y sign)" if ev.signature else "no"]]
        if ev.login:
            rows.append(["database login", ev.login])
        if ev.event == "approve":
            rows.append(["approves as", ", ".join(ev.details.get("roles", []))])
        if ev.details.get("approvals"):
            rows.append(["approved by", ", ".join(
                f"{role}: {a.get('by')} (#{a.get('seq')})"
                for role, a in ev.details["approvals"].items() if isinstance(a, dict))])
        if ev.details.get("override"):
            rows.append(["override", "go despite failed checks: "
                         + ", ".join(ev.details.get("failed_checks", []))])
        return view.table(["", ""], rows)

    # Progress so far ---------------------------------------------------------------------------

    def progress(self) -> View:
        """Every phase's state and gate, planned start and the latest attempt's actual times,
        with its start delay and overrun as `runbook status` and the report state them
        (`outcomes.py`), and "deferred" or "not run" for a phase that has not run."""
        from .states import attempts, status_rows

        with self.log() as log:
            events = log.events()
        zone = self.plan.zone
        latest = {a["phase"]: a for a in attempts(events)}
        rows = []
        for row, p in zip(status_rows(self.plan, events, now=self._now()), self.plan.phases,
                          strict=True):
            attempt = latest.get(p.id, {})
            state = row["state"] + (f" ({row['outcome'].replace('-', ' ')})"
                                    if row["outcome"] in ("deferred", "not-run") else "")
            rows.append([row["order"], p.id, state, row["gate"],
                         times.format_both(p.start, zone), _when(attempt.get("start_utc"), zone),
                         _when(attempt.get("end_utc"), zone),
                         row["start_delay_text"] if attempt else "-", row["overrun_text"]])
        return View().table(["#", "phase", "state", "gate", "planned start", "actual start",
                             "actual end", "start", "overrun"], rows)

    def steps(self) -> None:
        """Display the steps on the clock (`steps_view`) and their timeline (`step_timeline`):
        one cell, since papermill's save after every cell costs more than either."""
        from IPython.display import display

        with self.log() as log:
            events = log.events()
        display(self.steps_view(events))
        self.step_timeline(events)

    def steps_view(self, events: list[Event] | None = None) -> View:
        """This phase on the clock (`clock`): its steps' states, the forecast, the countdowns
        to the rollback deadline and the window's end, and any warning."""
        from .clock import clocks

        if events is None:
            with self.log() as log:
                events = log.events()
        zone = self.plan.zone
        clock = clocks(self.plan, events, self._now())[self.phase.id]
        if not clock.steps:
            return View().line("This phase lists no steps.")
        view = View().heading(f"Steps: {clock.steps_done} of {len(clock.steps)} done or "
                              f"skipped" + (f"; running: {', '.join(clock.running)}"
                                            if clock.running else "")
                              + f" ({clock.state}, as of "
                              f"{times.format_both(clock.as_of, zone)})")
        for warning in clock.warnings:
            view.line(f"{warning.code}: {warning.message}", strong=True)
        if clock.in_progress:
            left = clock.to_rollback_deadline
            view.line(
                f"Forecast end of the steps: {_when(clock.forecast_end, zone)}; rollback "
                f"deadline {_left(left)}; window end {_left(clock.to_window_end)}."
                + ("" if clock.p_before_rollback_deadline is None else
                   f" {clock.p_before_rollback_deadline:.1%} chance the steps finish by the "
                   "rollback deadline."))
        view.table(["id", "step", "owner", "state", "planned", "actual", "forecast",
                    "critical path"],
                   [[s.id, s.name, s.owner, s.state, _span(s.planned_start, s.planned_end, zone),
                     _span(s.actual_start, s.actual_end, zone),
                     _span(s.forecast_start, s.forecast_end, zone),
                     "yes" if s.critical else ""] for s in clock.steps])
        return view

    def step_timeline(self, events: list[Event] | None = None) -> None:
        """Display this phase's steps, planned and actual, with the critical path, rollback
        deadline and now (plotly's MIME bundle only, like `timeline`)."""
        from IPython.display import display

        if not self.phase.steps:
            return
        from . import step_timeline
        from .progress import replay_steps

        if events is None:
            with self.log() as log:
                events = log.events()
        runs = replay_steps(self.plan, [e for e in events if e.phase == self.phase.id]).runs
        spec = step_timeline.figure(self.plan, self.phase, runs, now=self._now())
        display(step_timeline.bundle(spec), raw=True)

    def timeline(self) -> None:
        """Display the windows, planned and actual, as plotly's own MIME bundle only.

        JupyterLab draws it; the executed notebook stays small (no plotly.js inside).
        """
        from IPython.display import display

        from . import timeline
        from .states import attempts

        with self.log() as log:
            events = log.events()
        # The figure's plain data: no plotly objects and no pandas frame to build, which were
        # most of this notebook's time; the same JSON as `windows_figure` gives.
        spec = timeline.windows_spec(self.plan, actual=attempts(events), now=self._now())
        display(light_bundle(spec), raw=True)

    def _now(self) -> datetime:
        return self.recorded.at if self.recorded else (self.at or times.now())


def _when(instant: datetime | None, zone: Any) -> str:
    return times.format_both(instant, zone) if instant else "-"


def _span(start: datetime | None, end: datetime | None, zone: Any) -> str:
    """'21:00 NZST - 21:30 NZST', '21:00 NZST -' while running, '-' when nothing."""
    if start is None and end is None:
        return "-"
    first = times.format_local(start, zone, with_date=False) if start else ""
    last = times.format_local(end, zone, with_date=False) if end else ""
    return f"{first} - {last}".strip()


def _left(delta: Any) -> str:
    if delta is None:
        return "-"
    if delta.total_seconds() < 0:
        return f"passed {times.format_duration(-delta)} ago"
    return f"in {times.format_duration(delta)}"


def light_bundle(fig: Any) -> dict[str, Any]:
    """A plotly figure as `application/vnd.plotly.v1+json` (what JupyterLab renders) and text.

    `fig` may also be a figure's plain data (`timeline.windows_spec`): it gets the default
    template a figure would get, and the same JSON, without building plotly's objects.
    """
    import plotly.io as pio

    from .timeline import PLOTLY_CONFIG

    if isinstance(fig, dict):
        layout = fig.get("layout", {})
        title = layout.get("title", {}).get("text") or "figure"
        if layout.get("template") is None and pio.templates.default is not None:
            template = pio.templates[pio.templates.default].to_plotly_json()
            fig = {**fig, "layout": {"template": template, **layout}}
    else:
        title = getattr(fig.layout.title, "text", None) or "figure"
    return {"application/vnd.plotly.v1+json": {**json.loads(pio.to_json(fig, validate=False)),
                                               "config": PLOTLY_CONFIG},
            "text/plain": f"<plotly figure: {html.unescape(str(title))}>"}


def open_run(plan: str | os.PathLike[str], phase: str, event: str, operator: str = "",
             reason: str = "", outputs: str | os.PathLike[str] | None = "", at: str = "",
             source: str = "notebook", notebook: str = "", store: str | None = None,
             sign: str = "") -> PhaseRun:
    """Load the plan and check the request; the notebook's parameters go straight in.

    plan: path of the plan (relative paths: see `locate_plan`); phase: its id; event: one of
    `CHOICES`; operator: who decides (needed to record); reason: why (needed to override a
    failed check); outputs: the folder of the log and notebooks (default `outputs/<plan id>`);
    at: the time of the event (empty: now), 'YYYY-MM-DD HH:MM' in the plan's zone or ISO 8601
    with an offset; source: notebook, cli or rehearsal; notebook: the
    path of the executed notebook, recorded with the event; store: an event store URL;
    sign: the operator's SSH key to sign the record with (see `signing.signer_for`).
    Every one is taken as text (see `as_text`): `papermill -p operator 42` passes a number.
    """
    plan, phase, event, operator, reason, at, source, notebook, store, sign = (
        as_text(value) for value in (plan, phase, event, operator, reason, at, source,
                                     notebook, store, sign))
    outputs = as_text(outputs)
    model = load_plan(locate_plan(plan))
    found = model.phase(phase)
    if event not in CHOICES:
        raise EventRefused(phase, event, f"phase '{phase}': unknown event '{event}' (events: "
                                         f"{', '.join(CHOICES)})")
    if event != REVIEW and not operator.strip():
        raise EventRefused(phase, event, f"phase '{phase}' cannot {event}: no operator given "
                                         "(say who decides: -p operator NAME)")
    from .chronology import read_typed

    when = read_typed(model, at, "at") if at.strip() else None
    return PhaseRun(model, found, event, operator.strip(), reason.strip(),
                    locate_outputs(outputs, model), when, source, notebook, store or None,
                    at_typed=at.strip(), sign=sign.strip())


def as_text(value: Any) -> str:
    """A notebook parameter as the text the operator typed.

    papermill's `-p` reads `42`, `1.5`, `True` and `None` as Python values; `str()` gives
    the typed text back for them (None: nothing given). Only a number written in another
    form (`007`, `1e3`) comes back in Python's (`7`, `1000.0`): `-r NAME VALUE` passes
    any text unchanged.
    """
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


# --- running the notebook (the CLI and the rehearsal) ---------------------------------------

@dataclass(frozen=True)
class Outcome:
    """What one run of the phase notebook left behind."""

    plan: Plan
    phase: str
    event: str
    notebook: Path
    recorded: Event | None
    outputs: Path


def execute_phase(plan: str | os.PathLike[str] | Plan, phase: str, event: str, operator: str,
                  reason: str = "", at: str = "", outputs: str | os.PathLike[str] | None = None,
                  source: str = "cli", store: str | None = None,
                  kernel: Kernel | None = None,
                  starting: Callable[[Path], None] | None = None, sign: str = "") -> Outcome:
    """Run runbooks/phase.ipynb for one event and keep it as outputs/notebooks/NN-phase-event.

    The log is asked first (a refusal costs no kernel and leaves no notebook); the notebook
    asks again when it records, atomically. A refusal inside the notebook raises
    `EventRefused` with its one line; the executed notebook is kept, and nothing is recorded.
    `kernel`: a running `execute.Kernel` to reuse (the rehearsal); else one is started now,
    so that it boots while the plan is read and the log asked. `starting(path)` is called
    with the notebook's path just before papermill runs it. A failure after the event was
    recorded (a later cell, the notebook's last write) raises `RecordedThenFailed`, which
    carries the `Outcome`: the operator must not be told that nothing was recorded.
    """
    from . import execute
    from .events import check_fields

    # What the log would refuse is refused before a kernel starts or a notebook is left.
    check_fields(phase, event, reason=reason,
                 **({"operator": operator} if event != REVIEW or operator else {}))
    own = kernel is None
    if own:
        # A store password reaches the notebook through the kernel's environment only.
        kernel = execute.Kernel(env=execute.store_env(store))
    try:
        model = plan if isinstance(plan, Plan) else load_plan(plan)
        model.phase(phase)
        if event not in CHOICES:
            raise EventRefused(phase, event, f"phase '{phase}': unknown event '{event}' "
                                             f"(events: {', '.join(CHOICES)})")
        from .chronology import read_typed

        when = read_typed(model, at, "--at") if str(at or "").strip() else None
        folder = Path(outputs).expanduser() if outputs else _default_outputs(model)
        folder = folder.resolve()
        if event != REVIEW:
            from .events import open_log

            with open_log(model, folder, store) as log:
                # A typed time is judged here too: a refusal uses no notebook number.
                log.check(phase, event, at=when, reason=reason, source=source,
                          operator=operator)
        output = execute.reserve_output(folder / "notebooks", phase, event)
        recorded_as = output.relative_to(folder).as_posix()
        parameters = {"plan": str(Path(model.source).resolve()), "phase": phase,
                      "event": event, "operator": operator, "reason": reason,
                      "outputs": str(folder), "at": at or "", "source": source,
                      "notebook_path": recorded_as, "store": store or ""}
        if sign:
            parameters["sign"] = str(Path(sign).expanduser().resolve())
        if starting:
            starting(output)
        try:
            # Saved before each cell: the notebook the log names survives a kill after
            # the record cell.
            execute.run("phase", output, parameters, kernel=kernel, checkpoints=True)
        except RunbookError as exc:
            if output.exists() and not output.stat().st_size:
                output.unlink()  # nothing ran (the kernel did not start): no empty notebook
            try:
                recorded = _recorded(model, folder, store, phase, event, recorded_as)
            except RunbookError:
                raise exc from None  # the log cannot say: the first error is the one to show
            if recorded is None:
                raise
            raise RecordedThenFailed(exc, Outcome(model, phase, event, output, recorded,
                                                  folder)) from None
    finally:
        if own:
            kernel.close()
    recorded = _recorded(model, folder, store, phase, event, recorded_as)
    return Outcome(model, phase, event, output, recorded, folder)


class RecordedThenFailed(RunbookError):
    """The event is in the log, but the run failed after recording it (a later cell, or the
    executed notebook could not be written whole)."""

    def __init__(self, error: RunbookError, outcome: Outcome):
        self.error, self.outcome = error, outcome
        ev = outcome.recorded
        super().__init__(f"{' '.join(error.lines())}; the {ev.event} of '{ev.phase}' is "
                         f"recorded all the same, as event #{ev.seq}")


def _recorded(plan: Plan, folder: Path, store: str | None, phase: str, event: str,
              recorded_as: str) -> Event | None:
    """The event recorded by the notebook kept as `recorded_as`, if it recorded one."""
    if event == REVIEW:
        return None
    from .events import open_log

    with open_log(plan, folder, store) as log:
        return next((e for e in reversed(log.events(phase)) if e.notebook == recorded_as),
                    None)


def _default_outputs(plan: Plan) -> Path:
    from .events import default_outputs

    return default_outputs(plan)
