"""``qostool store check`` and ``store repair`` (library: :mod:`qostool.storecheck`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from qostool.app import DebugOption, JsonOption, app, handle_errors
from qostool.commands.common import ConfigOption, StoreOption, WaitOption, build_settings
from qostool.errors import ExitCode

store_app = typer.Typer(
    help="The store itself: check its catalog against its files, repair what does not agree.",
    no_args_is_help=True,
)
app.add_typer(store_app, name="store")

STORE_CHECK_HELP = """Check the store's catalog against the files on disk.

The catalog (catalog.sqlite) is the record of what the store holds. This lists
what does not agree with it: a catalog that is missing, empty, damaged or
records nothing while data is on disk; parts and folders it records that are
missing, or damaged (every part is read in full); files on disk it does not
record. Reads only: changes nothing and never waits for the lock (run it when
no other qostool process is writing, or a part being committed may be listed).
'qostool store repair' shows what can be done about each problem. See
docs/architecture.md.

[bold]Examples[/]:

  qostool store check --config /etc/qostool.toml
  qostool store check --store ./qostool-data --json
"""

STORE_CHECK_EXIT_CODES = (
    "Exit codes: 0 the catalog and the files agree; 1 they do not (each problem is listed), "
    "or the store could not be read; 2 wrong usage."
)

STORE_REPAIR_HELP = """Show what would make the catalog and the files agree again; --apply does it.

Nothing is ever deleted: what cannot be used is moved to
quarantine/<time>/ in the store. A part missing or damaged: the records of its
ingested file and of all that file's parts are forgotten and its other parts
set aside, so ingesting that file again (the repair names it) brings its tests
back whole. A file on disk the catalog does not record: set aside. A
boundaries or results folder missing: its record is forgotten ('qostool run'
makes it again). A lost catalog: set aside, a new one made, the boundaries and
results recorded again from their own description files, the test and reject
parts set aside (the list of ingested files cannot be rebuilt from them:
restore catalog.sqlite from a backup if you have one, else ingest the exports
again). Without --apply it only prints the plan. With --apply it takes the
write lock. See docs/cron.md.

[bold]Examples[/]:

  qostool store repair --config /etc/qostool.toml
  qostool store repair --config /etc/qostool.toml --apply
"""

STORE_REPAIR_EXIT_CODES = (
    "Exit codes: 0 done: the plan shown (without --apply), the repair made, or nothing to "
    "repair; 1 error (e.g. the store could not be written); 2 wrong usage; 3 another qostool "
    "process is writing to the store (after --wait)."
)


@store_app.command("check", help=STORE_CHECK_HELP, epilog=STORE_CHECK_EXIT_CODES)
@handle_errors
def store_check(
    *,
    config: ConfigOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from qostool.render import print_store_check
    from qostool.store import Store
    from qostool.storecheck import check_store

    settings = build_settings(config, store=store)
    opened = Store.open_unchecked(settings.store.path, timezone=settings.store.timezone)
    report = check_store(opened)
    if json_output:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_store_check(report)
    if not report.healthy:
        raise typer.Exit(int(ExitCode.ERROR))


@store_app.command("repair", help=STORE_REPAIR_HELP, epilog=STORE_REPAIR_EXIT_CODES)
@handle_errors
def store_repair(
    *,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Do the repair (without it, only show what it would do)."),
    ] = False,
    config: ConfigOption = None,
    store: StoreOption = None,
    wait: WaitOption = None,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from qostool.render import print_repair_plan
    from qostool.store import Store
    from qostool.storecheck import repair_store

    settings = build_settings(config, store=store, wait=wait)
    opened = Store.open_unchecked(settings.store.path, timezone=settings.store.timezone)
    plan = repair_store(opened, apply=apply, wait_seconds=settings.lock.wait_seconds)
    if json_output:
        typer.echo(json.dumps(plan.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_repair_plan(plan)
