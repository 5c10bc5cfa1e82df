"""The ``qostool`` command line: the commands assembled, and the entry point.

No computation here. The application object, the shared options and the error
handling are in :mod:`qostool.app`, which the command modules import; this module
imports the command modules (so that they register themselves) and runs the app.
"""

from __future__ import annotations

import codecs
import copy
import io
import os
import signal
import sys
import warnings
from typing import Final

import typer

# The application and what the command modules share (kept importable from here).
from qostool.app import EXIT_CODES_HELP, DebugOption, JsonOption, app, handle_errors

# The commands, in the order --help lists them: each registers itself on ``app``.
# isort: off
from qostool.commands import ingest as _ingest, boundaries as _boundaries  # noqa: F401
from qostool.commands import analyze as _analyze, report as _report  # noqa: F401
from qostool.commands import run as _run, status as _status, config as _config  # noqa: F401
from qostool.commands import store as _store, analyses as _analyses  # noqa: F401
from qostool.commands import event as _event  # noqa: F401
# isort: on

__all__ = ["EXIT_CODES_HELP", "DebugOption", "JsonOption", "app", "handle_errors", "main"]


#: Polars' allocator (jemalloc) keeps freed memory this long before giving it back.
ALLOCATOR_SETTINGS: Final = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:5000,muzzy_decay_ms:5000")


def tune_allocator() -> None:
    """Let Polars' allocator reuse freed memory for a few seconds (before Polars loads).

    By default jemalloc hands freed pages back to the system almost at once, and a
    job that makes and drops large columns batch after batch then spends much of its
    time in the kernel, faulting in and zeroing fresh pages: ingest and analyze both
    ran about a tenth faster with this setting (see bench/README.md), for about 100 MB
    more peak memory. A value already in the environment is left as it is.
    """
    os.environ.setdefault(*ALLOCATOR_SETTINGS)


def utf8_output() -> None:
    """Write stdout and stderr in UTF-8, whatever the platform's code page.

    On Windows, output redirected to a file or a pipe (Task Scheduler, ``> log.txt``)
    is encoded in the ANSI code page (cp1252), which has no Vietnamese letters: the
    first commune name printed would fail. A name that cannot be encoded at all (a
    file name of undecodable bytes) is shown with backslash escapes, never fails.
    """
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and codecs.lookup(stream.encoding).name != "utf-8":
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")


#: Warnings that the libraries qostool uses raise about their own future, not about the data.
LIBRARY_WARNINGS: Final = (DeprecationWarning, PendingDeprecationWarning)


def quiet_library_warnings() -> None:
    """Keep a library's deprecation warnings from the user's terminal and exit code.

    They are for qostool's developers, whose test suite turns qostool's own warnings
    into errors; a user can do nothing about them, and ``PYTHONWARNINGS=error`` must
    not turn one into a failed monthly run. Warnings raised by qostool's own modules,
    and every other kind of warning, are left as they are.
    """
    for category in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", category=category, module=r"(?!qostool(\.|$))")


def stop_on_terminate() -> None:
    """Let a termination signal unwind the command as Ctrl-C does.

    Cron, systemd and ``timeout`` stop a job with SIGTERM, which by default ends the
    process at once: a month analysed in batches then left its spill (gigabytes) in
    the temporary folder, and a store its write lock. Raised as ``KeyboardInterrupt``,
    every ``with`` block closes on the way out (the spill deleted, the lock freed) and
    the command exits with 130 after saying it was interrupted. Python runs the
    handler between two of its own steps: within a long Polars or NumPy call, when
    that call returns.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)


def invoked(application: typer.Typer, args: list[str]) -> typer.Typer:
    """The application with only the command that ``args`` name (when they name one).

    Typer builds the parameters of every command, from their type hints, before it
    runs one: 0.02 s of every run for the thirteen commands. A run needs only its own
    command, its help and its errors are the same. ``qostool --help``, an option
    before the command, or a name that is no command's (for Click's error and its
    suggestion): the whole application.
    """
    if not args or args[0].startswith("-"):
        return application
    named = [c for c in application.registered_commands if _command_name(c) == args[0]]
    groups = [g for g in application.registered_groups if g.name == args[0]]
    if len(named) + len(groups) != 1:
        return application
    one = copy.copy(application)
    one.registered_commands, one.registered_groups = named, groups
    return one


def _command_name(command: typer.models.CommandInfo) -> str | None:
    """A command's name as Typer gives it (its function's, with dashes, when not named)."""
    if isinstance(command.name, str):
        return command.name
    if command.callback is None:
        return None
    return typer.main.get_command_name(command.callback.__name__)


def main() -> None:
    """Console-script entry point."""
    tune_allocator()
    utf8_output()
    quiet_library_warnings()
    stop_on_terminate()
    invoked(app, sys.argv[1:])()
