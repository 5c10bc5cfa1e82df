"""``qostool analyses``: the stored analyses of a month, official, earlier and variants."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from qostool.app import EXIT_CODES_HELP, JsonOption, app, handle_errors
from qostool.commands.common import ConfigOption, StoreOption, TimezoneOption, build_settings

ANALYSES_HELP = """List the stored analyses of a month, and when and from what each was made.

The month's official analysis (the one 'qostool report' uses), the earlier
official ones it replaced (kept, so that a report sent earlier can be made
again with 'qostool report --analysis ID'), and the variants (what-if analyses
made with other rule options, reported only with 'qostool report --analysis
NAME'). Without --month, the analyses of periods of days ('qostool analyze
--from --to') too. Each with its id, when it was made (and replaced), its boundaries,
tests, input files, and how its terms differ from the configuration. Reads
only. See docs/methodology.md.

[bold]Examples[/]:

  qostool analyses --month 2025-10
  qostool analyses --json
"""


@app.command("analyses", help=ANALYSES_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def analyses_command(
    *,
    month: Annotated[
        str | None,
        typer.Option(
            help="Reporting month, YYYY-MM (default: every analysed month).", show_default=False
        ),
    ] = None,
    config: ConfigOption = None,
    store: StoreOption = None,
    timezone: TimezoneOption = None,
    json_output: JsonOption = False,
) -> None:
    from qostool.analyze.period import stored_periods
    from qostool.analyze.run import KIND, VARIANT_KIND, stored_analyses
    from qostool.months import parse_month
    from qostool.render import print_analyses
    from qostool.store import Store

    settings = build_settings(config, store=store, timezone=timezone)
    opened = Store.open(settings.store.path, timezone=settings.store.timezone)
    if month is not None:
        months = [parse_month(month)]
    else:
        months = sorted({a.key for kind in (KIND, VARIANT_KIND) for a in opened.artifacts(kind)})
    listed = {m: [s.to_dict() for s in stored_analyses(opened, m)] for m in months}
    # Periods of days are no month's: listed after the months, only when no month is asked.
    periods = [] if month is not None else stored_periods(opened)
    if json_output:
        rows = [{"month": m, **entry} for m, entries in listed.items() for entry in entries]
        rows += [{"month": None, "period": p.artifact.key, **p.to_dict()} for p in periods]
        typer.echo(json.dumps({"analyses": rows}, ensure_ascii=False, indent=2))
    else:
        for stored in periods:
            listed[f"the period {stored.artifact.key.replace('_', ' to ')}"] = [stored.to_dict()]
        print_analyses(listed)
