"""``qostool config show`` and ``qostool config init``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from qostool.app import EXIT_CODES_HELP, JsonOption, app, handle_errors
from qostool.commands.common import (
    ConfigOption,
    InboxOption,
    LogFileOption,
    LogFormatOption,
    StoreOption,
    TimezoneOption,
    WaitOption,
    build_settings,
)

config_app = typer.Typer(
    help="The configuration file qostool.toml: show the effective settings, write a "
    "starting file. See docs/cron.md.",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")

SHOW_HELP = """Show the effective settings and where each value comes from.

Precedence, lowest first: default < qostool.toml < environment variable
(QOSTOOL_*) < option. The file is --config, else $QOSTOOL_CONFIG, else
./qostool.toml, else $XDG_CONFIG_HOME/qostool/qostool.toml (by default
~/.config/qostool/qostool.toml). Options given here override as they would
for 'qostool run'.

[bold]Examples[/]:

  qostool config show
  qostool config show --config /etc/qostool.toml --json
"""


@config_app.command("show", help=SHOW_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def config_show(
    *,
    config: ConfigOption = None,
    store: StoreOption = None,
    timezone: TimezoneOption = None,
    inbox: InboxOption = None,
    wait: WaitOption = None,
    log_format: LogFormatOption = None,
    log_file: LogFileOption = None,
    json_output: JsonOption = False,
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from qostool.config import FIELDS, SOURCES_KEY, show_value

    settings = build_settings(
        config,
        store=store,
        timezone=timezone,
        inbox=inbox,
        wait=wait,
        log_format=log_format,
        log_file=log_file,
    )
    if json_output:
        typer.echo(json.dumps(settings.to_dict(), ensure_ascii=False, indent=2))
        return
    file = settings.config_file
    table = Table(
        title="Settings" + (f" (file {file})" if file else " (no configuration file)"),
        title_justify="left",
    )
    table.add_column("key", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("source", overflow="fold")
    for f in FIELDS:
        source = settings.sources[f.name]
        style = "dim" if source.kind == "default" else ""
        table.add_row(f.name, Text(show_value(settings.value(f.name))), Text(str(source), style))
    where = str(settings.sources[SOURCES_KEY])
    for number, inbox_source in enumerate(settings.ingest.sources, start=1):
        table.add_row(
            f"{SOURCES_KEY} #{number}", Text(show_value(inbox_source.options())), Text(where)
        )
    Console(highlight=False).print(table)


INIT_HELP = """Write a commented starting configuration file (default ./qostool.toml).

Every key is listed with its meaning, its environment variable and its
default; edit the inbox folder and the boundary file, then check with
'qostool config show --config PATH'. An existing file is kept unless --force.
"""


@config_app.command("init", help=INIT_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def config_init(
    path: Annotated[
        Path, typer.Argument(help="Where to write the file.", show_default=True)
    ] = Path("qostool.toml"),
    *,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    from qostool.config import write_starting_file

    written = write_starting_file(path, force=force)
    typer.echo(f"wrote {written}")
