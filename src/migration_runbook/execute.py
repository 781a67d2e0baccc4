"""Running the runbook notebooks with papermill, and turning their failures into one line.

A refusal raised inside a notebook (`EventRefused`, or any other `RunbookError`) reaches the
caller as the same kind of error with the cell's one-line message, not papermill's traceback;
the executed notebook is kept either way, because it shows what happened.

Kernels: papermill starts a fresh kernel per notebook unless it is handed a running one
(`km=`, passed through to nbclient, which then neither starts nor shuts it down). `Kernel`
starts one early (its start-up overlaps our own imports) and can serve many notebooks, which is
what makes a whole rehearsal cost little more than one notebook run.

Secrets: an event store URL with a password never goes into a notebook's parameters (papermill
writes them into the executed notebook). The parameter shows it masked
(`postgresql://user:***@host/db`) and the kernel gets the real one as $RUNBOOK_STORE in its
environment, from which `events.open_log` completes it (`store_env`, `Kernel(env=...)`).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from .errors import EventRefused, RunbookError

KERNEL = "python3"
"""The kernel every runbook notebook declares and runs on."""
SHARED_ENGINE = "runbook-shared-kernel"
"""The papermill engine `run` uses with a borrowed kernel (see `_shared_kernel_engine`)."""
QUIET = ["--IPKernelApp.log_level=CRITICAL"]
"""Kernel arguments: no log on stderr (not even the KeyboardInterrupt of a shutdown); cell
errors still reach the notebook, and a dead kernel is reported by nbclient."""
WARM = ("migration_runbook.phase", "migration_runbook.events", "migration_runbook.states",
        "migration_runbook.checks", "migration_runbook.timeline", "plotly.io")
"""What a phase notebook imports: a `Kernel` imports it while papermill is still loading."""
RUNBOOKS_ENV = "RUNBOOK_NOTEBOOKS"
"""Set to a folder to run notebooks from there instead of the project's runbooks/."""


class NotebookFailed(RunbookError):
    """A runbook notebook stopped on an error; its message lines come from the failing cell."""

    def __init__(self, message: str, ename: str = "", output: str = ""):
        self.ename, self.output = ename, output
        super().__init__(message)

    def lines(self) -> list[str]:
        return [line for line in str(self).splitlines() if line.strip()] or [self.ename]


def runbooks_dir() -> Path:
    """The folder holding phase.ipynb and report.ipynb: $RUNBOOK_NOTEBOOKS, the project's
    runbooks/ (a source checkout, editable install) or the copy shipped in the package."""
    override = os.environ.get(RUNBOOKS_ENV, "").strip()
    if override:
        return Path(override).resolve()
    here = Path(__file__).resolve().parent
    for candidate in (here.parent.parent / "runbooks", here / "runbooks"):
        if candidate.is_dir():
            return candidate
    raise RunbookError(f"cannot find the runbooks/ folder (looked beside {here}); "
                       f"set {RUNBOOKS_ENV} to the folder holding phase.ipynb")


def project_dir() -> Path:
    """The folder runbooks/ sits in: where relative plan paths in a notebook are looked up."""
    return runbooks_dir().parent


def notebook(name: str) -> Path:
    """The path of runbook notebook `name` ('phase' or 'report')."""
    path = runbooks_dir() / f"{name}.ipynb"
    if not path.is_file():
        raise RunbookError(f"{path}: no such runbook notebook")
    return path


def reserve_output(folder: Path, phase: str, event: str) -> Path:
    """A new `NN-<phase>-<event>.ipynb` in `folder`, numbered after the ones already there.

    The file is created empty with O_EXCL, so two runs at once never get the same name and an
    earlier notebook is never overwritten.
    """
    folder.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for p in folder.glob("*.ipynb")
             if (m := re.match(r"^(\d+)-", p.name))]
    number = max(taken, default=0) + 1
    while True:
        path = folder / f"{number:02d}-{phase}-{event}.ipynb"
        try:
            with open(path, "x", encoding="utf-8"):
                return path
        except FileExistsError:
            number += 1


class Kernel:
    """A running `python3` kernel that several notebook runs share (`with Kernel() as km:`).

    Notebooks run in it must set everything they use in their parameters cell, since names
    from an earlier run are still defined. `warm`: modules the kernel imports while it starts
    (IPython's `exec_lines`), so that it does so while the caller is still loading papermill,
    not after; they bind no names.
    """

    def __init__(self, cwd: str | Path | None = None, warm: tuple[str, ...] = WARM,
                 env: dict[str, str] | None = None):
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self._run_sync = run_sync
        self.manager = AsyncKernelManager(kernel_name=KERNEL)
        self.cwd = str(cwd or Path.cwd())
        self.env = {**os.environ, **(env or {})}
        """The kernel's environment (ours plus `env`): set at start, it cannot change later."""
        arguments = list(QUIET)
        if warm:
            line = (f"import importlib as _rb; [_rb.import_module(_m) for _m in {list(warm)!r}]; "
                    "del _rb")
            arguments.append(f"--IPKernelApp.exec_lines={[line]!r}")
        run_sync(self.manager.start_kernel)(cwd=self.cwd, extra_arguments=arguments,
                                            env=self.env)

    def close(self) -> None:
        """Shut the kernel down now (it has no unsaved work: notebooks are saved by papermill)."""
        if self.manager is None:
            return
        try:
            self._run_sync(self.manager.shutdown_kernel)(now=True)
        finally:
            self._run_sync(self.manager.cleanup_resources)()
            self.manager = None

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _import_papermill() -> None:
    """Import papermill without `rfc3987_syntax`, which builds a grammar for a second at import.

    jsonschema loads it (if installed) only to check the 'iri' formats, which notebook
    schemas do not use, and skips those checks when it cannot be imported.
    """
    if "papermill" not in sys.modules and "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
        try:
            import papermill  # noqa: F401
        finally:
            del sys.modules["rfc3987_syntax"]


def store_env(store: str | None) -> dict[str, str]:
    """The environment a kernel needs for `store`: {RUNBOOK_STORE: url} if the URL carries a
    password (the notebook's parameter only shows it masked), else nothing."""
    from .store import STORE_ENV, has_secret

    return {STORE_ENV: store} if store and has_secret(store) else {}


def run(name: str, output: str | Path, parameters: dict[str, Any], *,
        kernel: Kernel | None = None, timeout: float | None = None) -> Path:
    """Execute runbook notebook `name` into `output` with papermill `parameters`.

    `kernel`: a running `Kernel` to reuse (default: papermill starts and stops its own).
    A `store` parameter with a password is passed masked, the URL itself through the
    kernel's environment: a reused kernel must have been started with `store_env(store)`.
    A failing cell raises `EventRefused` or `NotebookFailed` with the cell's one-line message;
    the executed notebook is written to `output` in every case.
    """
    secret = store_env(str(parameters.get("store") or ""))
    if secret:
        from .store import STORE_ENV, mask_url

        parameters = {**parameters, "store": mask_url(parameters["store"])}
        if kernel is None:
            with Kernel(env=secret, warm=()) as own:
                return run(name, output, parameters, kernel=own, timeout=timeout)
        if getattr(kernel, "env", {}).get(STORE_ENV) != secret[STORE_ENV]:
            raise RunbookError(f"{name}.ipynb: the kernel was started without the event "
                               f"store's URL in its environment (start it with "
                               f"Kernel(env=store_env(store))); not run")
    _import_papermill()
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = notebook(name)
    engine: dict[str, Any] = {"execution_timeout": timeout} if timeout else {}
    if kernel is not None:
        engine.update(km=kernel.manager, engine_name=_shared_kernel_engine())
    try:
        papermill.execute_notebook(
            str(source), str(output), parameters=parameters, kernel_name=KERNEL,
            progress_bar=False, log_output=False, request_save_on_cell_execute=False, **engine)
    except PapermillExecutionError as exc:
        raise failure(exc.ename, exc.evalue, name, str(output), parameters,
                      cell=exc.exec_count) from None
    except (RuntimeError, TimeoutError) as exc:
        # nbclient's DeadKernelError is a RuntimeError, its CellTimeoutError a TimeoutError.
        raise NotebookFailed(f"{source.name}: {type(exc).__name__}: "
                             f"{_first_line(str(exc))} (see {output})",
                             type(exc).__name__, str(output)) from None
    return Path(output)


_registered: list[str] = []


def _shared_kernel_engine() -> str:
    """Register (once) papermill's nbclient engine for a kernel it borrows, and name it.

    nbclient leaves a borrowed kernel running, as it should, but also leaves its client's
    channels (zmq sockets, a context and its thread) open; this engine closes them after
    each notebook. The rest is papermill's own `NBClientEngine.execute_managed_notebook`.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    if _registered:
        return SHARED_ENGINE

    class SharedKernelClient(PapermillNotebookClient):
        def execute(self, **kwargs: Any) -> Any:
            try:
                return super().execute(**kwargs)
            finally:
                if self.kc is not None:
                    self.kc.stop_channels()
                    self.kc = None

    class SharedKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None,
                                     start_timeout: int = 60, execution_timeout: Any = None,
                                     **kwargs: Any) -> Any:
            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(
                safe_kwargs, timeout=execution_timeout or kwargs.get("timeout"),
                startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            return SharedKernelClient(nb_man, **final_kwargs).execute()

    papermill_engines.register(SHARED_ENGINE, SharedKernelEngine)
    _registered.append(SHARED_ENGINE)
    return SHARED_ENGINE


def failure(ename: str, evalue: str, name: str, output: str,
            parameters: dict[str, Any], cell: int | None = None) -> RunbookError:
    """The error to raise for a cell that failed with `ename: evalue`.

    `EventRefused` comes back as itself; another `RunbookError` as `NotebookFailed` with its
    message lines; anything else (a bug) names the notebook, the cell and the kept output.
    """
    if ename == EventRefused.__name__:
        return EventRefused(str(parameters.get("phase", "")), str(parameters.get("event", "")),
                            _first_line(evalue))
    if ename in _runbook_error_names():
        return NotebookFailed(evalue, ename, output)
    where = f"cell {cell}" if cell is not None else "a cell"
    return NotebookFailed(f"{name}.ipynb failed in {where}: {ename}: {_first_line(evalue)} "
                          f"(see {output})", ename, output)


def _runbook_error_names() -> set[str]:
    names, todo = set(), [RunbookError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
