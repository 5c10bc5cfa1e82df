"""One exception hierarchy for the whole tool, and the exit codes it maps to.

The library raises these; only the CLI turns them into exit codes and messages.
Every message says what was wrong and where; ``hint`` says what to do about it.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Exit codes of every ``qostool`` command (documented in the README)."""

    OK = 0
    """The command did what was asked (rejected rows are reported, not errors)."""
    ERROR = 1
    """Something could not be done: a file could not be read, the store is damaged, ..."""
    USAGE = 2
    """The command line was wrong: unknown option, bad value, missing argument."""
    STORE_BUSY = 3
    """Another qostool process is writing to the same store."""
    BELOW_TARGET = 4
    """``analyze`` or ``run`` with ``--fail-below``: it ran and some commune is below target."""


class QostoolError(Exception):
    """Base class: a problem the user can fix, with a message and a hint."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"


class UsageError(QostoolError):
    """An option or argument has a wrong value."""

    exit_code = ExitCode.USAGE


class InputError(QostoolError):
    """An input file cannot be used as a whole (unreadable, unknown format, bad encoding)."""

    def __init__(
        self,
        path: Path | str,
        message: str,
        *,
        hint: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        where = str(path)
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", column {field!r}"
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = str(path)
        self.row = row
        self.field = field


class SpecError(QostoolError):
    """A format spec or mapping file is invalid; the message names the key."""

    exit_code = ExitCode.USAGE


class ConfigError(QostoolError):
    """The configuration (file, environment variable or option) has a wrong key or value."""

    exit_code = ExitCode.USAGE


class StoreError(QostoolError):
    """The store cannot be opened or written."""


class StoreBusyError(StoreError):
    """Another process holds the store's write lock."""

    exit_code = ExitCode.STORE_BUSY
