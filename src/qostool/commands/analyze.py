"""``qostool analyze --month``: statistics and verdicts of a month."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from qostool.cli import (
    DEFAULT_TIMEZONE,
    EXIT_CODES_HELP,
    DebugOption,
    JsonOption,
    StoreOption,
    TimezoneOption,
    app,
    check_timezone,
    handle_errors,
)
from qostool.errors import ExitCode

ANALYZE_HELP = """Compute the month's statistics and verdicts per commune, operator and technology.

Assigns every stored test of the month (and the quarter's tiles) to a commune
of the latest imported boundaries (or --boundaries VERSION), then computes,
per commune x operator x technology and the roll-ups (commune, operator,
province): tests, devices, mean/median/p10/p90 download, upload, latency,
share of tests at or above the target, a confidence interval, and a verdict:
meets target, below target, insufficient data or inconclusive; plus last
month's mean and the months in a row below target. Results are stored (a new
analysis of a month replaces the old one) and can be exported. The rules are
explained in docs/methodology.md.

[bold]Examples[/]:

  qostool analyze --month 2025-10 --store ./qostool-data
  qostool analyze --month 2025-10 --export xlsx --out results/
  qostool analyze --month 2025-10 --statistic median --target 5G=150 --min-tests 50
"""


@app.command(help=ANALYZE_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def analyze(
    *,
    month: Annotated[str, typer.Option(help="Reporting month, YYYY-MM.", show_default=False)],
    store: StoreOption = Path("qostool-data"),
    timezone: TimezoneOption = DEFAULT_TIMEZONE,
    boundaries: Annotated[
        str | None, typer.Option(help="Boundaries version (default: the latest imported).")
    ] = None,
    statistic: Annotated[
        str, typer.Option(help="Compared with the target: mean, median or share.")
    ] = "mean",
    target: Annotated[
        list[str] | None,
        typer.Option(help="TECH=MBPS download target, repeatable (default 4G=40, 5G=100)."),
    ] = None,
    min_tests: Annotated[int, typer.Option(help="Fewer tests: insufficient data.")] = 30,
    min_devices: Annotated[int, typer.Option(help="Fewer devices: insufficient data.")] = 5,
    min_share: Annotated[
        float, typer.Option(help="With --statistic share: share of tests >= target needed.")
    ] = 0.8,
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    tolerance: Annotated[
        float, typer.Option(help="Snap points in gaps to a commune within this many metres.")
    ] = 100.0,
    dedupe_bursts: Annotated[
        bool,
        typer.Option(help="Count a burst of tests from one device (3 h, 100 m) once."),
    ] = False,
    export: Annotated[
        str | None,
        typer.Option(help="Also write csv, xlsx, gpkg and/or geojson (comma-separated)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for --export files.")] = Path("results"),
    fail_below: Annotated[
        bool, typer.Option(help="Exit with code 4 when any commune is below target.")
    ] = False,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from qostool.analyze.export import export_analysis, parse_formats
    from qostool.analyze.rules import Rule, Statistic, parse_targets
    from qostool.analyze.run import AnalyzeOptions, analyze_month
    from qostool.errors import UsageError
    from qostool.months import parse_month
    from qostool.render import print_analysis, status_reporter
    from qostool.store import Store

    if statistic not in [s.value for s in Statistic]:
        raise UsageError(f"--statistic {statistic!r}: use mean, median or share")
    formats = parse_formats(export) if export else []
    rule = Rule(
        targets=parse_targets(target or []),
        statistic=Statistic(statistic),
        min_tests=min_tests,
        min_devices=min_devices,
        min_share=min_share,
        confidence=confidence,
    )
    if tolerance < 0:
        raise UsageError(f"--tolerance {tolerance}: give a distance in metres, 0 or more")
    options = AnalyzeOptions(
        month=parse_month(month),
        rule=rule,
        boundaries=boundaries,
        tolerance_m=tolerance,
        dedupe_bursts=dedupe_bursts,
    )
    opened = Store.open(store, timezone=check_timezone(timezone))
    with status_reporter(enabled=not json_output and sys.stderr.isatty()) as progress:
        analysis = analyze_month(opened, options, progress=progress)
        written = export_analysis(analysis, opened, formats, out) if formats else []
    if json_output:
        # Compact: the encoder's fast path, for thousands of communes.
        typer.echo(json.dumps(analysis.to_dict(written), ensure_ascii=False))
    else:
        print_analysis(analysis, written)
    if fail_below and analysis.below_target():
        raise typer.Exit(int(ExitCode.BELOW_TARGET))
