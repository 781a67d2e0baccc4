"""One exception hierarchy: the CLI catches `RunbookError` once, prints its line(s), exits 1."""

from __future__ import annotations


class RunbookError(Exception):
    """Root of every error this package raises on purpose; `str()` is meant for people."""

    def lines(self) -> list[str]:
        """The message as one or more one-line errors, for stderr."""
        return [str(self)]


class PlanError(RunbookError):
    """A broken rule in a plan file, located by file, line and phase."""

    def __init__(self, file: str, line: int | None, message: str, phase: str | None = None,
                 field: str | None = None):
        self.file, self.line, self.message = file, line, message
        self.phase, self.field = phase, field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        who = f" phase '{self.phase}':" if self.phase else ""
        return f"{where}:{who} {self.message}"


class PlanInvalid(RunbookError):
    """Every problem found in one plan file (a file with several problems reports all of them)."""

    def __init__(self, errors: list[PlanError]):
        self.errors = sorted(errors, key=lambda e: (e.line or 0, e.message))
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)

    def lines(self) -> list[str]:
        return [str(e) for e in self.errors]


class EventRefused(RunbookError):
    """An event the phase state machine or its gate does not allow; nothing was recorded."""

    def __init__(self, phase: str, event: str, reason: str):
        self.phase, self.event, self.reason = phase, event, reason
        super().__init__(reason)

    def __str__(self) -> str:
        return self.reason


class StoreError(RunbookError):
    """The event store cannot be reached, read or written."""


class OutputError(RunbookError):
    """An output file cannot be written; nothing half-written is left behind."""
