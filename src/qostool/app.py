"""The ``qostool`` application object, the options every command shares, and error handling.

The command modules (``qostool/commands/``) import what they need from here and
register themselves on :data:`app`; ``cli.py`` imports them (assembling the
command line) and holds the entry point. Imports run one way: commands -> this
module, never back.

Errors raised by the library as :class:`QostoolError` become a message on stderr
and the error's exit code; so do file-system problems (``OSError``: permission
denied, disk full, ...), with exit code 1. Anything else is a bug, shown with its
traceback only under ``--debug``.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from qostool import __version__, lazy_options
from qostool.errors import ExitCode, QostoolError, as_user_error

# Option values converted without pydantic where they are plain (qostool/lazy_options.py).
lazy_options.install()

EXIT_CODES_HELP = (
    "Exit codes: 0 done (rejected rows are reported, not errors); 1 error (e.g. a file "
    "could not be read: nothing from it was stored, the other files were); 2 wrong usage; "
    "3 another qostool process is writing to the store (after --wait); 4 (only with "
    "analyze or run --fail-below) some commune is below target; 5 a check before the report "
    "failed (report or run; nothing written; report --force writes it anyway); 6 (only run "
    r"with \[ingest] strict) an inbox file could not be read and is set aside. Wrong usage "
    "includes a bad configuration value. See docs/cron.md."
)

app = typer.Typer(
    name="qostool",
    help="Mobile-internet speed statistics per commune, from crowdsourced speed tests.\n\n"
    + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def settle_imports() -> None:
    """Take every object alive now (the imported modules: about 50,000) out of the
    garbage collector's passes, before a long computation.

    Each full pass of the cycle collector walks every tracked object; an analysis
    makes several, and the interpreter one more at exit. Modules live until the
    process ends, so walking them finds nothing: freezing them saved 0.05-0.08 s of
    a 1.4 s analysis of a million tests (bench/README_analyze.md).
    """
    gc.freeze()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qostool {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """qostool: speed-test statistics per commune."""


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _user_error(exc: QostoolError) -> NoReturn:
    """Print a user error (message and hint) on stderr and exit with its code."""
    from rich.text import Text

    from qostool.text import rich_text

    err = _stderr()
    # Messages quote user text ("[analyze] min_tests") and file names: never read as
    # markup, their control characters shown (qostool.text).
    err.print(Text("Error: ", "bold red") + rich_text(exc.message), soft_wrap=True)
    if exc.hint:
        err.print(Text("Hint: ", "yellow") + rich_text(exc.hint), soft_wrap=True)
    raise typer.Exit(int(exc.exit_code)) from None


def _internal_error(exc: Exception) -> NoReturn:
    """Print an unexpected exception as the bug it is and exit 1."""
    from rich.text import Text

    from qostool.text import rich_text

    _stderr().print(
        Text("Internal error: ", "bold red")
        + rich_text(f"{type(exc).__name__}: {exc}")
        + Text(
            "\nThis is a bug in qostool. Run again with --debug for the traceback and report it."
        )
    )
    raise typer.Exit(int(ExitCode.ERROR)) from None


def handle_errors(func: F) -> F:
    """Turn library errors into a message and an exit code (tracebacks only with --debug)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug")) or os.environ.get("QOSTOOL_DEBUG") == "1"
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            _stderr().print("Interrupted: nothing unfinished was stored.")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if debug:
                raise
            # A QostoolError, or a file-system problem that is the user's to fix
            # (permission denied, read-only, disk full, a file where a folder should be),
            # also when Polars words it in a message: "... (os error 28)". An OSError
            # with no path that is not a condition of the machine (no errno, a socket, a
            # library call that lost the path) may be a bug, and is shown as one.
            error = as_user_error(exc)
            if error is None:
                _internal_error(exc)
            _user_error(error)

    return wrapper  # type: ignore[return-value]


# -- shared options -----------------------------------------------------------------

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout (for scripts).")
]
DebugOption = Annotated[
    bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.", hidden=True)
]
