"""``qostool status``: what the store holds and what is stale (library: :mod:`qostool.status`)."""

from __future__ import annotations

import json

import typer

from qostool.app import EXIT_CODES_HELP, JsonOption, app, handle_errors
from qostool.commands.common import ConfigOption, StoreOption, TimezoneOption, build_settings

STATUS_HELP = """Show what the store holds and what is out of date.

Months with their rows and tests, the source formats ingested, the boundaries
versions, and per month the last ingest, analysis and report (as written by
'qostool run'), each marked stale when something newer should be in it: an
analysis made before files of its month were ingested, or a report made from
an older analysis. The store is read from the configuration (see 'qostool
config show') unless --store is given. Reads only: never waits for the lock.

[bold]Examples[/]:

  qostool status --config /etc/qostool.toml
  qostool status --store ./qostool-data --json
"""


@app.command("status", help=STATUS_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def status_command(
    *,
    config: ConfigOption = None,
    store: StoreOption = None,
    timezone: TimezoneOption = None,
    json_output: JsonOption = False,
) -> None:
    from qostool.render import print_status
    from qostool.status import store_status
    from qostool.store import Store

    settings = build_settings(config, store=store, timezone=timezone)
    opened = Store.open(settings.store.path, timezone=settings.store.timezone)
    status = store_status(opened)
    if json_output:
        typer.echo(json.dumps(status.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_status(status)
