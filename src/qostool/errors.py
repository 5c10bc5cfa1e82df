"""One exception hierarchy for the whole tool, and the exit codes it maps to.

The library raises these; only the CLI turns them into exit codes and messages.
Every message says what was wrong and where; ``hint`` says what to do about it.
File-system problems (an ``OSError``: permission denied, disk full, ...) become
such errors through :func:`from_os_error`.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from enum import IntEnum
from pathlib import Path
from typing import Final


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
    PREFLIGHT = 5
    """``report`` (or ``run``'s report): a check before writing failed; nothing was written."""
    HELD_FILES = 6
    """``run`` with ``[ingest] strict = true``: an inbox file could not be read and is set
    aside until it changes (without ``strict``, ``run`` exits 0 and warns)."""


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


class AnalysisError(QostoolError):
    """The stored data cannot give a meaningful analysis (no test inside the boundaries)."""


class StoreError(QostoolError):
    """The store cannot be opened or written."""


class StoreBusyError(StoreError):
    """Another process holds the store's write lock."""

    exit_code = ExitCode.STORE_BUSY


# -- file-system problems ----------------------------------------------------------

_EDQUOT: Final[int] = getattr(errno, "EDQUOT", -1)  # no disk quotas on Windows
_PERMISSION_HINT: Final = (
    "check the permissions of the file and its folder, or choose another folder "
    "(or run qostool as the user that owns it)"
)
_DISK_FULL_HINT: Final = (
    "free space on that disk, or choose a store (--store) or output folder (--out) on "
    "another disk, then run again; the store never keeps a half-written batch"
)
_TOO_MANY_FILES: Final = (
    "too many open files",
    "close other programs, or raise the limit of open files (e.g. 'ulimit -n 4096'), "
    "then run again",
)
#: Per errno: what happened, in plain words, and what to do about it.
_OS_ERRORS: Final[dict[int, tuple[str, str]]] = {
    errno.EACCES: ("permission denied", _PERMISSION_HINT),
    errno.EPERM: ("operation not permitted", _PERMISSION_HINT),
    errno.EROFS: (
        "the file system is read-only",
        "choose a folder on a writable disk, or have the disk mounted writable",
    ),
    errno.ENOSPC: ("the disk is full", _DISK_FULL_HINT),
    _EDQUOT: ("the disk quota is used up", _DISK_FULL_HINT),
    errno.ENOENT: (
        "no such file or folder",
        "check the path for a typo, or create the missing folder first",
    ),
    errno.ENOTDIR: (
        "a part of this path is a file, not a folder",
        "choose another path, or move away the file that is in the way",
    ),
    errno.EISDIR: ("this is a folder, not a file", "give the path of a file, not of a folder"),
    errno.EEXIST: ("already exists", "move or rename what is there, or choose another path"),
    errno.ENAMETOOLONG: (
        "the path is too long",
        "choose a folder with a shorter path (closer to the top of the disk, shorter names)",
    ),
    errno.EMFILE: _TOO_MANY_FILES,
    errno.ENFILE: _TOO_MANY_FILES,
    errno.EBUSY: (
        "the file is busy (in use by another program)",
        "close the program that uses it (e.g. Excel, or a sync or backup tool), then run again",
    ),
}

#: Windows sharing and lock violations (``winerror`` 32, 33): the file is open elsewhere.
_FILE_OPEN_ELSEWHERE: Final = (
    "the file is open in another program",
    "close it (e.g. in Excel), then run again",
)
_SHARING_VIOLATIONS: Final = (32, 33)
_EXCEL_HINT: Final = "; on Windows, also close the file if it is open in a program such as Excel"

#: The machine's own conditions: a user error even when the OSError names no path.
_NO_PATH_NEEDED: Final = {
    errno.ENOSPC,
    _EDQUOT,
    errno.EROFS,
    errno.EMFILE,
    errno.ENFILE,
}

#: How Rust libraries (Polars) word an OS error: "No space left on device (os error 28): p".
_RUST_OS_ERROR: Final = re.compile(r"([^:\n]*?)\s*\(os error (\d+)\)(?::[ ]*([^\n]+))?")
#: Windows error codes that Rust reports as they are, and their errno.
_WINDOWS_ERRNO: Final = {
    2: errno.ENOENT,
    3: errno.ENOENT,
    5: errno.EACCES,
    19: errno.EROFS,
    32: errno.EACCES,
    33: errno.EACCES,
    112: errno.ENOSPC,
    206: errno.ENAMETOOLONG,
}


def os_error_in_message(exc: BaseException) -> OSError | None:
    """The OS error a Rust library put in its message, as an :class:`OSError`; else None.

    Polars raises ``OSError("Not a directory (os error 20): out/x.csv")`` without
    ``errno`` or ``filename``, and ``ComputeError("... No space left on device (os
    error 28)")`` when a disk fills while it writes. On Windows the number is a
    Windows error code: it becomes ``winerror``, and ``errno`` its usual match.
    """
    found = _RUST_OS_ERROR.search(str(exc))
    if found is None:
        return None
    words, number, path = found[1].strip(), int(found[2]), found[3]
    winerror = number if sys.platform == "win32" else None
    code = _WINDOWS_ERRNO.get(number, 0) if winerror is not None else number
    rebuilt = OSError(code, words or os.strerror(code), path.strip() if path else None)
    if winerror is not None:
        setattr(rebuilt, "winerror", winerror)  # noqa: B010 (an attribute only on Windows)
    return rebuilt


def _with_details(exc: OSError) -> OSError:
    """``exc``, or the OS error in its message when it has no ``errno`` (Polars)."""
    if exc.errno is None:
        return os_error_in_message(exc) or exc
    return exc


def _where(exc: OSError) -> str | None:
    """The path(s) of ``exc``: ``filename``, then ``-> filename2`` when there is one."""
    names = [
        os.fsdecode(name) if isinstance(name, bytes) else str(name)
        for name in (exc.filename, exc.filename2)
        if name and not isinstance(name, int)  # an int is a file descriptor
    ]
    return " -> ".join(names) or None


def is_user_os_error(exc: OSError) -> bool:
    """Whether ``exc`` is a file-system problem for the user to fix, not a bug.

    It is when it names a path, or when it is a condition of the machine (disk
    full, quota, read-only, too many open files, a Windows sharing violation)
    even without one. Any other OSError without a path (no errno, a socket, a
    library call that lost its path) may be a bug: the CLI shows it as one.
    """
    exc = _with_details(exc)
    winerror = getattr(exc, "winerror", None)
    return (
        _where(exc) is not None or exc.errno in _NO_PATH_NEEDED or winerror in _SHARING_VIOLATIONS
    )


def from_os_error(exc: OSError) -> QostoolError:
    """A user error (exit 1) for ``exc``: ``"<path>: <what happened>"``, and the fix.

    What happened and the hint come from the errno (Windows sharing violations
    first); an errno not in the table gets the system's own message.
    """
    exc = _with_details(exc)
    winerror = getattr(exc, "winerror", None)
    if winerror in _SHARING_VIOLATIONS:
        what, hint = _FILE_OPEN_ELSEWHERE
    elif exc.errno in _OS_ERRORS:
        what, hint = _OS_ERRORS[exc.errno]
        if hint == _PERMISSION_HINT and (sys.platform == "win32" or winerror is not None):
            hint += _EXCEL_HINT
    else:
        what = exc.strerror or str(exc) or type(exc).__name__
        hint = "check the path and the disk, then run again"
    where = _where(exc)
    return QostoolError(f"{where}: {what}" if where else what, hint=hint)


def as_user_error(exc: BaseException) -> QostoolError | None:
    """``exc`` as the user error it is (itself, or a file-system problem); None for a bug."""
    if isinstance(exc, QostoolError):
        return exc
    found = exc if isinstance(exc, OSError) else os_error_in_message(exc)
    if found is not None and is_user_os_error(found):
        return from_os_error(found)
    return None
