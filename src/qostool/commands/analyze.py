"""``qostool analyze --month`` (or ``--from --to``): statistics and verdicts of a month
(or of a period of days)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qostool.app import (
    EXIT_CODES_HELP,
    DebugOption,
    JsonOption,
    app,
    handle_errors,
    settle_imports,
)
from qostool.commands.common import ConfigOption, StoreOption, TimezoneOption
from qostool.errors import ExitCode

if TYPE_CHECKING:
    from collections.abc import Callable

    from qostool.analyze.period import Period
    from qostool.analyze.run import Analysis
    from qostool.config import Settings
    from qostool.store import Store

ANALYZE_HELP = """Compute the month's statistics and verdicts per commune, operator and technology.

Assigns every stored test of the month (and the quarter's tiles) to a commune
of the latest imported boundaries (or --boundaries VERSION), then computes,
per commune x operator x technology and the roll-ups (commune, operator,
province): tests, devices, mean/median/p10/p90 download, upload, latency,
share of tests at or above the target, a confidence interval, and a verdict:
meets target, below target, insufficient data or inconclusive; plus last
month's mean and the months in a row below target. Results are stored and
can be exported. The rules are explained in docs/methodology.md.

The analysis made with the configured rule (defaults < qostool.toml <
QOSTOOL_*) becomes the month's official analysis, the one 'qostool report'
uses; the earlier official ones are kept ('qostool analyses'). With rule
options (--rule included) that differ from the configuration (or --name), it
is a variant: a what-if stored under its name, which 'report' uses only when
asked (--analysis NAME). --official makes it the month's official analysis on
purpose.

Exports: the plain CSV (the default) is for programs: column names as header,
',' between fields, a decimal point. For Excel or LibreOffice set to
Vietnamese, --csv-dialect excel-vn writes ';' between fields, a decimal comma,
every text quoted and the readable headers; --lang vi gives Vietnamese headers
(XLSX and excel-vn CSV). The XLSX has a filter on every sheet, a frozen header
row, codes as text and number formats.

Rule presets: province (the defaults: mean, 30 tests, 5 devices) and vnnic
(median, at least 300 single tests per group, as VNNIC's national i-Speed
publication states). Individual options override the preset.

A period of days: --from YYYY-MM-DD --to YYYY-MM-DD (local dates of the
store's time zone, both included; instead of --month) computes the same
statistics over the single tests of those days. Ookla tiles are left out (each
is a quarter's aggregate), there are no last-month columns, and it is stored
as the analysis of the period, never as a month's official analysis (a new
analysis of the same dates replaces it). Exports go to
OUT/period-FROM_TO/; 'qostool report --from --to' reports it.

[bold]Examples[/]:

  qostool analyze --month 2025-10 --store ./qostool-data
  qostool analyze --month 2025-10 --export xlsx --out results/
  qostool analyze --month 2025-10 --export csv,xlsx --lang vi --csv-dialect excel-vn
  qostool analyze --month 2025-10 --target 4G=35 --name target-35    # a variant
  qostool analyze --month 2025-10 --statistic median --target 5G=150 --min-tests 50
  qostool analyze --month 2025-10 --rule vnnic     # the national rule: the variant "vnnic"
  qostool analyze --from 2025-11-06 --to 2025-11-08 --export csv   # a period of days
"""


@app.command(help=ANALYZE_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def analyze(
    *,
    month: Annotated[
        str | None,
        typer.Option(help="Reporting month, YYYY-MM (or --from/--to).", show_default=False),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="First day of a period, YYYY-MM-DD (local date; with --to, instead of --month).",
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Last day of the period, YYYY-MM-DD (local date, included).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    store: StoreOption = None,
    timezone: TimezoneOption = None,
    boundaries: Annotated[
        str | None,
        typer.Option(
            help=r"Boundaries version (default: the latest imported; config: \[boundaries] "
            "version)."
        ),
    ] = None,
    rule_preset: Annotated[
        str | None,
        typer.Option(
            "--rule",
            help="Rule preset: province (mean, 30 tests, 5 devices) or vnnic (median, at least "
            "300 tests, as the national i-Speed publication); --statistic, --min-tests and "
            r"--min-devices override it (default province; config: \[analyze] rule).",
            show_default=False,
        ),
    ] = None,
    statistic: Annotated[
        str | None,
        typer.Option(
            help=r"Compared with the target: mean, median or share (default: the rule "
            r"preset's, mean; config: \[analyze] statistic).",
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            help=r"TECH=MBPS download target, repeatable, over the configured ones (default "
            r"4G=40, 5G=100; config: \[analyze] targets).",
        ),
    ] = None,
    min_tests: Annotated[
        int | None,
        typer.Option(
            help="Fewer tests: insufficient data (default: the rule preset's, 30; config: "
            r"\[analyze] min_tests).",
            show_default=False,
        ),
    ] = None,
    min_devices: Annotated[
        int | None,
        typer.Option(
            help="Fewer devices at least (single tests' devices plus the largest tile's): "
            r"insufficient data (default: the rule preset's, 5; config: \[analyze] min_devices).",
            show_default=False,
        ),
    ] = None,
    min_share: Annotated[
        float | None,
        typer.Option(
            help=r"With --statistic share: share of tests >= target needed (default 0.8; "
            r"config: \[analyze] min_share).",
            show_default=False,
        ),
    ] = None,
    confidence: Annotated[
        float | None,
        typer.Option(
            help=r"Confidence level of the intervals (default 0.95; config: \[analyze] "
            "confidence).",
            show_default=False,
        ),
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            help=r"Snap points in gaps to a commune within this many metres (default 100; "
            r"config: \[analyze] tolerance).",
            show_default=False,
        ),
    ] = None,
    dedupe_bursts: Annotated[
        bool | None,
        typer.Option(
            help=r"Count a burst of tests from one device (3 h, 100 m) once (default off; "
            r"config: \[analyze] dedupe_bursts).",
            show_default=False,
        ),
    ] = None,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            help="Memory the analysis may use, e.g. 2GB or 1GB: a month too large for it is "
            "read in batches and spilled to the temporary folder (TMPDIR), with the same "
            "results (below about 870MB, batches exceed the limit, and the run says so; "
            r"default 4GB; config: \[analyze] memory_limit).",
            show_default=False,
        ),
    ] = None,
    export: Annotated[
        str | None,
        typer.Option(help="Also write csv, xlsx, gpkg and/or geojson (comma-separated)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for --export files.")] = Path("results"),
    raw_csv: Annotated[
        bool | None,
        typer.Option(
            help=r"CSV text cells exactly as stored; by default a text starting with = + - @ "
            r"gets a ' so that spreadsheets show it, never run it (config: \[analyze] raw_csv).",
            show_default=False,
        ),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="Language of the readable headers of --export: en or vi (the XLSX headers and "
            "sheet names, and the excel-vn CSV's headers; values stay the stored codes; "
            r"default en; config: \[analyze] export_lang).",
            show_default=False,
        ),
    ] = None,
    csv_dialect: Annotated[
        str | None,
        typer.Option(
            "--csv-dialect",
            help="plain: column names, ',' and a decimal point, for programs (the default); "
            "excel-vn: UTF-8 with BOM, ';', decimal comma, texts (commune codes) quoted and "
            "readable headers, for Excel or LibreOffice set to Vietnamese (config: "
            r"\[analyze] csv_dialect).",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            help="Store it as the variant NAME (default, when a rule option differs from the "
            "configuration: a name made from the differences, printed).",
            show_default=False,
        ),
    ] = None,
    official: Annotated[
        bool,
        typer.Option(
            "--official",
            help="Make it the month's official analysis although its rule differs from the "
            "configuration (reports then say so on page 1).",
        ),
    ] = False,
    fail_below: Annotated[
        bool, typer.Option(help="Exit with code 4 when any commune is below target.")
    ] = False,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from qostool.analyze.export import parse_formats
    from qostool.analyze.period import PeriodOptions
    from qostool.analyze.rules import parse_targets
    from qostool.analyze.run import (
        AnalyzeOptions,
        analyze_month,
        check_name,
        term_differences,
        variant_name,
    )
    from qostool.config import load_settings
    from qostool.geo.versions import find_version
    from qostool.months import parse_month
    from qostool.run import analysis_terms, rule_of
    from qostool.store import Store

    period = _period_asked(month, start, end, name=name, official=official)
    # Defaults < qostool.toml < QOSTOOL_* < these options, as for 'qostool run'.
    settings = load_settings(
        config,
        options={
            "store.path": ("--store", store),
            "store.timezone": ("--timezone", timezone),
            "boundaries.version": ("--boundaries", boundaries),
            "analyze.rule": ("--rule", rule_preset),
            "analyze.statistic": ("--statistic", statistic),
            "analyze.min_tests": ("--min-tests", min_tests),
            "analyze.min_devices": ("--min-devices", min_devices),
            "analyze.min_share": ("--min-share", min_share),
            "analyze.confidence": ("--confidence", confidence),
            "analyze.tolerance": ("--tolerance", tolerance),
            "analyze.dedupe_bursts": ("--dedupe-bursts", dedupe_bursts),
            "analyze.memory_limit": ("--memory-limit", memory_limit),
            "analyze.raw_csv": ("--raw-csv", raw_csv),
            "analyze.export_lang": ("--lang", lang),
            "analyze.csv_dialect": ("--csv-dialect", csv_dialect),
        },
    )
    # The configuration alone: what the month's official analysis is made with.
    configured = load_settings(
        config,
        options={"store.path": ("--store", store), "store.timezone": ("--timezone", timezone)},
    )
    formats = parse_formats(export) if export else []
    rule = rule_of(settings)
    if target:
        rule = dataclasses.replace(
            rule, targets=parse_targets(target, base=settings.analyze.targets)
        )
    if name is not None:
        check_name(name)
    opened = Store.open(settings.store.path, timezone=settings.store.timezone)
    version = find_version(opened, settings.boundaries.version).key
    differs = term_differences(
        analysis_terms(settings, rule) | {"boundaries": version},
        analysis_terms(configured)
        | {"boundaries": find_version(opened, configured.boundaries.version).key},
    )
    if period is not None:
        from qostool.analyze.period import analyze_period

        period_options = PeriodOptions(
            period=period,
            rule=rule,
            boundaries=version,
            tolerance_m=settings.analyze.tolerance,
            dedupe_bursts=settings.analyze.dedupe_bursts,
            differs=tuple(differs),
        )
        _analyze_and_show(
            lambda progress: analyze_period(opened, period_options, progress=progress),
            opened,
            formats,
            out,
            settings,
            json_output=json_output,
            fail_below=fail_below,
        )
        return
    assert month is not None
    variant = not official and (bool(differs) or name is not None)
    options = AnalyzeOptions(
        month=parse_month(month),
        rule=rule,
        boundaries=version,
        tolerance_m=settings.analyze.tolerance,
        dedupe_bursts=settings.analyze.dedupe_bursts,
        memory_limit=settings.analyze.memory_limit,
        official=not variant,
        name=(name or variant_name(differs)) if variant else name,
        differs=tuple(differs),
    )
    _analyze_and_show(
        lambda progress: analyze_month(opened, options, progress=progress),
        opened,
        formats,
        out,
        settings,
        json_output=json_output,
        fail_below=fail_below,
    )


def _period_asked(
    month: str | None, start: str | None, end: str | None, *, name: str | None, official: bool
) -> Period | None:
    """The period of ``--from``/``--to`` (None for ``--month``), or a usage error.

    A period is never official nor a named variant: it has one analysis per period.
    """
    from qostool.analyze.period import chosen_period
    from qostool.errors import UsageError

    period = chosen_period(month, start, end)
    if period is None:
        return None
    if official or name is not None:
        raise UsageError(
            f"{'--official' if official else '--name'} is for a month's analyses",
            hint="a period's analysis is never a month's official one, and a new analysis of "
            "the same dates replaces it",
        )
    return period


def _analyze_and_show(
    compute: Callable[[Callable[[str], None] | None], Analysis],
    opened: Store,
    formats: list[str],
    out: Path,
    settings: Settings,
    *,
    json_output: bool,
    fail_below: bool,
) -> None:
    """Analyse (a month or a period: ``compute``, given the progress callback), export,
    and say so: warnings on stderr, the result as a table or JSON, what it was stored as."""
    from qostool.analyze.export import export_analysis
    from qostool.analyze.run import stored_as_note
    from qostool.progress import status_reporter

    settle_imports()
    with status_reporter(enabled=not json_output and sys.stderr.isatty()) as progress:
        analysis = compute(progress)
        written = (
            export_analysis(
                analysis,
                opened,
                formats,
                out,
                raw_csv=settings.analyze.raw_csv,
                lang=settings.analyze.export_lang,
                csv_dialect=settings.analyze.csv_dialect,
            )
            if formats
            else []
        )
    # The rendering (and Rich) is loaded only when there is something to render: a
    # --json run with nothing to warn about, as from cron, never loads it.
    warnings = [w["message"] for w in analysis.meta["warnings"]]
    note = stored_as_note(analysis)
    if warnings:
        from qostool.render import print_warnings

        print_warnings(warnings)
    if json_output:
        typer.echo(analysis.to_json(written))
    else:
        from qostool.render import print_analysis

        print_analysis(analysis, written)
    if note is not None:
        from qostool.render import print_stored_as

        print_stored_as(note)
    if fail_below and analysis.below_target():
        raise typer.Exit(int(ExitCode.BELOW_TARGET))
