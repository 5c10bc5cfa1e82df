"""``qostool run``: the unattended pass for cron (library: :func:`qostool.run.run`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from qostool.app import EXIT_CODES_HELP, JsonOption, app, handle_errors
from qostool.commands.common import (
    ConfigOption,
    InboxOption,
    LogFileOption,
    LogFormatOption,
    QuietOption,
    StoreOption,
    TimezoneOption,
    VerboseOption,
    WaitOption,
    build_settings,
)
from qostool.errors import ExitCode

RUN_HELP = r"""Ingest new exports, then analyse and report the month when its inputs changed.

Meant for cron or a systemd timer; everything is read from the configuration
file (see 'qostool config show' and docs/cron.md). Under one store write lock:

  1. ingest every new file of the inbox folder(s) (files already ingested are
     skipped by content);
  2. import the \[boundaries] file again if its content changed;
  3. analyse the month (default: the previous month in the store's time zone)
     if files were ingested for it (or its quarter's tiles, or the months of its
     trend), or the boundaries or the rule changed, since its stored analysis;
  4. write its report if the analysis or the report options changed.

Then one summary says what was done or skipped, and why. Run twice, the second
run does nothing. Without a terminal (cron) there are no progress bars and no
colours; --log-format json gives one JSON object per event on stderr.
A run killed at any point leaves the store as before the unfinished step; the
next run completes it.

[bold]Examples[/]:

  qostool run --config /etc/qostool.toml
  qostool run --month 2025-10 --force
  qostool run --quiet --log-format json --log-file qostool.log --fail-below
"""


@app.command("run", help=RUN_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def run_command(
    *,
    config: ConfigOption = None,
    month: Annotated[
        str | None,
        typer.Option(
            help="Reporting month, YYYY-MM (default: the previous month).", show_default=False
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Analyse and report again even if nothing changed.")
    ] = False,
    fail_below: Annotated[
        bool,
        typer.Option(help="Exit with code 4 when a commune of the month is below target."),
    ] = False,
    store: StoreOption = None,
    timezone: TimezoneOption = None,
    inbox: InboxOption = None,
    wait: WaitOption = None,
    log_format: LogFormatOption = None,
    log_file: LogFileOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    json_output: JsonOption = False,
) -> None:
    from qostool.errors import as_user_error
    from qostool.log import EventLog
    from qostool.months import parse_month
    from qostool.render import print_run_summary
    from qostool.run import run

    settings = build_settings(
        config,
        store=store,
        timezone=timezone,
        inbox=inbox,
        wait=wait,
        log_format=log_format,
        log_file=log_file,
        quiet=quiet,
        verbose=verbose,
    )
    chosen = parse_month(month) if month else None
    with EventLog(
        level=settings.log.level, format=settings.log.format, file=settings.log.file
    ) as events:
        try:
            summary = run(settings, month=chosen, force=force, events=events)
        except Exception as exc:
            error = as_user_error(exc)  # also a full disk, permission denied, ...
            if error is None:
                raise  # a bug: shown as one by handle_errors
            fields = {"hint": error.hint, "exit_code": int(error.exit_code)}
            if settings.log.format == "json":  # stderr stays one JSON object per line
                events.error("run.failed", error.message, **fields)
                raise typer.Exit(int(error.exit_code)) from None
            events.to_file_only("error", "run.failed", error.message, **fields)
            raise
    if json_output:
        typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
    elif not quiet:
        print_run_summary(summary)
    if summary.held_files and settings.ingest.strict:
        raise typer.Exit(int(ExitCode.HELD_FILES))
    if fail_below and summary.communes_below_target:
        raise typer.Exit(int(ExitCode.BELOW_TARGET))
