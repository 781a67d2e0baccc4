"""Output files are written whole or not at all: a temp file beside the target, then a rename.

What a user-named output path means depends on what is there already (`output_target`):
- nothing, or a regular file: a temp file beside it, renamed over it (readers see the old
  file or the new one, never half of one; an existing file keeps its permissions);
- a symbolic link: followed, and its target written that way, so the link stays a link
  (a dangling link creates the file it names);
- a character device or a FIFO (`/dev/null`, `/dev/stdout`, a named pipe): written as a
  stream, since it cannot be replaced and should not be (as root, a rename over `/dev/full`
  would replace the machine's device with a plain file);
- a folder, a block device, a socket or a link loop: refused in one line, nothing written.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError

FILE = "file"
STREAM = "stream"


@dataclass(frozen=True)
class OutputTarget:
    """Where writing a user-named path lands (`path`) and how (`how`: FILE or STREAM)."""

    given: Path
    path: Path
    how: str


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def output_target(path: str | os.PathLike[str]) -> OutputTarget:
    """Decide what writing `path` means (see the module docstring), or raise `OutputError`."""
    given = Path(path)
    try:
        info = os.stat(given)  # follows links: what is at the end of them
    except FileNotFoundError:
        info = None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputError(f"{given}: cannot write: a loop of symbolic links") from None
        if exc.errno == errno.ENOTDIR:
            raise OutputError(f"{given}: cannot write: {_parent(given)} is not a folder") \
                from None
        raise OutputError(f"{given}: cannot write: {exc.strerror or exc}") from None
    if info is not None:
        if stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode):
            return OutputTarget(given, given, STREAM)
        if not stat.S_ISREG(info.st_mode):
            what = _kind(info.st_mode)
            hint = "; give a file name" if what == "a folder" else "; give a regular file"
            raise OutputError(f"{given}: is {what}, not a file to write{hint}")
    real = Path(os.path.realpath(given)) if given.is_symlink() else given
    if real.is_symlink():  # realpath stopped at a link it could not follow
        raise OutputError(f"{given}: cannot write: a loop of symbolic links")
    parent = _parent(real)
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "no such folder"
        raise OutputError(f"{given}: cannot write: {parent} {what}")
    return OutputTarget(given, real, FILE)


def _parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def check_writable(target: str | os.PathLike[str]) -> Path:
    """Fail early, in one line, when `target` cannot be an output we write."""
    return output_target(target).given


def write_atomic(path: str | os.PathLike[str], data: bytes | str, sync: bool = True) -> Path:
    """Write `data` to `path` so a reader sees the old file or the new one, never half of one
    (a device or FIFO is streamed to instead; see the module docstring); returns `path`.

    `sync`: flush to the disk before the rename, so a power cut leaves one of the two; off
    for a file rewritten again in a moment (a notebook's checkpoint before each cell)."""
    target = output_target(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if target.how == STREAM:
        _stream(target.given, payload)
        return target.given
    folder = _parent(target.path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"{target.given}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.chmod(tmp, _mode_for(target.path))
        os.replace(tmp, target.path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{target.given}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target.given


def install(finished: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Put a finished temporary file (written by papermill, Chromium, ...) at `path`, with the
    same rules as `write_atomic`; the temporary file is gone afterwards, whatever happens."""
    finished = Path(finished)
    try:
        target = output_target(path)
        if target.how == FILE and _parent(target.path).resolve() == finished.parent.resolve():
            try:
                os.chmod(finished, _mode_for(target.path))
                os.replace(finished, target.path)
            except OSError as exc:
                raise OutputError(f"{target.given}: cannot write: {exc.strerror or exc}") \
                    from None
            return target.given
        try:
            data = finished.read_bytes()
        except OSError as exc:
            raise OutputError(f"{finished}: cannot read: {exc.strerror or exc}") from None
        return write_atomic(path, data)
    finally:
        finished.unlink(missing_ok=True)


def _mode_for(path: Path) -> int:
    """An existing file's permissions, or what a new file gets under the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _stream(path: Path, payload: bytes) -> None:
    """Write to a character device or FIFO as it is: no create, no truncate, no rename."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):  # replaced since we looked
            raise OutputError(f"{path}: changed while being written; nothing written")
        view = memoryview(payload)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def check_database_file(path: str | os.PathLike[str]) -> str | None:
    """Why `path` cannot be a SQLite database file (a device, FIFO, folder, socket or link
    loop: SQLite would write a `-journal` or `-wal` file beside it), or None if it can be
    (nothing there yet, or a regular file, directly or through links)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a loop of symbolic links"
        return None  # unreadable: let the store say so, with its own wording
    if stat.S_ISREG(info.st_mode):
        return None
    if stat.S_ISCHR(info.st_mode):
        return "is a character device, not a database file"
    if stat.S_ISFIFO(info.st_mode):
        return "is a FIFO, not a database file"
    return f"is {_kind(info.st_mode)}, not a database file"
