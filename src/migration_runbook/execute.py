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

Evidence: the executed notebook is written whole (temp file, rename), and with
`checkpoints` (the phase notebook) also just before each code cell runs, so a run killed after
a cell recorded an event still leaves the notebook the log names, as far as it got; a
notebook that cannot be written is `OutputError`, one line. A kernel that
cannot start is `KernelUnavailable`, one line saying how to repair it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from .errors import EventRefused, OutputError, RunbookError

KERNEL = "python3"
"""The kernel every runbook notebook declares and runs on."""
KERNEL_DISPLAY_NAME = "Python 3 (migration-runbook)"
"""Its display name, as `make setup` installs it and as the notebooks declare it: when the two
differ JupyterLab rewrites the notebook's metadata on opening and marks it changed."""
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
REPAIR = (f"run `make setup` or `python -m ipykernel install --sys-prefix --name {KERNEL} "
          f"--display-name \"{KERNEL_DISPLAY_NAME}\"` in the project's environment")
"""How to repair a `python3` kernel that cannot start (what `make setup` does)."""
QUIET_LOG = logging.getLogger("migration_runbook.notebook")
"""nbclient's logger in our runs: what it would print (a kernel that died, say) reaches the
operator as our one-line error instead. A NullHandler stops Python's last-resort printing;
an application that configures logging still sees it."""
QUIET_LOG.addHandler(logging.NullHandler())


class NotebookFailed(RunbookError):
    """A runbook notebook stopped on an error; its message lines come from the failing cell."""

    def __init__(self, message: str, ename: str = "", output: str = ""):
        self.ename, self.output = ename, output
        super().__init__(message)

    def lines(self) -> list[str]:
        return [line for line in str(self).splitlines() if line.strip()] or [self.ename]


class KernelUnavailable(RunbookError):
    """The `python3` Jupyter kernel cannot start (a deleted interpreter, no ipykernel)."""

    def __init__(self, cause: str, spec: str = ""):
        self.cause, self.spec = cause, spec
        where = f" (kernelspec {spec})" if spec else ""
        super().__init__(f"the {KERNEL} Jupyter kernel cannot start{where}: {cause}; {REPAIR}")


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
    try:
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
    except OSError as exc:
        raise OutputError(f"{folder}: cannot write the executed notebook there "
                          f"({exc.strerror or type(exc).__name__}); choose a writable folder "
                          "with --outputs") from None


class Kernel:
    """A running `python3` kernel that several notebook runs share (`with Kernel() as km:`).

    Notebooks run in it must set everything they use in their parameters cell, since names
    from an earlier run are still defined. `warm`: modules the kernel imports while it starts
    (IPython's `exec_lines`), so that it does so while the caller is still loading papermill,
    not after; they bind no names. The kernel's own stderr goes to a temporary file: what it
    says when it cannot start (no ipykernel, say) becomes the cause in `KernelUnavailable`.
    """

    def __init__(self, cwd: str | Path | None = None, warm: tuple[str, ...] = WARM,
                 env: dict[str, str] | None = None, ports: dict[str, int] | None = None):
        from jupyter_core.utils import run_sync

        self._run_sync = run_sync
        self.manager: Any = None
        self.cwd = str(cwd or Path.cwd())
        self.env = {**os.environ, **(env or {})}
        """The kernel's environment (ours plus `env`): set at start, it cannot change later."""
        self.arguments = list(QUIET)
        if warm:
            line = (f"import importlib as _rb; [_rb.import_module(_m) for _m in {list(warm)!r}]; "
                    "del _rb")
            self.arguments.append(f"--IPKernelApp.exec_lines={[line]!r}")
        self._start(ports or {})

    def _start(self, ports: dict[str, int]) -> None:
        """Start the kernel process. `ports`: fixed ports (e.g. `shell_port`) instead of free
        ones picked now (what a retry after a port taken meanwhile needs: fresh ones)."""
        from jupyter_client.kernelspec import NoSuchKernel
        from jupyter_client.manager import AsyncKernelManager

        run_sync = self._run_sync
        self.stderr = tempfile.TemporaryFile()
        manager = AsyncKernelManager(kernel_name=KERNEL)
        for name, port in ports.items():
            setattr(manager, name, port)
        arguments = self.arguments
        try:
            run_sync(manager.start_kernel)(cwd=self.cwd, extra_arguments=arguments,
                                           env=self.env, stderr=self.stderr)
        except NoSuchKernel:
            self.stderr.close()
            raise KernelUnavailable("no kernelspec named python3 is installed") from None
        except OSError as exc:  # the kernelspec's interpreter is gone or not executable
            self.stderr.close()
            cause = f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": ")
            raise KernelUnavailable(cause, _spec_dir(manager)) from None
        self.manager = manager

    def said(self) -> str:
        """The last line the kernel wrote on its stderr ('' if none): why it died, usually."""
        try:  # pread: the kernel shares this file's offset
            fd = self.stderr.fileno()
            size = os.fstat(fd).st_size
            text = os.pread(fd, 4096, max(0, size - 4096)).decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")

    def port_taken(self) -> bool:
        """Whether the kernel died because a port picked for it was taken meanwhile (another
        kernel starting at the same moment): worth starting again on fresh ports."""
        return "address already in use" in self.said().lower()

    def restart(self) -> None:
        """Stop this kernel (if anything is left of it) and start a new one, on fresh ports."""
        self.close()
        self._start({})

    def unavailable(self, exc: BaseException) -> KernelUnavailable:
        """The error for a kernel that died, or never answered, while nbclient connected."""
        cause = self.said() or _first_line(str(exc))
        return KernelUnavailable(cause, _spec_dir(self.manager))

    def close(self) -> None:
        """Shut the kernel down now (it has no unsaved work: notebooks are saved by papermill)."""
        if self.manager is None:
            return
        try:
            self._run_sync(self.manager.shutdown_kernel)(now=True)
        finally:
            self._run_sync(self.manager.cleanup_resources)()
            self.manager = None
            self.stderr.close()

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _spec_dir(manager: Any) -> str:
    try:
        return str(manager.kernel_spec.resource_dir)
    except Exception:  # noqa: BLE001 - only a hint in a message
        return ""


_STARTING = ("before replying to kernel_info", "didn't respond")
"""What jupyter_client says when a kernel dies or hangs while it starts (not while running)."""


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
        kernel: Kernel | None = None, timeout: float | None = None,
        checkpoints: bool = False) -> Path:
    """Execute runbook notebook `name` into `output` with papermill `parameters`.

    `kernel`: a running `Kernel` to reuse (default: one is started and stopped for this run).
    A `store` parameter with a password is passed masked, the URL itself through the
    kernel's environment: a reused kernel must have been started with `store_env(store)`.
    A failing cell raises `EventRefused` or `NotebookFailed` with the cell's one-line message;
    the executed notebook is written whole to `output` in every case. `checkpoints`: also
    before each code cell (a run killed after a cell recorded an event leaves it as far as
    it got; ~2 ms a cell). A kernel that cannot start raises `KernelUnavailable`; a notebook
    that cannot be written, `OutputError`.
    """
    secret = store_env(str(parameters.get("store") or ""))
    if kernel is None:
        with Kernel(env=secret, warm=()) as own:
            return run(name, output, parameters, kernel=own, timeout=timeout,
                       checkpoints=checkpoints)
    if secret:
        from .store import STORE_ENV, mask_url

        parameters = {**parameters, "store": mask_url(parameters["store"])}
        if getattr(kernel, "env", {}).get(STORE_ENV) != secret[STORE_ENV]:
            raise RunbookError(f"{name}.ipynb: the kernel was started without the event "
                               f"store's URL in its environment (start it with "
                               f"Kernel(env=store_env(store))); not run")
    _import_papermill()
    import papermill

    source = notebook(name)
    output = Path(output)
    engine: dict[str, Any] = {"execution_timeout": timeout} if timeout else {}
    engine.update(km=kernel.manager, engine_name=_shared_kernel_engine(),
                  checkpoint=output if checkpoints else None)
    # papermill's own last write is not atomic: it goes to a temporary file, renamed over
    # `output` only once whole, so a failed write leaves the last checkpoint in place.
    final = output.with_name(f".{output.stem}.partial.ipynb")
    for attempt in range(1, PORT_TRIES + 1):
        try:
            _execute(papermill, source, final, output, parameters, engine)
        except (RuntimeError, TimeoutError) as exc:
            # A kernel that could not bind a port another process took meanwhile (many
            # `runbook phase` at once) never ran a cell: start one on fresh ports, run again.
            if attempt < PORT_TRIES and any(text in str(exc) for text in _STARTING) and \
                    hasattr(kernel, "port_taken") and kernel.port_taken():
                kernel.restart()
                engine["km"] = kernel.manager
                continue
            _fail(exc, kernel, name, source, output, parameters)
        except BaseException as exc:
            _fail(exc, kernel, name, source, output, parameters)
        return output
    return output


PORT_TRIES = 5
"""How many kernels `run` starts when each loses one of its ports to another process."""


def _execute(papermill: Any, source: Path, final: Path, output: Path,
             parameters: dict[str, Any], engine: dict[str, Any]) -> None:
    """papermill's run into `final`, kept as `output` when whole (see `_keep`)."""
    try:
        papermill.execute_notebook(
            str(source), str(final), parameters=parameters, kernel_name=KERNEL,
            progress_bar=False, log_output=False, request_save_on_cell_execute=False,
            **engine)
    except BaseException:
        _keep(final, output, strict=False)
        raise
    _keep(final, output)


def _fail(error: BaseException, kernel: Any, name: str, source: Path, output: Path,
          parameters: dict[str, Any]) -> None:
    """Raise the one-line error for what stopped a notebook run (or `error` itself)."""
    from papermill.exceptions import PapermillExecutionError

    try:
        raise error
    except PapermillExecutionError as exc:
        raise failure(exc.ename, exc.evalue, name, str(output), parameters,
                      cell=exc.exec_count) from None
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{output}: cannot write the executed notebook "
                          f"({exc.strerror or type(exc).__name__})") from None
    except (RuntimeError, TimeoutError) as exc:
        # nbclient's DeadKernelError is a RuntimeError, its CellTimeoutError a TimeoutError;
        # jupyter_client's "Kernel died before replying to kernel_info" one too.
        if any(text in str(exc) for text in _STARTING) and hasattr(kernel, "unavailable"):
            raise kernel.unavailable(exc) from None
        raise NotebookFailed(f"{source.name}: {type(exc).__name__}: "
                             f"{_first_line(str(exc))} (see {output})",
                             type(exc).__name__, str(output)) from None


def _keep(final: Path, output: Path, strict: bool = True) -> None:
    """Rename papermill's last write over `output` when it is a whole notebook; else drop it
    (a disk that filled up half-way): `output` then keeps its last checkpoint. `strict`
    (papermill finished): a last write that cannot be kept raises `OSError`."""
    try:
        if final.exists() and final.stat().st_size and _whole(final):
            os.chmod(final, 0o644)
            os.replace(final, output)
        elif strict:
            raise OSError(f"{final}: papermill's last write is not a whole notebook")
    except OSError:
        if strict:
            raise
    finally:
        final.unlink(missing_ok=True)


def _whole(path: Path) -> bool:
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            return isinstance(json.load(handle), dict)
    except (OSError, ValueError):
        return False


def save_checkpoint(nb: Any, output: Path) -> None:
    """Write notebook `nb` over `output` whole (`files.write_atomic`), never half of it; not
    synced to the disk, as the next cell's checkpoint or papermill's last write replaces it."""
    import nbformat

    from .files import write_atomic

    try:
        write_atomic(output, nbformat.writes(nb).encode("utf-8"), sync=False)
    except OutputError as exc:
        detail = str(exc).removeprefix(f"{output}: ").removeprefix("cannot write: ")
        raise OutputError(f"{output}: cannot write the executed notebook ({detail})") from None


_registered: list[str] = []


def _shared_kernel_engine() -> str:
    """Register (once) papermill's nbclient engine for a kernel it borrows, and name it.

    nbclient leaves a borrowed kernel running, as it should, but also leaves its client's
    channels (zmq sockets, a context and its thread) open; this engine closes them after
    each notebook. It also saves the notebook whole to `checkpoint` (an engine argument)
    before each code cell, and logs to `QUIET_LOG`. The rest is papermill's own
    `NBClientEngine.execute_managed_notebook`.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
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
            checkpoint = kwargs.pop("checkpoint", None)
            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            if checkpoint is not None:
                # Saved just before each code cell is sent to the kernel.
                safe_kwargs["on_cell_execute"] = \
                    lambda cell, cell_index: save_checkpoint(nb_man.nb, checkpoint)
            final_kwargs = merge_kwargs(
                safe_kwargs, timeout=execution_timeout or kwargs.get("timeout"),
                startup_timeout=start_timeout, kernel_name=kernel_name, log=QUIET_LOG,
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
